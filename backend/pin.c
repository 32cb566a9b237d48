/* Pinning: bind-mount the init's /proc/PID/ns/<type> files into the
 * state dir, as `ip netns add` does, so the namespaces outlive the init
 * (and nsfsd) until they are unpinned or the sandbox is removed. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "nstypes.h"

static char *
pin_path (Supervisor *s, const char *type)
{
	return g_build_filename (s->dir, "pinned", type, NULL);
}

void
sup_unpin (Supervisor *s)
{
	g_autofree char *dir = g_build_filename (s->dir, "pinned", NULL);

	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_autofree char *path = pin_path (s, ns_types[i].name);
		if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			g_warning ("unpin %s: %s", path, strerror (errno));
		unlink (path);
	}
	rmdir (dir);
	s->pinned = 0;
}

int
sup_pin (Supervisor *s, NsError *err)
{
	g_autofree char *dir = g_build_filename (s->dir, "pinned", NULL);
	unsigned long pinned = 0;

	if (s->state != SUP_RUNNING)
		return ns_error (err, EBUSY, "pin: the sandbox is not running (start it first)");
	if (mkdir (dir, 0700) < 0 && errno != EEXIST)
		return ns_error (err, errno, "pin: mkdir %s: %s", dir, strerror (errno));
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		const NsType *t = &ns_types[i];
		g_autofree char *path = NULL, *source = NULL;
		_cleanup_close_ int fd = -1;

		if (!(s->cfg->ns & t->flag))
			continue;
		path = pin_path (s, t->name);
		source = g_strdup_printf ("/proc/%d/ns/%s", s->init_pid, t->name);
		umount2 (path, MNT_DETACH); /* an earlier pin of older namespaces */
		fd = open (path, O_CREAT | O_RDONLY | O_CLOEXEC, 0400);
		if (fd < 0 || mount (source, path, NULL, MS_BIND, NULL) < 0) {
			int e = errno;
			s->pinned = pinned;
			sup_unpin (s);
			return ns_error (err, e, "pin: bind %s: %s", source, strerror (e));
		}
		pinned |= t->flag;
	}
	s->pinned = pinned;
	return 0;
}
