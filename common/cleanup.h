/* Scope-bound cleanup for what glib 2.74 has no helper for (g_autofd is 2.76). */
#pragma once

#include <errno.h>
#include <unistd.h>

/* Close *FDP if open and mark it closed, so a later call (the scope's
 * cleanup among them) does not close it again. */
static inline void
ns_close_fdp (int *fdp)
{
	if (*fdp >= 0) {
		int saved = errno;
		close (*fdp);
		*fdp = -1;
		errno = saved;
	}
}

#define _cleanup_close_ __attribute__ ((cleanup (ns_close_fdp)))

/* Hand an fd out of a _cleanup_close_ variable. */
static inline int
ns_steal_fd (int *fdp)
{
	int fd = *fdp;
	*fdp = -1;
	return fd;
}
