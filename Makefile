# hfcloop — plain Makefile. `make`, `make check`, `make bench`, `make install`.
# `make check SAN=1` builds and tests with ASan+UBSan into build-san/.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man/man1

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS = libdeflate libcrypto libcurl ext2fs com_err yaml-0.1
# libarchive: bundles (lib/tar.c, the only file that uses it).
PKGS += libarchive
FUSE_PKGS = fuse3

ifeq ($(SAN),1)
B = build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT = -O1
else
B = build
SANFLAGS =
OPT = -O2
endif

CFLAGS ?= $(OPT) -g
WARN = -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers
CPPFLAGS_ALL = -D_GNU_SOURCE -Ilib $(CPPFLAGS)
CFLAGS_ALL = $(WARN) $(CFLAGS) $(SANFLAGS) -pthread -MMD -MP \
	$(shell $(PKG_CONFIG) --cflags $(PKGS))
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -pthread
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

LIB_SRC = $(wildcard lib/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)

TOOLS = hfc-mkimage hfc-index hfc-get hfc-mount hfc-publish hfc-profile
TOOLS += hfc-diff hfc-apply
TOOL_BIN = $(TOOLS:%=$(B)/%)
MANS = mkimage/hfc-mkimage.1 mkimage/hfc-index.1 client/hfc-get.1 client/hfc-mount.1 \
	publish/hfc-publish.1 profiles/hfc-profile.1
MANS += diff/hfc-diff.1 diff/hfc-apply.1

UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka zlib)

all: $(TOOL_BIN) $(B)/netdelay

# The latency harness's delay helper (tests/netns.sh): one C file, no library, not installed.
$(B)/netdelay: tests/netdelay.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(WARN) $(CFLAGS) $(SANFLAGS) $(LDFLAGS_ALL) -o $@ $<

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c -o $@ $<

$(B)/libhfc.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/hfc-mkimage: $(B)/mkimage/hfc-mkimage.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/hfc-index: $(B)/mkimage/hfc-index.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/hfc-profile: $(B)/profiles/hfc-profile.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/hfc-diff: $(B)/diff/hfc-diff.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/hfc-apply: $(B)/diff/hfc-apply.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/hfc-get: $(B)/client/hfc-get.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/hfc-publish: $(B)/publish/hfc-publish.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(B)/client/hfc-mount.o: client/hfc-mount.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(shell $(PKG_CONFIG) --cflags $(FUSE_PKGS)) -c -o $@ $<

$(B)/hfc-mount: $(B)/client/hfc-mount.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(shell $(PKG_CONFIG) --libs $(FUSE_PKGS))

$(B)/tests/test-%.o: tests/unit/test-%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -c -o $@ $<

$(B)/tests/test-%: $(B)/tests/test-%.o $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS) $(CMOCKA_LIBS)

deps:
	@bash scripts/install-deps.sh

unit: $(UNIT_BIN)
	@bash tests/run-unit.sh $(UNIT_BIN)

# The full suite: dependencies, unit tests (plain and sanitized), then end-to-end tests.
check: deps
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory SAN=1 unit
	@$(MAKE) --no-print-directory fuzz
	@bash tests/cli/run.sh $(CURDIR)/build

bench: deps all
	@bash scripts/install-deps.sh --bench
	@bash bench/bench-mkimage.sh $(CURDIR)/build
	@bash bench/bench-delta.sh $(CURDIR)/build
	@bash bench/bench-publish.sh $(CURDIR)/build
	@bash bench/bench-client.sh $(CURDIR)/build

# The boot benchmark of issue 6 (qemu, debootstrap; minutes): not part of `make bench`.
bench-latency: deps all
	@bash scripts/install-deps.sh --bench
	@bash bench/bench-latency.sh $(CURDIR)/build
.PHONY: bench-latency

demo: deps all
	@bash scripts/demo.sh $(CURDIR)/build

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	install -m 0755 $(TOOL_BIN) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(MANS) $(DESTDIR)$(MANDIR)/

clean:
	rm -rf build build-san

.PHONY: all deps unit check bench demo install clean
-include $(LIB_OBJ:.o=.d) $(B)/mkimage/*.d $(B)/client/*.d $(B)/publish/*.d $(B)/diff/*.d $(B)/tests/*.d

# Fuzzing the parsers of untrusted input with libFuzzer (clang): indexes, profiles and traces,
# bundles. `make fuzz FUZZ_SECONDS=600` for a long run; `make check` runs a short one of each.
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZERS = index profile bundle
FUZZ_MAXLEN_index = 4096
FUZZ_MAXLEN_profile = 4096
FUZZ_MAXLEN_bundle = 65536

$(B)/fuzz-%: tests/fuzz/fuzz-%.c $(LIB_SRC)
	@mkdir -p $(B)
	$(FUZZ_CC) $(CPPFLAGS_ALL) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
		$(shell $(PKG_CONFIG) --cflags $(PKGS)) -o $@ $^ $(LIBS)

fuzz: $(FUZZERS:%=fuzz-%)

fuzz-%: $(B)/fuzz-%
	@mkdir -p $(B)/fuzz-corpus-$*
	@if $< -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAXLEN_$*) -print_final_stats=1 \
		$(B)/fuzz-corpus-$* tests/fuzz/corpus-$* >$(B)/fuzz-$*.log 2>&1; then \
		grep -E 'number_of_executed_units|new_units_added' $(B)/fuzz-$*.log; \
		echo "fuzz: $* parser survived $(FUZZ_SECONDS) s"; \
	else tail -40 $(B)/fuzz-$*.log; echo "fuzz: $* parser FAILED (see $(B)/fuzz-$*.log)"; exit 1; fi
.PHONY: fuzz
