/* The supervisors' mount namespace: a slave copy of the host's with
 * every nsfs mount detached, which sandboxes are copied from.  The zygote
 * makes it once for all its copies, and again when the host's mount table
 * has changed since (mounts under a private host mount never propagate to
 * a copy, so without that a sandbox would see the host as it was when
 * nsfsd started). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cleanup.h"
#include "mountinfo.h"

/* A sandbox's mount namespace starts as a copy of the supervisor's.  A
 * copy of an nsfs mount would keep the FUSE connection alive after the
 * host unmounts it (fusermount3 -u would not end nsfsd) and would hand
 * jobs the control tree, and inside the sandbox's user namespace the
 * copies are locked and cannot be unmounted.  So the supervisor, in its
 * own mount namespace, detaches them before every clone. */
void
sup_detach_nsfs_mounts (void)
{
	g_autofree char *info = NULL;
	g_auto (GStrv) lines = NULL;

	if (!g_file_get_contents ("/proc/self/mountinfo", &info, NULL, NULL))
		return;
	lines = g_strsplit (info, "\n", -1);
	/* Innermost first, so nested mounts go before their parents. */
	for (gint i = (gint) g_strv_length (lines) - 1; i >= 0; i--) {
		g_auto (GStrv) f = NULL;
		const char *sep = strstr (lines[i], " - ");
		if (!sep || strncmp (sep + 3, "fuse.nsfsd ", 11) != 0)
			continue;
		f = g_strsplit (lines[i], " ", 6);
		if (g_strv_length (f) < 5)
			continue;
		ns_mountinfo_unescape (f[4]);
		umount2 (f[4], MNT_DETACH);
	}
}

int
sup_private_mounts (Supervisor *s, NsError *err)
{
	if (s->self_mntns_fd >= 0 && setns (s->host_mntns_fd, CLONE_NEWNS) < 0)
		return ns_error (err, errno, "enter the host's mount namespace: %s", strerror (errno));
	/* Opened in the host's namespace, it reports that namespace's
	 * changes (POLLPRI) for as long as it is open. */
	ns_close_fdp (&s->host_mounts_fd);
	s->host_mounts_fd = open ("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (unshare (CLONE_NEWNS) < 0 || mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return ns_error (err, errno, "a mount namespace of its own: %s", strerror (errno));
	ns_close_fdp (&s->self_mntns_fd);
	s->self_mntns_fd = open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (s->self_mntns_fd < 0)
		return ns_error (err, errno, "open /proc/self/ns/mnt: %s", strerror (errno));
	sup_detach_nsfs_mounts ();
	return 0;
}

void
sup_private_mounts_refresh (Supervisor *s)
{
	struct pollfd p = { .fd = s->host_mounts_fd, .events = POLLPRI };
	NsError err;

	if (s->self_mntns_fd < 0 || s->host_mounts_fd < 0)
		return;
	if (poll (&p, 1, 0) <= 0 || !(p.revents & (POLLPRI | POLLERR)))
		return;
	if (sup_private_mounts (s, &err) < 0)
		g_error ("%s", err.msg);
}
