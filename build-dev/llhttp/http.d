build-dev/llhttp/http.o: /usr/share/llhttp/http.c \
 /usr/share/include/llhttp/llhttp.h
/usr/share/include/llhttp/llhttp.h:
