build-dev/checks/check_http.o: checks/check_http.c checks/check_http.h \
 conf/conf-t.h conf/conf.h
checks/check_http.h:
conf/conf-t.h:
conf/conf.h:
