build-dev/core/stats.o: core/stats.c core/backend.h conf/conf-t.h \
 core/fdaudit.h core/pool.h core/pool-t.h core/proxy.h core/session-t.h \
 core/conn-t.h core/worker-t.h core/log.h ring/ring.h core/stats.h
core/backend.h:
conf/conf-t.h:
core/fdaudit.h:
core/pool.h:
core/pool-t.h:
core/proxy.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
core/log.h:
ring/ring.h:
core/stats.h:
