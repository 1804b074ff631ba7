build-dev/proto/tcp.o: proto/tcp.c conf/conf.h conf/conf-t.h \
 core/backend.h core/alog.h core/session-t.h core/conn-t.h core/log.h \
 core/proxy.h core/worker-t.h core/pool-t.h ring/ring.h core/session.h \
 core/conn.h core/session_state.h proto/tcp.h
conf/conf.h:
conf/conf-t.h:
core/backend.h:
core/alog.h:
core/session-t.h:
core/conn-t.h:
core/log.h:
core/proxy.h:
core/worker-t.h:
core/pool-t.h:
ring/ring.h:
core/session.h:
core/conn.h:
core/session_state.h:
proto/tcp.h:
