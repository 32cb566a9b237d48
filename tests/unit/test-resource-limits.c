/* common/resource_limits.c: memory.max, pids.max, cpu.max and their v1 writes. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "resource_limits.h"
#include "test-util.h"

static void
memory_is (const char *text, uint64_t want)
{
	uint64_t v = 7;
	NsError err;

	g_assert_cmpint (ns_memory_max_parse (text, strlen (text), &v, &err), ==, 0);
	g_assert_cmpuint (v, ==, want);
}

static void
memory_bad (const char *text, const char *want)
{
	uint64_t v = 7;
	NsError err;

	ns_error_poison (&err);
	assert_ns_error (ns_memory_max_parse (text, strlen (text), &v, &err), &err, EINVAL, want);
	g_assert_cmpuint (v, ==, 7);
}

static void
test_memory (void)
{
	memory_is ("max", NS_LIMIT_MAX);
	memory_is ("max\n", NS_LIMIT_MAX);
	memory_is ("512m\n", 512ull << 20);
	memory_is (" 1G ", 1ull << 30);
	memory_is ("4096", 4096);
	memory_is ("8k", 8192);
	memory_is ("0", 0);
	memory_bad ("", "one value");
	memory_bad ("1 2", "one value");
	memory_bad ("12t", "is not bytes");
	memory_bad ("-1", "is not bytes");
	memory_bad ("k", "is not bytes");
	memory_bad ("18446744073709551616", "is not bytes");
	memory_bad ("17179869184g", "too large");
	memory_bad ("4611686018427387904", "too large");
	memory_bad ("1\n2", "must be a single line");
	memory_bad ("MAX", "is not bytes");
}

static void
test_pids (void)
{
	uint64_t v = 7;
	NsError err;

	g_assert_cmpint (ns_pids_max_parse ("256\n", 4, &v, &err), ==, 0);
	g_assert_cmpuint (v, ==, 256);
	g_assert_cmpint (ns_pids_max_parse ("max", 3, &v, &err), ==, 0);
	g_assert_cmpuint (v, ==, NS_LIMIT_MAX);
	v = 7;
	assert_ns_error (ns_pids_max_parse ("2147483648", 10, &v, &err), &err, EINVAL, "not a count");
	assert_ns_error (ns_pids_max_parse ("1k", 2, &v, &err), &err, EINVAL, "not a count");
	assert_ns_error (ns_pids_max_parse ("", 0, &v, &err), &err, EINVAL, "one value");
	g_assert_cmpuint (v, ==, 7);
}

static void
cpu_is (const char *text, uint64_t q, uint64_t p, const char *back)
{
	uint64_t quota = 7, period = 7;
	g_autofree char *formatted = NULL;
	NsError err;

	g_assert_cmpint (ns_cpu_max_parse (text, strlen (text), &quota, &period, &err), ==, 0);
	g_assert_cmpuint (quota, ==, q);
	g_assert_cmpuint (period, ==, p);
	formatted = ns_cpu_max_format (quota, period);
	g_assert_cmpstr (formatted, ==, back);
}

static void
cpu_bad (const char *text, const char *want)
{
	uint64_t quota = 7, period = 7;
	NsError err;

	assert_ns_error (ns_cpu_max_parse (text, strlen (text), &quota, &period, &err), &err, EINVAL, want);
	g_assert_cmpuint (quota, ==, 7);
	g_assert_cmpuint (period, ==, 7);
}

static void
test_cpu (void)
{
	cpu_is ("50000 100000\n", 50000, 100000, "50000 100000");
	cpu_is ("max", NS_LIMIT_MAX, 100000, "max 100000");
	cpu_is ("max 20000", NS_LIMIT_MAX, 20000, "max 20000");
	cpu_is ("200000 100000", 200000, 100000, "200000 100000");
	cpu_bad ("50000", "needs its period");
	cpu_bad ("", "QUOTA PERIOD or max");
	cpu_bad ("1 2 3", "QUOTA PERIOD or max");
	cpu_bad ("999 100000", "quota '999'");
	cpu_bad ("50000 999", "period '999'");
	cpu_bad ("50000 1000001", "period '1000001'");
	cpu_bad ("max x", "period 'x'");
	cpu_bad ("half 100000", "quota 'half'");
}

static void
expect_writes (const NsLimits *l, NsLimitKind kind, bool v1, const char *f0, const char *v0, const char *f1,
               const char *v1v)
{
	NsCgroupWrite w[2];
	size_t n = ns_limit_writes (l, kind, v1, w);

	g_assert_cmpuint (n, ==, f1 ? 2 : 1);
	g_assert_cmpstr (w[0].file, ==, f0);
	g_assert_cmpstr (w[0].value, ==, v0);
	if (f1) {
		g_assert_cmpstr (w[1].file, ==, f1);
		g_assert_cmpstr (w[1].value, ==, v1v);
	}
	for (size_t i = 0; i < n; i++)
		g_free (w[i].value);
}

static void
test_translation (void)
{
	NsLimits l;

	ns_limits_default (&l);
	expect_writes (&l, NS_LIMIT_MEMORY, false, "memory.max", "max", NULL, NULL);
	expect_writes (&l, NS_LIMIT_MEMORY, true, "memory.limit_in_bytes", "-1", NULL, NULL);
	expect_writes (&l, NS_LIMIT_PIDS, false, "pids.max", "max", NULL, NULL);
	expect_writes (&l, NS_LIMIT_PIDS, true, "pids.max", "max", NULL, NULL);
	expect_writes (&l, NS_LIMIT_CPU, false, "cpu.max", "max 100000", NULL, NULL);
	expect_writes (&l, NS_LIMIT_CPU, true, "cpu.cfs_period_us", "100000", "cpu.cfs_quota_us", "-1");
	l = (NsLimits) { 512ull << 20, 256, 50000, 100000 };
	expect_writes (&l, NS_LIMIT_MEMORY, false, "memory.max", "536870912", NULL, NULL);
	expect_writes (&l, NS_LIMIT_MEMORY, true, "memory.limit_in_bytes", "536870912", NULL, NULL);
	expect_writes (&l, NS_LIMIT_PIDS, true, "pids.max", "256", NULL, NULL);
	expect_writes (&l, NS_LIMIT_CPU, false, "cpu.max", "50000 100000", NULL, NULL);
	expect_writes (&l, NS_LIMIT_CPU, true, "cpu.cfs_period_us", "100000", "cpu.cfs_quota_us", "50000");
}

static void
test_unlimited (void)
{
	NsLimits l;

	ns_limits_default (&l);
	for (int k = NS_LIMIT_MEMORY; k <= NS_LIMIT_CPU; k++)
		g_assert_true (ns_limit_is_unlimited (&l, (NsLimitKind) k));
	l.memory_max = 1;
	l.cpu_period = 20000;  /* a period alone limits nothing */
	g_assert_false (ns_limit_is_unlimited (&l, NS_LIMIT_MEMORY));
	g_assert_true (ns_limit_is_unlimited (&l, NS_LIMIT_CPU));
	l.pids_max = 0;
	g_assert_false (ns_limit_is_unlimited (&l, NS_LIMIT_PIDS));
}

/* What a new group has with no write: a period alone is not it. */
static void
test_default (void)
{
	NsLimits l;

	ns_limits_default (&l);
	g_assert_true (ns_limits_are_default (&l));
	l.cpu_period = 20000;
	g_assert_false (ns_limits_are_default (&l));
	ns_limits_default (&l);
	l.pids_max = 10;
	g_assert_false (ns_limits_are_default (&l));
	ns_limits_default (&l);
	l.memory_max = 1 << 20;
	g_assert_false (ns_limits_are_default (&l));
	ns_limits_default (&l);
	l.cpu_quota = 50000;
	g_assert_false (ns_limits_are_default (&l));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/limits/memory", test_memory);
	g_test_add_func ("/limits/pids", test_pids);
	g_test_add_func ("/limits/cpu", test_cpu);
	g_test_add_func ("/limits/translation", test_translation);
	g_test_add_func ("/limits/unlimited", test_unlimited);
	g_test_add_func ("/limits/default", test_default);
	return g_test_run ();
}
