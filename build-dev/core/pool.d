build-dev/core/pool.o: core/pool.c core/backend.h conf/conf-t.h \
 core/log.h core/pool.h core/pool-t.h core/proxy.h core/session-t.h \
 core/conn-t.h core/worker-t.h ring/ring.h core/conn.h core/stats.h \
 proto/proxy.h core/world.h ring/udata.h
core/backend.h:
conf/conf-t.h:
core/log.h:
core/pool.h:
core/pool-t.h:
core/proxy.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
ring/ring.h:
core/conn.h:
core/stats.h:
proto/proxy.h:
core/world.h:
ring/udata.h:
