#!/usr/bin/python3
"""A model of AIStore's own parallel reader (the Python SDK's
`object.get_reader(num_workers=N)`), for the straggler comparison only.

The SDK cannot be installed here, so this reproduces its scheduling with the
standard library: HEAD through the proxy; a ring of exactly num_workers slots in
/dev/shm; a fork-based process pool of num_workers workers; chunk i goes to slot
i % num_workers; the first num_workers ranges are submitted at once, and the
next range is submitted only after the consumer has taken the oldest one (so
the window never passes a slow range); every range goes through the proxy
again (301, then the target); the worker copies the answer into its slot in
32 KiB pieces and the consumer copies each slot out once.  Output goes to
/dev/null.

    sdk_model.py -e ENDPOINT -n N -c CHUNK ais://BUCKET/OBJECT
"""
import argparse
import http.client
import multiprocessing as mp
import os
import sys
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

PIECE = 32 * 1024
_state = {}


def _conn(netloc):
    c = _state.setdefault("conns", {}).get(netloc)
    if c is None:
        host, _, port = netloc.partition(":")
        c = http.client.HTTPConnection(host, int(port or 80), timeout=60)
        _state["conns"][netloc] = c
    return c


def request(method, url, headers, follow=True):
    for _ in range(5):
        u = urllib.parse.urlsplit(url)
        c = _conn(u.netloc)
        path = u.path + ("?" + u.query if u.query else "")
        c.request(method, path, headers=headers)
        r = c.getresponse()
        if follow and r.status in (301, 302, 307, 308):
            r.read()
            url = r.getheader("Location")
            continue
        return r
    raise RuntimeError("too many redirects")


def _init(shm_name, num_slots):
    _state["shm"] = shared_memory.SharedMemory(name=shm_name)
    _state["slots"] = num_slots
    _state["conns"] = {}


def _fetch(url, idx, start, end, slot_size):
    shm = _state["shm"]
    off = (idx % _state["slots"]) * slot_size
    r = request("GET", url, {"Range": "bytes=%d-%d" % (start, end - 1)})
    n = 0
    while True:
        b = r.read(PIECE)
        if not b:
            break
        shm.buf[off + n:off + n + len(b)] = b
        n += len(b)
    if r.status != 206:
        raise RuntimeError("HTTP %d" % r.status)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-e", "--endpoint", required=True)
    ap.add_argument("-n", "--num-workers", type=int, default=16)
    ap.add_argument("-c", "--chunk-size", type=int, default=8 << 20)
    ap.add_argument("uri")
    a = ap.parse_args()
    prov, _, rest = a.uri.partition("://")
    bucket, _, obj = rest.partition("/")
    url = "%s/v1/objects/%s/%s?provider=%s" % (a.endpoint.rstrip("/"), urllib.parse.quote(bucket),
                                                urllib.parse.quote(obj), prov or "ais")
    _state["conns"] = {}
    h = request("HEAD", url + "&props=chunked", {})
    h.read()
    size = int(h.getheader("Content-Length"))
    cs = a.chunk_size
    ranges = [(p, min(p + cs, size)) for p in range(0, size, cs)]
    slots = min(a.num_workers, len(ranges))
    if not slots:
        return 0
    shm = shared_memory.SharedMemory(create=True, size=slots * cs)
    out = os.open("/dev/null", os.O_WRONLY)
    total = 0
    try:
        with ProcessPoolExecutor(max_workers=slots, mp_context=mp.get_context("fork"),
                                 initializer=_init, initargs=(shm.name, slots)) as ex:
            fut = {i: ex.submit(_fetch, url, i, ranges[i][0], ranges[i][1], cs) for i in range(slots)}
            nxt = slots
            for i in range(len(ranges)):
                n = fut.pop(i).result()
                off = (i % slots) * cs
                data = bytes(shm.buf[off:off + n])     # the SDK's one copy out per chunk
                os.write(out, data)
                total += n
                if nxt < len(ranges):
                    fut[nxt] = ex.submit(_fetch, url, nxt, ranges[nxt][0], ranges[nxt][1], cs)
                    nxt += 1
    finally:
        shm.close()
        shm.unlink()
    if total != size:
        print("sdk_model: got %d of %d bytes" % (total, size), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
