build-dev/core/stats_carry.o: core/stats_carry.c core/proxy.h \
 conf/conf-t.h core/backend.h core/session-t.h core/conn-t.h \
 core/worker-t.h core/log.h core/pool-t.h ring/ring.h core/stats.h
core/proxy.h:
conf/conf-t.h:
core/backend.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
core/log.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
