"""Renders docs/benchmarks.md and the plots from docs/bench/results.json."""
import os
import subprocess

MiB = 1 << 20


def fmt(v, nd=0, unit=""):
    if v is None:
        return "—"
    return ("%%.%df" % nd) % v + unit


class R:
    def __init__(self, res):
        self.res = res
        self.s = res["summary"]
        self.c = res["constants"]

    def get(self, scen, tool, n=None, kind="transfer", field="mbps"):
        for s in self.s:
            if s["scenario"] == scen and s["tool"] == tool and s["workers"] == n and s["kind"] == kind:
                return s.get(field)
        return None

    def row(self, scen, tool, n=None, kind="transfer"):
        for s in self.s:
            if s["scenario"] == scen and s["tool"] == tool and s["workers"] == n and s["kind"] == kind:
                return s
        return None


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(ok):
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**missed**"


def ceiling(r):
    """The link's own ceiling in the run's mode: the best median of curl with 1, 4 or 16
    connections at no delay (MB/s, connections)."""
    mode = r.res["machine"].get("link_mode", "asym")
    best = None
    for n in (1, 4, 16):
        v = r.get("ceiling-" + mode, "curl", n)
        if v is not None and (best is None or v > best[0]):
            best = (v, n)
    return best or (None, None)


def goals(r):
    c = r.c
    out = []
    g = r.get
    rate = c["rate_b"] / 1e6
    ceil, ceil_n = ceiling(r)
    ceil_txt = "the link's ceiling %s MB/s (curl x%s, no delay)" % (fmt(ceil), ceil_n)
    # a
    ais8 = g("a", "aissrc", 8)
    soup = g("a", "souphttpsrc")
    cpu_ais8 = g("a", "aissrc", 8, field="cpu_per_gb")
    cpu_soup = g("a", "souphttpsrc", field="cpu_per_gb")
    ok = None if None in (ais8, soup, cpu_ais8, cpu_soup) else (ais8 >= soup and cpu_ais8 <= 1.1 * cpu_soup)
    out.append(("a: `aissrc num-workers=8` at least as fast as `souphttpsrc`, at most 1.1x its CPU s/GB",
                "%s MB/s vs %s MB/s (%sx); %s vs %s CPU s/GB (%sx)" % (
                    fmt(ais8), fmt(soup), fmt(ratio(ais8, soup), 2), fmt(cpu_ais8, 2), fmt(cpu_soup, 2),
                    fmt(ratio(cpu_ais8, cpu_soup), 2)), ok))
    for tool in ("aissrc", "aisfetch"):
        c2 = g("a", tool, 2, field="cpu_per_gb")
        c16 = g("a", tool, 16, field="cpu_per_gb")
        out.append(("a: %s CPU s/GB grows at most 1.5x from 2 to 16 workers" % tool,
                    "%s -> %s CPU s/GB = %sx" % (fmt(c2, 2), fmt(c16, 2), fmt(ratio(c16, c2), 2)),
                    None if c2 is None or c16 is None else c16 <= 1.5 * c2))
    # wherever the link's ceiling, not a per-connection limit, bounds N connections
    for scen in ("a", "c"):
        single = g(scen, "curl")
        for n in (8, 16, 32):
            v = g(scen, "aissrc", n)
            if ceil is None or single is None or v is None or n * single < ceil or (scen == "a" and n != 8):
                continue
            out.append(("%s: `aissrc num-workers=%d` within 90%% of the link's ceiling (%d x one connection's "
                        "%s MB/s exceeds it)" % (scen, n, n, fmt(single)),
                        "%s MB/s = %s%% of %s" % (fmt(v), fmt(100 * v / ceil), ceil_txt), v >= 0.9 * ceil))
    # b
    for tool in ("aissrc", "aisfetch"):
        v16 = g("b", tool, 16)
        ideal = 16 * rate
        single = g("b", "curl")
        out.append(("b: %s 16 workers reach 90%% of 16 x %g MB/s" % (tool, rate),
                    "%s MB/s = %s%% of %g MB/s (the server's real per-connection rate, one curl: %s MB/s)" % (
                        fmt(v16), fmt(ratio(v16, ideal) and 100 * ratio(v16, ideal)), ideal, fmt(single, 1)),
                    None if v16 is None else v16 >= 0.9 * ideal))
        v32 = g("b", tool, 32)
        ar = g("b", "aria2c")
        out.append(("b: %s 16 workers at least 1.4x `aria2c -x16 -s16`" % tool,
                    "%s MB/s vs %s MB/s = %sx" % (fmt(v16), fmt(ar), fmt(ratio(v16, ar), 2)),
                    None if v16 is None or ar is None else v16 >= 1.4 * ar))
        out.append(("b: %s 32 workers at least 1.4x `aria2c -x16 -s16`" % tool,
                    "%s MB/s vs %s MB/s = %sx" % (fmt(v32), fmt(ar), fmt(ratio(v32, ar), 2)),
                    None if v32 is None or ar is None else v32 >= 1.4 * ar))
    # c
    for tool in ("aissrc", "aisfetch"):
        v16 = g("c", tool, 16)
        v32 = g("c", tool, 32)
        ar = g("c", "aria2c")
        soup = g("c", "souphttpsrc")
        out.append(("c: %s 16 workers at least 3.5x `aria2c -x16 -s16`" % tool,
                    "%s MB/s vs %s MB/s = %sx (3.5x would be %s MB/s; %s)" % (
                        fmt(v16), fmt(ar), fmt(ratio(v16, ar), 2), fmt(ar and 3.5 * ar), ceil_txt),
                    None if v16 is None or ar is None else v16 >= 3.5 * ar))
        if tool == "aissrc":
            out.append(("c: aissrc 16 workers at least 12x souphttpsrc",
                        "%s MB/s vs %s MB/s = %sx" % (fmt(v16), fmt(soup), fmt(ratio(v16, soup), 1)),
                        None if v16 is None or soup is None else v16 >= 12 * soup))
        out.append(("c: %s 32 workers at least 1.6x 16 workers" % tool,
                    "%s MB/s vs %s MB/s = %sx" % (fmt(v32), fmt(v16), fmt(ratio(v32, v16), 2)),
                    None if v32 is None or v16 is None else v32 >= 1.6 * v16))
    # d
    nr, nw = c.get("d_readers", 16), c.get("d_workers", 4)
    cap = nr * nw * rate
    target = min(x for x in (ceil, cap) if x is not None) if (ceil or cap) else None
    for tool in ("aissrc", "aisfetch", "aissrc-thread", "aisfetch-thread"):
        row = r.row("d", tool, nw)
        if not row:
            continue
        v = row["mbps"]
        out.append(("d: %d %s readers x %d workers, aggregate at least 90%% of min(link ceiling, %d x %d x %g MB/s)"
                    % (nr, tool, nw, nr, nw, rate),
                    "%s MB/s = %s%% of %s MB/s (%s; cap %s MB/s)" % (
                        fmt(v), fmt(ratio(v, target) and 100 * ratio(v, target)), fmt(target), ceil_txt, fmt(cap)),
                    None if v is None or target is None else v >= 0.9 * target))
        lo, med = row.get("reader_min_mbps"), row.get("reader_median_mbps")
        out.append(("d: no %s reader below 70%% of the median reader" % tool,
                    "slowest %s MB/s, median %s MB/s = %s%% (medians over rounds)" % (
                        fmt(lo, 1), fmt(med, 1), fmt(ratio(lo, med) and 100 * ratio(lo, med))),
                    None if lo is None or med is None else lo >= 0.7 * med))
        lim = nr * (2 * nw * c["chunk"] + c["mem_slack"])
        pss = row.get("pss_peak")
        out.append(("d: %s process-tree memory within %d x (%d slots x 8 MiB + 40 MB)" % (tool, nr, 2 * nw),
                    "%s MB PSS (limit %s MB)" % (fmt(pss and pss / 1e6, 1), fmt(lim / 1e6, 1)),
                    None if not pss else pss <= lim))
    # straggler
    for tool, n in (("aisfetch", 16), ("aissrc", 16), ("sdk-model", 16)):
        base = g("straggler-base", tool, n)
        st = g("straggler", tool, n)
        if base is None:
            continue
        out.append(("straggler: %s %d workers keep 80%% of the same run without the straggler%s" % (
            tool, n, " (model of AIStore's SDK reader: for comparison, no goal)" if tool == "sdk-model" else ""),
            "%s MB/s vs %s MB/s = %s%%" % (fmt(st), fmt(base), fmt(ratio(st, base) and 100 * ratio(st, base))),
            None if tool == "sdk-model" or st is None else st >= 0.8 * base))
    # memory
    for s in r.s:
        if s["scenario"].startswith("memory-") and s.get("mem_limit"):
            out.append(("memory: %s %d workers, %s object: peak within %d slots x 8 MiB + 40 MB" % (
                s["tool"], s["workers"], s["scenario"].split("-")[1].upper().replace("G", " GiB"),
                2 * s["workers"]),
                "%s MB PSS (limit %s MB; RSS-based upper bound %s MB)" % (
                    fmt(s["pss_peak"] and s["pss_peak"] / 1e6, 1), fmt(s["mem_limit"] / 1e6, 1),
                    fmt(s["mem_peak"] and s["mem_peak"] / 1e6, 1)),
                None if not s["pss_peak"] else s["pss_peak"] <= s["mem_limit"]))
    # small
    floor = r.get("small-gst-floor", "gst-floor", field="wall_s")
    for key in ("a", "b", "c"):
        for size in ("64k", "1m"):
            scen = "small-%s-%s" % (size, key)
            curl = r.get(scen, "curl", field="wall_s")
            for tool in ("aisfetch", "aissrc"):
                t = r.get(scen, tool, 8, field="wall_s")
                if t is None:
                    continue
                note = ""
                if tool == "aissrc" and floor is not None:
                    note = " (starting GStreamer alone takes %s ms; without it %s ms = %sx)" % (
                        fmt(floor * 1e3, 1), fmt((t - floor) * 1e3, 1), fmt(ratio(t - floor, curl), 2))
                out.append(("small objects (%s, link %s): %s at most 2x one `curl` GET" % (
                    size.upper().replace("K", " KiB").replace("M", " MiB"), key, tool),
                    "%s ms vs curl %s ms = %sx%s" % (fmt(t and t * 1e3, 1), fmt(curl and curl * 1e3, 1),
                                                     fmt(ratio(t, curl), 2), note),
                    None if curl is None else t <= 2 * curl))
    # seek
    for scen, rtt in (("a", 0), ("b", c["rtt_b_ms"]), ("c", c["rtt_c_ms"])):
        sk = r.get(scen, "aissrc", 8, "seek", "seek_ms")
        single = r.get(scen, "curl")
        if scen == "b":
            per_conn = c["rate_b"] / 1e6
        else:
            per_conn = single
        limit = rtt + (c["chunk"] / 1e6) / per_conn * 1e3 if per_conn else None
        if sk is None and limit is None:
            continue
        soup = r.get(scen, "souphttpsrc", None, "seek", "seek_ms")
        out.append(("seek (%s): aissrc first buffer after a seek within one round trip + one chunk's transfer" % scen,
                    "%s ms (limit %g ms + 8 MiB at %s MB/s = %s ms; souphttpsrc %s ms)" % (
                        fmt(sk, 1), rtt, fmt(per_conn), fmt(limit, 1), fmt(soup, 1)),
                    None if sk is None or limit is None else sk <= limit))
    return out


def plot(root, r, scen, title, ideal_rate=None):
    out = os.path.join(root, "docs", "bench")
    dat = os.path.join(out, "%s.dat" % scen)
    ws = r.c["workers"]
    with open(dat, "w") as f:
        f.write("# workers aisfetch_MBps aissrc_MBps aisfetch_cpu_s_per_GB aissrc_cpu_s_per_GB\n")
        for n in ws:
            f.write("%d %s %s %s %s\n" % (n, *[fmt(r.get(scen, t, n, field=fl), 3).replace("—", "NaN")
                                               for fl in ("mbps", "cpu_per_gb") for t in ("aisfetch", "aissrc")]))
    peers = [("curl", "curl (1 stream)"), ("aria2c", "aria2c -x16 -s16"), ("souphttpsrc", "souphttpsrc ! fakesink"),
             ("sdk-model", "SDK model, 16 workers")]
    lines = []
    cpu_lines = []
    colors = {"curl": "#888888", "aria2c": "#d62728", "souphttpsrc": "#2ca02c", "sdk-model": "#9467bd"}
    for t, label in peers:
        n = 16 if t == "sdk-model" else None
        v = r.get(scen, t, n)
        if v is not None:
            lines.append("%g with lines dt 2 lw 2 lc rgb '%s' title '%s'" % (v, colors[t], label))
        cv = r.get(scen, t, n, field="cpu_per_gb")
        if cv is not None:
            cpu_lines.append("%g with lines dt 2 lw 2 lc rgb '%s' title '%s'" % (cv, colors[t], label))
    ceil, _ = ceiling(r)
    if ceil:
        lines.append("%g with lines dt 4 lw 1 lc rgb 'black' title 'the link ceiling (no delay)'" % ceil)
    if ideal_rate:
        lines.append("x*%g with lines dt 3 lc rgb 'black' title 'ideal: workers x %g MB/s'" % (ideal_rate, ideal_rate))
    png = os.path.join(out, "%s.png" % scen)
    gp = """set terminal pngcairo size 1000,500 font 'DejaVu Sans,10'
set output '{png}'
set multiplot layout 1,2 title '{title}'
set logscale x 2
set xrange [0.8:40]
set xtics (1,2,4,8,16,32)
set grid
set key below font ',9' maxrows 3
set xlabel 'workers'
set ylabel 'MB/s (median)'
set yrange [0:*]
plot '{dat}' using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'aisfetch', \\
     '{dat}' using 1:3 with linespoints lw 2 pt 5 lc rgb '#ff7f0e' title 'aissrc ! fakesink'{more}
set ylabel 'CPU seconds per GB (process tree)'
plot '{dat}' using 1:4 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'aisfetch', \\
     '{dat}' using 1:5 with linespoints lw 2 pt 5 lc rgb '#ff7f0e' title 'aissrc ! fakesink'{cmore}
unset multiplot
""".format(png=os.path.basename(png), title=title, dat=os.path.basename(dat), more="".join(", \\\n     " + ln for ln in lines),
           cmore="".join(", \\\n     " + ln for ln in cpu_lines))
    gpf = os.path.join(out, "%s.gp" % scen)
    with open(gpf, "w") as f:
        f.write(gp)
    subprocess.run(["gnuplot", os.path.basename(gpf)], cwd=out, check=False)  # names relative to docs/bench
    return os.path.basename(png)


def plot_straggler(root, r):
    out = os.path.join(root, "docs", "bench")
    dat = os.path.join(out, "straggler.dat")
    rows = []
    for tool in ("aisfetch", "aissrc", "sdk-model"):
        for n in (8, 16, 32):
            b = r.get("straggler-base", tool, n)
            s = r.get("straggler", tool, n)
            if b is not None or s is not None:
                rows.append(("%s-n%d" % (tool, n), b, s))
    if not rows:
        return None
    with open(dat, "w") as f:
        f.write("# config without_straggler_MBps with_straggler_MBps\n")
        for name, b, s in rows:
            f.write("%s %s %s\n" % (name, fmt(b, 1).replace("—", "NaN"), fmt(s, 1).replace("—", "NaN")))
    png = os.path.join(out, "straggler.png")
    gp = """set terminal pngcairo size 900,400 font 'DejaVu Sans,10'
set output '{png}'
set title 'straggler: one 8 MiB range at 5 MB/s, the rest at 50 MB/s per connection, 10 ms round trip'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set ylabel 'MB/s (median)'
set yrange [0:*]
set xtics rotate by -20
plot '{dat}' using 2:xtic(1) title 'without the straggler' lc rgb '#1f77b4', '' using 3 title 'with the straggler' lc rgb '#d62728'
""".format(png=os.path.basename(png), dat=os.path.basename(dat))
    gpf = os.path.join(out, "straggler.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    subprocess.run(["gnuplot", os.path.basename(gpf)], cwd=out, check=False)  # names relative to docs/bench
    return "straggler.png"


def ceiling_table(r):
    lines = ["## The link's ceiling\n",
             "No delay; one object (%d MiB) read by curl as 1, 4 or 16 parallel ranges, each its own process, started "
             "together (`multi.py`); MB/s from the first start to the last end. The server, the clients and the link "
             "share the machine's two cores, so this is the most a client that spends little CPU gets through here. "
             "CPU s = the curls' tree; link CPU s = the forwarder's.\n" % (r.c["sizes"]["a"] // MiB),
             "| link mode | connections | MB/s | curl CPU s | link CPU s | runs (failed) |",
             "|---|---:|---:|---:|---:|---|"]
    for mode in ("asym", "sym"):
        for n in (1, 4, 16):
            s = r.row("ceiling-" + mode, "curl", n)
            if s:
                lines.append("| %s | %d | %s | %s | %s | %d (%d) |" % (mode, n, fmt(s["mbps"]), fmt(s["cpu_s"], 2),
                                                                        fmt(s.get("link_cpu_s"), 2), s["runs"],
                                                                        s["failed"]))
    return "\n".join(lines) + "\n"


def d_section(root, r):
    c = r.c
    nr, nw = c.get("d_readers", 16), c.get("d_workers", 4)
    md = ["## Scenario d: %d concurrent readers, %d MiB objects, %d ms round trip, %g MB/s per connection\n" % (
        nr, c["sizes"]["d"] // MiB, c.get("rtt_d_ms", 10), c["rate_b"] / 1e6),
        "The data-loader case: %d processes at once, each reading its own object, with %d workers (`aissrc`, "
        "`aisfetch`, the SDK model) or `aria2c -x%d -s%d`; `curl` and `souphttpsrc` use one connection each; "
        "`-thread` rows run the same readers with `worker-mode=thread` (`--worker-mode thread`). "
        "MB/s is the aggregate (all bytes / first start to last end); the readers' own rates are in results.json. "
        "CPU and memory are the whole tree's (PSS sampled every 500 ms).\n" % (nr, nw, nw, nw)]
    rows = []
    for tool in ("aissrc", "aissrc-thread", "aisfetch", "aisfetch-thread", "curl", "aria2c", "souphttpsrc",
                 "sdk-model"):
        s = r.row("d", tool, 1 if tool in ("curl", "souphttpsrc") else nw)
        if s:
            rows.append((tool, s))
    dat = os.path.join(root, "docs", "bench", "d.dat")
    with open(dat, "w") as f:
        f.write("# tool aggregate_MBps cpu_s_per_GB\n")
        for tool, s in rows:
            f.write("%s %s %s\n" % (tool, fmt(s["mbps"], 1).replace("—", "NaN"),
                                     fmt(s["cpu_per_gb"], 3).replace("—", "NaN")))
    gp = """set terminal pngcairo size 1000,400 font 'DejaVu Sans,10'
set output 'd.png'
set multiplot layout 1,2 title 'd: %d readers at once, %d ms round trip, %g MB/s per connection'
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set yrange [0:*]
set xtics rotate by -20
set ylabel 'aggregate MB/s (median)'
plot 'd.dat' using 2:xtic(1) notitle lc rgb '#1f77b4'
set ylabel 'CPU seconds per GB (process tree)'
plot 'd.dat' using 3:xtic(1) notitle lc rgb '#ff7f0e'
unset multiplot
""" % (nr, c.get("rtt_d_ms", 10), c["rate_b"] / 1e6)
    with open(os.path.join(root, "docs", "bench", "d.gp"), "w") as f:
        f.write(gp)
    subprocess.run(["gnuplot", "d.gp"], cwd=os.path.join(root, "docs", "bench"), check=False)
    md.append("![d](bench/d.png)\n")
    md.append("| tool | workers each | aggregate MB/s | slowest reader MB/s | median reader MB/s | CPU s/GB | CPU s | "
              "peak memory MB | runs (failed) |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for tool, s in rows:
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d (%d)%s |" % (
            tool, s["workers"], fmt(s["mbps"]), fmt(s.get("reader_min_mbps"), 1), fmt(s.get("reader_median_mbps"), 1),
            fmt(s["cpu_per_gb"], 2), fmt(s["cpu_s"], 2), fmt(s.get("pss_peak") and s["pss_peak"] / 1e6, 1),
            s["runs"], s["failed"],
            " " + "; ".join(s.get("errors", [])).replace("|", "/")[:120] if s.get("errors") else ""))
    return "\n".join(md) + "\n"


def link_table(r):
    """How late the link let packets out (scheduling on a busy machine adds to the round trip)."""
    periods = r.res.get("link") or []
    if not periods:
        return ""
    lines = ["## The link's own behaviour\n",
             "Per link period (one forwarder, one round trip): the packets it held, how many were dropped (queue "
             "full), and how late they left against their due time (percent of packets later than 0.25, 1 and 5 ms; "
             "the largest). Lateness adds to the round trip of that packet.\n",
             "| period | mode | round trip ms | packets | dropped | > 0.25 ms | > 1 ms | > 5 ms | latest ms |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p in periods:
        pk = sum(d["packets"] for d in p["dirs"])
        if not pk:
            continue
        hist = {}
        for d in p["dirs"]:
            for k, v in d["late_hist_us"].items():
                hist[k] = hist.get(k, 0) + v

        def over(us):
            n = sum(v for k, v in hist.items() if k == "inf" or int(k) > us)
            return fmt(100.0 * n / pk, 2) + "%"
        lines.append("| %s | %s | %g | %d | %d | %s | %s | %s | %s |" % (
            p.get("scenario") or "", p["mode"], p["rtt_ms"], pk, sum(d["drops"] for d in p["dirs"]),
            over(250), over(1000), over(5000), fmt(max(d["late_max_us"] for d in p["dirs"]) / 1e3, 2)))
    return "\n".join(lines) + "\n"


def stream_table(r, scen):
    lines = ["| tool | workers | MB/s | CPU s/GB | CPU s | peak memory MB | first byte ms | runs (failed) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    order = [("curl", None), ("aria2c", None), ("souphttpsrc", None), ("sdk-model", 16)] + \
            [(t, n) for t in ("aissrc", "aisfetch") for n in r.c["workers"]]
    for t, n in order:
        s = r.row(scen, t, n)
        if not s:
            if t == "aissrc" and not r.c["have_aissrc"]:
                lines.append("| aissrc | %d | pending (element not built) | | | | | |" % n)
            continue
        ttfb = s.get("ttfb_ms")
        if ttfb is None and t in ("curl", "aisfetch"):
            ttfb = r.get(scen, t, n if t == "aisfetch" else None, "ttfb", "ttfb_ms")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %d (%d)%s |" % (
            t, n or "", fmt(s["mbps"]), fmt(s["cpu_per_gb"], 2), fmt(s["cpu_s"], 2),
            fmt(s.get("mem") and s["mem"] / 1e6, 1), fmt(ttfb, 1), s["runs"], s["failed"],
            " " + "; ".join(s.get("errors", [])).replace("|", "/")[:120] if s.get("errors") else ""))
    return "\n".join(lines)


MANY_LABELS = {
    "aisfetch-prefix": "`aisfetch ais://B/ -o DIR/` (one reader, one pool)",
    "aisfetch-prefix-thread": "the same, `--worker-mode thread`",
    "seqread-prefix": "the library, prefix read as one stream, bytes dropped (`seqread --prefix`)",
    "seqread-one": "the library, one object of the same bytes, dropped (`seqread`)",
    "aissrc-concat": "`aissrc location=ais://B/ mode=concat ! fakesink`",
    "aissrc-one": "`aissrc location=ais://one/m64-all ! fakesink` (one object)",
    "aisfetch-loop": "`aisfetch` once per object, one after the other (today's way)",
    "aria2c": "`aria2c -i URLS -j16 -d DIR`",
    "curl-xargs": "`xargs -P16 curl --remote-name-all` (16 curls, a share of the URLs each)",
}


def many_section(r):
    """Issue 12: a bucket of objects."""
    rows = [s for s in r.s if s["scenario"] in ("many-1m", "many-64m")]
    if not rows:
        return ""
    c = r.c
    m1n, m1s = c.get("m1", [1000, MiB])
    m64n, m64s = c.get("m64", [100, 64 * MiB])
    md = ["## Many objects: a prefix of a bucket\n",
          "nginx serves the objects as AIStore's targets would (`/v1/objects/BUCKET/NAME`, ranges) and each "
          "bucket's listing as AIStore's list-objects answers it (one page; name and size, so the ranges are "
          "checked against the size only); %d ms round trip through the link and %g MB/s per connection "
          "(scenario b's). `many-1m`: %d objects of %d MiB; the tools that write do so into files in a tmpfs "
          "directory, emptied between runs, and every file is checked whole after the run. `many-64m`: %d "
          "objects of %d MiB, against one object of all their bytes. MB/s counts object bytes from the "
          "command's start to its end (the listing included for ours; the others are given the list of "
          "URLs).\n" % (c.get("many_rtt_ms", 10), c["rate_b"] / 1e6, m1n, m1s // MiB, m64n, m64s // MiB)]
    part = [p for p in r.res.get("partial", []) if "many-1m" in p["scenarios"]]
    if part:
        pm = part[-1]["machine"]
        md.append("Measured by `bash tests/bench/run.sh --only many%s` at %s (%s), %.0f s.\n" % (
            " --quick" if pm.get("quick") else "", pm.get("git"), pm.get("date"), part[-1]["elapsed_s"]))
    for scen, n, size in (("many-1m", m1n, m1s), ("many-64m", m64n, m64s)):
        md.append("### %s: %d x %d MiB\n" % (scen, n, size // MiB))
        md.append("| tool | workers | MB/s | objects/s | CPU s/GB | CPU s | peak memory MB | runs (failed) |\n"
                  "|---|---:|---:|---:|---:|---:|---:|---|")
        for s in sorted((s for s in rows if s["scenario"] == scen), key=lambda s: -(s["mbps"] or 0)):
            md.append("| %s | %s | %s | %s | %s | %s | %s | %d (%d)%s |" % (
                MANY_LABELS.get(s["tool"], s["tool"]), s["workers"] or "", fmt(s["mbps"]),
                fmt(s["mbps"] and s["mbps"] * 1e6 / size), fmt(s["cpu_per_gb"], 2), fmt(s["cpu_s"], 2),
                fmt(s.get("mem") and s["mem"] / 1e6, 1), s["runs"], s["failed"],
                " " + "; ".join(s.get("errors", [])).replace("|", "/")[:160] if s.get("errors") else ""))
        md.append("")

    def best(scen, tool):
        v = [s for s in rows if s["scenario"] == scen and s["tool"] == tool and s["mbps"]]
        return max(v, key=lambda s: s["mbps"]) if v else None
    ours = best("many-1m", "aisfetch-prefix")
    loop = best("many-1m", "aisfetch-loop")
    aria = best("many-1m", "aria2c")
    p64, o64 = best("many-64m", "seqread-prefix"), best("many-64m", "seqread-one")
    c64, s64 = best("many-64m", "aissrc-concat"), best("many-64m", "aissrc-one")
    md.append("### Goals (issue 12)\n")
    md.append("| goal | measured | verdict |\n|---|---|---|")
    r1 = ratio(ours and ours["mbps"], loop and loop["mbps"])
    md.append("| 1 MiB set: >= 3x the aisfetch loop | %s MB/s (n=%s) vs %s: %sx | %s |" % (
        fmt(ours and ours["mbps"]), ours and ours["workers"], fmt(loop and loop["mbps"]), fmt(r1, 1),
        verdict(r1 and r1 >= 3)))
    r2 = ratio(ours and ours["mbps"], aria and aria["mbps"])
    md.append("| 1 MiB set: >= 1.5x aria2c -j16 | %s vs %s MB/s: %sx | %s |" % (
        fmt(ours and ours["mbps"]), fmt(aria and aria["mbps"]), fmt(r2, 2), verdict(r2 and r2 >= 1.5)))
    r3 = ratio(p64 and p64["mbps"], o64 and o64["mbps"])
    md.append("| 64 MiB set: no gap at the boundaries, within 5%% of one object (library) | %s vs %s MB/s: %s | %s |" % (
        fmt(p64 and p64["mbps"]), fmt(o64 and o64["mbps"]), fmt(r3 and (r3 - 1) * 100, 1, " %"),
        verdict(r3 and r3 >= 0.95)))
    if c64 or s64:
        r4 = ratio(c64 and c64["mbps"], s64 and s64["mbps"])
        md.append("| 64 MiB set through aissrc (concat vs one object) | %s vs %s MB/s: %s | %s |" % (
            fmt(c64 and c64["mbps"]), fmt(s64 and s64["mbps"]), fmt(r4 and (r4 - 1) * 100, 1, " %"),
            verdict(r4 and r4 >= 0.95)))
    md.append("")
    return "\n".join(md)


def render(root, res):
    r = R(res)
    m = res["machine"]
    c = r.c
    sz = c["sizes"]
    md = []
    md.append("# Benchmarks\n")
    md.append("Generated by `tests/bench/run.sh` (%s); raw runs in [bench/results.json](bench/results.json), "
              "medians in [bench/summary.csv](bench/summary.csv). Do not edit by hand: run the benchmark again.\n"
              % ("quick mode" if m["quick"] else "full run"))
    for p in res.get("partial", []):
        pm = p["machine"]
        md.append("- scenarios %s: measured by `bash tests/bench/run.sh --only %s` at %s (%s, %.0f s)" % (
            ", ".join(p["scenarios"]), p["only"], pm.get("git"), pm.get("date"), p["elapsed_s"]))
    if res.get("partial"):
        md.append("- everything else: the full run at %s (%s); the machine below is that run's\n" % (
            m.get("git"), m.get("date")))
    md.append("## Machine\n")
    md.append("| | |\n|---|---|")
    md.append("| CPU | %s, %d cores |" % (m["cpu"], m["cores"]))
    mc = m.get("memcpy") or {}
    md.append("| memory | %.1f GiB; memory copy %s GB/s (one core, memcpy of 64 MiB buffers, `sink --memcpy`); "
              "a worker's copy of 256 KiB pieces into a 128 MiB ring: memcpy %s GB/s, the library's "
              "non-temporal copy %s GB/s |" % (
                  m["memory_bytes"] / (1 << 30), fmt(mc.get("memcpy_GBps"), 1),
                  fmt(mc.get("slot_memcpy_GBps"), 1), fmt(mc.get("slot_stream_GBps"), 1)))
    md.append("| system | Debian %s, Linux %s |" % (m["debian"], m["kernel"]))
    md.append("| source | git %s, release build (`-Dbuildtype=release`) |" % m["git"])
    md.append("| peers | %s; %s; %s; %s |" % (m["curl"].split(" (")[0], m["aria2c"], m["gstreamer"], m["libsoup"]))
    md.append("| server | %s (sendfile, 2 worker processes) and the AIStore emulator `tools/ais-emulator.py` |" % m["nginx"])
    ceil, ceil_n = ceiling(r)
    tcp = m.get("server_tcp", {})
    md.append("| network | **a delay link** between two network namespaces (clients in one, servers in the other): "
              "%s; `tests/bench/delaylink.c`, real-time priority. Its ceiling (no delay, best of curl x1/x4/x16): "
              "**%s MB/s** (curl x%s). TCP: %s, `tcp_wmem` %s, `tcp_rmem` %s (Linux's autotuning, no buffer set by "
              "any server or client) |" % (
                  "the client's packets (requests, ACKs) held for the whole round trip in a userspace forwarder "
                  "between two TUN devices, the server's packets back over a veth pair" if m.get("link_mode") == "asym"
                  else "both directions through the forwarder, half the round trip each",
                  fmt(ceil), ceil_n, tcp.get("tcp_congestion_control", "?"), tcp.get("tcp_wmem", "?").replace("\t", " "),
                  tcp.get("tcp_rmem", "?").replace("\t", " ")))
    md.append("| date | %s, %.0f s in all; rounds per configuration: %d in a, %d in b, c and straggler "
              "(%s), %d in d, %s in small objects |" % (
                  m["date"], res["elapsed_s"], m.get("rounds_fast", m["rounds"]), m["rounds"],
                  "one or two connections and the SDK model in b and c: 3" if not m["quick"] else "", 1 if m["quick"] else 3,
                  "5" if m["quick"] else "11"))
    fc = [x.get("foreign_cores") for x in res["runs"] if x.get("foreign_cores") is not None and x.get("wall_s", 0) >= 0.2]
    fc.sort()
    md.append("| other load | load average %s at the start, %s at the end; other processes' CPU during a run "
              "(not the measured tree, not the servers; steal included): median %s cores, 90th percentile %s cores; "
              "%d runs were disturbed by more than 0.25 cores and measured again (at most twice) |" % (
                  " / ".join("%.2f" % x for x in m.get("load_start", [])),
                  " / ".join("%.2f" % x for x in m.get("load_end", [])),
                  fmt(fc[len(fc) // 2] if fc else None, 2), fmt(fc[int(len(fc) * 0.9)] if fc else None, 2),
                  m.get("disturbed_reruns", 0)))
    md.append("")
    md.append("## How it is measured\n")
    md.append("""One command: `%s` (`--quick` for a shorter run). It builds the project in release mode into
`build-bench/`, compiles its helpers from `tests/bench/` (`treemon`, `gstprobe`, `sink`, `delaylink`), makes two
network namespaces joined by the delay link, starts nginx (two kinds of port: plain, and `limit_rate` %g MB/s per
connection) and the emulator in the servers' namespace, writes its objects (files in a scratch directory in
/dev/shm for nginx; generated objects in the emulator), and runs every client in the clients' namespace. Each
scenario sets the link's round trip: a 0 ms, b %d ms + the per-connection cap, c %d ms, d %d ms + the cap.
Within a scenario every configuration runs once per round, in a rotated order, and the tables show the median
of the rounds.

**The link.** This kernel has no `sch_netem`, so the round trip is made in user space: `delaylink` reads each
packet from a TUN device in one namespace and writes it to a TUN device in the other once it is due, first in,
first out; with virtio-net headers and TSO on both devices a packet is up to 64 KiB, as a NIC with TSO/GRO hands
them over. Nothing in a server waits: TCP itself sees the delay, with slow start, windows bounded by Linux's
socket buffers, and the bandwidth-delay product (one curl at 40 ms: the c table). In the default `asym` mode only
the client's packets (requests and ACKs) cross the forwarder, held for the whole round trip, and the data comes
back over a veth pair, so that the link never copies the data: sending both ways through the forwarder
(`--link sym`) costs it about half a core per GB/s on this machine, and its ceiling is lower (below). TCP's
throughput depends on the round trip, not on how it is split between the directions.

* **MB/s** = object bytes / wall time of the whole command (process start to exit; 1 MB = 10^6 bytes); in d,
  all readers' bytes / (last reader's end - first reader's start).

* **CPU s/GB** = user + system CPU of the whole process tree (getrusage of the command, which waits for its
  worker processes) per 10^9 bytes. Server CPU and the link's are not included (results.json has both).
* **peak memory** = the largest sample of the sum of PSS (`/proc/PID/smaps_rollup`) over the tree's processes,
  less their shared-memory part, plus every memfd or /dev/shm object open in the tree once by its allocated
  size (the ring is written with `pwrite()` and mapped only by the caller, who may never touch it), sampled
  every 200 ms (every 50 ms in the memory scenario, 500 ms in d): shared pages are apportioned, so the pages
  forked workers share copy-on-write with their parent count once. Runs
  shorter than 0.5 s (small objects) show instead the largest 20 ms sample of an RSS-based sum (RssAnon summed
  over the processes plus each memfd or /dev/shm object open in the tree counted once by its allocated size),
  an upper bound.
* **first byte** = from starting the command to the first buffer reaching `fakesink` (GStreamer, a pad probe
  in `gstprobe`), or to the first byte on stdout (`curl -o -`, `aisfetch -o -`, read by `sink`).
* **seek** = in a playing pipeline, after 64 MiB: a flushing byte seek to the middle of the object (+4097),
  timed from `gst_element_seek_simple` to the first buffer after the flush.

The commands (ENDPOINT is nginx's port of the scenario, URL its plain HTTP URL of the same file):
```
curl -s -f -o /dev/null URL
aria2c -x16 -s16 -q --allow-overwrite=true --file-allocation=none --auto-file-renaming=false -d /dev -o null URL
gstprobe 'souphttpsrc location=URL ! fakesink name=sink'                # = gst-launch-1.0 ... ! fakesink
gstprobe 'aissrc location=ais://bench/OBJ endpoint=ENDPOINT num-workers=N chunk-size=8388608 ! fakesink name=sink'
aisfetch -e ENDPOINT -n N -c 8388608 -q -o /dev/null ais://bench/OBJ
python3 tests/bench/sdk_model.py -e ENDPOINT -n 16 -c 8388608 ais://bench/OBJ   # AIStore's SDK reader, modelled
```
Each runs as `treemon -i 20 -t LIMIT -- COMMAND`. In d, `tests/bench/multi.py` starts the 16 readers at once
(the same commands, 4 workers or `aria2c -x4 -s4` each, one object each) and is itself run under `treemon`.
""" % (c["command"], c["rate_b"] / 1e6, c["rtt_b_ms"], c["rtt_c_ms"], c.get("rtt_d_ms", 10)))

    md.append("## Goals\n")
    md.append("| goal | measured (medians) | |\n|---|---|---|")
    for name, meas, ok in goals(r):
        md.append("| %s | %s | %s |" % (name, meas, verdict(ok)))
    md.append("")

    md.append(ceiling_table(r))
    titles = {
        "a": "a: no delay, %d MiB object (through the link)" % (sz["a"] // MiB),
        "b": "b: %d ms round trip, %g MB/s per connection, %d MiB object" % (c["rtt_b_ms"], c["rate_b"] / 1e6, sz["b"] // MiB),
        "c": "c: %d ms round trip, no per-connection cap, %d MiB object" % (c["rtt_c_ms"], sz["c"] // MiB),
    }
    for scen in ("a", "b", "c"):
        if not r.row(scen, "curl"):
            continue
        md.append("## Scenario %s\n" % titles[scen])
        png = plot(root, r, scen, titles[scen], c["rate_b"] / 1e6 if scen == "b" else None)
        md.append("![%s](bench/%s)\n" % (scen, png))
        md.append(stream_table(r, scen))
        md.append("")
        sk = [(t, n) for t, n in (("aissrc", 8), ("souphttpsrc", None)) if r.row(scen, t, n, "seek")]
        if sk:
            md.append("Seek to the first buffer (median ms): " + ", ".join(
                "%s%s %s" % (t, " n=%d" % n if n else "", fmt(r.get(scen, t, n, "seek", "seek_ms"), 1)) for t, n in sk) + ".\n")
    if r.row("d", "curl", 1):
        md.append(d_section(root, r))

    if r.row("straggler-base", "aisfetch", 16):
        md.append("## Scenario straggler\n")
        md.append("As b (%d ms round trip, %g MB/s per connection) on the emulator with a generated %d MiB object; in the "
                  "straggler runs the answer to the range at byte %d (the 5th chunk) is sent at %g MB/s (emulator fault "
                  "`slow`, once). `sdk-model` is `tests/bench/sdk_model.py`, a model of AIStore's own Python reader "
                  "(ring of num_workers slots, next range submitted only when the oldest is consumed, every range "
                  "through the proxy), since the SDK cannot be installed here.\n" % (
                      c["rtt_b_ms"], c["rate_b"] / 1e6, sz["straggler"] // MiB, 4 * c["chunk"], c["straggler_rate"] / 1e6))
        png = plot_straggler(root, r)
        if png:
            md.append("![straggler](bench/%s)\n" % png)
        md.append("| tool | workers | without MB/s | with straggler MB/s | kept | CPU s/GB with |\n|---|---:|---:|---:|---:|---:|")
        for tool in ("aisfetch", "aissrc", "sdk-model"):
            for n in (8, 16, 32):
                b = r.get("straggler-base", tool, n)
                s = r.get("straggler", tool, n)
                if b is None and s is None:
                    continue
                md.append("| %s | %d | %s | %s | %s%% | %s |" % (tool, n, fmt(b), fmt(s), fmt(ratio(s, b) and 100 * ratio(s, b)),
                                                                fmt(r.get("straggler", tool, n, field="cpu_per_gb"), 2)))
        md.append("")

    small = [s for s in r.s if s["scenario"].startswith("small-")]
    if small:
        md.append("## Small objects\n")
        md.append("End-to-end time of one command per object (process start to exit), median, on the link of a "
                  "(no delay), b (%d ms, capped) and c (%d ms).\n" % (c["rtt_b_ms"], c["rtt_c_ms"]))
        md.append("| object | link | curl ms | aisfetch ms | x curl | aissrc ms | x curl | souphttpsrc ms | x curl |\n"
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for key in ("a", "b", "c"):
            for size in ("64k", "1m"):
                scen = "small-%s-%s" % (size, key)
                cu = r.get(scen, "curl", field="wall_s")
                if cu is None:
                    continue
                cells = []
                for t, n in (("aisfetch", 8), ("aissrc", 8), ("souphttpsrc", None)):
                    v = r.get(scen, t, n, field="wall_s")
                    cells += [fmt(v and v * 1e3, 1), fmt(ratio(v, cu), 2)]
                md.append("| %s | %s | %s | %s |" % ({"64k": "64 KiB", "1m": "1 MiB"}[size], key,
                                                      fmt(cu * 1e3, 1), " | ".join(cells)))
        floor = r.get("small-gst-floor", "gst-floor", field="wall_s")
        if floor is not None:
            md.append("\nStarting GStreamer alone (`gstprobe 'fakesrc num-buffers=1 ! fakesink'`: gst_init, the "
                      "registry, a pipeline to PLAYING and back) takes %s ms, which every `aissrc` and `souphttpsrc` "
                      "row above includes." % fmt(floor * 1e3, 1))
        md.append("")

    mem = [s for s in r.s if s["scenario"].startswith("memory-")]
    if mem:
        md.append("## Memory\n")
        md.append("Generated objects on the emulator (no disk), no shaping; 8 MiB chunks, slots = 2 x workers.\n")
        md.append("| tool | workers | object | PSS peak MB | RSS-based peak MB | limit MB | MB/s | processes |\n"
                  "|---|---:|---|---:|---:|---:|---:|---:|")
        for s in sorted(mem, key=lambda s: (s["tool"], s["workers"], s["scenario"])):
            md.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
                s["tool"], s["workers"], s["scenario"].split("-")[1].replace("g", " GiB"),
                fmt(s["pss_peak"] and s["pss_peak"] / 1e6, 1), fmt(s["mem_peak"] and s["mem_peak"] / 1e6, 1),
                fmt(s.get("mem_limit") and s["mem_limit"] / 1e6, 1), fmt(s["mbps"]), fmt(s["nproc"])))
        md.append("")

    md.append(many_section(r))
    md.append(link_table(r))
    notes = os.path.join(root, "tests", "bench", "findings.md")
    if os.path.exists(notes):
        md.append(open(notes).read())
    with open(os.path.join(root, "docs", "benchmarks.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    # medians as CSV
    cols = ["scenario", "kind", "tool", "workers", "runs", "failed", "mbps", "cpu_per_gb", "cpu_s", "wall_s",
            "mem", "mem_peak", "pss_peak", "ttfb_ms", "seek_ms", "nproc", "foreign_cores", "server_cpu_s",
            "link_cpu_s", "reader_min_mbps", "reader_median_mbps"]
    with open(os.path.join(root, "docs", "bench", "summary.csv"), "w") as f:
        f.write(",".join(cols) + "\n")
        for s in r.s:
            f.write(",".join("" if s.get(k) is None else (("%.6g" % s[k]) if isinstance(s[k], float) else str(s[k]))
                             for k in cols) + "\n")
