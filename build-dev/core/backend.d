build-dev/core/backend.o: core/backend.c core/backend.h conf/conf-t.h
core/backend.h:
conf/conf-t.h:
