build-dev/conf/conf_keys.o: conf/conf_keys.c conf/conf.h conf/conf-t.h \
 conf/conf_loader.h conf/conf_value.h
conf/conf.h:
conf/conf-t.h:
conf/conf_loader.h:
conf/conf_value.h:
