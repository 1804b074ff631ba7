build-dev/core/worker.o: core/worker.c core/alog.h core/session-t.h \
 conf/conf-t.h core/conn-t.h core/fdaudit.h core/limits.h core/log.h \
 core/pool.h core/pool-t.h core/proxy.h core/backend.h core/worker-t.h \
 ring/ring.h core/conn.h core/session.h core/session_state.h core/stats.h \
 ring/udata.h
core/alog.h:
core/session-t.h:
conf/conf-t.h:
core/conn-t.h:
core/fdaudit.h:
core/limits.h:
core/log.h:
core/pool.h:
core/pool-t.h:
core/proxy.h:
core/backend.h:
core/worker-t.h:
ring/ring.h:
core/conn.h:
core/session.h:
core/session_state.h:
core/stats.h:
ring/udata.h:
