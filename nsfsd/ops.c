/* fuse_lowlevel_ops for nsfsd: the table, and each handler handing its
 * request to the file that serves that concern.  Every request ends in
 * exactly one reply; those that wait (writes through a supervisor,
 * `wait` reads) are answered later, never by a thread that waits. */
#include "ops.h"
#include "events.h"
#include "job_stdin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "attrs.h"
#include "handles.h"
#include "inodes.h"
#include "listing.h"
#include "names.h"
#include "nodes.h"
#include "output.h"
#include "reads.h"
#include "sandbox.h"
#include "trace.h"
#include "wait.h"
#include "writes.h"

void
ops_set_session (struct fuse_session *se)
{
	attrs_init (se);
}

static void
nsfs_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
	Node dir, child = { 0 };
	int r = node_resolve (parent, &dir);

	trace_request (req, "lookup", parent, name);
	if (r == 0)
		r = node_lookup_child (&dir, name, &child);
	node_clear (&dir);
	if (r < 0) {
		fuse_reply_err (req, -r);
		return;
	}
	reply_entry (req, &child);
	node_clear (&child);
}

static void
nsfs_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	Node n;
	int r = node_resolve (ino, &n);

	trace_request (req, "getattr", ino, NULL);
	reply_attr_of (req, &n, r);
}

static void
nsfs_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	trace_request (req, "readdir", ino, NULL);
	listing_reply (req, ino, size, off, false);
}

static void
nsfs_readdirplus (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	trace_request (req, "readdirplus", ino, NULL);
	listing_reply (req, ino, size, off, true);
}

static void
nsfs_readlink (fuse_req_t req, fuse_ino_t ino)
{
	g_autofree char *target = NULL;
	Node n;
	int r = node_resolve (ino, &n);

	trace_request (req, "readlink", ino, NULL);
	if (r == 0 && (!n.sb || !S_ISLNK (n.spec->mode)))
		r = -EINVAL;
	if (r == 0) {
		g_mutex_lock (&n.sb->lock);
		target = node_link_target (n.sb, n.spec, n.node, n.job_id);
		g_mutex_unlock (&n.sb->lock);
		if (!target)
			r = -ENOENT;
	}
	node_clear (&n);
	if (r < 0)
		fuse_reply_err (req, -r);
	else
		fuse_reply_readlink (req, target);
}

/* --- creating and removing sandboxes ------------------------------------ */

static void
nsfs_mkdir (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx (req);
	NsError err = { 0 };
	Sandbox *sb = NULL;
	Node n;
	int r;

	trace_request (req, "mkdir", parent, name);
	if (parent != INO_ROOT) {
		fuse_reply_err (req, EPERM);
		return;
	}
	if (!ns_name_valid (name, strlen (name))) {
		fuse_reply_err (req, EINVAL);
		return;
	}
	r = sandbox_create (name, ctx->uid, ctx->gid, &sb, &err);
	if (r < 0) {
		/* Users' own mistakes and limits are not the daemon's to log. */
		if (r != -EEXIST && r != -EDQUOT)
			g_warning ("mkdir %s: %s", name, err.msg);
		fuse_reply_err (req, -r);
		return;
	}
	n = (Node) { sb, &sandbox_nodes[SB_NODE_DIR], SB_NODE_DIR, 0 };
	reply_entry (req, &n);
	node_clear (&n);
}

static void
nsfs_rmdir (fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx (req);
	g_autoptr (Sandbox) sb = NULL;

	trace_request (req, "rmdir", parent, name);
	if (parent != INO_ROOT) {
		fuse_reply_err (req, EPERM);
		return;
	}
	sb = sandbox_lookup (name);
	if (!sb) {
		fuse_reply_err (req, ENOENT);
		return;
	}
	if (ctx->uid != 0 && ctx->uid != sb->owner) {
		fuse_reply_err (req, EPERM);
		return;
	}
	writes_rmdir (req, sb);
}

static void
nsfs_unlink (fuse_req_t req, fuse_ino_t parent, const char *name)
{
	trace_request (req, "unlink", parent, name);
	fuse_reply_err (req, EPERM);
}

static void
nsfs_mknod (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	trace_request (req, "mknod", parent, name);
	fuse_reply_err (req, EPERM);
}

static void
nsfs_symlink (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	trace_request (req, "symlink", parent, name);
	fuse_reply_err (req, EPERM);
}

static void
nsfs_rename (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
             unsigned int flags)
{
	trace_request2 (req, "rename", parent, name, newparent, newname);
	fuse_reply_err (req, EPERM);
}

static void
nsfs_link (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	trace_request2 (req, "link", ino, NULL, newparent, newname);
	fuse_reply_err (req, EPERM);
}

static void
nsfs_create (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	trace_request (req, "create", parent, name);
	fuse_reply_err (req, EPERM);
}

/* --- open files ----------------------------------------------------------- */

static FileHandle *
handle_of (struct fuse_file_info *fi)
{
	return (FileHandle *) (uintptr_t) fi->fh;
}

static void
nsfs_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	trace_request (req, (fi->flags & O_ACCMODE) == O_RDONLY ? "open for reading" : "open for writing", ino, NULL);
	handles_open (req, ino, fi);
}

static void
nsfs_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	trace_request (req, "flush", ino, NULL);
	writes_flush (req, handle_of (fi));
}

static void
nsfs_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	trace_request (req, "release", ino, NULL);
	handles_release (handle_of (fi));
	fuse_reply_err (req, 0);
}

static void
nsfs_poll (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	FileHandle *fh = handle_of (fi);

	trace_request (req, "poll", ino, NULL);
	if (fh->spec->read == READ_EVENTS)
		events_poll (req, fh->events, ph);
	else
		wait_poll (req, fh, ph);
}

static void
nsfs_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	FileHandle *fh = handle_of (fi);

	trace_request (req, "read", ino, NULL);
	switch (fh->spec->read) {
	case READ_SNAPSHOT:
		read_snapshot (req, fh, size, off);
		return;
	case READ_JOB_ID:
		read_job_id (req, fh, size);
		return;
	case READ_OUTPUT:
		read_output (req, fh, size, off);
		return;
	case READ_WAIT:
		read_wait (req, fh, size, off, fi->flags);
		return;
	case READ_EVENTS:
		events_read (req, fh->events, size, fi->flags);
		return;
	}
	fuse_reply_err (req, EIO);
}

static void
nsfs_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	FileHandle *fh = handle_of (fi);

	trace_request (req, "write", ino, NULL);
	if (!fh->spec->store) {
		fuse_reply_err (req, EBADF);
		return;
	}
	/* A job's stdin is a pipe, not a value: its own path. */
	if (fh->job_id && fh->spec == &job_nodes[JOB_NODE_STDIN]) {
		job_stdin_write (req, fh, buf, size);
		return;
	}
	/* Each write(2) is one whole message, whatever its offset. */
	writes_write (req, fh, buf, size);
}

static void
nsfs_setattr (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	Node n;
	int r = node_resolve (ino, &n);

	trace_request (req, "setattr", ino, NULL);
	if (r == 0 && (to_set & ~(FUSE_SET_ATTR_SIZE | times)))
		r = -EPERM;
	/* truncate(2) to size 0 of a writable file is accepted; it stores
	 * the empty value where that means something (rootfs: the host's /)
	 * and changes nothing elsewhere. */
	if (r == 0 && (to_set & FUSE_SET_ATTR_SIZE)) {
		if (!n.sb || !S_ISREG (n.spec->mode) || !n.spec->store)
			r = -EACCES;
		else if (attr->st_size != 0)
			r = -EINVAL;
		else if (n.spec->truncate_empties) {
			writes_truncate (req, ino, n.sb, n.spec);
			node_clear (&n);
			return;
		}
	}
	reply_attr_of (req, &n, r);
}

static void
nsfs_init (void *userdata, struct fuse_conn_info *conn)
{
	/* O_TRUNC comes with the open, not as a setattr of its own before it:
	 * one round trip less for every `echo x > file`. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->max_write = 1024 * 1024;
	/* Also given as the mount option (main.c), as libfuse asks. */
	conn->max_read = OUTPUT_SPLICE_MAX;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE) {
		conn->want |= FUSE_CAP_SPLICE_WRITE;
		output_use_splice (true);
	}
	sandbox_set_job_end_hook (wait_job_ended);
	sandbox_set_touch_hook (attrs_sandbox_touched);
}

const struct fuse_lowlevel_ops nsfs_ops = {
	.init = nsfs_init,
	.lookup = nsfs_lookup,
	.getattr = nsfs_getattr,
	.setattr = nsfs_setattr,
	.readlink = nsfs_readlink,
	.mknod = nsfs_mknod,
	.mkdir = nsfs_mkdir,
	.unlink = nsfs_unlink,
	.rmdir = nsfs_rmdir,
	.symlink = nsfs_symlink,
	.rename = nsfs_rename,
	.link = nsfs_link,
	.open = nsfs_open,
	.read = nsfs_read,
	.write = nsfs_write,
	.flush = nsfs_flush,
	.release = nsfs_release,
	.readdir = nsfs_readdir,
	.readdirplus = nsfs_readdirplus,
	.create = nsfs_create,
	.poll = nsfs_poll,
};
