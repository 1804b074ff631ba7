build-dev/core/world.o: core/world.c checks/check.h core/backend.h \
 conf/conf-t.h conf/conf.h core/log.h core/pool.h core/pool-t.h \
 core/stats.h core/session-t.h core/conn-t.h core/fdaudit.h core/world.h \
 core/proxy.h core/worker-t.h ring/ring.h core/conn.h
checks/check.h:
core/backend.h:
conf/conf-t.h:
conf/conf.h:
core/log.h:
core/pool.h:
core/pool-t.h:
core/stats.h:
core/session-t.h:
core/conn-t.h:
core/fdaudit.h:
core/world.h:
core/proxy.h:
core/worker-t.h:
ring/ring.h:
core/conn.h:
