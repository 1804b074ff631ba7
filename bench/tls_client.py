#!/usr/bin/env python3
"""The TLS handshake client of the sluice bench (scenarios tls-handshake and
tls-resume; run.py runs it, one run per target and round).

Forks --clients processes that loop for --duration seconds against
127.0.0.1:--port: TCP connect, TLS handshake, `GET /` with `Connection:
close`, read to EOF, check the 200 and the origin's body. --mode full never
offers a session, so every connection is a full handshake; --mode resume
offers the previous connection's session. Prints one line, BENCHJSON
followed by the totals (requests, handshakes, resumed, errors, latency
percentiles in µs, what was negotiated). Not wrk or h2load: both resume the
TLS session when they reconnect. Standard library only.
"""

import argparse
import json
import os
import socket
import ssl
import sys
import time

from scenarios import SMALL_BODY, TLS_NAME


def tls_client_loop(port, mode, deadline):
    """One client process: until deadline, a new TCP connection and TLS
    handshake per request (GET, Connection: close), read to EOF. mode "full"
    never offers a session (nothing is kept between connections), "resume"
    offers the session of its previous connection (TLS 1.3: the newest
    ticket). The chain is not verified here (run.py's sanity() does it once); the
    handshake still checks the server's CertificateVerify signature."""
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


def run_clients(args):
    """Forks --clients processes running tls_client_loop for --duration
    seconds; prints one BENCHJSON line with the same fields as
    bench/report.lua plus handshake counts."""
    n, mode = args.clients, args.mode
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
                st = tls_client_loop(args.port, mode, deadline)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True, help="TLS port on 127.0.0.1")
    ap.add_argument("--mode", choices=("full", "resume"), default="full",
                    help="full: never offer a session; resume: offer the previous one")
    ap.add_argument("--clients", type=int, default=8, help="client processes")
    ap.add_argument("--duration", type=int, default=2, help="seconds")
    return run_clients(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
