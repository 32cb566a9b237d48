/* Unit tests for common/signames.c: signals by name and number. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <glib.h>

#include "signames.h"
#include "test-util.h"

static void
assert_signal (const char *text, int want)
{
	int signo = -1;
	NsError err;

	g_test_message ("signal: '%s'", text);
	ns_error_poison (&err);
	g_assert_cmpint (ns_signal_parse (text, &signo, &err), ==, 0);
	g_assert_cmpint (signo, ==, want);
	g_assert_cmpint (err.code, ==, 12345);
}

static void
assert_bad_signal (const char *text)
{
	g_autofree char *want = g_strdup_printf ("kill: unknown signal '%.32s'", text);
	int signo = -12345;
	NsError err;
	int r;

	g_strdelimit (want, "\r\n", ' '); /* messages are one line */
	g_test_message ("signal: '%s'", text);
	ns_error_poison (&err);
	r = ns_signal_parse (text, &signo, &err);
	assert_ns_error (r, &err, EINVAL, want);
	g_assert_cmpint (signo, ==, -12345);
}

static const struct {
	const char *name;
	int signo;
} standard[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "BUS", SIGBUS }, { "FPE", SIGFPE },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV }, { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "STKFLT", SIGSTKFLT },
	{ "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP }, { "TSTP", SIGTSTP },
	{ "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG }, { "XCPU", SIGXCPU },
	{ "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "POLL", SIGPOLL }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

static void
test_names (void)
{
	for (size_t i = 0; i < G_N_ELEMENTS (standard); i++) {
		g_autofree char *sig = g_strconcat ("SIG", standard[i].name, NULL);
		g_autofree char *lower = g_ascii_strdown (standard[i].name, -1);
		g_autofree char *siglower = g_ascii_strdown (sig, -1);

		assert_signal (standard[i].name, standard[i].signo);
		assert_signal (sig, standard[i].signo);
		assert_signal (lower, standard[i].signo);
		assert_signal (siglower, standard[i].signo);
	}
	assert_signal ("SigTerm", SIGTERM);
	assert_signal ("sIGkIlL", SIGKILL);
}

static void
test_numbers (void)
{
	for (int s = 1; s <= SIGRTMAX; s++) {
		char buf[16];
		g_snprintf (buf, sizeof buf, "%d", s);
		assert_signal (buf, s);
	}
	assert_signal ("09", 9);
	assert_signal ("0000015", 15);
}

static void
test_realtime (void)
{
	const int span = SIGRTMAX - SIGRTMIN;
	g_autofree char *top = g_strdup_printf ("RTMIN+%d", span);
	g_autofree char *past = g_strdup_printf ("RTMIN+%d", span + 1);
	g_autofree char *bottom = g_strdup_printf ("RTMAX-%d", span);
	g_autofree char *below = g_strdup_printf ("RTMAX-%d", span + 1);

	assert_signal ("RTMIN", SIGRTMIN);
	assert_signal ("SIGRTMIN", SIGRTMIN);
	assert_signal ("rtmin", SIGRTMIN);
	assert_signal ("RTMIN+0", SIGRTMIN);
	assert_signal ("RTMIN+1", SIGRTMIN + 1);
	assert_signal ("RTMIN+3", SIGRTMIN + 3);
	assert_signal ("SIGRTMIN+3", SIGRTMIN + 3);
	assert_signal ("sigrtmin+3", SIGRTMIN + 3);
	assert_signal ("RTMAX", SIGRTMAX);
	assert_signal ("SIGRTMAX", SIGRTMAX);
	assert_signal ("RTMAX-0", SIGRTMAX);
	assert_signal ("RTMAX-1", SIGRTMAX - 1);
	assert_signal ("SIGRTMAX-2", SIGRTMAX - 2);
	assert_signal (top, SIGRTMAX);
	assert_signal (bottom, SIGRTMIN);

	assert_bad_signal (past);
	assert_bad_signal (below);
	assert_bad_signal ("RTMIN-1");
	assert_bad_signal ("RTMAX+1");
	assert_bad_signal ("RTMIN+");
	assert_bad_signal ("RTMAX-");
	assert_bad_signal ("RTMIN+x");
	assert_bad_signal ("RTMIN+-1");
	assert_bad_signal ("RTMIN++1");
	assert_bad_signal ("RTMIN+1 ");
	assert_bad_signal ("RTMIN3");
	assert_bad_signal ("RTMINX");
	assert_bad_signal ("RTMIN+99999999999999999999");
	assert_bad_signal ("RT");
	assert_bad_signal ("SIGRT");
}

static void
test_invalid (void)
{
	static const char *const bad[] = {
		"", "0", "-1", "-9", "+9", " 9", "9 ", "9x", "0x9", "1e1", "9.0",
		"SIG", "sig", "SIGSIGKILL", "SIG9", "SIG 9", " KILL", "KILL ", "KIL", "KILLL", "SIGKILL\n", "KILL\n",
		"NOPE", "EXIT", "ZERO", "NULL", "\xc3\xa9",
		"99999999999999999999999", "2147483648", "4294967305",
	};
	g_autofree char *over = g_strdup_printf ("%d", SIGRTMAX + 1);
	g_autofree char *longname = g_strnfill (300, 'K');

	for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
		assert_bad_signal (bad[i]);
	assert_bad_signal (over);
	assert_bad_signal (longname);
	{
		NsError err;
		ns_signal_parse (longname, &(int) { 0 }, &err);
		g_assert_cmpuint (strlen (err.msg), <, 80);
	}
}

static void
test_null_err (void)
{
	int signo = 77;
	g_assert_cmpint (ns_signal_parse ("NOPE", &signo, NULL), ==, -EINVAL);
	g_assert_cmpint (signo, ==, 77);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/signames/names", test_names);
	g_test_add_func ("/signames/numbers", test_numbers);
	g_test_add_func ("/signames/realtime", test_realtime);
	g_test_add_func ("/signames/invalid", test_invalid);
	g_test_add_func ("/signames/null-err", test_null_err);
	return g_test_run ();
}
