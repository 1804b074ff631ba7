build-dev/proto/http_route.o: proto/http_route.c conf/conf-t.h \
 proto/http.h core/session-t.h core/conn-t.h proto/http-i.h core/pool.h \
 core/pool-t.h proto/http_msg.h
conf/conf-t.h:
proto/http.h:
core/session-t.h:
core/conn-t.h:
proto/http-i.h:
core/pool.h:
core/pool-t.h:
proto/http_msg.h:
