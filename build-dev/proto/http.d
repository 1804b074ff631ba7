build-dev/proto/http.o: proto/http.c conf/conf.h conf/conf-t.h \
 core/backend.h core/log.h core/pool.h core/pool-t.h core/proxy.h \
 core/session-t.h core/conn-t.h core/worker-t.h ring/ring.h \
 core/session.h core/conn.h core/session_state.h core/stats.h \
 proto/http.h proto/http-i.h proto/http_msg.h proto/tcp.h
conf/conf.h:
conf/conf-t.h:
core/backend.h:
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
core/stats.h:
proto/http.h:
proto/http-i.h:
proto/http_msg.h:
proto/tcp.h:
