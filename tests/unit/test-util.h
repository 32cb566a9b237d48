/* Helpers shared by the unit tests of common/. */
#pragma once

#include <stdbool.h>
#include <string.h>

#include <glib.h>

#include "error.h"

/* R is what a parser returned, ERR what it filled in: R must be -CODE,
 * ERR->code CODE, and ERR->msg one non-empty line that contains WANT. */
#define assert_ns_error(r, err, code, want) \
	assert_ns_error_impl ((r), (err), (code), (want), G_STRLOC)

static inline void
assert_ns_error_impl (long r, const NsError *err, int code, const char *want, const char *where)
{
	if (r != -code || err->code != code || err->msg[0] == '\0' || strpbrk (err->msg, "\r\n")
	    || strnlen (err->msg, sizeof err->msg) == sizeof err->msg || (want && !strstr (err->msg, want))) {
		bool untouched = err->code == 12345; /* see ns_error_poison */
		g_autofree char *m = g_strdup_printf ("%s: expected -%d (%s) with a one-line message containing \"%s\";"
		                                      " got %ld, code %d, message \"%s\"",
		                                      where, code, g_strerror (code), want ? want : "",
		                                      r, err->code, untouched ? "(untouched)" : err->msg);
		g_assertion_message (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, m);
	}
}

/* An NsError that shows whether a parser touched it. */
static inline void
ns_error_poison (NsError *err)
{
	err->code = 12345;
	memset (err->msg, 'X', sizeof err->msg - 1);
	err->msg[sizeof err->msg - 1] = '\0';
}
