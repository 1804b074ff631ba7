#!/usr/bin/env python3
"""A bounded soak of sluice (tests/ layer), run by `make soak`.

Starts the real binary (two workers, stats on) in front of two origin
processes on loopback and drives mixed traffic for SOAK_SECONDS (default
600): keep-alive clients (several requests each), Connection: close clients,
1 MiB downloads and 256 KiB uploads, chunked responses, origin 500s,
requests to a dead server (503/502), malformed requests (400), clients that
reset mid-download, and tcp-mode connections. Every so often one origin is
killed with SIGKILL and started again on the same port. RSS, the fd count
(/proc/PID/fd) and the fd audit (/metrics: open == accounted) are sampled
every 30 s (a twentieth of the run for short runs, at least every 2 s).

Fails (exit 1) on: an fd audit difference in any sample; a resident-memory
growth trend after warm-up (the median of the last three samples above the
median of the first three post-warm-up samples by more than 5% and 4 MiB;
the first quarter of the run is warm-up: the provided-buffer pools fill);
at rest after the load, sessions not back to 0, fds not back to the
baseline or the audit not equal; sluice dying or not stopping cleanly;
almost no successful requests. Loopback only; stops by itself.
"""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# ---- origin (a separate process, so that SIGKILL is real) --------------------

BIG = 1 << 20
CHUNK = bytes(range(256)) * 64  # 16 KiB


def origin_conn(c):
    buf = b""
    c.settimeout(30)
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            path = parts[1].decode() if len(parts) > 1 else "/"
            hdr = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                hdr[k.strip().lower()] = v.strip()
            n = int(hdr.get(b"content-length", b"0") or 0)
            while len(buf) < n:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            body, buf = buf[:n], buf[n:]
            close = hdr.get(b"connection", b"").lower() == b"close"
            if path.startswith("/large"):
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
                for _ in range(BIG // len(CHUNK)):
                    c.sendall(CHUNK)
            elif path.startswith("/chunked"):
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(8):
                    c.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                c.sendall(b"0\r\n\r\n")
            elif path.startswith("/err"):
                c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops")
            elif path.startswith("/slow"):
                time.sleep(0.2)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")
            elif path.startswith("/upload"):
                r = b"%d" % len(body)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(r), r))
            elif path.startswith("/bye"):
                c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye")
                return
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            if close:
                return
    except OSError:
        pass
    finally:
        c.close()


def origin_main(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1024)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=origin_conn, args=(c,), daemon=True).start()


class Origin:
    def __init__(self, port):
        self.port = port
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                      "--origin", str(self.port)])
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("origin on :%d did not start" % self.port)

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

# ---- client side ---------------------------------------------------------------


class Conn:
    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.s.settimeout(timeout)
        self.buf = b""

    def _fill(self):
        d = self.s.recv(262144)
        if not d:
            raise EOFError
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def request(self, method, path, close=False, body=b""):
        h = "%s %s HTTP/1.1\r\nHost: soak\r\n" % (method, path)
        if body:
            h += "Content-Length: %d\r\n" % len(body)
        if close:
            h += "Connection: close\r\n"
        self.s.sendall(h.encode() + b"\r\n" + body)
        return self.response(method == "HEAD")

    def response(self, head_only=False):
        status = int(self._line().split(b" ")[1])
        hdr = {}
        while True:
            ln = self._line()
            if not ln:
                break
            k, _, v = ln.partition(b":")
            hdr[k.strip().lower()] = v.strip().lower()
        n = 0
        if head_only or status in (204, 304) or 100 <= status < 200:
            pass
        elif b"chunked" in hdr.get(b"transfer-encoding", b""):
            while True:
                size = int(self._line().split(b";")[0], 16)
                self._take(size + 2)
                n += size
                if size == 0:
                    break
        elif b"content-length" in hdr:
            n = int(hdr[b"content-length"])
            self._take(n)
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                n = len(self.buf)
        return status, n, hdr.get(b"connection", b"") == b"close"

    def close(self, rst=False):
        if rst:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        self.s.close()


class Load:
    def __init__(self, web, tcp):
        self.web, self.tcp = web, tcp
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {}

    def count(self, k):
        with self.lock:
            self.counts[k] = self.counts.get(k, 0) + 1

    def keepalive(self, rnd):
        c = Conn(self.web)
        try:
            for _ in range(rnd.randint(2, 8)):
                p = rnd.choice(["/", "/", "/chunked", "/err", "/slow", "/close/x", "/dead/x"])
                st, _, closed = c.request("GET", p)
                self.count(st)
                if closed:
                    break
        finally:
            c.close()

    def close_one(self, rnd):
        c = Conn(self.web)
        try:
            st, _, _ = c.request("GET", rnd.choice(["/", "/bye", "/close/x"]), close=True)
            self.count(st)
        finally:
            c.close()

    def large(self, rnd):
        c = Conn(self.web, 20)
        try:
            if rnd.random() < 0.5:
                st, n, _ = c.request("GET", "/large")
                self.count(st if n == BIG or st != 200 else "short")
            else:
                st, _, _ = c.request("POST", "/upload", body=os.urandom(256 * 1024))
                self.count(st)
        finally:
            c.close()

    def reset_mid(self, rnd):
        c = Conn(self.web)
        c.s.sendall(b"GET /large HTTP/1.1\r\nHost: soak\r\n\r\n")
        c._fill()
        c.close(rst=True)
        self.count("reset")

    def malformed(self, rnd):
        c = Conn(self.web)
        try:
            c.s.sendall(rnd.choice([b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                                    b"Content-Length: 2\r\n\r\nxx",
                                    b"BLAH\x01 / HTTP/1.1\r\n\r\n",
                                    b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x\r\n\r\n"]))
            st, _, _ = c.response()
            self.count(st)
        finally:
            c.close()

    def tcp_one(self, rnd):
        c = Conn(self.tcp)
        try:
            st, _, _ = c.request("GET", "/", close=True)
            self.count("tcp%d" % st)
        finally:
            c.close(rst=rnd.random() < 0.3)

    def run(self, seed):
        rnd = random.Random(seed)
        kinds = [(self.keepalive, 30), (self.close_one, 25), (self.large, 8),
                 (self.reset_mid, 4), (self.malformed, 5), (self.tcp_one, 10)]
        fns = [f for f, w in kinds for _ in range(w)]
        while not self.stop.is_set():
            try:
                rnd.choice(fns)(rnd)
            except (OSError, EOFError, ValueError, IndexError):
                self.count("client_error")  # expected while an origin is down

# ---- the proxy and its samples --------------------------------------------------


def metrics(stats):
    c = Conn(stats)
    try:
        c.s.sendall(b"GET /metrics HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = c.s.recv(262144)
            if not d:
                break
            data += d
    finally:
        c.close()
    out = {}
    for ln in data.decode(errors="replace").split("\n"):
        if ln.startswith("sluice_process_"):
            k, _, v = ln.partition(" ")
            out[k] = float(v)
    return out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def sample(pid, stats):
    m = metrics(stats)
    return {"t": time.time(), "rss_kib": rss_kib(pid), "fds": nfds(pid),
            "open": m.get("sluice_process_open_fds", -1),
            "accounted": m.get("sluice_process_accounted_fds", -2),
            "sessions": m.get("sluice_process_sessions_current", -1)}


CONF = """[global]
workers = 2
log = {log}
stats = 127.0.0.1:{stats}
grace = 1s

[defaults]
timeout_connect = 300ms
timeout_client = 10s
timeout_server = 10s
timeout_http_keep_alive = 2s
timeout_http_request = 5s

[frontend web]
bind = 127.0.0.1:{web}
mode = http
backend = pool
route = path_prefix /close backend close
route = path_prefix /dead backend dead
maxconn = 400

[frontend raw]
bind = 127.0.0.1:{tcp}
mode = tcp
backend = raw

[backend pool]
mode = http-keep-alive
pool_idle_timeout = 2s
check = http GET /
check_interval = 1s
server = o1 127.0.0.1:{o1} check
server = o2 127.0.0.1:{o2} check

[backend close]
mode = http-server-close
server = o1 127.0.0.1:{o1}
server = o2 127.0.0.1:{o2}

[backend dead]
mode = http-server-close
server = d 127.0.0.1:{dead}

[backend raw]
mode = tcp
server = o1 127.0.0.1:{o1}
server = o2 127.0.0.1:{o2}
"""


def wait_rest(pid, stats, base_fds, timeout):
    """Samples until no session is open and the pools have drained (the
    keep-alive and pool idle timeouts are 2 s), or timeout."""
    deadline = time.time() + timeout
    s = sample(pid, stats)
    while time.time() < deadline and (s["sessions"] != 0 or s["fds"] != base_fds):
        time.sleep(0.5)
        s = sample(pid, stats)
    return s


def trend(samples):
    """RSS growth after warm-up: (growth KiB, slope KiB/min, verdict)."""
    n = len(samples)
    post = samples[n // 4:]
    if len(post) < 6:
        return 0, 0.0, True
    first = statistics.median(x["rss_kib"] for x in post[:3])
    last = statistics.median(x["rss_kib"] for x in post[-3:])
    ts = [x["t"] for x in post]
    rs = [x["rss_kib"] for x in post]
    mt, mr = statistics.mean(ts), statistics.mean(rs)
    var = sum((t - mt) ** 2 for t in ts)
    slope = sum((t - mt) * (r - mr) for t, r in zip(ts, rs)) / var * 60 if var else 0.0
    return last - first, slope, last - first <= max(4096, first * 0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--origin", type=int)
    ap.add_argument("--sluice", default="build/sluice")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", "600")))
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    if a.origin:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        return origin_main(a.origin)
    secs = max(20, a.seconds)
    interval = max(2.0, min(30.0, secs / 20.0))
    kill_every = max(10.0, secs / 8.0)
    tmp = tempfile.mkdtemp(prefix="sluice-soak-")
    ports = {k: free_port() for k in ("stats", "web", "tcp", "o1", "o2", "dead")}
    origins = [Origin(ports["o1"]), Origin(ports["o2"])]
    for o in origins:
        o.start()
    conf = os.path.join(tmp, "soak.ini")
    log = os.path.join(tmp, "sluice.log")
    with open(conf, "w") as f:
        f.write(CONF.format(log=log, **ports))
    proc = subprocess.Popen([a.sluice, "-f", conf])
    failures = []
    samples = []
    try:
        deadline = time.time() + 10
        while True:
            try:
                metrics(ports["stats"])
                socket.create_connection(("127.0.0.1", ports["web"]), 1).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("sluice did not start (log: %s)" % log)
                time.sleep(0.1)
        time.sleep(1)
        base = sample(proc.pid, ports["stats"])
        print("soak: %d s, sample every %.0f s, an origin killed every %.0f s; "
              "baseline %d fds, %d KiB RSS; log %s" % (secs, interval, kill_every,
                                                     base["fds"], base["rss_kib"], log))
        load = Load(ports["web"], ports["tcp"])
        th = [threading.Thread(target=load.run, args=(i,), daemon=True)
              for i in range(a.clients)]
        for t in th:
            t.start()
        t0 = time.time()
        next_sample, next_kill, victim, kills = t0 + interval, t0 + kill_every / 2, 0, 0
        while time.time() - t0 < secs:
            now = time.time()
            if proc.poll() is not None:
                failures.append("sluice exited during the soak (status %s)" % proc.returncode)
                break
            if now >= next_kill:
                o = origins[victim % 2]
                o.kill()
                time.sleep(2)
                o.start()
                victim += 1
                kills += 1
                next_kill += kill_every
            if now >= next_sample:
                s = sample(proc.pid, ports["stats"])
                samples.append(s)
                print("  %5.0f s  rss %6d KiB  fds %5d  audit %d/%d  sessions %d" % (
                    s["t"] - t0, s["rss_kib"], s["fds"], s["open"], s["accounted"],
                    s["sessions"]))
                if s["open"] != s["accounted"]:
                    failures.append("fd audit under load at %.0f s: open %d != accounted %d" %
                                    (s["t"] - t0, s["open"], s["accounted"]))
                next_sample += interval
            time.sleep(0.2)
        load.stop.set()
        for t in th:
            t.join(30)
        rest = wait_rest(proc.pid, ports["stats"], base["fds"], 30)
        growth, slope, ok = trend(samples)
        print("at rest: rss %d KiB  fds %d (baseline %d)  audit %d/%d  sessions %d" % (
            rest["rss_kib"], rest["fds"], base["fds"], rest["open"], rest["accounted"],
            rest["sessions"]))
        print("rss after warm-up: %+d KiB (slope %+.1f KiB/min); %d origin kills" % (
            growth, slope, kills))
        print("outcomes: " + json.dumps(dict(sorted(load.counts.items(), key=str))))
        if not ok:
            failures.append("resident memory grew by %d KiB after warm-up (slope %.1f KiB/min)"
                            % (growth, slope))
        if rest["sessions"] != 0:
            failures.append("%d sessions still open at rest" % rest["sessions"])
        if rest["open"] != rest["accounted"]:
            failures.append("fd audit at rest: open %d != accounted %d" %
                            (rest["open"], rest["accounted"]))
        if rest["fds"] != base["fds"]:
            failures.append("fds at rest %d != baseline %d" % (rest["fds"], base["fds"]))
        if load.counts.get(200, 0) < 100:
            failures.append("only %d successful requests" % load.counts.get(200, 0))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(15)
                if rc != 0:
                    failures.append("sluice exited with status %d on SIGTERM" % rc)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                failures.append("sluice did not stop within 15 s of SIGTERM")
        for o in origins:
            o.kill()
    if failures:
        print("SOAK FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
