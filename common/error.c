#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

/* Messages quote what users wrote and end up on terminals (`cat
 * error`): keep them one line of plain text.  Line breaks become spaces;
 * other control characters and bytes that are not UTF-8 become \xNN. */
static void
flatten_to_one_line (char *msg)
{
	char out[NS_ERROR_MSG_MAX];
	const char *p = msg;
	size_t n = 0;

	while (*p && n < sizeof out - 1) {
		unsigned char c = (unsigned char) *p;
		if (c == '\n' || c == '\r') {
			out[n++] = ' ';
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			if (n + 4 >= sizeof out)
				break;
			n += (size_t) snprintf (out + n, sizeof out - n, "\\x%02x", c);
			p++;
		} else if (c < 0x80) {
			out[n++] = *p++;
		} else {
			gunichar u = g_utf8_get_char_validated (p, -1);
			if (u == (gunichar) -1 || u == (gunichar) -2 || g_unichar_iscntrl (u)) {
				if (n + 4 >= sizeof out)
					break;
				n += (size_t) snprintf (out + n, sizeof out - n, "\\x%02x", c);
				p++;
			} else {
				size_t len = (size_t) (g_utf8_next_char (p) - p);
				if (n + len >= sizeof out)
					break;
				memcpy (out + n, p, len);
				n += len;
				p += len;
			}
		}
	}
	out[n] = '\0';
	memcpy (msg, out, n + 1);
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
