# vpngw - see README.md. `make` builds build/vpngw; `make test` runs everything.
CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -MMD -MP
LDLIBS += -lsodium -lIPSec_MB -lcrypto -lnftables -lmnl -lm -pthread
BUILD := build

CORE := wire pool fq ecn pacer offload icmp aead replay noise handshake cookie session stats log config registry router dns
# show, metrics and the control socket (issue 6)
CORE += sbuf show metrics request state clients rtgate cpuhold
PLATFORM := tun_linux udp_linux wake_linux nat_linux priv_linux netcfg_linux dnsconf_linux dnsproxy_linux
PLATFORM += ctl_linux statefile_linux nft_linux notrack_linux thread_linux cpulat_linux
APP := server client main
CORE_OBJS := $(CORE:%=$(BUILD)/%.o)
OBJS := $(CORE_OBJS) $(PLATFORM:%=$(BUILD)/%.o) $(APP:%=$(BUILD)/%.o)

UNIT := test_wire test_cookie test_replay test_pool test_fq test_ecn test_icmp test_aead test_noise test_session test_registry test_config test_stats test_offload test_dns
UNIT += test_show test_request test_state test_clients test_udp test_rtgate test_cpuhold test_pacer test_statefile test_tun
UNIT_BINS := $(UNIT:%=$(BUILD)/tests/%)

.PHONY: all deps test unit e2e demo bench load clean install uninstall
all: $(BUILD)/vpngw $(BUILD)/vpngw_load $(BUILD)/pipeline

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/vpngw: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)/tests

# The many-clients load tool (tests/load/): the core objects, not the vpngw binary.
$(BUILD)/vpngw_load: tests/load/vpngw_load.c $(CORE_OBJS) | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJS) | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(LDLIBS) -lcmocka

# test_statefile writes files under /tmp (no root needed), so it links statefile_linux too.
$(BUILD)/tests/test_statefile: tests/unit/test_statefile.c $(CORE_OBJS) $(BUILD)/statefile_linux.o | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(BUILD)/statefile_linux.o $(LDLIBS) -lcmocka

# test_udp drives real sockets on loopback (no root needed), so it links udp_linux too, and
# plays a kernel that refuses UDP GSO (sendmmsg wrapped).
$(BUILD)/tests/test_udp: tests/unit/test_udp.c $(CORE_OBJS) $(BUILD)/udp_linux.o $(BUILD)/wake_linux.o | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(BUILD)/udp_linux.o $(BUILD)/wake_linux.o -Wl,--wrap=sendmmsg $(LDLIBS) -lcmocka

# test_tun plays a kernel that refuses merged TUN writes: tun_linux's writev is wrapped.
TUN_TEST_LINK := -Wl,--wrap=writev
$(BUILD)/tests/test_tun: tests/unit/test_tun.c $(CORE_OBJS) $(BUILD)/tun_linux.o $(BUILD)/wake_linux.o | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(BUILD)/tun_linux.o $(BUILD)/wake_linux.o $(TUN_TEST_LINK) $(LDLIBS) -lcmocka

# Our own code's cost per packet, stage by stage, without the kernel (a profiling aid; bench/pipeline.c).
$(BUILD)/pipeline: bench/pipeline.c $(CORE_OBJS) | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(LDLIBS)

# When the machine's CPUs stopped running threads (the host's stalls), beside the bench's pings.
$(BUILD)/stallwatch: bench/stallwatch.c | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $<

# The handshake flood generator of tests/e2e/flood.sh (not part of vpngw).
$(BUILD)/hsflood: tests/flood/hsflood.c $(CORE_OBJS) | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(LDLIBS)

deps:
	@scripts/deps.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done
	@# valgrind hides AVX-512, so intel-ipsec-mb runs its AVX2 AES-GCM code here:
	@# the code a CPU without AVX-512 gets, checked against libsodium too.
	@echo "== $(BUILD)/tests/test_aead under valgrind (the AES-GCM library's AVX2 code)"
	@valgrind -q --error-exitcode=1 $(BUILD)/tests/test_aead
	@/usr/bin/python3 tests/vectors/gen_noise_vectors.py $(BUILD)/noise_vectors.h >/dev/null
	@cmp $(BUILD)/noise_vectors.h tests/unit/noise_vectors.h && \
		echo "== noise vectors: regenerated with python3-dissononce, identical to the checked-in ones"
	@echo "== tests/tools: the bench's and flood.sh's rule for pings a host stall touched (bench/calm.py)"
	@/usr/bin/python3 -m unittest discover -s tests/tools

e2e: $(BUILD)/vpngw $(BUILD)/vpngw_load $(BUILD)/hsflood $(BUILD)/stallwatch
	bash tests/e2e/netns.sh
	bash tests/e2e/robustness.sh
	bash tests/e2e/nat.sh
	bash tests/e2e/clientnet.sh
	bash tests/e2e/ipv6.sh
	bash tests/e2e/recovery.sh
	bash tests/e2e/rekeyload.sh
	bash tests/e2e/pacing.sh
	bash tests/e2e/dns.sh
	bash tests/e2e/ops.sh
	bash tests/load/run.sh --smoke
	bash tests/interop/run.sh
	bash tests/e2e/valgrind.sh
	bash tests/e2e/flood.sh

test: deps
	$(MAKE) all unit
	bash tests/install.sh
	$(MAKE) fuzz-smoke check-asan
	$(MAKE) e2e

demo: deps
	$(MAKE) all
	bash scripts/demo.sh

bench: deps all $(BUILD)/stallwatch
	@bash bench/deps.sh
	bash bench/run.sh

# Many clients: N = 10, 100, 1000 against one gateway, then 10,000 configured;
# writes bench/results/load-<date>.md (tests/load/run.sh).
load: deps all
	bash tests/load/run.sh

# Installs the binary, the systemd units and the man page; DESTDIR for packaging.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc

install: all
	install -D -m 0755 $(BUILD)/vpngw $(DESTDIR)$(SBINDIR)/vpngw
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man8
	for u in vpngw-server@ vpngw-client@; do \
		sed 's|@SBINDIR@|$(SBINDIR)|g' dist/$$u.service.in >$(DESTDIR)$(UNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 dist/vpngw.8 $(DESTDIR)$(MANDIR)/man8/vpngw.8
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/vpngw

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/vpngw $(DESTDIR)$(MANDIR)/man8/vpngw.8
	rm -f $(DESTDIR)$(UNITDIR)/vpngw-server@.service $(DESTDIR)$(UNITDIR)/vpngw-client@.service

clean:
	rm -rf $(BUILD)

# ---------------------------------------------------------------------------
# Fuzzing (libFuzzer) and the sanitizer build; see tests/fuzz/README.md.
# Both use clang and ASan + UBSan, every report fatal. Their objects live
# in build/fuzz and build/asan, apart from the ordinary build's.
#   make fuzz [FUZZ_SECONDS=60]  fuzz each target that long
#   make fuzz-smoke              the checked-in corpus, then ~10 s per target
#   make check-asan              unit tests and vpngw built with sanitizers
SAN_CC ?= clang
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -MMD -MP $(SAN_FLAGS)
SAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_TARGETS := fuzz_wire fuzz_data fuzz_handshake fuzz_cookie fuzz_config fuzz_dns
FUZZ_TARGETS += fuzz_ctl
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
FUZZ_OBJS := $(CORE:%=$(FUZZ_DIR)/obj/%.o)
ASAN_DIR := $(BUILD)/asan
ASAN_CORE_OBJS := $(CORE:%=$(ASAN_DIR)/%.o)
ASAN_OBJS := $(ASAN_CORE_OBJS) $(PLATFORM:%=$(ASAN_DIR)/%.o) $(APP:%=$(ASAN_DIR)/%.o)
ASAN_UNIT_BINS := $(UNIT:%=$(ASAN_DIR)/tests/%)

.PHONY: fuzz fuzz-smoke check-asan

fuzz: $(FUZZ_BINS) $(FUZZ_DIR)/corpus.stamp
	$(SAN_ENV) bash tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS) $(FUZZ_DIR)/corpus.stamp
	$(SAN_ENV) bash tests/fuzz/run.sh smoke $(FUZZ_SMOKE_SECONDS) $(FUZZ_BINS)

$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fixture.h $(FUZZ_OBJS)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer -Isrc -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

$(FUZZ_DIR)/gen_corpus: tests/fuzz/gen_corpus.c tests/fuzz/fixture.h $(FUZZ_OBJS)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=fuzzer-no-link -Isrc -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

# Seeds are regenerated from the code; unchanged files are left alone.
$(FUZZ_DIR)/corpus.stamp: $(FUZZ_DIR)/gen_corpus
	@mkdir -p $(FUZZ_TARGETS:%=tests/fuzz/corpus/%)
	$(SAN_ENV) $< tests/fuzz/corpus
	@touch $@

check-asan: $(ASAN_DIR)/vpngw $(ASAN_DIR)/vpngw_load $(ASAN_UNIT_BINS)
	@set -e; export $(SAN_ENV); for t in $(ASAN_UNIT_BINS); do echo "== $$t"; $$t; done
	@set -e; export $(SAN_ENV); echo "== $(ASAN_DIR)/vpngw genkey | pubkey"; \
		k=$$($(ASAN_DIR)/vpngw genkey); echo "$$k" | $(ASAN_DIR)/vpngw pubkey >/dev/null
	@set -e; export $(SAN_ENV) VPNGW=$(ASAN_DIR)/vpngw; echo "== end-to-end tests on $(ASAN_DIR)/vpngw"; \
		bash tests/e2e/netns.sh; bash tests/e2e/robustness.sh; bash tests/e2e/clientnet.sh; \
		LOAD_TOOL=$(ASAN_DIR)/vpngw_load bash tests/load/run.sh --smoke

$(ASAN_DIR)/%.o: src/%.c
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -c -o $@ $<

$(ASAN_DIR)/vpngw: $(ASAN_OBJS)
	$(SAN_CC) $(SAN_CFLAGS) -o $@ $^ $(LDLIBS)

$(ASAN_DIR)/vpngw_load: tests/load/vpngw_load.c $(ASAN_CORE_OBJS)
	$(SAN_CC) $(SAN_CFLAGS) -Isrc -o $@ $< $(ASAN_CORE_OBJS) $(LDLIBS)

$(ASAN_DIR)/tests/test_udp: tests/unit/test_udp.c $(ASAN_CORE_OBJS) $(ASAN_DIR)/udp_linux.o $(ASAN_DIR)/wake_linux.o
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -Isrc -o $@ $< $(ASAN_CORE_OBJS) $(ASAN_DIR)/udp_linux.o $(ASAN_DIR)/wake_linux.o -Wl,--wrap=sendmmsg $(LDLIBS) -lcmocka

$(ASAN_DIR)/tests/test_statefile: tests/unit/test_statefile.c $(ASAN_CORE_OBJS) $(ASAN_DIR)/statefile_linux.o
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -Isrc -o $@ $< $(ASAN_CORE_OBJS) $(ASAN_DIR)/statefile_linux.o $(LDLIBS) -lcmocka

$(ASAN_DIR)/tests/test_tun: tests/unit/test_tun.c $(ASAN_CORE_OBJS) $(ASAN_DIR)/tun_linux.o $(ASAN_DIR)/wake_linux.o
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -Isrc -o $@ $< $(ASAN_CORE_OBJS) $(ASAN_DIR)/tun_linux.o $(ASAN_DIR)/wake_linux.o $(TUN_TEST_LINK) $(LDLIBS) -lcmocka

$(ASAN_DIR)/tests/%: tests/unit/%.c $(ASAN_CORE_OBJS)
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -Isrc -o $@ $< $(ASAN_CORE_OBJS) $(LDLIBS) -lcmocka

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)
-include $(wildcard $(FUZZ_DIR)/*.d $(FUZZ_DIR)/obj/*.d $(ASAN_DIR)/*.d $(ASAN_DIR)/tests/*.d)
