build-dev/llhttp/api.o: /usr/share/llhttp/api.c \
 /usr/share/include/llhttp/llhttp.h
/usr/share/include/llhttp/llhttp.h:
