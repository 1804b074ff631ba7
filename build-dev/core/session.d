build-dev/core/session.o: core/session.c conf/conf.h conf/conf-t.h \
 core/backend.h core/limits.h core/log.h core/pool.h core/pool-t.h \
 core/proxy.h core/session-t.h core/conn-t.h core/worker-t.h ring/ring.h \
 core/session.h core/conn.h core/session_state.h core/session_pp.h \
 core/stats.h proto/http.h proto/tcp.h ring/udata.h
conf/conf.h:
conf/conf-t.h:
core/backend.h:
core/limits.h:
core/log.h:
core/pool.h:
core/pool-t.h:
core/proxy.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
ring/ring.h:
core/session.h:
core/conn.h:
core/session_state.h:
core/session_pp.h:
core/stats.h:
proto/http.h:
proto/tcp.h:
ring/udata.h:
