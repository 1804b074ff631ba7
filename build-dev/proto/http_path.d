build-dev/proto/http_path.o: proto/http_path.c proto/http_msg.h
proto/http_msg.h:
