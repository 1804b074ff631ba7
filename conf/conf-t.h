/*
 * Configuration types (conf/ layer). A struct sl_config is built once by
 * sl_conf_load() from an INI file and is immutable afterwards: workers read it
 * concurrently without locks. Depends on nothing of ours.
 */
#ifndef SL_CONF_CONF_T_H
#define SL_CONF_CONF_T_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SL_CONF_NAME_MAX 64
#define SL_CONF_PATH_MAX 256

/* A resolved socket address: what bind(2)/connect(2) take. */
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
	int line;      /* line of the server = key, for messages */
};

struct sl_bind_conf {
	struct sl_addr addr;
	bool ssl;
	char crt[SL_CONF_PATH_MAX]; /* "crt=" value, "" when absent */
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
	struct sl_timeouts timeouts;  /* fully resolved (defaults applied) */
	int line;
};

struct sl_backend_conf {
	char name[SL_CONF_NAME_MAX];
	enum sl_be_mode mode;         /* default tcp */
	enum sl_balance balance;      /* default roundrobin */
	struct sl_server_conf *servers; /* at least one */
	int nservers;
	struct sl_timeouts timeouts;  /* fully resolved (defaults applied) */
	int line;
};

struct sl_config {
	char path[SL_CONF_PATH_MAX];
	int workers;                  /* resolved: "auto" becomes the CPU count */
	uint32_t maxconn;             /* default 100000 */
	bool has_stats;
	struct sl_addr stats;
	enum sl_log_target log;
	char log_path[SL_CONF_PATH_MAX];
	uint64_t grace_ms;            /* default 5s */
	struct sl_timeouts defaults;
	struct sl_frontend_conf *frontends;
	int nfrontends;
	struct sl_backend_conf *backends;
	int nbackends;
};

#endif
