#!/usr/bin/env python3
"""Bench scenario `slow-readers` (issue 14, item 8): what slow readers of large
responses cost the other clients of the same proxy. Standard library only.

Four processes besides sluice: two asyncio origins (a 64-byte response on /,
10 MiB on /big; /big is routed to the second one, so that a busy origin is
not what the probe measures), N slow readers (default 1,000) that each GET /big through
sluice with a small receive buffer and read 16 KiB every `--period` seconds,
and this driver, which measures the latency of sequential small requests on
C keep-alive connections (one thread each) through the same sluice,
first without the slow readers, then with them. Prints p50/p90/p99/max of
both runs and their ratio (the goal: p99 loaded within 2x of unloaded).

    python3 bench/slow_readers.py --sluice build/sluice [--readers 1000]
"""
import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIG = 10 << 20
SMALL = b"x" * 64


# ---- origin -------------------------------------------------------------------

async def origin_conn(reader, writer):
    chunk = b"b" * 65536
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.split(b" ")[1].startswith(b"/big"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
                for _ in range(BIG // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" %
                             (len(SMALL), SMALL))
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def origin_main(port):
    srv = await asyncio.start_server(origin_conn, "127.0.0.1", port, backlog=4096)
    async with srv:
        await srv.serve_forever()


# ---- slow readers ----------------------------------------------------------------

async def slow_one(port, period, stats, req):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(s, ("127.0.0.1", port))
        await loop.sock_sendall(s, req)
        stats[0] += 1
        while True:
            d = await loop.sock_recv(s, 16384)
            if not d:
                break
            stats[1] += len(d)
            await asyncio.sleep(period)
    except OSError:
        stats[2] += 1
    finally:
        s.close()


async def readers_main(port, n, period, path="/big", stats_file=None):
    """n slow readers of path on port, forever. Every second, their totals
    (connected, bytes read, errors) go to stats_file as one JSON object, or
    every 2 s to stderr as a line when there is no stats_file."""
    stats = [0, 0, 0]
    tasks = []
    req = b"GET %s HTTP/1.1\r\nHost: b\r\n\r\n" % path.encode()
    t0 = time.monotonic()
    for i in range(n):
        tasks.append(asyncio.create_task(slow_one(port, period, stats, req)))
        if i % 50 == 49:
            await asyncio.sleep(0.01)
    while True:
        await asyncio.sleep(1 if stats_file else 2)
        if stats_file:
            tmp = stats_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(dict(readers=n, connected=stats[0], bytes=stats[1], errors=stats[2],
                               seconds=time.monotonic() - t0), f)
            os.replace(tmp, stats_file)
        else:
            print("readers: %d connected, %.1f MiB read, %d errors" %
                  (stats[0], stats[1] / 1048576, stats[2]), file=sys.stderr, flush=True)


# ---- latency probe -----------------------------------------------------------------

PACE = 0.002  # the probe's pause between a response and the next request


def corrected(lat, interval=PACE):
    """lat (sorted, seconds) plus what a stalled connection did not send:
    a request that took L > interval stands for the requests that would
    have been sent every interval meanwhile, with latencies L - interval,
    L - 2 interval, ... (coordinated omission, as wrk2 and HdrHistogram's
    expected interval correct it). Sorted."""
    out = list(lat)
    for v in lat:
        k = 1
        while v - k * interval > interval:
            out.append(v - k * interval)
            k += 1
    out.sort()
    return out


def probe(port, seconds, conns, tail=SMALL):
    """conns threads, each on its own keep-alive connection, send GET / and
    wait for the response (it ends with tail), PACE apart, for seconds.
    Returns n, fails (stalled or failed requests, counted with the time they
    waited), p50, p90, p99, max and mean in ms, and p99c: the p99 of
    corrected() (a connection stalled for 1 s weighs as the 500 requests it
    could not send, not as one)."""
    lat = []
    lock = threading.Lock()
    end = time.time() + seconds

    fails = [0]

    def connect():
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(0.5)
        return s

    def one():
        try:
            s = connect()
        except OSError:
            with lock:
                fails[0] += 1
            return
        req = b"GET / HTTP/1.1\r\nHost: p\r\n\r\n"
        mine = []
        while time.time() < end:
            t = time.perf_counter()
            buf = b""
            try:
                s.sendall(req)
                while not buf.endswith(tail):
                    if time.time() > end + 1:
                        raise TimeoutError
                    try:
                        d = s.recv(4096)
                    except socket.timeout:
                        continue  # the wait goes on (bounded by the run's end)
                    if not d:
                        raise ConnectionError
                    buf += d
            except (OSError, TimeoutError):
                # a stalled or failed request counts with the time it waited
                mine.append(time.perf_counter() - t)
                with lock:
                    fails[0] += 1
                s.close()
                if time.time() >= end:
                    break
                try:
                    s = connect()
                except OSError:
                    s = None
                    break
                continue
            mine.append(time.perf_counter() - t)
            time.sleep(PACE)
        if s:
            s.close()
        with lock:
            lat.extend(mine)

    th = [threading.Thread(target=one) for _ in range(conns)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    lat.sort()

    def pct(p, v=lat):
        return v[min(len(v) - 1, int(len(v) * p))] * 1000 if v else None

    return dict(n=len(lat), fails=fails[0], p50=pct(0.5), p90=pct(0.9), p99=pct(0.99),
                max=pct(1.0), mean=statistics.mean(lat) * 1000 if lat else None,
                p99c=pct(0.99, corrected(lat)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %d" % port)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--origin", type=int)
    ap.add_argument("--readers-of", type=int, help="run the slow readers against this port")
    ap.add_argument("--path", default="/big", help="what the slow readers GET")
    ap.add_argument("--stats-file", help="the slow readers' totals, rewritten every second")
    ap.add_argument("--sluice", default="build/sluice")
    ap.add_argument("--workers", default="1")
    ap.add_argument("--readers", type=int, default=1000)
    ap.add_argument("--period", type=float, default=0.25)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--probe-conns", type=int, default=4)
    ap.add_argument("--settle", type=float, default=20,
                    help="seconds between starting the readers and measuring")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if a.origin:
        return asyncio.run(origin_main(a.origin))
    if a.readers_of:
        return asyncio.run(readers_main(a.readers_of, a.readers, a.period, a.path, a.stats_file))
    po, pb, pw = free_port(), free_port(), free_port()
    tmp = tempfile.mkdtemp(prefix="sluice-slow-")
    conf = os.path.join(tmp, "s.ini")
    with open(conf, "w") as f:
        f.write("[global]\nworkers = %s\nlog = off\nmaxconn = 5000\n\n[defaults]\n"
                "timeout_client = 120s\ntimeout_server = 120s\n\n"
                "[frontend web]\nbind = 127.0.0.1:%d\nmode = http\nbackend = app\n"
                "route = path_prefix /big backend big\n\n"
                "[backend app]\nmode = http-keep-alive\nserver = o 127.0.0.1:%d\n\n"
                "[backend big]\nmode = http-keep-alive\nserver = b 127.0.0.1:%d\n" %
                (a.workers, pw, po, pb))
    me = os.path.abspath(__file__)
    # the large responses come from an origin process of their own, so that
    # what the probe measures is the proxy, not a busy origin
    procs = [subprocess.Popen([sys.executable, me, "--origin", str(p)]) for p in (po, pb)]
    try:
        wait_port(po)
        wait_port(pb)
        procs.append(subprocess.Popen([a.sluice, "-f", conf]))
        wait_port(pw)
        time.sleep(0.5)
        base = probe(pw, a.seconds, a.probe_conns)
        procs.append(subprocess.Popen([sys.executable, me, "--readers-of", str(pw),
                                       "--readers", str(a.readers), "--period", str(a.period)]))
        time.sleep(a.settle)  # all connected, their buffers full, past the transient
        loaded = probe(pw, a.seconds, a.probe_conns)
        for name, r in (("unloaded", base), ("%d slow readers" % a.readers, loaded)):
            print("%-18s n=%6d  p50 %7.2f ms  p90 %7.2f ms  p99 %7.2f ms  max %8.2f ms"
                  "  p99 corrected %7.2f ms  stalled/failed %d" %
                  (name, r["n"], r["p50"], r["p90"], r["p99"], r["max"], r["p99c"], r["fails"]))
        print("p99 ratio loaded/unloaded: %.1fx, corrected %.1fx (goal: 2x or less)" %
              (loaded["p99"] / base["p99"], loaded["p99c"] / base["p99c"]))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
