#include "report.h"

#include <errno.h>
#include <unistd.h>

#include <glib.h>

void
sup_report_write (int fd, int code, const char *msg)
{
	SupReport rep = { .code = code };

	g_strlcpy (rep.msg, msg, sizeof rep.msg);
	(void) !write (fd, &rep, sizeof rep);
}

int
sup_report_read (int fd, SupReport *rep)
{
	ssize_t n;

	do
		n = read (fd, rep, sizeof *rep);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return -1;
	if (n != (ssize_t) sizeof *rep)
		return 0;
	rep->msg[sizeof rep->msg - 1] = '\0';
	return 1;
}
