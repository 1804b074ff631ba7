/*
 * Session lifecycle (core/ layer): the transition table of enum
 * sl_sess_state (core/session_state.c). No ring, no worker: unit-testable.
 */
#ifndef SL_CORE_SESSION_STATE_H
#define SL_CORE_SESSION_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/session-t.h"

/* May a session go from `from` to `to`? */
bool sl_sess_may(enum sl_sess_state from, enum sl_sess_state to);
const char *sl_sess_state_name(enum sl_sess_state st);
/* Move *state to `to`; a transition the table does not allow is logged
 * (once per pair) and counted in sl_sess_bad_transitions. */
void sl_sess_transition(uint8_t *state, enum sl_sess_state to);
extern unsigned long sl_sess_bad_transitions;

#endif
