/* Pinning: bind-mount the init's /proc/PID/ns/<type> files into the
 * state dir, as `ip netns add` does, so the namespaces outlive the init
 * (and nsfsd) until they are unpinned or the sandbox is removed. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

/* Pins are bind mounts in the host's mount namespace, where nsfsd and
 * nsenter see them; the supervisor's own namespace only receives them. */
int
sup_enter_host_mounts (Supervisor *s, NsError *err)
{
	if (s->host_mntns_fd >= 0 && setns (s->host_mntns_fd, CLONE_NEWNS) < 0)
		return ns_error (err, errno, "enter the host's mount namespace: %s", strerror (errno));
	return 0;
}

void
sup_leave_host_mounts (Supervisor *s)
{
	if (s->self_mntns_fd >= 0 && setns (s->self_mntns_fd, CLONE_NEWNS) < 0)
		g_error ("cannot return to the supervisor's mount namespace: %s", strerror (errno));
}

void
sup_unpin (Supervisor *s)
{
	g_autofree char *dir = g_build_filename (s->dir, "pinned", NULL);
	NsError err;

	/* Most sandboxes never pin: spare them two mount namespace switches
	 * on every stop and destroy.  The directory, not s->pinned, tells:
	 * pins of a supervisor that died are ours to remove too. */
	if (!s->pinned && faccessat (s->dirfd, "pinned", F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		return;
	if (sup_enter_host_mounts (s, &err) < 0) {
		g_warning ("unpin: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_autofree char *path = pin_path (s, ns_types[i].name);
		if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			g_warning ("unpin %s: %s", path, strerror (errno));
		unlink (path);
	}
	rmdir (dir);
	s->pinned = 0;
	sup_leave_host_mounts (s);
}

int
sup_pin (Supervisor *s, NsError *err)
{
	g_autofree char *dir = g_build_filename (s->dir, "pinned", NULL);
	unsigned long pinned = 0;

	if (s->state != SUP_RUNNING)
		return ns_error (err, EBUSY, "pin: the sandbox is not running (start it first)");
	if (sup_enter_host_mounts (s, err) < 0)
		return -err->code;
	if (mkdir (dir, 0700) < 0 && errno != EEXIST) {
		sup_leave_host_mounts (s);
		return ns_error (err, errno, "pin: mkdir %s: %s", dir, strerror (errno));
	}
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
			sup_leave_host_mounts (s);
			s->pinned = pinned;
			sup_unpin (s);
			return ns_error (err, e, "pin: bind %s: %s", source, strerror (e));
		}
		pinned |= t->flag;
	}
	s->pinned = pinned;
	sup_leave_host_mounts (s);
	return 0;
}
