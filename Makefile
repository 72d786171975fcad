# hfcloop — plain Makefile. `make`, `make check`, `make bench`, `make install`.
# `make check SAN=1` builds and tests with ASan+UBSan into build-san/.
# `make check SAN=thread` builds with ThreadSanitizer into build-tsan/ and runs every unit test
# and the threaded end-to-end cases (TSAN_CLI_CASES) there: any report fails.
# `make check-long` (not part of `make check`): the soak of hfc-mount and valgrind's memcheck.
# The layers and what each may include: docs/ARCHITECTURE.md (checked by tests/check-layers.sh).

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man/man1
DATADIR = $(PREFIX)/share/hfcloop

CC ?= cc
PKG_CONFIG ?= pkg-config
# One adapter file in lib/ for each: libdeflate (base/codec), libcrypto (base/digest), libcurl
# (client/http), libext2fs (fs/ext2), libyaml (publish/config), libarchive (fs/tar).
PKGS = libdeflate libcrypto libcurl ext2fs com_err yaml-0.1 libarchive
# The programs layer: JSON output (programs/json), FUSE (client/hfc-mount only).
PROG_PKGS = jansson
FUSE_PKGS = fuse3

ifeq ($(SAN),1)
B = build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT = -O1
else ifeq ($(SAN),thread)
# gcc's TSan (libtsan2) works here with the default PIE build and the uninstrumented libraries
# (libcurl, OpenSSL, libfuse3: their threads and locks are pthread's, which TSan intercepts).
B = build-tsan
SANFLAGS = -fsanitize=thread -fno-omit-frame-pointer
OPT = -O1
else
B = build
SANFLAGS =
OPT = -O2
endif

CFLAGS ?= $(OPT) -g
WARN = -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers
CPPFLAGS_ALL = -D_GNU_SOURCE -Ilib -I. $(CPPFLAGS)
CFLAGS_ALL = $(WARN) $(CFLAGS) $(SANFLAGS) -pthread -MMD -MP \
	$(shell $(PKG_CONFIG) --cflags $(PKGS) $(PROG_PKGS) $(FUSE_PKGS))
LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -pthread
PROG_LIBS = $(shell $(PKG_CONFIG) --libs $(PROG_PKGS)) -lm
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

# libhfc: every lib/<layer>/*.c. The programs layer: programs/*.c.
LIB_SRC = $(wildcard lib/*/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(B)/%.o)
PROG_SRC = $(wildcard programs/*.c)
PROG_OBJ = $(PROG_SRC:%.c=$(B)/%.o)

# A tool is DIR/hfc-NAME.c (its main) plus DIR/hfc-NAME-*.c (its private parts), and its man
# page DIR/hfc-NAME.1.
TOOL_MAINS = $(wildcard */hfc-*.c)
TOOLS = $(sort $(foreach m,$(TOOL_MAINS),$(if $(wildcard $(m:.c=.1)),$(notdir $(m:.c=)))))
TOOL_BIN = $(TOOLS:%=$(B)/%)
MANS = $(foreach t,$(TOOLS),$(wildcard */$(t).1))

UNIT_SRC = $(wildcard tests/unit/test-*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
CMOCKA_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka zlib)

all: $(TOOL_BIN) $(B)/netdelay

# Benchmark helpers (bench/*.c): built by `make bench` only, not installed.
$(B)/bench-%: bench/%.c $(B)/libhfc.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(B)/libhfc.a $(LIBS)

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

$(B)/libhfcprog.a: $(PROG_OBJ)
	@rm -f $@
	ar rcs $@ $^

# One link rule for every tool.
tool_objs = $(patsubst %.c,$(B)/%.o,$(wildcard */hfc-$(1).c */hfc-$(1)-*.c))
.SECONDEXPANSION:
$(B)/hfc-%: $$(call tool_objs,$$*) $(B)/libhfcprog.a $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PROG_LIBS) $(LIBS) $(TOOL_LIBS)

$(B)/hfc-mount: TOOL_LIBS = $(shell $(PKG_CONFIG) --libs $(FUSE_PKGS))

$(B)/tests/test-%.o: tests/unit/test-%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -c -o $@ $<

$(B)/tests/test-%: $(B)/tests/test-%.o $(B)/libhfcprog.a $(B)/libhfc.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PROG_LIBS) $(LIBS) $(CMOCKA_LIBS)

deps:
	@bash scripts/install-deps.sh

unit: $(UNIT_BIN)
	@bash tests/run-unit.sh $(UNIT_BIN)

# Every #include follows the layering of docs/ARCHITECTURE.md.
check-layers:
	@bash tests/check-layers.sh

# The threaded end-to-end cases `make check SAN=thread` runs on TSan-built tools: hfc-mount's
# cache, readahead, prefetch and FUSE threads (with mirrors failing over, and shut down with
# transfers in flight: client/30, client/62), hfc-get's parallel transfers, hfc-mkimage's
# pipeline (every case builds the fixture site with it; mkimage/10 builds more), its hashing
# of an archive's files on every CPU (mkimage/60), its blocks encoded ahead of a --base
# update's writer (mkimage/61) and hfc-publish's pool of pushes to several mirrors (publish/20).
TSAN_CLI_CASES = client/10-mount-real client/20-get client/30-faults-bad-mirror client/40-cache \
	client/50-parallel client/62-shutdown profile/10-record-prefetch mkimage/10-real-image \
	mkimage/60-from-tree mkimage/61-base publish/20-mirrors

ifeq ($(SAN),thread)
# ThreadSanitizer: every unit test, then the threaded end-to-end cases (reports fail them).
check: deps
	@$(MAKE) --no-print-directory all unit
	@bash tests/cli/run.sh $(CURDIR)/build-tsan $(TSAN_CLI_CASES)
else
# The full suite: dependencies, unit tests (plain, ASan+UBSan and TSan), then end-to-end tests.
# The TSan unit tests are in: their build and run took 63 s on 2 cores (227 tests), which keeps
# `make check` well under 30 minutes, and they see the races of the cache, the fetchers and
# the pipeline on every run. The TSan end-to-end cases are not: they took 12 minutes (mounts
# run several times slower under TSan) and are `make check SAN=thread`.
check: deps
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory SAN=1 unit
	@$(MAKE) --no-print-directory SAN=thread unit
	@$(MAKE) --no-print-directory fuzz
	@bash tests/cli/run.sh $(CURDIR)/build
endif

# The long checks (not part of `make check`; about 20 minutes on 2 cores), on the plain build:
# tests/long/run.sh runs the soak of hfc-mount (tests/long/soak.sh: 16 readers for 5 minutes,
# SOAK_SECONDS=60 for a short run, with one mirror killed every few seconds and another serving
# damaged blocks) and end-to-end cases with every tool under valgrind's memcheck
# (tests/long/valgrind.sh). Each part ends with "N passed, N failed".
check-long: deps
	@bash scripts/install-deps.sh --long
	@$(MAKE) --no-print-directory SAN= all
	@bash tests/long/run.sh $(CURDIR)/build

bench: deps all $(B)/bench-sign-cost
	@bash scripts/install-deps.sh --bench
	@bash bench/bench-mkimage.sh $(CURDIR)/build
	@bash bench/bench-delta.sh $(CURDIR)/build
	@bash bench/bench-publish.sh $(CURDIR)/build
	@bash bench/bench-client.sh $(CURDIR)/build
	@bash bench/bench-sign.sh $(CURDIR)/build
	@bash bench/bench-inputs.sh $(CURDIR)/build

# The boot benchmark of issue 6 (qemu, debootstrap; minutes): not part of `make bench`.
bench-latency: deps all
	@bash scripts/install-deps.sh --bench
	@bash bench/bench-latency.sh $(CURDIR)/build
.PHONY: bench-latency

# Booting a Debian machine from a URL (boot=hfc) beside the paper's Table 3 (qemu, debootstrap;
# tens of minutes): not part of `make bench`.
bench-boot: deps all
	@bash scripts/install-deps.sh --bench
	@bash bench/bench-boot.sh $(CURDIR)/build
.PHONY: bench-boot

# The profiled I/O-bound read of issue 13 at 0 and 100 ms RTT (network namespaces; minutes).
bench-prefetch: deps all
	@bash scripts/install-deps.sh --bench
	@bash bench/bench-prefetch.sh $(CURDIR)/build
.PHONY: bench-prefetch

demo: deps all
	@bash scripts/demo.sh $(CURDIR)/build

# hfc-boot is a shell script (boot/hfc-boot.sh, installed as hfc-boot); its initramfs-tools configuration goes to DATADIR, where
# hfc-boot looks for it (never into the host's /etc/initramfs-tools or /usr/share/initramfs-tools).
BOOT_CONF = boot/initramfs-tools
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	install -m 0755 $(TOOL_BIN) $(DESTDIR)$(BINDIR)/
	install -m 0755 boot/hfc-boot.sh $(DESTDIR)$(BINDIR)/hfc-boot
	install -m 0644 $(MANS) boot/hfc-boot.1 $(DESTDIR)$(MANDIR)/
	install -d $(DESTDIR)$(DATADIR)/initramfs-tools/hooks $(DESTDIR)$(DATADIR)/initramfs-tools/scripts
	install -m 0644 $(BOOT_CONF)/initramfs.conf $(BOOT_CONF)/modules $(DESTDIR)$(DATADIR)/initramfs-tools/
	install -m 0755 $(BOOT_CONF)/hooks/hfcloop $(DESTDIR)$(DATADIR)/initramfs-tools/hooks/
	install -m 0644 $(BOOT_CONF)/scripts/hfc $(BOOT_CONF)/scripts/hfc-cmdline.sh \
		$(DESTDIR)$(DATADIR)/initramfs-tools/scripts/

clean:
	rm -rf build build-san build-tsan

.PHONY: all deps unit check check-layers check-long bench demo install clean
-include $(shell find $(B) -name '*.d' 2>/dev/null)

# Fuzzing the parsers of untrusted input with libFuzzer (clang): indexes and their signature
# lines, profiles and traces, bundles, key files, cloop headers.
# `make fuzz FUZZ_SECONDS=600` for a long run; `make check` runs a short one of each.
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang
FUZZERS = index profile bundle key cloop
FUZZ_MAXLEN_index = 4096
FUZZ_MAXLEN_profile = 4096
FUZZ_MAXLEN_bundle = 65536
FUZZ_MAXLEN_key = 4096
FUZZ_MAXLEN_cloop = 4096

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
