#!/usr/bin/python3
"""Runs several commands at once and times each (scenario d: concurrent readers).

    multi.py --timeout SECONDS COMMANDS.json

COMMANDS.json is a list of argument lists.  All are started together; each
one's stdout is kept.  Prints one JSON object: per command its start and end
(CLOCK_MONOTONIC ns), exit status and the last 2000 characters of its stdout.
A command still running after SECONDS is killed (SIGKILL to its process
group) and has rc -9.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time


def main():
    if len(sys.argv) != 4 or sys.argv[1] != "--timeout":
        sys.exit("usage: multi.py --timeout SECONDS COMMANDS.json")
    limit = float(sys.argv[2])
    cmds = json.load(open(sys.argv[3]))
    runs = []
    for cmd in cmds:
        out = tempfile.TemporaryFile()
        t0 = time.monotonic_ns()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        runs.append({"p": p, "out": out, "t_start_ns": t0, "t_end_ns": None, "rc": None})
    bypid = {r["p"].pid: r for r in runs}

    def expire(sig, frame):
        raise TimeoutError()
    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    left = len(runs)
    try:
        while left:
            pid, status = os.wait()      # blocks until the next reader ends
            r = bypid.get(pid)
            if r is None:
                continue
            r["t_end_ns"] = time.monotonic_ns()
            r["rc"] = os.waitstatus_to_exitcode(status)
            r["p"].returncode = r["rc"]
            left -= 1
    except TimeoutError:
        for r in runs:
            if r["rc"] is None:
                try:
                    os.killpg(r["p"].pid, signal.SIGKILL)
                except OSError:
                    pass
                r["p"].wait()
                r["rc"] = -9
                r["t_end_ns"] = time.monotonic_ns()
    signal.setitimer(signal.ITIMER_REAL, 0)
    res = []
    for r in runs:
        r["out"].seek(0)
        text = r["out"].read().decode(errors="replace")
        res.append({"t_start_ns": r["t_start_ns"], "t_end_ns": r["t_end_ns"], "rc": r["rc"],
                    "stdout": text[-2000:]})
    print(json.dumps(res))


if __name__ == "__main__":
    main()
