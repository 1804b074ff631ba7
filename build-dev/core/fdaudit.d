build-dev/core/fdaudit.o: core/fdaudit.c core/fdaudit.h core/log.h \
 conf/conf-t.h core/proxy.h core/backend.h core/session-t.h core/conn-t.h \
 core/worker-t.h core/pool-t.h ring/ring.h core/stats.h
core/fdaudit.h:
core/log.h:
conf/conf-t.h:
core/proxy.h:
core/backend.h:
core/session-t.h:
core/conn-t.h:
core/worker-t.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
