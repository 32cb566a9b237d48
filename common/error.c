#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void
flatten_to_one_line (char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

int
ns_error (NsError *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start (ap, fmt);
		vsnprintf (err->msg, sizeof err->msg, fmt, ap);
		va_end (ap);
		flatten_to_one_line (err->msg);
		err->code = code;
	}
	return -code;
}

void
ns_error_prefix (NsError *err, const char *context)
{
	size_t clen;

	if (!err)
		return;
	clen = strnlen (context, sizeof err->msg - 3);
	/* Shift the old message right, truncating its tail if needed. */
	memmove (err->msg + clen + 2, err->msg, sizeof err->msg - clen - 3);
	err->msg[sizeof err->msg - 1] = '\0';
	memcpy (err->msg, context, clen);
	err->msg[clen] = ':';
	err->msg[clen + 1] = ' ';
	flatten_to_one_line (err->msg);
}

void
ns_error_clear (NsError *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
