build-dev/core/stats_render.o: core/stats_render.c conf/conf.h \
 conf/conf-t.h core/pool.h core/pool-t.h core/session_pp.h \
 core/session-t.h core/conn-t.h core/stats-i.h core/backend.h \
 core/proxy.h core/worker-t.h core/log.h ring/ring.h core/stats.h \
 core/conn.h
conf/conf.h:
conf/conf-t.h:
core/pool.h:
core/pool-t.h:
core/session_pp.h:
core/session-t.h:
core/conn-t.h:
core/stats-i.h:
core/backend.h:
core/proxy.h:
core/worker-t.h:
core/log.h:
ring/ring.h:
core/stats.h:
core/conn.h:
