#!/usr/bin/python3
"""The benchmark suite: aissrc and aisfetch against curl, aria2c and souphttpsrc.

Started by tests/bench/run.sh, which builds everything first.  This script
makes two network namespaces joined by a delay link (tests/bench/delaylink.c),
starts its servers in one (nginx, the AIStore emulator) and runs the clients
in the other, makes its objects, runs every scenario with the peers
interleaved round by round, takes medians, and writes docs/bench/results.json,
docs/bench/*.csv, the plots docs/bench/*.png and docs/benchmarks.md.

The link: the client's packets to the server (requests and ACKs) cross two TUN
devices and the forwarder, which holds each for the whole round trip; the
server's packets come back over a veth pair (--link asym, the default).  TCP
sees the round trip on every segment (slow start, windows, the bandwidth-delay
product), and the data never crosses user space, so the link is not what
limits the client.  --link sym sends both directions through the forwarder,
half the round trip each (it costs about a core per GB/s here: its ceiling is
measured in the ceiling scenario).

Every measured command runs under treemon (CPU of the whole process tree,
peak memory summed over the tree, wall time) and has a time limit.
"""
import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

MiB = 1 << 20
GiB = 1 << 30
CHUNK = 8 * MiB
WORKERS = [1, 2, 4, 8, 16, 32]
RATE_B = 50e6          # per-connection cap of scenarios b, d and straggler, bytes/s
RTT_B_MS = 10
RTT_C_MS = 40
RTT_D_MS = 10
D_READERS = 16         # scenario d: concurrent readers of one object each
D_WORKERS = 4          # ... with this many workers (connections) each
# the namespaces' addresses: nothing outside the two namespaces the benchmark
# makes (and removes) can reach them; neither namespace has a default route
CLIENT_IP = "10.77.1.1"
SERVER_IP = "10.77.2.1"
VETH_C, VETH_S = "10.78.0.1", "10.78.0.2"
STRAGGLER_RATE = 5e6
MANY_RTT_MS = 10       # the many-objects scenario: b's round trip and per-connection cap
M1_COUNT, M1_SIZE = 1000, MiB        # many-1m: a prefix of 1000 objects of 1 MiB
M64_COUNT, M64_SIZE = 100, 64 * MiB  # many-64m: 100 of 64 MiB, and one object of all their bytes
MANY_WORKERS = [16, 32]
MEM_SLACK = 40e6       # the memory goal: slots x chunk + 40 MB

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SDK_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdk_model.py")


def log(*a):
    print("[bench %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def ip_cmd(*args):
    r = sh(["ip"] + list(args))
    if r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stdout.strip()))


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.build = os.path.abspath(args.build)
        self.tools = os.path.join(self.build, "bench")
        self.out = os.path.join(ROOT, "docs", "bench")
        self.runs = []          # every single measurement
        self.procs = []         # servers
        self.ns_c = self.ns_s = None
        self.link_mode = args.link
        self.link = None          # the forwarder (Popen)
        self.link_rtt = None
        self.link_stats = []      # per link period: rtt, mode, the forwarder's counters
        self.work = None
        self.disturbed = 0
        rev = sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = sh(["git", "-C", ROOT, "status", "--porcelain", "--", "lib", "gst", "tools"]).stdout.strip()
        self.source = rev + (" + uncommitted changes in lib/, gst/ or tools/" if dirty else "")
        self.load_start = os.getloadavg()
        self.env = dict(os.environ)
        self.env["AISFETCH_WORKER"] = os.path.join(self.build, "lib", "aisfetch-worker")
        self.env["GST_PLUGIN_PATH"] = os.path.join(self.build, "gst")
        self.env["GST_REGISTRY"] = os.path.join(self.build, "bench", "gst-registry.bin")
        self.env.pop("AIS_ENDPOINT", None)
        self.env.pop("AIS_AUTHN_TOKEN", None)
        self.env.pop("http_proxy", None)
        self.env.pop("HTTP_PROXY", None)
        self.aisfetch = os.path.join(self.build, "tools", "aisfetch")
        self.have_aissrc = os.path.exists(os.path.join(self.build, "gst", "libgstaistore.so"))
        n = 2 if self.quick else 5
        self.rounds = args.rounds or n
        # the fast scenarios get more rounds: their runs are short and single streams vary most
        self.rounds_fast = args.rounds or (3 if self.quick else 7)
        self.size_a = (512 * MiB if self.quick else GiB)
        self.size_b = (256 * MiB if self.quick else GiB)
        self.size_c = (512 * MiB if self.quick else GiB)
        self.size_s = (512 * MiB if self.quick else GiB)
        self.size_d = (64 * MiB if self.quick else 256 * MiB)
        self.d_rounds = 1 if self.quick else 3
        self.small_rounds = 5 if self.quick else 11
        self.mem_rounds = 1 if self.quick else 3

    # ---------------------------------------------------------------- setup
    def wrap(self, cmd):
        """Runs cmd in the clients' network namespace."""
        return ["ip", "netns", "exec", self.ns_c] + cmd

    def wrap_srv(self, cmd):
        """Runs cmd in the servers' network namespace."""
        return ["ip", "netns", "exec", self.ns_s] + cmd

    def setup_link(self):
        """Two namespaces, clients and servers, and the delay link between them.

        Client -> server: the TUN device al0 in each namespace, joined by the
        forwarder.  Server -> client: a veth pair (asym), or al0 too (sym)."""
        tag = "%d" % os.getpid()
        self.ns_c, self.ns_s = "aisb-c-" + tag, "aisb-s-" + tag
        with open(os.path.join(self.work, "netns"), "w") as f:
            f.write(self.ns_c + "\n" + self.ns_s + "\n")
        c, s_ = self.ns_c, self.ns_s
        for ns, addr in ((c, CLIENT_IP), (s_, SERVER_IP)):
            ip_cmd("netns", "add", ns)
            ip_cmd("-n", ns, "link", "set", "lo", "up")
            ip_cmd("-n", ns, "addr", "add", addr + "/32", "dev", "lo")
            ip_cmd("-n", ns, "tuntap", "add", "dev", "al0", "mode", "tun", "vnet_hdr")
            ip_cmd("-n", ns, "link", "set", "al0", "up")
            # replies come in on another device than the one that routes to the peer
            for k in ("all", "default", "lo", "al0"):
                sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % k])
            # each run starts from the same TCP state (no cached ssthresh or RTT)
            sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_no_metrics_save=1"])
        ip_cmd("link", "add", "aisb-v%s" % tag[-6:], "netns", c, "type", "veth",
               "peer", "name", "aisb-w%s" % tag[-6:], "netns", s_)
        ip_cmd("-n", c, "link", "set", "aisb-v%s" % tag[-6:], "name", "vc")
        ip_cmd("-n", s_, "link", "set", "aisb-w%s" % tag[-6:], "name", "vs")
        ip_cmd("-n", c, "addr", "add", VETH_C + "/30", "dev", "vc")
        ip_cmd("-n", s_, "addr", "add", VETH_S + "/30", "dev", "vs")
        for ns, dev in ((c, "vc"), (s_, "vs")):
            ip_cmd("-n", ns, "link", "set", dev, "up")
            sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % dev])
        ip_cmd("-n", c, "route", "add", SERVER_IP + "/32", "dev", "al0", "src", CLIENT_IP)
        self.set_link_mode(self.link_mode)
        self.set_rtt(0, "setup")
        self.tcp = {k: sh(["ip", "netns", "exec", s_, "sysctl", "-n", "net.ipv4." + k]).stdout.strip()
                    for k in ("tcp_wmem", "tcp_rmem", "tcp_congestion_control")}
        log("link: clients in %s (%s), servers in %s (%s), %s; server TCP %s" % (
            c, CLIENT_IP, s_, SERVER_IP, self.link_mode, self.tcp))

    def set_link_mode(self, mode):
        """asym: the server's packets come back over the veth; sym: over the link."""
        if mode == "asym":
            ip_cmd("-n", self.ns_s, "route", "replace", CLIENT_IP + "/32", "via", VETH_C, "dev", "vs",
                   "src", SERVER_IP)
        else:
            ip_cmd("-n", self.ns_s, "route", "replace", CLIENT_IP + "/32", "dev", "al0", "src", SERVER_IP)
        self.link_mode = mode

    def stop_link(self):
        if not self.link:
            return
        p, self.link = self.link, None
        p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        dirs = []
        for ln in out.splitlines():
            if ln.startswith("{"):
                dirs.append(json.loads(ln))
        self.link_stats.append({"rtt_ms": self.link_rtt, "mode": self.link_mode, "scenario": self.link_scen,
                                "dirs": dirs})

    def set_rtt(self, ms, scenario="", mode=None):
        """The round trip of the scenario about to run: a new forwarder with its delay."""
        mode = mode or self.args.link
        if self.link and self.link_rtt == ms and self.link_mode == mode and self.link_scen == scenario:
            return
        self.stop_link()
        if mode != self.link_mode:
            self.set_link_mode(mode)
        delay_us = ms * 1000.0 if mode == "asym" else ms * 500.0
        cmd = [os.path.join(self.tools, "delaylink"), "--a", self.ns_c + ":al0", "--b", self.ns_s + ":al0",
               "--delay-us", "%g" % delay_us, "--exit-on-stdin-eof"]
        # real time, so that a busy CPU does not stretch the round trip: the link is not
        # one of the processes competing for this machine's two cores
        if shutil.which("chrt"):
            cmd = ["chrt", "-f", "5"] + cmd
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             stderr=open(os.path.join(self.work, "link.stderr"), "a"), start_new_session=True)
        with open(os.path.join(self.work, "pids"), "a") as f:
            f.write("%d\n" % p.pid)
        if p.stdout.readline().strip() != "ready":
            sys.exit("delaylink did not start: " + open(os.path.join(self.work, "link.stderr")).read()[-500:])
        self.link, self.link_rtt, self.link_scen = p, ms, scenario
        self.link_pid = p.pid

    def link_ticks(self):
        try:
            with open("/proc/%d/stat" % self.link_pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError, AttributeError):
            return 0

    def make_file(self, path, size):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        block = random.Random(size).randbytes(16 * MiB)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n

    def start_nginx(self):
        d = os.path.join(self.work, "nginx")
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        self.www = os.path.join(self.work, "www")
        objdir = os.path.join(self.www, "v1", "objects", "bench")
        self.objects = {}
        for name, size in (("obj-a", self.size_a), ("obj-b", self.size_b), ("obj-c", self.size_c),
                           ("small-64k", 64 * 1024), ("small-1m", MiB)):
            if name in ("obj-c",) and self.size_c == self.size_a:
                os.link(os.path.join(objdir, "obj-a"), os.path.join(objdir, name))
            else:
                self.make_file(os.path.join(objdir, name), size)
            self.objects[name] = size
        # scenario d: one object per reader (links of one file: the server reads from memory anyway)
        self.make_file(os.path.join(objdir, "d-00"), self.size_d)
        self.objects["d-00"] = self.size_d
        for i in range(1, D_READERS):
            os.link(os.path.join(objdir, "d-00"), os.path.join(objdir, "d-%02d" % i))
            self.objects["d-%02d" % i] = self.size_d
        # the round trip is the link's; b and d add nginx's per-connection cap.  Socket
        # buffers are Linux's defaults (autotuned), as on a cluster's targets
        self.port = {k: free_port() for k in ("a", "b", "c")}

        def shaped(port, rate):
            lines = [" server {", "  listen %s:%d;" % (SERVER_IP, port), "  root %s;" % self.www]
            if rate:
                lines += ["  location /v1/ { limit_rate %d; }" % rate]
            lines.append(" }")
            return "\n".join(lines)

        conf = "\n".join([
            "daemon off;", "master_process on;", "worker_processes 2;",
            "pid %s/nginx.pid;" % d, "error_log %s/error.log;" % d,
            "events { worker_connections 4096; }",
            "http {", " access_log off;", " sendfile on;", " tcp_nopush on;",
            " keepalive_requests 100000;", " keepalive_timeout 120s;",
            " client_body_temp_path %s/tmp; proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;" % (d, d, d),
            " uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;" % (d, d),
            shaped(self.port["a"], 0),
            shaped(self.port["b"], int(RATE_B)),
            shaped(self.port["c"], 0),
            "}", ""])
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        p = subprocess.Popen(self.wrap_srv(["nginx", "-c", path, "-p", d]), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "stderr"), "w"),
                             start_new_session=True)
        self.register(p, "nginx")
        self.nginx_version = sh(["nginx", "-v"]).stdout.strip()
        for k in ("a", "b", "c"):
            self.wait_http("http://%s:%d/v1/objects/bench/small-64k" % (SERVER_IP, self.port[k]), p)
        log("nginx on ports a=%d b=%d c=%d" % (self.port["a"], self.port["b"], self.port["c"]))

    def start_emulator(self):
        ready = os.path.join(self.work, "emu.ready")
        cmd = ["/usr/bin/python3", os.path.join(ROOT, "tools", "ais-emulator.py"), "--host", SERVER_IP, "--port", "0",
               "--targets", "3", "--quiet", "--ready-file", ready, "--exit-on-stdin-eof"]
        p = subprocess.Popen(self.wrap_srv(cmd), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.work, "emu.stderr"), "w"),
                             start_new_session=True)
        self.register(p, "emulator")
        self.emu_stdin = p.stdin
        for _ in range(300):
            if os.path.exists(ready):
                break
            if p.poll() is not None:
                sys.exit("the emulator exited: " + open(os.path.join(self.work, "emu.stderr")).read())
            time.sleep(0.05)
        else:
            sys.exit("the emulator did not start")
        self.emu = open(ready).read().strip()
        log("emulator at " + self.emu)

    def register(self, p, name):
        self.procs.append((p, name))
        with open(os.path.join(self.work, "pids"), "a") as f:
            f.write("%d\n" % p.pid)

    def wait_http(self, url, proc):
        for _ in range(500):
            if proc.poll() is not None:
                sys.exit("server exited while starting")
            r = subprocess.run(self.wrap(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", url]),
                               stdout=subprocess.PIPE, text=True)
            if r.stdout.strip() == "200":
                return
            time.sleep(0.02)
        sys.exit("server did not answer " + url)

    def emu_call(self, method, path, body=None):
        """The emulator's control API (curl in the servers' namespace: not through the link)."""
        cmd = ["curl", "-s", "-f", "-X", method, self.emu + path]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        r = subprocess.run(self.wrap_srv(cmd), stdout=subprocess.PIPE, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("emulator %s %s failed (%d)" % (method, path, r.returncode))
        return json.loads(r.stdout) if r.stdout.strip() else None

    def stop(self):
        for p, name in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
        for p, name in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
        self.procs = []
        self.stop_link()
        for ns in (self.ns_c, self.ns_s):
            if ns:
                sh(["ip", "netns", "del", ns])
        self.ns_c = self.ns_s = None

    # ------------------------------------------------------------ measuring
    @staticmethod
    def cpu_ticks():
        """(busy, steal) jiffies of the whole machine."""
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        steal = v[7] if len(v) > 7 else 0
        return sum(v[:8]) - idle - steal, steal

    def server_ticks(self):
        """utime + stime jiffies of the servers and their worker processes."""
        pids = []
        for p, _ in self.procs:
            pids.append(p.pid)
            try:
                for t in os.listdir("/proc/%d/task" % p.pid):
                    with open("/proc/%d/task/%s/children" % (p.pid, t)) as f:
                        pids += [int(x) for x in f.read().split()]
            except OSError:
                pass
        tot = 0
        for pid in pids:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                tot += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
        return tot

    def measure(self, cmd, limit_s, pss_ms=200, prepare=None):
        """Runs cmd under treemon; returns (treemon json, stdout of cmd's tree, stderr).

        The CPU the rest of the machine used meanwhile (not the command's tree, not the
        servers; steal time included) is reported as foreign_cores.  A run of more than
        0.2 s disturbed by more than a quarter of a core of foreign work is run again,
        at most twice (prepare() is called before every attempt)."""
        full = [os.path.join(self.tools, "treemon"), "-i", "20", "-t", "%g" % limit_s]
        if pss_ms:
            full += ["-p", str(pss_ms)]
        full += ["--"] + cmd
        hz = os.sysconf("SC_CLK_TCK")
        disturbed = []
        for attempt in range(3):
            if prepare:
                prepare()
            b0, st0 = self.cpu_ticks()
            s0 = self.server_ticks()
            l0 = self.link_ticks()
            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                subprocess.run(self.wrap(full), stdout=out, stderr=err, env=self.env,
                               timeout=limit_s + 60)
                out.seek(0)
                err.seek(0)
                lines = out.read().decode(errors="replace").splitlines()
                errtext = err.read().decode(errors="replace")
            b1, st1 = self.cpu_ticks()
            s1 = self.server_ticks()
            l1 = self.link_ticks()
            tm = None
            other = []
            for ln in lines:
                if ln.startswith("{\"t_start_ns\""):
                    tm = json.loads(ln)
                else:
                    other.append(ln)
            if tm is None:
                raise RuntimeError("treemon gave no result for %s: %s" % (cmd, errtext[-500:]))
            wall = max(tm["wall_s"], 1e-3)
            server = (s1 - s0) / hz
            link = (l1 - l0) / hz
            foreign = max(0.0, ((b1 - b0) + (st1 - st0)) / hz - server - link - tm["user_s"] - tm["sys_s"])
            tm["server_cpu_s"] = server
            tm["link_cpu_s"] = link
            tm["foreign_cores"] = foreign / wall
            tm["steal_cores"] = (st1 - st0) / hz / wall
            if tm["foreign_cores"] <= 0.25 or wall < 0.2 or attempt == 2:
                break
            disturbed.append(round(tm["foreign_cores"], 2))
            self.disturbed += 1
            time.sleep(0.5)
        tm["disturbed_attempts"] = disturbed
        return tm, other, errtext

    def record(self, scenario, tool, workers, rnd, tm, nbytes, extra=None, error=""):
        r = {"scenario": scenario, "tool": tool, "workers": workers, "round": rnd,
             "bytes": nbytes, "wall_s": tm["wall_s"], "cpu_s": tm["user_s"] + tm["sys_s"],
             "user_s": tm["user_s"], "sys_s": tm["sys_s"], "mem_peak": tm["mem_peak"],
             "pss_peak": tm["pss_peak"], "nproc": tm["nproc_peak"], "rc": tm["rc"], "error": error,
             "server_cpu_s": tm.get("server_cpu_s"), "link_cpu_s": tm.get("link_cpu_s"),
             "foreign_cores": tm.get("foreign_cores"),
             "steal_cores": tm.get("steal_cores"), "disturbed_attempts": tm.get("disturbed_attempts")}
        if tm["rc"] != 0 and not error:
            r["error"] = "exit status %d" % tm["rc"]
        # the tree's memory: PSS (shared pages apportioned, so pages a forked worker shares
        # copy-on-write with its parent count once) when it was sampled during the run;
        # for short runs the RSS-based 20 ms samples (an upper bound)
        if tm["pss_peak"] and tm["wall_s"] >= 0.5:
            r["mem"], r["mem_kind"] = tm["pss_peak"], "pss"
        else:
            r["mem"], r["mem_kind"] = tm["mem_peak"], "rss"
        r["mbps"] = nbytes / tm["wall_s"] / 1e6 if tm["wall_s"] > 0 and nbytes and not r["error"] else None
        r["cpu_per_gb"] = r["cpu_s"] / (nbytes / 1e9) if nbytes and not r["error"] else None
        if extra:
            r.update(extra)
        self.runs.append(r)
        if r["error"]:
            log("  %-10s %-12s n=%-3s round %d: FAILED %s" % (scenario, tool, workers, rnd, r["error"]))
        return r

    def limit_for(self, size, rate):
        return max(60.0, 8.0 * size / rate + 30)

    # one transfer of a whole object by one tool
    def run_tool(self, scenario, tool, workers, rnd, url, uri, endpoint, size, rate_hint, pss_ms=200, prepare=None):
        limit = self.limit_for(size, rate_hint)
        extra = {}
        if tool == "curl":
            cmd = ["curl", "-s", "-f", "-o", "/dev/null", url]
        elif tool == "aria2c":
            cmd = ["aria2c", "-x16", "-s16", "-q", "--allow-overwrite=true", "--file-allocation=none",
                   "--auto-file-renaming=false", "--console-log-level=error", "-d", "/dev", "-o", "null", url]
        elif tool == "aisfetch":
            cmd = [self.aisfetch, "-e", endpoint, "-n", str(workers), "-c", str(CHUNK), "-q", "-o",
                   "/dev/null", uri]
        elif tool == "sdk-model":
            cmd = ["/usr/bin/python3", SDK_MODEL, "-e", endpoint, "-n", str(workers), "-c", str(CHUNK), uri]
        elif tool in ("souphttpsrc", "aissrc"):
            if tool == "souphttpsrc":
                src = "souphttpsrc location=%s" % url
            else:
                src = "aissrc location=%s endpoint=%s num-workers=%d chunk-size=%d" % (
                    uri, endpoint, workers, CHUNK)
            cmd = [os.path.join(self.tools, "gstprobe"), "--timeout", "%g" % limit,
                   src + " ! fakesink name=sink"]
        else:
            raise ValueError(tool)
        try:
            tm, out, err = self.measure(cmd, limit, pss_ms, prepare)
        except Exception as e:  # noqa: BLE001 - a failed run is recorded, not fatal
            self.runs.append({"scenario": scenario, "tool": tool, "workers": workers, "round": rnd,
                              "error": str(e)[:300], "mbps": None, "cpu_per_gb": None})
            log("  %s %s n=%s: %s" % (scenario, tool, workers, e))
            return None
        error = ""
        if tool in ("souphttpsrc", "aissrc"):
            g = None
            for ln in out:
                if ln.startswith("{"):
                    g = json.loads(ln)
            if not g:
                error = "gstprobe printed nothing: " + err[-300:]
            else:
                if g["error"]:
                    error = g["error"]
                elif g["bytes"] != size:
                    error = "got %d bytes of %d" % (g["bytes"], size)
                if g["t_first_ns"]:
                    extra["ttfb_ms"] = (g["t_first_ns"] - tm["t_start_ns"]) / 1e6
        elif tm["rc"] != 0:
            error = "exit status %d: %s" % (tm["rc"], err.strip()[-300:])
        return self.record(scenario, tool, workers, rnd, tm, size, extra, error)

    def run_ttfb(self, scenario, tool, rnd, url, uri, endpoint, workers=8):
        """Time to the first byte on stdout (curl, aisfetch): the reader stops at the first byte."""
        if tool == "curl":
            cmd = ["curl", "-s", "-f", "-o", "-", url]
        else:
            cmd = [self.aisfetch, "-e", endpoint, "-n", str(workers), "-c", str(CHUNK), "-q", "-o", "-", uri]
        sink = os.path.join(self.tools, "sink")
        t0 = time.monotonic_ns()
        p1 = subprocess.Popen(self.wrap(cmd), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)
        p2 = subprocess.Popen([sink, "--first"], stdin=p1.stdout, stderr=subprocess.PIPE, text=True)
        p1.stdout.close()
        try:
            _, err = p2.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p2.kill()
            err = ""
        try:
            p1.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p1.kill()
            p1.wait()
        try:
            first = json.loads(err.strip().splitlines()[-1])["first_ns"]
        except (ValueError, IndexError, KeyError):
            first = 0
        r = {"scenario": scenario, "tool": tool, "workers": workers if tool == "aisfetch" else None,
             "round": rnd, "kind": "ttfb", "ttfb_ms": (first - t0) / 1e6 if first else None,
             "error": "" if first else "no first byte", "mbps": None, "cpu_per_gb": None}
        self.runs.append(r)
        return r

    def run_seek(self, scenario, tool, workers, rnd, url, uri, endpoint, size):
        target = size // 2 + 4097
        if tool == "souphttpsrc":
            src = "souphttpsrc location=%s" % url
        else:
            src = "aissrc location=%s endpoint=%s num-workers=%d chunk-size=%d" % (uri, endpoint, workers, CHUNK)
        cmd = [os.path.join(self.tools, "gstprobe"), "--timeout", "120", "--seek-after", str(64 * MiB),
               "--seek-to", str(target), src + " ! fakesink name=sink"]
        r = subprocess.run(self.wrap(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=self.env, timeout=180)
        g = None
        for ln in r.stdout.splitlines():
            if ln.startswith("{"):
                g = json.loads(ln)
        err = (g or {}).get("error") or ("" if g else "no result: " + r.stderr[-300:])
        if g and not err and g["seek_offset"] not in (-1, target):
            err = "first buffer after the seek at %d, not %d" % (g["seek_offset"], target)
        rec = {"scenario": scenario, "tool": tool, "workers": workers, "round": rnd, "kind": "seek",
               "seek_ms": g["seek_ms"] if g and not err else None, "seek_offset": g and g["seek_offset"],
               "error": err, "mbps": None, "cpu_per_gb": None}
        self.runs.append(rec)
        return rec

    # ------------------------------------------------------------ scenarios
    def peers(self):
        cfg = [("curl", None), ("aria2c", None), ("souphttpsrc", None), ("sdk-model", 16)]
        for n in WORKERS:
            if self.have_aissrc:
                cfg.append(("aissrc", n))
            cfg.append(("aisfetch", n))
        return cfg

    def scenario_stream(self, name, port_key, obj, rtt_ms, rate):
        size = self.objects[obj]
        port = self.port[port_key]
        endpoint = "http://%s:%d" % (SERVER_IP, port)
        url = "%s/v1/objects/bench/%s?provider=ais" % (endpoint, obj)
        uri = "ais://bench/%s" % obj
        self.set_rtt(rtt_ms, name)
        cfgs = self.peers()
        # one or two connections take size / (cap or window) seconds every time, with little spread
        slow = bool(rate) or rtt_ms >= 40
        rounds = self.rounds if slow else self.rounds_fast
        log("scenario %s: %d MiB, rtt %g ms, per-connection cap %s, %d rounds x %d configurations" % (
            name, size // MiB, rtt_ms, "%g MB/s" % (rate / 1e6) if rate else "none", rounds, len(cfgs)))
        hint = rate if rate else 1e9
        for rnd in range(rounds):
            k = rnd % len(cfgs)
            for tool, n in cfgs[k:] + cfgs[:k]:      # rotate: no configuration always runs first
                # one or two capped connections take size/rate seconds every time, with
                # little spread: three rounds are enough for them
                if slow and rnd >= 3 and ((n or 1) <= 2 or tool == "sdk-model") and tool != "aria2c":
                    continue
                self.run_tool(name, tool, n, rnd, url, uri, endpoint, size, hint)
            self.run_ttfb(name, "curl", rnd, url, uri, endpoint)
            self.run_ttfb(name, "aisfetch", rnd, url, uri, endpoint, 8)
            if self.have_aissrc:
                self.run_seek(name, "aissrc", 8, rnd, url, uri, endpoint, size)
            self.run_seek(name, "souphttpsrc", None, rnd, url, uri, endpoint, size)
            self.progress(name, rnd, rounds)

    def progress(self, name, rnd, rounds=None):
        rs = [r for r in self.runs if r["scenario"] == name and r.get("round") == rnd and r.get("mbps")]
        best = max(rs, key=lambda r: r["mbps"]) if rs else None
        log("  %s round %d/%d done%s" % (name, rnd + 1, rounds or self.rounds,
                                         ", best %s n=%s %.0f MB/s" % (best["tool"], best["workers"], best["mbps"])
                                         if best else ""))

    def reader_cmd(self, tool, url, uri, endpoint, limit):
        """One reader of scenario d (D_WORKERS connections where the tool has a choice)."""
        n = D_WORKERS
        if tool == "curl":
            return ["curl", "-s", "-f", "-o", "/dev/null", url]
        if tool == "aria2c":
            return ["aria2c", "-x%d" % n, "-s%d" % n, "-q", "--allow-overwrite=true", "--file-allocation=none",
                    "--auto-file-renaming=false", "--console-log-level=error", "-d", "/dev", "-o", "null", url]
        if tool in ("aisfetch", "aisfetch-thread"):
            mode = ["--worker-mode", "thread"] if tool.endswith("-thread") else []
            return [self.aisfetch, "-e", endpoint, "-n", str(n), "-c", str(CHUNK), "-q", "-o", "/dev/null"] + mode + [uri]
        if tool == "sdk-model":
            return ["/usr/bin/python3", SDK_MODEL, "-e", endpoint, "-n", str(n), "-c", str(CHUNK), uri]
        if tool == "souphttpsrc":
            src = "souphttpsrc location=%s" % url
        else:
            src = "aissrc location=%s endpoint=%s num-workers=%d chunk-size=%d%s" % (
                uri, endpoint, n, CHUNK, " worker-mode=thread" if tool.endswith("-thread") else "")
        return [os.path.join(self.tools, "gstprobe"), "--timeout", "%g" % limit, src + " ! fakesink name=sink"]

    def measure_together(self, cmds, limit, pss_ms):
        """cmds started at once by multi.py under treemon: (treemon json, multi.py's runs or
        None, stderr, seconds from the first start to the last end)."""
        path = os.path.join(self.work, "together.json")
        with open(path, "w") as f:
            json.dump(cmds, f)
        multi = ["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi.py"),
                 "--timeout", "%g" % limit, path]
        tm, out, err = self.measure(multi, limit + 30, pss_ms)
        res = json.loads(out[-1]) if out else None
        span = (max(r["t_end_ns"] for r in res) - min(r["t_start_ns"] for r in res)) / 1e9 if res else 0
        return tm, res, err, span

    def run_readers(self, scen, tool, rnd, nreaders, objs, port_key, size, limit):
        """nreaders readers at once, reader i of objs[i]; one record for the group (aggregate MB/s
        from the first start to the last end, CPU and memory of the whole tree), the readers'
        own MB/s in it."""
        endpoint = "http://%s:%d" % (SERVER_IP, self.port[port_key])
        cmds = [self.reader_cmd(tool, "%s/v1/objects/bench/%s?provider=ais" % (endpoint, o),
                                "ais://bench/" + o, endpoint, limit) for o in objs[:nreaders]]
        try:
            tm, res, err, span = self.measure_together(cmds, limit, 500)
        except Exception as e:  # noqa: BLE001 - a failed run is recorded, not fatal
            self.runs.append({"scenario": scen, "tool": tool, "workers": D_WORKERS, "round": rnd,
                              "error": str(e)[:300], "mbps": None, "cpu_per_gb": None})
            return None
        errors, rates = [], []
        for i, r in enumerate(res or []):
            wall = (r["t_end_ns"] - r["t_start_ns"]) / 1e9
            e = "" if r["rc"] == 0 else "reader %d: exit status %d" % (i, r["rc"])
            if not e and tool in ("souphttpsrc", "aissrc", "aissrc-thread"):
                g = None
                for ln in r["stdout"].splitlines():
                    if ln.startswith("{"):
                        g = json.loads(ln)
                if not g:
                    e = "reader %d: gstprobe printed nothing" % i
                elif g["error"] or g["bytes"] != size:
                    e = "reader %d: %s" % (i, g["error"] or "got %d bytes of %d" % (g["bytes"], size))
            if e:
                errors.append(e)
            rates.append(size / wall / 1e6 if wall > 0 and not e else None)
        if not res:
            errors.append("multi.py printed nothing: " + err[-300:])
        total = size * len(res or [])
        rec = self.record(scen, tool, D_WORKERS if tool not in ("curl", "souphttpsrc") else 1, rnd, tm,
                          total, {"readers": nreaders, "reader_mbps": rates}, "; ".join(errors[:3]))
        if not rec["error"] and span > 0:
            rec["mbps"] = total / span / 1e6       # first start to last end, not the driver's own start
            ok = sorted(x for x in rates if x)
            rec["reader_min_mbps"] = ok[0]
            rec["reader_median_mbps"] = statistics.median(ok)
        return rec

    def scenario_d(self):
        """16 concurrent readers (the data-loader case): 16 processes, each reading its own object
        with D_WORKERS connections where the tool allows, %d ms round trip and b's per-connection cap."""
        self.set_rtt(RTT_D_MS, "d")
        objs = ["d-%02d" % i for i in range(D_READERS)]
        # the -thread rows: the same readers with their workers on threads (worker-mode=thread)
        tools = ["aisfetch", "aisfetch-thread", "curl", "aria2c", "souphttpsrc", "sdk-model"]
        if self.have_aissrc:
            tools[:0] = ["aissrc", "aissrc-thread"]
        limit = self.limit_for(self.size_d * D_READERS, 4e8)
        log("scenario d: %d readers x %d MiB, %d workers each, rtt %d ms, %g MB/s per connection, %d rounds" % (
            D_READERS, self.size_d // MiB, D_WORKERS, RTT_D_MS, RATE_B / 1e6, self.d_rounds))
        for rnd in range(self.d_rounds):
            k = rnd % len(tools)
            for tool in tools[k:] + tools[:k]:
                if tool == "sdk-model" and rnd:
                    continue      # a minute a run, and far behind: once is enough
                self.run_readers("d", tool, rnd, D_READERS, objs, "b", self.size_d, limit)
            self.progress("d", rnd, self.d_rounds)

    def scenario_ceiling(self):
        """The link's own ceiling, no delay: curl with 1, 4 and 16 connections (parallel
        ranges of one object through one process each), in both link modes."""
        size = self.objects["obj-a"]
        rounds = 2 if self.quick else 3
        for mode in ("asym", "sym"):
            self.set_rtt(0, "ceiling-" + mode, mode)
            url = "http://%s:%d/v1/objects/bench/obj-a" % (SERVER_IP, self.port["a"])
            log("scenario ceiling (%s): curl x1, x4, x16 at no delay, %d rounds" % (mode, rounds))
            for rnd in range(rounds):
                for n in (1, 4, 16):
                    cmds = []
                    for i in range(n):
                        a, b = i * size // n, (i + 1) * size // n - 1
                        cmds.append(["curl", "-s", "-f", "-o", "/dev/null", "-r", "%d-%d" % (a, b), url])
                    tm, res, err, span = self.measure_together(cmds, 120, 0)
                    bad = [r["rc"] for r in res or [] if r["rc"] != 0] or ([] if res else ["none"])
                    rec = self.record("ceiling-" + mode, "curl", n, rnd, tm, size, None,
                                      "exit status %s" % bad if bad else "")
                    if not bad:
                        rec["mbps"] = size / span / 1e6

    def scenario_straggler(self):
        """As b, on the emulator (per-connection cap and round trip of b), with and
        without one range answered at 5 MB/s.  The emulator serves a generated object."""
        size = self.size_s
        self.set_rtt(RTT_B_MS, "straggler")
        self.emu_call("POST", "/_emu/config", {"rtt_ms": 0, "rate": RATE_B})
        self.emu_call("PUT", "/_emu/objects/gen/strag?size=%d&seed=5&cksum=none" % size)
        uri = "ais://gen/strag"
        slow_off = 4 * CHUNK
        log("scenario straggler: %d MiB generated on the emulator, rtt %d ms, %g MB/s per connection; "
            "the range at %d served at %g MB/s" % (size // MiB, RTT_B_MS, RATE_B / 1e6, slow_off, STRAGGLER_RATE / 1e6))
        cfgs = []
        for n in (8, 16, 32):
            for strag in (False, True):
                cfgs.append(("aisfetch", n, strag))
        if self.have_aissrc:
            cfgs += [("aissrc", 16, False), ("aissrc", 16, True)]
        cfgs += [("sdk-model", 16, False), ("sdk-model", 16, True)]
        for rnd in range(self.rounds):
            for tool, n, strag in cfgs:
                def arm(strag=strag):
                    self.emu_call("DELETE", "/_emu/faults")
                    if strag:
                        self.emu_call("POST", "/_emu/faults", {"bucket": "gen", "object": "strag", "node": "target",
                                                               "method": "GET", "kind": "slow", "rate": STRAGGLER_RATE,
                                                               "offset": slow_off, "count": 1})
                scen = "straggler" if strag else "straggler-base"
                self.run_tool(scen, tool, n, rnd, None, uri, self.emu, size, 2e8, prepare=arm)
            self.progress("straggler", rnd)
        self.emu_call("DELETE", "/_emu/faults")
        self.emu_call("POST", "/_emu/config", {"rtt_ms": 0, "rate": 0})
        self.emu_call("DELETE", "/_emu/objects/gen/strag")

    def run_cmd(self, scenario, tool, workers, rnd, cmd, size, limit, prepare=None):
        try:
            tm, out, err = self.measure(cmd, limit, 200, prepare)
        except Exception as e:  # noqa: BLE001
            self.runs.append({"scenario": scenario, "tool": tool, "workers": workers, "round": rnd,
                              "error": str(e)[:300], "mbps": None, "cpu_per_gb": None})
            return None
        error = "" if tm["rc"] == 0 else "exit status %d: %s" % (tm["rc"], err.strip()[-300:])
        return self.record(scenario, tool, workers, rnd, tm, size, None, error)

    def scenario_small(self):
        log("scenario small objects: 64 KiB and 1 MiB, %d rounds" % self.small_rounds)
        for key, rtt in (("a", 0), ("b", RTT_B_MS), ("c", RTT_C_MS)):
            self.set_rtt(rtt, "small-" + key)
            endpoint = "http://%s:%d" % (SERVER_IP, self.port[key])
            for obj in ("small-64k", "small-1m"):
                size = self.objects[obj]
                url = "%s/v1/objects/bench/%s?provider=ais" % (endpoint, obj)
                uri = "ais://bench/" + obj
                scen = "small-%s-%s" % (obj.split("-")[1], key)
                tools = [("curl", None), ("aisfetch", 8), ("souphttpsrc", None)]
                if self.have_aissrc:
                    tools.append(("aissrc", 8))
                for rnd in range(self.small_rounds):
                    for tool, n in tools:
                        self.run_tool(scen, tool, n, rnd, url, uri, endpoint, size, 1e8)
        # what starting GStreamer alone costs: a pipeline of one empty buffer
        for rnd in range(self.small_rounds):
            cmd = [os.path.join(self.tools, "gstprobe"), "fakesrc num-buffers=1 ! fakesink name=sink"]
            self.run_cmd("small-gst-floor", "gst-floor", None, rnd, cmd, 0, 60)

    # ---------------------------------------------------------- many objects
    def make_many(self):
        """The objects of the many-objects scenario, served by nginx as AIStore's targets
        would: /v1/objects/BUCKET/NAME, and each bucket's listing as AIStore's list-objects
        answers it, one page (name and size: nginx sends no Ais-Version or checksum to check
        against).  Each object is a file of its own (in memory: the work directory is a
        tmpfs): with links of one file, nginx served the same pages to several connections at
        once and took 1.9-2.1 s of CPU for the 100 x 64 MiB set against 1.0-1.4 s for one
        object of the same bytes (0.8-1.1 s each with a file per object)."""
        self.many = {}
        for bucket, count, size in (("m1", M1_COUNT, M1_SIZE), ("m64", M64_COUNT, M64_SIZE)):
            d = os.path.join(self.www, "v1", "objects", bucket)
            names = ["%05d" % i for i in range(count)]
            self.make_file(os.path.join(d, names[0]), size)
            for n in names[1:]:
                shutil.copyfile(os.path.join(d, names[0]), os.path.join(d, n))
            entries = [{"name": n, "size": str(size), "flags": 64} for n in names]
            bdir = os.path.join(self.www, "v1", "buckets")
            os.makedirs(bdir, exist_ok=True)
            with open(os.path.join(bdir, bucket), "w") as f:
                json.dump({"uuid": "static", "continuation_token": "", "entries": entries, "flags": 0}, f)
            self.many[bucket] = (names, size)
        # the same bytes as m64's objects end to end, as one object
        self.make_file(os.path.join(self.www, "v1", "objects", "one", "m64-all"), M64_COUNT * M64_SIZE)
        self.out_dir = os.path.join(self.work, "out")

    def clear_out(self):
        shutil.rmtree(self.out_dir, ignore_errors=True)
        os.makedirs(self.out_dir)

    def many_cmd(self, tool, bucket, endpoint, workers):
        """A command that fetches every object of bucket (into out_dir, or nowhere)."""
        names, size = self.many[bucket]
        out = self.out_dir
        urls = os.path.join(self.work, "urls-" + bucket)
        with open(urls, "w") as f:
            f.write("".join("%s/v1/objects/%s/%s\n" % (endpoint, bucket, n) for n in names))
        if tool in ("aisfetch-prefix", "aisfetch-prefix-thread"):
            mode = ["--worker-mode", "thread"] if tool.endswith("-thread") else []
            return [self.aisfetch, "-e", endpoint, "-n", str(workers), "-q", "-o", out + "/"] + mode + \
                ["ais://%s/" % bucket]
        if tool == "aisfetch-loop":
            # today's way: one aisfetch per object, one after the other
            script = ('while read -r n; do "$0" -e "$1" -q -o "$2/$n" "ais://$3/$n" || exit 1; done < "$4"')
            listf = os.path.join(self.work, "names-" + bucket)
            with open(listf, "w") as f:
                f.write("".join(n + "\n" for n in names))
            return ["sh", "-c", script, self.aisfetch, endpoint, out, bucket, listf]
        if tool == "aria2c":
            return ["aria2c", "-i", urls, "-j16", "-q", "-d", out, "--allow-overwrite=true",
                    "--file-allocation=none", "--auto-file-renaming=false", "--console-log-level=error"]
        if tool == "curl-xargs":
            # 16 curls at a time, each given a share of the URLs (it keeps its connection)
            per = (len(names) + 15) // 16
            return ["sh", "-c", 'cd "$0" && xargs -P16 -n %d curl -s -f --remote-name-all < "$1"' % per, out, urls]
        if tool == "seqread-prefix":
            return [os.path.join(self.tools, "seqread"), "-e", endpoint, "-n", str(workers), "--prefix",
                    "ais://%s/" % bucket]
        if tool == "seqread-one":
            return [os.path.join(self.tools, "seqread"), "-e", endpoint, "-n", str(workers), "ais://one/m64-all"]
        if tool in ("aissrc-concat", "aissrc-one"):
            uri = "ais://%s/" % bucket if tool == "aissrc-concat" else "ais://one/m64-all"
            limit = self.limit_for(len(names) * size, 1e8)
            return [os.path.join(self.tools, "gstprobe"), "--timeout", "%g" % limit,
                    "aissrc location=%s endpoint=%s num-workers=%d%s ! fakesink name=sink" % (
                        uri, endpoint, workers, " mode=concat" if tool == "aissrc-concat" else "")]
        raise ValueError(tool)

    def run_many(self, scen, tool, workers, rnd, bucket, endpoint):
        names, size = self.many[bucket]
        total = len(names) * size
        limit = self.limit_for(total, 2e7 if tool == "aisfetch-loop" else 1e8)
        cmd = self.many_cmd(tool, bucket, endpoint, workers)
        writes = tool not in ("seqread-prefix", "seqread-one", "aissrc-concat", "aissrc-one")
        try:
            tm, out, err = self.measure(cmd, limit, 200, self.clear_out)
        except Exception as e:  # noqa: BLE001 - a failed run is recorded, not fatal
            self.runs.append({"scenario": scen, "tool": tool, "workers": workers, "round": rnd,
                              "error": str(e)[:300], "mbps": None, "cpu_per_gb": None})
            return None
        error = ""
        if tm["rc"] != 0:
            error = "exit status %d: %s" % (tm["rc"], err.strip()[-300:])
        elif writes:
            # every object whole in the output directory
            got = 0
            for n in names:
                try:
                    got += os.path.getsize(os.path.join(self.out_dir, n)) == size
                except OSError:
                    pass
            if got != len(names):
                error = "%d of %d objects written whole" % (got, len(names))
        elif tool.startswith("seqread"):
            g = json.loads(out[-1]) if out else {}
            if g.get("bytes") != total:
                error = "read %s bytes of %d" % (g.get("bytes"), total)
        else:
            g = None
            for ln in out:
                if ln.startswith("{"):
                    g = json.loads(ln)
            if not g or g["error"] or g["bytes"] != total:
                error = (g or {}).get("error") or "got %s bytes of %d" % ((g or {}).get("bytes"), total)
        rec = self.record(scen, tool, workers, rnd, tm, total, {"objects": len(names)}, error)
        self.clear_out()
        return rec

    def aissrc_has_modes(self):
        if not self.have_aissrc:
            return False
        r = subprocess.run(["gst-inspect-1.0", "aissrc"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True, env=self.env, timeout=60)
        return " mode " in r.stdout or "\n  mode" in r.stdout

    def scenario_many(self):
        """A bucket of objects: 1000 x 1 MiB (whole-prefix downloads into files against today's
        aisfetch loop, aria2c -j16 and curl | xargs -P16), and 100 x 64 MiB (the prefix read
        as one stream against one object of the same bytes: no gap at the boundaries)."""
        self.make_many()
        self.set_rtt(MANY_RTT_MS, "many")
        endpoint = "http://%s:%d" % (SERVER_IP, self.port["b"])
        modes = self.aissrc_has_modes()
        rounds = 3 if self.quick else 5
        log("scenario many: %d x %d MiB and %d x %d MiB, rtt %d ms, %g MB/s per connection, %d rounds" % (
            M1_COUNT, M1_SIZE // MiB, M64_COUNT, M64_SIZE // MiB, MANY_RTT_MS, RATE_B / 1e6, rounds))
        m1 = [("aria2c", 16), ("curl-xargs", 16)]
        m1 += [("aisfetch-prefix", n) for n in MANY_WORKERS] + [("seqread-prefix", n) for n in MANY_WORKERS]
        m1 += [("aisfetch-prefix-thread", MANY_WORKERS[-1])]
        if modes:
            m1 += [("aissrc-concat", 32)]
        for rnd in range(rounds):
            k = rnd % len(m1)
            for tool, n in m1[k:] + m1[:k]:
                self.run_many("many-1m", tool, n, rnd, "m1", endpoint)
            if rnd < (1 if self.quick else 2):
                self.run_many("many-1m", "aisfetch-loop", 8, rnd, "m1", endpoint)
            self.progress("many-1m", rnd, rounds)
        # no tool writes files here: 6.7 GB into the tmpfs beside the objects' 13 GB made the
        # machine reclaim memory (aria2c and aisfetch took 12 to 19 s of CPU for it)
        m64 = [("seqread-prefix", 16), ("seqread-one", 16)]
        if modes:
            m64 += [("aissrc-concat", 16), ("aissrc-one", 16)]
        r64 = 2 if self.quick else 3
        for rnd in range(r64):
            k = rnd % len(m64)
            for tool, n in m64[k:] + m64[:k]:
                self.run_many("many-64m", tool, n, rnd, "m64", endpoint)
            self.progress("many-64m", rnd, r64)
        shutil.rmtree(self.out_dir, ignore_errors=True)

    def scenario_memory(self):
        self.set_rtt(0, "memory")
        self.emu_call("POST", "/_emu/config", {"rtt_ms": 0, "rate": 0})
        sizes = [GiB, 8 * GiB]
        for s in sizes:
            self.emu_call("PUT", "/_emu/objects/gen/mem-%d?size=%d&seed=9&cksum=none" % (s >> 30, s))
        cfgs = [("aisfetch", 8), ("aisfetch", 32)]
        if self.have_aissrc:
            cfgs.append(("aissrc", 8))
        log("scenario memory: generated 1 GiB and 8 GiB objects, %d rounds" % self.mem_rounds)
        for rnd in range(self.mem_rounds):
            for s in sizes:
                for tool, n in cfgs:
                    r = self.run_tool("memory-%dg" % (s >> 30), tool, n, rnd, None, "ais://gen/mem-%d" % (s >> 30),
                                      self.emu, s, 5e8, pss_ms=50)
                    if r:
                        r["mem_limit"] = 2 * n * CHUNK + MEM_SLACK
        for s in sizes:
            self.emu_call("DELETE", "/_emu/objects/gen/mem-%d" % (s >> 30))

    def warm_up(self):
        """Untimed: the plugin registry, the page cache of the files, each server's first answer."""
        for el in ("souphttpsrc", "aissrc"):
            subprocess.run(self.wrap(["gst-inspect-1.0", el]), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=self.env, timeout=120)
        self.set_rtt(0, "warm-up")
        for obj in self.objects:
            if obj.startswith("d-") and obj != "d-00":
                continue
            subprocess.run(self.wrap(["curl", "-s", "-o", "/dev/null", "http://%s:%d/v1/objects/bench/%s"
                                      % (SERVER_IP, self.port["a"], obj)]), timeout=120)
        for key in ("b", "c"):
            subprocess.run(self.wrap(["curl", "-s", "-o", "/dev/null", "http://%s:%d/v1/objects/bench/small-64k"
                                      % (SERVER_IP, self.port[key])]), timeout=120)

    def limits(self):
        """The machine's own limits: memory copy bandwidth (one core)."""
        r = subprocess.run([os.path.join(self.tools, "sink"), "--memcpy"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        try:
            self.memcpy = json.loads(r.stderr.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.memcpy = {}
        log("memory copy: %s" % self.memcpy)

    def run_all(self):
        only = set(self.args.only.split(",")) if self.args.only else None

        def want(x):
            return only is None or x in only
        self.warm_up()
        self.limits()
        t0 = time.time()
        if want("ceiling"):
            self.scenario_ceiling()
        if want("a"):
            self.scenario_stream("a", "a", "obj-a", 0, 0)
        if want("b"):
            self.scenario_stream("b", "b", "obj-b", RTT_B_MS, RATE_B)
        if want("c"):
            self.scenario_stream("c", "c", "obj-c", RTT_C_MS, 0)
        if want("d"):
            self.scenario_d()
        if want("straggler"):
            self.scenario_straggler()
        if want("small"):
            self.scenario_small()
        if want("memory"):
            self.scenario_memory()
        if want("many"):
            self.scenario_many()
        self.elapsed = time.time() - t0

    # -------------------------------------------------------------- results
    def machine(self):
        def first(cmd):
            r = sh(cmd)
            return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "?"
        cpu = "?"
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
        mem = 0
        for ln in open("/proc/meminfo"):
            if ln.startswith("MemTotal"):
                mem = int(ln.split()[1]) * 1024
        deb = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
        return {
            "cpu": cpu, "cores": os.cpu_count(), "memory_bytes": mem, "kernel": platform.release(),
            "debian": deb, "git": self.source, "load_start": self.load_start, "load_end": os.getloadavg(),
            "disturbed_reruns": self.disturbed,
            "curl": first(["curl", "--version"]), "aria2c": first(["aria2c", "--version"]),
            "gstreamer": first(["gst-launch-1.0", "--version"]),
            "nginx": sh(["nginx", "-v"]).stdout.strip(),
            "libsoup": first("dpkg-query -W -f '${Package} ${Version}\\n' libsoup-3.0-0 2>/dev/null"),
            "link_mode": self.args.link, "server_tcp": getattr(self, "tcp", {}),
            "quick": self.quick, "rounds": self.rounds, "rounds_fast": self.rounds_fast,
            "memcpy": getattr(self, "memcpy", {}),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs):
    """Medians per (scenario, tool, workers, kind)."""
    groups = {}
    for r in runs:
        key = (r["scenario"], r["tool"], r.get("workers"), r.get("kind", "transfer"))
        groups.setdefault(key, []).append(r)
    out = []
    for (scen, tool, n, kind), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][3], kv[0][1], kv[0][2] or 0)):
        ok = [r for r in rs if not r.get("error")]
        s = {"scenario": scen, "tool": tool, "workers": n, "kind": kind, "runs": len(rs), "failed": len(rs) - len(ok)}
        for f in ("mbps", "cpu_per_gb", "cpu_s", "wall_s", "mem", "mem_peak", "pss_peak", "ttfb_ms", "seek_ms", "nproc",
                  "foreign_cores", "server_cpu_s", "link_cpu_s", "reader_min_mbps", "reader_median_mbps"):
            s[f] = median([r.get(f) for r in ok])
        if ok and ok[0].get("mem_limit"):
            s["mem_limit"] = ok[0]["mem_limit"]
        errs = sorted({r["error"] for r in rs if r.get("error")})
        if errs:
            s["errors"] = errs[:3]
        out.append(s)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=0)
    ap.add_argument("--only", default="", help="comma list of ceiling,a,b,c,d,straggler,small,memory,many; "
                    "the other scenarios' results are kept from the last full run")
    ap.add_argument("--link", choices=("asym", "sym"), default="asym",
                    help="asym: the round trip on the client's packets, data back over a veth; "
                         "sym: half of it each way, both through the forwarder")
    ap.add_argument("--work", required=True, help="scratch directory (data, logs, pids)")
    ap.add_argument("--render-only", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import report  # noqa: E402
    out = os.path.join(ROOT, "docs", "bench")
    if args.render_only:
        report.render(ROOT, json.load(open(os.path.join(out, "results.json"))))
        return
    b = Bench(args)
    b.work = args.work

    def on_signal(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    try:
        b.setup_link()
        b.start_nginx()
        b.start_emulator()
        b.run_all()
    finally:
        b.stop()
    os.makedirs(out, exist_ok=True)
    res = {"machine": b.machine(), "elapsed_s": b.elapsed, "runs": b.runs, "summary": summarize(b.runs),
           "link": b.link_stats,
           "constants": {"chunk": CHUNK, "workers": WORKERS, "many_rtt_ms": MANY_RTT_MS,
                         "m1": [M1_COUNT, M1_SIZE], "m64": [M64_COUNT, M64_SIZE], "rate_b": RATE_B, "rtt_b_ms": RTT_B_MS,
                         "rtt_c_ms": RTT_C_MS, "rtt_d_ms": RTT_D_MS, "d_readers": D_READERS,
                         "d_workers": D_WORKERS, "straggler_rate": STRAGGLER_RATE, "mem_slack": MEM_SLACK,
                         "sizes": {"a": b.size_a, "b": b.size_b, "c": b.size_c, "d": b.size_d,
                                   "straggler": b.size_s},
                         "have_aissrc": b.have_aissrc, "command": " ".join(["bash", "tests/bench/run.sh"] +
                                                                            (["--quick"] if b.quick else []))}}
    prev_path = os.path.join(out, "results.json")
    if args.only and os.path.exists(prev_path):
        # a partial run replaces its own scenarios' results and keeps the others'
        prev = json.load(open(prev_path))
        fresh = {r["scenario"] for r in b.runs}
        kept = [r for r in prev.get("runs", []) if r["scenario"] not in fresh]
        part = {"only": args.only, "machine": res["machine"], "elapsed_s": b.elapsed, "scenarios": sorted(fresh)}
        partial = [p for p in prev.get("partial", []) if not set(p["scenarios"]) <= fresh] + [part]
        new_const = res["constants"]
        res = dict(prev, runs=kept + b.runs, partial=partial, link=prev.get("link", []) + b.link_stats)
        res["constants"] = dict(prev.get("constants", {}), **{k: v for k, v in new_const.items()
                                                              if k not in ("command", "sizes")})
        res["summary"] = summarize(res["runs"])
    with open(prev_path, "w") as f:
        json.dump(res, f, indent=1)
    report.render(ROOT, res)
    log("done in %.0f s; results in docs/bench/, report in docs/benchmarks.md" % b.elapsed)


if __name__ == "__main__":
    main()
