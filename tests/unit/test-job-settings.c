/* common/job_settings.c: env, cwd, user. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "job_settings.h"
#include "test-util.h"

static void
env_bad (const char *text, int code, const char *want)
{
	char *out = (char *) "untouched";
	NsError err;

	assert_ns_error (ns_env_parse (text, strlen (text), &out, &err), &err, code, want);
	g_assert_cmpstr (out, ==, "untouched");
}

static void
test_env (void)
{
	g_autofree char *out = NULL;
	g_autoptr (GString) many = g_string_new (NULL);
	NsError err;

	const char *text = "LANG=C.UTF-8\n\nEDITOR=vi\n_X1=a=b c\nEMPTY=\n";

	g_assert_cmpint (ns_env_parse (text, strlen (text), &out, &err), ==, 0);
	g_assert_cmpstr (out, ==, "LANG=C.UTF-8\nEDITOR=vi\n_X1=a=b c\nEMPTY=\n");
	g_clear_pointer (&out, g_free);
	g_assert_cmpint (ns_env_parse ("", 0, &out, &err), ==, 0);
	g_assert_cmpstr (out, ==, "");
	env_bad ("A=1\nnoequals", EINVAL, "env: line 2: not KEY=VALUE");
	env_bad ("1A=1", EINVAL, "is not a KEY");
	env_bad ("A-B=1", EINVAL, "is not a KEY");
	env_bad ("=1", EINVAL, "is not a KEY");
	env_bad ("A=1\nA=2", EINVAL, "line 2: A given twice");
	for (int i = 0; i <= NS_ENV_MAX; i++)
		g_string_append_printf (many, "K%d=v\n", i);
	env_bad (many->str, E2BIG, "more than 256 lines");
}

static void
test_env_merge (void)
{
	char *const defaults[] = { "PATH=/bin", "HOME=/root", "TERM=dumb", NULL };
	g_auto (GStrv) a = ns_env_merge (defaults, "");
	g_auto (GStrv) b = ns_env_merge (defaults, "TERM=xterm\nLANG=C\n");
	g_auto (GStrv) c = ns_env_merge (defaults, "PATHX=1\n");

	g_assert_cmpuint (g_strv_length (a), ==, 3);
	g_assert_cmpstr (b[0], ==, "PATH=/bin");
	g_assert_cmpstr (b[1], ==, "HOME=/root");
	g_assert_cmpstr (b[2], ==, "TERM=xterm");
	g_assert_cmpstr (b[3], ==, "LANG=C");
	g_assert_null (b[4]);
	/* A KEY that only starts like a default's does not replace it. */
	g_assert_cmpuint (g_strv_length (c), ==, 4);
}

static void
test_cwd (void)
{
	g_autofree char *a = NULL, *b = NULL;
	char *untouched = (char *) "x";
	NsError err;

	g_assert_cmpint (ns_cwd_parse ("/tmp\n", 5, &a, &err), ==, 0);
	g_assert_cmpstr (a, ==, "/tmp");
	g_assert_cmpint (ns_cwd_parse ("\n", 1, &b, &err), ==, 0);
	g_assert_cmpstr (b, ==, "");
	assert_ns_error (ns_cwd_parse ("tmp", 3, &untouched, &err), &err, EINVAL, "not an absolute path");
	assert_ns_error (ns_cwd_parse ("/a\n/b", 5, &untouched, &err), &err, EINVAL, "must be a single line");
	assert_ns_error (ns_cwd_parse ("/a\0", 3, &untouched, &err), &err, EINVAL, "NUL");
	g_assert_cmpstr (untouched, ==, "x");
}

static void
test_user (void)
{
	NsJobUser u = { .set = true, .uid = 7 };
	g_autofree char *f1 = NULL, *f2 = NULL;
	NsError err;

	g_assert_cmpint (ns_user_parse ("1000\n", 5, &u, &err), ==, 0);
	g_assert_true (u.set && !u.gid_set && u.uid == 1000);
	f1 = ns_user_format (&u);
	g_assert_cmpstr (f1, ==, "1000");
	g_assert_cmpint (ns_user_parse ("0:5", 3, &u, &err), ==, 0);
	g_assert_true (u.set && u.gid_set && u.uid == 0 && u.gid == 5);
	f2 = ns_user_format (&u);
	g_assert_cmpstr (f2, ==, "0:5");
	g_assert_cmpint (ns_user_parse ("\n", 1, &u, &err), ==, 0);
	g_assert_false (u.set);
	u.uid = 9;
	assert_ns_error (ns_user_parse ("root", 4, &u, &err), &err, EINVAL, "not a uid");
	assert_ns_error (ns_user_parse ("1:x", 3, &u, &err), &err, EINVAL, "not a gid");
	assert_ns_error (ns_user_parse ("4294967295", 10, &u, &err), &err, EINVAL, "not a uid");
	assert_ns_error (ns_user_parse ("-1", 2, &u, &err), &err, EINVAL, "not a uid");
	assert_ns_error (ns_user_parse ("01", 2, &u, &err), &err, EINVAL, "not a uid");
	g_assert_cmpuint (u.uid, ==, 9);
}

static void
test_stdin (void)
{
	NsStdin in = { NS_STDIN_PIPE, 1, 1 };
	g_autofree char *a = NULL, *b = NULL;
	NsError err;

	g_assert_cmpint (ns_stdin_parse ("null\n", 5, &in, &err), ==, 0);
	g_assert_cmpint (in.mode, ==, NS_STDIN_NULL);
	g_assert_cmpint (ns_stdin_parse ("pipe", 4, &in, &err), ==, 0);
	g_assert_cmpint (in.mode, ==, NS_STDIN_PIPE);
	a = ns_stdin_format (&in);
	g_assert_cmpstr (a, ==, "pipe");
	g_assert_cmpint (ns_stdin_parse ("tty  40 120\n", 12, &in, &err), ==, 0);
	g_assert_true (in.mode == NS_STDIN_TTY && in.rows == 40 && in.cols == 120);
	b = ns_stdin_format (&in);
	g_assert_cmpstr (b, ==, "tty 40 120");
	g_assert_cmpint (ns_stdin_parse ("tty", 3, &in, &err), ==, 0);
	g_assert_true (in.rows == 24 && in.cols == 80);
	assert_ns_error (ns_stdin_parse ("tty 40", 6, &in, &err), &err, EINVAL, "not null, pipe or tty");
	assert_ns_error (ns_stdin_parse ("tty 0 80", 8, &in, &err), &err, EINVAL, "from 1 to 65535");
	assert_ns_error (ns_stdin_parse ("file", 4, &in, &err), &err, EINVAL, "not null, pipe or tty");
	assert_ns_error (ns_stdin_parse ("", 0, &in, &err), &err, EINVAL, "not null, pipe or tty");
	g_assert_true (in.mode == NS_STDIN_TTY && in.rows == 24);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/job-settings/env", test_env);
	g_test_add_func ("/job-settings/env-merge", test_env_merge);
	g_test_add_func ("/job-settings/cwd", test_cwd);
	g_test_add_func ("/job-settings/user", test_user);
	g_test_add_func ("/job-settings/stdin", test_stdin);
	return g_test_run ();
}
