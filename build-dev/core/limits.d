build-dev/core/limits.o: core/limits.c core/limits.h conf/conf-t.h
core/limits.h:
conf/conf-t.h:
