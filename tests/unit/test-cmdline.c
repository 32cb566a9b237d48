/* Unit tests for common/cmdline.c: exec lines split like a shell would,
 * without expansion. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "cmdline.h"
#include "test-util.h"

#define END NULL

/* TEXT (LEN bytes, or up to its NUL when LEN is -1) must split into the
 * NULL-terminated WANT. */
static void
assert_split_len (const char *text, gssize len, const char *const *want)
{
	g_auto (GStrv) argv = NULL;
	NsError err;

	{
		/* TAP output must stay valid UTF-8 whatever the input bytes, and
		 * a length-bounded line need not be NUL-terminated. */
		g_autofree char *bounded = len < 0 ? g_strdup (text) : g_strndup (text, (gsize) len);
		g_autofree char *shown = g_strescape (bounded, NULL);
		g_test_message ("line: '%s'", shown);
	}
	ns_error_poison (&err);
	g_assert_cmpint (ns_cmdline_parse (text, len < 0 ? strlen (text) : (size_t) len, &argv, &err), ==, 0);
	g_assert_nonnull (argv);
	g_assert_cmpint (err.code, ==, 12345);
	g_assert_cmpstrv (argv, want);
}

#define assert_split(text, ...) assert_split_len ((text), -1, (const char *const[]) { __VA_ARGS__, END })

static void
assert_fails_len (const char *text, gssize len, const char *want)
{
	char **sentinel = (char **) &sentinel;
	char **argv = sentinel;
	NsError err;
	int r;

	{
		/* TAP output must stay valid UTF-8 whatever the input bytes, and
		 * a length-bounded line need not be NUL-terminated. */
		g_autofree char *bounded = len < 0 ? g_strdup (text) : g_strndup (text, (gsize) len);
		g_autofree char *shown = g_strescape (bounded, NULL);
		g_test_message ("line: '%s'", shown);
	}
	ns_error_poison (&err);
	r = ns_cmdline_parse (text, len < 0 ? strlen (text) : (size_t) len, &argv, &err);
	assert_ns_error (r, &err, EINVAL, want);
	g_assert_true (g_str_has_prefix (err.msg, "exec: "));
	g_assert_true (argv == sentinel);
}

#define assert_fails(text, want) assert_fails_len ((text), -1, (want))

static void
test_simple (void)
{
	assert_split ("true", "true");
	assert_split ("/bin/echo hello world", "/bin/echo", "hello", "world");
	assert_split ("echo hello\n", "echo", "hello");
	assert_split ("  echo \t  a   b  \t", "echo", "a", "b");
	assert_split ("echo hi\r\n", "echo", "hi");
	/* An escaped trailing blank is part of the last word, as in sh. */
	assert_split ("echo a\\ ", "echo", "a ");
	assert_split ("echo a\\ \n", "echo", "a ");
	assert_split ("echo a\\\t ", "echo", "a\t");
	assert_split ("echo a\\\\ ", "echo", "a\\");
	assert_split ("\\  ", " ");
	assert_split ("id -u", "id", "-u");
	assert_split ("env -i A=1 B=2 env", "env", "-i", "A=1", "B=2", "env");
}

static void
test_sh_c (void)
{
	assert_split ("sh -c \"hostname; id -u; echo $$\"", "sh", "-c", "hostname; id -u; echo $$");
	assert_split ("sh -c \"hostname; id -u; echo $$\"\n", "sh", "-c", "hostname; id -u; echo $$");
	assert_split ("sh -c 'echo \"$1\" | tr a-z A-Z' arg0 hello", "sh", "-c", "echo \"$1\" | tr a-z A-Z", "arg0",
	              "hello");
	assert_split ("sh -c 'for i in 1 2 3; do echo $i; done'", "sh", "-c", "for i in 1 2 3; do echo $i; done");
	assert_split ("sh -c 'echo a\nb'", "sh", "-c", "echo a\nb");
}

static void
test_quotes (void)
{
	assert_split ("echo 'a b' \"c d\"", "echo", "a b", "c d");
	assert_split ("echo ''", "echo", "");
	assert_split ("echo \"\"", "echo", "");
	assert_split ("echo '' ''", "echo", "", "");
	assert_split ("echo a''b", "echo", "ab");
	assert_split ("echo \"a\"'b'c", "echo", "abc");
	assert_split ("echo 'it'\\''s'", "echo", "it's");
	assert_split ("echo \"it's\"", "echo", "it's");
	assert_split ("echo '\"'", "echo", "\"");
	assert_split ("'/bin/my prog' x", "/bin/my prog", "x");
	assert_split ("echo '  lead and trail  '", "echo", "  lead and trail  ");
	assert_split ("echo 'tab\there'", "echo", "tab\there");
}

static void
test_backslashes (void)
{
	assert_split ("echo a\\ b", "echo", "a b");
	assert_split ("echo \\\"", "echo", "\"");
	assert_split ("echo \\'", "echo", "'");
	assert_split ("echo \\\\", "echo", "\\");
	assert_split ("echo \\a", "echo", "a");
	assert_split ("echo \"a\\\"b\"", "echo", "a\"b");
	assert_split ("echo \"a\\\\b\"", "echo", "a\\b");
	/* In double quotes a backslash only escapes $ ` " \ and newline. */
	assert_split ("echo \"a\\b\"", "echo", "a\\b");
	assert_split ("echo \"\\$HOME\"", "echo", "$HOME");
	assert_split ("echo \"\\`x\\`\"", "echo", "`x`");
	/* In single quotes a backslash is just a character. */
	assert_split ("echo 'a\\b'", "echo", "a\\b");
	assert_split ("echo 'a\\'", "echo", "a\\");
	/* Backslash-newline joins lines, in double quotes too (as sh does),
	 * but not in single quotes. */
	assert_split ("echo a\\\nb", "echo", "ab");
	assert_split ("printf %s \"x\\\ny\"", "printf", "%s", "xy");
	assert_split ("echo \"a\\\\\nb\"", "echo", "a\\\nb");
	assert_split ("echo 'a\\\nb'", "echo", "a\\\nb");
	assert_split ("echo \"a\\\n\\\nb\"", "echo", "ab");
}

static void
test_no_expansion (void)
{
	assert_split ("echo $HOME", "echo", "$HOME");
	assert_split ("echo ${HOME}", "echo", "${HOME}");
	assert_split ("echo \"$HOME\"", "echo", "$HOME");
	assert_split ("echo $$ $? $0", "echo", "$$", "$?", "$0");
	assert_split ("echo *", "echo", "*");
	assert_split ("ls /etc/*.conf", "ls", "/etc/*.conf");
	assert_split ("echo ~", "echo", "~");
	assert_split ("echo ~root/x", "echo", "~root/x");
	assert_split ("echo {a,b}", "echo", "{a,b}");
	assert_split ("echo $(id)", "echo", "$(id)");
	assert_split ("echo `id`", "echo", "`id`");
	assert_split ("A=1 env", "A=1", "env");
}

static void
test_no_pipes (void)
{
	/* Operators are plain characters unless they stand alone as words. */
	assert_split ("echo a|b", "echo", "a|b");
	assert_split ("echo a;b", "echo", "a;b");
	assert_split ("echo a&&b", "echo", "a&&b");
	assert_split ("echo a>b", "echo", "a>b");
	assert_split ("echo a | wc -c", "echo", "a", "|", "wc", "-c");
	assert_split ("echo a ; rm x", "echo", "a", ";", "rm", "x");
	assert_split ("sleep 1 &", "sleep", "1", "&");
	assert_split ("echo x > /tmp/f", "echo", "x", ">", "/tmp/f");
}

static void
test_comments (void)
{
	assert_split ("echo a # a comment", "echo", "a");
	assert_split ("echo a#b", "echo", "a#b");
	assert_split ("echo '#x'", "echo", "#x");
	assert_split ("echo \\#x", "echo", "#x");
	assert_fails ("# only a comment", "exec: empty command line");
}

static void
test_utf8_and_bytes (void)
{
	assert_split ("echo h\xc3\xa9llo w\xc3\xb6rld", "echo", "h\xc3\xa9llo", "w\xc3\xb6rld");
	assert_split ("echo \xff\xfe", "echo", "\xff\xfe");
	assert_split ("echo '\x01\x02'", "echo", "\x01\x02");
}

static void
test_long_line (void)
{
	g_autoptr (GString) s = g_string_new ("printf %s");
	g_auto (GStrv) argv = NULL;

	for (int i = 0; i < 10000; i++)
		g_string_append_printf (s, " 'arg %d'", i);
	g_assert_cmpint (ns_cmdline_parse (s->str, s->len, &argv, NULL), ==, 0);
	g_assert_cmpuint (g_strv_length (argv), ==, 10002);
	g_assert_cmpstr (argv[10001], ==, "arg 9999");
}

static void
test_empty (void)
{
	assert_fails ("", "exec: empty command line");
	assert_fails ("\n", "exec: empty command line");
	assert_fails ("   ", "exec: empty command line");
	assert_fails (" \t \n", "exec: empty command line");
	assert_fails ("\r\n", "exec: empty command line");
	assert_fails_len ("true", 0, "exec: empty command line");
}

static void
test_empty_program (void)
{
	assert_fails ("''", "exec: empty program name");
	assert_fails ("\"\"", "exec: empty program name");
	assert_fails ("'' echo", "exec: empty program name");
	assert_fails ("\"\" a b c\n", "exec: empty program name");
}

static void
test_unbalanced (void)
{
	assert_fails ("echo 'abc", "exec: cannot split the command line");
	assert_fails ("echo \"abc", "exec: cannot split the command line");
	assert_fails ("echo \"abc'", "exec: cannot split the command line");
	assert_fails ("echo 'a\nb", "exec: cannot split the command line");
	assert_fails ("sh -c \"echo $$\nid\n", "exec: cannot split the command line");
	assert_fails ("'", "exec: cannot split the command line");
	assert_fails ("echo a\\", "exec: cannot split the command line");
}

static void
test_nul (void)
{
	assert_fails_len ("echo a\0b", 8, "exec: command line contains a NUL byte");
	assert_fails_len ("echo\0", 5, "NUL");
	assert_fails_len ("\0\n", 2, "NUL");
	assert_fails_len ("echo a\0\n", 8, "NUL");
}

static void
test_len_bounded (void)
{
	static const char buf[] = "echo a 'b c'\nrm -rf /";
	g_autofree char *exact = g_memdup2 (buf, 13);

	assert_split_len (exact, 13, (const char *const[]) { "echo", "a", "b c", END });
}

static void
test_null_err (void)
{
	char **argv = NULL;
	g_assert_cmpint (ns_cmdline_parse ("'", 1, &argv, NULL), ==, -EINVAL);
	g_assert_cmpint (ns_cmdline_parse ("", 0, &argv, NULL), ==, -EINVAL);
	g_assert_null (argv);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/cmdline/simple", test_simple);
	g_test_add_func ("/cmdline/sh-c", test_sh_c);
	g_test_add_func ("/cmdline/quotes", test_quotes);
	g_test_add_func ("/cmdline/backslashes", test_backslashes);
	g_test_add_func ("/cmdline/no-expansion", test_no_expansion);
	g_test_add_func ("/cmdline/no-pipes", test_no_pipes);
	g_test_add_func ("/cmdline/comments", test_comments);
	g_test_add_func ("/cmdline/utf8-and-bytes", test_utf8_and_bytes);
	g_test_add_func ("/cmdline/long-line", test_long_line);
	g_test_add_func ("/cmdline/empty", test_empty);
	g_test_add_func ("/cmdline/empty-program", test_empty_program);
	g_test_add_func ("/cmdline/unbalanced-quotes", test_unbalanced);
	g_test_add_func ("/cmdline/nul", test_nul);
	g_test_add_func ("/cmdline/len-bounded", test_len_bounded);
	g_test_add_func ("/cmdline/null-err", test_null_err);
	return g_test_run ();
}
