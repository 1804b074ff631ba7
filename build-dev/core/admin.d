build-dev/core/admin.o: core/admin.c conf/conf.h conf/conf-t.h \
 core/admin.h core/proxy.h core/backend.h core/session-t.h core/conn-t.h \
 core/worker-t.h core/log.h core/pool-t.h ring/ring.h core/stats.h \
 core/world.h core/conn.h
conf/conf.h:
conf/conf-t.h:
core/admin.h:
core/proxy.h:
core/backend.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
core/log.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
core/world.h:
core/conn.h:
