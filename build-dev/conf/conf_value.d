build-dev/conf/conf_value.o: conf/conf_value.c conf/conf.h conf/conf-t.h \
 conf/conf_value.h
conf/conf.h:
conf/conf-t.h:
conf/conf_value.h:
