/*
 * Session lifecycle (core/ layer): the states of enum sl_sess_state and
 * every transition between them, in one table. sl_session_set_state() is
 * the only writer of s->state; a transition the table does not list is a
 * bug, logged (once per pair) and counted, never silently taken as normal.
 *
 *   FREE -> PROXY_HDR | HANDSHAKE | HEAD | QUEUED | CONNECTING | CLOSING
 *     accept: the PROXY header first, else the transport's handshake,
 *     else the protocol: http waits for a head, tcp picks a server
 *   PROXY_HDR -> HANDSHAKE | HEAD | QUEUED | CONNECTING | CLOSING
 *   HANDSHAKE -> HEAD | QUEUED | CONNECTING | CLOSING
 *   HEAD -> QUEUED | CONNECTING | FORWARD | IDLE | LINGER | CLOSING
 *     (FORWARD: a pooled connection taken at once, or an answer of ours;
 *     IDLE: only empty lines came, RFC 9112 2.2)
 *   IDLE -> HEAD | FORWARD | CLOSING
 *     (FORWARD: an h2 connection's next stream)
 *   QUEUED -> CONNECTING | FORWARD | CLOSING
 *   CONNECTING -> FORWARD | CONNECTING | QUEUED | CLOSING
 *     (CONNECTING again: another server after a failed connect)
 *   FORWARD -> IDLE | HEAD | CONNECTING | QUEUED | LINGER | FORWARD | CLOSING
 *     (HEAD: a pipelined request; CONNECTING/QUEUED: a retry on a new
 *     connection)
 *   LINGER -> CLOSING
 *   CLOSING -> FREE (the slot is released)
 */
#include <stdbool.h>
#include <stdio.h>

#include "core/log.h"
#include "core/session_state.h"

#define B(x) (1u << (x))

static const unsigned allowed[SL_SESS_NSTATES] = {
	[SL_SESS_FREE] = B(SL_SESS_PROXY_HDR) | B(SL_SESS_HANDSHAKE) | B(SL_SESS_HEAD) |
			 B(SL_SESS_QUEUED) | B(SL_SESS_CONNECTING) | B(SL_SESS_CLOSING),
	[SL_SESS_PROXY_HDR] = B(SL_SESS_HANDSHAKE) | B(SL_SESS_HEAD) | B(SL_SESS_QUEUED) |
			      B(SL_SESS_CONNECTING) | B(SL_SESS_CLOSING),
	[SL_SESS_HANDSHAKE] = B(SL_SESS_HEAD) | B(SL_SESS_QUEUED) | B(SL_SESS_CONNECTING) |
			      B(SL_SESS_CLOSING),
	[SL_SESS_HEAD] = B(SL_SESS_QUEUED) | B(SL_SESS_CONNECTING) | B(SL_SESS_FORWARD) |
			 B(SL_SESS_IDLE) | B(SL_SESS_LINGER) | B(SL_SESS_CLOSING),
	[SL_SESS_IDLE] = B(SL_SESS_HEAD) | B(SL_SESS_FORWARD) | B(SL_SESS_CLOSING),
	[SL_SESS_QUEUED] = B(SL_SESS_CONNECTING) | B(SL_SESS_FORWARD) | B(SL_SESS_CLOSING),
	[SL_SESS_CONNECTING] = B(SL_SESS_FORWARD) | B(SL_SESS_CONNECTING) | B(SL_SESS_QUEUED) |
			       B(SL_SESS_CLOSING),
	[SL_SESS_FORWARD] = B(SL_SESS_IDLE) | B(SL_SESS_HEAD) | B(SL_SESS_CONNECTING) |
			    B(SL_SESS_QUEUED) | B(SL_SESS_LINGER) | B(SL_SESS_FORWARD) |
			    B(SL_SESS_CLOSING),
	[SL_SESS_LINGER] = B(SL_SESS_CLOSING),
	[SL_SESS_CLOSING] = B(SL_SESS_FREE),
};

static const char *const names[SL_SESS_NSTATES] = {
	[SL_SESS_FREE] = "free",
	[SL_SESS_PROXY_HDR] = "proxy-header",
	[SL_SESS_HANDSHAKE] = "handshake",
	[SL_SESS_HEAD] = "head",
	[SL_SESS_IDLE] = "idle",
	[SL_SESS_QUEUED] = "queued",
	[SL_SESS_CONNECTING] = "connecting",
	[SL_SESS_FORWARD] = "forward",
	[SL_SESS_LINGER] = "linger",
	[SL_SESS_CLOSING] = "closing",
};

static unsigned logged[SL_SESS_NSTATES];
unsigned long sl_sess_bad_transitions;

bool sl_sess_may(enum sl_sess_state from, enum sl_sess_state to)
{
	return from < SL_SESS_NSTATES && to < SL_SESS_NSTATES && (allowed[from] & B(to));
}

const char *sl_sess_state_name(enum sl_sess_state st)
{
	return st < SL_SESS_NSTATES ? names[st] : "?";
}

void sl_sess_transition(uint8_t *state, enum sl_sess_state to)
{
	enum sl_sess_state from = (enum sl_sess_state)*state;

	if (from == to && to != SL_SESS_FORWARD && to != SL_SESS_CONNECTING)
		return; /* staying is no transition */
	if (!sl_sess_may(from, to)) {
		__atomic_fetch_add(&sl_sess_bad_transitions, 1, __ATOMIC_RELAXED);
		if (from < SL_SESS_NSTATES && to < SL_SESS_NSTATES &&
		    !(__atomic_fetch_or(&logged[from], B(to), __ATOMIC_RELAXED) & B(to)))
			sl_log("internal: unexpected session transition %s -> %s",
			       sl_sess_state_name(from), sl_sess_state_name(to));
	}
	*state = (uint8_t)to;
}
