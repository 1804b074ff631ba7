/*
 * Access log (core/ layer): one line per HTTP request and per TCP session,
 * text or JSON (`log_format`), to the `log` target. A worker formats lines
 * into one of two buffers and writes a full buffer with an io_uring write on
 * its own ring, so the event loop never blocks on the log: while a write is
 * in flight lines go to the other buffer, and when that one is full too a
 * line is dropped and counted (sluice_log_dropped_total).
 */
#ifndef SL_CORE_ALOG_H
#define SL_CORE_ALOG_H

#include <stdint.h>
#include "core/session-t.h"

#define SL_ALOG_BUF (64u * 1024)

/* One access log record. Timers are milliseconds, -1 when the phase did not
 * happen. */
struct sl_alog_rec {
	uint64_t wall_ms;          /* start of the request or session, epoch ms */
	const union sl_sockaddr *client;
	const char *frontend, *backend, *server;
	int64_t th, tw, tc, tr, tt;
	int status;                /* -1: none (tcp, or no response) */
	uint64_t bytes_in, bytes_out;
	char term[3];              /* termination state, see README */
	const char *request;       /* request line (may be NULL) */
	uint32_t request_len;
	/* request id (request_id, a sane token) or NULL: no such field */
	const char *request_id;
};

int sl_alog_init(struct sl_worker *w);
void sl_alog_free(struct sl_worker *w);
/* Format and queue one record (dropped and counted if no room). */
void sl_alog_write(struct sl_worker *w, const struct sl_alog_rec *r);
/* Start a write of what was queued, if none is in flight. Called once per
 * loop iteration. */
void sl_alog_flush(struct sl_worker *w);
/* The write completed. */
void sl_alog_on_cqe(struct sl_worker *w, int res);
/* Nothing queued and no write in flight. */
bool sl_alog_idle(const struct sl_worker *w);

/* Termination state of a session that ends now (tcp, or the http request in
 * progress): who ended it and in which phase. */
void sl_alog_term(const struct sl_session *s, char phase, char term[3]);

#endif
