build-dev/proto/http_local.o: proto/http_local.c core/session.h \
 core/conn.h conf/conf-t.h core/conn-t.h core/session-t.h \
 core/session_state.h core/worker-t.h core/log.h core/pool-t.h \
 ring/ring.h core/stats.h proto/http-i.h core/pool.h proto/http_msg.h
core/session.h:
core/conn.h:
conf/conf-t.h:
core/conn-t.h:
core/session-t.h:
core/session_state.h:
core/worker-t.h:
core/log.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
proto/http-i.h:
core/pool.h:
proto/http_msg.h:
