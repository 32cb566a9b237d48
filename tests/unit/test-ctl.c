/* Unit tests for common/ctl.c: the ctl directive parser. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>

#include <glib.h>

#include "ctl.h"
#include "nstypes.h"
#include "test-util.h"

static int
parse (const char *text, NsCtlScript *script, NsError *err)
{
	return ns_ctl_parse (text, strlen (text), script, err);
}

static void
poison (NsCtlScript *s)
{
	memset (s, 0xa5, sizeof *s);
}

static void
assert_poisoned (const NsCtlScript *s)
{
	NsCtlScript ref;
	poison (&ref);
	g_assert_cmpmem (s, sizeof *s, &ref, sizeof ref);
}

/* TEXT (LEN bytes, or up to its NUL when LEN is -1) must fail with CODE,
 * leave the script untouched and say WANT. */
static void
assert_fails (const char *text, gssize len, int code, const char *want)
{
	NsCtlScript s;
	NsError err;
	int r;

	g_test_message ("input: '%s'", text);
	poison (&s);
	ns_error_poison (&err);
	r = ns_ctl_parse (text, len < 0 ? strlen (text) : (size_t) len, &s, &err);
	assert_ns_error (r, &err, code, want);
	assert_poisoned (&s);
}

static void
assert_one (const char *text, NsCtlVerb verb)
{
	NsCtlScript s;

	g_test_message ("input: '%s'", text);
	poison (&s);
	g_assert_cmpint (parse (text, &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, 1);
	g_assert_cmpint (s.cmd[0].verb, ==, verb);
}

static void
test_start_stop (void)
{
	NsCtlScript s;

	assert_one ("start", NS_CTL_START);
	assert_one ("start\n", NS_CTL_START);
	assert_one ("stop", NS_CTL_STOP);
	assert_one ("stop\n", NS_CTL_STOP);
	assert_one ("  stop  \t", NS_CTL_STOP);
	assert_one ("start\r\n", NS_CTL_START);
	assert_one ("pin", NS_CTL_PIN);
	assert_one ("unpin\n", NS_CTL_UNPIN);
	assert_fails ("pin net", -1, EINVAL, "line 1: pin: wrong number of arguments (usage: pin)");
	assert_fails ("unpin all", -1, EINVAL, "line 1: unpin: wrong number of arguments (usage: unpin)");
	poison (&s);
	g_assert_cmpint (parse ("start", &s, NULL), ==, 0);
	g_assert_cmpuint (s.cmd[0].ns_set, ==, 0);
	g_assert_cmpint (s.cmd[0].signo, ==, 0);
}

static void
test_kill (void)
{
	static const struct {
		const char *text;
		int signo;
	} cases[] = {
		{ "kill", SIGKILL },
		{ "kill\n", SIGKILL },
		{ "kill TERM", SIGTERM },
		{ "kill SIGTERM", SIGTERM },
		{ "kill term", SIGTERM },
		{ "kill 15", SIGTERM },
		{ "kill 9", SIGKILL },
		{ "kill HUP\n", SIGHUP },
		{ "kill\tUSR1", SIGUSR1 },
		{ "kill RTMIN+2", -2 },
	};

	for (size_t i = 0; i < G_N_ELEMENTS (cases); i++) {
		NsCtlScript s;
		int want = cases[i].signo == -2 ? SIGRTMIN + 2 : cases[i].signo;

		poison (&s);
		g_assert_cmpint (parse (cases[i].text, &s, NULL), ==, 0);
		g_assert_cmpuint (s.n, ==, 1);
		g_assert_cmpint (s.cmd[0].verb, ==, NS_CTL_KILL);
		g_assert_cmpint (s.cmd[0].signo, ==, want);
		g_assert_cmpuint (s.cmd[0].ns_set, ==, 0);
	}
	assert_fails ("kill FOO", -1, EINVAL, "line 1: kill: unknown signal 'FOO'");
	assert_fails ("kill 0", -1, EINVAL, "line 1: kill: unknown signal '0'");
	assert_fails ("kill -9", -1, EINVAL, "unknown signal '-9'");
	assert_fails ("kill 9 9", -1, EINVAL, "line 1: kill: wrong number of arguments (usage: kill [SIGNAL])");
}

static void
test_ns (void)
{
	NsCtlScript s;

	poison (&s);
	g_assert_cmpint (parse ("ns user", &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, 1);
	g_assert_cmpint (s.cmd[0].verb, ==, NS_CTL_NS);
	g_assert_cmpuint (s.cmd[0].ns_set, ==, CLONE_NEWUSER);
	g_assert_cmpint (s.cmd[0].signo, ==, 0);

	g_assert_cmpint (parse ("ns cgroup ipc mnt net pid time user uts\n", &s, NULL), ==, 0);
	g_assert_cmpuint (s.cmd[0].ns_set, ==, ns_all_flags ());

	g_assert_cmpint (parse ("ns uts user time pid net mnt ipc cgroup", &s, NULL), ==, 0);
	g_assert_cmpuint (s.cmd[0].ns_set, ==, ns_all_flags ());

	g_assert_cmpint (parse ("\tns   user \t pid  mnt\t\n", &s, NULL), ==, 0);
	g_assert_cmpuint (s.cmd[0].ns_set, ==, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS);

	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_autofree char *line = g_strdup_printf ("ns %s", ns_types[i].name);
		g_assert_cmpint (parse (line, &s, NULL), ==, 0);
		g_assert_cmpuint (s.cmd[0].ns_set, ==, ns_types[i].flag);
	}

	assert_fails ("ns", -1, EINVAL, "line 1: ns: wrong number of arguments (usage: ns TYPE...)");
	assert_fails ("ns   \n", -1, EINVAL, "ns: wrong number of arguments");
	assert_fails ("ns user user", -1, EINVAL, "line 1: ns: 'user' given twice");
	assert_fails ("ns pid user mnt pid", -1, EINVAL, "line 1: ns: 'pid' given twice");
	assert_fails ("ns foo", -1, EINVAL, "line 1: ns: unknown namespace type 'foo'");
	assert_fails ("ns USER", -1, EINVAL, "unknown namespace type 'USER'");
	assert_fails ("ns mount", -1, EINVAL, "unknown namespace type 'mount'");
	assert_fails ("ns user,pid", -1, EINVAL, "unknown namespace type 'user,pid'");
	/* Nine words can only hold a repeat: it is refused by count. */
	assert_fails ("ns cgroup ipc mnt net pid time user uts uts", -1, EINVAL, "ns: wrong number of arguments");
}

static void
test_script (void)
{
	NsCtlScript s;

	poison (&s);
	g_assert_cmpint (parse ("ns user pid mnt\nstart\nkill TERM\nstop\n", &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, 4);
	g_assert_cmpint (s.cmd[0].verb, ==, NS_CTL_NS);
	g_assert_cmpuint (s.cmd[0].ns_set, ==, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS);
	g_assert_cmpint (s.cmd[1].verb, ==, NS_CTL_START);
	g_assert_cmpint (s.cmd[2].verb, ==, NS_CTL_KILL);
	g_assert_cmpint (s.cmd[2].signo, ==, SIGTERM);
	g_assert_cmpint (s.cmd[3].verb, ==, NS_CTL_STOP);

	/* Blank lines are ignored anywhere. */
	g_assert_cmpint (parse ("\n\n  \n\tstart\n\n\r\nstop\n\n", &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, 2);
	g_assert_cmpint (s.cmd[0].verb, ==, NS_CTL_START);
	g_assert_cmpint (s.cmd[1].verb, ==, NS_CTL_STOP);
	/* Each directive knows its line, blank ones counted, so a directive
	 * that fails when it is run can say where it stood. */
	g_assert_cmpuint (s.cmd[0].line, ==, 4);
	g_assert_cmpuint (s.cmd[1].line, ==, 7);

	/* The same directive twice is allowed. */
	g_assert_cmpint (parse ("start\nstart", &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, 2);
}

static void
test_whole_write_checked_first (void)
{
	/* A bad later line rejects the whole write, naming that line. */
	assert_fails ("ns user\nstart\nbogus\n", -1, EINVAL, "line 3: unknown directive 'bogus'");
	assert_fails ("\n\nbogus", -1, EINVAL, "line 3: unknown directive 'bogus'");
	assert_fails ("start\nns user\nkill NOPE", -1, EINVAL, "line 3: kill: unknown signal 'NOPE'");
	assert_fails ("start\nstop now", -1, EINVAL, "line 2: stop: wrong number of arguments (usage: stop)");
}

static void
test_unknown_directive (void)
{
	static const char *const bad[] = {
		"bogus", "START", "Start", "st art", "starts", "kil", "nss user", "#start", "-start", "start;",
		"\xc3\xa9", "ns\xc2\xa0user", "ns\vuser",
	};
	for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
		assert_fails (bad[i], -1, EINVAL, "line 1: unknown directive '");
	assert_fails ("bogus arg arg", -1, EINVAL,
	              "line 1: unknown directive 'bogus' (known: ns, start, stop, kill, pin, unpin)");
}

static void
test_long_word (void)
{
	g_autofree char *word = g_strnfill (1000, 'z');
	g_autofree char *want = g_strdup_printf ("unknown directive '%.32s'", word);
	g_autofree char *huge_ns = g_strdup_printf ("ns %s", word);
	NsCtlScript s;
	NsError err;
	int r;

	assert_fails (word, -1, EINVAL, want);
	assert_fails (huge_ns, -1, EINVAL, "unknown namespace type 'zzzz");
	poison (&s);
	r = ns_ctl_parse (huge_ns, strlen (huge_ns), &s, &err);
	assert_ns_error (r, &err, EINVAL, NULL);
	g_assert_cmpuint (strlen (err.msg), <, 200);
}

static void
test_wrong_arg_counts (void)
{
	assert_fails ("start now", -1, EINVAL, "line 1: start: wrong number of arguments (usage: start)");
	assert_fails ("start 1 2 3", -1, EINVAL, "start: wrong number of arguments");
	assert_fails ("stop 5", -1, EINVAL, "line 1: stop: wrong number of arguments (usage: stop)");
	assert_fails ("kill 9 TERM", -1, EINVAL, "kill: wrong number of arguments (usage: kill [SIGNAL])");
	assert_fails ("ns", -1, EINVAL, "ns: wrong number of arguments (usage: ns TYPE...)");
}

static void
test_empty (void)
{
	assert_fails ("", -1, EINVAL, "no directive");
	assert_fails ("\n", -1, EINVAL, "no directive");
	assert_fails ("\n\n\n", -1, EINVAL, "no directive");
	assert_fails (" \t \r\n \n", -1, EINVAL, "no directive");
	assert_fails ("\f\n\f", -1, EINVAL, "no directive");
	assert_fails ("start", 0, EINVAL, "no directive");
}

static void
test_nul (void)
{
	assert_fails ("start\0", 6, EINVAL, "NUL");
	assert_fails ("\0", 1, EINVAL, "NUL");
	assert_fails ("st\0art", 6, EINVAL, "NUL");
	assert_fails ("start\n\0\n", 8, EINVAL, "NUL");
}

static void
test_len_bounded (void)
{
	static const char buf[] = "start\nbogus";
	g_autofree char *exact = g_memdup2 (buf, 6);
	NsCtlScript s;

	g_assert_cmpint (ns_ctl_parse (exact, 6, &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, 1);
}

static void
test_directive_limit (void)
{
	g_autoptr (GString) t = g_string_new (NULL);
	NsCtlScript s;

	for (int i = 0; i < NS_CTL_MAX_CMDS; i++)
		g_string_append (t, "start\n\n");
	poison (&s);
	g_assert_cmpint (ns_ctl_parse (t->str, t->len, &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, NS_CTL_MAX_CMDS);

	g_string_append (t, "stop\n");
	assert_fails (t->str, (gssize) t->len, E2BIG, "more than 16 directives");

	/* Blank lines do not count. */
	g_string_truncate (t, 0);
	for (int i = 0; i < 1000; i++)
		g_string_append (t, "\n");
	g_string_append (t, "stop\n");
	g_assert_cmpint (ns_ctl_parse (t->str, t->len, &s, NULL), ==, 0);
	g_assert_cmpuint (s.n, ==, 1);
}

static void
test_null_err (void)
{
	NsCtlScript s;

	poison (&s);
	g_assert_cmpint (ns_ctl_parse ("bogus", 5, &s, NULL), ==, -EINVAL);
	g_assert_cmpint (ns_ctl_parse ("", 0, &s, NULL), ==, -EINVAL);
	assert_poisoned (&s);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/ctl/start-stop", test_start_stop);
	g_test_add_func ("/ctl/kill", test_kill);
	g_test_add_func ("/ctl/ns", test_ns);
	g_test_add_func ("/ctl/script", test_script);
	g_test_add_func ("/ctl/whole-write-checked-first", test_whole_write_checked_first);
	g_test_add_func ("/ctl/unknown-directive", test_unknown_directive);
	g_test_add_func ("/ctl/long-word", test_long_word);
	g_test_add_func ("/ctl/wrong-arg-counts", test_wrong_arg_counts);
	g_test_add_func ("/ctl/empty", test_empty);
	g_test_add_func ("/ctl/nul", test_nul);
	g_test_add_func ("/ctl/len-bounded", test_len_bounded);
	g_test_add_func ("/ctl/directive-limit", test_directive_limit);
	g_test_add_func ("/ctl/null-err", test_null_err);
	return g_test_run ();
}
