build-dev/proto/proxy.o: proto/proxy.c proto/proxy.h conf/conf-t.h
proto/proxy.h:
conf/conf-t.h:
