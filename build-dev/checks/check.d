build-dev/checks/check.o: checks/check.c checks/check.h core/backend.h \
 conf/conf-t.h checks/check_http.h core/log.h core/stats.h \
 core/session-t.h core/conn-t.h ring/ring_check.h ring/ring.h \
 ring/udata.h
checks/check.h:
core/backend.h:
conf/conf-t.h:
checks/check_http.h:
core/log.h:
core/stats.h:
core/session-t.h:
core/conn-t.h:
ring/ring_check.h:
ring/ring.h:
ring/udata.h:
