/* Unit tests for common/names.c: sandbox names, written values, hostnames
 * and rootfs paths. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "names.h"
#include "test-util.h"

static bool
name_ok (const char *name)
{
	return ns_name_valid (name, strlen (name));
}

static void
test_name_valid (void)
{
	static const char *const good[] = {
		"a", "A", "z", "Z", "0", "9", "_", "box", "my-box", "my_box", "my.box", "a.", "a-", "a..b", "_hidden",
		"0day", "ABC-def_123.456", "a-.-_", "__", "1.2.3",
	};
	for (size_t i = 0; i < G_N_ELEMENTS (good); i++) {
		g_test_message ("name: '%s'", good[i]);
		g_assert_true (name_ok (good[i]));
	}
}

static void
test_name_invalid (void)
{
	static const char *const bad[] = {
		"", ".", "..", ".a", "-a", "-", ".hidden", "--help", "a/b", "/", "a b", " a", "a ", "a\tb", "a\n", "\n",
		"a:b", "a*", "a?", "a@b", "a+b", "a~", "a\\b", "\xc3\xa9", "caf\xc3\xa9", "a\x7f", "a,b", "a=b", "a$",
		"'a'", "\"a\"",
	};
	for (size_t i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_test_message ("name: '%s'", bad[i]);
		g_assert_false (name_ok (bad[i]));
	}
}

static void
test_name_length (void)
{
	g_autofree char *n64 = g_strnfill (64, 'a');
	g_autofree char *n65 = g_strnfill (65, 'a');
	g_autofree char *n4096 = g_strnfill (4096, 'a');

	g_assert_true (name_ok (n64));
	g_assert_false (name_ok (n65));
	g_assert_false (name_ok (n4096));
	/* LEN counts, not the NUL. */
	g_assert_true (ns_name_valid (n65, 64));
	g_assert_true (ns_name_valid (n65, 1));
	g_assert_false (ns_name_valid (n65, 0));
	g_assert_true (ns_name_valid ("ab/", 2));
	g_assert_false (ns_name_valid ("ab/", 3));
}

static void
test_name_nul (void)
{
	g_assert_false (ns_name_valid ("a\0b", 3));
	g_assert_false (ns_name_valid ("\0", 1));
	g_assert_false (ns_name_valid ("ab\0", 3));
}

static void
test_name_every_byte (void)
{
	for (int c = 0; c < 256; c++) {
		char first[1] = { (char) c };
		char second[2] = { 'a', (char) c };
		bool in_set = g_ascii_isalnum (c) || c == '_' || c == '.' || c == '-';

		g_assert_cmpint (ns_name_valid (first, 1), ==, in_set && c != '.' && c != '-');
		g_assert_cmpint (ns_name_valid (second, 2), ==, in_set);
	}
}

/* ns_value_line */

static void
assert_value (const char *buf, size_t len, const char *want)
{
	char *out = (char *) "untouched";
	NsError err;

	ns_error_poison (&err);
	g_assert_cmpint (ns_value_line (buf, len, "hostname", &out, &err), ==, 0);
	g_assert_cmpstr (out, ==, want);
	g_assert_cmpint (err.code, ==, 12345);
	g_free (out);
}

static void
assert_value_fails (const char *buf, size_t len, const char *want)
{
	static char untouched[] = "untouched";
	char *out = untouched;
	NsError err;
	int r;

	ns_error_poison (&err);
	r = ns_value_line (buf, len, "rootfs", &out, &err);
	assert_ns_error (r, &err, EINVAL, want);
	g_assert_true (g_str_has_prefix (err.msg, "rootfs: "));
	g_assert_true (out == untouched);
}

static void
test_value_line (void)
{
	assert_value ("abc", 3, "abc");
	assert_value ("abc\n", 4, "abc");
	assert_value ("\n", 1, "");
	assert_value ("", 0, "");
	assert_value ("  spaced  ", 10, "  spaced  ");
	assert_value ("tab\there", 8, "tab\there");
	assert_value ("cr\r\n", 4, "cr\r"); /* only the newline is dropped */
	assert_value ("abc\nxyz", 4, "abc"); /* LEN bounds the read */
	assert_value ("/srv/root/\n", 11, "/srv/root/");
	assert_value ("\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9");
}

static void
test_value_line_long (void)
{
	g_autofree char *big = g_strnfill (100000, 'x');
	char *out = NULL;

	big[99999] = '\n';
	g_assert_cmpint (ns_value_line (big, 100000, "rootfs", &out, NULL), ==, 0);
	g_assert_cmpuint (strlen (out), ==, 99999);
	g_free (out);
}

static void
test_value_line_invalid (void)
{
	assert_value_fails ("a\nb", 3, "rootfs: value must be a single line");
	assert_value_fails ("abc\n\n", 5, "rootfs: value must be a single line");
	assert_value_fails ("\n\n", 2, "single line");
	assert_value_fails ("\nabc", 4, "single line");
	assert_value_fails ("a\0b", 3, "rootfs: value contains a NUL byte");
	assert_value_fails ("abc\0", 4, "NUL");
	assert_value_fails ("abc\0\n", 5, "NUL");
	assert_value_fails ("\0", 1, "NUL");
	assert_value_fails ("a\nb\0", 4, "rootfs: ");
}

static void
test_value_line_null_err (void)
{
	char *out = NULL;
	g_assert_cmpint (ns_value_line ("a\nb", 3, "x", &out, NULL), ==, -EINVAL);
	g_assert_null (out);
}

/* ns_hostname_check */

static void
assert_hostname_fails (const char *h, const char *want)
{
	NsError err;
	int r;

	g_test_message ("hostname: '%s'", h);
	ns_error_poison (&err);
	r = ns_hostname_check (h, &err);
	assert_ns_error (r, &err, EINVAL, want);
	g_assert_true (g_str_has_prefix (err.msg, "hostname: "));
}

static void
test_hostname (void)
{
	static const char *const good[] = {
		"a", "Z", "0", "box", "my-box", "host.example.org", "a.b-c.d", "123", "UPPER", "-", ".", "a--b", "a..b",
	};
	g_autofree char *h64 = g_strnfill (64, 'h');
	NsError err;

	for (size_t i = 0; i < G_N_ELEMENTS (good); i++) {
		g_test_message ("hostname: '%s'", good[i]);
		ns_error_poison (&err);
		g_assert_cmpint (ns_hostname_check (good[i], &err), ==, 0);
		g_assert_cmpint (err.code, ==, 12345);
	}
	g_assert_cmpint (ns_hostname_check (h64, NULL), ==, 0);
}

static void
test_hostname_invalid (void)
{
	g_autofree char *h65 = g_strnfill (65, 'h');
	g_autofree char *h1000 = g_strnfill (1000, 'h');

	assert_hostname_fails ("", "hostname: empty (1 to 64 characters)");
	assert_hostname_fails (h65, "hostname: 65 characters, at most 64 allowed");
	assert_hostname_fails (h1000, "hostname: 1000 characters, at most 64 allowed");
	assert_hostname_fails ("my_box", "hostname: character 3 is not a letter, digit, '-' or '.'");
	assert_hostname_fails ("a b", "character 2");
	assert_hostname_fails (" a", "character 1");
	assert_hostname_fails ("a\n", "character 2");
	assert_hostname_fails ("a\tb", "character 2");
	assert_hostname_fails ("h\xc3\xa9", "character 2");
	assert_hostname_fails ("a/b", "character 2");
	assert_hostname_fails ("a:b", "character 2");
	assert_hostname_fails ("a\x7f", "character 2");
	g_assert_cmpint (ns_hostname_check ("a_b", NULL), ==, -EINVAL);
}

static void
test_hostname_every_byte (void)
{
	for (int c = 1; c < 256; c++) {
		char h[3] = { 'a', (char) c, '\0' };
		bool ok = g_ascii_isalnum (c) || c == '-' || c == '.';
		g_assert_cmpint (ns_hostname_check (h, NULL), ==, ok ? 0 : -EINVAL);
	}
}

/* ns_rootfs_path_check */

static void
assert_rootfs_fails (const char *p, int code, const char *want)
{
	NsError err;
	int r;

	ns_error_poison (&err);
	r = ns_rootfs_path_check (p, &err);
	assert_ns_error (r, &err, code, want);
	g_assert_true (g_str_has_prefix (err.msg, "rootfs: "));
}

static void
test_rootfs (void)
{
	static const char *const good[] = {
		"", "/", "/srv/root", "/srv/root/", "//x", "/a b", "/../..", "/\xc3\xa9", "/a:b",
	};
	NsError err;

	for (size_t i = 0; i < G_N_ELEMENTS (good); i++) {
		ns_error_poison (&err);
		g_assert_cmpint (ns_rootfs_path_check (good[i], &err), ==, 0);
		g_assert_cmpint (err.code, ==, 12345);
	}
}

static void
test_rootfs_invalid (void)
{
	g_autofree char *rel64 = g_strnfill (200, 'r');

	assert_rootfs_fails ("srv/root", EINVAL, "rootfs: 'srv/root' is not an absolute path");
	assert_rootfs_fails ("./x", EINVAL, "'./x' is not an absolute path");
	assert_rootfs_fails ("~/x", EINVAL, "is not an absolute path");
	assert_rootfs_fails (" /x", EINVAL, "is not an absolute path");
	assert_rootfs_fails (".", EINVAL, "is not an absolute path");
	/* Long relative paths are cut short in the message. */
	assert_rootfs_fails (rel64, EINVAL, "is not an absolute path");
	{
		NsError err;
		ns_rootfs_path_check (rel64, &err);
		g_assert_cmpuint (strlen (err.msg), <, 120);
	}
}

static void
test_rootfs_length (void)
{
	g_autofree char *p4096 = g_strnfill (4096, 'p');
	g_autofree char *p4097 = g_strnfill (4097, 'p');

	p4096[0] = '/';
	p4097[0] = '/';
	g_assert_cmpint (ns_rootfs_path_check (p4096, NULL), ==, 0);
	assert_rootfs_fails (p4097, E2BIG, "rootfs: path is 4097 bytes, at most 4096 allowed");
}

/* names.h promises "with no NUL or newline": a newline must be refused.
 * (Reported with g_test_fail so the other cases still run.) */
static void
test_rootfs_newline (void)
{
	static const char *const paths[] = { "/srv/a\nb", "/srv/root\n", "/\n" };

	for (size_t i = 0; i < G_N_ELEMENTS (paths); i++) {
		NsError err;
		int r;

		ns_error_poison (&err);
		r = ns_rootfs_path_check (paths[i], &err);
		if (r != -EINVAL || err.code != EINVAL || strchr (err.msg, '\n') || !g_str_has_prefix (err.msg, "rootfs: ")) {
			g_autofree char *shown = g_strescape (paths[i], NULL);
			g_test_fail_printf ("ns_rootfs_path_check (\"%s\") returned %d, want -EINVAL with a 'rootfs: ' message",
			                    shown, r);
		}
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/names/name/valid", test_name_valid);
	g_test_add_func ("/names/name/invalid", test_name_invalid);
	g_test_add_func ("/names/name/64-vs-65", test_name_length);
	g_test_add_func ("/names/name/nul", test_name_nul);
	g_test_add_func ("/names/name/every-byte", test_name_every_byte);
	g_test_add_func ("/names/value-line/valid", test_value_line);
	g_test_add_func ("/names/value-line/long", test_value_line_long);
	g_test_add_func ("/names/value-line/invalid", test_value_line_invalid);
	g_test_add_func ("/names/value-line/null-err", test_value_line_null_err);
	g_test_add_func ("/names/hostname/valid", test_hostname);
	g_test_add_func ("/names/hostname/invalid", test_hostname_invalid);
	g_test_add_func ("/names/hostname/every-byte", test_hostname_every_byte);
	g_test_add_func ("/names/rootfs/valid", test_rootfs);
	g_test_add_func ("/names/rootfs/invalid", test_rootfs_invalid);
	g_test_add_func ("/names/rootfs/4096-vs-4097", test_rootfs_length);
	/* Last: fails until common/names.c checks for newlines. */
	g_test_add_func ("/names/rootfs/newline", test_rootfs_newline);
	return g_test_run ();
}
