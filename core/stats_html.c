/*
 * The /stats page (core/ layer): one self-contained HTML document, no
 * script and no external asset, that refreshes itself. It answers "is
 * anything leaking, which server is slow or failing, and since when": the fd
 * audit at the top (red when open and accounted fds differ), per frontend
 * and per server the rates and latency percentiles of the last minute,
 * inline SVG sparklines of the request rate and p99 request duration over
 * the whole history, the last state changes of every server, and how the
 * workers share the load. Every number comes from the history
 * (core/stats_hist.c) or the counters, never from the viewer's previous
 * visit. Numbers shown rounded carry their exact value in data-v.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/stats-i.h"

#define out sl_stats_out

#define SPARK_W 100
#define SPARK_H 26

static const char style[] =
	"body{font:13px/1.35 system-ui,sans-serif;margin:12px 16px;color:#222}"
	"h1{font-size:20px;margin:0 12px 0 0;display:inline-block}"
	"h2{font-size:15px;margin:18px 0 4px}"
	".top{display:flex;align-items:center;flex-wrap:wrap;gap:10px}"
	".audit{font-size:16px;padding:6px 12px;border-radius:4px;font-weight:600}"
	".audit.ok{background:#dfd;border:1px solid #6a6}"
	".audit.leak{background:#f33;color:#fff;border:2px solid #900}"
	".note{color:#666}"
	"table{border-collapse:collapse;margin:2px 0 8px}"
	"td,th{border:1px solid #ccc;padding:2px 5px;text-align:right;white-space:nowrap}"
	"th{background:#eee;font-weight:600}td:first-child{text-align:left}"
	"th.l{text-align:left}"
	"th.be{text-align:left;background:#dde6f0}"
	".UP{background:#cfc}.DOWN{background:#f99;font-weight:600}.MAINT{background:#ddd}.DRAIN{background:#ffc}"
	".bad{background:#fcc}.warn{background:#fec}.ev{text-align:left;white-space:normal}"
	"svg.spark{vertical-align:middle;background:#f8f8f8}"
	"svg.spark path{fill:none;stroke-width:1.2}"
	"svg.req path{stroke:#36c}svg.p99 path{stroke:#c63}";

static void html_esc(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': out(b, "&lt;"); break;
		case '>': out(b, "&gt;"); break;
		case '&': out(b, "&amp;"); break;
		case '"': out(b, "&quot;"); break;
		default: out(b, "%c", *s); break;
		}
	}
}

/* A latency in ms, "-" when nothing was measured. */
static void ms_span(struct sbuf *b, const char *cls, double ms)
{
	if (ms < 0)
		out(b, "<span class=\"%s\" data-v=\"\">-</span>", cls);
	else if (ms < 10)
		out(b, "<span class=\"%s\" data-v=\"%.3f\">%.2f ms</span>", cls, ms, ms);
	else if (ms < 1000)
		out(b, "<span class=\"%s\" data-v=\"%.3f\">%.0f ms</span>", cls, ms, ms);
	else
		out(b, "<span class=\"%s\" data-v=\"%.3f\">%.2f s</span>", cls, ms, ms / 1000);
}

/* A cell with the p50 and p99 of histogram h. */
static void pct_cell(struct sbuf *b, const char *what, const uint64_t *h)
{
	char c50[32], c99[32];

	snprintf(c50, sizeof(c50), "%s p50", what);
	snprintf(c99, sizeof(c99), "%s p99", what);
	out(b, "<td>");
	ms_span(b, c50, sl_stats_quantile(h, 0.5));
	out(b, " / ");
	ms_span(b, c99, sl_stats_quantile(h, 0.99));
	out(b, "</td>");
}

/* A rate cell (per second over the window); cls marks it when non-zero. */
static void rate_cell(struct sbuf *b, const struct sl_hist_view *v, uint64_t n,
		      const char *cls)
{
	double r;

	if (!v->valid) {
		out(b, "<td class=\"rate\" data-v=\"\">-</td>");
		return;
	}
	r = (double)n / v->window_s;
	out(b, "<td class=\"rate%s%s\" data-v=\"%.3f\" title=\"%llu in %.0f s\">%.*f</td>",
	    n && cls ? " " : "", n && cls ? cls : "", r, U(n), v->window_s, r < 10 ? 2 : 1, r);
}

/* An inline SVG sparkline of v[0..n) (oldest first, -1: no value), right
 * aligned on the full history span so the time axis does not move. */
static void spark(struct sbuf *b, const char *cls, const double *v, int n, const char *unit)
{
	double max = 0, last = -1;
	bool pen = false;

	for (int i = 0; i < n; i++) {
		if (v[i] > max)
			max = v[i];
		if (v[i] >= 0)
			last = v[i];
	}
	out(b, "<td><svg class=\"spark %s\" data-n=\"%d\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\"><title>max %.2f %s, last %.2f %s</title><path d=\"", cls, n,
	    SPARK_W, SPARK_H, SPARK_W, SPARK_H, max, unit, last < 0 ? 0 : last, unit);
	for (int i = 0; i < n; i++) {
		double x = (double)(SL_HIST_SAMPLES - n + i) * (SPARK_W - 1) /
			   (SL_HIST_SAMPLES - 1);
		double y = SPARK_H - 1 - (max > 0 && v[i] > 0 ? v[i] / max * (SPARK_H - 3) : 0);

		if (v[i] < 0) {
			pen = false;
			continue;
		}
		out(b, "%c%.1f %.1f", pen ? 'L' : 'M', x, y);
		if (!pen && (i + 1 == n || v[i + 1] < 0))
			out(b, "h1.5"); /* a lone point shows as a dot */
		pen = true;
	}
	out(b, "\"/></svg></td>");
}

static void header(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	bool leak = t->open_fds != t->accounted_fds;
	uint64_t interval;
	double win;
	int n;
	char when[32], span[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	sl_stats_hist_info(&interval, &n, &win);
	if (interval * SL_HIST_SAMPLES < 120000)
		snprintf(span, sizeof(span), "%llu s", U(interval * SL_HIST_SAMPLES / 1000));
	else
		snprintf(span, sizeof(span), "%llu min", U(interval * SL_HIST_SAMPLES / 60000));
	out(b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"5\"><title>sluice stats</title><style>%s"
	    "</style></head><body><div class=\"top\"><h1>sluice</h1><div class=\"audit %s\">"
	    "fd audit %s: <span id=\"fds\" class=\"%s\">open %llu, accounted %llu</span></div>"
	    "<div>sessions %u &middot; accept pauses: maxconn %llu, EMFILE %llu &middot; "
	    "access log lines dropped %llu</div></div><p class=\"note\">%s &middot; rates and "
	    "percentiles: last %.0f s &middot; sparklines: last %s, one point per %.1f s "
	    "(%d held) &middot; same numbers for every viewer (server-side history) &middot; "
	    "refreshes every 5 s &middot; <a href=\"/metrics\">/metrics</a> "
	    "<a href=\"/stats.json\">/stats.json</a></p>", style, leak ? "leak" : "ok",
	    leak ? "MISMATCH (leak?)" : "OK", leak ? "leak" : "", U(t->open_fds),
	    U(t->accounted_fds), atomic_load(&px->sessions), U(t->pause_maxconn),
	    U(t->pause_emfile), U(t->log_dropped), when, win, span, (double)interval / 1000, n);
}

static void frontends(struct sbuf *b, struct sl_proxy *px, const struct totals *t,
		      struct sl_hist_view *v)
{
	out(b, "<h2>Frontends</h2><table><tr><th>frontend</th><th>mode</th><th>current</th>"
	    "<th>sessions/s</th><th>requests/s</th><th>2xx/s</th><th>4xx/s</th><th>5xx/s</th>"
	    "<th>duration p50 / p99</th><th>rate, history</th><th>dur p99, history</th>"
	    "<th>sessions</th><th>requests</th><th>bytes in</th><th>bytes out</th><th>errors</th>"
	    "<th>timeouts</th></tr>");
	for (int i = 0; i < px->conf->nfrontends; i++) {
		const struct sl_fe_stats *f = &t->fe[i];
		bool http = px->conf->frontends[i].mode == SL_FE_MODE_HTTP;
		uint64_t to = 0, err = 0;

		for (int k = 0; k < SL_TO_COUNT; k++)
			to += f->to[k];
		for (int k = 0; k < 6; k++)
			err += f->req_err[k];
		sl_stats_hist_view(SL_HIST_FE, (uint32_t)i, v);
		out(b, "<tr class=\"frontend\"><td>");
		html_esc(b, px->conf->frontends[i].name);
		out(b, "</td><td>%s</td><td>%llu</td>", http ? "http" : "tcp", U(f->sess_cur));
		rate_cell(b, v, v->sess, NULL);
		rate_cell(b, v, v->req, NULL);
		rate_cell(b, v, v->cls[0], NULL);
		rate_cell(b, v, v->cls[1], "warn");
		rate_cell(b, v, v->cls[2], "bad");
		pct_cell(b, "dur", v->dur);
		spark(b, "req", http ? v->spark_req : v->spark_sess, v->nspark,
		      http ? "req/s" : "sess/s");
		spark(b, "p99", v->spark_p99, v->nspark, "ms");
		out(b, "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>"
		    "<td>%llu</td></tr>", U(f->sess_total), U(f->req_total), U(f->bytes_in),
		    U(f->bytes_out), U(err), U(to));
	}
	out(b, "</table>");
}

static void ago(char *buf, size_t n, uint64_t now, uint64_t then)
{
	uint64_t s = now > then ? (now - then) / 1000 : 0;

	if (s < 120)
		snprintf(buf, n, "%llus ago", U(s));
	else if (s < 7200)
		snprintf(buf, n, "%llum ago", U(s / 60));
	else
		snprintf(buf, n, "%lluh%02llum ago", U(s / 3600), U(s / 60 % 60));
}

static uint64_t wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The server's last state change, as a cell: state, how long ago, why. */
static void last_change(struct sbuf *b, uint32_t g)
{
	struct sl_hist_event ev[SL_HIST_EVENTS];
	char a[32];

	if (sl_stats_hist_events(g, ev) <= 0) {
		out(b, "<td class=\"ev\">-</td>");
		return;
	}
	ago(a, sizeof(a), wall_now(), ev[0].wall_ms);
	a[strlen(a) - 4] = 0; /* "12s ago" -> "12s" */
	out(b, "<td class=\"ev\" title=\"");
	html_esc(b, ev[0].why);
	out(b, "\">%s for %s%s</td>", sl_stats_state_names[ev[0].to % 4], a,
	    ev[0].from == ev[0].to ? " (start)" : "");
}

/* One server; in a tcp backend its rate is sessions, not requests. */
static void server_row(struct sbuf *b, struct sl_server *s, const struct totals *t, uint32_t g,
		       struct sl_hist_view *v)
{
	bool tcp = s->be->conf->mode == SL_BE_MODE_TCP;
	const char *st = sl_stats_state_names[sl_server_status(s)];
	uint64_t ok = atomic_load(&s->check_res[0]) + atomic_load(&s->check_res[1]), bad = 0;

	for (int k = 2; k < SL_CHECK_REASONS; k++)
		bad += atomic_load(&s->check_res[k]);
	sl_stats_hist_view(SL_HIST_SRV, g, v);
	out(b, "<tr class=\"server\" data-server=\"");
	html_esc(b, s->conf->name);
	out(b, "\"><td>");
	html_esc(b, s->conf->name);
	out(b, "%s</td><td class=\"%s\">%s</td><td>%u</td>", s->conf->backup ? " (backup)" : "",
	    st, st, atomic_load(&s->sessions));
	rate_cell(b, v, tcp ? v->sess : v->req, NULL);
	rate_cell(b, v, v->cls[0], NULL);
	rate_cell(b, v, v->cls[1], "warn");
	rate_cell(b, v, v->cls[2], "bad");
	pct_cell(b, "rsp", v->rt);
	pct_cell(b, "dur", v->dur);
	spark(b, "req", tcp ? v->spark_sess : v->spark_req, v->nspark, tcp ? "sess/s" : "req/s");
	spark(b, "p99", v->spark_p99, v->nspark, "ms");
	out(b, "<td%s>%llu</td><td>%llu</td><td>%llu / %llu</td>",
	    t->srv[g].conn_fail ? " class=\"warn\"" : "", U(t->srv[g].conn_fail),
	    U(t->pool_idle[g]), U(ok), U(bad));
	last_change(b, g);
	out(b, "</tr>");
}

static void servers(struct sbuf *b, struct sl_proxy *px, const struct totals *t,
		    struct sl_hist_view *v)
{
	uint32_t g = 0;

	out(b, "<h2>Backends and servers</h2><table><tr><th>backend / server</th><th>state</th>"
	    "<th>now</th><th>rate/s</th><th>2xx/s</th><th>4xx/s</th><th>5xx/s</th>"
	    "<th>response p50 / p99</th><th>duration p50 / p99</th>"
	    "<th>rate, history</th><th>dur p99, history</th>"
	    "<th>conn fail</th><th>pool idle</th><th>checks ok/bad</th>"
	    "<th class=\"l\">last change</th></tr>");
	for (int i = 0; i < px->conf->nbackends; i++) {
		struct sl_backend *be = &px->backends[i];

		out(b, "<tr><th class=\"be\" colspan=\"15\">");
		html_esc(b, be->conf->name);
		out(b, " (%s, queued %llu, requests %llu, connect failures %llu)</th></tr>",
		    be->conf->mode == SL_BE_MODE_TCP ? "tcp" : "http", U(t->be[i].queued),
		    U(t->be[i].req_total), U(t->be[i].conn_fail));
		for (int j = 0; j < be->nservers; j++, g++)
			server_row(b, &be->servers[j], t, g, v);
	}
	out(b, "</table><p class=\"note\">rate: requests per second (sessions in tcp mode); "
	    "response: request sent to the server to its response head; duration: request head "
	    "received to last response byte sent (what the client waits).</p>");
}

/* Every server's kept state changes, newest first. */
static void events(struct sbuf *b, struct sl_proxy *px)
{
	struct sl_hist_event ev[SL_HIST_EVENTS];
	uint64_t now = wall_now();
	uint32_t g = 0;

	out(b, "<h2>Server state changes</h2><table id=\"events\"><tr><th>server</th>"
	    "<th>time (UTC)</th><th>age</th><th>state</th><th class=\"l\">reason</th></tr>");
	for (int i = 0; i < px->conf->nbackends; i++) {
		struct sl_backend *be = &px->backends[i];

		for (int j = 0; j < be->nservers; j++, g++) {
			int n = sl_stats_hist_events(g, ev);

			for (int k = 0; k < n; k++) {
				time_t sec = (time_t)(ev[k].wall_ms / 1000);
				struct tm tm;
				char when[16], a[32];

				gmtime_r(&sec, &tm);
				strftime(when, sizeof(when), "%H:%M:%S", &tm);
				ago(a, sizeof(a), now, ev[k].wall_ms);
				out(b, "<tr><td>");
				html_esc(b, be->conf->name);
				out(b, "/");
				html_esc(b, be->servers[j].conf->name);
				out(b, "</td><td>%s</td><td>%s</td><td class=\"%s\">%s%s%s</td>"
				    "<td class=\"ev\">", when, a, sl_stats_state_names[ev[k].to % 4],
				    ev[k].from == ev[k].to ? "" : sl_stats_state_names[ev[k].from % 4],
				    ev[k].from == ev[k].to ? "" : " &rarr; ",
				    sl_stats_state_names[ev[k].to % 4]);
				html_esc(b, ev[k].why);
				out(b, "</td></tr>");
			}
		}
	}
	out(b, "</table>");
}

static void workers(struct sbuf *b, struct sl_proxy *px)
{
	uint64_t all = 0, a[256] = { 0 };
	int n = px->nworkers < 256 ? px->nworkers : 256;

	for (int w = 0; w < n; w++) {
		for (int i = 0; i < px->conf->nfrontends; i++)
			a[w] += SL_ST_GET(px->workers[w].st->fe[i].accepts);
		all += a[w];
	}
	out(b, "<h2>Workers</h2><table id=\"workers\"><tr><th>worker</th><th>accepts</th>"
	    "<th>share</th><th>sessions now</th><th>requests</th></tr>");
	for (int w = 0; w < n; w++) {
		uint64_t cur = 0, req = 0;

		for (int i = 0; i < px->conf->nfrontends; i++) {
			cur += SL_ST_GET(px->workers[w].st->fe[i].sess_cur);
			req += SL_ST_GET(px->workers[w].st->fe[i].req_total);
		}
		out(b, "<tr><td>%d</td><td>%llu</td><td>%.0f%%</td><td>%llu</td><td>%llu</td></tr>",
		    w, U(a[w]), all ? 100.0 * (double)a[w] / (double)all : 0.0, U(cur), U(req));
	}
	out(b, "</table>");
}

void sl_stats_render_html(struct sbuf *b, struct sl_proxy *px, const struct totals *t)
{
	struct sl_hist_view *v = malloc(sizeof(*v));

	if (!v) {
		b->err = -ENOMEM;
		return;
	}
	header(b, px, t);
	frontends(b, px, t, v);
	servers(b, px, t, v);
	events(b, px);
	workers(b, px);
	out(b, "</body></html>\n");
	free(v);
}
