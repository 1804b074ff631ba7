# sluice: plain GNU make. `make` builds build/sluice; `make test` installs what
# is missing, builds and runs unit + integration tests; `make asan` does the same
# with address and undefined-behaviour sanitizers in build-asan/.

BUILD    ?= build
SHELL    := /bin/bash
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS += -std=gnu11 -D_GNU_SOURCE -I. -isystem /usr/share/include/llhttp -MMD -MP
LDLIBS   := -luring -linih -lwolfssl -lpthread

LLHTTP_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
LLHTTP_SRC := llhttp.c api.c http.c

# Everything but main.c goes into a static library the tests link against.
LIB_SRC  := $(sort $(wildcard ring/*.c conf/*.c core/*.c proto/*.c checks/*.c))
LIB_SRC  := $(filter-out core/main.c,$(LIB_SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(LLHTTP_SRC:%.c=$(BUILD)/llhttp/%.o)

UNIT_SRC := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%)
INTEG_SRC := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BIN := $(INTEG_SRC:%.c=$(BUILD)/%)
INTEG_LIB := $(filter-out $(INTEG_SRC),$(wildcard tests/integration/*.c))
INTEG_OBJ := $(INTEG_LIB:%.c=$(BUILD)/%.o)

DEB_PKGS := build-essential pkg-config liburing-dev libwolfssl-dev libinih-dev \
	    libcriterion-dev node-llhttp python3 curl procps util-linux chromium openssl

.PHONY: all deps test unit integration asan run clean check-deps bench bench-quick

all: $(BUILD)/sluice

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

# llhttp is compiled from the Debian package's sources, never copied here.
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -I$(LLHTTP_INC) $(CFLAGS) -w -c $< -o $@

$(BUILD)/libsluice.a: $(LIB_OBJ) $(LLHTTP_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sluice: $(BUILD)/core/main.o $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $< \
		$(BUILD)/libsluice.a -lcriterion $(LDLIBS)

$(BUILD)/tests/integration/%: tests/integration/%.c $(INTEG_OBJ) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $< \
		$(INTEG_OBJ) $(BUILD)/libsluice.a -lcriterion $(LDLIBS)

# Installs only what is missing; quiet and quick when everything is there.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

# Criterion runs each test in a child whose sanitizer reports do not change
# the exit code: the output is scanned for them as well.
SAN_CHECK = ! grep -E "(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:" $(BUILD)/$$(basename $$t).out

# Every binary runs even when an earlier one failed; the target fails at the
# end, naming the failed binaries.
unit: $(UNIT_BIN)
	@failed=""; for t in $(UNIT_BIN); do echo "== $$t"; \
		$$t --jobs=1 2>&1 | tee $(BUILD)/$$(basename $$t).out; \
		test $${PIPESTATUS[0]:-0} -eq 0 && $(SAN_CHECK) || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

integration: $(BUILD)/sluice $(INTEG_BIN)
	@failed=""; for t in $(INTEG_BIN); do echo "== $$t"; \
		SLUICE_BIN=$(abspath $(BUILD)/sluice) $$t --jobs=1 2>&1 | tee $(BUILD)/$$(basename $$t).out; \
		test $${PIPESTATUS[0]:-0} -eq 0 && $(SAN_CHECK) || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed"; exit 1; fi

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit integration
	@echo "all tests passed ($(BUILD))"

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" test

run: deps all
	@./conf/demo.sh $(BUILD)/sluice

clean:
	rm -rf build build-asan

-include $(LIB_OBJ:.o=.d) $(BUILD)/core/main.d

# Benchmark against HAProxy, nginx and a direct origin (bench/, issue 5):
# installs the missing peers, runs bench/run.py, writes bench/results/latest.md.
bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/sluice
	@BUILD=$(BUILD) bench/bench.sh --full

bench-quick: deps
	@$(MAKE) --no-print-directory $(BUILD)/sluice
	@BUILD=$(BUILD) bench/bench.sh --quick

# Bounded mixed-traffic soak of the real binary (tests/soak/soak.py, issue 14):
# SOAK_SECONDS (default 600) of load, origins killed and restarted, RSS, fds
# and the fd audit sampled; fails on a growth trend or an audit difference.
.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory $(BUILD)/sluice
	@python3 tests/soak/soak.py --sluice $(BUILD)/sluice --seconds $${SOAK_SECONDS:-600}
