/* NsError: an errno for the caller and one line of words for the user. */
#pragma once

#include <stddef.h>

#define NS_ERROR_MSG_MAX 256

typedef struct {
	int code;                      /* positive errno, 0 when unset */
	char msg[NS_ERROR_MSG_MAX];    /* one line, no trailing newline */
} NsError;

/* Record CODE and a printf-style message in ERR (which may be NULL) and
 * return -CODE, so a parser can write `return ns_error (err, EINVAL, ...)`. */
int ns_error (NsError *err, int code, const char *fmt, ...)
	__attribute__ ((format (printf, 3, 4)));

/* Put CONTEXT and ": " in front of the message already in ERR. */
void ns_error_prefix (NsError *err, const char *context);

void ns_error_clear (NsError *err);
