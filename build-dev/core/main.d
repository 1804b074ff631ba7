build-dev/core/main.o: core/main.c checks/check.h core/backend.h \
 conf/conf-t.h conf/conf.h core/limits.h core/log.h core/pool.h \
 core/pool-t.h core/proxy.h core/session-t.h core/conn-t.h \
 core/worker-t.h ring/ring.h core/stats.h core/admin.h core/world.h \
 core/conn.h
checks/check.h:
core/backend.h:
conf/conf-t.h:
conf/conf.h:
core/limits.h:
core/log.h:
core/pool.h:
core/pool-t.h:
core/proxy.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
ring/ring.h:
core/stats.h:
core/admin.h:
core/world.h:
core/conn.h:
