/* Attributes: what stat shows of each node, how long the kernel may
 * cache it, and dropping the kernel's copy when a sandbox changes. */
#include "attrs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "inodes.h"

#define LINK_ENTRY_TIMEOUT 0.0  /* ns/<type>, root, last change target */
#define ENTRY_TIMEOUT 1.0
/* Sizes and mtimes move (tail -f polls them). */
#define ATTR_TIMEOUT 0.0
/* A sandbox's directory changes only in its mtime, and nsfsd drops the
 * kernel's copy whenever that moves (attrs_sandbox_touched), so it may be
 * cached: `ls -l` of the mount then needs no getattr per entry, and every
 * path through the sandbox one fewer. */
#define SANDBOX_DIR_ATTR_TIMEOUT 1.0
/* With default_permissions the kernel checks the root's mode on every
 * path walked through it, asking nsfsd whenever its attributes are not
 * cached: uncached, `ls -l` of 1,000 sandboxes made 1,000 round trips for
 * the root (5.9x a tmpfs; 1.4x cached, docs/performance.md).  Cached this
 * long, a dead mount may still answer a stat from the cache for as long;
 * statfs(2) always asks, and is how nsfsd and the tests tell a stale
 * mount (main.c). */
#define ROOT_ATTR_TIMEOUT 0.2
#define OUTPUT_BLKSIZE (1024 * 1024)

static struct fuse_session *session;
static struct timespec mount_time;

void
attrs_init (struct fuse_session *se)
{
	session = se;
	clock_gettime (CLOCK_REALTIME, &mount_time);
}

void
attrs_sandbox_touched (const Sandbox *sb)
{
	fuse_ino_t dir = ino_make (sb->serial, 0, SB_NODE_DIR);

	/* A negative offset drops the attributes only; the kernel takes no
	 * lock that a request in flight could hold, so this cannot wait on
	 * nsfsd.  -ENOENT: the kernel does not know the directory yet. */
	if (session)
		fuse_lowlevel_notify_inval_inode (session, dir, -1, 0);
}

double
entry_timeout_of (mode_t mode)
{
	return S_ISLNK (mode) ? LINK_ENTRY_TIMEOUT : ENTRY_TIMEOUT;
}

double
attr_timeout_of (const Node *n)
{
	bool sandbox_dir = n->sb && !n->job_id && n->node == SB_NODE_DIR;

	if (!n->sb && !n->spec)
		return ROOT_ATTR_TIMEOUT;
	return sandbox_dir ? SANDBOX_DIR_ATTR_TIMEOUT : ATTR_TIMEOUT;
}


static size_t
shown_length (Sandbox *sb, const NodeSpec *spec, Job *job)
{
	g_autoptr (GString) s = g_string_new (NULL);
	spec->show (sb, job, s);
	return s->len;
}

static void
stat_root (struct stat *st)
{
	memset (st, 0, sizeof *st);
	st->st_ino = INO_ROOT;
	/* Like /tmp: anyone may create a sandbox, only its owner remove it. */
	st->st_mode = S_IFDIR | 01777;
	/* Real link counts: find(1) may trust them to skip leaf directories. */
	st->st_nlink = 2 + sandbox_count ();
	sandbox_registry_changed_at (&st->st_mtim);
	st->st_atim = st->st_ctim = st->st_mtim;
}

/* Fill ST for N; sb->lock must not be held. */
int
stat_node (const Node *n, struct stat *st)
{
	Sandbox *sb = n->sb;
	Job *job = NULL;

	if (!sb && n->spec == &top_events_node) {
		/* Root's, size 0, readable by all, times of the mount. */
		memset (st, 0, sizeof *st);
		st->st_ino = INO_TOP_EVENTS;
		st->st_mode = top_events_node.mode;
		st->st_nlink = 1;
		st->st_blksize = 4096;
		st->st_atim = st->st_mtim = st->st_ctim = mount_time;
		return 0;
	}
	if (!sb) {
		stat_root (st);
		return 0;
	}
	memset (st, 0, sizeof *st);
	st->st_ino = node_ino (n);
	st->st_mode = n->spec->mode;
	st->st_nlink = 1;
	st->st_blksize = 4096;

	g_mutex_lock (&sb->lock);
	st->st_uid = sb->cfg->owner_uid;
	st->st_gid = sb->cfg->owner_gid;
	/* ctime is never older than mtime: nsfsd changes no attribute
	 * without the contents, so the two move together. */
	st->st_mtim = sb->mtime;
	if (!n->job_id && sandbox_node_is_config (n->spec))
		st->st_mtim = sb->file_mtime[n->node];
	st->st_ctim = st->st_mtim;
	if (n->job_id) {
		job = sandbox_job_locked (sb, n->job_id);
		if (!job) {
			g_mutex_unlock (&sb->lock);
			return -ENOENT;
		}
		st->st_ctim = st->st_mtim = job->start_time;
		/* Their contents (and wait's size) changed when the job ended. */
		if (job->status && (n->node == JOB_NODE_STATUS || n->node == JOB_NODE_WAIT))
			st->st_ctim = st->st_mtim = job->end_time;
	}
	if (S_ISDIR (st->st_mode)) {
		st->st_nlink = 2;
		if (!n->job_id && n->node == SB_NODE_DIR)
			st->st_nlink += 2; /* ns, jobs */
		else if (!n->job_id && n->node == SB_NODE_JOBS)
			for (guint i = 0; i < sb->jobs->len; i++)
				st->st_nlink += !((Job *) sb->jobs->pdata[i])->pending;
	} else if (S_ISLNK (st->st_mode)) {
		g_autofree char *target = node_link_target (sb, n->spec, n->node, n->job_id);
		st->st_size = target ? (off_t) strlen (target) : 0;
	} else if (S_ISREG (st->st_mode)) {
		switch (n->spec->read) {
		case READ_SNAPSHOT:
			st->st_size = (off_t) shown_length (sb, n->spec, job);
			break;
		case READ_WAIT:
			/* Size 0 until the job ends, so tar and file managers skip it. */
			st->st_size = job->status ? (off_t) strlen (job->status) + 1 : 0;
			break;
		case READ_JOB_ID:
		case READ_OUTPUT:
		case READ_EVENTS:  /* size 0: tools that trust it never read */
			break;
		}
	}
	g_mutex_unlock (&sb->lock);

	if (n->spec->read == READ_OUTPUT && S_ISREG (st->st_mode)) {
		g_autofree char *path = sandbox_job_path (sb, n->job_id, n->spec->output);
		struct stat out;
		/* Readers size their buffers by st_blksize (cat uses the larger
		 * of it and 128 KiB): a megabyte per request is an eighth of the
		 * round trips for big output. */
		st->st_blksize = OUTPUT_BLKSIZE;
		if (stat (path, &out) == 0) {
			st->st_size = out.st_size;
			st->st_mtim = out.st_mtim;
			st->st_ctim = out.st_ctim;
		}
	}
	st->st_atim = st->st_mtim;
	st->st_blocks = (st->st_size + 511) / 512;
	return 0;
}

void
reply_entry (fuse_req_t req, const Node *n)
{
	struct fuse_entry_param e = { 0 };
	int r = stat_node (n, &e.attr);

	if (r < 0) {
		fuse_reply_err (req, -r);
		return;
	}
	e.ino = e.attr.st_ino;
	e.attr_timeout = attr_timeout_of (n);
	e.entry_timeout = entry_timeout_of (e.attr.st_mode);
	fuse_reply_entry (req, &e);
}


void
reply_attr_of (fuse_req_t req, Node *n, int r)
{
	struct stat st;
	double timeout = r == 0 ? attr_timeout_of (n) : 0;

	if (r == 0)
		r = stat_node (n, &st);
	node_clear (n);
	if (r < 0)
		fuse_reply_err (req, -r);
	else
		fuse_reply_attr (req, &st, timeout);
}

