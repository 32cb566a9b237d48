/* Open files: the per-open state (FileHandle), what is cached in the
 * kernel's page cache, and freeing what the kernel never released. */
#include "handles.h"
#include "events.h"
#include "job_stdin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "nodes.h"
#include "quota.h"
#include "wait.h"

/* Open handles, so the ones the kernel never releases (files still open
 * when the mount goes away) are freed at exit. */
static GMutex handles_lock;
static GHashTable *open_handles;

static void
track_handle (FileHandle *fh, bool add)
{
	g_mutex_lock (&handles_lock);
	if (!open_handles)
		open_handles = g_hash_table_new (g_direct_hash, g_direct_equal);
	if (add)
		g_hash_table_add (open_handles, fh);
	else
		g_hash_table_remove (open_handles, fh);
	g_mutex_unlock (&handles_lock);
}

static void
file_handle_free (FileHandle *fh)
{
	track_handle (fh, false);
	quota_give (QUOTA_HANDLES, fh->opener);
	if (fh->output_fd >= 0)
		close (fh->output_fd);
	if (fh->snapshot)
		g_string_free (fh->snapshot, TRUE);
	if (fh->text_before_empty)
		g_string_free (fh->text_before_empty, TRUE);
	events_close (fh->events);
	sandbox_unref (fh->sb);
	g_mutex_clear (&fh->lock);
	g_free (fh);
}

FileHandle *
file_handle_ref (FileHandle *fh)
{
	g_atomic_int_inc (&fh->refcount);
	return fh;
}

void
file_handle_unref (FileHandle *fh)
{
	if (fh && g_atomic_int_dec_and_test (&fh->refcount))
		file_handle_free (fh);
}

/* Output of an ended job changes no more (the exceptions, a background
 * process still holding the file, or truncating it, change its size and
 * mtime, and the kernel drops its cached pages when a getattr shows
 * that), so it is read through the page cache and kept there across
 * opens: re-reading it is a read from memory.  Inode numbers are never
 * reused for other output within a mount, so no stale pages can show
 * up elsewhere.  Running jobs' output is direct I/O: its size moves. */
static bool
output_is_final (FileHandle *fh)
{
	Job *job;
	bool ended;

	g_mutex_lock (&fh->sb->lock);
	job = sandbox_job_locked (fh->sb, fh->job_id);
	ended = job && job->status;
	g_mutex_unlock (&fh->sb->lock);
	return ended;
}

/* An open of SPEC (of SB, which it takes, or none) by OPENER. */
static FileHandle *
file_handle_new (uid_t opener, Sandbox *sb, const NodeSpec *spec, unsigned job_id, int flags)
{
	FileHandle *fh = g_new0 (FileHandle, 1);

	fh->refcount = 1;
	fh->opener = opener;
	g_mutex_init (&fh->lock);
	fh->sb = sb;
	fh->spec = spec;
	fh->job_id = job_id;
	fh->flags = flags;
	fh->output_fd = -1;
	return fh;
}

/* /.events: a reader of every sandbox's events, belonging to none. */
static void
open_top_events (fuse_req_t req, struct fuse_file_info *fi, const NodeSpec *spec, uid_t opener)
{
	FileHandle *fh;
	NsError err;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err (req, EACCES);
		return;
	}
	if ((r = quota_take (QUOTA_HANDLES, opener, &err)) < 0) {
		fuse_reply_err (req, -r);
		return;
	}
	fh = file_handle_new (opener, NULL, spec, 0, fi->flags);
	fh->events = events_open (0, opener);
	fi->noflush = 1;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	track_handle (fh, true);
	fi->fh = (uint64_t) (uintptr_t) fh;
	if (fuse_reply_open (req, fi) == -ENOENT)
		file_handle_unref (fh);
}

void
handles_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int accmode = fi->flags & O_ACCMODE;
	uid_t opener = fuse_req_ctx (req)->uid;
	NsError err;
	FileHandle *fh;
	Node n;
	int r = node_resolve (ino, &n);

	if (r == 0 && !n.sb && n.spec == &top_events_node)
		return open_top_events (req, fi, n.spec, opener);
	if (r == 0 && (!n.sb || S_ISDIR (n.spec->mode)))
		r = -EISDIR;
	/* Root passes the mode check; read-only files stay read-only. */
	if (r == 0 && (accmode != O_RDONLY || (fi->flags & O_TRUNC)) && !n.spec->store)
		r = -EACCES;
	/* Every open costs memory, and one of job output a descriptor. */
	if (r == 0 && (r = quota_take (QUOTA_HANDLES, opener, &err)) < 0 && opener == n.sb->owner)
		sandbox_set_error (n.sb, n.spec->name, &err);
	if (r < 0) {
		node_clear (&n);
		fuse_reply_err (req, -r);
		return;
	}
	fh = file_handle_new (opener, g_steal_pointer (&n.sb), n.spec, n.job_id, fi->flags);
	if (fh->job_id && fh->spec == &job_nodes[JOB_NODE_STDIN] && (r = job_stdin_open (fh)) != 0) {
		file_handle_unref (fh);
		fuse_reply_err (req, r);
		return;
	}
	/* Events from this open on: its own reader. */
	if (fh->spec->read == READ_EVENTS)
		fh->events = events_open (fh->sb->serial, opener);
	if (fh->spec->read == READ_OUTPUT) {
		g_autofree char *path = sandbox_job_path (fh->sb, fh->job_id, fh->spec->output);
		fh->output_fd = open (path, O_RDONLY | O_CLOEXEC);
		if (fh->output_fd < 0) {
			r = -errno;
			file_handle_unref (fh);
			fuse_reply_err (req, -r);
			return;
		}
	}
	/* `: > rootfs` writes nothing and means the empty value: stored when
	 * the file is closed, which is the only request that then comes (a
	 * flush, asked for on these opens alone; others need none). */
	fh->empty_on_close = (fi->flags & O_TRUNC) && n.spec->truncate_empties;
	fi->noflush = !fh->empty_on_close;
	track_handle (fh, true);
	/* Sizes of generated files are not known in advance. */
	fi->direct_io = 1;
	fi->nonseekable = fh->spec->read == READ_EVENTS;
	if (fh->spec->read == READ_OUTPUT && output_is_final (fh)) {
		fi->direct_io = 0;
		fi->keep_cache = 1;
	}
	fi->fh = (uint64_t) (uintptr_t) fh;
	if (fuse_reply_open (req, fi) == -ENOENT)
		file_handle_unref (fh); /* the opener was interrupted */
}


void
handles_release (FileHandle *fh)
{
	wait_forget_pollhandle (fh);
	events_close (g_steal_pointer (&fh->events));
	job_stdin_release (fh);
	file_handle_unref (fh);
}

void
ops_free_handles (void)
{
	g_autoptr (GList) list = NULL;

	g_mutex_lock (&handles_lock);
	if (open_handles)
		list = g_hash_table_get_keys (open_handles);
	g_mutex_unlock (&handles_lock);
	for (GList *l = list; l; l = l->next)
		file_handle_free (l->data);
	g_mutex_lock (&handles_lock);
	g_clear_pointer (&open_handles, g_hash_table_destroy);
	g_mutex_unlock (&handles_lock);
}

