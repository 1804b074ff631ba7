#!/usr/bin/env python3
"""sluice benchmark driver: sluice, HAProxy and nginx side by side on loopback.

Starts two nginx origins (a small fixed response, a 1 MiB file), then for each
worker count sluice, HAProxy and nginx with the equivalent configurations in
bench/conf/, and drives them with wrk in interleaved rounds (the job list of
one round, then the same list reversed, and so on) so that drift on a noisy
machine hits every target alike. Reports medians of requests/s, p50/p99
latency and proxy CPU microseconds per request (utime+stime of every process
of the proxy, from /proc/PID/stat, before and after each run), memory and fds
per idle client connection (bench/idle_client), and syscalls per request
under `strace -c -f` over a fixed request count (h2load --h1 -n).

TLS scenarios (tls-keepalive, tls-handshake, tls-resume) terminate TLS on
every proxy with one certificate made per run (openssl, EC P-256, a CA and a
leaf in the run directory). tls-keepalive is wrk over https; the handshake
scenarios use bench/tls_client.py (forked processes, one request per
connection) because wrk and h2load resume the TLS session when they
reconnect: tls-handshake never offers a session, so every connection is a
full handshake; tls-resume offers the last one. bench/report.py writes the
report, bench/scenarios.py defines the scenarios, ports and modes.

Everything listens on 127.0.0.1 on fixed high ports (--port-base), every
child runs in its own process group with a time limit, and all of them are
stopped on exit (bench/bench.sh adds a trap for the pids in RUN/pids).
Standard library only.
"""

import argparse
import datetime
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from report import report
from scenarios import (ALL_SCENARIOS, DIRECT_KEY, EXTRA_SCENARIOS, HS_SCENARIOS, LARGE_SIZE,
                       MODES, PORT_OFFSETS, PROXIES, PROXY_PORT_BASE, RELEASE_MIN_CONNS,
                       SCALE_CONNS, SCALE_MIN_SECONDS, SCEN_PORTS, SLOW_PATH, SLOW_PERIOD,
                       SLOW_PROBE_CONNS, SLOW_SIZE, SMALL_BODY, STATS_OFFSET, TARGETS,
                       TLS13_SUITES, TLS_NAME, TLS_SCENARIOS)
from scenarios import (H2_CLIENTS, H2_POOL, H2_PORT_OFFSETS, H2_SCEN_PORT, H2_SCENARIOS,
                       H2_STREAMS)
from slow_readers import probe as slow_probe

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- /proc helpers

def proc_tree(pid):
    """pid and all its descendants that are alive."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if os.path.exists(f"/proc/{p}"):
            out.append(p)
            todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    """utime + stime (clock ticks) summed over pids (whole thread groups)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def fd_count(pids):
    total = 0
    for p in pids:
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return total


def client_sockets(port):
    """TCP sockets of 127.0.0.1:port (a proxy's listener) still open on the
    proxy's side: established or in CLOSE_WAIT (the client has closed, the
    proxy has not yet). Pooled server connections are not counted, so this
    is the same measure for every proxy whatever its pool keeps. Asked of
    the kernel with a filter (ss, sock_diag): reading /proc/net/tcp took
    0.5 s here with the bench's tens of thousands of TIME_WAIT sockets,
    which made the measure coarser than what it measured."""
    rc, out = run_cmd(["ss", "-Htn", "state", "established", "state", "close-wait",
                       f"( sport = :{port} )"], 10)
    if rc != 0:
        raise BenchError(f"ss failed: {out[-300:]}")
    return sum(1 for ln in out.splitlines() if ln.strip())


def wait_released(port, limit=15.0):
    """Seconds until no client connection of port is left open (None: more
    than limit)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if client_sockets(port) == 0:
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------- processes

class Server:
    """A long-running child (origin or proxy) in its own process group."""

    def __init__(self, bench, name, argv, ports):
        self.bench, self.name, self.argv, self.ports = bench, name, argv, ports
        self.proc = None
        self.out_path = os.path.join(bench.run, f"{name}.out")
        self.starts = 0

    def start(self):
        self.starts += 1
        out = open(self.out_path, "ab")
        out.write(f"=== start {self.starts}: {' '.join(self.argv)}\n".encode())
        out.flush()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=self.bench.run)
        out.close()
        self.bench.note_pid(self.proc.pid)
        for p in self.ports:
            if not wait_port(p):
                raise BenchError(f"{self.name} did not listen on 127.0.0.1:{p}; output:\n"
                                 + self.output_tail())
            if not self.alive():
                raise BenchError(f"{self.name} exited at start; output:\n" + self.output_tail())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return proc_tree(self.proc.pid) if self.alive() else []

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.proc = None

    def output_tail(self, lines=40):
        try:
            with open(self.out_path, "rb") as f:
                data = f.read().decode(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(data[-lines:])

    def output_lines(self):
        try:
            with open(self.out_path, "rb") as f:
                return f.read().decode(errors="replace").splitlines()
        except OSError:
            return []


def fmt_ms(v):
    return "-" if v is None else f"{v:.2f} ms"


def run_cmd(argv, timeout, **kw):
    """Runs a bounded client command; returns (rc, stdout+stderr)."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, **kw)
        return p.returncode, p.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if e.stdout else ""
        return -1, out + f"\n(timed out after {timeout}s)"


def run_group(bench, argv, timeout):
    """run_cmd for a client that forks: its own process group, noted for
    bench.sh's trap, killed as a group if it overruns."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    bench.note_pid(p.pid)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = p.communicate(timeout=10)
        return -1, out.decode(errors="replace") + f"\n(timed out after {timeout}s)"


def tool_version(argv, pattern=None):
    rc, out = run_cmd(argv, 10)
    line = out.strip().splitlines()[0] if out.strip() else "?"
    if pattern:
        m = re.search(pattern, out)
        if m:
            return m.group(1)
    return line


def tool_versions(b):
    """What the report quotes: sluice's version, git revision and build time,
    and the peers' versions."""
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(b.sluice_bin)).astimezone()
    gitrev = f"{b.gitrev}, built {mtime:%Y-%m-%d %H:%M}"
    return {
        "sluice": tool_version([b.sluice_bin, "-v"], r"sluice (\S+)") + f" (git {gitrev})",
        "HAProxy": tool_version(["haproxy", "-v"], r"version (\S+)"),
        "nginx": tool_version(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": tool_version(["wrk", "-v"], r"wrk (\S+)"),
        "h2load": tool_version(["h2load", "--version"], r"(nghttp2/\S+)"),
        "strace": tool_version(["strace", "-V"], r"version (\S+)"),
    }


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        m = MODES[args.mode]
        self.rounds = args.rounds or m["rounds"]
        self.duration = args.duration or m["duration"]
        self.worker_sets = args.workers.split(",") if args.workers else m["workers"]
        # fds: every proxy gets the same limits, derived from RLIMIT_NOFILE
        # (two sockets per client connection in tcp mode, pools, spare).
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.maxconn = min(30000, (self.nofile - 512) // 2)
        self.idle_n = m["idle"] if args.idle is None else args.idle
        self.idle_capped = None
        if self.idle_n > self.maxconn - 200:
            self.idle_capped = self.idle_n
            self.idle_n = max(0, (self.maxconn - 200) // 500 * 500)
        self.strace_n = m["strace_n"] if args.strace_n is None else args.strace_n
        self.strace_scenarios = (args.strace_scenarios.split(",") if args.strace_scenarios
                                 else m["strace_scenarios"])
        self.warm_n = m["warm_n"]
        self.slow_n = m["slow_readers"] if args.slow_readers is None else args.slow_readers
        self.slow_seconds = args.slow_seconds or m["slow_seconds"]
        # one worker set only (the run stays bounded): workers = 1 if it is
        # in the list, one pool of buffers and one thread for everyone
        self.slow_workers = [w for w in m["slow_workers"] if w in self.worker_sets] \
            or self.worker_sets[:1]
        if self.slow_n > self.nofile // 3:
            self.slow_n = self.nofile // 3  # readers, proxy and origin each hold one fd per reader
        self.slow = []         # one dict per proxy (slow-readers)
        if args.scenarios == "none":
            self.scenarios = []
        else:
            self.scenarios = args.scenarios.split(",") if args.scenarios else \
                list(m["scenarios"]) + list(m["extra"])
        self.extra = [s for s in self.scenarios if s in EXTRA_SCENARIOS]
        self.scenarios = [s for s in self.scenarios if s not in EXTRA_SCENARIOS]
        self.scale = []        # one dict per scale run (scale, release)
        self.scale_rounds = min(self.rounds, 2)
        self.scale_duration = max(self.duration, SCALE_MIN_SECONDS)
        if args.tls:
            self.scenarios += [s for s in TLS_SCENARIOS if s not in self.scenarios]
        self.h2_setup(args)
        bad = [s for s in self.scenarios if s not in ALL_SCENARIOS]
        if bad:
            raise SystemExit(f"bench: unknown scenario(s) {bad}; known: "
                             f"{','.join(ALL_SCENARIOS + H2_SCENARIOS + EXTRA_SCENARIOS)}")
        self.targets = args.targets.split(",") if args.targets else TARGETS
        self.run = args.run_dir or tempfile.mkdtemp(prefix="sluice-bench.")
        os.makedirs(self.run, exist_ok=True)
        # Run a copy: a rebuild of build/sluice during the run (someone's
        # `make`) must not mix two binaries in one table.
        self.sluice_src = os.path.abspath(args.sluice)
        self.sluice_bin = os.path.join(self.run, "sluice")
        rc, rev = run_cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], 10)
        rc2, dirty = run_cmd(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], 10)
        self.gitrev = rev.strip() + (" + uncommitted changes" if dirty.strip() else "")
        self.idle_bin = args.idle_client
        self.base = args.port_base
        self.ports = {"P_ORIGIN_SMALL": self.base + 1, "P_ORIGIN_LARGE": self.base + 2}
        self.servers = {}
        self.results = []      # one dict per wrk run
        self.idle = []         # one dict per proxy and worker set
        self.syscalls = []     # one dict per proxy, scenario and worker set
        self.tls_params = {}   # proxy -> negotiated protocol, suite, group, ALPN
        self.cert = None       # the combined PEM (certificate, then its key)
        self.events = []       # failures: crashes, errors, non-2xx, bad starts
        self.started = datetime.datetime.now().astimezone()

    # -- bookkeeping

    def note_pid(self, pid):
        with open(os.path.join(self.run, "pids"), "a") as f:
            f.write(f"{pid}\n")

    def event(self, msg):
        log("FAILURE: " + msg.splitlines()[0])
        self.events.append(msg)

    def proxy_ports(self, proxy):
        b = self.base + PROXY_PORT_BASE[proxy]
        return {k: b + off for k, off in list(PORT_OFFSETS.items()) + list(H2_PORT_OFFSETS.items())}

    def stats_port(self):
        return self.base + PROXY_PORT_BASE["sluice"] + STATS_OFFSET

    def port(self, target, scenario):
        pkey, okey = SCEN_PORTS[scenario]
        return self.ports[okey] if target == "direct" else self.proxy_ports(target)[pkey]

    def url(self, target, scenario):
        scheme = "https" if scenario in TLS_SCENARIOS else "http"
        return f"{scheme}://127.0.0.1:{self.port(target, scenario)}/"

    # -- TLS

    def make_cert(self):
        """A CA and an EC P-256 leaf for TLS_NAME (and 127.0.0.1), made with the
        openssl CLI in the run directory; every proxy serves tls.pem (leaf
        certificate, then its PKCS#8 key)."""
        d = os.path.join(self.run, "tls")
        os.makedirs(d, exist_ok=True)
        f = {k: os.path.join(d, k) for k in ("ca.key", "ca.pem", "leaf.key", "leaf.csr",
                                              "leaf.pem", "leaf.ext", "ca.srl")}
        with open(f["leaf.ext"], "w") as e:
            e.write(f"subjectAltName = DNS:{TLS_NAME}, IP:127.0.0.1\n"
                    "basicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\n"
                    "extendedKeyUsage = serverAuth\n")
        ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        steps = [
            ["openssl", "genpkey"] + ec + ["-out", f["ca.key"]],
            ["openssl", "req", "-x509", "-new", "-key", f["ca.key"], "-sha256", "-days", "2",
             "-subj", "/CN=sluice bench CA", "-out", f["ca.pem"]],
            ["openssl", "genpkey"] + ec + ["-out", f["leaf.key"]],
            ["openssl", "req", "-new", "-key", f["leaf.key"], "-subj", f"/CN={TLS_NAME}",
             "-out", f["leaf.csr"]],
            ["openssl", "x509", "-req", "-in", f["leaf.csr"], "-CA", f["ca.pem"], "-CAkey",
             f["ca.key"], "-CAserial", f["ca.srl"], "-CAcreateserial", "-days", "2", "-sha256",
             "-extfile", f["leaf.ext"], "-out", f["leaf.pem"]],
        ]
        for argv in steps:
            rc, out = run_cmd(argv, 30)
            if rc != 0:
                raise BenchError(f"{' '.join(argv)} failed:\n{out}")
        self.cert = os.path.join(d, "tls.pem")
        with open(self.cert, "w") as out:
            for k in ("leaf.pem", "leaf.key"):
                with open(f[k]) as src:
                    out.write(src.read())
        os.chmod(self.cert, 0o600)
        self.ca = f["ca.pem"]
        with open(f["leaf.pem"]) as src:
            import ssl
            self.leaf_der = ssl.PEM_cert_to_DER_cert(src.read())

    def tls_probe(self, proxy):
        """What proxy negotiates with an OpenSSL 3 client offering its defaults
        (openssl s_client): protocol, suite, key exchange group, ALPN."""
        port = self.proxy_ports(proxy)["P_TLS"]
        rc, out = run_cmd(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                           "-servername", TLS_NAME, "-alpn", "http/1.1", "-CAfile", self.ca,
                           "-verify_return_error"], 15)
        got = {}
        for key, pat in (("protocol", r"^New, (\S+), Cipher is (\S+)"),
                         ("group", r"^(?:Server Temp Key|Negotiated TLS1\.3 group): ([^,\n]+)"),
                         ("alpn", r"^ALPN protocol: (\S+)"),
                         ("verify", r"Verify return code: (\d+)")):
            m = re.search(pat, out, re.M)
            if m and key == "protocol":
                got["protocol"], got["suite"] = m.group(1), m.group(2)
            elif m:
                got[key] = m.group(1)
        self.tls_params[proxy] = got
        if got.get("verify") != "0" or got.get("protocol") != "TLSv1.3" or \
                got.get("alpn") != "http/1.1" or not got.get("suite"):
            self.event(f"{proxy}: TLS probe (openssl s_client): {got}, want TLSv1.3, "
                       "ALPN http/1.1, a verified chain\n" + out[-1500:])
        # every proxy must negotiate what the others do (sluice's suite order
        # is its own; --tls-suites sets HAProxy's and nginx's)
        key = ("protocol", "suite", "group")
        for other, v in self.tls_params.items():
            if other != proxy and tuple(v.get(k) for k in key) != tuple(got.get(k) for k in key):
                self.event(f"{proxy} negotiated {[got.get(k) for k in key]} but {other} "
                           f"{[v.get(k) for k in key]}: not the same TLS for every proxy "
                           "(sluice's TLS 1.3 suite order may have changed: see --tls-suites)")
                break

    def sluice_tls_counters(self):
        """(handshakes, resumed) of sluice's tls frontend, or None."""
        try:
            with socket.create_connection(("127.0.0.1", self.stats_port()), timeout=3) as s:
                s.sendall(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        text = data.decode(errors="replace")
        hs = re.search(r'^sluice_frontend_tls_handshakes_total\{frontend="tls"\} (\d+)', text, re.M)
        res = re.search(r'^sluice_frontend_tls_resumed_total\{frontend="tls"\} (\d+)', text, re.M)
        return (int(hs.group(1)), int(res.group(1))) if hs and res else None

    # -- configuration

    def render(self, template, out_name, values, append=None):
        """Fills in template (and the template append, added after it: the
        HTTP/2 frontends of sluice) into out_name in the run directory;
        template None: an empty file."""
        text = ""
        if template:
            with open(os.path.join(BENCH, "conf", template)) as f:
                text = f.read()
        if append:
            with open(os.path.join(BENCH, "conf", append)) as f:
                text += "\n" + f.read()
        for k, v in values.items():
            text = text.replace(f"@{k}@", str(v))
        left = re.findall(r"@[A-Z_]+@", text)
        if left:
            raise BenchError(f"{template}: unrendered placeholders {sorted(set(left))}")
        path = os.path.join(self.run, out_name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check_ports(self):
        ports = list(self.ports.values())
        for p in PROXIES:
            ports += list(self.proxy_ports(p).values())
        ports.append(self.stats_port())
        busy = [p for p in ports if not port_free(p)]
        if busy:
            raise BenchError(f"ports already in use on 127.0.0.1: {busy} (try --port-base)")

    def start_origins(self):
        www = os.path.join(self.run, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "1m.bin"), "wb") as f:
            f.write(bytes(range(256)) * (LARGE_SIZE // 256))
        if self.slow_n:  # what the slow readers read (slow-readers)
            with open(os.path.join(www, SLOW_PATH.lstrip("/")), "wb") as f:
                f.write(bytes(range(256)) * (SLOW_SIZE // 256))
        body = SMALL_BODY.decode().replace("\n", "\\n")
        origins = {
            "small": (self.ports["P_ORIGIN_SMALL"], f'default_type text/plain; return 200 "{body}";'),
            # SLOW_PATH for the slow readers, the 1 MiB file for anything else
            "large": (self.ports["P_ORIGIN_LARGE"], "try_files $uri /1m.bin =404;"),
        }
        for name, (port, location) in origins.items():
            for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(self.run, f"origin-{name}-tmp", d), exist_ok=True)
            conf = self.render("nginx-origin.conf", f"origin-{name}.conf",
                               dict(RUN=self.run, NAME=name, PORT=port, LOCATION=location,
                                    NOFILE=self.nofile, WORKER_CONNECTIONS=self.nofile - 100))
            srv = Server(self, f"origin-{name}",
                         ["nginx", "-p", self.run, "-c", conf,
                          "-e", os.path.join(self.run, f"origin-{name}.err")], [port])
            self.servers[srv.name] = srv
            srv.start()

    def proxy_server(self, proxy, workers):
        values = dict(self.ports, RUN=self.run, MAXCONN=self.maxconn, NOFILE=self.nofile,
                      WORKER_CONNECTIONS=self.nofile - 100, CERT=self.cert,
                      TLS13_SUITES=self.args.tls_suites,
                      P_STATS=self.stats_port(), **self.proxy_ports(proxy))
        # the HTTP/2 frontends and their backends (conf/*h2*) are there only
        # when the h2 scenarios run: their pools take fds from maxconn
        h2 = bool(self.h2_scenarios)
        ports = [p for k, p in self.proxy_ports(proxy).items() if h2 or k not in H2_PORT_OFFSETS]
        nw = str(os.cpu_count() or 1) if workers == "auto" else workers
        # the h2 backends' idle pool, H2_POOL in all: sluice's pool_max_idle
        # and nginx's keepalive are per worker, HAProxy's pool-max-conn per
        # server (and the fds maxconn leaves for it are H2_POOL in all)
        values["H2_POOL"] = H2_POOL if proxy == "haproxy" else max(1, H2_POOL // int(nw))
        if proxy == "sluice":
            values["WORKERS"] = workers
            conf = self.render("sluice.ini", f"sluice-w{workers}.ini", values,
                               append="sluice-h2.ini" if h2 else None)
            rc, out = run_cmd([self.sluice_bin, "-c", "-f", conf], 10)
            if rc != 0:
                raise BenchError(f"sluice -c -f {conf} failed:\n{out}")
            argv = [self.sluice_bin, "-f", conf]
            ports.append(self.stats_port())
        elif proxy == "haproxy":
            values["WORKERS"] = nw
            conf = self.render("haproxy.cfg", f"haproxy-w{workers}.cfg", values)
            # the HTTP/2 frontends: a second file, after the first one's defaults and backends
            files = ["-f", conf]
            if h2:
                files += ["-f", self.render("haproxy-h2.cfg", f"haproxy-h2-w{workers}.cfg", values)]
            rc, out = run_cmd(["haproxy", "-c"] + files, 10)
            if rc != 0:
                raise BenchError(f"haproxy -c {' '.join(files)} failed:\n{out}")
            argv = ["haproxy", "-db"] + files
        else:
            values["WORKERS"] = nw
            for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(self.run, "nginx-proxy-tmp", d), exist_ok=True)
            # the HTTP/2 servers: their own file, included in the http block
            # (an empty one without the h2 scenarios)
            values["NGINX_H2"] = self.render("nginx-h2.conf" if h2 else None,
                                             f"nginx-h2-w{workers}.conf", values)
            conf = self.render("nginx-proxy.conf", f"nginx-proxy-w{workers}.conf", values)
            err = os.path.join(self.run, "nginx-proxy.err")
            rc, out = run_cmd(["nginx", "-t", "-p", self.run, "-c", conf, "-e", err], 10)
            if rc != 0:
                raise BenchError(f"nginx -t -c {conf} failed:\n{out}")
            argv = ["nginx", "-p", self.run, "-c", conf, "-e", err]
        return Server(self, proxy, argv, ports)

    # -- checks and warm-up

    def sanity(self, target, scenario):
        """One request with http.client: status 200 and the expected body."""
        import http.client
        import ssl
        pkey, okey = SCEN_PORTS[scenario]
        port = self.port(target, scenario)
        try:
            if scenario in TLS_SCENARIOS:
                # the chain must verify against the run's CA, for the bench
                # name, and be the very certificate every proxy was given
                ctx = ssl.create_default_context(cafile=self.ca)
                c = http.client.HTTPSConnection(TLS_NAME, port, timeout=5, context=ctx)
                c.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                         server_hostname=TLS_NAME)
                if c.sock.getpeercert(binary_form=True) != self.leaf_der:
                    return f"{target} {scenario}: served another certificate than {self.cert}"
            else:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/", headers={"Host": "bench"})
            r = c.getresponse()
            body = r.read()
            c.close()
        except (OSError, http.client.HTTPException, ssl.SSLError) as e:
            return f"{target} {scenario}: request failed: {e!r}"
        want = LARGE_SIZE if okey == "P_ORIGIN_LARGE" else len(SMALL_BODY)
        if r.status != 200 or len(body) != want:
            return f"{target} {scenario}: status {r.status}, body {len(body)} bytes (want 200, {want})"
        return None

    def h2load(self, url, n, conns=10):
        rc, out = run_cmd(["h2load", "--h1", "-n", str(n), "-c", str(conns), "-t", "1",
                           "-T", "10", "-N", "10", url], 180)
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        rps = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
        res = dict(rc=rc, out=out)
        if m:
            res.update(total=int(m.group(1)), done=int(m.group(3)), succeeded=int(m.group(4)),
                       failed=int(m.group(5)), errored=int(m.group(6)), timeout=int(m.group(7)))
        if codes:
            res.update(c2xx=int(codes.group(1)), c4xx=int(codes.group(3)), c5xx=int(codes.group(4)))
        if rps:
            res["rps"] = float(rps.group(1))
        return res

    def warm_up(self, workers):
        warmed = set()
        extra = ["reuse"] if self.extra and "reuse" not in self.scenarios else []
        for scenario in self.scenarios + extra:
            if scenario == "churn":
                continue
            for target in self.targets:
                if target == "direct" and DIRECT_KEY[scenario] is None:
                    continue
                # the TLS scenarios share one frontend: warm it once
                if (target, self.port(target, scenario)) in warmed:
                    continue
                warmed.add((target, self.port(target, scenario)))
                if target != "direct" and not self.ensure_alive(target, workers, f"warm-up {scenario}"):
                    continue
                if scenario in TLS_SCENARIOS:
                    self.tls_probe(target)
                err = self.sanity(target, scenario)
                if err:
                    self.event(f"workers={workers}: sanity check: {err}")
                    continue
                n = self.warm_n if scenario != "large" else max(100, self.warm_n // 20)
                r = self.h2load(self.url(target, scenario), n)
                if r.get("succeeded") != n or r.get("c2xx") != n:
                    self.event(f"workers={workers}: warm-up {target} {scenario}: h2load -n {n}: "
                               f"succeeded {r.get('succeeded')}, 2xx {r.get('c2xx')}, "
                               f"4xx {r.get('c4xx')}, 5xx {r.get('c5xx')}, errored {r.get('errored')}\n"
                               + r["out"][-1500:])

    # -- one wrk run

    def ensure_alive(self, proxy, workers, where):
        srv = self.servers.get(proxy)
        if srv and srv.alive():
            return True
        if srv and srv.proc is not None:
            self.event(f"workers={workers}: {proxy} died before {where} (exit status "
                       f"{srv.proc.returncode}); last output:\n{srv.output_tail()}")
            srv.proc = None
        if not srv:
            return False
        try:
            srv.start()
            return True
        except BenchError as e:
            self.event(f"workers={workers}: restarting {proxy} failed: {e}")
            return False

    def wrk(self, workers, rnd, scenario, target):
        if scenario in HS_SCENARIOS:
            return self.hs_run(workers, rnd, scenario, target)
        url = self.url(target, scenario)
        argv = ["wrk", "-t", str(self.args.threads), "-c", str(self.args.connections),
                "-d", f"{self.duration}s", "--timeout", "5s", "--latency",
                "-s", os.path.join(BENCH, "report.lua"), "-H", "Host: bench"]
        if scenario == "churn":
            argv += ["-H", "Connection: close"]
        argv.append(url)
        srv = self.servers.get(target) if target != "direct" else None
        if srv and not self.ensure_alive(target, workers, f"{scenario} round {rnd}"):
            return
        ctr0 = self.sluice_tls_counters() if target == "sluice" and scenario in TLS_SCENARIOS else None
        pids = srv.pids() if srv else []
        t0 = cpu_ticks(pids)
        rc, out = run_cmd(argv, self.duration + 30)
        t1 = cpu_ticks(srv.pids() if srv else [])
        m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
        label = f"workers={workers} round {rnd} {scenario} {target}"
        if rc != 0 or not m:
            self.event(f"{label}: wrk failed (rc {rc}):\n{out[-1500:]}")
            return
        r = json.loads(m.group(1))
        r.update(workers=workers, round=rnd, scenario=scenario, target=target,
                 rps=r["requests"] * 1e6 / max(1, r["duration_us"]))
        if srv:
            r["cpu_us_per_req"] = (t1 - t0) * 1e6 / CLK_TCK / max(1, r["requests"])
        self.note_sluice_tls(r, ctr0)
        errs = {k[4:]: r[k] for k in ("err_connect", "err_read", "err_write", "err_status",
                                      "err_timeout") if r[k]}
        # A server that closes after a Connection: close response makes wrk
        # count no error; anything here is a real failure.
        if errs:
            self.event(f"{label}: {r['requests']} responses, errors {errs}")
        if srv and not srv.alive():
            self.event(f"{label}: {target} died during the run (exit status "
                       f"{srv.proc.returncode}); last output:\n{srv.output_tail()}")
        self.results.append(r)
        log(f"{label}: {r['rps']:.0f} req/s p50 {r['p50_us'] / 1000:.3f} ms "
            f"p99 {r['p99_us'] / 1000:.3f} ms"
            + (f" cpu {r['cpu_us_per_req']:.1f} us/req" if srv else "")
            + (f" errors {errs}" if errs else ""))

    def note_sluice_tls(self, r, ctr0):
        """sluice's own count of the run's handshakes, full and resumed."""
        if ctr0 is None:
            return
        ctr1 = self.sluice_tls_counters()
        if ctr1 is None:
            self.event(f"workers={r['workers']} round {r['round']} {r['scenario']}: "
                       "sluice's /metrics did not answer")
            return
        r["sluice_handshakes"] = ctr1[0] - ctr0[0]
        r["sluice_resumed"] = ctr1[1] - ctr0[1]

    def hs_run(self, workers, rnd, scenario, target):
        """One run of the handshake client: every request on a new TLS
        connection, full handshakes (tls-handshake) or resumed (tls-resume)."""
        srv = self.servers.get(target)
        if not srv or not self.ensure_alive(target, workers, f"{scenario} round {rnd}"):
            return
        label = f"workers={workers} round {rnd} {scenario} {target}"
        argv = [sys.executable, os.path.join(BENCH, "tls_client.py"),
                "--port", str(self.port(target, scenario)), "--mode", HS_SCENARIOS[scenario],
                "--clients", str(self.args.tls_clients), "--duration", str(self.duration)]
        ctr0 = self.sluice_tls_counters() if target == "sluice" else None
        t0 = cpu_ticks(srv.pids())
        rc, out = run_group(self, argv, self.duration + 30)
        t1 = cpu_ticks(srv.pids())
        m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
        if rc != 0 or not m:
            self.event(f"{label}: tls client failed (rc {rc}):\n{out[-1500:]}")
            return
        r = json.loads(m.group(1))
        r.update(workers=workers, round=rnd, scenario=scenario, target=target,
                 rps=r["requests"] * 1e6 / max(1, r["duration_us"]),
                 hs_per_s=r["handshakes"] * 1e6 / max(1, r["duration_us"]))
        # one request per connection: CPU per request is CPU per handshake
        r["cpu_us_per_req"] = (t1 - t0) * 1e6 / CLK_TCK / max(1, r["requests"])
        r["cpu_us_per_hs"] = (t1 - t0) * 1e6 / CLK_TCK / max(1, r["handshakes"])
        self.note_sluice_tls(r, ctr0)
        errs = {k[4:]: r[k] for k in ("err_connect", "err_read", "err_write", "err_status",
                                      "err_timeout") if r[k]}
        if errs:
            self.event(f"{label}: {r['requests']} responses, errors {errs}\n"
                       + "\n".join(r.get("samples", [])))
        # The point of these scenarios: verify the kind of every handshake,
        # client side for every proxy and server side for sluice.
        want_resumed = r["handshakes"] if scenario == "tls-resume" else 0
        slack = 0 if scenario == "tls-handshake" else r["clients"]  # first one per client is full
        if not want_resumed - slack <= r["resumed"] <= want_resumed:
            self.event(f"{label}: {r['resumed']} of {r['handshakes']} handshakes resumed "
                       f"(client side), want {'all but the first per client' if want_resumed else 0}")
        if "sluice_handshakes" in r and (r["sluice_handshakes"] < r["handshakes"]
                                         or r["sluice_handshakes"] > r["handshakes"] + r["clients"]
                                         or r["sluice_resumed"] != r["resumed"]):
            self.event(f"{label}: sluice counted {r['sluice_handshakes']} handshakes, "
                       f"{r['sluice_resumed']} resumed; the client {r['handshakes']}, "
                       f"{r['resumed']} resumed")
        if not srv.alive():
            self.event(f"{label}: {target} died during the run (exit status "
                       f"{srv.proc.returncode}); last output:\n{srv.output_tail()}")
        self.results.append(r)
        log(f"{label}: {r['rps']:.0f} req/s p50 {r['p50_us'] / 1000:.3f} ms "
            f"p99 {r['p99_us'] / 1000:.3f} ms cpu {r['cpu_us_per_hs']:.1f} us/handshake, "
            f"{r['resumed']}/{r['handshakes']} resumed"
            + (f" (sluice: {r['sluice_resumed']}/{r['sluice_handshakes']})"
               if "sluice_handshakes" in r else "")
            + (f" errors {errs}" if errs else ""))

    def round_jobs(self):
        jobs, direct_done = [], set()
        for scenario in self.scenarios:
            for target in self.targets:
                if target == "direct":
                    key = DIRECT_KEY[scenario]
                    if key is None or key in direct_done:
                        continue
                    direct_done.add(key)
                jobs.append((scenario, target))
        return jobs

    # -- idle connections

    def idle_test(self, workers, proxy):
        srv = self.servers[proxy]
        if not self.ensure_alive(proxy, workers, "idle test"):
            return
        port = self.proxy_ports(proxy)["P_REUSE"]
        time.sleep(0.5)
        pids = srv.pids()
        rss0, fd0 = rss_kib(pids), fd_count(pids)
        p = subprocess.Popen([self.idle_bin, "127.0.0.1", str(port), str(self.idle_n)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.note_pid(p.pid)
        line, deadline = b"", time.monotonic() + 90
        try:
            while not line.endswith(b"\n") and time.monotonic() < deadline:
                ready, _, _ = select.select([p.stdout], [], [], 1.0)
                if ready:
                    chunk = os.read(p.stdout.fileno(), 256)
                    if not chunk:
                        break
                    line += chunk
            opened = int(line.split()[1]) if line.startswith(b"READY") else 0
            time.sleep(1.0)
            pids = srv.pids()
            rss1, fd1 = rss_kib(pids), fd_count(pids)
            alive_during = srv.alive()
            p.stdin.close()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            err = p.stderr.read().decode(errors="replace").strip()
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        # Closed client connections must be released at once: poll until the
        # fd count is back near its baseline and note how long that took.
        t_close, release_s, sock_s = time.monotonic(), None, None
        while time.monotonic() - t_close < 15:
            if sock_s is None and client_sockets(port) == 0:
                sock_s = time.monotonic() - t_close
            if fd_count(srv.pids()) <= fd0 + 8:
                release_s = time.monotonic() - t_close
                break
            time.sleep(0.02)
        if sock_s is None and wait_released(port, max(0.0, 15 - (time.monotonic() - t_close))) \
                is not None:
            sock_s = time.monotonic() - t_close
        time.sleep(0.5)
        pids = srv.pids()
        rss2, fd2 = rss_kib(pids), fd_count(pids)
        rec = dict(workers=workers, proxy=proxy, n=self.idle_n, opened=opened,
                   rss_before_kib=rss0, rss_idle_kib=rss1, rss_after_kib=rss2,
                   fds_before=fd0, fds_idle=fd1, fds_after=fd2, release_s=release_s,
                   release_sock_s=sock_s,
                   bytes_per_conn=(rss1 - rss0) * 1024 / max(1, opened))
        self.idle.append(rec)
        log(f"workers={workers} idle {proxy}: {opened} conns, RSS {rss0}->{rss1} KiB "
            f"({rec['bytes_per_conn']:.0f} B/conn), fds {fd0}->{fd1}->{fd2}, released in "
            + (f"{release_s:.2f} s" if release_s is not None else "more than 15 s"))
        if release_s is None or release_s > 1.0:
            self.event(f"workers={workers} idle {proxy}: after the client closed {opened} idle "
                       "connections at once, the proxy held their fds (CLOSE_WAIT) for "
                       + (f"{release_s:.2f} s" if release_s is not None else "over 15 s"))
        if opened < self.idle_n or err:
            self.event(f"workers={workers} idle {proxy}: opened {opened} of {self.idle_n}: {err}")
        if not alive_during or not srv.alive():
            self.event(f"workers={workers} idle {proxy}: {proxy} died; last output:\n"
                       + srv.output_tail())

    # -- scale and release (issue 16)

    def scale_test(self, workers):
        """The pooled frontend at every level of SCALE_CONNS (scale), or at
        the high ones only, once (release alone); interleaved like the
        rounds of the main table."""
        if "scale" in self.extra:
            levels, rounds = SCALE_CONNS, self.scale_rounds
        else:
            levels, rounds = [c for c in SCALE_CONNS if c >= RELEASE_MIN_CONNS], 1
        jobs = [(c, p) for c in levels for p in PROXIES if p in self.targets]
        for rnd in range(rounds):
            for conns, proxy in (jobs if rnd % 2 == 0 else list(reversed(jobs))):
                self.scale_run(workers, rnd, conns, proxy)

    def scale_run(self, workers, rnd, conns, proxy):
        """One wrk run of conns keep-alive clients, then the time until the
        proxy has closed every client connection wrk's exit closed."""
        srv = self.servers[proxy]
        label = f"workers={workers} round {rnd} scale {conns} {proxy}"
        if not self.ensure_alive(proxy, workers, label):
            return
        n = min(conns, self.maxconn - 200)
        port = self.proxy_ports(proxy)["P_REUSE"]
        argv = ["wrk", "-t", str(self.args.threads), "-c", str(n),
                "-d", f"{self.scale_duration}s", "--timeout", "10s", "--latency",
                "-s", os.path.join(BENCH, "report.lua"), "-H", "Host: bench",
                f"http://127.0.0.1:{port}/"]
        t0 = cpu_ticks(srv.pids())
        rc, out = run_cmd(argv, self.scale_duration + 60)
        t1 = cpu_ticks(srv.pids())
        # wrk has exited: the kernel sent a FIN on every connection at once
        release_s = wait_released(port) if n >= RELEASE_MIN_CONNS else None
        m = re.search(r"^BENCHJSON (\{.*\})$", out, re.M)
        if rc != 0 or not m:
            self.event(f"{label}: wrk failed (rc {rc}):\n{out[-1500:]}")
            return
        r = json.loads(m.group(1))
        r.update(workers=workers, round=rnd, proxy=proxy, conns=n,
                 rps=r["requests"] * 1e6 / max(1, r["duration_us"]),
                 cpu_us_per_req=(t1 - t0) * 1e6 / CLK_TCK / max(1, r["requests"]),
                 release_s=release_s, measured_release=n >= RELEASE_MIN_CONNS)
        self.scale.append(r)
        errs = {k[4:]: r[k] for k in ("err_connect", "err_read", "err_write", "err_status",
                                      "err_timeout") if r[k]}
        if errs:
            self.event(f"{label}: {r['requests']} responses, errors {errs}")
        if r["measured_release"] and release_s is None:
            self.event(f"{label}: client connections still open 15 s after wrk exited")
        if not srv.alive():
            self.event(f"{label}: {proxy} died; last output:\n" + srv.output_tail())
        log(f"{label}: {r['rps']:.0f} req/s p99 {r['p99_us'] / 1000:.3f} ms "
            f"cpu {r['cpu_us_per_req']:.1f} us/req"
            + (f" released in {release_s:.2f} s" if release_s is not None else "")
            + (f" errors {errs}" if errs else ""))

    # -- syscalls per request

    def strace_test(self, workers, proxy, scenario):
        srv = self.servers[proxy]
        if not self.ensure_alive(proxy, workers, "strace"):
            return
        pids = srv.pids()
        if proxy == "nginx":  # the master only manages its workers
            pids = [p for p in pids if p != srv.proc.pid] or pids
        out_path = os.path.join(self.run, f"strace-{proxy}-{scenario}-w{workers}.txt")
        argv = ["strace", "-c", "-f", "-o", out_path]
        for p in pids:
            argv += ["-p", str(p)]
        st = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
        self.note_pid(st.pid)
        time.sleep(1.0)
        r = self.h2load(self.url(proxy, scenario), self.strace_n)
        st.send_signal(signal.SIGINT)
        try:
            _, serr = st.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(st.pid, signal.SIGKILL)
            _, serr = st.communicate(timeout=5)
        calls, top = None, []
        try:
            with open(out_path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 5 and re.match(r"^[\d.]+$", parts[0]):
                        name = parts[-1]
                        if name == "total":
                            calls = int(parts[3])
                        else:
                            top.append((int(parts[3]), name))
        except OSError:
            pass
        top.sort(reverse=True)
        done = r.get("succeeded", 0)
        if calls is None:
            self.event(f"workers={workers} strace {proxy} {scenario}: no strace summary:\n"
                       + serr.decode(errors="replace")[-1000:])
            return
        rec = dict(workers=workers, proxy=proxy, scenario=scenario, requests=done,
                   syscalls=calls, per_req=calls / max(1, done),
                   top=[(n, c) for c, n in top[:4]])
        self.syscalls.append(rec)
        log(f"workers={workers} strace {proxy} {scenario}: {calls} syscalls / {done} requests "
            f"= {rec['per_req']:.2f}")
        if done != self.strace_n or r.get("c2xx") != self.strace_n:
            self.event(f"workers={workers} strace {proxy} {scenario}: h2load -n {self.strace_n}: "
                       f"succeeded {done}, 2xx {r.get('c2xx')}, errored {r.get('errored')}")
        if not srv.alive():
            self.event(f"workers={workers} strace {proxy}: {proxy} died under strace; last output:\n"
                       + srv.output_tail())

    # -- slow readers

    def slow_test(self, workers, proxy):
        """slow-readers: latency of small requests to the reuse listener,
        unloaded, then while slow_n clients slowly read SLOW_SIZE bytes each
        through the large listener of the same proxy (bench/slow_readers.py
        for both sides): the first slow_seconds after the readers start
        (ramp), then the next slow_seconds (steady)."""
        if proxy == "direct":
            # the machine's floor: the same load with no proxy at all (the
            # probe asks the small origin, the readers read the large one;
            # CPU and fds are the large origin's)
            srv = self.servers["origin-large"]
            ports = dict(P_REUSE=self.ports["P_ORIGIN_SMALL"],
                         P_LARGE=self.ports["P_ORIGIN_LARGE"])
        else:
            srv = self.servers[proxy]
            if not self.ensure_alive(proxy, workers, "slow-readers"):
                return
            ports = self.proxy_ports(proxy)
        secs = self.slow_seconds
        time.sleep(0.5)
        fd0 = fd_count(srv.pids())
        rec = dict(workers=workers, proxy=proxy, readers=self.slow_n, seconds=secs,
                   period=SLOW_PERIOD, size=SLOW_SIZE, phases={})
        label = f"workers={workers} slow-readers {proxy}"
        stats_path = os.path.join(self.run, f"slow-{proxy}-w{workers}.json")

        def readers_stats():
            try:
                with open(stats_path) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None

        def phase(name):
            pids = srv.pids()
            t0, st0 = cpu_ticks(pids), readers_stats()
            if st0 is None and name == "ramp":
                st0 = dict(bytes=0, seconds=0.0)  # they start now
            r = slow_probe(ports["P_REUSE"], secs, SLOW_PROBE_CONNS, tail=SMALL_BODY)
            pids = srv.pids()
            r["cpu_pct"] = (cpu_ticks(pids) - t0) * 100 / CLK_TCK / secs
            r["rss_kib"] = rss_kib(pids)
            st1 = readers_stats()
            if st0 and st1 and st1["seconds"] > st0["seconds"]:
                r["readers_mib_s"] = ((st1["bytes"] - st0["bytes"]) / 1048576
                                      / (st1["seconds"] - st0["seconds"]))
            rec["phases"][name] = r
            log(f"{label} {name}: {r['n']} requests, p50 {fmt_ms(r['p50'])} p99 "
                f"{fmt_ms(r['p99'])} (corrected {fmt_ms(r['p99c'])}) max {fmt_ms(r['max'])}, "
                f"stalled/failed {r['fails']}, "
                f"proxy CPU {r['cpu_pct']:.0f}%"
                + (f", readers {r['readers_mib_s']:.1f} MiB/s" if "readers_mib_s" in r else ""))

        phase("unloaded")
        err_path = os.path.join(self.run, f"slow-{proxy}-w{workers}.err")
        with open(err_path, "wb") as err:
            p = subprocess.Popen([sys.executable, os.path.join(BENCH, "slow_readers.py"),
                                  "--readers-of", str(ports["P_LARGE"]),
                                  "--readers", str(self.slow_n), "--period", str(SLOW_PERIOD),
                                  "--path", SLOW_PATH, "--stats-file", stats_path],
                                 stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        self.note_pid(p.pid)
        try:
            phase("ramp")
            phase("steady")
        finally:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        st = readers_stats() or {}
        rec.update(connected=st.get("connected", 0), reader_errors=st.get("errors", 0),
                   reader_mib=st.get("bytes", 0) / 1048576)
        # the next proxy's turn starts once this one has let go of the readers
        t_close, rec["release_s"] = time.monotonic(), None
        while time.monotonic() - t_close < 15:
            if fd_count(srv.pids()) <= fd0 + 8:
                rec["release_s"] = time.monotonic() - t_close
                break
            time.sleep(0.1)
        self.slow.append(rec)
        if rec["connected"] < self.slow_n or rec["reader_errors"]:
            self.event(f"{label}: {rec['connected']} of {self.slow_n} readers connected, "
                       f"{rec['reader_errors']} errors")
        if rec["phases"]["unloaded"]["fails"]:
            self.event(f"{label}: {rec['phases']['unloaded']['fails']} probe requests "
                       "stalled or failed without any slow reader")
        if rec["release_s"] is None:
            self.event(f"{label}: the proxy still held {fd_count(srv.pids()) - fd0} more fds "
                       "than before 15 s after the readers were stopped")
        if not srv.alive():
            self.event(f"{label}: {proxy} died; last output:\n" + srv.output_tail())

    # -- HTTP/2 (issue 18): h2load against the h2c and h2tls frontends

    def h2_setup(self, args):
        """Takes the HTTP/2 scenarios out of the wrk list: they have their own
        rounds (h2_rounds) and table (report.h2_table)."""
        if args.scenarios is None:
            self.h2_scenarios = list(H2_SCENARIOS) if args.mode == "full" else []
        else:
            self.h2_scenarios = [s for s in self.scenarios if s in H2_SCENARIOS]
        if args.h2:
            self.h2_scenarios += [s for s in H2_SCENARIOS if s not in self.h2_scenarios]
        self.scenarios = [s for s in self.scenarios if s not in H2_SCENARIOS]
        self.h2_clients = [int(c) for c in args.h2_clients.split(",")]
        self.h2_streams = args.h2_streams
        self.h2 = []           # one dict per h2load run
        if self.h2_scenarios:
            # the h2 backends' idle pools need fds too (sluice refuses a
            # configuration whose maxconn and pools exceed RLIMIT_NOFILE)
            self.maxconn = min(self.maxconn, (self.nofile - 512 - H2_POOL) // 2)
            if self.idle_n > self.maxconn - 200:
                self.idle_capped = self.idle_capped or self.idle_n
                self.idle_n = max(0, (self.maxconn - 200) // 500 * 500)
        self.h2_params = {}    # proxy -> what h2tls negotiated (protocol, suite, ALPN)

    def h2_url(self, proxy, scenario):
        scheme = "https" if scenario == "h2tls" else "http"
        return f"{scheme}://127.0.0.1:{self.proxy_ports(proxy)[H2_SCEN_PORT[scenario]]}/"

    @staticmethod
    def h2_parse(out):
        """h2load's summary: request counts, status classes, protocol, bytes
        of response bodies, and its own elapsed time."""
        res = {}
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
        if m:
            res.update(zip(("total", "started", "done", "succeeded", "failed", "errored",
                            "timeout"), map(int, m.groups())))
        m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if m:
            res.update(zip(("c2xx", "c3xx", "c4xx", "c5xx"), map(int, m.groups())))
        m = re.search(r"finished in ([\d.]+)(us|ms|s),", out)
        if m:
            res["seconds"] = float(m.group(1)) / {"us": 1e6, "ms": 1e3, "s": 1.0}[m.group(2)]
        m = re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers.*?\((\d+)\) data", out)
        if m:
            res["data_bytes"] = int(m.group(3))
        m = re.search(r"Application protocol: (\S+)", out)
        res["protocol"] = m.group(1) if m else None
        return res

    def h2_alpn(self, proxy, scenario):
        """h2tls: a verified chain with the run's very certificate, ALPN h2
        chosen from h2,http/1.1, and the same TLS as the other proxies."""
        import ssl
        port = self.proxy_ports(proxy)[H2_SCEN_PORT[scenario]]
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=TLS_NAME) as s:
                    got = dict(protocol=s.version(), suite=s.cipher()[0],
                               alpn=s.selected_alpn_protocol())
                    der = s.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError) as e:
            return f"{proxy} {scenario}: TLS handshake failed: {e!r}"
        self.h2_params[proxy] = got
        if der != self.leaf_der:
            return f"{proxy} {scenario}: served another certificate than {self.cert}"
        if got["alpn"] != "h2":
            return f"{proxy} {scenario}: ALPN {got['alpn']} offered h2,http/1.1, want h2"
        for other, v in self.h2_params.items():
            if other != proxy and (v["protocol"], v["suite"]) != (got["protocol"], got["suite"]):
                return (f"{proxy} {scenario}: negotiated {got} but {other} {v}: not the same "
                        "TLS for every proxy")
        return None

    def h2_check(self, workers, proxy, scenario):
        """Before the rounds (and as their warm-up): the proxy speaks h2 on the
        scenario's port and h2load -n warm_n gets only 200s with the small
        origin's body."""
        label = f"workers={workers}: h2 check {proxy} {scenario}"
        if not self.ensure_alive(proxy, workers, f"h2 check {scenario}"):
            return
        if scenario == "h2tls":
            err = self.h2_alpn(proxy, scenario)
            if err:
                self.event(f"{label}: {err}")
                return
        n = self.warm_n
        rc, out = run_cmd(["h2load", "-n", str(n), "-c", "10", "-m", str(self.h2_streams),
                           "-t", "1", "-T", "30", "-N", "10", self.h2_url(proxy, scenario)], 120)
        r = self.h2_parse(out)
        want_proto = "h2" if scenario == "h2tls" else "h2c"
        if (r.get("succeeded") != n or r.get("c2xx") != n or r.get("protocol") != want_proto
                or r.get("data_bytes") != n * len(SMALL_BODY)):
            self.event(f"{label}: h2load -n {n} -c 10 -m {self.h2_streams}: protocol "
                       f"{r.get('protocol')} (want {want_proto}), succeeded {r.get('succeeded')}, "
                       f"2xx {r.get('c2xx')}, 4xx {r.get('c4xx')}, 5xx {r.get('c5xx')}, errored "
                       f"{r.get('errored')}, body bytes {r.get('data_bytes')} (want "
                       f"{n * len(SMALL_BODY)})\n" + out[-1500:])

    def h2_run(self, workers, rnd, scenario, clients, target):
        """One h2load run: -c clients -m streams for the round's duration; the
        proxy's CPU over the run; p50 and p99 from h2load's per-request log
        (its summary has no percentiles)."""
        srv = self.servers.get(target)
        label = f"workers={workers} round {rnd} {scenario} -c{clients} {target}"
        if not srv or not self.ensure_alive(target, workers, f"{scenario} round {rnd}"):
            return
        logf = os.path.join(self.run, f"h2load-{target}-{scenario}-c{clients}.log")
        # -N: after the run, h2load waits for its connections to close, and
        # twice (nginx and HAProxy over TLS) it sat there until our timeout;
        # a connection idle for 5 s is closed (a stall in the run counts as
        # a timeout in its summary)
        argv = ["h2load", "-c", str(clients), "-m", str(self.h2_streams), "-t", "1",
                "-D", str(self.duration), "-N", "5s", "--log-file", logf,
                self.h2_url(target, scenario)]
        t0 = cpu_ticks(srv.pids())
        rc, out = run_cmd(argv, self.duration + 30)
        t1 = cpu_ticks(srv.pids())
        r = self.h2_parse(out)
        lat = []
        try:
            with open(logf) as f:
                for line in f:
                    parts = line.split("\t")
                    if len(parts) >= 3:
                        lat.append(int(parts[2]))
            os.unlink(logf)
        except (OSError, ValueError):
            pass
        if rc != 0 or "succeeded" not in r or not r.get("seconds") or not lat:
            self.event(f"{label}: h2load failed (rc {rc}, {len(lat)} logged requests):\n"
                       + out[-1500:])
            return
        lat.sort()
        ok = r["succeeded"]
        r.update(workers=workers, round=rnd, scenario=scenario, clients=clients, target=target,
                 streams=self.h2_streams, rps=ok / r["seconds"],
                 p50_us=lat[(len(lat) - 1) // 2], p99_us=lat[max(0, -(-len(lat) * 99 // 100) - 1)],
                 max_us=lat[-1], logged=len(lat),
                 cpu_us_per_req=(t1 - t0) * 1e6 / CLK_TCK / max(1, ok),
                 unfinished=r.get("started", 0) - r.get("done", 0))
        bad = {k: r.get(k) for k in ("failed", "errored", "timeout", "c3xx", "c4xx", "c5xx")
               if r.get(k)}
        if bad or r.get("protocol") not in ("h2", "h2c"):
            self.event(f"{label}: {ok} succeeded, protocol {r.get('protocol')}, {bad}\n"
                       + out[-1500:])
        if not srv.alive():
            self.event(f"{label}: {target} died during the run (exit status "
                       f"{srv.proc.returncode}); last output:\n{srv.output_tail()}")
        self.h2.append(r)
        log(f"{label}: {r['rps']:.0f} req/s p50 {r['p50_us'] / 1000:.3f} ms "
            f"p99 {r['p99_us'] / 1000:.3f} ms cpu {r['cpu_us_per_req']:.1f} us/req"
            + (f" {bad}" if bad else ""))

    def h2_rounds(self, workers):
        """The HTTP/2 scenarios, after the wrk rounds: every proxy checked, then
        interleaved rounds of (scenario, clients, proxy) jobs like wrk's."""
        jobs = [(s, c, t) for s in self.h2_scenarios for c in self.h2_clients
                for t in PROXIES if t in self.targets]
        if not jobs:
            return
        for s in self.h2_scenarios:
            for t in PROXIES:
                if t in self.targets:
                    self.h2_check(workers, t, s)
        for rnd in range(self.rounds):
            order = jobs if rnd % 2 == 0 else list(reversed(jobs))
            for job in order:
                self.h2_run(workers, rnd, *job)

    # -- main sequence

    def run_workers(self, workers):
        log(f"=== workers = {workers}")
        for proxy in PROXIES:
            if proxy in self.targets:
                srv = self.proxy_server(proxy, workers)
                self.servers[proxy] = srv
                srv.start()
        try:
            self.warm_up(workers)
            jobs = self.round_jobs()
            for rnd in range(self.rounds):
                order = jobs if rnd % 2 == 0 else list(reversed(jobs))
                for scenario, target in order:
                    self.wrk(workers, rnd, scenario, target)
            self.h2_rounds(workers)
            if self.extra:
                self.scale_test(workers)
            if self.idle_n > 0:
                for proxy in PROXIES:
                    if proxy in self.targets:
                        self.idle_test(workers, proxy)
            if self.strace_n > 0 and shutil.which("strace"):
                for scenario in self.strace_scenarios:
                    if scenario not in self.scenarios:
                        continue
                    for proxy in ("sluice", "haproxy", "nginx"):
                        if proxy in self.targets:
                            self.strace_test(workers, proxy, scenario)
            if self.slow_n > 0 and workers in self.slow_workers:
                for proxy in PROXIES:
                    if proxy in self.targets:
                        self.slow_test(workers, proxy)
                if "direct" in self.targets:
                    self.slow_test(workers, "direct")
        finally:
            for proxy in PROXIES:
                srv = self.servers.pop(proxy, None)
                if srv:
                    self.note_output(srv, workers)
                    srv.stop()

    def note_output(self, srv, workers):
        """Keeps anything sluice wrote (log = off: only start-up lines and faults)."""
        if srv.name != "sluice":
            return
        lines = [ln for ln in srv.output_lines() if not ln.startswith("=== start")]
        interesting = [ln for ln in lines
                       if not re.search(r"listening|started|worker \d+ (up|ready)|stats.*not served",
                                        ln, re.I)]
        if interesting:
            self.events.append(f"workers={workers}: sluice output ({len(lines)} lines, last 40):\n"
                               + "\n".join(lines[-40:]))

    def main(self):
        log(f"run dir {self.run}")
        self.check_ports()
        self.make_cert()
        self.start_origins()
        try:
            for w in self.worker_sets:
                self.run_workers(w)
        finally:
            for srv in list(self.servers.values()):
                srv.stop()
        self.finished = datetime.datetime.now().astimezone()


# ---------------------------------------------------------------- entry

def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick")
    g.add_argument("--full", dest="mode", action="store_const", const="full")
    ap.set_defaults(mode="full")
    ap.add_argument("--sluice", default=os.path.join(ROOT, "build", "sluice"))
    ap.add_argument("--idle-client", default=os.path.join(ROOT, "build", "bench", "idle_client"))
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=int, help="seconds per wrk run")
    ap.add_argument("--workers", help="comma list: 1,auto")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--connections", type=int, default=50, help="wrk connections")
    ap.add_argument("--idle", type=int, help="idle client connections (0: skip)")
    ap.add_argument("--strace-n", type=int, help="requests under strace (0: skip)")
    ap.add_argument("--strace-scenarios",
                    help="comma list of the scenarios counted under strace (default: reuse in "
                    "--quick; tcp,close,reuse in --full)")
    ap.add_argument("--scenarios", help="comma list of "
                    + ",".join(ALL_SCENARIOS + H2_SCENARIOS + EXTRA_SCENARIOS)
                    + " (default: all in --full, the plain ones in --quick; none: no wrk run)")
    ap.add_argument("--slow-readers", type=int,
                    help="slow readers of the slow-readers scenario (0: skip; default 1000 "
                    "in --full, 0 in --quick)")
    ap.add_argument("--slow-seconds", type=int,
                    help="seconds of each slow-readers phase (unloaded, ramp, steady; default 8)")
    ap.add_argument("--tls", action="store_true",
                    help="add the TLS scenarios (" + ",".join(TLS_SCENARIOS) + ") to the list")
    ap.add_argument("--tls-suites", default=TLS13_SUITES,
                    help="TLS 1.3 suites of HAProxy and nginx, server's order (default: sluice's)")
    ap.add_argument("--tls-clients", type=int, default=8,
                    help="processes of the handshake client, bench/tls_client.py "
                    "(tls-handshake, tls-resume)")
    ap.add_argument("--h2", action="store_true",
                    help="add the HTTP/2 scenarios (" + ",".join(H2_SCENARIOS) + ") to the list "
                    "(in --full by default)")
    ap.add_argument("--h2-clients", default=",".join(str(c) for c in H2_CLIENTS),
                    help="comma list of h2load client counts (-c) of the HTTP/2 scenarios")
    ap.add_argument("--h2-streams", type=int, default=H2_STREAMS,
                    help="h2load -m: concurrent streams per client connection")
    ap.add_argument("--targets", help="comma list of " + ",".join(TARGETS))
    ap.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE", 18000)))
    ap.add_argument("--run-dir")
    ap.add_argument("--out", default=os.path.join(BENCH, "results", "latest.md"))
    ap.add_argument("--command", help="command line quoted in the report")
    args = ap.parse_args()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    # Children inherit the limit. Without CAP_SYS_RESOURCE the hard limit
    # stays as it is, and the connection limits below follow it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 70000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for tool in ("wrk", "h2load", "haproxy", "nginx", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found (make bench installs it)")
    b = Bench(args)
    for path in (b.sluice_src, b.idle_bin):
        if not os.access(path, os.X_OK):
            sys.exit(f"bench: {path} missing (make bench builds it)")
    shutil.copy2(b.sluice_src, b.sluice_bin)
    command = args.command or " ".join(["python3", "bench/run.py"] + sys.argv[1:])
    rc = 0
    try:
        b.main()
    except BenchError as e:
        log(f"error: {e}")
        b.events.append(f"bench stopped: {e}")
        b.finished = datetime.datetime.now().astimezone()
        rc = 1
    except SystemExit as e:
        log(f"interrupted ({e.code}); stopping everything")
        for srv in list(b.servers.values()):
            srv.stop()
        raise
    report(b, args.out, command, tool_versions(b))
    log(f"wrote {args.out}")
    if b.events:
        with open(os.path.join(b.run, "failures"), "w") as f:
            f.write("\n\n".join(b.events) + "\n")
        log(f"{len(b.events)} failure(s) listed in {args.out}; logs in {b.run}")
    if not args.run_dir and not b.events:
        shutil.rmtree(b.run, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
