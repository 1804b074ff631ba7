#!/usr/bin/env python3
"""Bench scenario `memory` (issue 16, item 4): does a proxy's memory come back
after a burst of large transfers to slow readers? Standard library only.

For each proxy (sluice, HAProxy, nginx; one worker each unless --workers):
start it in front of an asyncio origin that serves --size bytes on /big,
record its resident memory (VmRSS of every process of the proxy, summed,
from /proc), then run --transfers concurrent GET /big through it, each
client reading with a small receive buffer at about --rate bytes/s (a slow
reader), and sample the memory every 0.2 s. After the last transfer ends
and the clients have closed, wait --settle seconds and record it again.
Prints one line per proxy: start, peak, after (MiB), and after / start.

    python3 bench/memory.py --sluice build/sluice [--transfers 20]
        [--size 50M] [--rate 8M] [--settle 60] [--proxies sluice,haproxy,nginx]
        [--json FILE] [--md FILE]

`make bench` runs it after the other scenarios and writes results/memory.md;
`make bench-memory` runs it alone (about 5 minutes).
"""
import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    s = s.strip().lower()
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---- origin (a thread of this process) -------------------------------------------

def run_origin(port, size, ready):
    chunk = b"b" * 65536

    async def conn(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
                left = size
                while left:
                    n = min(left, len(chunk))
                    writer.write(chunk[:n])
                    left -= n
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main():
        srv = await asyncio.start_server(conn, "127.0.0.1", port, backlog=1024)
        ready.set()
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


# ---- slow readers (a child process, so that they do not share the origin's loop) --

def readers_main(port, n, size, rate):
    async def one(i, done):
        loop = asyncio.get_running_loop()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.setblocking(False)
        await loop.sock_connect(s, ("127.0.0.1", port))
        await loop.sock_sendall(s, b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n")
        got, t0, step = 0, time.monotonic(), 0.02
        want = size + 1  # the head's bytes too; we stop at the body's end below
        head = b""
        body_start = None
        while True:
            d = await loop.sock_recv(s, 65536)
            if not d:
                break
            got += len(d)
            if body_start is None:
                head += d
                k = head.find(b"\r\n\r\n")
                if k >= 0:
                    body_start = k + 4
                    want = body_start + size
            if body_start is not None and got >= want:
                break
            # pace: no faster than rate bytes/s
            ahead = got / rate - (time.monotonic() - t0)
            await asyncio.sleep(max(step, ahead))
        s.close()
        done.append(got)

    async def main():
        done = []
        await asyncio.gather(*(one(i, done) for i in range(n)))
        print(json.dumps({"transfers": len(done), "bytes": sum(done)}))

    asyncio.run(main())


# ---- proxies ------------------------------------------------------------------------

def sluice_conf(d, port, origin, workers):
    p = os.path.join(d, "sluice.ini")
    with open(p, "w") as f:
        f.write(f"""[global]
workers = {workers}
log = off
grace = 0
[defaults]
timeout_client = 120s
timeout_server = 120s
[frontend web]
bind = 127.0.0.1:{port}
mode = http
backend = app
[backend app]
mode = http-keep-alive
server = o1 127.0.0.1:{origin}
""")
    return p


def haproxy_conf(d, port, origin, workers):
    p = os.path.join(d, "haproxy.cfg")
    with open(p, "w") as f:
        f.write(f"""global
    nbthread {workers}
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend web
    bind 127.0.0.1:{port}
    default_backend app
backend app
    server o1 127.0.0.1:{origin}
""")
    return p


def nginx_conf(d, port, origin, workers):
    p = os.path.join(d, "nginx.conf")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    with open(p, "w") as f:
        f.write(f"""user root;
daemon off;
master_process on;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/nginx.err warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    proxy_buffers 8 16k;
    proxy_buffer_size 16k;
    proxy_max_temp_file_size 0;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    upstream app {{ server 127.0.0.1:{origin}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass http://app; }}
    }}
}}
""")
    return p


def start_proxy(name, d, port, origin, workers, sluice_bin):
    if name == "sluice":
        argv = [sluice_bin, "-f", sluice_conf(d, port, origin, workers)]
    elif name == "haproxy":
        argv = ["haproxy", "-db", "-f", haproxy_conf(d, port, origin, workers)]
    else:
        argv = ["nginx", "-p", d, "-c", nginx_conf(d, port, origin, workers), "-e",
                os.path.join(d, "nginx.err")]
    out = open(os.path.join(d, name + ".out"), "w")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.1)
    p.kill()
    raise SystemExit(f"{name} did not start (see {d}/{name}.out)")


def group_rss_kib(pgid):
    """VmRSS of every process in the process group, summed (KiB)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def measure(name, args, origin_port):
    d = tempfile.mkdtemp(prefix=f"sluice-mem-{name}-")
    port = free_port()
    p = start_proxy(name, d, port, origin_port, args.workers, args.sluice)
    try:
        time.sleep(1.0)
        start = group_rss_kib(p.pid)
        rd = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--readers-child",
                               str(port), str(args.transfers), str(args.size), str(args.rate)],
                              stdout=subprocess.PIPE, text=True)
        peak = start
        t0 = time.monotonic()
        while rd.poll() is None:
            peak = max(peak, group_rss_kib(p.pid))
            if time.monotonic() - t0 > args.limit:
                rd.kill()
                break
            time.sleep(0.2)
        res = json.loads(rd.stdout.read() or "{}")
        load_s = time.monotonic() - t0
        samples = []
        t1 = time.monotonic()
        while time.monotonic() - t1 < args.settle:
            time.sleep(min(5.0, args.settle))
            samples.append((round(time.monotonic() - t1), group_rss_kib(p.pid)))
        after = group_rss_kib(p.pid)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        shutil.rmtree(d, ignore_errors=True)
    return dict(proxy=name, start_kib=start, peak_kib=peak, after_kib=after,
                load_s=round(load_s, 1), settle_s=args.settle,
                transfers=res.get("transfers", 0), bytes=res.get("bytes", 0),
                samples=samples)


def write_md(args, rows):
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(args.md, "w") as f:
        f.write(f"# Memory that comes back ({when})\n\n")
        f.write(f"`bench/memory.py`: {args.transfers} concurrent GETs of {args.size >> 20} MiB "
                f"through each proxy (workers = {args.workers}), each client reading at about "
                f"{args.rate >> 20} MiB/s with a 64 KiB receive buffer; VmRSS of all the "
                f"proxy's processes, summed, before the load, its peak (sampled every 0.2 s), "
                f"and {args.settle:.0f} s after the last transfer ended.\n\n")
        f.write("| proxy | start MiB | peak MiB | after MiB | after / start | transfers | load s |\n")
        f.write("|---|--:|--:|--:|--:|--:|--:|\n")
        for r in rows:
            f.write(f"| {r['proxy']} | {r['start_kib'] / 1024:.1f} | {r['peak_kib'] / 1024:.1f} | "
                    f"{r['after_kib'] / 1024:.1f} | {r['after_kib'] / max(1, r['start_kib']):.2f} | "
                    f"{r['transfers']}/{args.transfers} | {r['load_s']} |\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--readers-child":
        readers_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluice", default="build/sluice")
    ap.add_argument("--proxies", default="sluice,haproxy,nginx")
    ap.add_argument("--workers", default="1")
    ap.add_argument("--transfers", type=int, default=20)
    ap.add_argument("--size", type=parse_size, default=parse_size("50M"))
    ap.add_argument("--rate", type=parse_size, default=parse_size("8M"))
    ap.add_argument("--settle", type=float, default=60.0)
    ap.add_argument("--limit", type=float, default=300.0, help="longest load phase (s)")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--md", help="write a markdown report here")
    args = ap.parse_args()
    # a TERM (bench.sh's time limit) still stops the proxy being measured
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.sluice = os.path.abspath(args.sluice)

    origin_port = free_port()
    ready = threading.Event()
    threading.Thread(target=run_origin, args=(origin_port, args.size, ready),
                     daemon=True).start()
    ready.wait(10)
    rows = []
    print(f"memory: {args.transfers} x {args.size >> 20} MiB to readers at "
          f"{args.rate >> 20} MiB/s, then {args.settle:.0f} s idle; workers = {args.workers}")
    print(f"{'proxy':8} {'start MiB':>9} {'peak MiB':>9} {'after MiB':>9} {'after/start':>11}"
          f"  transfers")
    for name in args.proxies.split(","):
        if name != "sluice" and not shutil.which(name):
            print(f"{name:8} (not installed)")
            continue
        r = measure(name, args, origin_port)
        rows.append(r)
        print(f"{name:8} {r['start_kib'] / 1024:9.1f} {r['peak_kib'] / 1024:9.1f} "
              f"{r['after_kib'] / 1024:9.1f} {r['after_kib'] / max(1, r['start_kib']):11.2f}"
              f"  {r['transfers']}/{args.transfers} in {r['load_s']} s", flush=True)
    if args.md:
        write_md(args, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(workers=args.workers, transfers=args.transfers, size=args.size,
                           rate=args.rate, settle_s=args.settle, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
