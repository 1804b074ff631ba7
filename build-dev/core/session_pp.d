build-dev/core/session_pp.o: core/session_pp.c conf/conf.h conf/conf-t.h \
 core/backend.h core/log.h core/proxy.h core/session-t.h core/conn-t.h \
 core/worker-t.h core/pool-t.h ring/ring.h core/session.h core/conn.h \
 core/session_state.h core/session_pp.h core/stats.h proto/proxy.h
conf/conf.h:
conf/conf-t.h:
core/backend.h:
core/log.h:
core/proxy.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
core/pool-t.h:
ring/ring.h:
core/session.h:
core/conn.h:
core/session_state.h:
core/session_pp.h:
core/stats.h:
proto/proxy.h:
