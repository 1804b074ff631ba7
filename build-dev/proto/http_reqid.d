build-dev/proto/http_reqid.o: proto/http_reqid.c proto/http-i.h \
 core/pool.h conf/conf-t.h core/pool-t.h core/session-t.h core/conn-t.h \
 proto/http_msg.h
proto/http-i.h:
core/pool.h:
conf/conf-t.h:
core/pool-t.h:
core/session-t.h:
core/conn-t.h:
proto/http_msg.h:
