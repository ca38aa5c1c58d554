#!/usr/bin/env python3
"""The property table of docs/user-guide.md says what gst-inspect-1.0 says:
every property of aissrc (but the generic GstObject/GstBaseSrc ones) is in
the table, with the same type, default and range, and the table lists no
property that does not exist."""
import os
import re
import subprocess
import sys

IGNORED = {"name", "parent", "num-buffers", "typefind", "do-timestamp"}


def inspect_properties():
    env = dict(os.environ)
    for var in ("AIS_ENDPOINT", "AIS_AUTHN_TOKEN", "AIS_CLIENT_CA", "AIS_SKIP_VERIFY_CRT"):
        env.pop(var, None)
    out = subprocess.run(["gst-inspect-1.0", "aissrc"], env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout
    props = {}
    section = out.split("Element Properties:", 1)[1]
    cur = None
    for line in section.splitlines():
        m = re.match(r"^  ([a-z][a-z0-9-]*)\s+: ", line)
        if m:
            cur = m.group(1)
            props[cur] = {"type": None, "default": None, "range": "-"}
            continue
        if cur is None:
            continue
        s = line.strip()
        m = re.match(r"^(Unsigned Integer|Integer|Unsigned Integer64|Integer64|Boolean|String|Double)\."
                     r"(?: Range: (\S+) - (\S+))?\s*(?:Default: (.*))?$", s)
        if m:
            props[cur]["type"] = m.group(1)
            if m.group(2):
                props[cur]["range"] = "%s - %s" % (m.group(2), m.group(3))
            d = (m.group(4) or "").strip()
            props[cur]["default"] = d[1:-1] if d.startswith('"') and d.endswith('"') else d
            continue
        m = re.match(r'^Enum "\w+" Default: -?\d+, "([^"]+)"', s)
        if m:
            props[cur]["type"] = "Enum"
            props[cur]["default"] = m.group(1)
            continue
        m = re.match(r'^Boxed pointer of type "(\w+)"', s)
        if m:
            props[cur]["type"] = m.group(1)
            props[cur]["default"] = "-"
    return {k: v for k, v in props.items() if k not in IGNORED}


def doc_table(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^\| `([a-z][a-z0-9-]*)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", line)
        if m:
            rows[m.group(1)] = {"type": m.group(2).strip(), "default": m.group(3).strip().strip("`"),
                                "range": m.group(4).strip().replace("–", "-")}
    return rows


def main():
    doc = sys.argv[1]
    props = inspect_properties()
    rows = doc_table(doc)
    bad = []
    if not props:
        bad.append("gst-inspect-1.0 aissrc listed no properties")
    for name, p in sorted(props.items()):
        r = rows.get(name)
        if r is None:
            bad.append("%s: not in the table of %s" % (name, doc))
            continue
        for key in ("type", "default", "range"):
            if r[key] != p[key]:
                bad.append("%s: %s is '%s' in the guide but '%s' in gst-inspect-1.0" %
                           (name, key, r[key], p[key]))
    for name in sorted(set(rows) - set(props)):
        bad.append("%s: in the guide, but aissrc has no such property" % name)
    for b in bad:
        print(b)
    if not bad:
        print("%d properties of aissrc match the user guide" % len(props))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
