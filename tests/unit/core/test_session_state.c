/*
 * Unit tests of core/session_state.c: the session lifecycle's transition
 * table (sl_sess_may), the typical lifecycles taken step by step (http
 * keep-alive, tcp, queueing, TLS, a PROXY header before TLS), a sample of
 * transitions that must be refused, and sl_sess_transition's counting of
 * the refused ones (it still moves: the counter is how a bug shows).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/session_state.h"

#define F SL_SESS_FREE
#define PH SL_SESS_PROXY_HDR
#define HS SL_SESS_HANDSHAKE
#define HD SL_SESS_HEAD
#define ID SL_SESS_IDLE
#define QU SL_SESS_QUEUED
#define CO SL_SESS_CONNECTING
#define FW SL_SESS_FORWARD
#define LI SL_SESS_LINGER
#define CL SL_SESS_CLOSING

/* Every step of path is allowed, and sl_sess_transition takes them all
 * without counting one as bad. */
static void walk(const char *what, const enum sl_sess_state *path, int n)
{
	unsigned long bad = sl_sess_bad_transitions;
	uint8_t st = (uint8_t)path[0];

	for (int i = 1; i < n; i++) {
		cr_assert(sl_sess_may(path[i - 1], path[i]), "%s: step %d %s -> %s refused", what,
			  i, sl_sess_state_name(path[i - 1]), sl_sess_state_name(path[i]));
		sl_sess_transition(&st, path[i]);
		cr_assert_eq(st, path[i], "%s: step %d did not move", what, i);
	}
	cr_assert_eq(sl_sess_bad_transitions, bad, "%s: an allowed step was counted", what);
}

#define WALK(what, ...)                                                                  \
	do {                                                                             \
		const enum sl_sess_state p_[] = { __VA_ARGS__ };                         \
		walk(what, p_, (int)(sizeof(p_) / sizeof(p_[0])));                      \
	} while (0)

Test(session_state, every_live_state_may_close)
{
	for (int s = 0; s < SL_SESS_NSTATES; s++) {
		if (s == CL)
			continue;
		cr_assert(sl_sess_may((enum sl_sess_state)s, CL), "%s -> closing refused",
			  sl_sess_state_name((enum sl_sess_state)s));
	}
}

/* The states with a single way out. */
static void only(enum sl_sess_state from, enum sl_sess_state to)
{
	for (int s = 0; s < SL_SESS_NSTATES; s++)
		cr_assert_eq(sl_sess_may(from, (enum sl_sess_state)s), s == (int)to,
			     "%s -> %s", sl_sess_state_name(from),
			     sl_sess_state_name((enum sl_sess_state)s));
}

Test(session_state, closing_goes_only_to_free)
{
	only(CL, F);
}

Test(session_state, linger_goes_only_to_closing)
{
	only(LI, CL);
}

/* FORWARD: an h2 connection's next stream (proto/h2.c) */
Test(session_state, idle_goes_only_to_head_forward_or_closing)
{
	for (int s = 0; s < SL_SESS_NSTATES; s++)
		cr_assert_eq(sl_sess_may(ID, (enum sl_sess_state)s), s == HD || s == FW || s == CL,
			     "idle -> %s", sl_sess_state_name((enum sl_sess_state)s));
}

Test(session_state, out_of_range_is_refused)
{
	cr_assert_not(sl_sess_may(SL_SESS_NSTATES, CL));
	cr_assert_not(sl_sess_may(HD, SL_SESS_NSTATES));
	cr_assert_not(sl_sess_may((enum sl_sess_state)200, F));
}

Test(session_state, http_keepalive_lifecycle)
{
	/* a fresh server connection, then a pooled one taken at once, then
	 * the last response, lingering and the end */
	WALK("http keep-alive", F, HD, CO, FW, ID, HD, FW, LI, CL, F);
	/* a pipelined request, a retry on a new connection, an idle timeout */
	WALK("http pipelined", F, HD, CO, FW, HD, FW, CO, CO, FW, ID, CL, F);
	/* an answer of ours (a 400) and lingering at once */
	WALK("http answered at once", F, HD, LI, CL, F);
}

Test(session_state, tcp_lifecycle)
{
	WALK("tcp", F, CO, FW, CL, F);
	WALK("tcp, another server after a failed connect", F, CO, CO, FW, CL, F);
}

Test(session_state, queued_then_dequeued)
{
	WALK("http queued", F, HD, QU, CO, FW, ID, HD, QU, FW, CL, F);
	WALK("tcp queued", F, QU, CO, FW, CL, F);
	WALK("connect failed, queued again", F, CO, QU, CO, FW, CL, F);
	WALK("retry after forward, queued", F, HD, CO, FW, QU, CO, FW, CL, F);
}

Test(session_state, tls_lifecycle)
{
	WALK("https", F, HS, HD, CO, FW, ID, HD, FW, LI, CL, F);
	WALK("tls tcp", F, HS, CO, FW, CL, F);
	WALK("tls tcp queued", F, HS, QU, CO, FW, CL, F);
	WALK("handshake failed", F, HS, CL, F);
}

Test(session_state, proxy_header_then_tls)
{
	WALK("proxy + https", F, PH, HS, HD, CO, FW, ID, CL, F);
	WALK("proxy + http", F, PH, HD, QU, FW, LI, CL, F);
	WALK("proxy + tcp", F, PH, CO, FW, CL, F);
	WALK("proxy + tcp queued", F, PH, QU, CO, FW, CL, F);
	WALK("bad proxy header", F, PH, CL, F);
}

Test(session_state, forbidden_sample_is_refused)
{
	static const enum sl_sess_state bad[][2] = {
		{ ID, LI }, { LI, HD }, { CL, HD }, { HS, FW }, { F, ID },
		{ F, FW }, { F, LI }, { F, F }, { CL, CL },
		{ QU, HD }, { QU, ID }, { CO, HD }, { CO, ID }, { FW, HS }, { FW, PH },
		{ PH, PH }, { HS, PH }, { LI, FW }, { ID, QU }, { ID, CO }, { HD, HS },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(sl_sess_may(bad[i][0], bad[i][1]), "%s -> %s allowed",
			      sl_sess_state_name(bad[i][0]), sl_sess_state_name(bad[i][1]));
}

Test(session_state, a_forbidden_move_is_counted_and_taken)
{
	unsigned long bad = sl_sess_bad_transitions;
	uint8_t st = ID;

	sl_sess_transition(&st, LI);
	cr_assert_eq(st, LI, "the move is still taken");
	cr_assert_eq(sl_sess_bad_transitions, bad + 1);
	/* logged once per pair, but counted every time */
	st = ID;
	sl_sess_transition(&st, LI);
	cr_assert_eq(sl_sess_bad_transitions, bad + 2);
	st = CL;
	sl_sess_transition(&st, HD);
	cr_assert_eq(st, HD);
	cr_assert_eq(sl_sess_bad_transitions, bad + 3);
}

Test(session_state, allowed_and_staying_moves_count_nothing)
{
	unsigned long bad = sl_sess_bad_transitions;
	uint8_t st = F;

	for (int from = 0; from < SL_SESS_NSTATES; from++)
		for (int to = 0; to < SL_SESS_NSTATES; to++) {
			if (!sl_sess_may((enum sl_sess_state)from, (enum sl_sess_state)to))
				continue;
			st = (uint8_t)from;
			sl_sess_transition(&st, (enum sl_sess_state)to);
			cr_assert_eq(st, to);
		}
	/* staying where one is is no transition (head -> head while more of
	 * the head arrives) */
	st = HD;
	sl_sess_transition(&st, HD);
	st = ID;
	sl_sess_transition(&st, ID);
	cr_assert_eq(st, ID);
	cr_assert_eq(sl_sess_bad_transitions, bad);
}

Test(session_state, names_are_distinct)
{
	for (int a = 0; a < SL_SESS_NSTATES; a++) {
		const char *na = sl_sess_state_name((enum sl_sess_state)a);

		cr_assert_not_null(na);
		cr_assert_neq(strcmp(na, "?"), 0, "state %d has no name", a);
		for (int b = 0; b < a; b++)
			cr_assert_neq(strcmp(na, sl_sess_state_name((enum sl_sess_state)b)), 0,
				      "states %d and %d share the name %s", a, b, na);
	}
	cr_assert_str_eq(sl_sess_state_name(SL_SESS_NSTATES), "?");
}
