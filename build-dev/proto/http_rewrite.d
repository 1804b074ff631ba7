build-dev/proto/http_rewrite.o: proto/http_rewrite.c proto/http_msg.h
proto/http_msg.h:
