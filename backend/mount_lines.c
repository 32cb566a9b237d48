/* The bind and tmpfs lines of `mounts` (INTERFACE §7), applied inside the
 * new init, which has the owner's credentials by now.
 *
 * Every path is used through the descriptor that resolved it: a bind's
 * source is cloned with open_tree() (its walk is the owner's, on the
 * host's tree) and attached with move_mount() to a destination opened
 * with RESOLVE_IN_ROOT, so neither a symlink swapped in after a check nor
 * one in the rootfs can send a mount outside the sandbox (the class of
 * runc's CVE-2021-30465).  A missing mount point is made only on a mount
 * this start made itself, a tmpfs of an earlier line or the overlay
 * (checked by mount id, not by the path's spelling), never on the host. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"

#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif

/* Mounts whose directories may take new mount points. */
typedef struct {
	uint64_t id[NS_MOUNTS_MAX + 1];
	size_t n;
} OwnMounts;

static int
mount_id (int fd, uint64_t *id)
{
	struct statx stx;

	if (statx (fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) < 0)
		return -1;
	if (!(stx.stx_mask & STATX_MNT_ID)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	*id = stx.stx_mnt_id;
	return 0;
}

static int
add_own_mount (OwnMounts *own, int fd, NsError *err)
{
	if (own->n < G_N_ELEMENTS (own->id) && mount_id (fd, &own->id[own->n]) == 0) {
		own->n++;
		return 0;
	}
	return ns_error (err, errno, "the id of a new mount: %s", strerror (errno));
}

static bool
is_own_mount (const OwnMounts *own, int fd)
{
	uint64_t id;

	if (mount_id (fd, &id) < 0)
		return false;
	for (size_t i = 0; i < own->n; i++)
		if (own->id[i] == id)
			return true;
	return false;
}

/* PATH (absolute) inside ROOT, as the sandbox will see it: symlinks and
 * `..` stay within ROOT, and magic links are refused. */
static int
open_in_root (int root, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	do
		fd = (int) syscall (SYS_openat2, root, path, &how, sizeof how);
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

/* Make NAME in the directory PARENT: a directory, or an empty file. */
static int
make_mount_point (int parent, const char *name, bool dir)
{
	int fd;

	if (dir)
		return mkdirat (parent, name, 0755) < 0 && errno != EEXIST ? -1 : 0;
	fd = openat (parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	close (fd);
	return 0;
}

/* Open DST inside ROOT, making it and the directories on its way where
 * they are missing and their parent is one of OWN's mounts. */
static int
open_destination (int root, const OwnMounts *own, const char *dst, bool dir, NsError *err)
{
	g_auto (GStrv) parts = g_strsplit (dst, "/", -1);
	g_autoptr (GString) prefix = g_string_new (NULL);
	_cleanup_close_ int parent = -1;
	int fd;

	fd = open_in_root (root, dst);
	if (fd >= 0 || errno != ENOENT)
		goto out;
	parent = open_in_root (root, "/");
	if (parent < 0)
		goto out;
	for (char **p = parts; *p; p++) {
		bool last = p[1] == NULL;

		if (!**p)
			continue;
		g_string_append_printf (prefix, "/%s", *p);
		fd = open_in_root (root, prefix->str);
		if (fd < 0 && errno == ENOENT) {
			if (!is_own_mount (own, parent))
				return ns_error (err, ENOENT,
				                 "destination %.200s does not exist in the sandbox (mount points are made only "
				                 "under a tmpfs of an earlier line or the overlay)",
				                 dst);
			if (make_mount_point (parent, *p, dir || !last) < 0)
				return ns_error (err, errno, "make the mount point %.200s: %s", prefix->str, strerror (errno));
			fd = open_in_root (root, prefix->str);
		}
		if (fd < 0 || last)
			break;
		ns_close_fdp (&parent);
		parent = fd;
		fd = -1;
	}
out:
	if (fd < 0)
		return ns_error (err, errno == ENOENT ? ENOENT : errno, "destination %.200s: %s", dst, strerror (errno));
	return fd;
}

static int
attach (int mnt, int dst_fd, const char *dst, NsError *err)
{
	if (move_mount (mnt, "", dst_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return ns_error (err, errno, "mount on %.200s: %s", dst, strerror (errno));
	return 0;
}

/* A copy of the bind's source as the host has it, before any line is
 * applied: a tmpfs of an earlier line on the host's /tmp must not hide a
 * source under /tmp. */
static int
open_source (const NsMount *m, NsError *err)
{
	_cleanup_close_ int tree = -1;

	/* Recursive, as a copy of what the owner sees there (and a
	 * non-recursive clone of a tree with locked mounts is refused). */
	tree = open_tree (AT_FDCWD, m->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
	if (tree < 0)
		return ns_error (err, errno == ENOENT ? ENOENT : errno == EACCES || errno == EPERM ? EACCES : errno,
		                 "source %.200s: %s", m->src, strerror (errno));
	if (m->ro) {
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
		if (mount_setattr (tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
			return ns_error (err, errno, "make %.200s read-only: %s", m->src, strerror (errno));
	}
	return g_steal_fd (&tree);
}

static int
apply_bind (int root, OwnMounts *own, const NsMount *m, int tree, NsError *err)
{
	_cleanup_close_ int dst = -1;
	struct statx stx;

	if (statx (tree, "", AT_EMPTY_PATH, STATX_TYPE, &stx) < 0)
		return ns_error (err, errno, "source %.200s: %s", m->src, strerror (errno));
	dst = open_destination (root, own, m->dst, S_ISDIR (stx.stx_mode), err);
	if (dst < 0)
		return dst;
	return attach (tree, dst, m->dst, err);
}

static int
apply_tmpfs (int root, OwnMounts *own, const NsMount *m, NsError *err)
{
	_cleanup_close_ int fs = -1, mnt = -1, dst = -1;
	char mode[16], size[32];
	int r;

	snprintf (mode, sizeof mode, "0%o", m->mode);
	snprintf (size, sizeof size, "%" G_GUINT64_FORMAT, m->size);
	fs = fsopen ("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0 || fsconfig (fs, FSCONFIG_SET_STRING, "mode", mode, 0) < 0 ||
	    (m->size && fsconfig (fs, FSCONFIG_SET_STRING, "size", size, 0) < 0) ||
	    fsconfig (fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return ns_error (err, errno, "tmpfs: %s", strerror (errno));
	mnt = fsmount (fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (mnt < 0)
		return ns_error (err, errno, "tmpfs: %s", strerror (errno));
	dst = open_destination (root, own, m->dst, true, err);
	if (dst < 0)
		return dst;
	if ((r = attach (mnt, dst, m->dst, err)) < 0)
		return r;
	return add_own_mount (own, mnt, err);
}

static void
error_at_line (NsError *err, const NsMount *m)
{
	char where[32];

	snprintf (where, sizeof where, "mounts: line %zu", m->line);
	ns_error_prefix (err, where);
}

int
sup_apply_mount_lines (int root_fd, const NsMountList *mounts, int overlay_fd, NsError *err)
{
	OwnMounts own = { 0 };
	int trees[NS_MOUNTS_MAX];
	size_t i;
	int r = 0;

	for (i = 0; i < mounts->n; i++)
		trees[i] = -1;
	for (i = 0; i < mounts->n && r == 0; i++) {
		if (mounts->m[i].kind != NS_MOUNT_BIND)
			continue;
		if ((trees[i] = open_source (&mounts->m[i], err)) < 0) {
			r = trees[i];
			error_at_line (err, &mounts->m[i]);
		}
	}
	if (r == 0 && overlay_fd >= 0)
		r = add_own_mount (&own, overlay_fd, err);
	for (i = 0; i < mounts->n && r == 0; i++) {
		const NsMount *m = &mounts->m[i];

		if (m->kind == NS_MOUNT_BIND)
			r = apply_bind (root_fd, &own, m, trees[i], err);
		else if (m->kind == NS_MOUNT_TMPFS)
			r = apply_tmpfs (root_fd, &own, m, err);
		if (r < 0)
			error_at_line (err, m);
	}
	for (i = 0; i < mounts->n; i++)
		ns_close_fdp (&trees[i]);
	return r;
}
