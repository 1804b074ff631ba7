build-dev/conf/conf.o: conf/conf.c conf/conf.h conf/conf-t.h \
 conf/conf_loader.h conf/conf_value.h
conf/conf.h:
conf/conf-t.h:
conf/conf_loader.h:
conf/conf_value.h:
