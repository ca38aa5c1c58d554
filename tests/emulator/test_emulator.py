#!/usr/bin/python3
"""Conformance test of the AIStore emulator (tools/ais-emulator.py).

Usage: /usr/bin/python3 tests/emulator/test_emulator.py [PATH_TO_EMULATOR] [unittest args]

Starts the emulator (--port 0 --exit-on-stdin-eof), checks the wire protocol,
the generated content, checksums, every fault kind, placement, target
down/up, statistics and the control API, and stops it at the end.  Every
wait is bounded.  Exits non-zero on failure.
"""

import hashlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

import crc32c
import xxhash

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "..", "tools", "ais-emulator.py")
if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
    EMULATOR = sys.argv.pop(1)
EMULATOR = os.path.abspath(EMULATOR)

TIMEOUT = 10.0
TOKEN = "s3cret"
BAD_TOKEN = "forbidden-one"
AUTH = {"Authorization": "Bearer " + TOKEN}
GiB = 1 << 30

# ---------------------------------------------------------------------------
# Reference content generator (independent, byte by byte)
# ---------------------------------------------------------------------------

M64 = 0xFFFFFFFFFFFFFFFF


def _ref_table():
    out = bytearray()
    x = 0
    for _ in range(8192):
        x = (x + 0x9E3779B97F4A7C15) % (1 << 64)
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % (1 << 64)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % (1 << 64)
        z = z ^ (z >> 31)
        for i in range(8):
            out.append((z >> (8 * i)) & 0xFF)
    assert len(out) == 65536
    return bytes(out)


REF_T = _ref_table()


def ref_byte(seed, i):
    n, r = divmod(i, 4096)
    if r < 8:
        h = (n * 0x9E3779B97F4A7C15 + seed) % (1 << 64)
        return (h >> (8 * r)) & 0xFF
    k = (n * 2654435761 + seed) % 61448
    return REF_T[k + r - 8]


def ref_bytes(seed, a, b):
    return bytes(ref_byte(seed, i) for i in range(a, b))


# ---------------------------------------------------------------------------
# Emulator process and HTTP helpers
# ---------------------------------------------------------------------------

class Emu:
    def __init__(self, *extra):
        self.tmp = tempfile.mkdtemp(prefix="ais-emu-test-")
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        self.ready_file = os.path.join(self.tmp, "ready")
        cmd = [sys.executable, EMULATOR, "--port", "0", "--targets", "3",
               "--exit-on-stdin-eof", "--quiet", "--ready-file", self.ready_file,
               "--data-dir", self.data_dir] + list(extra)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self._readline(TIMEOUT)
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError("emulator did not become ready: %r" % line)
        self.url = line.split()[1]
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port

    def _readline(self, timeout):
        fd = self.proc.stdout.fileno()
        buf = b""
        end = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                break
            ch = os.read(fd, 1)
            if not ch:
                break
            buf += ch
        return buf.decode().strip()

    def stop(self):
        try:
            self.proc.stdin.close()      # --exit-on-stdin-eof
        except OSError:
            pass
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        self.proc.stdout.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


EMU = None


def setUpModule():
    global EMU
    EMU = Emu("--token", TOKEN, "--forbidden-token", BAD_TOKEN)


def tearDownModule():
    if EMU is not None:
        EMU.stop()


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # http.client.HTTPMessage (case-insensitive)
        self.body = body

    def h(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)


def request(method, url, headers=None, body=None, conn=None):
    """One request; url is absolute.  `conn` reuses a keep-alive connection."""
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, r.headers, data)
    finally:
        if own:
            conn.close()


def ctl(method, path, body=None):
    if body is not None and not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
    r = request(method, EMU.url + "/_emu/" + path, body=body)
    return r.status, (json.loads(r.body) if r.body else None)


def put_gen(bucket, obj, size, seed=0, **q):
    q.update({"size": size, "seed": seed})
    st, ans = ctl("PUT", "objects/%s/%s?%s" % (bucket, urllib.parse.quote(obj), urllib.parse.urlencode(q)))
    assert st == 200, (st, ans)
    return ans


def put_mem(bucket, obj, data, **q):
    qs = ("?" + urllib.parse.urlencode(q)) if q else ""
    st, ans = ctl("PUT", "objects/%s/%s%s" % (bucket, urllib.parse.quote(obj), qs), body=data)
    assert st == 200, (st, ans)
    return ans


def obj_url(bucket, obj, query="provider=ais", base=None):
    return "%s/v1/objects/%s/%s?%s" % (base or EMU.url, bucket, urllib.parse.quote(obj), query)


def via_proxy(method, bucket, obj, headers=None, query="provider=ais", auth=True):
    """Proxy request, check the redirect, follow it once.  Returns (redirect, answer)."""
    hdrs = dict(AUTH) if auth else {}
    hdrs.update(headers or {})
    red = request(method, obj_url(bucket, obj, query), hdrs)
    if red.status not in (301, 307):
        return red, None
    return red, request(method, red.h("Location"), headers or {})


def target_url(bucket, obj, query="provider=ais"):
    red = request("HEAD", obj_url(bucket, obj, query), AUTH)
    assert red.status == 307, red.status
    return red.h("Location")


def raw_get(url, headers=None, timeout=TIMEOUT):
    """GET on a raw socket with Connection: close.  Returns
    (status, headers_dict, body, how) where how is 'eof', 'reset' or 'timeout';
    status is None when no header arrived."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (u.hostname, u.port), "Connection: close"]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = bytearray()
    how = "eof"
    try:
        while True:
            d = s.recv(1 << 16)
            if not d:
                break
            buf += d
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    finally:
        s.close()
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, {}, bytes(buf), how
    head = buf[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    hd = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        hd[k.strip().lower()] = v.strip()
    return status, hd, bytes(buf[end + 4:]), how


def clear_faults():
    st, _ = ctl("DELETE", "faults")
    assert st == 200


def add_fault(**spec):
    st, ans = ctl("POST", "faults", spec)
    assert st == 200, (st, ans)
    return ans


def hexsum(ctype, data):
    if ctype in ("xxhash", "xxhash2"):
        return xxhash.xxh64(data, seed=0).hexdigest()
    if ctype == "crc32c":
        return "%08x" % crc32c.crc32c(data)
    return hashlib.new(ctype, data).hexdigest()


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

class T01Redirects(unittest.TestCase):
    def setUp(self):
        put_gen("rb", "dir/sub/obj one", 10000, seed=3)

    def test_head_307_get_301(self):
        for method, code in (("HEAD", 307), ("GET", 301)):
            r = request(method, obj_url("rb", "dir/sub/obj one"), AUTH)
            self.assertEqual(r.status, code)
            loc = r.h("Location")
            u = urllib.parse.urlsplit(loc)
            self.assertEqual(u.hostname, "127.0.0.1")
            self.assertNotEqual(u.port, EMU.port)
            self.assertEqual(u.path, "/v1/objects/rb/dir/sub/obj%20one")
            q = urllib.parse.parse_qs(u.query)
            self.assertEqual(q["provider"], ["ais"])
            self.assertEqual(q["pid"], ["p1"])
            self.assertTrue(q["utm"][0].isdigit())
            self.assertTrue(u.query.startswith("provider=ais&"))

    def test_query_preserved(self):
        r = request("HEAD", obj_url("rb", "dir/sub/obj one", "provider=ais&props=size,version"), AUTH)
        self.assertEqual(r.status, 307)
        self.assertIn("?provider=ais&props=size,version&pid=p1&utm=", r.h("Location"))

    def test_placement_by_crc32(self):
        import zlib
        ans = put_gen("rb", "placed", 10)
        want = zlib.crc32(b"rb/placed") % 3
        self.assertEqual(ans["owner"], want)
        _, meta = ctl("GET", "objects/rb/placed")
        self.assertEqual(meta["owner"], want)
        st, cl = ctl("GET", "cluster")
        loc = target_url("rb", "placed")
        self.assertTrue(loc.startswith(cl["targets"][want]["url"] + "/"))

    def test_target_requires_redirect(self):
        loc = target_url("rb", "dir/sub/obj one")
        u = urllib.parse.urlsplit(loc)
        direct = "http://%s:%d%s?provider=ais" % (u.hostname, u.port, u.path)
        r = request("GET", direct)
        self.assertEqual(r.status, 400)
        self.assertIn("direct request without redirect", r.json()["message"])
        # a redirect URL may be reused any number of times, with no token
        for _ in range(3):
            self.assertEqual(request("GET", loc).status, 200)

    def test_providers(self):
        put_gen("cloudb", "x", 100, seed=1, provider="aws")
        red, ans = via_proxy("GET", "cloudb", "x", query="provider=aws")
        self.assertEqual((red.status, ans.status), (301, 200))
        self.assertEqual(ans.body, ref_bytes(1, 0, 100))
        red, _ = via_proxy("GET", "cloudb", "x", query="provider=ais")
        self.assertEqual(red.status, 404)
        self.assertEqual(red.json()["message"], 'bucket "ais://cloudb" does not exist')
        red, _ = via_proxy("GET", "cloudb", "x", query="provider=bogus")
        self.assertEqual(red.status, 400)
        red, _ = via_proxy("HEAD", "rb", "dir/sub/obj one", query="provider=ais&namespace=%40uuid%23ns")
        self.assertEqual(red.status, 307)


class T02Headers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.put = put_gen("hb", "obj", 123457, seed=11)
        put_gen("hb", "chunked", 10 * 1000 + 1, seed=2, chunk=1000)
        put_gen("hb", "empty", 0)

    def check_v1(self, r, length):
        self.assertEqual(r.h("Content-Length"), str(length))
        self.assertEqual(r.h("Ais-Version"), "1")
        self.assertEqual(r.h("Ais-Checksum-Type"), "xxhash2")
        self.assertEqual(r.h("Ais-Checksum-Value"), self.put["cksum_value"])
        self.assertTrue(r.h("Ais-Atime").isdigit())
        self.assertGreater(int(r.h("Ais-Atime")), 10 ** 18)
        self.assertEqual(r.h("Content-Type"), "application/octet-stream")
        self.assertEqual(r.h("Accept-Ranges"), "bytes")

    def test_head_v1(self):
        _, r = via_proxy("HEAD", "hb", "obj")
        self.assertEqual(r.status, 200)
        self.check_v1(r, 123457)
        self.assertEqual(r.body, b"")

    def test_get_v1(self):
        _, r = via_proxy("GET", "hb", "obj")
        self.assertEqual(r.status, 200)
        self.check_v1(r, 123457)
        self.assertEqual(r.body[:5000], ref_bytes(11, 0, 5000))
        self.assertEqual(xxhash.xxh64(r.body).hexdigest(), self.put["cksum_value"])

    def test_ranged_get_has_whole_checksum(self):
        _, r = via_proxy("GET", "hb", "obj", {"Range": "bytes=10-19"})
        self.assertEqual(r.status, 206)
        self.check_v1(r, 10)

    def test_head_v2(self):
        _, r = via_proxy("HEAD", "hb", "obj", query="provider=ais&props=size")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Content-Length"), "123457")
        self.assertEqual(r.h("Ais-Present"), "true")
        self.assertIsNone(r.h("Ais-Version"))
        self.assertIsNone(r.h("Ais-Checksum-Value"))
        _, r = via_proxy("HEAD", "hb", "obj", query="provider=ais&props=version,checksum,atime")
        self.assertEqual(r.h("Ais-Version"), "1")
        self.assertEqual(r.h("Ais-Checksum-Type"), "xxhash2")
        self.assertEqual(r.h("Ais-Checksum-Value"), self.put["cksum_value"])
        self.assertTrue(r.h("Ais-Atime").isdigit())
        self.assertIsNone(r.h("Ais-Chunks-Count"))
        _, r = via_proxy("HEAD", "hb", "obj", query="provider=ais&props=chunked")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.h("Ais-Chunks-Count"))
        self.assertIsNone(r.h("Ais-Chunks-Max-Chunk-Size"))

    def test_head_v2_chunked(self):
        _, r = via_proxy("HEAD", "hb", "chunked", query="provider=ais&props=chunked")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Ais-Chunks-Count"), "11")
        self.assertEqual(r.h("Ais-Chunks-Max-Chunk-Size"), "1000")
        self.assertEqual(r.h("Content-Length"), "10001")

    def test_head_v2_empty_object(self):
        _, r = via_proxy("HEAD", "hb", "empty", query="provider=ais&props=size,present")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Content-Length"), "0")
        self.assertEqual(r.h("Ais-Present"), "true")

    def test_head_v2_unknown_prop(self):
        _, r = via_proxy("HEAD", "hb", "obj", query="provider=ais&props=size,bogus")
        self.assertEqual(r.status, 400)
        self.assertIsNotNone(r.h("Hdr-Error"))

    def test_empty_object_get(self):
        _, r = via_proxy("GET", "hb", "empty")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Content-Length"), "0")
        self.assertEqual(r.body, b"")
        _, r = via_proxy("GET", "hb", "empty", {"Range": "bytes=0-"})
        self.assertEqual(r.status, 416)
        self.assertEqual(r.h("Content-Range"), "bytes */0")


class T03Ranges(unittest.TestCase):
    SIZE = 100000

    @classmethod
    def setUpClass(cls):
        put_gen("rg", "o", cls.SIZE, seed=77)
        cls.loc = target_url("rg", "o")

    def get(self, rng, conn=None):
        return request("GET", self.loc, {"Range": rng}, conn=conn)

    def check206(self, rng, a, b):
        r = self.get(rng)
        self.assertEqual(r.status, 206, rng)
        self.assertEqual(r.h("Content-Range"), "bytes %d-%d/%d" % (a, b, self.SIZE))
        self.assertEqual(r.h("Content-Length"), str(b - a + 1))
        self.assertEqual(r.h("Accept-Ranges"), "bytes")
        self.assertEqual(len(r.body), b - a + 1)
        self.assertEqual(r.body[:300], ref_bytes(77, a, min(b + 1, a + 300)))
        self.assertEqual(r.body[-300:], ref_bytes(77, max(a, b + 1 - 300), b + 1))

    def test_satisfiable(self):
        self.check206("bytes=0-0", 0, 0)
        self.check206("bytes=4090-4200", 4090, 4200)
        self.check206("bytes=5000-", 5000, self.SIZE - 1)
        self.check206("bytes=-100", self.SIZE - 100, self.SIZE - 1)
        self.check206("bytes=-200000", 0, self.SIZE - 1)
        self.check206("bytes=99000-200000", 99000, self.SIZE - 1)
        self.check206("bytes=%d-%d" % (self.SIZE - 1, self.SIZE - 1), self.SIZE - 1, self.SIZE - 1)

    def test_unsatisfiable(self):
        for rng in ("bytes=%d-" % self.SIZE, "bytes=%d-%d" % (self.SIZE, self.SIZE + 5),
                    "bytes=200000-300000", "bytes=abc", "bytes=5-1", "items=0-1",
                    "bytes=0-1,5-9", "bytes=0-1, 5-9", "bytes=-0", "bytes=-", "bytes=1-2-3"):
            r = self.get(rng)
            self.assertEqual(r.status, 416, rng)
            self.assertEqual(r.h("Content-Range"), "bytes */%d" % self.SIZE, rng)
            self.assertEqual(r.json()["status"], 416)

    def test_no_range(self):
        r = request("GET", self.loc)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), self.SIZE)
        self.assertIsNone(r.h("Content-Range"))

    def test_keepalive_many_ranges(self):
        u = urllib.parse.urlsplit(self.loc)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
        try:
            for a in range(0, self.SIZE, 7919):
                r = self.get("bytes=%d-%d" % (a, a + 999), conn)
                self.assertEqual(r.status, 206)
                self.assertEqual(r.body[:50], ref_bytes(77, a, a + 50))
        finally:
            conn.close()


class T04Errors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        put_gen("eb", "there", 10)

    def check_err(self, r, status, message, node="p1", head=False):
        self.assertEqual(r.status, status)
        if head:
            self.assertEqual(r.body, b"")
            d = json.loads(r.h("Hdr-Error"))
        else:
            self.assertEqual(r.h("Content-Type"), "application/json")
            d = r.json()
        self.assertEqual(d["status"], status)
        self.assertEqual(d["message"], message)
        self.assertEqual(d["node"], node)
        for k in ("tcode", "method", "url_path", "remote_addr", "caller"):
            self.assertIn(k, d)
        self.assertTrue(d["remote_addr"].startswith("127.0.0.1:"))
        return d

    def test_missing_bucket(self):
        r, _ = via_proxy("GET", "nobucket", "x")
        d = self.check_err(r, 404, 'bucket "ais://nobucket" does not exist')
        self.assertEqual(d["method"], "GET")
        self.assertEqual(d["url_path"], "/v1/objects/nobucket/x")
        r, _ = via_proxy("HEAD", "nobucket", "x")
        self.check_err(r, 404, 'bucket "ais://nobucket" does not exist', head=True)

    def test_missing_object(self):
        r, _ = via_proxy("GET", "eb", "a/missing")
        self.check_err(r, 404, "ais://eb/a/missing does not exist")
        r, _ = via_proxy("HEAD", "eb", "a/missing")
        self.check_err(r, 404, "ais://eb/a/missing does not exist", head=True)

    def test_tokens(self):
        url = obj_url("eb", "there")
        self.check_err(request("GET", url), 401, "token required")
        self.check_err(request("HEAD", url), 401, "token required", head=True)
        self.check_err(request("GET", url, {"Authorization": "Bearer expired"}), 401, "token expired")
        self.check_err(request("GET", url, {"Authorization": "Bearer nope"}), 401, "invalid token")
        self.check_err(request("GET", url, {"Authorization": "Bearer " + BAD_TOKEN}), 403, "access denied")
        self.assertEqual(request("GET", url, AUTH).status, 301)
        # the control API is never token-checked; targets never check tokens
        self.assertEqual(ctl("GET", "stats")[0], 200)
        self.assertEqual(request("GET", target_url("eb", "there")).status, 200)


class T05Content(unittest.TestCase):
    def test_small_windows(self):
        seed = 0x0123456789ABCDEF
        put_gen("gb", "w", 3 * 65536 + 77, seed=seed, cksum="none")
        loc = target_url("gb", "w")
        for a, b in ((0, 64), (4088, 4104), (4096 * 15 - 3, 4096 * 15 + 20),
                     (3 * 65536 + 77 - 40, 3 * 65536 + 77)):
            r = request("GET", loc, {"Range": "bytes=%d-%d" % (a, b - 1)})
            self.assertEqual(r.status, 206)
            self.assertEqual(r.body, ref_bytes(seed, a, b), (a, b))

    def test_past_4gib_and_seed_wrap(self):
        size = 5 * GiB + 12345
        for seed in (0, M64):
            put_gen("gb", "huge", size, seed=seed, cksum="none")
            loc = target_url("gb", "huge")
            for a, b in ((0, 32), (4 * GiB - 20, 4 * GiB + 20), (4 * GiB + 123456789, 4 * GiB + 123456789 + 64),
                         (size - 50, size)):
                r = request("GET", loc, {"Range": "bytes=%d-%d" % (a, b - 1)})
                self.assertEqual(r.status, 206)
                self.assertEqual(r.h("Content-Range"), "bytes %d-%d/%d" % (a, b - 1, size))
                self.assertEqual(r.body, ref_bytes(seed, a, b), (seed, a, b))
            r = request("GET", loc, {"Range": "bytes=-10"})
            self.assertEqual(r.body, ref_bytes(seed, size - 10, size))

    def test_whole_object_against_windows(self):
        seed = 42
        put_gen("gb", "mid", 1 << 20, seed=seed)
        _, r = via_proxy("GET", "gb", "mid")
        for a in (0, 8, 4095, 65536 * 3 + 11, (1 << 20) - 100):
            self.assertEqual(r.body[a:a + 100], ref_bytes(seed, a, min(a + 100, 1 << 20)), a)


class T06Checksums(unittest.TestCase):
    TYPES = ("xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512")

    def test_generated(self):
        for t in self.TYPES:
            ans = put_gen("cb", "g-" + t, (1 << 20) + 17, seed=9, cksum=t)
            _, r = via_proxy("GET", "cb", "g-" + t)
            self.assertEqual(r.status, 200)
            want = hexsum(t, r.body)
            self.assertEqual(ans["cksum_value"], want, t)
            self.assertEqual(r.h("Ais-Checksum-Type"), t)
            self.assertEqual(r.h("Ais-Checksum-Value"), want, t)
            expect_len = {"xxhash": 16, "xxhash2": 16, "md5": 32, "crc32c": 8,
                          "sha256": 64, "sha512": 128}[t]
            self.assertEqual(len(want), expect_len)

    def test_memory_and_none(self):
        data = os.urandom(70001)
        for t in self.TYPES:
            ans = put_mem("cb", "m-" + t, data, cksum=t)
            self.assertEqual(ans["size"], len(data))
            _, r = via_proxy("GET", "cb", "m-" + t)
            self.assertEqual(r.body, data)
            self.assertEqual(r.h("Ais-Checksum-Value"), hexsum(t, data))
        put_mem("cb", "m-none", data, cksum="none")
        _, r = via_proxy("HEAD", "cb", "m-none")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.h("Ais-Checksum-Value"))
        # crc32c zero-padding: find a small body whose CRC has a leading zero nibble
        for i in range(4096):
            body = b"pad%d" % i
            if crc32c.crc32c(body) < 0x10000000:
                break
        ans = put_mem("cb", "m-pad", body, cksum="crc32c")
        self.assertEqual(ans["cksum_value"], "%08x" % crc32c.crc32c(body))
        self.assertEqual(len(ans["cksum_value"]), 8)

    def test_lazy_big(self):
        size = 300 << 20
        ans = put_gen("cb", "big", size, seed=5, cksum="crc32c")
        self.assertEqual(ans["cksum_value"], "pending")
        u = urllib.parse.urlsplit(target_url("cb", "big"))
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        try:
            conn.request("GET", u.path + "?" + u.query)
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            crc = 0
            n = 0
            while True:
                d = r.read(4 << 20)
                if not d:
                    break
                crc = crc32c.crc32c(d, crc)
                n += len(d)
        finally:
            conn.close()
        self.assertEqual(n, size)
        self.assertEqual(r.getheader("Ais-Checksum-Value"), "%08x" % crc)
        _, meta = ctl("GET", "objects/cb/big")
        self.assertEqual(meta["cksum_value"], "%08x" % crc)

    def test_versions(self):
        a = put_mem("cb", "ver", b"one")
        b = put_mem("cb", "ver", b"two!")
        self.assertEqual((a["version"], b["version"]), ("1", "2"))
        _, r = via_proxy("GET", "cb", "ver")
        self.assertEqual((r.h("Ais-Version"), r.body), ("2", b"two!"))
        self.assertEqual(ctl("DELETE", "objects/cb/ver")[0], 200)
        r, _ = via_proxy("GET", "cb", "ver")
        self.assertEqual(r.status, 404)
        self.assertEqual(ctl("GET", "objects/cb/ver")[0], 404)


class T07Faults(unittest.TestCase):
    SIZE = 1 << 20
    SEED = 1234

    def setUp(self):
        clear_faults()
        put_gen("fb", "f", self.SIZE, seed=self.SEED)
        self.loc = target_url("fb", "f")

    def tearDown(self):
        clear_faults()

    def ranged(self, a, b):
        return {"Range": "bytes=%d-%d" % (a, b)}

    def test_status(self):
        add_fault(bucket="fb", object="f", kind="status", code=503, retry_after=1)
        r = request("GET", self.loc)
        self.assertEqual(r.status, 503)
        self.assertEqual(r.h("Retry-After"), "1")
        self.assertEqual(r.json()["status"], 503)
        self.assertEqual(request("GET", self.loc).status, 200)   # count defaults to 1

    def test_status_proxy_head(self):
        add_fault(bucket="fb", object="f", node="proxy", method="HEAD", kind="status", code=429)
        r = request("HEAD", obj_url("fb", "f"), AUTH)
        self.assertEqual(r.status, 429)
        self.assertEqual(json.loads(r.h("Hdr-Error"))["status"], 429)
        self.assertEqual(request("HEAD", obj_url("fb", "f"), AUTH).status, 307)

    def test_reset(self):
        add_fault(bucket="fb", object="f", kind="reset", after_bytes=1000)
        st, hd, body, how = raw_get(self.loc, self.ranged(0, 99999))
        self.assertEqual((st, how), (206, "reset"))
        self.assertEqual(hd["content-length"], "100000")
        self.assertEqual(body, ref_bytes(self.SEED, 0, 1000))
        add_fault(bucket="fb", object="f", kind="reset", after_bytes=-1)
        st, hd, body, how = raw_get(self.loc)
        self.assertEqual((st, body, how), (None, b"", "reset"))
        self.assertEqual(raw_get(self.loc, self.ranged(0, 9))[0], 206)

    def test_short(self):
        add_fault(bucket="fb", object="f", kind="short", after_bytes=777)
        st, hd, body, how = raw_get(self.loc, self.ranged(100, 50099))
        self.assertEqual((st, how), (206, "eof"))
        self.assertEqual(hd["content-length"], "50000")
        self.assertEqual(body, ref_bytes(self.SEED, 100, 877))

    def test_full200(self):
        add_fault(bucket="fb", object="f", kind="full200")
        r = request("GET", self.loc, self.ranged(10, 19))
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.body), self.SIZE)
        self.assertIsNone(r.h("Content-Range"))
        self.assertEqual(request("GET", self.loc, self.ranged(10, 19)).status, 206)

    def test_bad_range(self):
        add_fault(bucket="fb", object="f", kind="bad_range")
        r = request("GET", self.loc, self.ranged(1000, 1999))
        self.assertEqual(r.status, 206)
        self.assertEqual(r.h("Content-Range"), "bytes 1001-2000/%d" % self.SIZE)
        self.assertEqual(r.body, ref_bytes(self.SEED, 1001, 2001))
        add_fault(bucket="fb", object="f", kind="bad_range")
        r = request("GET", self.loc, {"Range": "bytes=-100"})
        self.assertEqual(r.h("Content-Range"), "bytes %d-%d/%d" % (self.SIZE - 101, self.SIZE - 2, self.SIZE))
        self.assertEqual(r.body, ref_bytes(self.SEED, self.SIZE - 101, self.SIZE - 1))

    def test_extra(self):
        add_fault(bucket="fb", object="f", kind="extra", bytes=5)
        r = request("GET", self.loc, self.ranged(1000, 1999))
        self.assertEqual(r.status, 206)
        self.assertEqual(r.h("Content-Range"), "bytes 1000-1999/%d" % self.SIZE)
        self.assertEqual(r.h("Content-Length"), "1005")
        self.assertEqual(len(r.body), 1005)
        self.assertEqual(r.body[:1000], ref_bytes(self.SEED, 1000, 2000))

    def test_stall(self):
        add_fault(bucket="fb", object="f", kind="stall", seconds=1, after_bytes=100)
        t0 = time.monotonic()
        r = request("GET", self.loc, self.ranged(0, 9999))
        dt = time.monotonic() - t0
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, ref_bytes(self.SEED, 0, 10000))
        self.assertGreaterEqual(dt, 0.95)
        self.assertLess(dt, 5)

    def test_stall_before_headers(self):
        add_fault(bucket="fb", object="f", kind="stall", seconds=1, after_bytes=-1)
        t0 = time.monotonic()
        u = urllib.parse.urlsplit(self.loc)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
        try:
            conn.request("GET", u.path + "?" + u.query, headers=self.ranged(0, 9))
            r = conn.getresponse()
            dt = time.monotonic() - t0
            self.assertEqual(r.status, 206)
            self.assertEqual(r.read(), ref_bytes(self.SEED, 0, 10))
        finally:
            conn.close()
        self.assertGreaterEqual(dt, 0.95)
        self.assertLess(dt, 1.8)

    def test_stall_client_gone(self):
        add_fault(bucket="fb", object="f", kind="stall", seconds=30, after_bytes=10)
        u = urllib.parse.urlsplit(self.loc)
        s = socket.create_connection((u.hostname, u.port), timeout=TIMEOUT)
        s.sendall(("GET %s?%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n" % (u.path, u.query)).encode())
        time.sleep(0.3)
        s.close()
        # the emulator keeps serving
        self.assertEqual(request("GET", self.loc, self.ranged(0, 9)).status, 206)

    def test_slow(self):
        add_fault(bucket="fb", object="f", kind="slow", rate=400000)
        t0 = time.monotonic()
        r = request("GET", self.loc, self.ranged(0, 199999))
        dt = time.monotonic() - t0
        self.assertEqual(r.body, ref_bytes(self.SEED, 0, 100)[:100] + r.body[100:])
        self.assertEqual(len(r.body), 200000)
        self.assertGreaterEqual(dt, 0.4)
        self.assertLess(dt, 3)

    def test_overwrite(self):
        _, h1 = via_proxy("HEAD", "fb", "f")
        add_fault(bucket="fb", object="f", kind="overwrite")
        r = request("GET", self.loc, self.ranged(0, 99))
        self.assertEqual(r.status, 206)
        self.assertEqual(int(r.h("Ais-Version")), int(h1.h("Ais-Version")) + 1)
        self.assertNotEqual(r.h("Ais-Checksum-Value"), h1.h("Ais-Checksum-Value"))
        self.assertEqual(r.body, ref_bytes(self.SEED + 1, 0, 100))
        _, full = via_proxy("GET", "fb", "f")
        self.assertEqual(full.h("Ais-Checksum-Value"), xxhash.xxh64(full.body).hexdigest())
        self.assertEqual(full.h("Ais-Checksum-Value"), r.h("Ais-Checksum-Value"))

    def test_overwrite_memory(self):
        put_mem("fb", "m", b"\x01hello")
        add_fault(bucket="fb", object="m", kind="overwrite", node="proxy", method="HEAD")
        _, r = via_proxy("HEAD", "fb", "m")
        self.assertEqual(r.h("Ais-Version"), "2")
        _, r = via_proxy("GET", "fb", "m")
        self.assertEqual(r.body, b"\xfehello")
        self.assertEqual(r.h("Ais-Checksum-Value"), xxhash.xxh64(b"\xfehello").hexdigest())

    def test_delay(self):
        add_fault(bucket="fb", object="f", kind="delay", ms=400)
        t0 = time.monotonic()
        self.assertEqual(request("GET", self.loc, self.ranged(0, 9)).status, 206)
        self.assertGreaterEqual(time.monotonic() - t0, 0.39)
        t0 = time.monotonic()
        request("GET", self.loc, self.ranged(0, 9))
        self.assertLess(time.monotonic() - t0, 0.3)

    def test_nth_offset_count(self):
        add_fault(bucket="fb", object="f", kind="status", code=500, nth=2, offset=4096, count=2)
        codes = []
        for a in (0, 4096, 8192, 4096, 4096, 4096):
            codes.append(request("GET", self.loc, self.ranged(a, a + 9)).status)
        self.assertEqual(codes, [206, 206, 206, 500, 500, 206])
        lst = ctl("GET", "faults")[1]
        self.assertEqual(len(lst), 1)
        self.assertEqual((lst[0]["fired"], lst[0]["active"]), (2, False))

    def test_forever_and_clear(self):
        add_fault(bucket="fb", object="f", kind="status", code=502, count=-1)
        for _ in range(3):
            self.assertEqual(request("GET", self.loc).status, 502)
        clear_faults()
        self.assertEqual(ctl("GET", "faults")[1], [])
        self.assertEqual(request("GET", self.loc, self.ranged(0, 0)).status, 206)

    def test_fault_validation(self):
        st, _ = ctl("POST", "faults", {"kind": "nope"})
        self.assertEqual(st, 400)
        st, _ = ctl("POST", "faults", {"kind": "status", "node": "moon"})
        self.assertEqual(st, 400)


class T08Placement(unittest.TestCase):
    def test_move(self):
        ans = put_gen("mb", "moving", 5000, seed=8)
        old = ans["owner"]
        new = (old + 1) % 3
        loc_old = target_url("mb", "moving")
        self.assertEqual(request("GET", loc_old).status, 200)
        st, _ = ctl("POST", "move/mb/moving?target=%d" % new)
        self.assertEqual(st, 200)
        r = request("GET", loc_old)
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["node"], "t%d" % (old + 1))
        red, r = via_proxy("GET", "mb", "moving")
        _, cl = ctl("GET", "cluster")
        self.assertTrue(red.h("Location").startswith(cl["targets"][new]["url"] + "/"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, ref_bytes(8, 0, 5000))
        self.assertEqual(ctl("GET", "objects/mb/moving")[1]["owner"], new)

    def test_down_up(self):
        ans = put_gen("mb", "downer", 5000, seed=8)
        k = ans["owner"]
        loc = target_url("mb", "downer")
        u = urllib.parse.urlsplit(loc)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
        try:
            self.assertEqual(request("GET", loc, conn=conn).status, 200)
            self.assertEqual(ctl("POST", "targets/%d/down" % k)[0], 200)
            with self.assertRaises(OSError):
                socket.create_connection((u.hostname, u.port), timeout=TIMEOUT).close()
            # the open keep-alive connection was closed too
            with self.assertRaises((OSError, http.client.HTTPException)):
                request("GET", loc, conn=conn)
        finally:
            conn.close()
        self.assertFalse(ctl("GET", "cluster")[1]["targets"][k]["up"])
        st, ans = ctl("POST", "targets/%d/up" % k)
        self.assertEqual((st, ans["port"]), (200, u.port))
        r = request("GET", loc)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, ref_bytes(8, 0, 5000))


class T09Stats(unittest.TestCase):
    def test_counters_and_keepalive(self):
        put_gen("sb", "s", 50000, seed=1)
        loc = target_url("sb", "s")
        u = urllib.parse.urlsplit(loc)
        k = int(urllib.parse.urlsplit(loc).port)
        _, cl = ctl("GET", "cluster")
        idx = [t["url"] for t in cl["targets"]].index("http://127.0.0.1:%d" % k)
        self.assertEqual(ctl("POST", "stats/reset")[0], 200)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=TIMEOUT)
        try:
            for a in (0, 100, 200):
                self.assertEqual(request("GET", loc, {"Range": "bytes=%d-%d" % (a, a + 99)}, conn=conn).status, 206)
            self.assertEqual(request("HEAD", loc, conn=conn).status, 200)
        finally:
            conn.close()
        pconn = http.client.HTTPConnection(EMU.host, EMU.port, timeout=TIMEOUT)
        try:
            for _ in range(4):
                self.assertEqual(request("HEAD", obj_url("sb", "s"), AUTH, conn=pconn).status, 307)
            self.assertEqual(request("GET", obj_url("sb", "s"), AUTH, conn=pconn).status, 301)
        finally:
            pconn.close()
        _, st = ctl("GET", "stats")
        t = st["targets"][idx]
        self.assertEqual((t["GET"], t["HEAD"], t["connections"], t["bytes"]), (3, 1, 1, 300))
        p = st["proxy"]
        self.assertEqual((p["HEAD"], p["GET"], p["connections"]), (4, 1, 1))
        self.assertEqual(st["ranges"], [["sb/s", "bytes=%d-%d" % (a, a + 99), "t%d" % (idx + 1)]
                                        for a in (0, 100, 200)])
        ctl("POST", "stats/reset")
        _, st = ctl("GET", "stats")
        self.assertEqual(st["ranges"], [])
        self.assertEqual(st["proxy"]["GET"], 0)


class T10Shaping(unittest.TestCase):
    def tearDown(self):
        ctl("POST", "config", {"rtt_ms": 0, "rate": 0})

    def test_rtt_and_rate(self):
        put_gen("shb", "o", 300000, seed=1)
        loc = target_url("shb", "o")
        st, ans = ctl("POST", "config", {"rtt_ms": 300})
        self.assertEqual((st, ans["rtt_ms"]), (200, 300))
        t0 = time.monotonic()
        self.assertEqual(request("GET", loc, {"Range": "bytes=0-9"}).status, 206)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        ctl("POST", "config", {"rtt_ms": 0, "rate": 500000})
        t0 = time.monotonic()
        r = request("GET", loc)
        dt = time.monotonic() - t0
        self.assertEqual(len(r.body), 300000)
        self.assertGreaterEqual(dt, 0.5)
        self.assertLess(dt, 3)
        ctl("POST", "config", {"rate": 0})
        t0 = time.monotonic()
        request("GET", loc)
        self.assertLess(time.monotonic() - t0, 0.3)


class T11DataDir(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = os.urandom(300001)
        d = os.path.join(EMU.data_dir, "files", "a", "b")
        os.makedirs(d)
        cls.path = os.path.join(d, "c d.bin")
        with open(cls.path, "wb") as f:
            f.write(cls.data)
        cls.ow_path = os.path.join(EMU.data_dir, "files", "ow.bin")
        with open(cls.ow_path, "wb") as f:
            f.write(cls.data)

    def test_serve(self):
        red, r = via_proxy("GET", "files", "a/b/c d.bin")
        self.assertEqual(red.status, 301)
        self.assertIn("/v1/objects/files/a/b/c%20d.bin?", red.h("Location"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.data)
        self.assertEqual(r.h("Ais-Checksum-Value"), xxhash.xxh64(self.data).hexdigest())
        _, r = via_proxy("GET", "files", "a/b/c d.bin", {"Range": "bytes=1000-200999"})
        self.assertEqual((r.status, r.body), (206, self.data[1000:201000]))
        # fully percent-encoded name (slashes as %2F) reaches the same object
        red = request("GET", "%s/v1/objects/files/a%%2Fb%%2Fc%%20d.bin?provider=ais" % EMU.url, AUTH)
        self.assertEqual(red.status, 301)
        self.assertIn("/v1/objects/files/a%2Fb%2Fc%20d.bin?", red.h("Location"))
        self.assertEqual(request("GET", red.h("Location")).body, self.data)

    def test_missing(self):
        r, _ = via_proxy("GET", "files", "a/b/nope")
        self.assertEqual(r.status, 404)
        r, _ = via_proxy("GET", "files", "a/../a/b/c d.bin")
        self.assertEqual(r.status, 404)
        r, _ = via_proxy("GET", "files", "a/b")      # a directory is not an object
        self.assertEqual(r.status, 404)

    def test_overwrite_does_not_touch_disk(self):
        clear_faults()
        _, h1 = via_proxy("HEAD", "files", "ow.bin")
        self.assertEqual(h1.h("Ais-Version"), "1")
        add_fault(bucket="files", object="ow.bin", kind="overwrite")
        _, r = via_proxy("GET", "files", "ow.bin")
        self.assertEqual(r.h("Ais-Version"), "2")
        want = bytes([self.data[0] ^ 0xFF]) + self.data[1:]
        self.assertEqual(r.body, want)
        self.assertEqual(r.h("Ais-Checksum-Value"), xxhash.xxh64(want).hexdigest())
        _, r = via_proxy("GET", "files", "ow.bin", {"Range": "bytes=0-99"})
        self.assertEqual(r.body, want[:100])
        with open(self.ow_path, "rb") as f:
            self.assertEqual(f.read(), self.data)
        clear_faults()

    def test_file_changed_on_disk(self):
        p = os.path.join(EMU.data_dir, "files", "changing.bin")
        with open(p, "wb") as f:
            f.write(b"first")
        _, r = via_proxy("GET", "files", "changing.bin")
        self.assertEqual((r.body, r.h("Ais-Version")), (b"first", "1"))
        time.sleep(0.01)
        with open(p, "wb") as f:
            f.write(b"second!")
        _, r = via_proxy("GET", "files", "changing.bin")
        self.assertEqual((r.body, r.h("Ais-Version")), (b"second!", "2"))
        self.assertEqual(r.h("Ais-Checksum-Value"), xxhash.xxh64(b"second!").hexdigest())
        self.assertEqual(ctl("DELETE", "objects/files/changing.bin")[0], 200)
        self.assertTrue(os.path.exists(p))
        r, _ = via_proxy("GET", "files", "changing.bin")
        self.assertEqual(r.status, 404)


# ---------------------------------------------------------------------------
# Listing (list-objects)
# ---------------------------------------------------------------------------

def lso(bucket, value=None, query="provider=ais", headers=None, auth=True, body=None, conn=None):
    """GET /v1/buckets/BUCKET with {"action":"list","name":"","value":value}."""
    if body is None:
        body = json.dumps({"action": "list", "name": "", "value": {} if value is None else value}).encode()
    hdrs = {"Content-Type": "application/json"}
    if auth:
        hdrs.update(AUTH)
    hdrs.update(headers or {})
    return request("GET", "%s/v1/buckets/%s?%s" % (EMU.url, urllib.parse.quote(bucket), query),
                   hdrs, body, conn=conn)


def list_all(bucket, max_pages=100, **value):
    """Every page of one listing: (names as bytes, pages).  Bounded by max_pages."""
    value.setdefault("flags", "0")
    value.update(uuid="", continuation_token="")
    names, pages = [], []
    for _ in range(max_pages):
        r = lso(bucket, value)
        assert r.status == 200, (r.status, r.body)
        d = json_bytes(r.body)
        pages.append(d)
        names += [e["name"] for e in d["entries"] or []]
        if not d["continuation_token"]:
            return names, pages
        value.update(uuid=d["uuid"], continuation_token=d["continuation_token"])
    raise AssertionError("listing did not end in %d pages" % max_pages)


def json_bytes(body):
    """Parse JSON whose strings may carry raw (invalid UTF-8) bytes; strings come back
    as bytes (raw bytes kept as they are)."""
    def conv(v):
        if isinstance(v, str):
            return v.encode("utf-8", "surrogateescape")
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v
    d = json.loads(body.decode("utf-8", "surrogateescape"))
    out = conv(d)
    # keys stay str, top-level strings as str for convenience
    for k in ("uuid", "continuation_token"):
        if isinstance(out.get(k), bytes):
            out[k] = out[k].decode("utf-8", "surrogateescape")
    return out


def bulk(**spec):
    st, ans = ctl("POST", "objects/bulk", spec)
    assert st == 200, (st, ans)
    return ans


def mp_decode(b):
    """Minimal MessagePack decoder (the types an LsoRes uses)."""
    pos = 0

    def take(n):
        nonlocal pos
        v = b[pos:pos + n]
        if len(v) != n:
            raise ValueError("short msgpack")
        pos += n
        return v

    def one():
        t = take(1)[0]
        if t <= 0x7F:
            return t
        if 0x80 <= t <= 0x8F:
            return dict((one(), one()) for _ in range(t & 0x0F))
        if 0x90 <= t <= 0x9F:
            return [one() for _ in range(t & 0x0F)]
        if 0xA0 <= t <= 0xBF:
            return bytes(take(t & 0x1F))
        if t == 0xC0:
            return None
        if t in (0xCC, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(take(1 << (t - 0xCC)), "big")
        if t in (0xD1, 0xD2, 0xD3):
            return int.from_bytes(take(1 << (t - 0xD0)), "big", signed=True)
        if t in (0xD9, 0xDA, 0xDB):
            return bytes(take(int.from_bytes(take(1 << (t - 0xD9)), "big")))
        if t in (0xDC, 0xDD):
            return [one() for _ in range(int.from_bytes(take(2 if t == 0xDC else 4), "big"))]
        raise ValueError("msgpack type 0x%02x" % t)

    v = one()
    if pos != len(b):
        raise ValueError("trailing bytes")
    return v


RFC822_RE = r"^[0-3][0-9] (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{2} [0-2][0-9]:[0-5][0-9] \S+$"


class T13Listing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ctl("DELETE", "buckets/lb")
        cls.sizes = [0, 10, 5000, 70000, 3]
        bulk(bucket="lb", prefix="d/", count=5, sizes=cls.sizes, seed=100)
        put_mem("lb", "e/mem", b"hello")
        put_gen("lb", "e/chunky", 3000, seed=7, chunk=1000)

    def setUp(self):
        clear_faults()

    def test_wire_shape_and_paging(self):
        value = {"prefix": "d/", "props": "name,size,version,checksum,atime", "pagesize": 2,
                 "uuid": "", "continuation_token": "", "flags": "0"}
        r = lso("lb", value)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.h("Content-Type"), "application/json; charset=utf-8")
        self.assertEqual(int(r.h("Content-Length")), len(r.body))
        self.assertTrue(r.body.endswith(b"}\n"))
        # field order and encoding as AIS: size is a JSON string, size 0 is left out
        self.assertRegex(r.body.decode(),
                         r'^\{"uuid":"[A-Za-z][A-Za-z0-9_-]{7,}[A-Za-z0-9]","continuation_token":"d/1",'
                         r'"entries":\[\{"name":"d/0","checksum":"[0-9a-f]{16}","atime":"[^"]+",'
                         r'"version":"1","flags":64\},\{"name":"d/1","checksum":"[0-9a-f]{16}",'
                         r'"atime":"[^"]+","version":"1","size":"10","flags":64\}\],"flags":0\}\n$')
        d = r.json()
        uuid = d["uuid"]
        for i, e in enumerate(d["entries"]):
            self.assertEqual(e["checksum"], hexsum("xxhash2", ref_bytes(100 + i, 0, self.sizes[i])))
            self.assertRegex(e["atime"], RFC822_RE)
        seen = [e["name"] for e in d["entries"]]
        for _ in range(10):
            value.update(uuid=uuid, continuation_token=d["continuation_token"])
            d = lso("lb", value).json()
            self.assertEqual(d["uuid"], uuid)          # echoed
            seen += [e["name"] for e in d["entries"] or []]
            if not d["continuation_token"]:
                break
        self.assertEqual(seen, ["d/%d" % i for i in range(5)])
        self.assertEqual(d["entries"][-1]["size"], "3")

    def test_full_last_page_then_empty(self):
        names, pages = list_all("lb", prefix="d/", pagesize=5)
        self.assertEqual(len(names), 5)
        self.assertEqual([p["continuation_token"] for p in pages], ["d/4", ""])
        self.assertIsNone(pages[1]["entries"])           # "entries":null
        names, pages = list_all("lb", prefix="d/", pagesize=3)
        self.assertEqual([p["continuation_token"] for p in pages], ["d/2", ""])
        self.assertEqual(len(pages[1]["entries"]), 2)

    def test_default_props_and_props(self):
        d = lso("lb", {"prefix": "d/"}).json()
        self.assertEqual(d["entries"][1], {"name": "d/1", "size": "10", "flags": 64})
        self.assertEqual(d["entries"][0], {"name": "d/0", "flags": 64})
        d = lso("lb", {"prefix": "d/", "props": "name"}).json()
        self.assertEqual(d["entries"][1], {"name": "d/1", "flags": 64})
        # unknown props are ignored (LsoMsg.WantProp is strings.Contains), not rejected
        r = lso("lb", {"prefix": "d/", "props": "name,bogus,copies,location"})
        self.assertEqual(r.status, 200)
        e = r.json()["entries"][1]
        self.assertEqual((e["copies"], e["flags"]), (1, 64))
        self.assertRegex(e["location"], r"^t\[t[1-3]\]:mp\[")
        self.assertNotIn("size", e)
        # chunked objects carry EntryIsChunked
        d = lso("lb", {"prefix": "e/", "props": "name,size"}).json()
        self.assertEqual(d["entries"], [{"name": "e/chunky", "size": "3000", "flags": 64 | 8192},
                                        {"name": "e/mem", "size": "5", "flags": 64}])
        # "easy URL": no body, no JSON content type
        r = request("GET", "%s/v1/buckets/lb?provider=ais" % EMU.url, AUTH)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json()["entries"]), 7)

    def test_prefix_and_start_after(self):
        names, _ = list_all("lb", prefix="d/")
        self.assertEqual(names, [b"d/%d" % i for i in range(5)])
        names, _ = list_all("lb", prefix="e*")                  # trailing '*' is dropped
        self.assertEqual(names, [b"e/chunky", b"e/mem"])
        names, _ = list_all("lb", prefix="d/", start_after="d/2")
        self.assertEqual(names, [b"d/3", b"d/4"])
        names, _ = list_all("lb", prefix="nothing/")
        self.assertEqual(names, [])
        # a token past the prefix range and a token before it
        d = lso("lb", {"prefix": "d/", "continuation_token": "d/9"}).json()
        self.assertEqual((d["entries"], d["continuation_token"]), (None, ""))
        d = lso("lb", {"prefix": "d/", "continuation_token": "c"}).json()
        self.assertEqual(len(d["entries"]), 5)

    def test_bytewise_order_and_raw_names(self):
        ctl("DELETE", "buckets/ub")
        raw = [b"z", "\u00e9".encode(), "\ue000".encode(), b"\xffbad", b"a\xc3", b"q\"uo\\te\nx\x01\x7f<&>"]
        for n in raw:
            st, _ = ctl("PUT", "objects/ub/%s" % urllib.parse.quote(n, safe=""), body=b"x")
            self.assertEqual(st, 200)
        r = lso("ub", {"props": "name"})
        want = sorted(raw)                               # bytewise, as Go compares strings
        self.assertEqual([e["name"] for e in json_bytes(r.body)["entries"]], want)
        # json-iterator (EscapeHTML false) copies invalid UTF-8 bytes as they are
        self.assertIn(b'"name":"\xffbad"', r.body)
        self.assertIn(b'"name":"a\xc3"', r.body)
        self.assertIn(b'"name":"\xee\x80\x80"', r.body)
        self.assertIn(b'"name":"q\\"uo\\\\te\\nx\\u0001\x7f<&>"', r.body)
        # the raw token round-trips
        d = json_bytes(lso("ub", {"props": "name", "pagesize": 4}).body)
        tok = d["continuation_token"]
        self.assertEqual(tok.encode("utf-8", "surrogateescape"), want[3])
        body = json.dumps({"action": "list", "value": {"props": "name", "continuation_token": tok}},
                          ensure_ascii=False).encode("utf-8", "surrogateescape")
        r2 = lso("ub", body=body)
        self.assertEqual([e["name"] for e in json_bytes(r2.body)["entries"]], want[4:])
        # Go encoding/json instead: U+FFFD per bad byte, HTML and U+2028 escapes
        try:
            self.assertEqual(ctl("POST", "config", {"list_json": "encoding/json"})[0], 200)
            r = lso("ub", {"props": "name"})
            self.assertIn(b'"name":"\\ufffdbad"', r.body)
            self.assertIn(b'"name":"a\\ufffd"', r.body)
            self.assertIn(b'"name":"q\\"uo\\\\te\\nx\\u0001\x7f\\u003c\\u0026\\u003e"', r.body)
            r.body.decode("utf-8")                       # valid UTF-8 now
        finally:
            ctl("POST", "config", {"list_json": "jsoniter"})
        self.assertEqual(ctl("POST", "config", {"list_json": "latin1"})[0], 400)

    def test_data_dir_and_delete(self):
        bdir = os.path.join(EMU.data_dir, "lfiles")
        os.makedirs(os.path.join(bdir, "x", "y"))
        for rel, data in (("x/y/f1", b"1"), ("x/f2", b"22"), ("top", b"333")):
            with open(os.path.join(bdir, *rel.split("/")), "wb") as f:
                f.write(data)
        put_mem("lfiles", "x/mem", b"4444")
        names, pages = list_all("lfiles", props="name,size")
        self.assertEqual(names, [b"top", b"x/f2", b"x/mem", b"x/y/f1"])
        self.assertEqual([e["size"] for e in pages[0]["entries"]], [b"3", b"2", b"4", b"1"])
        self.assertEqual(ctl("DELETE", "objects/lfiles/x/f2")[0], 200)
        self.assertEqual(ctl("DELETE", "objects/lfiles/x/mem")[0], 200)
        names, _ = list_all("lfiles")
        self.assertEqual(names, [b"top", b"x/y/f1"])
        # objects deleted in the middle of a listing are skipped; pages stay full
        bulk(bucket="ldel", count=10, size=1)
        d = lso("ldel", {"pagesize": 3}).json()
        for i in (3, 4, 8):
            self.assertEqual(ctl("DELETE", "objects/ldel/%d" % i)[0], 200)
        d2 = lso("ldel", {"pagesize": 3, "uuid": d["uuid"], "continuation_token": "2"}).json()
        self.assertEqual([e["name"] for e in d2["entries"]], ["5", "6", "7"])

    def test_no_recursion(self):
        ctl("DELETE", "buckets/nr")
        for n in ("a/1", "a/b/2", "a/b/c/3", "a/d/4", "a1", "b/5", "top"):
            put_mem("nr", n, b"x")
        names, pages = list_all("nr", flags=str(2048), props="name")
        self.assertEqual(names, [b"a/", b"a1", b"b/", b"top"])
        self.assertEqual([e["flags"] for e in pages[0]["entries"]], [256, 64, 256, 64])
        names, _ = list_all("nr", flags="2048", prefix="a/")
        self.assertEqual(names, [b"a/1", b"a/b/", b"a/d/"])
        names, _ = list_all("nr", flags="2048", prefix="a/b")
        self.assertEqual(names, [b"a/b/2", b"a/b/c/"])
        names, _ = list_all("nr", flags=str(2048 | 8192))          # LsNoDirs
        self.assertEqual(names, [b"a1", b"top"])
        names, pages = list_all("nr", flags="2048", pagesize=1)     # a dir per page
        self.assertEqual(names, [b"a/", b"a1", b"b/", b"top"])
        self.assertEqual(len(pages), 5)

    def test_time_format(self):
        d = lso("lb", {"prefix": "e/mem", "props": "atime",
                       "time_format": "2006-01-02T15:04:05.000Z07:00|Mon Jan _2|.999x"}).json()
        self.assertRegex(d["entries"][0]["atime"],
                         r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}"
                         r"(Z|[+-][0-9]{2}:[0-9]{2})\|[A-Z][a-z]{2} [A-Z][a-z]{2} [ 123][0-9]\|"
                         r"(\.[0-9]{0,3})?x$")

    def test_msgpack(self):
        r = lso("lb", {"prefix": "d/", "props": "name,size,version,checksum", "pagesize": 4},
                headers={"Accept": "application/msgpack"})
        self.assertEqual((r.status, r.h("Content-Type")), (200, "application/msgpack"))
        d = mp_decode(r.body)
        self.assertEqual(list(d), [b"UUID", b"ContinuationToken", b"Entries", b"Flags"])
        self.assertEqual(d[b"ContinuationToken"], b"d/3")
        self.assertEqual(d[b"Flags"], 0)
        e = d[b"Entries"]
        self.assertEqual(list(e[0]), [b"n", b"cs", b"v", b"f"])       # size 0 left out
        self.assertEqual((e[2][b"n"], e[2][b"s"], e[2][b"v"], e[2][b"f"]), (b"d/2", 5000, b"1", 64))
        self.assertEqual(e[3][b"s"], 70000)
        self.assertEqual(r.body[-7:], b"\xa5Flags\x00")
        # a large msgpack page is sent chunked (no Content-Length), as Go's net/http does
        bulk(bucket="mpbig", count=300, size=1)
        r = lso("mpbig", {"props": "name,size"}, headers={"Accept": "text/plain, application/msgpack;q=1"})
        self.assertIsNone(r.h("Content-Length"))
        self.assertEqual(r.h("Transfer-Encoding"), "chunked")
        self.assertEqual(len(mp_decode(r.body)[b"Entries"]), 300)
        self.assertEqual(mp_decode(r.body)[b"Entries"][299], {b"n": b"299", b"s": 1, b"f": 64})

    def check_err(self, r, status, contains, tcode=None):
        self.assertEqual(r.status, status, r.body)
        d = r.json()
        self.assertEqual(d["status"], status)
        self.assertIn(contains, d["message"])
        if tcode is None:
            self.assertNotIn("tcode", d)
        else:
            self.assertEqual(d["tcode"], tcode)

    def test_errors(self):
        self.check_err(lso("no-such-bucket"), 404, 'bucket "ais://no-such-bucket" does not exist',
                       "ErrBckNotFound")
        self.check_err(lso("lb", {"flags": 0}), 400, "Flags")
        self.check_err(lso("lb", {"page_size": 10}), 400, "unknown field: page_size")
        self.check_err(lso("lb", {"pagesize": "10"}), 400, "PageSize")
        self.check_err(lso("lb", {"prefix": "a/../b"}), 400, "invalid prefix")
        self.check_err(lso("lb", {"flags": "512"}), 400, "not a remote bucket")
        self.check_err(lso("lb", body=b'{"action":"summary","value":{}}'), 400, "invalid action")
        self.check_err(lso("lb", body=b'{"action":"list","value":'), 400, "action message")
        self.check_err(lso("lb", body=b'{"action":"list","value":null}'), 501, "list-buckets")
        self.assertEqual(lso("lb", auth=False).status, 401)
        self.assertEqual(lso("lb", {"PageSize": 1}).status, 200)   # case-insensitive names
        # keep-alive survives error answers
        conn = http.client.HTTPConnection(EMU.host, EMU.port, timeout=TIMEOUT)
        try:
            self.assertEqual(lso("lb", {"flags": 1.5}, conn=conn).status, 400)
            self.assertEqual(lso("lb", {"pagesize": 1}, conn=conn).status, 200)
        finally:
            conn.close()

    def test_remote_provider_page_size(self):
        bulk(bucket="rl", provider="aws", count=1500, size=0)
        r = lso("rl", {"props": "name"}, query="provider=aws")
        d = r.json()
        self.assertEqual((len(d["entries"]), d["continuation_token"]), (1000, "0999"))
        d = lso("rl", {"props": "name", "pagesize": 5000}, query="provider=s3").json()
        self.assertEqual(len(d["entries"]), 1000)
        self.check_err(lso("rl", {"start_after": "0001"}, query="provider=aws"), 400, "start_after")
        self.assertEqual(lso("rl", {}, query="provider=gcp").status, 404)

    def test_faults(self):
        bulk(bucket="lf", count=6, size=1)
        f = add_fault(method="LIST", bucket="lf", kind="status", code=503, retry_after=2, nth=2)
        self.assertEqual(f["node"], "proxy")
        d = lso("lf", {"pagesize": 2}).json()
        value = {"pagesize": 2, "uuid": d["uuid"], "continuation_token": d["continuation_token"]}
        r = lso("lf", value)
        self.assertEqual((r.status, r.h("Retry-After")), (503, "2"))
        r = lso("lf", value)                              # fired once: the retry works
        self.assertEqual(r.status, 200)
        self.assertEqual([e["name"] for e in r.json()["entries"]], ["2", "3"])
        # token filter + reset before any header
        clear_faults()
        add_fault(method="LIST", bucket="lf", token="3", kind="reset", after_bytes=-1)
        self.assertEqual(lso("lf", {"pagesize": 2}).status, 200)
        with self.assertRaises((OSError, http.client.HTTPException)):
            lso("lf", {"pagesize": 2, "continuation_token": "3"})
        self.assertEqual(lso("lf", {"pagesize": 2, "continuation_token": "3"}).status, 200)
        # short: a truncated body after 20 bytes, then FIN
        clear_faults()
        add_fault(method="LIST", prefix="", bucket="lf", kind="short", after_bytes=20)
        st, hd, body, how = raw_get("%s/v1/buckets/lf?provider=ais" % EMU.url, AUTH)
        self.assertEqual((st, len(body), how), (200, 20, "eof"))
        self.assertGreater(int(hd["content-length"]), 20)
        # stall and delay
        clear_faults()
        add_fault(method="LIST", bucket="lf", kind="stall", seconds=0.4, after_bytes=10)
        add_fault(method="LIST", bucket="lf", kind="delay", ms=200)
        t0 = time.monotonic()
        r = lso("lf", {})
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.55)
        self.assertEqual(len(r.json()["entries"]), 6)
        # a GET fault does not fire on LIST, a LIST fault not on GET
        clear_faults()
        add_fault(bucket="lf", kind="status", node="proxy", code=500, count=-1)
        self.assertEqual(lso("lf", {}).status, 200)
        clear_faults()
        add_fault(method="LIST", kind="status", code=500, count=-1)
        self.assertEqual(via_proxy("HEAD", "lf", "1")[0].status, 307)
        self.assertEqual(lso("lf", {}).status, 500)
        clear_faults()
        for bad in ({"method": "LIST", "kind": "overwrite"}, {"method": "LIST", "kind": "full200"},
                    {"method": "LIST", "kind": "status", "object": "x"},
                    {"method": "LIST", "kind": "status", "node": "target"},
                    {"method": "GET", "kind": "status", "token": "x"},
                    {"method": "LIST", "kind": "status", "prefix": 3},
                    {"method": "PUT", "kind": "status"}):
            self.assertEqual(ctl("POST", "faults", bad)[0], 400, bad)

    def test_bulk_api(self):
        ans = bulk(bucket="bk", prefix="p/", count=12, start=5, size=7, seed="0x10")
        self.assertEqual((ans["created"], ans["first"], ans["last"]), (12, "p/05", "p/16"))
        st, meta = ctl("GET", "objects/bk/p/06")
        self.assertEqual((meta["kind"], meta["size"], meta["seed"], meta["version"]), ("gen", 7, 17, "1"))
        ans = bulk(bucket="bk", names=["n1", "n2"], sizes=[1, 2], cksum="md5")
        st, meta = ctl("GET", "objects/bk/n2")
        self.assertEqual((meta["size"], meta["cksum_type"]), (2, "md5"))
        ans = bulk(bucket="bk", prefix="p/", count=1, start=5, width=2, size=1)
        self.assertEqual(ctl("GET", "objects/bk/p/05")[1]["version"], "2")
        for bad in ({"count": 3}, {"bucket": "bk"}, {"bucket": "bk", "count": 0},
                    {"bucket": "bk", "count": 3, "size": -1}, {"bucket": "bk", "count": 3, "sizes": []},
                    {"bucket": "bk", "count": 20, "width": 0, "prefix": "w", "start": 5, "names": None,
                     "size": 1, "cksum": "nope"},
                    {"bucket": "bk", "names": ["a", "a"]}, {"bucket": "b/k", "count": 1}):
            self.assertEqual(ctl("POST", "objects/bulk", bad)[0], 400, bad)
        self.assertEqual(ctl("DELETE", "buckets/bk"), (200, {"deleted": 14}))
        self.assertEqual(lso("bk").status, 404)

    def test_100k(self):
        ctl("DELETE", "buckets/huge")
        t0 = time.monotonic()
        bulk(bucket="huge", prefix="obj-", count=100000, sizes=[0, 1, 4096, 100000])
        self.assertLess(time.monotonic() - t0, 30)
        ctl("POST", "stats/reset")
        t0 = time.monotonic()
        names, pages = list_all("huge", max_pages=20, props="name,size")
        dt = time.monotonic() - t0
        self.assertEqual(len(names), 100000)
        self.assertEqual(names, [b"obj-%05d" % i for i in range(100000)])
        # 10 full pages of the default 10000, then an empty last page
        self.assertEqual([len(p["entries"] or []) for p in pages], [10000] * 10 + [0])
        self.assertEqual(pages[3]["entries"][2], {"name": b"obj-30002", "size": b"4096", "flags": 64})
        self.assertLess(dt, 30)
        self.assertEqual(ctl("GET", "stats")[1]["proxy"]["LIST"], 11)
        # a prefix listing deep in the bucket is fast too
        t0 = time.monotonic()
        names, _ = list_all("huge", prefix="obj-9999")
        self.assertEqual(names, [b"obj-9999%d" % i for i in range(10)])
        self.assertLess(time.monotonic() - t0, 5)
        ctl("DELETE", "buckets/huge")


class T12Lifecycle(unittest.TestCase):
    def test_sigterm_and_ready_file(self):
        e = Emu()
        try:
            with open(e.ready_file) as f:
                self.assertEqual(f.read(), e.url + "\n")
            self.assertEqual(request("GET", e.url + "/_emu/stats").status, 200)
            e.proc.send_signal(signal.SIGTERM)
            self.assertEqual(e.proc.wait(TIMEOUT), 0)
        finally:
            e.stop()

    def test_stdin_eof(self):
        e = Emu()
        try:
            e.proc.stdin.close()
            self.assertEqual(e.proc.wait(TIMEOUT), 0)
            with self.assertRaises(OSError):
                socket.create_connection((e.host, e.port), timeout=TIMEOUT).close()
        finally:
            e.stop()


if __name__ == "__main__":
    prog = unittest.main(exit=False, verbosity=2)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
