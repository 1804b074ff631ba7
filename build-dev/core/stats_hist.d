build-dev/core/stats_hist.o: core/stats_hist.c conf/conf.h conf/conf-t.h \
 core/log.h core/stats-i.h core/backend.h core/proxy.h core/session-t.h \
 core/conn-t.h core/worker-t.h core/pool-t.h ring/ring.h core/stats.h
conf/conf.h:
conf/conf-t.h:
core/log.h:
core/stats-i.h:
core/backend.h:
core/proxy.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
