/* A child's report to the supervisor over a close-on-exec pipe: an errno
 * and a message, in one write below PIPE_BUF, so it arrives whole or not
 * at all; end of file without one means the child got past the point of
 * failing (execve succeeded, the init is ready) or died. */
#pragma once

#include "error.h"

typedef struct {
	int code;
	char msg[NS_ERROR_MSG_MAX];
} SupReport;

/* In the child: write CODE and MSG to FD (nothing else is done). */
void sup_report_write (int fd, int code, const char *msg);

/* In the supervisor, from the loop: 1 with REP filled, 0 at end of file
 * (or a torn report), -1 if nothing is in yet. */
int sup_report_read (int fd, SupReport *rep);
