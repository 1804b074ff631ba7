# sluice: plain GNU make. `make` builds build/sluice; `make run` installs what
# building and running need, builds and starts the demo; `make test` installs
# what is missing for the tests too, builds and runs unit + integration tests;
# `make asan` does the same with address and undefined-behaviour sanitizers in
# build-asan/.
#
# Every target that installs packages builds in a sub-make: make caches the
# directories it has looked at, so a make that installed node-llhttp would
# still believe /usr/share/llhttp/ is empty (issue 12).

BUILD    ?= build
SHELL    := /bin/bash
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS += -std=gnu11 -D_GNU_SOURCE -I. -isystem /usr/share/include/llhttp -MMD -MP
LDLIBS   := -luring -linih -lwolfssl -lnghttp2 -lpthread

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
# Test objects are kept (not deleted as intermediates), so `make -q` after a
# full build has nothing left to do.
TEST_OBJ := $(UNIT_BIN:=.o) $(INTEG_BIN:=.o) $(INTEG_OBJ)
.SECONDARY: $(TEST_OBJ)

# Packages, by what needs them. `make run` and `make` need BUILD_PKGS and
# RUN_PKGS (the demo origins are Python; curl is what the demo tells you to
# try it with); `make test` and `make asan` add TEST_PKGS. `make bench`
# installs its peers itself (bench/bench.sh).
BUILD_PKGS := build-essential pkg-config liburing-dev libwolfssl-dev libinih-dev node-llhttp \
              libnghttp2-dev
RUN_PKGS   := python3 curl
# python3-prometheus-client: the Prometheus client's own parser checks
# /metrics (tests/integration/check_obs.py, run with Debian's /usr/bin/python3).
TEST_PKGS  := libcriterion-dev procps util-linux chromium openssl python3-prometheus-client \
              nghttp2-client

.PHONY: all deps deps-test test unit integration asan run clean bench bench-quick bench-memory

all: $(BUILD)/sluice

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

# Tests may define functions without prototypes (Criterion's Test() bodies).
$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -c $< -o $@

# llhttp is compiled from the Debian package's sources, never copied here.
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -I$(LLHTTP_INC) -MMD -MP $(CFLAGS) -w -c $< -o $@

$(BUILD)/libsluice.a: $(LIB_OBJ) $(LLHTTP_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sluice: $(BUILD)/core/main.o $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(INTEG_OBJ) $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

# Installs only what is missing; quiet and quick when everything is there.
define install_missing
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi
endef

deps:
	$(call install_missing,$(BUILD_PKGS) $(RUN_PKGS))

deps-test:
	$(call install_missing,$(BUILD_PKGS) $(RUN_PKGS) $(TEST_PKGS))

# Criterion runs each test in a child whose sanitizer reports do not change
# the exit code: the output is scanned for them as well.
SAN_CHECK = ! grep -E "(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:" $(BUILD)/$$(basename $$t).out

# Every binary runs even when an earlier one failed; the target fails at the
# end, naming the failed binaries and repeating what each of them reported
# (assertions, failed tests, sanitizer lines), so that the tail of a long log
# such as CI's says why.
FAIL_SUMMARY = for t in $$failed; do echo "== why $$t failed:"; \
	grep -E '^\[(----|FAIL)\]|Sanitizer|runtime error:|CRASH|[Tt]imed out' \
		$(BUILD)/$$(basename $$t).out | head -60; done
unit: $(UNIT_BIN)
	@failed=""; for t in $(UNIT_BIN); do echo "== $$t"; \
		$$t --jobs=1 2>&1 | tee $(BUILD)/$$(basename $$t).out; \
		test $${PIPESTATUS[0]:-0} -eq 0 && $(SAN_CHECK) || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then $(FAIL_SUMMARY); echo "FAILED:$$failed"; exit 1; fi

integration: $(BUILD)/sluice $(INTEG_BIN)
	@failed=""; for t in $(INTEG_BIN); do echo "== $$t"; \
		SLUICE_BIN=$(abspath $(BUILD)/sluice) $$t --jobs=1 2>&1 | tee $(BUILD)/$$(basename $$t).out; \
		test $${PIPESTATUS[0]:-0} -eq 0 && $(SAN_CHECK) || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then $(FAIL_SUMMARY); echo "FAILED:$$failed"; exit 1; fi

test: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit integration
	@echo "all tests passed ($(BUILD))"

asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-asan \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" test

run: deps
	@$(MAKE) --no-print-directory all
	@./conf/demo.sh $(BUILD)/sluice

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(BUILD)/core/main.d $(LLHTTP_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

# Benchmark against HAProxy, nginx and a direct origin (bench/, issue 5):
# installs the missing peers, runs bench/run.py, writes bench/results/latest.md,
# then the memory test below (bench/bench.sh runs it after a full run that
# succeeded: bench/results/memory.md).
bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/sluice
	@BUILD=$(BUILD) bench/bench.sh --full

bench-quick: deps
	@$(MAKE) --no-print-directory $(BUILD)/sluice
	@BUILD=$(BUILD) bench/bench.sh --quick

# Memory after a burst of large transfers to slow readers (issue 16), alone:
# sluice, HAProxy and nginx (those installed), writes bench/results/memory.md.
bench-memory: deps
	@$(MAKE) --no-print-directory $(BUILD)/sluice
	@timeout -s TERM -k 20 900 python3 bench/memory.py --sluice $(BUILD)/sluice \
		--md bench/results/memory.md
# Bounded mixed-traffic soak of the real binary (tests/soak/soak.py, issue 14):
# SOAK_SECONDS (default 600) of load, origins killed and restarted, RSS, fds
# and the fd audit sampled; fails on a growth trend or an audit difference.
.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory $(BUILD)/sluice
	@python3 tests/soak/soak.py --sluice $(BUILD)/sluice --seconds $${SOAK_SECONDS:-600}
include tests/fuzz/fuzz.mk
