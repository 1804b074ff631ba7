build-dev/proto/http_msg.o: proto/http_msg.c proto/http_msg.h
proto/http_msg.h:
