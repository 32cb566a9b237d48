/* The process titles of title.h.
 *
 * /proc/PID/cmdline is the memory between mm->arg_start and arg_end; when
 * the last byte of that area is not a NUL, the kernel takes the area for
 * a setproctitle(3)-style title and shows it only up to its first NUL
 * (fs/proc/base.c, get_mm_cmdline).  Overwriting the area that way needs
 * no privilege, where moving arg_end (prctl PR_SET_MM) needs
 * CAP_SYS_RESOURCE, which an unprivileged nsfsd's supervisors lack. */
#include "title.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

static char *area;
static size_t area_len;
static char sandbox_name[NAME_MAX + 1];

void
sup_title_init (int argc, char **argv)
{
	if (argc < 1 || !argv[0])
		return;
	area = argv[0];
	area_len = (size_t) (argv[argc - 1] + strlen (argv[argc - 1]) + 1 - argv[0]);
}

void
sup_title_name_sandbox (const char *dir)
{
	const char *slash = strrchr (dir, '/');
	snprintf (sandbox_name, sizeof sandbox_name, "%s", slash ? slash + 1 : dir);
}

void
sup_title_format (const char *role, char *buf, size_t size)
{
	snprintf (buf, size, "%s%s%s", role, sandbox_name[0] ? " " : "", sandbox_name);
}

void
sup_title_set (const char *role)
{
	char title[sizeof "nsfs-supervisor " + NAME_MAX];
	size_t n;

	sup_title_format (role, title, sizeof title);
	prctl (PR_SET_NAME, title, 0, 0, 0);
	/* Room for the title, its NUL and the last byte that marks the area
	 * as a title; an area too small keeps the arguments as they are. */
	if (!area || area_len < 3)
		return;
	n = strlen (title);
	if (n > area_len - 2)
		n = area_len - 2;
	memset (area, 0, area_len);
	memcpy (area, title, n);
	area[area_len - 1] = ' ';
}
