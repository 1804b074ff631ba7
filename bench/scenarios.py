"""What the sluice bench measures: targets, scenarios, their ports, the quick
and full modes, and what the origins serve (TLS name, suites, bodies).
Shared by run.py, report.py and tls_client.py. Standard library only.
"""

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

# slow-readers (issue 14 item 8): what N clients slowly reading a large
# response cost the other clients of the same proxy. The readers GET
# SLOW_PATH (SLOW_SIZE bytes from the large origin) through the `large`
# listener, with a 16 KiB receive buffer, reading 16 KiB every
# SLOW_PERIOD s; the probe sends small requests to the `reuse` listener of
# the same proxy (SLOW_PROBE_CONNS sequential keep-alive connections, 2 ms
# apart). Phases: unloaded, then the first seconds after the readers start
# (ramp), then right after that (steady), each slow_seconds long.
SLOW_PATH = "/big"
SLOW_SIZE = 10 << 20
SLOW_PERIOD = 0.25
SLOW_PROBE_CONNS = 4
SLOW_PHASES = ("unloaded", "ramp", "steady")

MODES = {
    "quick": dict(rounds=2, duration=2, workers=["1"], idle=10000, strace_n=10000,
                  strace_scenarios=["reuse"], warm_n=2000, scenarios=SCENARIOS,
                  slow_readers=0, slow_seconds=8, slow_workers=["1"]),
    "full": dict(rounds=4, duration=6, workers=["1", "auto"], idle=10000, strace_n=20000,
                 strace_scenarios=["tcp", "close", "reuse"], warm_n=5000, scenarios=ALL_SCENARIOS,
                 slow_readers=1000, slow_seconds=8, slow_workers=["1"]),
}

# HTTP/2 toward the proxies (issue 18), driven by h2load, their own rounds and
# table: `h2c` (prior knowledge on a plain listener) and `h2tls` (TLS, ALPN
# h2), both with pooled HTTP/1.1 connections to the small origin. Each round
# runs every proxy at each client count of H2_CLIENTS (h2load -c N -m
# H2_STREAMS -t 1 -D duration). In the full mode by default; in the quick
# mode with --h2 or --scenarios. Their frontends are in their own files,
# bench/conf/{sluice-h2.ini,haproxy-h2.cfg,nginx-h2.conf}, on ports base+15
# (h2c) and base+16 (h2tls) of each proxy.
H2_SCENARIOS = ["h2c", "h2tls"]
H2_PORT_OFFSETS = {"P_H2C": 5, "P_H2TLS": 6}
H2_SCEN_PORT = {"h2c": "P_H2C", "h2tls": "P_H2TLS"}
H2_CLIENTS = [64, 256]
H2_STREAMS = 10
# idle server connections each proxy's h2 backend keeps (sluice pool_max_idle,
# HAProxy pool-max-conn, nginx keepalive; @H2_POOL@ in the conf files): more
# than the requests in flight at 256 clients. The fds for it are taken from
# every proxy's maxconn when the h2 scenarios run.
H2_POOL = 4096
