"""The sluice bench report: medians over rounds of run.py's results, rendered
as bench/results/latest.md (the tables) and latest.json (every run).
Standard library only.
"""

import json
import os
import re
import statistics

from scenarios import DIRECT_KEY, HS_SCENARIOS, SCENARIOS, TLS_NAME, TLS_SCENARIOS
from scenarios import H2_POOL

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
                     "(bench/tls_client.py: never offers a session), same frontend",
    "tls-resume": "a new TLS connection per request resuming the previous session "
                  "(TLS 1.3 ticket, bench/tls_client.py), same frontend",
    "scale": "the pooled frontend (`reuse`) at 64, 4,000 and 8,000 concurrent keep-alive "
             "clients (its own table below)",
    "release": "how long each proxy keeps client connections open after their clients closed "
               "them together: after the scale runs at 4,000 clients or more, and for the idle "
               "test's clients (its own table below)",
}


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
            f"and `tls-resume` run `bench/tls_client.py` ({b.args.tls_clients} processes, "
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


def slow_table(b, w, nw):
    """slow-readers: the probe's latency without and with the slow readers."""
    rows = [r for r in b.slow if r["workers"] == w]
    if not rows:
        return []
    r0 = rows[0]
    L = [f"### Slow readers (workers = {nw})\n",
         f"{r0['readers']:,} clients each GET a {r0['size'] >> 20} MiB response through the "
         "`large` listener (the large origin) with a 16 KiB receive buffer, reading 16 KiB "
         f"every {r0['period']} s (at most {16 / r0['period']:.0f} KiB/s each); meanwhile the "
         f"probe (`bench/slow_readers.py`: 4 keep-alive connections, sequential `GET /` to the "
         "`reuse` listener of the same proxy, 2 ms apart) measures the other clients' "
         f"latency, {r0['seconds']} s per phase: without readers (unloaded), during the "
         f"first {r0['seconds']} s after the readers start (ramp), during the "
         f"next {r0['seconds']} s (steady). 'stalled': probe requests that failed or were "
         "still waiting when the phase ended (counted with the time they waited). "
         "'p99 corrected': the p99 once a request that took L ms also stands for the "
         "requests its connection could not send meanwhile, one every 2 ms (latencies L-2, "
         "L-4, ... ms; coordinated omission, as wrk2 corrects it), so that a connection "
         "stalled for seconds weighs as what it missed rather than as one slow request. "
         "The goal (issue 14): the corrected p99 with readers within 2x of the unloaded "
         "one. 'readers MiB/s': "
         "what the readers received over the phase (their ceiling is "
         f"{r0['readers'] * 16 / r0['period'] / 1024:.0f} MiB/s); proxy CPU and RSS: "
         "over and at the end of the phase. 'direct': the same load with no proxy at all "
         "(the probe asks the small origin, the readers read the large one; CPU and RSS "
         "are the large origin's): the floor this machine sets for every proxy.\n",
         "| proxy | phase | requests | p50 ms | p99 ms | p99 corrected ms | max ms "
         "| corrected p99 vs unloaded | goal <= 2x | stalled | readers MiB/s | proxy CPU % "
         "| proxy RSS MiB |",
         "|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|"]
    for r in rows:
        base = r["phases"].get("unloaded", {}).get("p99c")
        for name in ("unloaded", "ramp", "steady"):
            ph = r["phases"].get(name)
            if not ph:
                continue
            rat = ratio(ph["p99c"], base) if name != "unloaded" else None
            goal = "" if rat is None else ("met" if rat <= 2.0 else "**not met**")
            L.append(f"| {'**sluice**' if r['proxy'] == 'sluice' else r['proxy']} | {name} | "
                     f"{ph['n']:,} | {fmt(ph['p50'], '.2f')} | {fmt(ph['p99'], '.2f')} | "
                     f"{fmt(ph['p99c'], '.2f')} | {fmt(ph['max'], '.1f')} | {fmt(rat, '.1f')} | "
                     f"{goal} | {ph['fails']} | "
                     f"{fmt(ph.get('readers_mib_s'), '.1f')} | {ph['cpu_pct']:.0f} | "
                     f"{ph['rss_kib'] / 1024:.0f} |")
    L.append("")
    L.append("Readers connected / errors / MiB read in all: " + "; ".join(
        f"{r['proxy']} {r['connected']:,} / {r['reader_errors']} / {r['reader_mib']:,.0f}"
        for r in rows) + ".\n")
    return L


def h2_table(b, w, nw):
    """HTTP/2 (issue 18): h2load against the h2c and h2tls frontends of
    every proxy, medians over rounds, and the issue's targets."""
    runs = [r for r in getattr(b, "h2", []) if r["workers"] == w]
    if not runs:
        return []
    keys = []
    for r in runs:
        if (r["scenario"], r["clients"]) not in keys:
            keys.append((r["scenario"], r["clients"]))
    summ = {}
    for s, c in keys:
        for p in ("sluice", "haproxy", "nginx"):
            rr = [r for r in runs if (r["scenario"], r["clients"], r["target"]) == (s, c, p)]
            if rr:
                summ[(s, c, p)] = dict(
                    rps=med([r["rps"] for r in rr]), p50=med([r["p50_us"] / 1000 for r in rr]),
                    p99=med([r["p99_us"] / 1000 for r in rr]),
                    cpu=med([r["cpu_us_per_req"] for r in rr]),
                    requests=sum(r["succeeded"] for r in rr),
                    bad=sum(r.get(k, 0) for r in rr for k in ("failed", "errored", "timeout",
                                                             "c3xx", "c4xx", "c5xx")))
    neg = "; ".join(f"{p}: {v['protocol']} {v['suite']}, ALPN {v['alpn']}"
                    for p, v in getattr(b, "h2_params", {}).items())
    L = [f"### HTTP/2 (workers = {nw})\n",
         "h2load (nghttp2) `-c N -m {m} -t 1 -D {d}` (N clients, each one connection with up to "
         "{m} concurrent streams), per proxy, scenario and N, in {r} interleaved rounds (the job "
         "list, then reversed); medians over rounds. `h2c`: h2 with prior knowledge on a plain "
         "listener (sluice detects the preface, HAProxy `bind ... proto h2`, nginx `listen ... "
         "http2`); `h2tls`: TLS with ALPN h2,http/1.1 (sluice `ssl crt=`, HAProxy `ssl crt ... "
         "alpn h2,http/1.1`, nginx `listen ... ssl http2`), the same certificate as the TLS "
         "scenarios; negotiated (Python ssl client, OpenSSL 3): {neg}. Both: pooled HTTP/1.1 "
         "connections to the small origin, up to {pool:,} idle (sluice `pool_max_idle`, HAProxy "
         "`pool-max-conn`, nginx `keepalive`: the 64 of the `reuse` backends made sluice and "
         "nginx reconnect all the time with 640-2,560 requests in flight), every proxy's default h2 "
         "settings (100 concurrent streams for sluice and HAProxy, 128 for nginx). req/s: "
         "succeeded requests over h2load's elapsed time, connection set-up (and for h2tls the "
         "N handshakes) included; p50 and p99: from h2load's per-request log (`--log-file`, "
         "request start to response end; its summary has no percentiles); CPU µs/req: the "
         "proxy's utime+stime over the run divided by succeeded requests. 'vs better peer': "
         "sluice's req/s over the higher of HAProxy's and nginx's, its CPU µs/req and p99 over "
         "the lower. Errors: failed, errored and timed-out requests and non-2xx statuses.\n"
         .format(m=b.h2_streams, d=b.duration, r=b.rounds, neg=neg or "not probed", pool=H2_POOL),
         "| scenario | clients | proxy | req/s | p50 ms | p99 ms | CPU µs/req | req/s vs better "
         "peer | CPU vs better peer | p99 vs better peer | requests | errors |",
         "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    goals = []
    for s, c in keys:
        peers = [summ[(s, c, p)] for p in ("haproxy", "nginx") if (s, c, p) in summ]
        brps = max((x["rps"] for x in peers), default=None)
        bcpu = min((x["cpu"] for x in peers), default=None)
        bp99 = min((x["p99"] for x in peers), default=None)
        for p in ("sluice", "haproxy", "nginx"):
            r = summ.get((s, c, p))
            if not r:
                continue
            sl = p == "sluice"
            L.append(f"| {s} | {c:,} | {'**sluice**' if sl else p} | {fmt(r['rps'], ',.0f')} | "
                     f"{fmt(r['p50'], '.2f')} | {fmt(r['p99'], '.2f')} | {fmt(r['cpu'], '.1f')} | "
                     f"{fmt(ratio(r['rps'], brps) if sl else None, '.2f')} | "
                     f"{fmt(ratio(r['cpu'], bcpu) if sl else None, '.2f')} | "
                     f"{fmt(ratio(r['p99'], bp99) if sl else None, '.2f')} | "
                     f"{r['requests']:,} | {r['bad']} |")
        r = summ.get((s, c, "sluice"))
        if r and peers:
            for name, v, goal, le in (("req/s vs the better peer", ratio(r["rps"], brps), 1.3, False),
                                      ("CPU/req vs the better peer", ratio(r["cpu"], bcpu), 0.7, True)):
                met = v is not None and (v <= goal if le else v >= goal)
                goals.append(f"| {s} -c {c:,}: {name} | {fmt(v, '.3f')} | {'<=' if le else '>='} "
                             f"{goal} | {'met' if met else '**not met**'} |")
    L.append("")
    if goals:
        L += [f"Targets of issue 18 (workers = {nw}):\n", "| target | sluice | goal | |",
              "|---|--:|--:|---|"] + goals + [""]
    return L


def scale_table(b, w, nw):
    """scale and release (issue 16): the pooled frontend at several client
    counts, and how long closed client connections stay open."""
    rows = [r for r in getattr(b, "scale", []) if r["workers"] == w]
    idle = [r for r in b.idle if r["workers"] == w] if "release" in getattr(b, "extra", []) else []
    if not rows and not idle:
        return []
    L = []
    levels = sorted({r["conns"] for r in rows})
    proxies = [p for p in ("sluice", "haproxy", "nginx") if any(r["proxy"] == p for r in rows)]
    summ = {}
    for c in levels:
        for p in proxies:
            runs = [r for r in rows if r["conns"] == c and r["proxy"] == p]
            if runs:
                summ[(c, p)] = dict(
                    runs=len(runs), rps=med([r["rps"] for r in runs]),
                    p50=med([r["p50_us"] / 1000 for r in runs]),
                    p99=med([r["p99_us"] / 1000 for r in runs]),
                    cpu=med([r["cpu_us_per_req"] for r in runs]),
                    rel=[r["release_s"] for r in runs if r["measured_release"]],
                    errs=sum(r[k] for r in runs for k in ("err_connect", "err_read", "err_write",
                                                           "err_timeout", "err_status")))
    if summ:
        L.append(f"### Scale (workers = {nw})\n")
        L.append(f"The `reuse` frontend (pooled server connections) at {', '.join(f'{c:,}' for c in levels)} "
                 f"concurrent keep-alive clients: wrk -t{b.args.threads} -c N -d {b.scale_duration}s, "
                 f"medians of {b.scale_rounds if 'scale' in b.extra else 1} interleaved round(s). "
                 "'vs better peer': sluice's req/s (CPU µs/req) over the higher req/s (lower CPU) "
                 "of HAProxy and nginx. Errors: wrk socket errors and non-2xx.\n")
        L.append("| clients | proxy | req/s | p50 ms | p99 ms | CPU µs/req | req/s vs better peer "
                 "| CPU vs better peer | errors |")
        L.append("|--:|---|--:|--:|--:|--:|--:|--:|--:|")
        for c in levels:
            peers = [summ[(c, p)] for p in ("haproxy", "nginx") if (c, p) in summ]
            brps = max((x["rps"] for x in peers), default=None)
            bcpu = min((x["cpu"] for x in peers), default=None)
            for p in proxies:
                r = summ.get((c, p))
                if not r:
                    continue
                sl = p == "sluice"
                L.append(f"| {c:,} | {'**sluice**' if sl else p} | {fmt(r['rps'], ',.0f')} | "
                         f"{fmt(r['p50'], '.2f')} | {fmt(r['p99'], '.2f')} | {fmt(r['cpu'], '.1f')} | "
                         f"{fmt(ratio(r['rps'], brps) if sl else None, '.2f')} | "
                         f"{fmt(ratio(r['cpu'], bcpu) if sl else None, '.2f')} | {r['errs']} |")
        L.append("")
    rel = [(c, p, summ[(c, p)]["rel"]) for c in levels for p in proxies
           if (c, p) in summ and summ[(c, p)]["rel"]]
    if rel or idle:
        L.append(f"### Release of connections closed together (workers = {nw})\n")
        L.append("Seconds from the clients closing every connection at once until the proxy has "
                 "closed all of them: its sockets on the listener's port, established or in "
                 "CLOSE_WAIT, counted with `ss` every 10 ms (pooled server connections do not count, "
                 "whatever a proxy's pool keeps). After a scale run: wrk exits at the end of the "
                 "run (every value of every round). Idle: the clients of the idle test "
                 "(bench/idle_client, one request each, then held idle) close together; "
                 "'fds' is the idle table's measure, the proxy's fd count back at its "
                 "baseline.\n")
        L.append("| case | proxy | s until closed | s until fds released |")
        L.append("|---|---|--:|--:|")

        def s_(v):
            return "> 15" if v is None else f"{v:.2f}"
        for c, p, vals in rel:
            L.append(f"| after {c:,} clients | {'**sluice**' if p == 'sluice' else p} | "
                     f"{', '.join(s_(v) for v in vals)} | - |")
        for r in idle:
            L.append(f"| {r['opened']:,} idle | {'**sluice**' if r['proxy'] == 'sluice' else r['proxy']} | "
                     f"{s_(r.get('release_sock_s'))} | {s_(r['release_s'])} |")
        L.append("")
    return L


def report(b, path, command, versions):
    """Writes the markdown report to path and every run to path with .json."""
    # the raw runs first: a bug below must not lose a 45-minute run
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    raw = dict(date=b.started.isoformat(), command=command, versions=versions,
               results=b.results, idle=b.idle, syscalls=b.syscalls, slow=b.slow, events=b.events,
               tls=b.tls_params, scale=getattr(b, "scale", []),
               h2=getattr(b, "h2", []), h2_tls=getattr(b, "h2_params", {}))
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump(raw, f, indent=1)
    summ = summarize(b)
    u = os.uname()
    cpu_model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu_model = m.group(1) if m else "?"
    except OSError:
        pass
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
    for s in b.scenarios + getattr(b, "extra", []):
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
        L.extend(h2_table(b, w, nw))
        L.extend(scale_table(b, w, nw))
        L.extend(slow_table(b, w, nw))
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
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L))
