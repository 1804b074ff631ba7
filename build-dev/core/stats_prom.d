build-dev/core/stats_prom.o: core/stats_prom.c conf/conf.h conf/conf-t.h \
 core/session_pp.h core/session-t.h core/conn-t.h core/stats-i.h \
 core/backend.h core/proxy.h core/worker-t.h core/log.h core/pool-t.h \
 ring/ring.h core/stats.h core/conn.h
conf/conf.h:
conf/conf-t.h:
core/session_pp.h:
core/session-t.h:
core/conn-t.h:
core/stats-i.h:
core/backend.h:
core/proxy.h:
core/worker-t.h:
core/log.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
core/conn.h:
