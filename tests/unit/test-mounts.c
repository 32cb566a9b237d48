/* common/mounts.c: the `mounts` file (INTERFACE §7). */
#include <errno.h>

#include <glib.h>

#include "mounts.h"
#include "test-util.h"

static NsMountList *
parse_ok (const char *text)
{
	NsMountList *list = g_new0 (NsMountList, 1);
	NsError err = { 0 };

	if (ns_mounts_parse (text, strlen (text), list, &err) != 0)
		g_error ("%s: %s", text, err.msg);
	return list;
}

static void
list_free (NsMountList *list)
{
	ns_mounts_clear (list);
	g_free (list);
}

static void
test_the_issues_example (void)
{
	NsMountList *l = parse_ok ("overlay\nbind /home/me/src /src\ntmpfs /tmp size=256m mode=1777\n"
	                           "bind /etc/resolv.conf /etc/resolv.conf ro\n");
	g_autofree char *text = ns_mounts_format (l);

	g_assert_cmpuint (l->n, ==, 4);
	g_assert_cmpint (l->m[0].kind, ==, NS_MOUNT_OVERLAY);
	g_assert_cmpint (l->m[1].kind, ==, NS_MOUNT_BIND);
	g_assert_cmpstr (l->m[1].src, ==, "/home/me/src");
	g_assert_cmpstr (l->m[1].dst, ==, "/src");
	g_assert_false (l->m[1].ro);
	g_assert_cmpint (l->m[2].kind, ==, NS_MOUNT_TMPFS);
	g_assert_cmpstr (l->m[2].dst, ==, "/tmp");
	g_assert_cmpuint (l->m[2].size, ==, 256u << 20);
	g_assert_cmpuint (l->m[2].mode, ==, 01777);
	g_assert_true (l->m[3].ro);
	g_assert_cmpuint (l->m[3].line, ==, 4);
	g_assert_cmpstr (text, ==, "overlay\nbind /home/me/src /src\ntmpfs /tmp size=268435456 mode=01777\n"
	                           "bind /etc/resolv.conf /etc/resolv.conf ro\n");
	list_free (l);
}

static void
test_defaults_blanks_and_the_empty_value (void)
{
	NsMountList *l = parse_ok ("\n  tmpfs\t/run  \r\n\n");
	g_autofree char *text = ns_mounts_format (l);

	g_assert_cmpuint (l->n, ==, 1);
	g_assert_cmpuint (l->m[0].line, ==, 2);
	g_assert_cmpuint (l->m[0].size, ==, 0);
	g_assert_cmpuint (l->m[0].mode, ==, 0755);
	g_assert_cmpstr (text, ==, "tmpfs /run mode=0755\n");
	list_free (l);
	/* `echo > mounts`: none. */
	l = parse_ok ("\n");
	g_assert_cmpuint (l->n, ==, 0);
	list_free (l);
	l = parse_ok ("");
	g_assert_cmpuint (l->n, ==, 0);
	list_free (l);
	/* `.` components and repeated slashes are not climbing out. */
	l = parse_ok ("bind /a/./b //c/d..e/...\ntmpfs /x size=1 mode=0\ntmpfs /y size=2K\ntmpfs /z size=3g");
	g_assert_cmpuint (l->m[1].size, ==, 1);
	g_assert_cmpuint (l->m[1].mode, ==, 0);
	g_assert_cmpuint (l->m[2].size, ==, 2048);
	g_assert_cmpuint (l->m[3].size, ==, 3ull << 30);
	list_free (l);
}

static void
expect_error_len (const char *text, size_t len, int code, const char *want)
{
	NsMountList list, ref;
	NsError err;
	int r;

	memset (&list, 0x5a, sizeof list);
	ref = list;
	ns_error_poison (&err);
	r = ns_mounts_parse (text, len, &list, &err);
	assert_ns_error (r, &err, code, want);
	g_assert_true (memcmp (&list, &ref, sizeof list) == 0);
}

static void
expect_error (const char *text, int code, const char *want)
{
	expect_error_len (text, strlen (text), code, want);
}

static void
test_malformed_lines_are_refused_whole (void)
{
	expect_error ("bind /a /b\nbind a /b\n", EINVAL, "mounts: line 2: source a is not an absolute path");
	expect_error ("bind /a b", EINVAL, "destination b is not an absolute path");
	expect_error ("bind /a/../etc /b", EINVAL, "'..' component");
	expect_error ("bind /a /b/..", EINVAL, "'..' component");
	expect_error ("bind /a /b rw", EINVAL, "unknown option 'rw'");
	expect_error ("bind /a", EINVAL, "usage: bind SRC DST [ro]");
	expect_error ("bind /a /b ro x", EINVAL, "wrong number of words");
	expect_error ("tmpfs", EINVAL, "usage: tmpfs DST");
	expect_error ("tmpfs /t size=", EINVAL, "not a size");
	expect_error ("tmpfs /t size=0", EINVAL, "size=0");
	expect_error ("tmpfs /t size=12t", EINVAL, "not a size");
	expect_error ("tmpfs /t size=99999999999999999999", EINVAL, "too large");
	expect_error ("tmpfs /t size=17179869184g", EINVAL, "too large");
	expect_error ("tmpfs /t mode=0888", EINVAL, "not an octal mode");
	expect_error ("tmpfs /t mode=17777", EINVAL, "more than 07777");
	expect_error ("tmpfs /t mode=", EINVAL, "needs an octal mode");
	expect_error ("tmpfs /t size=1 size=2", EINVAL, "size= given twice");
	expect_error ("tmpfs /t mode=1 mode=2", EINVAL, "mode= given twice");
	expect_error ("tmpfs /t uid=0", EINVAL, "unknown tmpfs option 'uid=0'");
	expect_error ("overlay x", EINVAL, "usage: overlay");
	expect_error ("overlay\n\noverlay", EINVAL, "mounts: line 3: overlay given twice");
	expect_error ("proc /proc", EINVAL, "unknown mount 'proc'");
	expect_error_len ("bind /a\0 /b", 11, EINVAL, "NUL");
	expect_error ("bind /a /", EINVAL, "destination / is the sandbox's root");
	expect_error ("tmpfs //", EINVAL, "destination / is the sandbox's root");
	expect_error ("bind /a\xff /b", EINVAL, "not valid UTF-8");
}

static void
test_overlay_is_found (void)
{
	NsMountList list;
	NsError err;

	g_assert_cmpint (ns_mounts_parse ("bind /a /b\n", 11, &list, &err), ==, 0);
	g_assert_false (ns_mounts_has_overlay (&list));
	ns_mounts_clear (&list);
	g_assert_cmpint (ns_mounts_parse ("tmpfs /t\noverlay\n", 17, &list, &err), ==, 0);
	g_assert_true (ns_mounts_has_overlay (&list));
	ns_mounts_clear (&list);
}

static void
test_limits (void)
{
	g_autoptr (GString) many = g_string_new (NULL);
	g_autofree char *long_path = g_strnfill (NS_MOUNT_PATH_MAX, 'a');
	g_autofree char *text = NULL;
	NsMountList *l;

	for (int i = 0; i < NS_MOUNTS_MAX; i++)
		g_string_append_printf (many, "tmpfs /t%d\n", i);
	l = parse_ok (many->str);
	g_assert_cmpuint (l->n, ==, NS_MOUNTS_MAX);
	list_free (l);
	g_string_append (many, "tmpfs /one-too-many\n");
	expect_error (many->str, E2BIG, "more than 64 lines");
	long_path[0] = '/';
	text = g_strdup_printf ("tmpfs %s", long_path);
	expect_error (text, E2BIG, "longer than 4095 bytes");
}

static void
test_copy_is_deep (void)
{
	NsMountList *l = parse_ok ("bind /a /b ro\ntmpfs /c");
	NsMountList copy;

	ns_mounts_copy (&copy, l);
	list_free (l);
	g_assert_cmpstr (copy.m[0].src, ==, "/a");
	g_assert_cmpstr (copy.m[1].dst, ==, "/c");
	ns_mounts_clear (&copy);
	g_assert_cmpuint (copy.n, ==, 0);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/mounts/the-issues-example", test_the_issues_example);
	g_test_add_func ("/mounts/defaults-blanks-and-the-empty-value", test_defaults_blanks_and_the_empty_value);
	g_test_add_func ("/mounts/malformed-lines-are-refused-whole", test_malformed_lines_are_refused_whole);
	g_test_add_func ("/mounts/limits", test_limits);
	g_test_add_func ("/mounts/overlay-is-found", test_overlay_is_found);
	g_test_add_func ("/mounts/copy-is-deep", test_copy_is_deep);
	return g_test_run ();
}
