build-dev/core/alog.o: core/alog.c core/alog.h core/session-t.h \
 conf/conf-t.h core/conn-t.h core/log.h core/proxy.h core/backend.h \
 core/worker-t.h core/pool-t.h ring/ring.h core/stats.h ring/udata.h
core/alog.h:
core/session-t.h:
conf/conf-t.h:
core/conn-t.h:
core/log.h:
core/proxy.h:
core/backend.h:
core/worker-t.h:
core/pool-t.h:
ring/ring.h:
core/stats.h:
ring/udata.h:
