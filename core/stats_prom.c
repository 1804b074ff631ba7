/*
 * Prometheus text exposition (core/ layer) of the totals summed by
 * core/stats_render.c: /metrics. Every family is written in one piece, after
 * its `# HELP` and `# TYPE` lines (counter, gauge or histogram), so the
 * Prometheus server and its client parsers type each one; a family with no
 * series in this configuration is left out entirely. The per-worker series
 * read each worker's own counters.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "core/session_pp.h"
#include "core/stats-i.h"
#include "core/conn.h"

_Static_assert(sizeof(((struct sl_fe_stats *)0)->hs_fail) / sizeof(uint64_t) == SL_HS_FAIL_COUNT,
	       "one handshake failure counter per reason");

#define out sl_stats_out

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram series: counts are per bucket (the last +Inf), bounds in
 * the unit of the family, labels ("a=\"x\",b=\"y\"") without braces. */
static void hist(struct sbuf *b, const char *name, const char *labels, const uint64_t *counts,
		 int nb, const double *bounds, double sum)
{
	uint64_t acc = 0;
	const char *sep = labels[0] ? "," : "";

	for (int i = 0; i <= nb; i++) {
		acc += counts[i];
		if (i < nb)
			out(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i], U(acc));
		else
			out(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, U(acc));
	}
	out(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, sum, name, labels, U(acc));
}

static double lat_bounds[SL_LAT_BUCKETS], life_bounds[SL_LIFE_BUCKETS];
static double reqs_bounds[SL_REQS_BUCKETS], check_bounds[SL_CHECK_BUCKETS];

static pthread_once_t bounds_once = PTHREAD_ONCE_INIT;

static void init_bounds(void)
{
	for (int i = 0; i < SL_LAT_BUCKETS; i++)
		lat_bounds[i] = (double)sl_lat_bounds_us[i] / 1e6;
	for (int i = 0; i < SL_LIFE_BUCKETS; i++)
		life_bounds[i] = (double)sl_life_bounds_ms[i] / 1e3;
	for (int i = 0; i < SL_REQS_BUCKETS; i++)
		reqs_bounds[i] = (double)sl_reqs_bounds[i];
	for (int i = 0; i < SL_CHECK_BUCKETS; i++)
		check_bounds[i] = (double)sl_check_bounds_ms[i] / 1e3;
}

/* ---- latency histograms, shared by frontends, backends and servers ---- */

enum { FOR_HTTP = 1, FOR_TCP = 2, FOR_SSL = 4, FOR_PP = 8 };

static const struct lat_family {
	const char *suffix, *help;
	int lat, who;
} lat_families[] = {
	{ "http_request_duration_seconds", "HTTP requests: request head received to last "
	  "response byte sent; _count is the requests ended", SL_LAT_REQUEST, FOR_HTTP },
	{ "http_response_time_seconds", "HTTP requests: request sent to the server to the "
	  "response head received", SL_LAT_RESPONSE, FOR_HTTP },
	{ "http_queue_time_seconds", "HTTP requests: time spent waiting for a server slot "
	  "(maxconn), 0 for most", SL_LAT_QUEUE, FOR_HTTP },
	{ "connect_time_seconds", "Server connections: connect started to established",
	  SL_LAT_CONNECT, FOR_HTTP | FOR_TCP },
	{ "tcp_session_duration_seconds", "tcp mode sessions: accepted to closed",
	  SL_LAT_SESSION, FOR_TCP },
	{ "tls_handshake_seconds", "TLS client connections: accepted to handshake done",
	  SL_LAT_HANDSHAKE, FOR_SSL },
};

static int fe_who(const struct sl_frontend_conf *fe)
{
	int who = fe->mode == SL_FE_MODE_HTTP ? FOR_HTTP : FOR_TCP;

	for (int i = 0; i < fe->nbinds; i++)
		who |= (fe->binds[i].ssl ? FOR_SSL : 0) | (fe->binds[i].accept_proxy ? FOR_PP : 0);
	return who;
}

static int be_who(const struct sl_backend_conf *be)
{
	return be->mode == SL_BE_MODE_TCP ? FOR_TCP : FOR_HTTP;
}

static void lat_hist(struct sbuf *b, const char *name, const char *labels,
		     const struct sl_hist *h)
{
	hist(b, name, labels, h->b, SL_LAT_BUCKETS, lat_bounds, (double)h->sum_us / 1e6);
}

static void prom_latency(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	const struct sl_config *c = px->conf;
	char name[128], lab[256];

	for (size_t f = 0; f < sizeof(lat_families) / sizeof(lat_families[0]); f++) {
		const struct lat_family *lf = &lat_families[f];
		int any = 0, bany = 0;
		uint32_t g = 0;

		for (int i = 0; i < c->nfrontends; i++)
			any |= fe_who(&c->frontends[i]) & lf->who;
		for (int i = 0; i < c->nbackends; i++)
			bany |= be_who(&c->backends[i]) & lf->who;
		snprintf(name, sizeof(name), "sluice_frontend_%s", lf->suffix);
		if (any)
			family(b, name, "histogram", lf->help);
		for (int i = 0; any && i < c->nfrontends; i++) {
			if (!(fe_who(&c->frontends[i]) & lf->who))
				continue;
			snprintf(lab, sizeof(lab), "frontend=\"%s\"", c->frontends[i].name);
			lat_hist(b, name, lab, &t->fe[i].lat[lf->lat]);
		}
		if (!bany)
			continue;
		snprintf(name, sizeof(name), "sluice_backend_%s", lf->suffix);
		family(b, name, "histogram", lf->help);
		for (int i = 0; i < c->nbackends; i++) {
			if (!(be_who(&c->backends[i]) & lf->who))
				continue;
			snprintf(lab, sizeof(lab), "backend=\"%s\"", c->backends[i].name);
			lat_hist(b, name, lab, &t->be[i].lat[lf->lat]);
		}
		snprintf(name, sizeof(name), "sluice_server_%s", lf->suffix);
		family(b, name, "histogram", lf->help);
		for (int i = 0; i < c->nbackends; i++) {
			const struct sl_backend *be = &px->backends[i];

			for (int j = 0; j < be->nservers; j++, g++) {
				if (!(be_who(be->conf) & lf->who))
					continue;
				snprintf(lab, sizeof(lab), "backend=\"%s\",server=\"%s\"", be->conf->name,
					 be->servers[j].conf->name);
				lat_hist(b, name, lab, &t->srv[g].lat[lf->lat]);
			}
		}
	}
}

/* ---- process and workers ---- */

static void prom_process(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	family(b, "sluice_process_open_fds", "gauge", "File descriptors open (/proc/self/fd)");
	out(b, "sluice_process_open_fds %llu\n", U(t->open_fds));
	family(b, "sluice_process_accounted_fds", "gauge",
	       "File descriptors the process accounts for; a difference with open_fds is a leak");
	out(b, "sluice_process_accounted_fds %llu\n", U(t->accounted_fds));
	family(b, "sluice_process_direct_fds", "gauge",
	       "Direct descriptors (server sockets) in use in the workers' io_uring file tables");
	out(b, "sluice_process_direct_fds %llu\n", U(t->direct_fds));
	family(b, "sluice_process_accounted_direct_fds", "gauge",
	       "Direct descriptors the process accounts for; a difference with direct_fds is a leak");
	out(b, "sluice_process_accounted_direct_fds %llu\n", U(t->accounted_direct_fds));
	family(b, "sluice_process_sessions_current", "gauge",
	       "Client connections open now, stats service excluded");
	out(b, "sluice_process_sessions_current %u\n", atomic_load(&px->sessions));
	family(b, "sluice_accept_pauses_total", "counter",
	       "Times accepting was paused: a connection limit or out of fds");
	out(b, "sluice_accept_pauses_total{reason=\"maxconn\"} %llu\n", U(t->pause_maxconn));
	out(b, "sluice_accept_pauses_total{reason=\"emfile\"} %llu\n", U(t->pause_emfile));
	family(b, "sluice_log_lines_total", "counter", "Access log lines written");
	out(b, "sluice_log_lines_total %llu\n", U(t->log_lines));
	family(b, "sluice_log_dropped_total", "counter",
	       "Access log lines dropped because both buffers were busy");
	out(b, "sluice_log_dropped_total %llu\n", U(t->log_dropped));
}

static const struct {
	const char *name, *type, *help;
	size_t off;
} worker_fams[] = {
	{ "sluice_worker_accepts_total", "counter", "Connections accepted by this worker",
	  offsetof(struct sl_fe_stats, accepts) },
	{ "sluice_worker_sessions_total", "counter", "Sessions started by this worker",
	  offsetof(struct sl_fe_stats, sess_total) },
	{ "sluice_worker_sessions_current", "gauge", "Sessions of this worker open now",
	  offsetof(struct sl_fe_stats, sess_cur) },
	{ "sluice_worker_http_requests_total", "counter", "HTTP requests received by this worker",
	  offsetof(struct sl_fe_stats, req_total) },
};

static void prom_workers(struct sbuf *b, struct sl_proxy *px)
{
	for (size_t f = 0; f < sizeof(worker_fams) / sizeof(worker_fams[0]); f++) {
		family(b, worker_fams[f].name, worker_fams[f].type, worker_fams[f].help);
		for (int w = 0; w < px->nworkers; w++) {
			const struct sl_wstats *st = px->workers[w].st;

			for (int i = 0; i < px->conf->nfrontends; i++) {
				const char *p = (const char *)&st->fe[i] + worker_fams[f].off;

				out(b, "%s{worker=\"%d\",frontend=\"%s\"} %llu\n", worker_fams[f].name, w,
				    px->conf->frontends[i].name,
				    U(__atomic_load_n((const uint64_t *)(const void *)p,
						      __ATOMIC_RELAXED)));
			}
		}
	}
}

/* The receive-buffer pool of each worker (ring/bufpool.c), as of its last
 * review (every buffer_release while it settles). */
static void prom_worker_buffers(struct sbuf *b, struct sl_proxy *px)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} fams[] = {
		{ "sluice_worker_buffers_resident", "gauge",
		  "Receive buffers of this worker whose memory may be resident (16 KiB each)",
		  offsetof(struct sl_wstats, buf_resident) },
		{ "sluice_worker_buffers_released_total", "counter",
		  "Receive buffers whose memory this worker gave back to the kernel",
		  offsetof(struct sl_wstats, buf_released) },
		{ "sluice_worker_buffer_ring_renewals_total", "counter",
		  "Times this worker took its idle buffers back from the kernel's ring",
		  offsetof(struct sl_wstats, buf_renewals) },
		{ "sluice_worker_recv_buffer_bytes", "gauge",
		  "Size of each receive buffer the kernel fills: 131072 when incrementally "
		  "consumed (recv_buffers = incremental on Linux 6.12+), else 16384",
		  offsetof(struct sl_wstats, buf_bytes) },
		{ "sluice_worker_recv_slices_lost_total", "counter",
		  "Receives whose bytes had no slice id left to name them (the connection failed)",
		  offsetof(struct sl_wstats, slices_lost) },
		{ "sluice_worker_task_work_passes_total", "counter",
		  "Extra io_uring_enter calls that ran deferred task work the loop's wait left "
		  "over (IORING_SQ_TASKRUN: more than 20 items were queued)",
		  offsetof(struct sl_wstats, tw_passes) },
		{ "sluice_worker_recv_deferred_total", "counter",
		  "Receives of bulk connections (a large body streaming, or holding buffers) "
		  "put off to a later loop iteration: the iteration's budget was spent, or the "
		  "pool's reserve for light connections was reached",
		  offsetof(struct sl_wstats, rx_deferred) },
	};

	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		family(b, fams[f].name, fams[f].type, fams[f].help);
		for (int w = 0; w < px->nworkers; w++) {
			const char *p = (const char *)px->workers[w].st + fams[f].off;

			out(b, "%s{worker=\"%d\"} %llu\n", fams[f].name, w,
			    U(__atomic_load_n((const uint64_t *)(const void *)p, __ATOMIC_RELAXED)));
		}
	}
}

/* ---- frontends ---- */

static const struct {
	const char *name, *type, *help;
	size_t off;
} fe_fams[] = {
	{ "sluice_frontend_sessions_current", "gauge", "Client connections open now",
	  offsetof(struct sl_fe_stats, sess_cur) },
	{ "sluice_frontend_sessions_total", "counter", "Client connections started",
	  offsetof(struct sl_fe_stats, sess_total) },
	{ "sluice_frontend_bytes_in_total", "counter", "Bytes received from clients",
	  offsetof(struct sl_fe_stats, bytes_in) },
	{ "sluice_frontend_bytes_out_total", "counter", "Bytes sent to clients",
	  offsetof(struct sl_fe_stats, bytes_out) },
	{ "sluice_frontend_http_requests_total", "counter", "HTTP requests received (heads "
	  "complete)", offsetof(struct sl_fe_stats, req_total) },
	{ "sluice_frontend_refused_per_source_total", "counter",
	  "Connections refused by maxconn_per_source", offsetof(struct sl_fe_stats,
								 refused_source) },
	{ "sluice_frontend_idle_reclaimed_total", "counter",
	  "Idle keep-alive clients closed at maxconn to admit new connections",
	  offsetof(struct sl_fe_stats, idle_reclaimed) },
	{ "sluice_frontend_h2_connections_current", "gauge", "HTTP/2 client connections open now",
	  offsetof(struct sl_fe_stats, h2.conns_cur) },
	{ "sluice_frontend_h2_connections_total", "counter", "HTTP/2 client connections started",
	  offsetof(struct sl_fe_stats, h2.conns) },
	{ "sluice_frontend_h2_streams_total", "counter", "HTTP/2 streams opened by clients",
	  offsetof(struct sl_fe_stats, h2.streams) },
	{ "sluice_frontend_h2_streams_refused_total", "counter",
	  "HTTP/2 streams refused for want of a session slot",
	  offsetof(struct sl_fe_stats, h2.refused) },
	{ "sluice_frontend_h2_goaways_received_total", "counter", "HTTP/2 GOAWAY frames received",
	  offsetof(struct sl_fe_stats, h2.goaway_rx) },
	{ "sluice_frontend_h2_goaways_sent_total", "counter", "HTTP/2 GOAWAY frames sent",
	  offsetof(struct sl_fe_stats, h2.goaway_tx) },
	{ "sluice_frontend_h2_flood_closes_total", "counter",
	  "HTTP/2 connections closed for a flood (rapid reset, control frames, ACK backlog)",
	  offsetof(struct sl_fe_stats, h2.floods) },
};

#define FE_NAME(i) (px->conf->frontends[i].name)

/* A labelled family over every frontend: vals(i) points at n counters. */
static void fe_labelled(struct sbuf *b, struct sl_proxy *px, const char *name, const char *type,
			const char *help, const char *label, const char *const *lv, int n,
			const uint64_t *first, size_t stride)
{
	family(b, name, type, help);
	for (int i = 0; i < px->conf->nfrontends; i++) {
		const uint64_t *v = (const uint64_t *)(const void *)((const char *)first + stride *
								     (size_t)i);

		for (int k = 0; k < n; k++)
			out(b, "%s{frontend=\"%s\",%s=\"%s\"} %llu\n", name, FE_NAME(i), label, lv[k],
			    U(v[k]));
	}
}

static void prom_fe_ssl(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	int any = 0;

	for (int i = 0; i < px->conf->nfrontends; i++)
		any |= fe_who(&px->conf->frontends[i]) & FOR_SSL;
	if (!any)
		return;
	family(b, "sluice_frontend_tls_handshakes_total", "counter", "TLS handshakes completed");
	for (int i = 0; i < px->conf->nfrontends; i++)
		if (fe_who(&px->conf->frontends[i]) & FOR_SSL)
			out(b, "sluice_frontend_tls_handshakes_total{frontend=\"%s\"} %llu\n",
			    FE_NAME(i), U(t->fe[i].hs_done));
	family(b, "sluice_frontend_tls_resumed_total", "counter",
	       "TLS handshakes that resumed a session");
	for (int i = 0; i < px->conf->nfrontends; i++)
		if (fe_who(&px->conf->frontends[i]) & FOR_SSL)
			out(b, "sluice_frontend_tls_resumed_total{frontend=\"%s\"} %llu\n",
			    FE_NAME(i), U(t->fe[i].hs_resumed));
	family(b, "sluice_frontend_tls_handshake_failures_total", "counter",
	       "TLS handshakes that failed, by reason");
	for (int i = 0; i < px->conf->nfrontends; i++)
		for (int k = 0; (fe_who(&px->conf->frontends[i]) & FOR_SSL) &&
				k < SL_HS_FAIL_COUNT; k++)
			out(b, "sluice_frontend_tls_handshake_failures_total{frontend=\"%s\","
			    "reason=\"%s\"} %llu\n", FE_NAME(i), sl_hs_fail_names[k],
			    U(t->fe[i].hs_fail[k]));
}

static void prom_fe_pp(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	int any = 0;

	for (int i = 0; i < px->conf->nfrontends; i++)
		any |= fe_who(&px->conf->frontends[i]) & FOR_PP;
	if (!any)
		return;
	family(b, "sluice_frontend_proxy_header_failures_total", "counter",
	       "Connections closed on accept_proxy binds without a valid PROXY header, by reason");
	for (int i = 0; i < px->conf->nfrontends; i++)
		for (int k = 0; (fe_who(&px->conf->frontends[i]) & FOR_PP) &&
				k < SL_PP_FAIL_COUNT; k++)
			out(b, "sluice_frontend_proxy_header_failures_total{frontend=\"%s\","
			    "reason=\"%s\"} %llu\n", FE_NAME(i), sl_pp_fail_names[k],
			    U(t->fe[i].pp_fail[k]));
}

static void prom_fe_hist(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	char lab[256];

	family(b, "sluice_frontend_connection_lifetime_seconds", "histogram",
	       "Client connection lifetime, by why it ended");
	for (int i = 0; i < px->conf->nfrontends; i++)
		for (int c = 0; c < SL_CAUSES; c++) {
			snprintf(lab, sizeof(lab), "frontend=\"%s\",cause=\"%s\"", FE_NAME(i),
				 sl_stats_cause_names[c]);
			hist(b, "sluice_frontend_connection_lifetime_seconds", lab, t->fe[i].life[c],
			     SL_LIFE_BUCKETS, life_bounds, (double)t->fe[i].life_ms[c] / 1e3);
		}
	family(b, "sluice_frontend_requests_per_connection", "histogram",
	       "HTTP requests per client connection, by why it ended");
	for (int i = 0; i < px->conf->nfrontends; i++)
		for (int c = 0; c < SL_CAUSES; c++) {
			snprintf(lab, sizeof(lab), "frontend=\"%s\",cause=\"%s\"", FE_NAME(i),
				 sl_stats_cause_names[c]);
			hist(b, "sluice_frontend_requests_per_connection", lab, t->fe[i].reqs[c],
			     SL_REQS_BUCKETS, reqs_bounds, (double)t->fe[i].reqs_sum[c]);
		}
}

static void prom_frontends(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	const char *to_names[SL_TO_COUNT];
	size_t st = sizeof(*t->fe);

	for (size_t f = 0; f < sizeof(fe_fams) / sizeof(fe_fams[0]); f++) {
		family(b, fe_fams[f].name, fe_fams[f].type, fe_fams[f].help);
		for (int i = 0; i < px->conf->nfrontends; i++)
			out(b, "%s{frontend=\"%s\"} %llu\n", fe_fams[f].name, FE_NAME(i),
			    U(*(const uint64_t *)(const void *)((const char *)&t->fe[i] +
								fe_fams[f].off)));
	}
	for (int k = 0; k < SL_TO_COUNT; k++)
		to_names[k] = sl_conf_timeout_name((enum sl_timeout_kind)k) + 8;
	fe_labelled(b, px, "sluice_frontend_http_responses_total", "counter",
		    "HTTP responses sent to clients, by status class", "class", sl_stats_rsp_names,
		    6, t->fe[0].rsp, st);
	fe_labelled(b, px, "sluice_frontend_connections", "gauge",
		    "Client connections open now, by state", "state", sl_stats_gauge_names,
		    SL_GS_COUNT, t->fe[0].gauge, st);
	fe_labelled(b, px, "sluice_frontend_h2_resets_received_total", "counter",
		    "HTTP/2 RST_STREAM frames received, by error code", "code",
		    sl_stats_h2_code_names, SL_H2_CODES, t->fe[0].h2.rst_rx, st);
	fe_labelled(b, px, "sluice_frontend_h2_resets_sent_total", "counter",
		    "HTTP/2 RST_STREAM frames sent, by error code", "code",
		    sl_stats_h2_code_names, SL_H2_CODES, t->fe[0].h2.rst_tx, st);
	fe_labelled(b, px, "sluice_frontend_timeouts_total", "counter", "Timeouts fired, by kind",
		    "kind", to_names, SL_TO_COUNT, t->fe[0].to, st);
	fe_labelled(b, px, "sluice_frontend_sessions_ended_total", "counter",
		    "Client connections ended, by cause", "cause", sl_stats_cause_names, SL_CAUSES,
		    t->fe[0].cause, st);
	fe_labelled(b, px, "sluice_frontend_request_errors_total", "counter",
		    "Requests the proxy refused itself, by kind", "kind", sl_stats_req_err_names, 6,
		    t->fe[0].req_err, st);
	prom_fe_ssl(b, px, t);
	prom_fe_pp(b, px, t);
	prom_fe_hist(b, px, t);
}

/* ---- backends and servers ---- */

static const struct {
	const char *name, *type, *help;
	size_t off;
} be_fams[] = {
	{ "sluice_backend_sessions_total", "counter", "Server connections or sessions started",
	  offsetof(struct sl_be_stats, sess_total) },
	{ "sluice_backend_http_requests_total", "counter", "HTTP requests routed to the backend",
	  offsetof(struct sl_be_stats, req_total) },
	{ "sluice_backend_bytes_in_total", "counter", "Bytes received from servers",
	  offsetof(struct sl_be_stats, bytes_in) },
	{ "sluice_backend_bytes_out_total", "counter", "Bytes sent to servers",
	  offsetof(struct sl_be_stats, bytes_out) },
	{ "sluice_backend_connect_failures_total", "counter", "Server connects that failed",
	  offsetof(struct sl_be_stats, conn_fail) },
	{ "sluice_backend_queued", "gauge", "Sessions waiting for a server slot now",
	  offsetof(struct sl_be_stats, queued) },
};

static const struct {
	const char *name, *type, *help;
	size_t off;
} srv_fams[] = {
	{ "sluice_server_sessions_total", "counter", "Sessions sent to the server",
	  offsetof(struct sl_srv_stats, sess_total) },
	{ "sluice_server_bytes_in_total", "counter", "Bytes received from the server",
	  offsetof(struct sl_srv_stats, bytes_in) },
	{ "sluice_server_bytes_out_total", "counter", "Bytes sent to the server",
	  offsetof(struct sl_srv_stats, bytes_out) },
	{ "sluice_server_connect_failures_total", "counter", "Connects to the server that failed",
	  offsetof(struct sl_srv_stats, conn_fail) },
	{ "sluice_server_http_requests_total", "counter", "HTTP requests ended on the server",
	  offsetof(struct sl_srv_stats, req_total) },
	{ "sluice_server_pool_purged_total", "counter",
	  "Server connections an auto pool closed as surplus (purge, full list, maxconn share)",
	  offsetof(struct sl_srv_stats, pool_purged) },
};

/* Every server of every backend: be and s are set, g is the server's global
 * index (the order of the per-server counters). No break inside. */
#define EACH_SERVER(px, be, s, g) \
	for (int bi_ = 0, g = 0; bi_ < (px)->conf->nbackends; bi_++) \
		for (int si_ = 0; si_ < (px)->backends[bi_].nservers; si_++, g++) \
			for (struct sl_backend *be = &(px)->backends[bi_]; be; be = NULL) \
				for (struct sl_server *s = &be->servers[si_]; s; s = NULL)

#define SRV_LAB "backend=\"%s\",server=\"%s\""

static void prom_server_state(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	family(b, "sluice_server_up", "gauge", "1 when the server is UP");
	EACH_SERVER(px, be, s, g)
		out(b, "sluice_server_up{" SRV_LAB "} %d\n", be->conf->name, s->conf->name,
		    sl_server_status(s) == SL_SRV_UP);
	family(b, "sluice_server_maint", "gauge", "1 when the server is in maintenance");
	EACH_SERVER(px, be, s, g)
		out(b, "sluice_server_maint{" SRV_LAB "} %d\n", be->conf->name, s->conf->name,
		    sl_server_status(s) == SL_SRV_MAINT);
	family(b, "sluice_server_drain", "gauge",
	       "1 when the server is draining (admin API): no new traffic, checks go on");
	EACH_SERVER(px, be, s, g)
		out(b, "sluice_server_drain{" SRV_LAB "} %d\n", be->conf->name, s->conf->name,
		    sl_server_status(s) == SL_SRV_DRAIN);
	family(b, "sluice_server_weight", "gauge",
	       "Balancing weight of the server now (configuration or admin API)");
	EACH_SERVER(px, be, s, g)
		out(b, "sluice_server_weight{" SRV_LAB "} %d\n", be->conf->name, s->conf->name,
		    sl_server_weight(s));
	family(b, "sluice_server_sessions_current", "gauge", "Sessions using the server now");
	EACH_SERVER(px, be, s, g)
		out(b, "sluice_server_sessions_current{" SRV_LAB "} %u\n", be->conf->name,
		    s->conf->name, atomic_load(&s->sessions));
	family(b, "sluice_server_pool_idle_connections", "gauge",
	       "Idle pooled connections to the server now");
	EACH_SERVER(px, be, s, g)
		out(b, "sluice_server_pool_idle_connections{" SRV_LAB "} %llu\n", be->conf->name,
		    s->conf->name, U(t->pool_idle[g]));
}

static void prom_server_checks(struct sbuf *b, struct sl_proxy *px)
{
	char lab[256];

	family(b, "sluice_server_check_results_total", "counter",
	       "Health check results, by reason");
	EACH_SERVER(px, be, s, g)
		for (int k = 0; k < SL_CHECK_REASONS; k++)
			out(b, "sluice_server_check_results_total{" SRV_LAB ",reason=\"%s\"} %lu\n",
			    be->conf->name, s->conf->name, sl_stats_check_names[k],
			    atomic_load(&s->check_res[k]));
	family(b, "sluice_server_check_duration_seconds", "histogram", "Health check duration");
	EACH_SERVER(px, be, s, g) {
		uint64_t h[SL_CHECK_BUCKETS + 1];

		for (int k = 0; k <= SL_CHECK_BUCKETS; k++)
			h[k] = atomic_load(&s->check_hist[k]);
		snprintf(lab, sizeof(lab), SRV_LAB, be->conf->name, s->conf->name);
		hist(b, "sluice_server_check_duration_seconds", lab, h, SL_CHECK_BUCKETS,
		     check_bounds, (double)atomic_load(&s->check_ms_sum) / 1e3);
	}
}

static void prom_backends(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	const struct sl_config *c = px->conf;

	for (size_t f = 0; f < sizeof(be_fams) / sizeof(be_fams[0]); f++) {
		family(b, be_fams[f].name, be_fams[f].type, be_fams[f].help);
		for (int i = 0; i < c->nbackends; i++)
			out(b, "%s{backend=\"%s\"} %llu\n", be_fams[f].name, c->backends[i].name,
			    U(*(const uint64_t *)(const void *)((const char *)&t->be[i] +
								be_fams[f].off)));
	}
	family(b, "sluice_backend_responses_generated_total", "counter",
	       "Error responses the proxy sent for the backend, by status");
	for (int i = 0; i < c->nbackends; i++)
		for (int k = 0; k < 3; k++)
			out(b, "sluice_backend_responses_generated_total{backend=\"%s\",status=\"%d\"}"
			    " %llu\n", c->backends[i].name, 502 + k, U(t->be[i].rsp_err[k]));
	family(b, "sluice_backend_http_responses_total", "counter",
	       "HTTP requests of the backend ended, by the status class sent to the client");
	for (int i = 0; i < c->nbackends; i++)
		for (int k = 0; k < 6; k++)
			out(b, "sluice_backend_http_responses_total{backend=\"%s\",class=\"%s\"} %llu\n",
			    c->backends[i].name, sl_stats_rsp_names[k], U(t->be[i].done[k]));
	family(b, "sluice_backend_timeouts_total", "counter", "Timeouts fired, by kind");
	for (int i = 0; i < c->nbackends; i++)
		for (int k = 0; k < SL_TO_COUNT; k++)
			out(b, "sluice_backend_timeouts_total{backend=\"%s\",kind=\"%s\"} %llu\n",
			    c->backends[i].name, sl_conf_timeout_name((enum sl_timeout_kind)k) + 8,
			    U(t->be[i].to[k]));
	prom_server_state(b, px, t);
	for (size_t f = 0; f < sizeof(srv_fams) / sizeof(srv_fams[0]); f++) {
		family(b, srv_fams[f].name, srv_fams[f].type, srv_fams[f].help);
		EACH_SERVER(px, be, s, g)
			out(b, "%s{" SRV_LAB "} %llu\n", srv_fams[f].name, be->conf->name,
			    s->conf->name, U(*(const uint64_t *)(const void *)
					     ((const char *)&t->srv[g] + srv_fams[f].off)));
	}
	family(b, "sluice_server_http_responses_total", "counter",
	       "HTTP requests ended on the server, by the status class sent to the client");
	EACH_SERVER(px, be, s, g)
		for (int k = 0; k < 6; k++)
			out(b, "sluice_server_http_responses_total{" SRV_LAB ",class=\"%s\"} %llu\n",
			    be->conf->name, s->conf->name, sl_stats_rsp_names[k], U(t->srv[g].done[k]));
	prom_server_checks(b, px);
}

void sl_stats_render_prom(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	pthread_once(&bounds_once, init_bounds);
	prom_process(b, px, t);
	prom_workers(b, px);
	prom_worker_buffers(b, px);
	prom_frontends(b, px, t);
	prom_backends(b, px, t);
	prom_latency(b, px, t);
}
