build-dev/llhttp/llhttp.o: /usr/share/llhttp/llhttp.c \
 /usr/share/include/llhttp/llhttp.h
/usr/share/include/llhttp/llhttp.h:
