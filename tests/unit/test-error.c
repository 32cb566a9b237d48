/* Unit tests for common/error.c: NsError, one errno and one line of words. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "error.h"
#include "test-util.h"

static void
test_error_basic (void)
{
	NsError err;

	ns_error_poison (&err);
	g_assert_cmpint (ns_error (&err, EINVAL, "%s: line %d: bad", "uid_map", 2), ==, -EINVAL);
	g_assert_cmpint (err.code, ==, EINVAL);
	g_assert_cmpstr (err.msg, ==, "uid_map: line 2: bad");

	g_assert_cmpint (ns_error (&err, EPERM, "plain"), ==, -EPERM);
	g_assert_cmpint (err.code, ==, EPERM);
	g_assert_cmpstr (err.msg, ==, "plain");
}

static void
test_error_null (void)
{
	g_assert_cmpint (ns_error (NULL, ENOENT, "nothing %d", 1), ==, -ENOENT);
	ns_error_prefix (NULL, "ctx");
	ns_error_clear (NULL);
}

static void
test_error_one_line (void)
{
	NsError err;

	ns_error (&err, EINVAL, "a\nb\r\nc\n");
	g_assert_cmpstr (err.msg, ==, "a b  c ");
	ns_error (&err, EINVAL, "value '%s'", "x\ny");
	g_assert_cmpstr (err.msg, ==, "value 'x y'");
	assert_ns_error (-EINVAL, &err, EINVAL, "value");
}

static void
test_error_truncated (void)
{
	g_autofree char *big = g_strnfill (1000, 'm');
	NsError err;

	ns_error (&err, E2BIG, "%s", big);
	g_assert_cmpuint (strlen (err.msg), ==, NS_ERROR_MSG_MAX - 1);
	g_assert_cmpint (err.code, ==, E2BIG);
}

static void
test_prefix (void)
{
	NsError err;

	ns_error (&err, EINVAL, "unknown directive 'x'");
	ns_error_prefix (&err, "line 3");
	g_assert_cmpstr (err.msg, ==, "line 3: unknown directive 'x'");
	g_assert_cmpint (err.code, ==, EINVAL);
	ns_error_prefix (&err, "ctl");
	g_assert_cmpstr (err.msg, ==, "ctl: line 3: unknown directive 'x'");

	ns_error_clear (&err);
	ns_error_prefix (&err, "ctx");
	g_assert_cmpstr (err.msg, ==, "ctx: ");
}

static void
test_prefix_truncates (void)
{
	g_autofree char *big = g_strnfill (NS_ERROR_MSG_MAX - 1, 'm');
	g_autofree char *huge_ctx = g_strnfill (1000, 'c');
	NsError err;

	ns_error (&err, EINVAL, "%s", big);
	ns_error_prefix (&err, "line 1");
	g_assert_cmpuint (strlen (err.msg), ==, NS_ERROR_MSG_MAX - 1);
	g_assert_true (g_str_has_prefix (err.msg, "line 1: mmm"));

	ns_error (&err, EINVAL, "tail");
	ns_error_prefix (&err, huge_ctx);
	g_assert_cmpuint (strlen (err.msg), <=, NS_ERROR_MSG_MAX - 1);
	g_assert_true (g_str_has_prefix (err.msg, "ccc"));
	g_assert_true (g_str_has_suffix (err.msg, ": "));
}

static void
test_clear (void)
{
	NsError err;

	ns_error (&err, EINVAL, "x");
	ns_error_clear (&err);
	g_assert_cmpint (err.code, ==, 0);
	g_assert_cmpstr (err.msg, ==, "");
}

/* error.h: msg is "one line, no trailing newline".  ns_error flattens
 * what it formats; a context given to ns_error_prefix must be too. */
static void
test_prefix_one_line (void)
{
	NsError err;

	ns_error (&err, EIO, "cannot read");
	ns_error_prefix (&err, "/tmp/a\nb");
	if (strpbrk (err.msg, "\r\n")) {
		g_autofree char *shown = g_strescape (err.msg, NULL);
		g_test_fail_printf ("ns_error_prefix made a message of two lines: \"%s\"", shown);
	}
}

/* What users wrote is quoted in messages that reach terminals: control
 * characters and bytes that are not UTF-8 come out as \xNN. */
static void
test_plain_text (void)
{
	NsError e;

	ns_error (&e, EINVAL, "bad '%s'", "\x1b]0;pwned\x07\x1b[2J");
	g_assert_cmpstr (e.msg, ==, "bad '\\x1b]0;pwned\\x07\\x1b[2J'");
	ns_error (&e, EINVAL, "bad '%s'", "caf\xc3\xa9 \xff\xfe");
	g_assert_cmpstr (e.msg, ==, "bad 'caf\xc3\xa9 \\xff\\xfe'");
	ns_error (&e, EINVAL, "%s", "tab\there\x7f");
	g_assert_cmpstr (e.msg, ==, "tab\\x09here\\x7f");
	g_assert_true (g_utf8_validate (e.msg, -1, NULL));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/error/basic", test_error_basic);
	g_test_add_func ("/error/null", test_error_null);
	g_test_add_func ("/error/one-line", test_error_one_line);
	g_test_add_func ("/error/truncated", test_error_truncated);
	g_test_add_func ("/error/prefix", test_prefix);
	g_test_add_func ("/error/prefix-truncates", test_prefix_truncates);
	g_test_add_func ("/error/clear", test_clear);
	/* Last: fails until ns_error_prefix keeps the message on one line. */
	g_test_add_func ("/error/prefix-one-line", test_prefix_one_line);
	g_test_add_func ("/error/plain-text", test_plain_text);
	return g_test_run ();
}
