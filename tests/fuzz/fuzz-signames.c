/* libFuzzer harness for common/signames.c.  Invariants: a signal that
 * parses is 1..SIGRTMAX and parses the same as its number, its name, and
 * in other letter case; one that does not leaves *signo alone and says why
 * in one line. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "signames.h"

FUZZ_INIT

static int
parse_ok (const char *text)
{
	int signo = -1;
	FUZZ_CHECK (ns_signal_parse (text, &signo, NULL) == 0);
	return signo;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int einval[] = { EINVAL, 0 };
	g_autofree char *text = g_strndup ((const char *) data, size);
	g_autofree char *upper = g_ascii_strup (text, -1);
	g_autofree char *lower = g_ascii_strdown (text, -1);
	char num[16];
	int signo = -12345;
	NsError err;
	int r;

	fuzz_poison_error (&err);
	r = ns_signal_parse (text, &signo, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, einval, "kill: unknown signal '");
		FUZZ_CHECK (signo == -12345);
		FUZZ_CHECK (ns_signal_parse (upper, &signo, NULL) == -EINVAL);
		FUZZ_CHECK (ns_signal_parse (lower, &signo, NULL) == -EINVAL);
		return 0;
	}
	FUZZ_CHECK (r == 0);
	FUZZ_CHECK (fuzz_error_untouched (&err));
	FUZZ_CHECK (signo >= 1 && signo <= SIGRTMAX);
	FUZZ_CHECK (parse_ok (upper) == signo);
	FUZZ_CHECK (parse_ok (lower) == signo);
	snprintf (num, sizeof num, "%d", signo);
	FUZZ_CHECK (parse_ok (num) == signo);
	if (signo < SIGRTMIN && sigabbrev_np (signo)) {
		g_autofree char *sig = g_strconcat ("SIG", sigabbrev_np (signo), NULL);
		FUZZ_CHECK (parse_ok (sigabbrev_np (signo)) == signo);
		FUZZ_CHECK (parse_ok (sig) == signo);
	}
	if (signo >= SIGRTMIN) {
		snprintf (num, sizeof num, "RTMIN+%d", signo - SIGRTMIN);
		FUZZ_CHECK (parse_ok (num) == signo);
		snprintf (num, sizeof num, "RTMAX-%d", SIGRTMAX - signo);
		FUZZ_CHECK (parse_ok (num) == signo);
	}
	return 0;
}
