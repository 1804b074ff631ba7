build-dev/ring/ring_check.o: ring/ring_check.c ring/ring_check.h \
 ring/ring.h
ring/ring_check.h:
ring/ring.h:
