/* test_statefile.c - the state file on disk: a save and a load give back
 * the entries, and a save is not blocked by what an earlier one cut short
 * left behind. Works in a fresh directory under /tmp; no root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "statefile.h"

static char dir[64], path[128], tmp[160];
static struct state_entry two[2];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/vpngw-statefile-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/gw.state", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	for (int i = 0; i < 32; i++) {
		two[0].pub[i] = (uint8_t)i;
		two[1].pub[i] = (uint8_t)(0xff - i);
	}
	two[0].addr4 = 0x0a4d0002;
	two[1].addr4 = 0x0a4d00fa;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	unlink(tmp);
	rmdir(tmp); /* the test that leaves a directory there */
	rmdir(dir);
	return 0;
}

static void expect_two(void)
{
	struct state_entry *e = NULL;
	size_t n = 0;
	assert_int_equal(statefile_load(path, &e, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(e, two, sizeof(two));
	free(e);
}

static void test_save_then_load(void **state)
{
	(void)state;
	assert_int_equal(statefile_save(path, two, 2), 0);
	expect_two();
	assert_int_equal(access(tmp, F_OK), -1); /* renamed away */
}

/* A temp file of an earlier process with our pid (a save killed between
 * create and rename) must not block saving. */
static void test_stale_temp_file(void **state)
{
	(void)state;
	FILE *f = fopen(tmp, "w");
	assert_non_null(f);
	fputs("half a save", f);
	fclose(f);
	assert_int_equal(statefile_save(path, two, 2), 0);
	expect_two();
	/* A symlink there is removed, not followed. */
	char target[200];
	snprintf(target, sizeof(target), "%s/target", dir);
	f = fopen(target, "w");
	assert_non_null(f);
	fputs("keep", f);
	fclose(f);
	assert_int_equal(symlink(target, tmp), 0);
	assert_int_equal(statefile_save(path, two, 1), 0);
	f = fopen(target, "r");
	assert_non_null(f);
	char got[8] = "";
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	assert_string_equal(got, "keep");
	unlink(target);
	assert_int_equal(statefile_save(path, two, 2), 0);
	expect_two();
}

/* What cannot be removed stops the save, which leaves the old file. */
static void test_unremovable_temp_fails_cleanly(void **state)
{
	(void)state;
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(statefile_save(path, two, 1), -1);
	expect_two();
	assert_int_equal(rmdir(tmp), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_then_load),
		cmocka_unit_test(test_stale_temp_file),
		cmocka_unit_test(test_unremovable_temp_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
