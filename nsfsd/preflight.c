/* The checks of preflight.h. */
#include "preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <glib.h>

#include "mountinfo.h"

bool
preflight_fuse_device (void)
{
	int fd = open ("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close (fd);
		return true;
	}
	if (errno == ENOENT)
		fprintf (stderr, "nsfsd: /dev/fuse is missing: load the module (modprobe fuse), or in a container "
		                 "pass the device in (docker run --device /dev/fuse)\n");
	else if (errno == EACCES || errno == EPERM)
		fprintf (stderr, "nsfsd: cannot open /dev/fuse (%s): it is 0666 on a stock Debian system; "
		                 "as root: chmod 0666 /dev/fuse, or run nsfsd as root\n", strerror (errno));
	else
		fprintf (stderr, "nsfsd: cannot open /dev/fuse: %s\n", strerror (errno));
	return false;
}

/* The file system type mounted on PATH, from /proc/self/mountinfo (the
 * last mount there, the one a path walk reaches), or NULL. */
static char *
mounted_type (const char *path)
{
	g_autofree char *text = NULL;
	g_auto (GStrv) lines = NULL;
	char *type = NULL;

	if (!g_file_get_contents ("/proc/self/mountinfo", &text, NULL, NULL))
		return NULL;
	lines = g_strsplit (text, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_auto (GStrv) f = g_strsplit (*l, " ", -1);
		g_autofree char *point = NULL;
		guint n = g_strv_length (f), sep;

		if (n < 10)
			continue;
		for (sep = 6; sep < n && strcmp (f[sep], "-") != 0; sep++)
			;
		if (sep + 1 >= n)
			continue;
		point = g_strdup (f[4]);
		ns_mountinfo_unescape (point);
		if (strcmp (point, path) == 0) {
			g_free (type);
			type = g_strdup (f[sep + 1]);
		}
	}
	return type;
}

bool
preflight_mountpoint_free (const char *mountpoint)
{
	g_autofree char *type = mounted_type (mountpoint);

	if (!type)
		return true;
	if (strcmp (type, "fuse.nsfsd") == 0)
		fprintf (stderr, "nsfsd: %s is busy: another nsfsd serves it (stop it first: fusermount3 -u %s)\n",
		         mountpoint, mountpoint);
	else
		fprintf (stderr, "nsfsd: %s is busy: a %s file system is mounted there (unmount it, or give nsfsd "
		                 "another mountpoint)\n", mountpoint, type);
	return false;
}

void
preflight_say_state_dir_unusable (const char *dir, int code, const char *why)
{
	fprintf (stderr, "nsfsd: cannot use the state dir %s: %s", dir, why);
	if (code == EACCES || code == EPERM || code == EROFS)
		fprintf (stderr, " (give --state-dir a directory you may write%s)",
		         geteuid () != 0 ? ", such as $XDG_RUNTIME_DIR/nsfs" : "");
	fputc ('\n', stderr);
}

void
preflight_warn (const char *state_dir)
{
	struct statfs fs;

	if (statfs (state_dir, &fs) == 0 && fs.f_type != TMPFS_MAGIC && fs.f_type != RAMFS_MAGIC)
		fprintf (stderr, "nsfsd: warning: the state dir %s is not on a tmpfs: sandboxes' records go to a disk, "
		                 "which makes starting them slower (a tmpfs such as /run on systemd hosts is best)\n",
		         state_dir);
	if (geteuid () != 0)
		fprintf (stderr, "nsfsd: running as uid %u, not root: the mount is yours alone and sandboxes can be "
		                 "made, configured and listed, but no job or start can run (its supervisor cannot enter "
		                 "the sandbox's pid namespace), and there are no cgroup limits or veth networks; run "
		                 "nsfsd as root, which serves every local user in user namespaces of their own\n",
		         (unsigned) geteuid ());
}
