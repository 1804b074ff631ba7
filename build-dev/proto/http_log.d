build-dev/proto/http_log.o: proto/http_log.c core/alog.h core/session-t.h \
 conf/conf-t.h core/conn-t.h core/backend.h core/stats.h core/worker-t.h \
 core/log.h core/pool-t.h ring/ring.h proto/http-i.h core/pool.h \
 proto/http_msg.h
core/alog.h:
core/session-t.h:
conf/conf-t.h:
core/conn-t.h:
core/backend.h:
core/stats.h:
core/worker-t.h:
core/log.h:
core/pool-t.h:
ring/ring.h:
proto/http-i.h:
core/pool.h:
proto/http_msg.h:
