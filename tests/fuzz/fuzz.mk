# libFuzzer targets (issue 14), included from the Makefile. `make fuzz`
# installs clang and its fuzzer runtime if missing, builds every
# tests/fuzz/fuzz_*.c with -fsanitize=fuzzer,address,undefined into
# build-fuzz/, and runs each for FUZZ_SECONDS (default 60) from its seed
# corpus tests/fuzz/corpus/NAME/ (read only: new inputs go to
# build-fuzz/corpus/NAME/). It fails on any crash, property failure, leak,
# timeout or sanitizer report; the input that did it is saved as
# build-fuzz/fuzz_NAME-crash-* (replay: build-fuzz/fuzz_NAME FILE).

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_PKGS    := clang libclang-rt-14-dev
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_SRC := proto/http_msg.c proto/http_path.c proto/http_rewrite.c proto/http_route.c \
		proto/proxy.c proto/tls_dn.c \
		conf/conf.c conf/conf_keys.c conf/conf_value.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) \
		$(LLHTTP_SRC:%.c=$(FUZZ_BUILD)/llhttp/%.o)
# objects only one target links: the core functions they refer to are
# faked in that target (fuzz_h2: proto/h2_stream.c without a session)
FUZZ_ONLY_OBJ := $(FUZZ_BUILD)/proto/h2_stream.o
$(FUZZ_BUILD)/fuzz_h2: $(FUZZ_BUILD)/proto/h2_stream.o
# kept: a second `make fuzz` rebuilds nothing
.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_ONLY_OBJ)

.PHONY: fuzz fuzz-build fuzz-deps fuzz-clean

$(FUZZ_BUILD)/proto/%.o: proto/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(WARN) -c $< -o $@

$(FUZZ_BUILD)/conf/%.o: conf/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(WARN) -c $< -o $@

$(FUZZ_BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -I$(LLHTTP_INC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -w -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(WARN) -o $@ $< \
		$(filter %.o,$^) -linih -lnghttp2 -ldl

fuzz-build: $(FUZZ_BIN)

fuzz-deps:
	$(call install_missing,$(FUZZ_PKGS))

# Every target runs even when an earlier one failed; the rule fails at the
# end naming them. -timeout: one input taking over 10 s is a hang.
fuzz: deps fuzz-deps
	@$(MAKE) --no-print-directory fuzz-build
	@failed=""; for t in $(FUZZ_BIN); do n=$$(basename $$t); c=$${n#fuzz_}; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$c; \
		echo "== $$n ($(FUZZ_SECONDS) s)"; \
		dict=; [ -f tests/fuzz/$$c.dict ] && dict=-dict=tests/fuzz/$$c.dict; \
		$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=1 $$dict -artifact_prefix=$(FUZZ_BUILD)/$$n- \
			$(FUZZ_BUILD)/corpus/$$c tests/fuzz/corpus/$$c \
			> $(FUZZ_BUILD)/$$n.log 2>&1; rc=$$?; \
		grep -E "^#[0-9]+ *DONE|stat::number_of_executed_units" $(FUZZ_BUILD)/$$n.log | tail -1; \
		if [ $$rc -ne 0 ] || grep -qE "Sanitizer|runtime error:|property failed" $(FUZZ_BUILD)/$$n.log; then \
			tail -40 $(FUZZ_BUILD)/$$n.log; failed="$$failed $$n"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "FUZZ FAILED:$$failed"; exit 1; fi; \
	echo "fuzz: every target ran $(FUZZ_SECONDS) s clean"

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_ONLY_OBJ:.o=.d)
