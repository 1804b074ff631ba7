build-dev/core/session_state.o: core/session_state.c core/log.h \
 conf/conf-t.h core/session_state.h core/session-t.h core/conn-t.h
core/log.h:
conf/conf-t.h:
core/session_state.h:
core/session-t.h:
core/conn-t.h:
