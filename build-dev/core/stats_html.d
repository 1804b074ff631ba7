build-dev/core/stats_html.o: core/stats_html.c core/stats-i.h \
 core/backend.h conf/conf-t.h core/proxy.h core/session-t.h core/conn-t.h \
 core/worker-t.h core/log.h core/pool-t.h ring/ring.h core/stats.h
core/stats-i.h:
core/backend.h:
conf/conf-t.h:
core/proxy.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
core/log.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
