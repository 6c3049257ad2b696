/* test_clients.c - the gateway's clients as operators change them:
 * vpngw set requests (by name or key, with their exact replies and
 * errors), the SIGHUP difference, snapshot totals that never fall. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "clients.h"
#include "pkt.h"

#define A4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

struct fixture {
	struct pool *pool;
	struct server_conf conf;
	struct registry reg;
	uint8_t keys[4][32];
	char key64[4][64];
	struct sbuf out;
	char err[256];
};

/* 10.77.0.1/24 with alice (.2) and bob (fixed .50); carol and dave known
 * by key only. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f || sodium_init() < 0)
		return -1;
	f->pool = pool_new(16);
	for (int i = 0; i < 4; i++) {
		randombytes_buf(f->keys[i], 32);
		sodium_bin2base64(f->key64[i], 64, f->keys[i], 32, sodium_base64_VARIANT_ORIGINAL);
	}
	f->conf.addr4 = A4(10, 77, 0, 1);
	f->conf.prefix4 = 24;
	f->conf.mtu = 1400;
	f->conf.npeers = 2;
	f->conf.peers = calloc(2, sizeof(*f->conf.peers));
	strcpy(f->conf.peers[0].name, "alice");
	memcpy(f->conf.peers[0].pub, f->keys[0], 32);
	strcpy(f->conf.peers[1].name, "bob");
	memcpy(f->conf.peers[1].pub, f->keys[1], 32);
	f->conf.peers[1].addr4 = A4(10, 77, 0, 50);
	if (registry_init(&f->reg, &f->conf, f->pool, 4, f->err, sizeof(f->err)) != 0)
		return -1;
	sbuf_init(&f->out);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	registry_destroy(&f->reg);
	free(f->conf.peers);
	pool_free(f->pool);
	sbuf_free(&f->out);
	free(f);
	return 0;
}

/* Parses the request line as the control socket does, then applies it. */
static int set(struct fixture *f, const char *fmt, ...)
{
	char line[256];
	struct ctl_req r;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	sbuf_reset(&f->out);
	f->err[0] = '\0';
	if (ctl_parse(line, strlen(line), &r, f->err, sizeof(f->err)) != 0)
		fail_msg("does not parse: %s: %s", line, f->err);
	return clients_set(&f->reg, &r, &f->out, f->err, sizeof(f->err));
}

static uint32_t addr_of(struct fixture *f, int k)
{
	struct peer *p = registry_by_pubkey(&f->reg, f->keys[k]);
	return p ? p->addr4 : 0;
}

static void test_set_add_address_rename_remove(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(set(f, "add carol %s", f->key64[2]), 0);
	assert_string_equal(f->out.s, "added client carol at 10.77.0.3\n");
	assert_int_equal(set(f, "add dave %s 10.77.0.99", f->key64[3]), 0);
	assert_string_equal(f->out.s, "added client dave at 10.77.0.99\n");
	assert_int_equal(f->reg.n, 4);

	assert_int_equal(set(f, "address carol 10.77.0.7"), 0);
	assert_string_equal(f->out.s, "client carol has address 10.77.0.7; its next handshake brings it\n");
	assert_int_equal(addr_of(f, 2), A4(10, 77, 0, 7));
	assert_int_equal(set(f, "address %s 10.77.0.7", f->key64[2]), 0); /* by key, no change */
	assert_string_equal(f->out.s, "client carol has address 10.77.0.7 (unchanged)\n");
	assert_int_equal(set(f, "address carol pool"), 0);
	assert_string_equal(f->out.s, "client carol has address 10.77.0.3; its next handshake brings it\n");

	assert_int_equal(set(f, "rename carol caroline"), 0);
	assert_string_equal(f->out.s, "client carol is now named caroline\n");
	assert_int_equal(set(f, "remove caroline"), 0);
	assert_string_equal(f->out.s, "removed client caroline; its session ended\n");
	assert_int_equal(addr_of(f, 2), 0);
	assert_int_equal(f->reg.n, 3);
}

static void test_set_errors_change_nothing(void **state)
{
	struct fixture *f = *state;
	struct {
		const char *line, *err;
	} bad[] = {
		{ "remove nobody", "no client is named \"nobody\"" },
		{ "address alice 10.77.0.50", "address 10.77.0.50 belongs to client bob" },
		{ "address alice 10.77.1.5", "address 10.77.1.5 is not a client address of the pool" },
		{ "address alice 10.77.0.255", "address 10.77.0.255 is not a client address of the pool" },
		{ "rename alice bob", "a client is named \"bob\" already" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(set(f, "%s", bad[i].line), -1);
		if (strcmp(f->err, bad[i].err))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].line, f->err, bad[i].err);
		assert_int_equal(f->out.len, 0);
	}
	assert_int_equal(set(f, "add alice %s", f->key64[2]), -1);
	assert_string_equal(f->err, "a client is named \"alice\" already");
	assert_int_equal(set(f, "add carol %s", f->key64[0]), -1);
	assert_string_equal(f->err, "client alice already has this public key");
	assert_int_equal(set(f, "remove %s", f->key64[3]), -1);
	char want[128];
	snprintf(want, sizeof(want), "no client has the key \"%s\"", f->key64[3]);
	assert_string_equal(f->err, want);
	/* everything as it was */
	assert_int_equal(f->reg.n, 2);
	assert_int_equal(addr_of(f, 0), A4(10, 77, 0, 2));
	assert_int_equal(addr_of(f, 1), A4(10, 77, 0, 50));
	assert_string_equal(registry_by_pubkey(&f->reg, f->keys[0])->name, "alice");
}

static void test_set_ambiguous_name_needs_key(void **state)
{
	struct fixture *f = *state;
	/* a config may name two clients alike; set then wants the key */
	assert_int_equal(registry_add(&f->reg, "alice", f->keys[2], 0, f->err, sizeof(f->err)), 0);
	assert_int_equal(set(f, "remove alice"), -1);
	assert_string_equal(f->err, "2 clients are named \"alice\": give the public key");
	assert_int_equal(set(f, "remove %s", f->key64[2]), 0);
	assert_int_equal(f->reg.n, 2);
}

static void test_reload_difference(void **state)
{
	struct fixture *f = *state;
	struct clients_diff d;
	struct peer *alice = registry_by_pubkey(&f->reg, f->keys[0]);
	/* bob goes, alice is renamed and fixed at .9, carol comes (pool),
	 * dave comes at bob's old fixed address */
	struct peer_conf pc[3];
	memset(pc, 0, sizeof(pc));
	strcpy(pc[0].name, "alice2");
	memcpy(pc[0].pub, f->keys[0], 32);
	pc[0].addr4 = A4(10, 77, 0, 9);
	strcpy(pc[1].name, "carol");
	memcpy(pc[1].pub, f->keys[2], 32);
	strcpy(pc[2].name, "dave");
	memcpy(pc[2].pub, f->keys[3], 32);
	pc[2].addr4 = A4(10, 77, 0, 50);
	struct server_conf nc = f->conf;
	nc.peers = pc;
	nc.npeers = 3;
	clients_reload(&f->reg, &nc, &d);
	assert_int_equal(d.added, 2);
	assert_int_equal(d.removed, 1);
	assert_int_equal(d.changed, 1);
	assert_int_equal(d.failed, 0);
	assert_ptr_equal(registry_by_pubkey(&f->reg, f->keys[0]), alice); /* the same client, not a new one */
	assert_string_equal(alice->name, "alice2");
	assert_int_equal(alice->addr4, A4(10, 77, 0, 9));
	assert_int_equal(addr_of(f, 1), 0);
	assert_int_equal(addr_of(f, 2), A4(10, 77, 0, 2)); /* alice's old one, free again */
	assert_int_equal(addr_of(f, 3), A4(10, 77, 0, 50));

	/* the same config again: nothing to do */
	clients_reload(&f->reg, &nc, &d);
	assert_int_equal(d.added + d.removed + d.changed + d.failed, 0);

	/* a fixed address another client holds: that one fails, the rest applies */
	pc[1].addr4 = A4(10, 77, 0, 9);
	clients_reload(&f->reg, &nc, &d);
	assert_int_equal(d.failed, 1);
	assert_int_equal(addr_of(f, 2), A4(10, 77, 0, 2));
}

static const char *fake_endpoint_str(const struct endpoint *e, char *buf, size_t len)
{
	snprintf(buf, len, "family %d", e->sa.sa_family);
	return buf;
}

static void test_totals_keep_removed_clients(void **state)
{
	struct fixture *f = *state;
	struct snapshot o;
	struct clients_totals t;
	struct peer *bob = registry_by_pubkey(&f->reg, f->keys[1]);
	struct endpoint ep = { .in4 = { .sin_family = AF_INET } };
	peer_set_endpoint(registry_by_pubkey(&f->reg, f->keys[0]), &ep, 1);
	ctr_add(&bob->q.st.overflow_drops, 5);
	ctr_add(&registry_by_pubkey(&f->reg, f->keys[0])->q.st.codel_drops, 2);
	memset(&o, 0, sizeof(o));
	clients_snapshot(&f->reg, 1, fake_endpoint_str, &o, &t);
	assert_int_equal(o.npeers, 2);
	assert_string_equal(o.peers[1].name, "bob");
	assert_int_equal(o.peers[1].addr4, A4(10, 77, 0, 50));
	assert_int_equal(o.peers[1].drops[0].v, 5);
	assert_int_equal(o.peers[1].handshake_age_s, -1);
	assert_string_equal(o.peers[1].endpoint, ""); /* none seen yet */
	assert_string_equal(o.peers[0].endpoint, "family 2");
	assert_int_equal(t.queue_full_drops, 5);
	assert_int_equal(t.codel_drops, 2);
	free(o.peers);

	assert_int_equal(set(f, "remove bob"), 0);
	memset(&o, 0, sizeof(o));
	clients_snapshot(&f->reg, 1, fake_endpoint_str, &o, &t);
	assert_int_equal(o.npeers, 1);
	assert_int_equal(t.queue_full_drops, 5); /* bob's drops still counted */
	free(o.peers);
	clients_totals(&f->reg, 1, &t);
	assert_int_equal(t.queue_full_drops, 5);
	assert_int_equal(t.codel_drops, 2);
}

static void test_state_entries(void **state)
{
	struct fixture *f = *state;
	struct state_entry *e;
	size_t n;
	assert_int_equal(clients_state(&f->reg, &e, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(e[0].pub, f->keys[0], 32);
	assert_int_equal(e[0].addr4, A4(10, 77, 0, 2));
	assert_int_equal(e[1].addr4, A4(10, 77, 0, 50));
	free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_add_address_rename_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_errors_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_ambiguous_name_needs_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_difference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_keep_removed_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_entries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
