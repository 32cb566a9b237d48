/* libFuzzer harness for common/ctl.c (and through it nstypes.c and
 * signames.c).  Invariants: a script that parses has 1 to 16 well-formed
 * directives and, written back out, parses to the same script; a failed
 * parse leaves the script alone and says why in one line. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include <glib.h>

#include "ctl.h"
#include "fuzz.h"
#include "nstypes.h"

FUZZ_INIT

static size_t
memchr_count (const uint8_t *p, size_t len, uint8_t c)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] == c;
	return n;
}

static char *
script_format (const NsCtlScript *s)
{
	GString *t = g_string_new (NULL);

	for (size_t i = 0; i < s->n; i++) {
		const NsCtlCmd *c = &s->cmd[i];
		switch (c->verb) {
		case NS_CTL_NS: {
			g_autofree char *set = ns_set_format (c->ns_set);
			g_string_append_printf (t, "ns %s\n", set);
			break;
		}
		case NS_CTL_START:
			g_string_append (t, "start\n");
			break;
		case NS_CTL_STOP:
			g_string_append (t, "stop\n");
			break;
		case NS_CTL_KILL:
			g_string_append_printf (t, "kill %d\n", c->signo);
			break;
		case NS_CTL_PIN:
			g_string_append (t, "pin\n");
			break;
		case NS_CTL_UNPIN:
			g_string_append (t, "unpin\n");
			break;
		}
	}
	return g_string_free (t, FALSE);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int codes[] = { EINVAL, E2BIG, 0 };
	NsCtlScript s, ref, again;
	NsError err;
	int r;

	memset (&s, 0xa5, sizeof s);
	ref = s;
	fuzz_poison_error (&err);
	r = ns_ctl_parse ((const char *) data, size, &s, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, codes, NULL);
		FUZZ_CHECK (memcmp (&s, &ref, sizeof s) == 0);
		if (err.code == E2BIG)
			FUZZ_CHECK (strstr (err.msg, "directives") != NULL);
		else if (strncmp (err.msg, "line ", 5) != 0)
			FUZZ_CHECK (strstr (err.msg, "NUL") || strstr (err.msg, "no directive"));
		return 0;
	}
	FUZZ_CHECK (r == 0);
	FUZZ_CHECK (fuzz_error_untouched (&err));
	FUZZ_CHECK (s.n >= 1 && s.n <= NS_CTL_MAX_CMDS);
	for (size_t i = 0; i < s.n; i++) {
		const NsCtlCmd *c = &s.cmd[i];
		/* Each directive's line, counted from 1, one directive a line. */
		FUZZ_CHECK (c->line >= 1 && c->line > (i ? s.cmd[i - 1].line : 0));
		FUZZ_CHECK (c->line <= (size_t) memchr_count (data, size, '\n') + 1);
		switch (c->verb) {
		case NS_CTL_NS:
			FUZZ_CHECK (c->ns_set != 0);
			FUZZ_CHECK ((c->ns_set & ~ns_all_flags ()) == 0);
			FUZZ_CHECK (c->signo == 0);
			break;
		case NS_CTL_KILL:
			FUZZ_CHECK (c->signo >= 1 && c->signo <= SIGRTMAX);
			FUZZ_CHECK (c->ns_set == 0);
			break;
		case NS_CTL_START:
		case NS_CTL_STOP:
		case NS_CTL_PIN:
		case NS_CTL_UNPIN:
			FUZZ_CHECK (c->ns_set == 0 && c->signo == 0);
			break;
		default:
			FUZZ_CHECK (!"unknown verb");
		}
	}
	{
		g_autofree char *text = script_format (&s);
		memset (&again, 0, sizeof again);
		FUZZ_CHECK (ns_ctl_parse (text, strlen (text), &again, NULL) == 0);
		FUZZ_CHECK (again.n == s.n);
		/* The same directives; their lines differ where blank lines
		 * were dropped. */
		for (size_t i = 0; i < s.n; i++) {
			FUZZ_CHECK (again.cmd[i].verb == s.cmd[i].verb);
			FUZZ_CHECK (again.cmd[i].ns_set == s.cmd[i].ns_set);
			FUZZ_CHECK (again.cmd[i].signo == s.cmd[i].signo);
			FUZZ_CHECK (again.cmd[i].line == i + 1);
		}
	}
	return 0;
}
