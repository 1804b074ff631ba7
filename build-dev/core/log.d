build-dev/core/log.o: core/log.c core/log.h conf/conf-t.h
core/log.h:
conf/conf-t.h:
