build-dev/core/conn.o: core/conn.c core/buf.h core/conn-t.h conf/conf-t.h \
 core/worker-t.h core/log.h core/pool-t.h ring/ring.h core/conn.h \
 core/stats.h core/session-t.h ring/udata.h
core/buf.h:
core/conn-t.h:
conf/conf-t.h:
core/worker-t.h:
core/log.h:
core/pool-t.h:
ring/ring.h:
core/conn.h:
core/stats.h:
core/session-t.h:
ring/udata.h:
