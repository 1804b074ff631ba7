build-dev/proto/tls.o: proto/tls.c conf/conf.h conf/conf-t.h core/log.h \
 core/worker-t.h core/conn-t.h core/pool-t.h ring/ring.h core/conn.h \
 proto/tls.h
conf/conf.h:
conf/conf-t.h:
core/log.h:
core/worker-t.h:
core/conn-t.h:
core/pool-t.h:
ring/ring.h:
core/conn.h:
proto/tls.h:
