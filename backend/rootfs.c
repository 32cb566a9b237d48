/* The sandbox's filesystem view, built inside the new init: a private
 * mount tree, the rootfs pivoted to /, a fresh /proc, a minimal /dev
 * (bubblewrap's recipe), and the network namespace's loopback up. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "names.h"

static const char *const dev_nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };

static const struct {
	const char *name, *target;
} dev_links[] = {
	{ "fd", "/proc/self/fd" },
	{ "stdin", "/proc/self/fd/0" },
	{ "stdout", "/proc/self/fd/1" },
	{ "stderr", "/proc/self/fd/2" },
};

static int
mount_proc (const char *where, NsError *err)
{
	if (mount ("proc", where, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return ns_error (err, errno, "mount a fresh /proc on %s: %s", where, strerror (errno));
	return 0;
}

/* A devpts of the sandbox's own (newinstance) at DEV/pts, its ptmx at
 * DEV/ptmx, for `stdin tty` jobs: their terminals are the sandbox's, and
 * none of the host's shows inside.  A sandbox that cannot have one (a
 * kernel or policy that refuses the mount) still starts; a tty job then
 * fails to start. */
static void
mount_devpts (const char *dev, bool link_ptmx)
{
	g_autofree char *pts = g_build_filename (dev, "pts", NULL);
	g_autofree char *ptmx = g_build_filename (dev, "ptmx", NULL);
	g_autofree char *pts_ptmx = g_build_filename (pts, "ptmx", NULL);

	if (mkdir (pts, 0755) < 0 && errno != EEXIST)
		return;
	if (mount ("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0)
		return;
	if (link_ptmx) {
		if (symlink ("pts/ptmx", ptmx) < 0)
			return;
	} else {
		/* The host's /dev/ptmx is a device node of its own devpts:
		 * the new instance's goes over it. */
		mount (pts_ptmx, ptmx, NULL, MS_BIND, NULL);
	}
}

static int
populate_dev (const char *dev, NsError *err)
{
	if (mount ("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		return ns_error (err, errno, "mount tmpfs on %s: %s", dev, strerror (errno));
	for (size_t i = 0; i < G_N_ELEMENTS (dev_nodes); i++) {
		g_autofree char *path = g_build_filename (dev, dev_nodes[i], NULL);
		g_autofree char *host = g_build_filename ("/dev", dev_nodes[i], NULL);
		_cleanup_close_ int fd = -1;

		fd = open (path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			return ns_error (err, errno, "create %s: %s", path, strerror (errno));
		if (mount (host, path, NULL, MS_BIND, NULL) < 0)
			return ns_error (err, errno, "bind %s: %s", host, strerror (errno));
	}
	for (size_t i = 0; i < G_N_ELEMENTS (dev_links); i++) {
		g_autofree char *path = g_build_filename (dev, dev_links[i].name, NULL);
		if (symlink (dev_links[i].target, path) < 0)
			return ns_error (err, errno, "symlink %s: %s", path, strerror (errno));
	}
	mount_devpts (dev, true);
	return 0;
}

/* The mount point SUB of the rootfs (the working directory by now),
 * which must exist: the rootfs may be read-only. */
static int
require_dir (const char *rootfs, const char *sub, NsError *err)
{
	struct stat st;

	if (stat (sub, &st) < 0 || !S_ISDIR (st.st_mode))
		return ns_error (err, ENOENT, "rootfs %s has no /%s directory", rootfs, sub);
	return 0;
}

static bool
is_the_root (const char *path)
{
	struct stat a, b;
	return stat (path, &a) == 0 && stat ("/", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Stack ROOTFS's mount tree on ROOTFS and make its root the working
 * directory: pivot_root needs the new root to be a mount point.  A bind
 * mount of ROOTFS on itself is that; but when ROOTFS is the host's / no
 * path leads to what is stacked on the process's root, so there a copy
 * of the tree is made and entered through its descriptor (not done for
 * every rootfs: moving a copy of a locked mount is refused). */
static int
enter_rootfs (const char *rootfs, NsError *err)
{
	_cleanup_close_ int tree = -1;

	if (!is_the_root (rootfs)) {
		if (mount (rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
			return ns_error (err, errno, "bind rootfs %s: %s", rootfs, strerror (errno));
		if (chdir (rootfs) < 0)
			return ns_error (err, errno, "chdir %s: %s", rootfs, strerror (errno));
		return 0;
	}
	tree = open_tree (AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0 || move_mount (tree, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return ns_error (err, errno, "bind rootfs %s: %s", rootfs, strerror (errno));
	if (fchdir (tree) < 0)
		return ns_error (err, errno, "chdir %s: %s", rootfs, strerror (errno));
	return 0;
}

/* Attach the overlay made of the rootfs (overlay.c) on top of the
 * process's root, as enter_rootfs does for the host's /, and make it the
 * working directory. */
static int
enter_overlay (const char *rootfs, int overlay_fd, NsError *err)
{
	if (move_mount (overlay_fd, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return ns_error (err, errno, "attach the overlay of %s: %s", rootfs, strerror (errno));
	if (fchdir (overlay_fd) < 0)
		return ns_error (err, errno, "chdir into the overlay of %s: %s", rootfs, strerror (errno));
	return 0;
}

/* The lines of `mounts` but overlay, inside the root the working
 * directory is now (or the host's /). */
static int
apply_mount_lines (const char *root, const NsMountList *mounts, int overlay_fd, NsError *err)
{
	_cleanup_close_ int root_fd = -1;

	if (!mounts->n)
		return 0;
	root_fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return ns_error (err, errno, "open the sandbox's root: %s", strerror (errno));
	return sup_apply_mount_lines (root_fd, mounts, overlay_fd, err);
}

/* Make the working directory the root. */
static int
pivot_here (const char *rootfs, NsError *err)
{
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * lazy unmount then drops the whole host tree from this namespace. */
	if (syscall (SYS_pivot_root, ".", ".") < 0)
		return ns_error (err, errno, "pivot_root into %s: %s", rootfs, strerror (errno));
	if (umount2 (".", MNT_DETACH) < 0)
		return ns_error (err, errno, "detach the host root: %s", strerror (errno));
	if (chdir ("/") < 0)
		return ns_error (err, errno, "chdir /: %s", strerror (errno));
	return 0;
}

int
sup_setup_mounts (const NsSandboxConfig *cfg, const NsMountList *mounts, int overlay_fd, NsError *err)
{
	bool fresh_proc = (cfg->ns & CLONE_NEWPID) && (cfg->ns & CLONE_NEWNS);
	int r;

	if (!(cfg->ns & CLONE_NEWNS))
		return 0;
	/* Nothing we mount may propagate back to the host. */
	if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return ns_error (err, errno, "make / private: %s", strerror (errno));
	if (!cfg->rootfs[0]) {
		if ((r = apply_mount_lines ("/", mounts, -1, err)) < 0)
			return r;
		mount_devpts ("/dev", false);
		return fresh_proc ? mount_proc ("/proc", err) : 0;
	}

	if (overlay_fd >= 0)
		r = enter_overlay (cfg->rootfs, overlay_fd, err);
	else
		r = enter_rootfs (cfg->rootfs, err);
	if (r < 0)
		return r;
	/* After the root is in place, before /proc and /dev (INTERFACE §7). */
	if ((r = apply_mount_lines (".", mounts, overlay_fd, err)) < 0)
		return r;
	if (fresh_proc) {
		if ((r = require_dir (cfg->rootfs, "proc", err)) < 0)
			return r;
		if ((r = mount_proc ("proc", err)) < 0)
			return r;
	}
	if ((r = require_dir (cfg->rootfs, "dev", err)) < 0)
		return r;
	if ((r = populate_dev ("dev", err)) < 0)
		return r;
	return pivot_here (cfg->rootfs, err);
}

int
sup_loopback_up (NsError *err)
{
	_cleanup_close_ int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };

	if (fd < 0)
		return ns_error (err, errno, "loopback: socket: %s", strerror (errno));
	g_strlcpy (ifr.ifr_name, "lo", IFNAMSIZ);
	if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
		return ns_error (err, errno, "loopback: get flags: %s", strerror (errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
		return ns_error (err, errno, "loopback: bring up: %s", strerror (errno));
	return 0;
}
