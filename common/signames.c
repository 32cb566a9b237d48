#include "signames.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

static bool
parse_number (const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	if (!g_ascii_isdigit (s[0]))
		return false;
	errno = 0;
	v = strtol (s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = (int) v;
	return true;
}

static bool
parse_realtime (const char *name, int *out)
{
	int off = 0;

	if (strncasecmp (name, "RTMIN", 5) == 0) {
		if (name[5] == '\0')
			off = 0;
		else if (name[5] != '+' || !parse_number (name + 6, 0, SIGRTMAX - SIGRTMIN, &off))
			return false;
		*out = SIGRTMIN + off;
		return true;
	}
	if (strncasecmp (name, "RTMAX", 5) == 0) {
		if (name[5] == '\0')
			off = 0;
		else if (name[5] != '-' || !parse_number (name + 6, 0, SIGRTMAX - SIGRTMIN, &off))
			return false;
		*out = SIGRTMAX - off;
		return true;
	}
	return false;
}

int
ns_signal_parse (const char *text, int *signo, NsError *err)
{
	const char *name = text;

	if (parse_number (text, 1, SIGRTMAX, signo))
		return 0;
	if (strncasecmp (name, "SIG", 3) == 0)
		name += 3;
	if (parse_realtime (name, signo))
		return 0;
	for (int s = 1; s < SIGRTMIN; s++) {
		const char *abbrev = sigabbrev_np (s);
		if (abbrev && strcasecmp (abbrev, name) == 0) {
			*signo = s;
			return 0;
		}
	}
	return ns_error (err, EINVAL, "kill: unknown signal '%.32s'", text);
}
