/*
 * Configuration types (conf/ layer). A struct sl_config is built once by
 * sl_conf_load() from an INI file and is immutable afterwards: workers read it
 * concurrently without locks. Depends on nothing of ours.
 */
#ifndef SL_CONF_CONF_T_H
#define SL_CONF_CONF_T_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define SL_CONF_NAME_MAX 64
#define SL_CONF_PATH_MAX 256
#define SL_CONF_CRT_MAX 1024

/* A resolved socket address: what bind(2)/connect(2) take. */
/* A peer's address, IPv4 or IPv6: 28 bytes where a sockaddr_storage takes
 * 128 (one per client connection). */
union sl_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

struct sl_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Every timeout, in milliseconds. Names are DESIGN.md's (fixed). */
enum sl_timeout_kind {
	SL_TO_CONNECT,
	SL_TO_CLIENT,
	SL_TO_SERVER,
	SL_TO_CLIENT_FIN,
	SL_TO_SERVER_FIN,
	SL_TO_HTTP_REQUEST,
	SL_TO_HTTP_KEEP_ALIVE,
	SL_TO_QUEUE,
	SL_TO_CHECK,
	SL_TO_TUNNEL,        /* an upgraded (101) http connection, both sides idle */
	SL_TO_COUNT
};

struct sl_timeouts {
	uint64_t ms[SL_TO_COUNT];
	uint32_t set_mask; /* bit k set: ms[k] was given in this section */
};

enum sl_fe_mode { SL_FE_MODE_TCP, SL_FE_MODE_HTTP };

enum sl_be_mode {
	SL_BE_MODE_TCP,
	SL_BE_MODE_HTTP_SERVER_CLOSE,
	SL_BE_MODE_HTTP_KEEP_ALIVE
};

enum sl_balance {
	SL_BAL_ROUNDROBIN,
	SL_BAL_LEASTCONN,
	SL_BAL_SOURCE,
	SL_BAL_RANDOM
};

enum sl_log_target { SL_LOG_STDOUT, SL_LOG_STDERR, SL_LOG_OFF, SL_LOG_FILE };

struct sl_server_conf {
	char name[SL_CONF_NAME_MAX];
	struct sl_addr addr;
	int weight;    /* 1..256, default 1 */
	bool backup;
	bool disabled;
	uint32_t maxconn; /* "maxconn=N" (1..1000000): connections at once; 0 = unlimited */
	bool check;    /* "check": health-checked as its backend's check = says */
	/* "send_proxy" (1) or "send_proxy_v2" (2): a PROXY header with the
	 * client's address starts every connection to this server; 0: none */
	uint8_t send_proxy;
	/* Where checks connect: addr with check_addr=IP and check_port=N applied
	 * (both optional, both only with "check"). */
	struct sl_addr check_addr;
	int line;      /* line of the server = key, for messages */
};

enum sl_check_kind { SL_CHECK_TCP, SL_CHECK_HTTP };

#define SL_CONF_METHOD_MAX 32

/* A backend's health checks (keys check, check_expect, check_interval,
 * check_rise, check_fall); they apply to its servers marked "check". */
struct sl_check_conf {
	enum sl_check_kind kind;        /* default tcp */
	char method[SL_CONF_METHOD_MAX]; /* http: request method, e.g. "GET" */
	char path[SL_CONF_PATH_MAX];    /* http: request target, starts with '/' */
	int expect_lo, expect_hi;       /* http: good statuses, default 200-399 */
	uint64_t interval_ms;           /* default 2s */
	int rise, fall;                 /* default 2 and 3 consecutive results */
};

struct sl_bind_conf {
	struct sl_addr addr;
	bool ssl;
	bool accept_proxy; /* "accept_proxy": connections start with a PROXY header */
	/* "crt=" value: PEM paths separated by commas, "" when absent */
	char crt[SL_CONF_CRT_MAX];
	/* "ca=": PEM file of the CAs a client certificate must chain to, ""
	 * when absent; "verify=": whether a client must present one */
	char ca[SL_CONF_PATH_MAX];
	enum sl_verify { SL_VERIFY_NONE = 0, SL_VERIFY_OPTIONAL, SL_VERIFY_REQUIRED } verify;
	int line;
};

enum sl_route_kind { SL_ROUTE_HOST, SL_ROUTE_PATH_PREFIX };

/* "route = host NAME backend B" / "route = path_prefix /p backend B" */
struct sl_route_conf {
	enum sl_route_kind kind;
	char match[SL_CONF_PATH_MAX];
	char backend_name[SL_CONF_NAME_MAX];
	int backend;                  /* index into sl_config.backends */
	int line;
};

struct sl_frontend_conf {
	char name[SL_CONF_NAME_MAX];
	enum sl_fe_mode mode;         /* default tcp */
	struct sl_bind_conf *binds;   /* at least one */
	int nbinds;
	char backend_name[SL_CONF_NAME_MAX];
	int backend;                  /* index into sl_config.backends */
	uint32_t maxconn;             /* 0 = only the global limit */
	uint32_t maxconn_per_source;  /* per client IP address; 0 = no limit */
	/* http frontends; 0 means the default (proto/http.h) */
	uint32_t max_header_size;     /* 431 above it (default 16 KiB) */
	uint32_t max_headers;         /* 431 above it (default 100) */
	uint32_t keepalive_requests;  /* 0 = no limit */
	bool forwardfor_off;          /* forwardfor = off */
	/* request_id = HEADER-NAME: keep a sane incoming id or make one; "" = off */
	char request_id[SL_CONF_NAME_MAX];
	bool path_normalize_off;      /* path_normalize = off (default on) */
	bool stats;                   /* the built-in stats service (global `stats`) */
	bool h2_off;                  /* h2 = off: no HTTP/2 (default on, http mode) */
	bool linger_on;               /* lingering_close = on (default always) */
	uint32_t h2_max_streams;      /* h2_max_concurrent_streams (0: the default, 100) */
	uint32_t h2_window;           /* h2_initial_window_size (0: 65535) */
	uint32_t h2_conn_window;      /* h2_connection_window_size (0: 1 MiB) */
	uint8_t ssl_min_version;      /* ssl binds: 12 (TLS 1.2, default) or 13 */
	struct sl_route_conf *routes; /* checked in order before `backend` */
	int nroutes;
	struct sl_timeouts timeouts;  /* fully resolved (defaults applied) */
	int line;
};

struct sl_backend_conf {
	char name[SL_CONF_NAME_MAX];
	enum sl_be_mode mode;         /* default tcp */
	enum sl_balance balance;      /* default roundrobin */
	struct sl_server_conf *servers; /* at least one */
	int nservers;
	struct sl_check_conf check;
	/* http-keep-alive server connection pool; 0 means the default */
	uint32_t pool_max_idle;       /* idle connections per server per worker, when set */
	bool pool_max_idle_set;       /* a number was given (0 keeps no idle connection);
				       * unset or "auto": follows demand (core/pool.c) */
	uint64_t pool_purge_interval_ms; /* auto pools: surplus review period (5s) */
	uint64_t pool_idle_timeout_ms; /* (30s) */
	uint64_t pool_max_lifetime_ms; /* (5m) */
	uint32_t pool_max_requests;   /* (1000) */
	struct sl_timeouts timeouts;  /* fully resolved (defaults applied) */
	int line;
};

struct sl_config {
	char path[SL_CONF_PATH_MAX];
	int workers;                  /* resolved: "auto" becomes the CPU count */
	uint32_t maxconn;             /* default 100000 (lowered at start-up to what
				       * RLIMIT_NOFILE allows when not set) */
	bool maxconn_set;             /* given in the file */
	bool has_stats;
	struct sl_addr stats;
	char admin[108];              /* admin API unix socket path, "" = none */
	enum sl_log_target log;
	char log_path[SL_CONF_PATH_MAX];
	int log_line;                 /* line of the log key, 0 if none */
	bool log_json;                /* log_format = json (default text) */
	uint64_t grace_ms;            /* default 5s */
	uint64_t ssl_ticket_rotate_ms; /* session ticket key period (default 1h) */
	uint64_t stats_interval_ms;   /* stats history sample period (default 10s) */
	uint64_t buffer_release_ms;   /* receive-buffer pool review period (default 10s) */
	bool recv_buffers_inc;        /* recv_buffers = incremental (default fixed) */
	bool server_sockets_plain;    /* server_sockets = plain: socket(2), process fds
				       * (default direct where the kernel allows it) */
	struct sl_timeouts defaults;
	struct sl_frontend_conf *frontends;
	int nfrontends;
	struct sl_backend_conf *backends;
	int nbackends;
};

#endif
