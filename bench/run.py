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
scenarios use this file's own client (`run.py --tls-client`, forked
processes, one request per connection) because wrk and h2load resume the
TLS session when they reconnect: tls-handshake never offers a session, so
every connection is a full handshake; tls-resume offers the last one.

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
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
CLK_TCK = os.sysconf("SC_CLK_TCK")
SMALL_BODY = b"hello from the bench origin\n"
LARGE_SIZE = 1 << 20

PROXIES = ["sluice", "haproxy", "nginx"]
TARGETS = PROXIES + ["direct"]
SCENARIOS = ["tcp", "close", "reuse", "churn", "large"]
TLS_SCENARIOS = ["tls-keepalive", "tls-handshake", "tls-resume"]
ALL_SCENARIOS = SCENARIOS + TLS_SCENARIOS
# scenarios driven by the handshake client (one request per TLS connection)
HS_SCENARIOS = {"tls-handshake": "full", "tls-resume": "resume"}
TLS_NAME = "bench.example.test"
# The TLS 1.3 suite order (server preference) of sluice (proto/tls.c: ChaCha20
# first, as Debian's wolfSSL has no AES-NI code); HAProxy and nginx get the same
# (@TLS13_SUITES@ in bench/conf/), so that all negotiate the same suite.
TLS13_SUITES = "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
SCENARIO_DOC = {
    "tcp": "L4 forwarding of keep-alive HTTP (sluice mode=tcp, HAProxy mode tcp, nginx stream)",
    "close": "client keep-alive, new server connection per request "
             "(sluice http-server-close, HAProxy option http-server-close, nginx without upstream keepalive)",
    "reuse": "client keep-alive, pooled server connections "
             "(sluice http-keep-alive, HAProxy http-reuse always, nginx upstream keepalive)",
    "churn": "a new client connection per request (wrk -H 'Connection: close') to the pooled frontend",
    "large": "1 MiB responses through the pooled frontend",
    "tls-keepalive": "TLS termination, client keep-alive (wrk over https, one handshake per "
                     "client connection), pooled server connections to the small origin",
    "tls-handshake": "a new TLS connection with a full handshake for every request "
                     "(run.py --tls-client: never offers a session), same frontend",
    "tls-resume": "a new TLS connection per request resuming the previous session "
                  "(TLS 1.3 ticket, run.py --tls-client), same frontend",
}
# scenario -> (proxy port key, origin port key, extra wrk args)
SCEN_PORTS = {
    "tcp": ("P_TCP", "P_ORIGIN_SMALL"),
    "close": ("P_CLOSE", "P_ORIGIN_SMALL"),
    "reuse": ("P_REUSE", "P_ORIGIN_SMALL"),
    "churn": ("P_REUSE", "P_ORIGIN_SMALL"),
    "large": ("P_LARGE", "P_ORIGIN_LARGE"),
    "tls-keepalive": ("P_TLS", "P_ORIGIN_SMALL"),
    "tls-handshake": ("P_TLS", "P_ORIGIN_SMALL"),
    "tls-resume": ("P_TLS", "P_ORIGIN_SMALL"),
}
# the direct-to-origin traffic equivalent to each scenario (measured once per round)
# (None: no direct equivalent, the origin does not speak TLS)
DIRECT_KEY = {"tcp": "small", "close": "small", "reuse": "small", "churn": "churn", "large": "large",
              "tls-keepalive": None, "tls-handshake": None, "tls-resume": None}
PORT_OFFSETS = {"P_TCP": 0, "P_CLOSE": 1, "P_REUSE": 2, "P_LARGE": 3, "P_TLS": 4}
STATS_OFFSET = 9  # sluice's stats listener: base + 19
PROXY_PORT_BASE = {"sluice": 10, "haproxy": 20, "nginx": 30}

MODES = {
    "quick": dict(rounds=2, duration=2, workers=["1"], idle=10000, strace_n=10000,
                  strace_scenarios=["reuse"], warm_n=2000, scenarios=SCENARIOS),
    "full": dict(rounds=4, duration=6, workers=["1", "auto"], idle=10000, strace_n=20000,
                 strace_scenarios=["tcp", "close", "reuse"], warm_n=5000, scenarios=ALL_SCENARIOS),
}


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
        self.strace_n = args.strace_n or m["strace_n"]
        self.strace_scenarios = m["strace_scenarios"]
        self.warm_n = m["warm_n"]
        self.scenarios = args.scenarios.split(",") if args.scenarios else list(m["scenarios"])
        if args.tls:
            self.scenarios += [s for s in TLS_SCENARIOS if s not in self.scenarios]
        bad = [s for s in self.scenarios if s not in ALL_SCENARIOS]
        if bad:
            raise SystemExit(f"bench: unknown scenario(s) {bad}; known: {','.join(ALL_SCENARIOS)}")
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
        return {k: b + off for k, off in PORT_OFFSETS.items()}

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

    def render(self, template, out_name, values):
        with open(os.path.join(BENCH, "conf", template)) as f:
            text = f.read()
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
        body = SMALL_BODY.decode().replace("\n", "\\n")
        origins = {
            "small": (self.ports["P_ORIGIN_SMALL"], f'default_type text/plain; return 200 "{body}";'),
            "large": (self.ports["P_ORIGIN_LARGE"], "try_files /1m.bin =404;"),
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
        ports = list(self.proxy_ports(proxy).values())
        nw = str(os.cpu_count() or 1) if workers == "auto" else workers
        if proxy == "sluice":
            values["WORKERS"] = workers
            conf = self.render("sluice.ini", f"sluice-w{workers}.ini", values)
            rc, out = run_cmd([self.sluice_bin, "-c", "-f", conf], 10)
            if rc != 0:
                raise BenchError(f"sluice -c -f {conf} failed:\n{out}")
            argv = [self.sluice_bin, "-f", conf]
            ports.append(self.stats_port())
        elif proxy == "haproxy":
            values["WORKERS"] = nw
            conf = self.render("haproxy.cfg", f"haproxy-w{workers}.cfg", values)
            rc, out = run_cmd(["haproxy", "-c", "-f", conf], 10)
            if rc != 0:
                raise BenchError(f"haproxy -c -f {conf} failed:\n{out}")
            argv = ["haproxy", "-db", "-f", conf]
        else:
            values["WORKERS"] = nw
            for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.makedirs(os.path.join(self.run, "nginx-proxy-tmp", d), exist_ok=True)
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
        for scenario in self.scenarios:
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
        argv = [sys.executable, os.path.abspath(__file__), "--tls-client",
                "--tls-port", str(self.port(target, scenario)), "--tls-mode", HS_SCENARIOS[scenario],
                "--tls-clients", str(self.args.tls_clients), "--duration", str(self.duration)]
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
        t_close, release_s = time.monotonic(), None
        while time.monotonic() - t_close < 15:
            if fd_count(srv.pids()) <= fd0 + 8:
                release_s = time.monotonic() - t_close
                break
            time.sleep(0.05)
        time.sleep(0.5)
        pids = srv.pids()
        rss2, fd2 = rss_kib(pids), fd_count(pids)
        rec = dict(workers=workers, proxy=proxy, n=self.idle_n, opened=opened,
                   rss_before_kib=rss0, rss_idle_kib=rss1, rss_after_kib=rss2,
                   fds_before=fd0, fds_idle=fd1, fds_after=fd2, release_s=release_s,
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


# ---------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def ratio(a, b):
    return None if a is None or not b else a / b


def summarize(b):
    """{(workers, scenario, target): medians}"""
    out = {}
    for w in b.worker_sets:
        for s in b.scenarios:
            for t in b.targets:
                if t == "direct":
                    runs = [r for r in b.results if r["workers"] == w and r["target"] == t
                            and DIRECT_KEY[r["scenario"]] == DIRECT_KEY[s]]
                else:
                    runs = [r for r in b.results
                            if r["workers"] == w and r["scenario"] == s and r["target"] == t]
                if not runs:
                    continue
                errs = sum(r[k] for r in runs for k in ("err_connect", "err_read", "err_write",
                                                         "err_timeout"))
                out[(w, s, t)] = dict(
                    runs=len(runs), rps=med([r["rps"] for r in runs]),
                    p50=med([r["p50_us"] / 1000 for r in runs]),
                    p99=med([r["p99_us"] / 1000 for r in runs]),
                    cpu=med([r.get("cpu_us_per_req") for r in runs]),
                    non2xx=sum(r["err_status"] for r in runs), sockerr=errs,
                    requests=sum(r["requests"] for r in runs),
                    cpu_hs=med([r.get("cpu_us_per_hs") for r in runs]),
                    hs_per_s=med([r.get("hs_per_s") for r in runs]),
                    handshakes=sum(r.get("handshakes", 0) for r in runs),
                    resumed=sum(r.get("resumed", 0) for r in runs),
                    sluice_hs=sum(r.get("sluice_handshakes", 0) for r in runs),
                    sluice_resumed=sum(r.get("sluice_resumed", 0) for r in runs),
                    negotiated=next((r["negotiated"] for r in runs if r.get("negotiated")), None))
    return out


def targets_check(b, summ, w):
    lines = []

    def get(s, t, k):
        return summ.get((w, s, t), {}).get(k)

    def best(s, k, lowest=False):
        vals = [get(s, t, k) for t in ("haproxy", "nginx") if get(s, t, k) is not None]
        if not vals:
            return None
        return min(vals) if lowest else max(vals)

    def line(name, value, goal, ok_if_le=False):
        if value is None:
            lines.append(f"| {name} | - | {goal} | not measured |")
            return
        met = value <= goal if ok_if_le else value >= goal
        lines.append(f"| {name} | {value:.3f} | {'<=' if ok_if_le else '>='} {goal} | "
                     f"{'met' if met else '**not met**'} |")

    line("close: req/s vs HAProxy", ratio(get("close", "sluice", "rps"), get("close", "haproxy", "rps")), 1.5)
    line("close: CPU/req vs HAProxy", ratio(get("close", "sluice", "cpu"), get("close", "haproxy", "cpu")),
         0.6, True)
    line("reuse: req/s vs the better peer", ratio(get("reuse", "sluice", "rps"), best("reuse", "rps")), 1.3)
    line("reuse: CPU/req vs the better peer",
         ratio(get("reuse", "sluice", "cpu"), best("reuse", "cpu", True)), 0.7, True)
    line("tcp: req/s vs the better peer", ratio(get("tcp", "sluice", "rps"), best("tcp", "rps")), 1.2)
    for s in [s for s in b.scenarios if s in SCENARIOS]:
        line(f"{s}: p99 vs the best peer", ratio(get(s, "sluice", "p99"), best(s, "p99", True)),
             1.0, True)
    idle = [r for r in b.idle if r["workers"] == w and r["proxy"] == "sluice"]
    if idle:
        line("idle: KiB per idle client connection", idle[0]["bytes_per_conn"] / 1024, 1.0, True)
    return lines


def tls_method(b):
    """How the TLS scenarios ran and what each proxy negotiated."""
    neg = "; ".join(f"{p}: {v.get('protocol', '?')} {v.get('suite', '?')}, key exchange "
                    f"{v.get('group', '?')}, ALPN {v.get('alpn', '-')}"
                    for p, v in b.tls_params.items())
    return ("TLS: one certificate per run, made with the openssl CLI: a self-signed CA and an EC "
            f"P-256 leaf for `{TLS_NAME}` (and IP 127.0.0.1), ECDSA-SHA256; every proxy serves "
            "the same PEM (leaf certificate, then its PKCS#8 key: sluice `ssl crt=`, HAProxy "
            "`ssl crt`, nginx `ssl_certificate` and `ssl_certificate_key`), checked once per "
            "proxy (the chain verifies against the CA and the leaf is byte for byte the one "
            "generated). All allow TLS 1.2 and 1.3; HAProxy and nginx are given sluice's TLS 1.3 "
            f"suite order, server preference (`{b.args.tls_suites}`); session tickets on "
            "(every proxy's default). Negotiated with an OpenSSL 3 client's defaults (`openssl s_client`): "
            f"{neg or 'not probed'}. `tls-keepalive` runs wrk over https "
            f"(-c{b.args.connections}: one handshake per client connection). `tls-handshake` "
            f"and `tls-resume` run `run.py --tls-client` ({b.args.tls_clients} processes, "
            "Python ssl over OpenSSL 3; a new TCP connection, handshake and one request with "
            "`Connection: close` each, read to EOF): wrk and h2load were not used because they "
            "resume the session whenever they reconnect (measured: wrk -H 'Connection: close' "
            "resumed 99.9% of its handshakes against sluice). For tls-handshake the client "
            "never offers a session; every run checks that it resumed nothing and that "
            "sluice's `sluice_frontend_tls_handshakes_total` grew by the client's handshake "
            "count and `sluice_frontend_tls_resumed_total` by its resumed count (0). The "
            "client is the bottleneck (OpenSSL 3's client side of a handshake costs more CPU "
            "than the server's, on the same 2 CPUs), so compare CPU µs per handshake more "
            "than handshakes/s.\n")


def tls_table(b, summ, w, nw):
    rows = [(s, t) for s in b.scenarios if s in HS_SCENARIOS for t in b.targets
            if (w, s, t) in summ]
    if not rows:
        return []
    L = [f"### TLS handshakes (workers = {nw})\n",
         "One request per TLS connection, so CPU µs per handshake is also per request: "
         "TCP accept, handshake, request through the pool and teardown. 'client': handshakes "
         "and resumptions the handshake client saw over all rounds; 'sluice counted': the "
         "deltas of sluice's `sluice_frontend_tls_handshakes_total` and "
         "`sluice_frontend_tls_resumed_total` over the same runs.\n",
         "| scenario | proxy | handshakes/s | p99 ms | CPU µs/handshake | CPU vs HAProxy "
         "| CPU vs nginx | handshakes (client) | resumed (client) | sluice counted: handshakes, resumed |",
         "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for s, t in rows:
        r = summ[(w, s, t)]
        h, n = (summ.get((w, s, x), {}) for x in ("haproxy", "nginx"))
        sl = f"{r['sluice_hs']:,}, {r['sluice_resumed']:,}" if t == "sluice" else "-"
        L.append(f"| {s} | {'**sluice**' if t == 'sluice' else t} | {fmt(r['hs_per_s'], ',.0f')} | "
                 f"{fmt(r['p99'], '.3f')} | {fmt(r['cpu_hs'], '.1f')} | "
                 f"{fmt(ratio(r['cpu_hs'], h.get('cpu_hs')), '.2f')} | "
                 f"{fmt(ratio(r['cpu_hs'], n.get('cpu_hs')), '.2f')} | "
                 f"{r['handshakes']:,} | {r['resumed']:,} | {sl} |")
    L.append("")
    return L


def report(b, path, command):
    summ = summarize(b)
    u = os.uname()
    cpu_model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu_model = m.group(1) if m else "?"
    except OSError:
        pass
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(b.sluice_bin)).astimezone()
    gitrev = f"{b.gitrev}, built {mtime:%Y-%m-%d %H:%M}"
    versions = {
        "sluice": tool_version([b.sluice_bin, "-v"], r"sluice (\S+)") + f" (git {gitrev})",
        "HAProxy": tool_version(["haproxy", "-v"], r"version (\S+)"),
        "nginx": tool_version(["nginx", "-v"], r"nginx/(\S+)"),
        "wrk": tool_version(["wrk", "-v"], r"wrk (\S+)"),
        "h2load": tool_version(["h2load", "--version"], r"(nghttp2/\S+)"),
        "strace": tool_version(["strace", "-V"], r"version (\S+)"),
    }
    L = []
    L.append("# sluice benchmark results\n")
    L.append(f"- **date**: {b.started:%Y-%m-%d %H:%M %Z} (took {(b.finished - b.started).seconds} s)")
    L.append(f"- **command**: `{command}`")
    L.append(f"- **machine**: {os.cpu_count()} CPUs (nproc), {cpu_model}, Linux {u.release} {u.machine}")
    L.append("- **versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    L.append(f"- **method**: {b.rounds} rounds of {b.duration} s per target and scenario, "
             f"interleaved (the job list, then reversed); wrk -t{b.args.threads} "
             f"-c{b.args.connections} --latency; medians over rounds. Everything on 127.0.0.1, "
             "client, proxies and origins share the machine's CPUs. Configurations: "
             "`bench/conf/` (`sluice.ini`, `haproxy.cfg`, `nginx-proxy.conf`, origins "
             "`nginx-origin.conf`: nginx, 1 worker, 28-byte body or 1 MiB file).")
    L.append("- **CPU µs/req**: utime+stime of all the proxy's processes and threads "
             "(/proc/PID/stat) over the run, divided by the responses wrk (or, for "
             "tls-handshake and tls-resume, the TLS client) counted.")
    L.append("- **ratios**: req/s of the row's target divided by HAProxy's, nginx's, the direct "
             "origin's; CPU ratio = row's CPU/req divided by HAProxy's / nginx's.\n")
    L.append("Scenarios:\n")
    for s in b.scenarios:
        L.append(f"- `{s}`: {SCENARIO_DOC[s]}")
    L.append("- `direct`: the same traffic sent to the origin, the ceiling "
             "(tcp, close and reuse share one direct measurement per round; none for TLS: "
             "the origin speaks plain HTTP).\n")
    if any(s in TLS_SCENARIOS for s in b.scenarios):
        L.append(tls_method(b))
    for w in b.worker_sets:
        nw = os.cpu_count() if w == "auto" else w
        L.append(f"## workers = {nw}" + (" (number of CPUs)" if w == "auto" else "") + "\n")
        L.append("| scenario | target | req/s | p50 ms | p99 ms | CPU µs/req | req/s vs HAProxy "
                 "| vs nginx | vs direct | CPU vs HAProxy | CPU vs nginx | non-2xx | socket errors |")
        L.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for s in b.scenarios:
            for t in b.targets:
                r = summ.get((w, s, t))
                if not r:
                    continue
                h, n, d = (summ.get((w, s, x), {}) for x in ("haproxy", "nginx", "direct"))
                name = f"**{t}**" if t == "sluice" else t
                L.append(f"| {s} | {name} | {fmt(r['rps'], ',.0f')} | {fmt(r['p50'], '.3f')} | "
                         f"{fmt(r['p99'], '.3f')} | {fmt(r['cpu'], '.1f')} | "
                         f"{fmt(ratio(r['rps'], h.get('rps')), '.2f')} | "
                         f"{fmt(ratio(r['rps'], n.get('rps')), '.2f')} | "
                         f"{fmt(ratio(r['rps'], d.get('rps')), '.2f')} | "
                         f"{fmt(ratio(r['cpu'], h.get('cpu')), '.2f')} | "
                         f"{fmt(ratio(r['cpu'], n.get('cpu')), '.2f')} | "
                         f"{r['non2xx']} | {r['sockerr']} |")
        L.append("")
        L.extend(tls_table(b, summ, w, nw))
        L.append(f"### Targets of issue 5 (workers = {nw})\n")
        L.append("| target | sluice | goal | |")
        L.append("|---|--:|--:|---|")
        L.extend(targets_check(b, summ, w))
        L.append("")
        idle = [r for r in b.idle if r["workers"] == w]
        if idle:
            L.append(f"### Idle client connections (workers = {nw})\n")
            L.append(f"{idle[0]['n']:,} keep-alive client connections to the `reuse` frontend, each "
                     "after one request, held idle (bench/idle_client.c). RSS and fds summed over "
                     "the proxy's processes."
                     + (f" (Not {b.idle_capped:,}: RLIMIT_NOFILE is {b.nofile} here and cannot be "
                        f"raised, so every proxy gets maxconn {b.maxconn}.)" if b.idle_capped else "")
                     + " nginx allocates and initialises its connection array for "
                     "worker_connections at start, so its baseline already holds most of what an "
                     "idle connection costs it. 's until fds released': time from the client "
                     "closing every connection until the proxy's fd count is back at its baseline.\n")
            L.append("| proxy | connections | RSS before KiB | RSS idle KiB | bytes per idle conn "
                     "| RSS after close KiB | fds before | fds idle | fds after close "
                     "| s until fds released |")
            L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
            for r in idle:
                rel = "> 15" if r["release_s"] is None else f"{r['release_s']:.2f}"
                L.append(f"| {r['proxy']} | {r['opened']:,} | {r['rss_before_kib']:,} | "
                         f"{r['rss_idle_kib']:,} | {r['bytes_per_conn']:,.0f} | "
                         f"{r['rss_after_kib']:,} | {r['fds_before']} | "
                         f"{r['fds_idle']} | {r['fds_after']} | {rel} |")
            L.append("")
        sc = [r for r in b.syscalls if r["workers"] == w]
        if sc:
            L.append(f"### Syscalls per request (workers = {nw})\n")
            L.append(f"`strace -c -f -p PID` (nginx: its workers) while `h2load --h1 -n {b.strace_n} "
                     "-c 10` runs; every syscall of every thread counted, divided by completed "
                     "requests.\n")
            L.append("| scenario | proxy | requests | syscalls | per request | most frequent |")
            L.append("|---|---|--:|--:|--:|---|")
            for r in sc:
                top = ", ".join(f"{n} {c}" for n, c in r["top"])
                L.append(f"| {r['scenario']} | {r['proxy']} | {r['requests']:,} | {r['syscalls']:,} | "
                         f"{r['per_req']:.2f} | {top} |")
            L.append("")
    L.append("## Failures observed\n")
    if b.events:
        L.append("wrk socket errors: `read` = the connection was closed (EOF or reset) before a "
                 "complete response, `connect`/`write`/`timeout` as named; non-2xx = responses "
                 "with another status (a proxy's 502/503/504). Logs: the run directory printed "
                 "at the end of the run.\n")
        for e in b.events:
            first, _, rest = e.partition("\n")
            L.append(f"- {first}")
            if rest.strip():
                L.append("\n```\n" + rest.strip()[-3000:] + "\n```")
    else:
        L.append("None: no crash, no non-2xx response, no socket error, no failed start.")
    L.append("")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L))
    raw = dict(date=b.started.isoformat(), command=command, versions=versions,
               results=b.results, idle=b.idle, syscalls=b.syscalls, events=b.events,
               tls=b.tls_params)
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    log(f"wrote {path}")


# ---------------------------------------------------------------- TLS client

def tls_client_loop(port, mode, deadline):
    """One client process: until deadline, a new TCP connection and TLS
    handshake per request (GET, Connection: close), read to EOF. mode "full"
    never offers a session (nothing is kept between connections), "resume"
    offers the session of its previous connection (TLS 1.3: the newest
    ticket). The chain is not verified here (sanity() does it once); the
    handshake still checks the server's CertificateVerify signature."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    req = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    st = dict(requests=0, handshakes=0, resumed=0, bytes=0, err_connect=0, err_read=0,
              err_write=0, err_status=0, err_timeout=0, lat=[], samples=[], negotiated=None)
    session = None
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        stage, conn, tls = "connect", None, None
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = ctx.wrap_socket(conn, server_hostname=TLS_NAME,
                                  session=session if mode == "resume" else None)
            st["handshakes"] += 1
            st["resumed"] += bool(tls.session_reused)
            if st["negotiated"] is None:
                st["negotiated"] = f"{tls.version()} {tls.cipher()[0]} ALPN {tls.selected_alpn_protocol()}"
            stage = "write"
            tls.sendall(req)
            stage = "read"
            data = b""
            while True:
                chunk = tls.recv(16384)
                if not chunk:
                    break
                data += chunk
            st["bytes"] += len(data)
            if data.startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 ")) and data.endswith(SMALL_BODY):
                st["requests"] += 1
                st["lat"].append(int((time.perf_counter() - t0) * 1e6))
            else:
                st["err_status"] += 1
                if len(st["samples"]) < 3:
                    st["samples"].append(f"bad response: {data[:200]!r}")
            if mode == "resume":
                session = tls.session
        except (socket.timeout, TimeoutError) as e:
            st["err_timeout"] += 1
            if len(st["samples"]) < 3:
                st["samples"].append(f"{stage}: {e!r}")
        except (OSError, ssl.SSLError) as e:
            st["err_" + stage] += 1
            if len(st["samples"]) < 3:
                st["samples"].append(f"{stage}: {e!r}")
            time.sleep(0.001)
        finally:
            if tls is not None:
                tls.close()
            elif conn is not None:
                conn.close()
    return st


def tls_client_main(args):
    """run.py --tls-client: forks --tls-clients processes running
    tls_client_loop for --duration seconds; prints one BENCHJSON line with
    the same fields as bench/report.lua plus handshake counts."""
    n, mode = args.tls_clients, args.tls_mode
    start = time.monotonic()
    deadline = start + (args.duration or 2)
    kids = []
    for _ in range(n):
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            code = 0
            try:
                st = tls_client_loop(args.tls_port, mode, deadline)
                data = json.dumps(st).encode()
                while data:
                    data = data[os.write(wfd, data):]
            except BaseException:
                code = 1
            os._exit(code)
        os.close(wfd)
        kids.append((pid, rfd))
    total = dict(requests=0, handshakes=0, resumed=0, bytes=0, err_connect=0, err_read=0,
                 err_write=0, err_status=0, err_timeout=0)
    lat, samples, negotiated, failed = [], [], None, 0
    for pid, rfd in kids:
        chunks = []
        while True:
            c = os.read(rfd, 65536)
            if not c:
                break
            chunks.append(c)
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        if status != 0 or not chunks:
            failed += 1
            continue
        st = json.loads(b"".join(chunks))
        for k in total:
            total[k] += st[k]
        lat += st["lat"]
        samples += st["samples"]
        negotiated = negotiated or st["negotiated"]
    elapsed = time.monotonic() - start
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] if lat else 0

    total.update(duration_us=int(elapsed * 1e6), clients=n, mode=mode, p50_us=pct(50),
                 p90_us=pct(90), p99_us=pct(99), max_us=lat[-1] if lat else 0,
                 mean_us=sum(lat) / len(lat) if lat else 0, samples=samples[:5],
                 negotiated=negotiated, failed_clients=failed)
    print("BENCHJSON " + json.dumps(total), flush=True)
    return 1 if failed else 0


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
    ap.add_argument("--scenarios", help="comma list of " + ",".join(ALL_SCENARIOS)
                    + " (default: all in --full, the plain ones in --quick)")
    ap.add_argument("--tls", action="store_true",
                    help="add the TLS scenarios (" + ",".join(TLS_SCENARIOS) + ") to the list")
    ap.add_argument("--tls-suites", default=TLS13_SUITES,
                    help="TLS 1.3 suites of HAProxy and nginx, server's order (default: sluice's)")
    ap.add_argument("--tls-clients", type=int, default=8,
                    help="processes of the handshake client (tls-handshake, tls-resume)")
    ap.add_argument("--tls-client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tls-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--tls-mode", choices=("full", "resume"), default="full", help=argparse.SUPPRESS)
    ap.add_argument("--targets", help="comma list of " + ",".join(TARGETS))
    ap.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE", 18000)))
    ap.add_argument("--run-dir")
    ap.add_argument("--out", default=os.path.join(BENCH, "results", "latest.md"))
    ap.add_argument("--command", help="command line quoted in the report")
    args = ap.parse_args()
    if args.tls_client:
        return tls_client_main(args)
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
    report(b, args.out, command)
    if b.events:
        with open(os.path.join(b.run, "failures"), "w") as f:
            f.write("\n\n".join(b.events) + "\n")
        log(f"{len(b.events)} failure(s) listed in {args.out}; logs in {b.run}")
    if not args.run_dir and not b.events:
        shutil.rmtree(b.run, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
