#!/usr/bin/python3
"""AIStore emulator: one proxy ("p1") and N targets ("t1".."tN") on loopback.

Speaks the read side of the AIStore wire protocol (see the project's protocol
notes): HEAD/GET through the proxy are redirected (307/301) to the owning
target, targets serve HEAD (v1 and v2) and GET with single byte ranges, and
the proxy answers list-objects (GET /v1/buckets/B, JSON or msgpack pages).
A control API under /_emu/ on the proxy port creates generated (one or many
at once) or in-memory objects, moves objects between targets, takes targets
down and up, injects faults, shapes traffic and reports statistics.

Runs on the Python 3 standard library; the xxhash and crc32c modules (Debian
python3-xxhash, python3-crc32c) are needed only for those checksum types.
See tools/emulator-README.md for the full CLI and API.
"""

import argparse
import bisect
import collections
import hashlib
import html
import http
import http.server
import json
import os
import re
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import zlib

try:
    import xxhash
except ImportError:  # pragma: no cover - only the xxhash checksum types need it
    xxhash = None
try:
    import crc32c as _crc32c
except ImportError:  # pragma: no cover - only the crc32c checksum type needs it
    _crc32c = None

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
BLOCK = 4096
BLOCK_TAIL = BLOCK - 8
TABLE_MOD = 61448
KNUTH = 2654435761
SEND_PIECE = 1 << 20          # largest buffer handed to the socket at once
HASH_PIECE = 4 << 20          # checksums stream through the hash in these pieces
EAGER_CKSUM_LIMIT = 256 << 20  # PUT computes checksums now up to this size
BULK_MAX = 1000000              # objects per POST /_emu/objects/bulk

CKSUM_TYPES = ("none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512")
PROVIDERS = {"ais": "ais", "aws": "aws", "s3": "aws", "gcp": "gcp", "gs": "gcp",
             "azure": "azure", "az": "azure", "oci": "oci", "oc": "oci"}
SCHEMES = {"ais": "ais", "aws": "s3", "gcp": "gs", "azure": "az", "oci": "oc"}
V2_PROPS = frozenset(("name", "size", "checksum", "atime", "version", "custom",
                      "last-modified", "etag", "location", "copies", "ec",
                      "chunked", "present"))
FAULT_KINDS = ("status", "reset", "short", "full200", "bad_range", "extra",
               "stall", "slow", "overwrite", "delay")
PRE_KINDS = ("delay", "overwrite")                 # combine with anything
RANGE_KINDS = ("full200", "bad_range", "extra")    # need a satisfiable range GET
LIST_KINDS = ("status", "reset", "short", "stall", "slow", "delay")  # usable on LIST

# list-objects (api/apc/lsmsg.go, cmn/objlist.go)
MAX_PAGE = {"ais": 10000, "aws": 1000, "gcp": 1000, "azure": 5000, "oci": 1000}
LS_CACHED, LS_NAME_ONLY, LS_NAME_SIZE = 1, 16, 32
LS_NOT_CACHED, LS_NO_RECURSION, LS_DIFF, LS_NO_DIRS, LS_NBI = 512, 2048, 4096, 8192, 32768
ENTRY_IS_CACHED, ENTRY_IS_DIR, ENTRY_IS_CHUNKED = 64, 256, 8192
LSO_PROPS_ALL = ("name", "size", "checksum", "atime", "version", "cached", "status",
                 "copies", "ec", "custom", "location")
LSO_STR_FIELDS = ("uuid", "props", "time_format", "prefix", "start_after",
                  "continuation_token", "target")
LIST_SNAPSHOTS = 16       # listings (uuids) whose name snapshot is kept
LIST_JSON_MODES = ("jsoniter", "encoding/json")

VERBOSE = False


def log(msg):
    if VERBOSE:
        sys.stderr.write("ais-emulator: %s\n" % msg)
        sys.stderr.flush()


# ---------------------------------------------------------------------------
# Generated content
# ---------------------------------------------------------------------------

def _make_table():
    """T: 8192 little-endian uint64 outputs of splitmix64 from state 0."""
    state = 0
    out = []
    for _ in range(8192):
        state = (state + GOLDEN) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return struct.pack("<8192Q", *out)


TABLE = _make_table()
TABLE_MV = memoryview(TABLE)
_STEP = KNUTH % TABLE_MOD


def gen_blocks(seed, n0, count):
    """Blocks n0 .. n0+count-1 of the object with this seed, as one bytearray."""
    buf = bytearray(count * BLOCK)
    mv = memoryview(buf)
    k = (n0 * KNUTH + seed) % TABLE_MOD
    tab = TABLE_MV
    off = 8
    for _ in range(count):
        mv[off:off + BLOCK_TAIL] = tab[k:k + BLOCK_TAIL]
        off += BLOCK
        k += _STEP
        if k >= TABLE_MOD:
            k -= TABLE_MOD
    heads = struct.pack("<%dQ" % count,
                        *[(n * GOLDEN + seed) & MASK64 for n in range(n0, n0 + count)])
    mv.cast("Q")[::BLOCK // 8] = memoryview(heads).cast("Q")
    return buf


def gen_iter(seed, start, end, piece=SEND_PIECE):
    """Yield memoryviews covering bytes [start, end) of a generated object."""
    per = max(1, piece // BLOCK)
    n = start // BLOCK
    skip = start - n * BLOCK
    pos = start
    while pos < end:
        need = (end - n * BLOCK + BLOCK - 1) // BLOCK
        cnt = min(per, need)
        buf = gen_blocks(seed, n, cnt)
        stop = min(cnt * BLOCK, end - n * BLOCK)
        yield memoryview(buf)[skip:stop]
        pos = n * BLOCK + stop
        n += cnt
        skip = 0


# ---------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------

class _Crc32c:
    def __init__(self):
        self.crc = 0

    def update(self, data):
        self.crc = _crc32c.crc32c(data, self.crc)

    def hexdigest(self):
        return "%08x" % (self.crc & 0xFFFFFFFF)


def new_hasher(ctype):
    if ctype in ("xxhash", "xxhash2"):
        if xxhash is None:
            raise RuntimeError("checksum %s needs the xxhash module" % ctype)
        return xxhash.xxh64(seed=0)
    if ctype == "crc32c":
        if _crc32c is None:
            raise RuntimeError("checksum crc32c needs the crc32c module")
        return _Crc32c()
    if ctype in ("md5", "sha256", "sha512"):
        return hashlib.new(ctype)
    raise ValueError("no hasher for checksum type %r" % ctype)


_GEN_CKSUM_CACHE = {}   # (seed, size, type) -> value; generated content never changes
_GEN_CKSUM_LOCK = threading.Lock()


# ---------------------------------------------------------------------------
# Objects and the store
# ---------------------------------------------------------------------------

class Obj:
    """One version of an object.  Content never changes in place: an
    overwrite makes a new Obj, so an answer in flight keeps its snapshot."""

    def __init__(self, key, kind, size, cksum_type, version, seed=0, data=None,
                 path=None, sig=None, flip=False, chunk=None, mtime=None):
        self.provider, self.bucket, self.name = key
        self.kind = kind            # "gen" | "mem" | "file"
        self.size = size
        self.seed = seed
        self.data = data
        self.path = path
        self.sig = sig              # (size, mtime_ns, ino) of a data-dir file
        self.flip = flip            # overwrite fault on a file: first byte inverted
        self.chunk = chunk          # max chunk size when "stored in chunks"
        self.cksum_type = cksum_type
        self.version = version
        self.atime = time.time_ns()
        self.mtime = mtime if mtime is not None else time.time()
        self._cksum = None
        self._lock = threading.Lock()

    @property
    def key(self):
        return (self.provider, self.bucket, self.name)

    def uname(self):
        return "%s://%s/%s" % (SCHEMES[self.provider], self.bucket, self.name)

    # -- content --
    def iter_range(self, start, end, piece=SEND_PIECE):
        """Yield buffers covering [start, end) of the content."""
        if start >= end:
            return
        if self.kind == "gen":
            yield from gen_iter(self.seed, start, end, piece)
        elif self.kind == "mem":
            mv = memoryview(self.data)
            for pos in range(start, end, piece):
                yield mv[pos:min(end, pos + piece)]
        else:
            with open(self.path, "rb") as f:
                f.seek(start)
                pos = start
                while pos < end:
                    want = min(piece, end - pos)
                    chunk = f.read(want)
                    if len(chunk) != want:
                        raise IOError("file %s changed while reading" % self.path)
                    if pos == 0 and self.flip:
                        chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                    pos += want
                    yield chunk

    def read(self, start, end):
        return b"".join(bytes(b) for b in self.iter_range(start, end))

    # -- checksum --
    def cksum_ready(self):
        return self.cksum_type == "none" or self._cksum is not None

    def cksum(self):
        """Checksum value ("" for type none), computed on first need."""
        if self.cksum_type == "none":
            return ""
        if self._cksum is not None:
            return self._cksum
        with self._lock:
            if self._cksum is None:
                self._cksum = self._compute()
        return self._cksum

    def _compute(self):
        ckey = None
        if self.kind == "gen":
            ckey = (self.seed, self.size, self.cksum_type)
            with _GEN_CKSUM_LOCK:
                if ckey in _GEN_CKSUM_CACHE:
                    return _GEN_CKSUM_CACHE[ckey]
        t0 = time.monotonic()
        h = new_hasher(self.cksum_type)
        if self.kind == "mem":
            h.update(self.data)
        else:
            for piece in self.iter_range(0, self.size, HASH_PIECE):
                h.update(piece)
        val = h.hexdigest()
        log("checksum %s of %s (%d bytes) in %.2fs" %
            (self.cksum_type, self.uname(), self.size, time.monotonic() - t0))
        if ckey is not None:
            with _GEN_CKSUM_LOCK:
                _GEN_CKSUM_CACHE[ckey] = val
        return val

    def meta(self, owner):
        d = {"provider": self.provider, "bucket": self.bucket, "object": self.name,
             "kind": self.kind, "size": self.size, "version": str(self.version),
             "cksum_type": self.cksum_type, "cksum_value": self.cksum(),
             "atime": self.atime, "owner": owner, "node": "t%d" % (owner + 1)}
        if self.kind == "gen":
            d["seed"] = self.seed
        if self.kind == "file":
            d["path"] = self.path
        if self.chunk:
            d["chunk_max"] = self.chunk
            d["chunks"] = -(-self.size // self.chunk)
        return d


def _valid_name(name):
    return bool(name) and "\x00" not in name


class Store:
    def __init__(self, data_dir, default_cksum, ntargets):
        self.data_dir = data_dir
        self.default_cksum = default_cksum
        self.ntargets = ntargets
        self.lock = threading.Lock()
        self.objs = {}          # key -> Obj created through the control API
        self.files = {}         # key -> Obj cached for a data-dir file
        self.tombstones = set()  # data-dir files "deleted" via the control API
        self.buckets = set()    # (provider, bucket) created via the control API
        self.placement = {}     # key -> target index (control API move)
        self.names = {}         # (provider, bucket) -> set of names in self.objs

    # -- data-dir --
    def _bucket_dir(self, bucket):
        if not self.data_dir or bucket in (".", "..") or "/" in bucket or not _valid_name(bucket):
            return None
        return os.path.join(self.data_dir, bucket)

    def _file_path(self, bucket, name):
        bdir = self._bucket_dir(bucket)
        if bdir is None or name.startswith("/"):
            return None
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return None
        return os.path.join(bdir, *parts)

    def bucket_exists(self, provider, bucket):
        with self.lock:
            if (provider, bucket) in self.buckets:
                return True
        if provider == "ais":
            bdir = self._bucket_dir(bucket)
            return bdir is not None and os.path.isdir(bdir)
        return False

    def lookup(self, key):
        with self.lock:
            obj = self.objs.get(key)
            if obj is not None:
                return obj
            if key in self.tombstones:
                return None
            cached = self.files.get(key)
        provider, bucket, name = key
        if provider != "ais":
            return None
        path = self._file_path(bucket, name)
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or not os.path.isfile(path):
            if cached is not None:
                with self.lock:
                    self.files.pop(key, None)
            return None
        sig = (st.st_size, st.st_mtime_ns, st.st_ino)
        if cached is not None and cached.sig == sig:
            return cached
        with self.lock:
            cur = self.files.get(key)
            if cur is not None and cur.sig == sig:
                return cur
            version = cur.version + 1 if cur is not None else 1
            obj = Obj(key, "file", st.st_size, self.default_cksum, version,
                      path=path, sig=sig, mtime=st.st_mtime)
            self.files[key] = obj
            return obj

    def owner(self, key):
        with self.lock:
            k = self.placement.get(key)
        if k is not None:
            return k
        return zlib.crc32(("%s/%s" % (key[1], key[2])).encode("utf-8", "surrogateescape")) % self.ntargets

    # -- control --
    def put(self, key, **kw):
        prev = self.lookup(key)
        with self.lock:
            version = prev.version + 1 if prev is not None else 1
            obj = Obj(key, version=version, **kw)
            self.objs[key] = obj
            self.tombstones.discard(key)
            self.buckets.add((key[0], key[1]))
            self.names.setdefault(key[:2], set()).add(key[2])
        return obj

    def bulk_put(self, provider, bucket, items):
        """Create many objects at once: items = [(name, kw), ...]."""
        bdir = self._bucket_dir(bucket) if provider == "ais" else None
        on_disk = bdir is not None and os.path.isdir(bdir)
        prevs = [self.lookup((provider, bucket, name)) if on_disk else None
                 for name, _ in items]
        with self.lock:
            names = self.names.setdefault((provider, bucket), set())
            self.buckets.add((provider, bucket))
            for (name, kw), prev in zip(items, prevs):
                key = (provider, bucket, name)
                if prev is None:
                    prev = self.objs.get(key)
                version = prev.version + 1 if prev is not None else 1
                self.objs[key] = Obj(key, version=version, **kw)
                self.tombstones.discard(key)
                names.add(name)
        return len(items)

    def delete_bucket(self, provider, bucket):
        """Drop every control-API object of the bucket and the bucket itself
        (data-dir files stay; an ais bucket with a data-dir directory still exists)."""
        with self.lock:
            names = self.names.pop((provider, bucket), set())
            for name in names:
                key = (provider, bucket, name)
                self.objs.pop(key, None)
                self.placement.pop(key, None)
            self.buckets.discard((provider, bucket))
        return len(names)

    def list_names(self, provider, bucket):
        """Every object name of the bucket (control API and data-dir), as UTF-8
        (surrogateescape) bytes, sorted bytewise as Go compares strings."""
        with self.lock:
            names = set(self.names.get((provider, bucket), ()))
            tomb = {k[2] for k in self.tombstones if k[0] == provider and k[1] == bucket}
        bdir = self._bucket_dir(bucket) if provider == "ais" else None
        if bdir is not None and os.path.isdir(bdir):
            for root, dirs, files in os.walk(bdir):
                rel = os.path.relpath(root, bdir)
                base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
                for f in files:
                    name = base + f
                    if name not in tomb:
                        names.add(name)
        out = [n.encode("utf-8", "surrogateescape") for n in names]
        out.sort()
        return out

    def delete(self, key):
        if self.lookup(key) is None:
            return False
        with self.lock:
            if self.objs.pop(key, None) is not None:
                self.names.get(key[:2], set()).discard(key[2])
            self.files.pop(key, None)
        path = self._file_path(key[1], key[2]) if key[0] == "ais" else None
        if path and os.path.isfile(path):
            with self.lock:
                self.tombstones.add(key)   # data-dir files are never unlinked
        return True

    def overwrite(self, key):
        """New version with changed content (generated: seed+1; else first byte flipped)."""
        prev = self.lookup(key)
        if prev is None:
            return None
        with self.lock:
            if prev.kind == "gen":
                obj = Obj(key, "gen", prev.size, prev.cksum_type, prev.version + 1,
                          seed=(prev.seed + 1) & MASK64, chunk=prev.chunk)
            elif prev.kind == "mem":
                data = prev.data
                if data:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                obj = Obj(key, "mem", prev.size, prev.cksum_type, prev.version + 1,
                          data=data, chunk=prev.chunk)
            else:
                obj = Obj(key, "file", prev.size, prev.cksum_type, prev.version + 1,
                          path=prev.path, sig=prev.sig, flip=(not prev.flip) and prev.size > 0,
                          mtime=time.time())
            if prev.kind == "file" and key not in self.objs:
                self.files[key] = obj
            else:
                self.objs[key] = obj
        return obj

    def move(self, key, target):
        with self.lock:
            self.placement[key] = target


# ---------------------------------------------------------------------------
# Listing (list-objects): encoders, time layouts, name snapshots
# ---------------------------------------------------------------------------

_JS_ESC_RE = re.compile(rb'[\x00-\x1f"\\]')
_JS_ESC = {0x22: b'\\"', 0x5C: b'\\\\', 0x0A: b'\\n', 0x0D: b'\\r', 0x09: b'\\t'}


def _js_esc(m):
    c = m.group()[0]
    return _JS_ESC.get(c) or b"\\u00%02x" % c


def js_str_jsoniter(b):
    """A JSON string as AIS writes it (json-iterator, EscapeHTML false): bytes >= 0x20
    other than '"' and '\\' go out as they are, invalid UTF-8 included."""
    return b'"' + _JS_ESC_RE.sub(_js_esc, b) + b'"'


_GOJS_SPECIAL = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                 '"': '\\"', "\\": "\\\\", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GOJS_RE = re.compile("[\x00-\x1f\"\\\\<>&\u2028\u2029\udc80-\udcff]")


def _gojs_esc(m):
    c = m.group()
    if "\udc80" <= c <= "\udcff":
        return "\\ufffd"                       # one invalid byte -> U+FFFD
    return _GOJS_SPECIAL.get(c) or "\\u%04x" % ord(c)


def js_str_encoding_json(b):
    """A JSON string as Go's encoding/json.Marshal writes it: every byte of invalid
    UTF-8 becomes \\ufffd; <, >, &, U+2028, U+2029 are escaped."""
    s = b.decode("utf-8", "surrogateescape")
    return ('"' + _GOJS_RE.sub(_gojs_esc, s) + '"').encode("utf-8")


def mp_str(b):
    n = len(b)
    if n <= 31:
        return bytes((0xA0 | n,)) + b
    if n <= 0xFF:
        return b"\xd9" + bytes((n,)) + b
    if n <= 0xFFFF:
        return b"\xda" + struct.pack(">H", n) + b
    return b"\xdb" + struct.pack(">I", n) + b


def mp_int(i):
    """tinylib/msgp WriteInt64 for i >= 0."""
    if i <= 0x7F:
        return bytes((i,))
    if i <= 0x7FFF:
        return b"\xd1" + struct.pack(">H", i)
    if i <= 0x7FFFFFFF:
        return b"\xd2" + struct.pack(">I", i)
    return b"\xd3" + struct.pack(">Q", i)


def mp_uint(u):
    """tinylib/msgp WriteUint64."""
    if u <= 0x7F:
        return bytes((u,))
    if u <= 0xFF:
        return b"\xcc" + bytes((u,))
    if u <= 0xFFFF:
        return b"\xcd" + struct.pack(">H", u)
    if u <= 0xFFFFFFFF:
        return b"\xce" + struct.pack(">I", u)
    return b"\xcf" + struct.pack(">Q", u)


def mp_array_header(n):
    if n <= 15:
        return bytes((0x90 | n,))
    if n <= 0xFFFF:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def render_lso_json(uuid, token, entries, flags, mode):
    """LsoRes as AIS's proxy writes it (cmn/objlist.go; json tags; size as a string)."""
    js = js_str_jsoniter if mode == "jsoniter" else js_str_encoding_json
    out = [b'{"uuid":', js(uuid.encode()), b',"continuation_token":', js(token), b',"entries":']
    if not entries:
        out.append(b"null")
    else:
        parts = []
        for e in entries:
            name, cksum, atime, version, location, custom, size, copies, eflags = e
            p = [b'{"name":', js(name)]
            if cksum:
                p += [b',"checksum":', js(cksum.encode())]
            if atime:
                p += [b',"atime":', js(atime.encode("utf-8", "surrogateescape"))]
            if version:
                p += [b',"version":', js(version.encode())]
            if location:
                p += [b',"location":', js(location.encode())]
            if custom:
                p += [b',"custom-md":', js(custom.encode())]
            if size:
                p.append(b',"size":"%d"' % size)
            if copies:
                p.append(b',"copies":%d' % copies)
            if eflags:
                p.append(b',"flags":%d' % eflags)
            p.append(b"}")
            parts.append(b"".join(p))
        out += [b"[", b",".join(parts), b"]"]
    out.append(b',"flags":%d}\n' % flags)
    return b"".join(out)


def render_lso_msgpack(uuid, token, entries, flags):
    """LsoRes as tinylib/msgp encodes it (cmn/objlist_gen.go)."""
    out = [b"\x84\xa4UUID", mp_str(uuid.encode()), b"\xb1ContinuationToken", mp_str(token),
           b"\xa7Entries", mp_array_header(len(entries))]
    for e in entries:
        name, cksum, atime, version, location, custom, size, copies, eflags = e
        fields = [(b"cs", mp_str(cksum.encode()) if cksum else None),
                  (b"a", mp_str(atime.encode("utf-8", "surrogateescape")) if atime else None),
                  (b"v", mp_str(version.encode()) if version else None),
                  (b"t", mp_str(location.encode()) if location else None),
                  (b"m", mp_str(custom.encode()) if custom else None),
                  (b"s", mp_int(size) if size else None),
                  (b"c", mp_int(copies) if copies else None),
                  (b"f", mp_uint(eflags) if eflags else None)]
        fields = [(k, v) for k, v in fields if v is not None]
        out.append(bytes((0x80 | (1 + len(fields)),)))
        out.append(b"\xa1n" + mp_str(name))
        for k, v in fields:
            out.append(mp_str(k) + v)
    out.append(b"\xa5Flags" + mp_uint(flags))
    return b"".join(out)


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TZ_LAYOUTS = ("Z07:00:00", "-07:00:00", "Z070000", "-070000", "Z07:00", "-07:00",
               "Z0700", "-0700", "Z07", "-07")
RFC822 = "02 Jan 06 15:04 MST"


def _tz(off, layout):
    if layout[0] == "Z" and off == 0:
        return "Z"
    sign = "-" if off < 0 else "+"
    off = abs(off)
    h, m, sec = off // 3600, off // 60 % 60, off % 60
    body = layout[1:]
    if body == "07":
        return "%s%02d" % (sign, h)
    if body == "0700":
        return "%s%02d%02d" % (sign, h, m)
    if body == "07:00":
        return "%s%02d:%02d" % (sign, h, m)
    if body == "070000":
        return "%s%02d%02d%02d" % (sign, h, m, sec)
    return "%s%02d:%02d:%02d" % (sign, h, m, sec)


def go_time_format(ns, layout):
    """Format unix nanoseconds in local time with a Go time layout (the common
    elements of Go's time.Format; anything else is copied literally, as Go does)."""
    sec, frac = divmod(ns, 10 ** 9)
    tm = time.localtime(sec)
    out = []
    i, n = 0, len(layout)
    while i < n:
        s = layout[i:i + 9]
        c = s[0]
        if s.startswith("January"):
            out.append(_MONTHS[tm.tm_mon - 1]); i += 7
        elif s.startswith("Jan"):
            out.append(_MONTHS[tm.tm_mon - 1][:3]); i += 3
        elif s.startswith("Monday"):
            out.append(_DAYS[tm.tm_wday]); i += 6
        elif s.startswith("Mon"):
            out.append(_DAYS[tm.tm_wday][:3]); i += 3
        elif s.startswith("MST"):
            out.append(tm.tm_zone or _tz(tm.tm_gmtoff, "-0700")); i += 3
        elif s.startswith("2006"):
            out.append("%04d" % tm.tm_year); i += 4
        elif s.startswith("002"):
            out.append("%03d" % tm.tm_yday); i += 3
        elif s.startswith("01"):
            out.append("%02d" % tm.tm_mon); i += 2
        elif s.startswith("02"):
            out.append("%02d" % tm.tm_mday); i += 2
        elif s.startswith("03"):
            out.append("%02d" % ((tm.tm_hour + 11) % 12 + 1)); i += 2
        elif s.startswith("04"):
            out.append("%02d" % tm.tm_min); i += 2
        elif s.startswith("05"):
            out.append("%02d" % tm.tm_sec); i += 2
        elif s.startswith("06"):
            out.append("%02d" % (tm.tm_year % 100)); i += 2
        elif s.startswith("15"):
            out.append("%02d" % tm.tm_hour); i += 2
        elif s.startswith("_2") and not s.startswith("_2006"):
            out.append("%2d" % tm.tm_mday); i += 2
        elif c == "1":
            out.append("%d" % tm.tm_mon); i += 1
        elif c == "2":
            out.append("%d" % tm.tm_mday); i += 1
        elif c == "3":
            out.append("%d" % ((tm.tm_hour + 11) % 12 + 1)); i += 1
        elif c == "4":
            out.append("%d" % tm.tm_min); i += 1
        elif c == "5":
            out.append("%d" % tm.tm_sec); i += 1
        elif s.startswith("PM"):
            out.append("PM" if tm.tm_hour >= 12 else "AM"); i += 2
        elif s.startswith("pm"):
            out.append("pm" if tm.tm_hour >= 12 else "am"); i += 2
        elif c in "Z-" and any(s.startswith(t) for t in _TZ_LAYOUTS):
            t = next(t for t in _TZ_LAYOUTS if s.startswith(t))
            out.append(_tz(tm.tm_gmtoff, t)); i += len(t)
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            d = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == d:
                j += 1
            if j < n and layout[j].isdigit():
                out.append(c); i += 1
                continue
            digits = ("%09d" % frac)[:min(9, j - i - 1)]
            if d == "9":
                digits = digits.rstrip("0")
                out.append(c + digits if digits else "")
            else:
                out.append(c + digits)
            i = j
        else:
            out.append(c); i += 1
    return "".join(out)


_UUID_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_UUID_ALPHABET = _UUID_ALNUM + "-_"


def gen_uuid():
    """A listing id shaped like cos.GenUUID: 9..10 chars of [A-Za-z0-9_-],
    starting with a letter and not ending in '-' or '_'."""
    r = os.urandom(10)
    return (_UUID_ALNUM[r[0] % 52] + "".join(_UUID_ALPHABET[b % 64] for b in r[1:9])
            + _UUID_ALNUM[r[9] % 62])


def _after_subtree(b):
    """The smallest name greater than every name starting with b (b ends in '/')."""
    return b[:-1] + bytes((b[-1] + 1,))


class Listings:
    """Name snapshots of running listings, by uuid (most recent LIST_SNAPSHOTS)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = collections.OrderedDict()   # uuid -> ((provider, bucket), names)

    def get(self, uuid, bkey):
        with self.lock:
            v = self.items.get(uuid)
            if v is None or v[0] != bkey:
                return None
            self.items.move_to_end(uuid)
            return v[1]

    def put(self, uuid, bkey, names):
        with self.lock:
            self.items[uuid] = (bkey, names)
            self.items.move_to_end(uuid)
            while len(self.items) > LIST_SNAPSHOTS:
                self.items.popitem(last=False)


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------

class FaultError(ValueError):
    pass


def _num(d, name, default=None, typ=int, minimum=None):
    v = d.get(name, default)
    if v is None:
        return None
    try:
        if typ is int and isinstance(v, float) and v != int(v):
            raise ValueError
        v = typ(v)
    except (TypeError, ValueError):
        raise FaultError("%s must be a number" % name)
    if minimum is not None and v < minimum:
        raise FaultError("%s must be >= %s" % (name, minimum))
    return v


class Fault:
    def __init__(self, fid, spec):
        if not isinstance(spec, dict):
            raise FaultError("a fault is a JSON object")
        self.id = fid
        self.spec = dict(spec)
        self.kind = spec.get("kind")
        if self.kind not in FAULT_KINDS:
            raise FaultError("unknown fault kind %r (one of %s)" % (self.kind, ", ".join(FAULT_KINDS)))
        self.method = str(spec.get("method", "GET")).upper()
        if self.method not in ("GET", "HEAD", "LIST"):
            raise FaultError("method must be GET, HEAD or LIST")
        self.node = spec.get("node", "proxy" if self.method == "LIST" else "target")
        if self.node not in ("target", "proxy"):
            raise FaultError("node must be target or proxy")
        self.bucket = spec.get("bucket")
        self.object = spec.get("object")
        # LIST only: match the request's prefix / continuation token exactly
        self.prefix = spec.get("prefix")
        self.token = spec.get("token")
        if self.method == "LIST":
            if self.node != "proxy":
                raise FaultError("LIST faults are on the proxy (it answers list-objects)")
            if self.object is not None:
                raise FaultError("LIST faults take no object")
            if self.kind not in LIST_KINDS:
                raise FaultError("kind %s does not apply to LIST (one of %s)"
                                 % (self.kind, ", ".join(LIST_KINDS)))
        elif self.prefix is not None or self.token is not None:
            raise FaultError("prefix and token filter LIST faults only")
        for name in ("prefix", "token"):
            if spec.get(name) is not None and not isinstance(spec[name], str):
                raise FaultError("%s must be a string" % name)
        p = spec.get("provider")
        self.provider = PROVIDERS.get(p) if p is not None else None
        if p is not None and self.provider is None:
            raise FaultError("unknown provider %r" % p)
        self.target = _num(spec, "target", None, int, 0)
        self.nth = _num(spec, "nth", 1, int, 1)
        self.offset = _num(spec, "offset", None, int, 0)
        self.count = _num(spec, "count", 1, int, -1)
        if self.count == 0:
            raise FaultError("count must be >= 1 or -1")
        k = self.kind
        if k == "status":
            self.code = _num(spec, "code", 503, int, 100)
            if self.code > 599:
                raise FaultError("code must be an HTTP status")
            self.retry_after = _num(spec, "retry_after", None, int, 0)
            self.message = str(spec.get("message", "injected fault: status %d" % self.code))
        elif k in ("reset", "short"):
            self.after_bytes = _num(spec, "after_bytes", 0, int, -1)
        elif k == "stall":
            self.seconds = _num(spec, "seconds", 5.0, float, 0)
            self.after_bytes = _num(spec, "after_bytes", 0, int, -1)
        elif k == "slow":
            self.rate = _num(spec, "rate", None, float, 1)
            if self.rate is None:
                raise FaultError("slow needs rate (bytes/s)")
        elif k == "extra":
            self.extra = _num(spec, "bytes", 1, int, 1)
        elif k == "delay":
            self.ms = _num(spec, "ms", 100.0, float, 0)
        self.seen = 0
        self.fired = 0

    def active(self):
        return self.count < 0 or self.fired < self.count

    def as_json(self):
        d = dict(self.spec)
        d.update({"id": self.id, "kind": self.kind, "node": self.node, "method": self.method,
                  "nth": self.nth, "count": self.count, "seen": self.seen,
                  "fired": self.fired, "active": self.active()})
        return d


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.next_id = 1

    def add(self, spec):
        with self.lock:
            f = Fault(self.next_id, spec)
            self.next_id += 1
            self.items.append(f)
            return f.as_json()

    def clear(self, fid=None):
        with self.lock:
            if fid is None:
                n = len(self.items)
                self.items = []
                return n
            before = len(self.items)
            self.items = [f for f in self.items if f.id != fid]
            return before - len(self.items)

    def list(self):
        with self.lock:
            return [f.as_json() for f in self.items]

    def match(self, node, target, method, key, range_start, range_ok, lsinfo=None):
        """Return (pre_faults, response_fault) firing for this request.
        LIST requests: key = (provider, bucket, None), lsinfo = (prefix, token)."""
        pre, resp = [], None
        with self.lock:
            if not self.items:
                return pre, resp
            for f in self.items:
                if not f.active() or f.node != node or f.method != method:
                    continue
                if f.bucket is not None and f.bucket != key[1]:
                    continue
                if f.object is not None and f.object != key[2]:
                    continue
                if f.provider is not None and f.provider != key[0]:
                    continue
                if f.target is not None and f.target != target:
                    continue
                if f.offset is not None and f.offset != range_start:
                    continue
                if f.prefix is not None and (lsinfo is None or f.prefix != lsinfo[0]):
                    continue
                if f.token is not None and (lsinfo is None or f.token != lsinfo[1]):
                    continue
                if f.kind in RANGE_KINDS and not range_ok:
                    continue
                f.seen += 1
                if f.seen < f.nth:
                    continue
                if f.kind in PRE_KINDS:
                    f.fired += 1
                    pre.append(f)
                elif resp is None:
                    f.fired += 1
                    resp = f
        return pre, resp


# ---------------------------------------------------------------------------
# Statistics and shaping
# ---------------------------------------------------------------------------

class Stats:
    def __init__(self, ntargets):
        self.lock = threading.Lock()
        self.ntargets = ntargets
        self.reset()

    def reset(self):
        with self.lock:
            self.proxy = {"HEAD": 0, "GET": 0, "LIST": 0, "connections": 0, "accepted": 0,
                          "active": 0, "max_active": 0}
            self.targets = [{"HEAD": 0, "GET": 0, "connections": 0, "accepted": 0, "bytes": 0,
                             "active": 0, "max_active": 0}
                            for _ in range(self.ntargets)]
            self.ranges = collections.deque(maxlen=10000)

    def node(self, idx):
        return self.proxy if idx is None else self.targets[idx]

    def add(self, idx, field, n=1):
        with self.lock:
            self.node(idx)[field] += n

    def enter(self, idx):
        with self.lock:
            n = self.node(idx)
            n["active"] += 1
            n["max_active"] = max(n["max_active"], n["active"])

    def leave(self, idx):
        with self.lock:
            n = self.node(idx)
            n["active"] = max(0, n["active"] - 1)

    def add_range(self, entry):
        with self.lock:
            self.ranges.append(entry)

    def snapshot(self):
        with self.lock:
            return {"proxy": dict(self.proxy), "targets": [dict(t) for t in self.targets],
                    "ranges": [list(r) for r in self.ranges]}


class Config:
    def __init__(self, rtt_ms, rate):
        self.rtt_ms = float(rtt_ms)
        self.rate = float(rate)
        self.list_json = "jsoniter"     # how list-objects JSON carries invalid UTF-8

    def as_json(self):
        return {"rtt_ms": self.rtt_ms, "rate": self.rate, "list_json": self.list_json}


class BodyOut:
    """Writes one answer's body: counts bytes, optionally caps at `rate` bytes/s."""

    def __init__(self, sock, rate):
        self.sock = sock
        self.rate = float(rate)
        self.piece = int(max(1024, min(SEND_PIECE, self.rate / 50))) if rate > 0 else 0
        self.t0 = time.monotonic()
        self.sent = 0

    def write(self, buf):
        if not self.rate:
            self.sock.sendall(buf)
            self.sent += len(buf)
            return
        mv = memoryview(buf)
        for pos in range(0, len(mv), self.piece):
            part = mv[pos:pos + self.piece]
            self.sock.sendall(part)
            self.sent += len(part)
            delay = self.t0 + self.sent / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def sendfile(self, f, offset, n):
        """Zero-copy when not paced; returns False if the caller must copy."""
        if self.rate:
            return False
        before = self.sent
        try:
            self.sock.sendfile(f, offset, n)
        finally:
            # sendfile() leaves the file offset just past the bytes sent
            self.sent = before + max(0, f.tell() - offset)
        if self.sent - before != n:
            raise IOError("file changed while sending")
        return True


# Body segments of an answer ------------------------------------------------

class BytesSeg:
    def __init__(self, data):
        self.data = data
        self.length = len(data)

    def send(self, out, skip, n):
        out.write(memoryview(self.data)[skip:skip + n])


class ZeroSeg:
    def __init__(self, n):
        self.length = n

    def send(self, out, skip, n):
        while n > 0:
            k = min(n, SEND_PIECE)
            out.write(bytes(k))
            n -= k


class ObjSeg:
    """Bytes [start, start+length) of an object."""

    def __init__(self, obj, start, length):
        self.obj = obj
        self.start = start
        self.length = length

    def send(self, out, skip, n):
        obj = self.obj
        a = self.start + skip
        if obj.kind == "file" and not (obj.flip and a == 0):
            with open(obj.path, "rb") as f:
                if out.sendfile(f, a, n):
                    return
        for piece in obj.iter_range(a, a + n):
            out.write(piece)


class Plan:
    """An answer: status, headers and body segments (HEAD: no body sent)."""

    def __init__(self, status, headers, segs=(), head=False):
        self.status = status
        self.headers = headers
        self.segs = list(segs)
        self.head = head


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

_RANGE_RE = re.compile(r"^bytes=\s*([0-9]*)\s*-\s*([0-9]*)\s*$")


class RangeError(Exception):
    pass


def parse_range(value, size):
    """One inclusive range (a, b) clamped to the size, or RangeError."""
    m = _RANGE_RE.match(value.strip())
    if not m:
        raise RangeError(value)
    s, e = m.group(1), m.group(2)
    if s == "":
        if e == "":
            raise RangeError(value)
        n = int(e)
        if n == 0 or size == 0:
            raise RangeError(value)
        return max(0, size - n), size - 1
    a = int(s)
    b = size - 1 if e == "" else int(e)
    if b < a or a >= size:
        raise RangeError(value)
    return a, min(b, size - 1)


class _ListError(Exception):
    def __init__(self, status, tcode, message):
        super().__init__(message)
        self.status, self.tcode, self.message = status, tcode, message


def accepts_msgpack(value):
    """cos.AcceptsMsgPack: one of the Accept media types is application/msgpack."""
    return bool(value) and any(part.split(";")[0].strip() == "application/msgpack"
                               for part in value.split(","))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ais-emulator"
    disable_nagle_algorithm = True
    rbufsize = 64 * 1024

    # -- plumbing --
    def setup(self):
        super().setup()
        self.node = self.server.node
        self.cluster = self.node.cluster
        self._counted = False
        self._aborted = False

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, socket.timeout):
            pass
        except OSError:
            if not self._aborted and VERBOSE:
                traceback.print_exc()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        log("%s %s %s" % (self.node.nid, self.address_string(), fmt % args))

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith("http://") or raw_path.startswith("https://"):
            raw_path = "/" + raw_path.split("/", 3)[3] if raw_path.count("/") >= 3 else "/"
        self.raw_path = raw_path
        self.raw_query = raw_query
        self.upath = urllib.parse.unquote(raw_path, errors="surrogateescape")
        self.query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
        if self.node.role == "proxy" and raw_path.startswith("/_emu/"):
            self.cluster.control.handle(self, method)
            return
        rtt = self.cluster.config.rtt_ms
        head = method == "HEAD"
        if raw_path in ("/v1/health", "/health"):
            self.emit(Plan(200, [("Content-Length", "0")], head=head), rtt)
            return
        if method not in ("GET", "HEAD"):
            self._drain_body()
            self.emit(self.error_plan(405, "ErrMethodNotAllowed",
                                      "the emulator does not support %s %s" % (method, self.upath),
                                      head), rtt)
            return
        is_list = (method == "GET" and self.node.role == "proxy"
                   and (raw_path == "/v1/buckets" or raw_path.startswith("/v1/buckets/")))
        if not raw_path.startswith("/v1/objects/") and not is_list:
            self._drain_body()
            self.emit(self.error_plan(400, "ErrInvalidURL", "invalid URL path %r" % self.upath, head), rtt)
            return
        if not self._counted:
            self._counted = True
            self.cluster.stats.add(self.node.index, "connections")
        self.cluster.stats.add(self.node.index, "LIST" if is_list else method)
        self.cluster.stats.enter(self.node.index)
        try:
            if is_list:
                self.proxy_list()
            elif self.node.role == "proxy":
                self.proxy_object(method)
            else:
                self.target_object(method)
        finally:
            self.cluster.stats.leave(self.node.index)

    def _drain_body(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
            self.close_connection = True
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 20))
            if not chunk:
                break
            n -= len(chunk)

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts = []
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(16)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    # -- answers --
    def error_plan(self, status, tcode, message, head, extra=()):
        err = {"tcode": tcode, "message": message, "method": self.command,
               "url_path": self.upath, "remote_addr": "%s:%d" % self.client_address[:2],
               "caller": "", "node": self.node.nid, "status": status}
        if tcode is None:
            del err["tcode"]        # a plain (untyped) error: cmn.ErrHTTP omits tcode
        body = json.dumps(err, separators=(",", ":"))
        headers = [("Content-Type", "application/json")]
        headers.extend(extra)
        if head:
            headers.append(("Hdr-Error", body))
            headers.append(("Content-Length", "0"))
            return Plan(status, headers, head=True)
        data = body.encode("ascii")
        headers.append(("Content-Length", str(len(data))))
        return Plan(status, headers, [BytesSeg(data)])

    def json_answer(self, status, obj):
        data = (json.dumps(obj, indent=None) + "\n").encode()
        self.emit(Plan(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))], [BytesSeg(data)],
                       head=(self.command == "HEAD")))

    def _head_bytes(self, status, headers):
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Status"
        lines = ["HTTP/1.1 %d %s" % (status, phrase)]
        lines.extend("%s: %s" % kv for kv in headers)
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")

    def emit(self, plan, hold_ms=0.0, fault=None, count_bytes=False):
        """Send an answer, applying shaping (rtt, rate) and a response fault."""
        sock = self.connection
        f = fault
        if VERBOSE:
            log("%s %s:%d %s %s -> %d%s" % (self.node.nid, self.client_address[0], self.client_address[1],
                                           self.command, self.path, plan.status,
                                           " (fault %d %s)" % (f.id, f.kind) if f else ""))
        if hold_ms > 0:
            time.sleep(hold_ms / 1000.0)
        if f is not None and f.kind == "stall" and f.after_bytes < 0:
            if not self.stall(f.seconds):
                self.abort(rst=False)
                return
        if f is not None and f.kind in ("reset", "short") and f.after_bytes < 0:
            self.abort(rst=(f.kind == "reset"))
            return
        sock.sendall(self._head_bytes(plan.status, plan.headers))
        segs = [] if plan.head else plan.segs
        rate = self.cluster.config.rate
        if f is not None and f.kind == "slow":
            rate = f.rate if rate <= 0 else min(rate, f.rate)
        out = BodyOut(sock, rate)
        limit = None
        if f is not None and f.kind in ("reset", "short", "stall") and f.after_bytes >= 0:
            limit = f.after_bytes
        try:
            self._send_segs(out, segs, 0, limit)
            if limit is not None:
                if f.kind == "stall":
                    if not self.stall(f.seconds):
                        self.abort(rst=False)
                        return
                    self._send_segs(out, segs, limit, None)
                else:
                    self.abort(rst=(f.kind == "reset"))
                    return
        finally:
            if count_bytes and out.sent:
                self.cluster.stats.add(self.node.index, "bytes", out.sent)

    @staticmethod
    def _send_segs(out, segs, skip, limit):
        """Send body bytes [skip, skip+limit) (limit None: to the end)."""
        sent = 0
        for seg in segs:
            if skip >= seg.length:
                skip -= seg.length
                continue
            n = seg.length - skip
            if limit is not None:
                n = min(n, limit - sent)
            if n <= 0:
                break
            seg.send(out, skip, n)
            sent += n
            skip = 0
        return sent

    def stall(self, seconds):
        """Hold for `seconds`; False if the client went away meanwhile."""
        end = time.monotonic() + seconds
        sock = self.connection
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            try:
                r, _, _ = select.select([sock], [], [], min(left, 0.1))
            except (OSError, ValueError):
                return False
            if not r:
                continue
            try:
                data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                return False
            if not data:
                return False
            time.sleep(min(left, 0.05))   # pipelined bytes: keep waiting

    def abort(self, rst):
        """End the connection now: RST (SO_LINGER 0) or a clean FIN."""
        self.close_connection = True
        self._aborted = True
        sock = self.connection
        if rst:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                fd = sock.detach()
                if fd >= 0:
                    os.close(fd)
            except OSError:
                pass
        else:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    # -- object requests --
    def _object_key(self, head):
        """(key, error_plan): key = (provider, bucket, object)."""
        rest = self.raw_path[len("/v1/objects/"):]
        bucket_raw, sep, obj_raw = rest.partition("/")
        bucket = urllib.parse.unquote(bucket_raw, errors="surrogateescape")
        name = urllib.parse.unquote(obj_raw, errors="surrogateescape")
        if not bucket or not sep or not name:
            return None, self.error_plan(400, "ErrInvalidURL",
                                         "missing bucket or object name in %r" % self.upath, head)
        prov = self.query.get("provider", "ais") or "ais"
        provider = PROVIDERS.get(prov)
        if provider is None:
            return None, self.error_plan(400, "ErrInvalidBackendProvider",
                                         "invalid backend provider %r" % prov, head)
        return (provider, bucket, name), None

    def _not_found(self, key, head, bucket_missing):
        if bucket_missing:
            msg = 'bucket "%s://%s" does not exist' % (SCHEMES[key[0]], key[1])
            return self.error_plan(404, "ErrBckNotFound", msg, head)
        msg = "%s://%s/%s does not exist" % (SCHEMES[key[0]], key[1], key[2])
        return self.error_plan(404, "ErrNotFound", msg, head)

    def _range_start(self, obj):
        rng = self.headers.get("Range")
        if obj is None or not rng:
            return None, None
        try:
            a, b = parse_range(rng, obj.size)
        except RangeError:
            return None, None
        return a, b

    def _apply_pre(self, pre, key, obj):
        hold = self.cluster.config.rtt_ms
        for f in pre:
            if f.kind == "overwrite" and obj is not None:
                obj = self.cluster.store.overwrite(key) or obj
            elif f.kind == "delay":
                hold += f.ms
        return hold, obj

    def _fault_status(self, f, head):
        extra = []
        if f.retry_after is not None:
            extra.append(("Retry-After", str(f.retry_after)))
        return self.error_plan(f.code, "ErrInjected", f.message, head, extra)

    def _check_token(self, head):
        want = self.cluster.args.token
        forbidden = self.cluster.args.forbidden_token
        if not want and not forbidden:
            return None
        auth = self.headers.get("Authorization") or ""
        tok = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if forbidden and tok == forbidden:
            return self.error_plan(403, "ErrForbidden", "access denied", head)
        if not want:
            return None
        if not tok:
            return self.error_plan(401, "ErrUnauthorized", "token required", head)
        if tok == "expired":
            return self.error_plan(401, "ErrUnauthorized", "token expired", head)
        if tok != want:
            return self.error_plan(401, "ErrUnauthorized", "invalid token", head)
        return None

    def proxy_object(self, method):
        head = method == "HEAD"
        cl = self.cluster
        plan = self._check_token(head)
        if plan is not None:
            self.emit(plan, cl.config.rtt_ms)
            return
        key, plan = self._object_key(head)
        if plan is not None:
            self.emit(plan, cl.config.rtt_ms)
            return
        obj = cl.store.lookup(key)
        a, _ = self._range_start(obj)
        pre, rf = cl.faults.match("proxy", None, method, key, a, False)
        hold, obj = self._apply_pre(pre, key, obj)
        if rf is not None and rf.kind == "status":
            self.emit(self._fault_status(rf, head), hold, None)
            return
        if obj is None:
            plan = self._not_found(key, head, not cl.store.bucket_exists(*key[:2]))
            self.emit(plan, hold, rf)
            return
        tnode = cl.targets[cl.store.owner(key)]
        q = self.raw_query + "&" if self.raw_query else ""
        loc = "http://%s:%d%s?%spid=%s&utm=%d" % (cl.host, tnode.port, self.raw_path, q,
                                                 self.node.nid, time.time_ns())
        if head:
            plan = Plan(307, [("Location", loc), ("Content-Length", "0")], head=True)
        else:
            body = ('<a href="%s">Moved Permanently</a>.\n\n' % html.escape(loc)).encode()
            plan = Plan(301, [("Location", loc), ("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))], [BytesSeg(body)])
        self.emit(plan, hold, rf)

    # -- list-objects (GET /v1/buckets/B with {"action":"list","value":LsoMsg}) --
    def _lso_msg(self, body):
        """(bucket, lsmsg dict) or raise _ListError."""
        rest = self.raw_path[len("/v1/buckets"):]
        if rest.endswith("/"):
            rest = rest[:-1]
        bucket = urllib.parse.unquote(rest[1:], errors="surrogateescape") if rest else ""
        if "/" in bucket:
            raise _ListError(400, "ErrInvalidURL", "invalid bucket name %r" % bucket)
        ctype = self.headers.get("Content-Type") or ""
        if not body and not ctype.startswith("application/json"):
            # "easy URL": no body and no JSON content type
            amsg = {"action": "list", "value": {} if bucket else None}
        else:
            try:
                amsg = json.loads(body.decode("utf-8", "surrogateescape"))
            except ValueError as e:
                raise _ListError(400, None, "failed to read action message: %s" % e)
            if not isinstance(amsg, dict):
                raise _ListError(400, None, "failed to read action message: not a JSON object")
        action = amsg.get("action")
        if action != "list":
            raise _ListError(400, None, "invalid action %r" % (action,))
        value = amsg.get("value")
        if value is None:
            raise _ListError(501, None, "ais-emulator: list-buckets (action list, value null) "
                                        "is not implemented")
        if not bucket:
            raise _ListError(400, None, 'bad list-objects request: "" is not a bucket '
                                        "(is a bucket query?)")
        if not isinstance(value, dict):
            raise _ListError(400, None, "failed to unmarshal list-objects message: "
                                        "value is not a JSON object")
        msg = {k: "" for k in LSO_STR_FIELDS}
        msg.update(flags=0, pagesize=0)
        for k, v in value.items():
            f = k.lower()                  # json-iterator matches field names case-insensitively
            if f in LSO_STR_FIELDS:
                if v is not None and not isinstance(v, str):
                    raise _ListError(400, None, "apc.LsoMsg.%s: expect string, got %s"
                                     % (f, json.dumps(v)))
                msg[f] = v or ""
            elif f == "flags":
                # json:"flags,string": a decimal uint64 inside a JSON string
                if v is not None and not (isinstance(v, str) and re.fullmatch(r"[0-9]{1,20}", v)
                                          and int(v) < 1 << 64):
                    raise _ListError(400, None, 'apc.LsoMsg.Flags: stringModeNumberDecoder: '
                                     'expect a decimal number in a string, got %s' % json.dumps(v))
                msg["flags"] = int(v) if v else 0
            elif f == "pagesize":
                if v is None:
                    v = 0
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
                    raise _ListError(400, None, "apc.LsoMsg.PageSize: expect an integer, got %s"
                                     % json.dumps(v))
                if v < 0:
                    raise _ListError(400, None, "ais-emulator: negative pagesize %d" % v)
                msg["pagesize"] = int(v)
            elif f == "hdr":
                if v is not None and not isinstance(v, dict):
                    raise _ListError(400, None, "apc.LsoMsg.Header: expect an object")
            else:
                raise _ListError(400, None, "apc.LsoMsg.ReadObject: found unknown field: %s" % k)
        p = msg["prefix"]
        if p.endswith("*"):
            p = p[:-1]                     # cos.TrimPrefix
        if p.startswith("~/") or any(c in (".", "..") for c in p.split("/")):
            # cos.ValidatePrefix: no "." or ".." path component, no leading "~/"
            raise _ListError(400, None, "bad list-objects request: invalid prefix %r" % p)
        msg["prefix"] = p
        return bucket, msg

    def proxy_list(self):
        cl = self.cluster
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.emit(self.error_plan(400, None, "failed to read request body", False),
                      cl.config.rtt_ms)
            return
        plan = self._check_token(False)
        if plan is not None:
            self.emit(plan, cl.config.rtt_ms)
            return
        prov = self.query.get("provider", "ais") or "ais"
        provider = PROVIDERS.get(prov)
        if provider is None:
            self.emit(self.error_plan(400, "ErrInvalidBackendProvider",
                                      "invalid backend provider %r" % prov, False), cl.config.rtt_ms)
            return
        try:
            bucket, msg = self._lso_msg(body)
        except _ListError as e:
            self.emit(self.error_plan(e.status, e.tcode, e.message, False), cl.config.rtt_ms)
            return
        key = (provider, bucket, None)
        pre, rf = cl.faults.match("proxy", None, "LIST", key, None, False,
                                  (msg["prefix"], msg["continuation_token"]))
        hold, _ = self._apply_pre(pre, key, None)
        if rf is not None and rf.kind == "status":
            self.emit(self._fault_status(rf, False), hold, None)
            return
        try:
            data, ctype = self._list_page(provider, bucket, msg)
        except _ListError as e:
            self.emit(self.error_plan(e.status, e.tcode, e.message, False), hold, rf)
            return
        headers = [("Content-Type", ctype)]
        if ctype == "application/msgpack" and len(data) > 2048:
            # Go's net/http: a handler that writes more than 2048 bytes without setting
            # Content-Length is answered chunked (here: 32 KiB chunks, msgp's buffer)
            headers.append(("Transfer-Encoding", "chunked"))
            parts = []
            for pos in range(0, len(data), 32 * 1024):
                piece = data[pos:pos + 32 * 1024]
                parts.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
            parts.append(b"0\r\n\r\n")
            data = b"".join(parts)
        else:
            headers.append(("Content-Length", str(len(data))))
        self.emit(Plan(200, headers, [BytesSeg(data)]), hold, rf)

    def _list_page(self, provider, bucket, msg):
        """One page: (body bytes, content type), or raise _ListError."""
        cl = self.cluster
        store = cl.store
        if not store.bucket_exists(provider, bucket):
            raise _ListError(404, "ErrBckNotFound", 'bucket "%s://%s" does not exist'
                             % (SCHEMES[provider], bucket))
        cname = "%s://%s" % (SCHEMES[provider], bucket)
        flags = msg["flags"]
        remote = provider != "ais"
        if flags & LS_DIFF and not remote:
            raise _ListError(400, None, "cannot perform remote versions check (or diff vs remote "
                                        "bucket): bucket %s does not provide remote versioning info"
                             % cname)
        if flags & LS_NBI:
            raise _ListError(400, None, "ais-emulator: listing native bucket inventory (NBI) "
                                        "is not implemented")
        if flags & LS_NOT_CACHED and not remote:
            raise _ListError(400, None, "%s is not a remote bucket - cannot list 'not cached' "
                                        "objects" % cname)
        if remote and msg["start_after"] and not flags & LS_CACHED:
            raise _ListError(400, None, "list-objects option --start_after (%s) not yet supported "
                                        "for remote buckets (%s)" % (msg["start_after"], cname))
        # default props & flags (apc.LsoMsg.NormalizeNameSizeDflt)
        props = msg["props"]
        if props == "":
            if flags & LS_CACHED:
                props = "name,size,checksum,atime"
            else:
                props = "name,size,cached"
                flags |= LS_NAME_SIZE
        elif props == "name":
            flags |= LS_NAME_ONLY
        elif props == "name,size":
            flags |= LS_NAME_SIZE
        want = {p for p in LSO_PROPS_ALL if p in props}   # LsoMsg.WantProp: strings.Contains
        name_only = bool(flags & LS_NAME_ONLY)
        no_recursion = bool(flags & LS_NO_RECURSION)
        no_dirs = bool(flags & LS_NO_DIRS)
        pagesize = msg["pagesize"]
        maxp = MAX_PAGE[provider]
        if pagesize == 0:
            pagesize = maxp
        elif remote:
            pagesize = min(pagesize, maxp)      # calcPageSize (backends); ais: not capped
        uuid = msg["uuid"] or gen_uuid()
        bkey = (provider, bucket)
        names = cl.listings.get(uuid, bkey)
        if names is None:
            names = store.list_names(provider, bucket)
            cl.listings.put(uuid, bkey, names)
        enc = lambda t: t.encode("utf-8", "surrogateescape")
        prefix = enc(msg["prefix"])
        token = enc(msg["continuation_token"])
        after = max(token, enc(msg["start_after"]))      # names must be > after
        # no recursion: list the names directly under `base`, a deeper name shows as
        # its directory "base/dir/" (cmn.CheckDirNoRecurs); a prefix that does not end
        # in "/" also opens the directory of that name ("a/b" lists "a/b/x")
        base = prefix[:prefix.rfind(b"/") + 1]
        base2 = prefix + b"/" if prefix and not prefix.endswith(b"/") else None
        tfmt = msg["time_format"] or RFC822
        entries = []
        i = max(bisect.bisect_right(names, after), bisect.bisect_left(names, prefix))
        n = len(names)
        while i < n and len(entries) < pagesize:
            nb = names[i]
            if not nb.startswith(prefix):
                break
            if no_recursion:
                b = base2 if base2 is not None and nb.startswith(base2) else base
                slash = nb.find(b"/", len(b))
                if slash >= 0:
                    dirname = nb[:slash + 1]
                    i = bisect.bisect_left(names, _after_subtree(dirname), i + 1)
                    if dirname > after and not no_dirs:
                        entries.append((dirname, "", "", "", "", "", 0, 0, ENTRY_IS_DIR))
                    continue
            i += 1
            name = nb.decode("utf-8", "surrogateescape")
            obj = store.lookup((provider, bucket, name))
            if obj is None:
                continue                        # gone since the listing started
            eflags = ENTRY_IS_CACHED | (ENTRY_IS_CHUNKED if obj.chunk else 0)
            if name_only:
                entries.append((nb, "", "", "", "", "", 0, 0, eflags))
                continue
            entries.append((
                nb,
                obj.cksum() if "checksum" in want else "",
                go_time_format(obj.atime, tfmt) if "atime" in want else "",
                str(obj.version) if "version" in want else "",
                "t[%s]:mp[/ais/mp1]" % cl.targets[store.owner(obj.key)].nid
                if "location" in want else "",
                "",
                obj.size if "size" in want else 0,
                1 if "copies" in want else 0,
                eflags))
        next_token = entries[-1][0] if len(entries) >= pagesize else b""
        if accepts_msgpack(self.headers.get("Accept")):
            return render_lso_msgpack(uuid, next_token, entries, 0), "application/msgpack"
        return (render_lso_json(uuid, next_token, entries, 0, cl.config.list_json),
                "application/json; charset=utf-8")

    def _obj_headers(self, obj, length):
        h = [("Content-Length", str(length)), ("Ais-Version", str(obj.version))]
        if obj.cksum_type != "none":
            h.append(("Ais-Checksum-Type", obj.cksum_type))
            h.append(("Ais-Checksum-Value", obj.cksum()))
        h.append(("Ais-Atime", str(obj.atime)))
        h.append(("Content-Type", "application/octet-stream"))
        h.append(("Accept-Ranges", "bytes"))
        return h

    def _head_v2(self, obj, props):
        h = [("Content-Length", str(obj.size)), ("Ais-Present", "true")]
        if "version" in props:
            h.append(("Ais-Version", str(obj.version)))
        if "checksum" in props and obj.cksum_type != "none":
            h.append(("Ais-Checksum-Type", obj.cksum_type))
            h.append(("Ais-Checksum-Value", obj.cksum()))
        if "atime" in props:
            h.append(("Ais-Atime", str(obj.atime)))
        if "last-modified" in props:
            h.append(("Last-Modified", time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                      time.gmtime(obj.mtime))))
        if "chunked" in props and obj.chunk:
            h.append(("Ais-Chunks-Count", str(-(-obj.size // obj.chunk))))
            h.append(("Ais-Chunks-Max-Chunk-Size", str(obj.chunk)))
        return Plan(200, h, head=True)

    def target_object(self, method):
        head = method == "HEAD"
        cl = self.cluster
        idx = self.node.index
        rng = self.headers.get("Range") if not head else None
        if "pid" not in self.query or "utm" not in self.query:
            self.emit(self.error_plan(400, "ErrInvalidRequest", "direct request without redirect", head),
                      cl.config.rtt_ms)
            return
        key, plan = self._object_key(head)
        if plan is not None:
            self.emit(plan, cl.config.rtt_ms)
            return
        if not head:
            cl.stats.add_range(["%s/%s" % (key[1], key[2]), rng or "", self.node.nid])
        obj = cl.store.lookup(key)
        if obj is not None and cl.store.owner(key) != idx:
            obj = None
        a = b = None
        if obj is not None and rng:
            a, b = self._range_start(obj)
        pre, rf = cl.faults.match("target", idx, method, key, a, a is not None)
        hold, obj = self._apply_pre(pre, key, obj)
        if rf is not None and rf.kind == "status":
            self.emit(self._fault_status(rf, head), hold, None)
            return
        if obj is None:
            self.emit(self._not_found(key, head, not cl.store.bucket_exists(*key[:2])), hold, rf)
            return
        if head:
            props = self.query.get("props", "")
            if props:
                plist = [p.strip() for p in props.split(",") if p.strip()]
                bad = [p for p in plist if p not in V2_PROPS]
                if bad:
                    plan = self.error_plan(400, "ErrInvalidProps",
                                           "invalid property %r (expecting one of %s)"
                                           % (bad[0], ", ".join(sorted(V2_PROPS))), True)
                else:
                    plan = self._head_v2(obj, set(plist))
            else:
                plan = Plan(200, self._obj_headers(obj, obj.size), head=True)
            self.emit(plan, hold, rf)
            return
        obj.atime = time.time_ns()
        size = obj.size
        if rng and a is None:
            plan = self.error_plan(416, "ErrRangeNotSatisfiable",
                                   "invalid range %r (object size %d)" % (rng, size), False,
                                   [("Content-Range", "bytes */%d" % size)])
            self.emit(plan, hold, rf)
            return
        if not rng or (rf is not None and rf.kind == "full200"):
            plan = Plan(200, self._obj_headers(obj, size), [ObjSeg(obj, 0, size)])
            self.emit(plan, hold, rf, count_bytes=True)
            return
        n = b - a + 1
        cr_a, cr_b, segs = a, b, [ObjSeg(obj, a, n)]
        if rf is not None and rf.kind == "bad_range":
            # shift by +1; by -1 when the range ends at the last byte; a range
            # covering the whole object gets "1-SIZE" and a trailing zero byte
            shift = 1 if (b + 1 < size or a == 0) else -1
            cr_a, cr_b = a + shift, b + shift
            segs = [ObjSeg(obj, cr_a, min(n, size - cr_a))]
            if segs[0].length < n:
                segs.append(ZeroSeg(n - segs[0].length))
        elif rf is not None and rf.kind == "extra":
            more = min(rf.extra, size - 1 - b)
            segs = [ObjSeg(obj, a, n + more)]
            if rf.extra > more:
                segs.append(ZeroSeg(rf.extra - more))
            n += rf.extra
        h = self._obj_headers(obj, n)
        h.append(("Content-Range", "bytes %d-%d/%d" % (cr_a, cr_b, size)))
        self.emit(Plan(206, h, segs), hold, rf, count_bytes=True)


# ---------------------------------------------------------------------------
# Control API (/_emu/ on the proxy port)
# ---------------------------------------------------------------------------

def _parse_int(text):
    """Decimal, or 0x/0o/0b prefixed."""
    text = text.strip()
    try:
        return int(text, 10)
    except ValueError:
        return int(text, 0)


class Control:
    def __init__(self, cluster):
        self.cluster = cluster

    def handle(self, h, method):
        try:
            body = h.read_body() if method in ("PUT", "POST", "DELETE") else b""
            status, answer = self.route(h, method, body)
        except (FaultError, ValueError) as e:
            status, answer = 400, {"error": str(e)}
        h.json_answer(status, answer)

    def _key(self, h, rest):
        bucket_raw, sep, obj_raw = rest.partition("/")
        bucket = urllib.parse.unquote(bucket_raw, errors="surrogateescape")
        name = urllib.parse.unquote(obj_raw, errors="surrogateescape")
        if not bucket or not name:
            raise ValueError("need /BUCKET/OBJECT")
        prov = h.query.get("provider", "ais") or "ais"
        if prov not in PROVIDERS:
            raise ValueError("unknown provider %r" % prov)
        return (PROVIDERS[prov], bucket, name)

    def route(self, h, method, body):
        cl = self.cluster
        parts = h.raw_path[len("/_emu/"):]
        q = h.query
        if parts == "objects/bulk" and method == "POST":
            return self.bulk(json.loads(body or b"{}"))
        if parts.startswith("buckets/") and method == "DELETE":
            bucket = urllib.parse.unquote(parts[len("buckets/"):], errors="surrogateescape")
            prov = q.get("provider", "ais") or "ais"
            if not bucket or "/" in bucket or prov not in PROVIDERS:
                raise ValueError("need /_emu/buckets/BUCKET[?provider=P]")
            n = cl.store.delete_bucket(PROVIDERS[prov], bucket)
            return 200, {"deleted": n}
        if parts.startswith("objects/"):
            key = self._key(h, parts[len("objects/"):])
            if method == "PUT":
                return self.put_object(key, q, body)
            if method == "DELETE":
                if cl.store.delete(key):
                    return 200, {"deleted": True}
                return 404, {"error": "no such object"}
            if method in ("GET", "HEAD"):
                obj = cl.store.lookup(key)
                if obj is None:
                    return 404, {"error": "no such object"}
                return 200, obj.meta(cl.store.owner(key))
        elif parts.startswith("move/") and method == "POST":
            key = self._key(h, parts[len("move/"):])
            k = int(q.get("target", "x"))
            if not 0 <= k < len(cl.targets):
                raise ValueError("target must be 0..%d" % (len(cl.targets) - 1))
            cl.store.move(key, k)
            return 200, {"object": "%s/%s" % key[1:], "owner": k, "node": "t%d" % (k + 1)}
        elif parts.startswith("targets/") and method == "POST":
            m = re.match(r"^targets/([0-9]+)/(down|up)$", parts)
            if not m or int(m.group(1)) >= len(cl.targets):
                return 404, {"error": "no such target"}
            node = cl.targets[int(m.group(1))]
            if m.group(2) == "down":
                node.stop()
            else:
                node.start()
            return 200, {"target": node.index, "node": node.nid, "port": node.port, "up": node.up}
        elif parts == "faults":
            if method == "GET":
                return 200, cl.faults.list()
            if method == "DELETE":
                return 200, {"cleared": cl.faults.clear()}
            if method == "POST":
                spec = json.loads(body or b"{}")
                if isinstance(spec, list):
                    return 200, [cl.faults.add(s) for s in spec]
                return 200, cl.faults.add(spec)
        elif parts.startswith("faults/") and method == "DELETE":
            return 200, {"cleared": cl.faults.clear(int(parts[len("faults/"):]))}
        elif parts == "stats" and method == "GET":
            return 200, cl.stats.snapshot()
        elif parts == "stats/reset" and method == "POST":
            cl.stats.reset()
            return 200, {"reset": True}
        elif parts == "config":
            if method == "POST":
                d = json.loads(body or b"{}")
                if "rtt_ms" in d:
                    v = float(d["rtt_ms"])
                    if v < 0:
                        raise ValueError("rtt_ms must be >= 0")
                    cl.config.rtt_ms = v
                if "rate" in d:
                    v = float(d["rate"])
                    if v < 0:
                        raise ValueError("rate must be >= 0")
                    cl.config.rate = v
                if "list_json" in d:
                    if d["list_json"] not in LIST_JSON_MODES:
                        raise ValueError("list_json must be one of %s" % ", ".join(LIST_JSON_MODES))
                    cl.config.list_json = d["list_json"]
            return 200, cl.config.as_json()
        elif parts == "cluster" and method == "GET":
            return 200, {"proxy": {"id": "p1", "url": cl.proxy.url()},
                         "targets": [{"id": t.nid, "index": t.index, "url": t.url(), "up": t.up}
                                     for t in cl.targets]}
        return 404, {"error": "unknown control request %s %s" % (method, h.raw_path)}

    def bulk(self, d):
        """POST /_emu/objects/bulk: many generated objects in one request."""
        cl = self.cluster
        if not isinstance(d, dict):
            raise ValueError("bulk wants a JSON object")
        bucket = d.get("bucket")
        if not isinstance(bucket, str) or not bucket or "/" in bucket:
            raise ValueError("bulk needs bucket (a name without '/')")
        prov = d.get("provider", "ais") or "ais"
        if prov not in PROVIDERS:
            raise ValueError("unknown provider %r" % prov)
        provider = PROVIDERS[prov]
        ctype = d.get("cksum") or cl.args.default_cksum
        if ctype not in CKSUM_TYPES:
            raise ValueError("unknown checksum type %r" % ctype)
        chunk = d.get("chunk")
        if chunk is not None and (not isinstance(chunk, int) or chunk <= 0):
            raise ValueError("chunk must be > 0")
        names = d.get("names")
        if names is not None:
            if not isinstance(names, list) or not names or \
                    not all(isinstance(n, str) and _valid_name(n) for n in names):
                raise ValueError("names must be a non-empty list of object names")
            count = len(names)
        else:
            count = d.get("count")
            start = d.get("start", 0)
            width = d.get("width")
            prefix = d.get("prefix", "")
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= BULK_MAX:
                raise ValueError("count must be 1..%d" % BULK_MAX)
            if not isinstance(start, int) or start < 0:
                raise ValueError("start must be >= 0")
            if width is None:
                width = len(str(start + count - 1))
            if not isinstance(width, int) or not 0 <= width <= 20:
                raise ValueError("width must be 0..20")
            if not isinstance(prefix, str):
                raise ValueError("prefix must be a string")
            names = ["%s%0*d" % (prefix, width, start + i) for i in range(count)]
            if not _valid_name(names[0]):
                raise ValueError("invalid object name %r" % names[0])
        if count > BULK_MAX:
            raise ValueError("at most %d objects per request" % BULK_MAX)
        if len(set(names)) != count:
            raise ValueError("names repeat (give a larger width?)")
        sizes = d.get("sizes")
        if sizes is None:
            sizes = [d.get("size", 0)]
        if not isinstance(sizes, list) or not sizes or \
                not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in sizes):
            raise ValueError("size must be >= 0 (or sizes a non-empty list of sizes)")
        seed = d.get("seed", 0)
        seed = _parse_int(seed) if isinstance(seed, str) else seed
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError("seed must be an integer")
        items = [(name, {"kind": "gen", "size": sizes[i % len(sizes)], "cksum_type": ctype,
                         "seed": (seed + i) & MASK64, "chunk": chunk})
                 for i, name in enumerate(names)]
        n = cl.store.bulk_put(provider, bucket, items)
        return 200, {"provider": provider, "bucket": bucket, "created": n,
                     "first": names[0], "last": names[-1]}

    def put_object(self, key, q, body):
        cl = self.cluster
        ctype = q.get("cksum") or cl.args.default_cksum
        if ctype not in CKSUM_TYPES:
            raise ValueError("unknown checksum type %r" % ctype)
        chunk = int(q["chunk"]) if q.get("chunk") else None
        if chunk is not None and chunk <= 0:
            raise ValueError("chunk must be > 0")
        if q.get("size") not in (None, ""):
            size = int(q["size"])
            if size < 0:
                raise ValueError("size must be >= 0")
            if body:
                raise ValueError("give either size (generated) or a body, not both")
            seed = _parse_int(q.get("seed") or "0") & MASK64
            obj = cl.store.put(key, kind="gen", size=size, cksum_type=ctype, seed=seed, chunk=chunk)
        else:
            obj = cl.store.put(key, kind="mem", size=len(body), cksum_type=ctype,
                               data=bytes(body), chunk=chunk)
        if q.get("cksum_value"):
            # a lying server: it claims a checksum the content does not have
            if ctype == "none":
                raise ValueError("cksum_value needs a checksum type")
            obj._cksum = q["cksum_value"].lower()
        if obj.size <= EAGER_CKSUM_LIMIT or obj.cksum_ready():
            value = obj.cksum()
        else:
            value = "pending"
        return 200, {"size": obj.size, "version": str(obj.version), "cksum_type": ctype,
                     "cksum_value": value, "owner": cl.store.owner(key)}


# ---------------------------------------------------------------------------
# Nodes and the cluster
# ---------------------------------------------------------------------------

class EmuServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096
    allow_reuse_address = True

    def __init__(self, addr, node):
        self.node = node
        super().__init__(addr, Handler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)   # no reverse DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request, client_address):
        self.node.conn_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.node.conn_closed(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        traceback.print_exc()


class Node:
    def __init__(self, cluster, role, index, port):
        self.cluster = cluster
        self.role = role
        self.index = index          # None for the proxy
        self.nid = "p1" if role == "proxy" else "t%d" % (index + 1)
        self.port = port
        self.server = None
        self.up = False
        self.lock = threading.Lock()
        self.conns = set()

    def url(self):
        return "http://%s:%d" % (self.cluster.host, self.port)

    def conn_opened(self, sock):
        self.cluster.stats.add(self.index, "accepted")
        with self.lock:
            self.conns.add(sock)

    def conn_closed(self, sock):
        with self.lock:
            self.conns.discard(sock)

    def start(self):
        with self.lock:
            if self.up:
                return
            deadline = time.monotonic() + 5
            while True:
                try:
                    srv = EmuServer((self.cluster.host, self.port), self)
                    break
                except OSError:
                    if self.port == 0 or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            self.server = srv
            self.port = srv.server_address[1]
            self.up = True
            t = threading.Thread(target=self._accept_loop, args=(srv,),
                                 name="accept-%s" % self.nid, daemon=True)
            t.start()

    def _accept_loop(self, srv):
        while self.server is srv:
            try:
                sock, addr = srv.socket.accept()
            except OSError:
                if self.server is not srv:
                    break
                time.sleep(0.01)
                continue
            try:
                srv.process_request(sock, addr)
            except Exception:   # thread start failure etc.
                srv.shutdown_request(sock)
        try:
            srv.socket.close()
        except OSError:
            pass

    def stop(self):
        """Close the listening socket and every open connection."""
        with self.lock:
            srv = self.server
            if srv is None:
                return
            self.server = None
            self.up = False
            try:
                srv.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                srv.socket.close()
            except OSError:
                pass
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Cluster:
    def __init__(self, args):
        self.args = args
        self.host = args.host
        self.store = Store(args.data_dir, args.default_cksum, args.targets)
        self.faults = Faults()
        self.stats = Stats(args.targets)
        self.config = Config(args.rtt_ms, args.rate)
        self.control = Control(self)
        self.listings = Listings()
        self.targets = [Node(self, "target", i, 0) for i in range(args.targets)]
        self.proxy = Node(self, "proxy", None, args.port)

    def start(self):
        for t in self.targets:
            t.start()
        self.proxy.start()

    def stop(self):
        self.proxy.stop()
        for t in self.targets:
            t.stop()


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description="AIStore emulator (proxy + targets on loopback)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="proxy port (0 = ephemeral)")
    p.add_argument("--targets", type=int, default=3)
    p.add_argument("--data-dir", default=None, help="serve DIR/BUCKET/OBJECT files")
    p.add_argument("--token", default=None, help="require Authorization: Bearer TOKEN at the proxy")
    p.add_argument("--forbidden-token", default=None, help="this token gets 403")
    p.add_argument("--default-cksum", default="xxhash2", choices=CKSUM_TYPES)
    p.add_argument("--rtt-ms", type=float, default=0.0, help="hold each answer's status line")
    p.add_argument("--rate", type=float, default=0.0, help="body bytes/s cap per connection (0 = none)")
    p.add_argument("--ready-file", default=None)
    p.add_argument("--exit-on-stdin-eof", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no startup banner on stderr")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = p.parse_args(argv)
    if args.targets < 1:
        p.error("--targets must be >= 1")
    if args.data_dir is not None:
        if not os.path.isdir(args.data_dir):
            p.error("--data-dir %s is not a directory" % args.data_dir)
        args.data_dir = os.path.abspath(args.data_dir)
    if args.rtt_ms < 0 or args.rate < 0:
        p.error("--rtt-ms and --rate must be >= 0")
    return args


def main(argv=None):
    global VERBOSE
    args = parse_args(sys.argv[1:] if argv is None else argv)
    VERBOSE = args.verbose
    cluster = Cluster(args)
    cluster.start()
    url = cluster.proxy.url()

    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.exit_on_stdin_eof:
        def watch_stdin():
            try:
                while os.read(sys.stdin.fileno(), 4096):
                    pass
            except OSError:
                pass
            done.set()
        threading.Thread(target=watch_stdin, name="stdin-eof", daemon=True).start()

    if args.ready_file:
        tmp = "%s.tmp.%d" % (args.ready_file, os.getpid())
        with open(tmp, "w") as f:
            f.write(url + "\n")
        os.replace(tmp, args.ready_file)
    if not args.quiet:
        sys.stderr.write("ais-emulator: proxy %s, targets %s%s\n" % (
            url, " ".join(t.url() for t in cluster.targets),
            ", data-dir %s" % args.data_dir if args.data_dir else ""))
        sys.stderr.flush()
    sys.stdout.write("READY %s\n" % url)
    sys.stdout.flush()

    while not done.wait(0.5):
        pass
    cluster.stop()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


if __name__ == "__main__":
    main()
