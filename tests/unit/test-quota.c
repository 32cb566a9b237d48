/* nsfsd/quota.c: what one uid may hold at once. */
#include <errno.h>

#include <glib.h>

#include "quota.h"
#include "test-util.h"

static void
test_limit_per_uid_and_kind (void)
{
	NsError err;

	quota_set_limit (QUOTA_REQUESTS, 2);
	quota_set_limit (QUOTA_HANDLES, 1);
	g_assert_cmpint (quota_take (QUOTA_REQUESTS, 1000, &err), ==, 0);
	g_assert_cmpint (quota_take (QUOTA_REQUESTS, 1000, &err), ==, 0);
	assert_ns_error (quota_take (QUOTA_REQUESTS, 1000, &err), &err, EAGAIN, "--max-requests-per-user");
	/* Another uid, another kind: counted apart. */
	g_assert_cmpint (quota_take (QUOTA_REQUESTS, 1001, &err), ==, 0);
	g_assert_cmpint (quota_take (QUOTA_HANDLES, 1000, &err), ==, 0);
	assert_ns_error (quota_take (QUOTA_HANDLES, 1000, &err), &err, EMFILE, "--max-open-files-per-user");
	/* Given back, it can be taken again. */
	quota_give (QUOTA_REQUESTS, 1000);
	g_assert_cmpuint (quota_held (QUOTA_REQUESTS, 1000), ==, 1);
	g_assert_cmpint (quota_take (QUOTA_REQUESTS, 1000, &err), ==, 0);
	quota_give (QUOTA_REQUESTS, 1000);
	quota_give (QUOTA_REQUESTS, 1000);
	quota_give (QUOTA_REQUESTS, 1001);
	quota_give (QUOTA_HANDLES, 1000);
	g_assert_cmpuint (quota_held (QUOTA_REQUESTS, 1000), ==, 0);
	g_assert_cmpuint (quota_held (QUOTA_HANDLES, 1000), ==, 0);
}

static void
test_root_and_zero_are_unbounded (void)
{
	NsError err;

	quota_set_limit (QUOTA_READERS, 1);
	for (int i = 0; i < 100; i++)
		g_assert_cmpint (quota_take (QUOTA_READERS, 0, &err), ==, 0);
	g_assert_cmpuint (quota_held (QUOTA_READERS, 0), ==, 0);
	quota_set_limit (QUOTA_READERS, 0);
	for (int i = 0; i < 100; i++)
		g_assert_cmpint (quota_take (QUOTA_READERS, 1000, &err), ==, 0);
	g_assert_cmpuint (quota_held (QUOTA_READERS, 1000), ==, 100);
	for (int i = 0; i < 100; i++)
		quota_give (QUOTA_READERS, 1000);
	g_assert_cmpuint (quota_held (QUOTA_READERS, 1000), ==, 0);
	/* More given than taken is not a negative count. */
	quota_give (QUOTA_READERS, 1000);
	g_assert_cmpuint (quota_held (QUOTA_READERS, 1000), ==, 0);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/quota/limit-per-uid-and-kind", test_limit_per_uid_and_kind);
	g_test_add_func ("/quota/root-and-zero-are-unbounded", test_root_and_zero_are_unbounded);
	return g_test_run ();
}
