# vpngw - see README.md. `make` builds build/vpngw; `make test` runs everything.
CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -MMD -MP
LDLIBS += -lsodium -lm -pthread
BUILD := build

CORE := wire pool queue fq pacer offload replay noise handshake session stats log config registry router
PLATFORM := tun_linux udp_linux wake_linux
APP := server client main
CORE_OBJS := $(CORE:%=$(BUILD)/%.o)
OBJS := $(CORE_OBJS) $(PLATFORM:%=$(BUILD)/%.o) $(APP:%=$(BUILD)/%.o)

UNIT := test_wire test_replay test_queue test_fq test_noise test_session test_registry test_config test_stats
UNIT_BINS := $(UNIT:%=$(BUILD)/tests/%)

.PHONY: all deps test unit e2e demo bench clean
all: $(BUILD)/vpngw

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/vpngw: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD):
	mkdir -p $(BUILD)/tests

$(BUILD)/tests/%: tests/unit/%.c $(CORE_OBJS) | $(BUILD)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE_OBJS) $(LDLIBS) -lcmocka

deps:
	@scripts/deps.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done
	@/usr/bin/python3 tests/vectors/gen_noise_vectors.py $(BUILD)/noise_vectors.h >/dev/null
	@cmp $(BUILD)/noise_vectors.h tests/unit/noise_vectors.h && \
		echo "== noise vectors: regenerated with python3-dissononce, identical to the checked-in ones"

e2e: $(BUILD)/vpngw
	bash tests/e2e/netns.sh

test: deps
	$(MAKE) all unit
	$(MAKE) e2e

demo: deps
	$(MAKE) all
	bash scripts/demo.sh

bench: deps all
	@bash bench/deps.sh
	bash bench/run.sh

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/*.d $(BUILD)/tests/*.d)
