/* fuse_lowlevel_ops for nsfsd.  Every handler ends in exactly one reply,
 * except `wait` reads, whose reply is deferred until the job ends. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "files.h"
#include "inodes.h"
#include "names.h"
#include "sandbox.h"

#define LINK_ENTRY_TIMEOUT 0.0  /* ns/<type>, root, last change target */
#define ENTRY_TIMEOUT 1.0
/* Sizes and mtimes move (tail -f polls them); and a positive timeout on
 * the root would let a stat of a dead mount (nsfsd killed) succeed from
 * the cache, so the mount would look alive when it is not. */
#define ATTR_TIMEOUT 0.0
/* A sandbox's directory changes only in its mtime, and nsfsd drops the
 * kernel's copy whenever that moves (on_sandbox_touched), so it may be
 * cached: `ls -l` of the mount then needs no getattr per entry, and every
 * path through the sandbox one fewer.  The root stays uncached (above),
 * so a path walk still finds a dead mount dead. */
#define SANDBOX_DIR_ATTR_TIMEOUT 1.0
#define OUTPUT_BLKSIZE (1024 * 1024)
/* libfuse splices a reply only if it fits its pipe with a few pages to
 * spare, and pipes stop at 1 MiB without CAP_SYS_RESOURCE. */
#define SPLICE_MAX (1024 * 1024 - 16 * 4096)

static struct fuse_session *session;
static struct timespec mount_time;

void
ops_set_session (struct fuse_session *se)
{
	session = se;
}

/* --- resolving inode numbers -------------------------------------------- */

typedef struct {
	Sandbox *sb;          /* a reference, or NULL for the root */
	const NodeSpec *spec;
	unsigned node;
	unsigned job_id;
} Node;

static void
node_clear (Node *n)
{
	g_clear_pointer (&n->sb, sandbox_unref);
}

/* Resolve INO to a node that exists right now. */
static int
resolve (fuse_ino_t ino, Node *n)
{
	memset (n, 0, sizeof *n);
	if (ino == INO_ROOT)
		return 0;
	n->sb = sandbox_by_serial (ino_serial (ino));
	if (!n->sb)
		return -ENOENT;
	n->node = ino_node (ino);
	n->job_id = ino_job (ino);
	g_mutex_lock (&n->sb->lock);
	if (n->job_id) {
		if (n->node >= JOB_NODE_COUNT || !sandbox_job_locked (n->sb, n->job_id))
			goto gone;
		n->spec = &job_nodes[n->node];
	} else {
		if (n->node >= SB_NODE_COUNT || !sandbox_node_visible (n->sb, n->node))
			goto gone;
		n->spec = &sandbox_nodes[n->node];
	}
	g_mutex_unlock (&n->sb->lock);
	return 0;
gone:
	g_mutex_unlock (&n->sb->lock);
	node_clear (n);
	return -ENOENT;
}

static fuse_ino_t
node_ino (const Node *n)
{
	return ino_make (n->sb->serial, n->job_id, n->node);
}

static double
attr_timeout_of (const Node *n)
{
	bool sandbox_dir = n->sb && !n->job_id && n->node == SB_NODE_DIR;

	return sandbox_dir ? SANDBOX_DIR_ATTR_TIMEOUT : ATTR_TIMEOUT;
}

/* --- attributes --------------------------------------------------------- */

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
	st->st_atim = st->st_mtim = st->st_ctim = mount_time;
}

/* Fill ST for N; sb->lock must not be held. */
static int
stat_node (const Node *n, struct stat *st)
{
	Sandbox *sb = n->sb;
	Job *job = NULL;

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
	st->st_ctim = sb->ctime;
	st->st_mtim = sb->mtime;
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
		g_autofree char *target = n->spec->link (sb, n->node);
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

static void
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
	e.entry_timeout = S_ISLNK (e.attr.st_mode) ? LINK_ENTRY_TIMEOUT : ENTRY_TIMEOUT;
	fuse_reply_entry (req, &e);
}

/* --- lookup and listing ------------------------------------------------- */

static bool
parse_job_id (const char *name, unsigned *id)
{
	char *end;
	unsigned long v;

	if (!g_ascii_isdigit (name[0]) || name[0] == '0')
		return false;
	v = strtoul (name, &end, 10);
	if (*end || v > INO_MAX_JOB)
		return false;
	*id = (unsigned) v;
	return true;
}

static int
lookup_child (const Node *dir, const char *name, Node *out)
{
	memset (out, 0, sizeof *out);
	if (!dir->sb) {
		out->sb = sandbox_lookup (name);
		if (!out->sb)
			return -ENOENT;
		out->spec = &sandbox_nodes[SB_NODE_DIR];
		return 0;
	}
	if (!S_ISDIR (dir->spec->mode))
		return -ENOTDIR;
	if (dir->job_id) {
		for (unsigned i = 1; i < JOB_NODE_COUNT; i++) {
			if (strcmp (job_nodes[i].name, name) == 0) {
				*out = (Node) { sandbox_ref (dir->sb), &job_nodes[i], i, dir->job_id };
				return 0;
			}
		}
		return -ENOENT;
	}
	if (dir->node == SB_NODE_JOBS) {
		unsigned id;
		bool exists;
		if (!parse_job_id (name, &id))
			return -ENOENT;
		g_mutex_lock (&dir->sb->lock);
		exists = sandbox_job_locked (dir->sb, id) != NULL;
		g_mutex_unlock (&dir->sb->lock);
		if (!exists)
			return -ENOENT;
		*out = (Node) { sandbox_ref (dir->sb), &job_nodes[JOB_NODE_DIR], JOB_NODE_DIR, id };
		return 0;
	}
	for (unsigned i = 1; i < SB_NODE_COUNT; i++) {
		bool visible;
		if (sandbox_nodes[i].parent != (int) dir->node || strcmp (sandbox_nodes[i].name, name) != 0)
			continue;
		g_mutex_lock (&dir->sb->lock);
		visible = sandbox_node_visible (dir->sb, i);
		g_mutex_unlock (&dir->sb->lock);
		if (!visible)
			return -ENOENT;
		*out = (Node) { sandbox_ref (dir->sb), &sandbox_nodes[i], i, 0 };
		return 0;
	}
	return -ENOENT;
}

static void
nsfs_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
	Node dir, child = { 0 };
	int r = resolve (parent, &dir);

	if (r == 0)
		r = lookup_child (&dir, name, &child);
	node_clear (&dir);
	if (r < 0) {
		fuse_reply_err (req, -r);
		return;
	}
	reply_entry (req, &child);
	node_clear (&child);
}

/* Answer with N's attributes, or with -R if R already failed; clears N. */
static void
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

static void
nsfs_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	Node n;
	int r = resolve (ino, &n);

	reply_attr_of (req, &n, r);
}

typedef struct {
	char *name;
	fuse_ino_t ino;
	mode_t mode;
	off_t cookie;   /* stable across changes: serial, job id or row */
} DirEntry;

static void
dir_entry_clear (DirEntry *e)
{
	g_free (e->name);
}

static void
add_entry (GArray *a, const char *name, fuse_ino_t ino, mode_t mode, off_t cookie)
{
	DirEntry e = { g_strdup (name), ino, mode, cookie };
	g_array_append_val (a, e);
}

/* The directory's entries, in cookie order; "." and ".." are cookies 1, 2. */
static GArray *
list_dir (const Node *dir, fuse_ino_t self)
{
	GArray *a = g_array_new (FALSE, FALSE, sizeof (DirEntry));

	g_array_set_clear_func (a, (GDestroyNotify) dir_entry_clear);
	add_entry (a, ".", self, S_IFDIR, 1);
	add_entry (a, "..", INO_ROOT, S_IFDIR, 2);
	if (!dir->sb) {
		g_autoptr (GPtrArray) list = sandbox_list ();
		for (guint i = 0; i < list->len; i++) {
			Sandbox *sb = list->pdata[i];
			add_entry (a, sb->name, ino_make (sb->serial, 0, SB_NODE_DIR), S_IFDIR, (off_t) sb->serial + 2);
		}
		return a;
	}
	g_mutex_lock (&dir->sb->lock);
	if (dir->job_id) {
		for (unsigned i = 1; i < JOB_NODE_COUNT; i++)
			add_entry (a, job_nodes[i].name, ino_make (dir->sb->serial, dir->job_id, i), job_nodes[i].mode, i + 2);
	} else if (dir->node == SB_NODE_JOBS) {
		for (guint i = 0; i < dir->sb->jobs->len; i++) {
			Job *job = dir->sb->jobs->pdata[i];
			char name[16];
			if (job->pending)
				continue;
			snprintf (name, sizeof name, "%u", job->id);
			add_entry (a, name, ino_make (dir->sb->serial, job->id, JOB_NODE_DIR), S_IFDIR, (off_t) job->id + 2);
		}
	} else {
		for (unsigned i = 1; i < SB_NODE_COUNT; i++)
			if (sandbox_nodes[i].parent == (int) dir->node && sandbox_node_visible (dir->sb, i))
				add_entry (a, sandbox_nodes[i].name, ino_make (dir->sb->serial, 0, i), sandbox_nodes[i].mode, i + 2);
	}
	g_mutex_unlock (&dir->sb->lock);
	return a;
}

/* Add E to BUF; with PLUS, with its attributes, so that `ls -l` needs no
 * lookup per entry.  Returns the space it needs, as fuse_add_direntry does. */
static size_t
add_listed (fuse_req_t req, char *buf, size_t room, const DirEntry *e, bool plus)
{
	struct fuse_entry_param p = { .attr = { .st_ino = e->ino, .st_mode = e->mode } };
	Node n;

	if (!plus)
		return fuse_add_direntry (req, buf, room, e->name, &p.attr, e->cookie);
	/* "." and ".." and entries gone since the listing go without
	 * attributes (ino 0): the kernel then looks them up if it must. */
	if (e->cookie > 2 && resolve (e->ino, &n) == 0) {
		if (stat_node (&n, &p.attr) == 0) {
			p.ino = p.attr.st_ino;
			p.attr_timeout = attr_timeout_of (&n);
			p.entry_timeout = S_ISLNK (p.attr.st_mode) ? LINK_ENTRY_TIMEOUT : ENTRY_TIMEOUT;
		}
		node_clear (&n);
	}
	return fuse_add_direntry_plus (req, buf, room, e->name, &p, e->cookie);
}

static void
reply_listing (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	g_autofree char *buf = NULL;
	g_autoptr (GArray) entries = NULL;
	size_t used = 0;
	Node dir;
	int r = resolve (ino, &dir);

	if (r == 0 && dir.sb && !S_ISDIR (dir.spec->mode))
		r = -ENOTDIR;
	if (r < 0) {
		node_clear (&dir);
		fuse_reply_err (req, -r);
		return;
	}
	entries = list_dir (&dir, ino);
	node_clear (&dir);
	buf = g_malloc (size);
	for (guint i = 0; i < entries->len; i++) {
		DirEntry *e = &g_array_index (entries, DirEntry, i);
		size_t need;

		if (e->cookie <= off)
			continue;
		need = add_listed (req, buf + used, size - used, e, plus);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf (req, buf, used);
}

static void
nsfs_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_listing (req, ino, size, off, false);
}

static void
nsfs_readdirplus (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	reply_listing (req, ino, size, off, true);
}

static void
nsfs_readlink (fuse_req_t req, fuse_ino_t ino)
{
	g_autofree char *target = NULL;
	Node n;
	int r = resolve (ino, &n);

	if (r == 0 && (!n.sb || !S_ISLNK (n.spec->mode)))
		r = -EINVAL;
	if (r == 0) {
		g_mutex_lock (&n.sb->lock);
		target = n.spec->link (n.sb, n.node);
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
	NsError err = { 0 };
	int r;

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
	r = sandbox_destroy (sb, &err);
	if (r < 0)
		sandbox_set_error (sb, "rmdir", &err);
	fuse_reply_err (req, r < 0 ? -r : 0);
}

static void
nsfs_eperm_entry (fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err (req, EPERM);
}

static void
nsfs_mknod (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err (req, EPERM);
}

static void
nsfs_symlink (fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err (req, EPERM);
}

static void
nsfs_rename (fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
             unsigned int flags)
{
	fuse_reply_err (req, EPERM);
}

static void
nsfs_link (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err (req, EPERM);
}

static void
nsfs_create (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
	fuse_reply_err (req, EPERM);
}

/* --- open, read, write -------------------------------------------------- */

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
	if (fh->output_fd >= 0)
		close (fh->output_fd);
	if (fh->snapshot)
		g_string_free (fh->snapshot, TRUE);
	if (fh->text_before_empty)
		g_string_free (fh->text_before_empty, TRUE);
	sandbox_unref (fh->sb);
	g_mutex_clear (&fh->lock);
	g_free (fh);
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

static void
nsfs_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int accmode = fi->flags & O_ACCMODE;
	FileHandle *fh;
	Node n;
	int r = resolve (ino, &n);

	if (r == 0 && (!n.sb || S_ISDIR (n.spec->mode)))
		r = -EISDIR;
	/* Root passes the mode check; read-only files stay read-only. */
	if (r == 0 && (accmode != O_RDONLY || (fi->flags & O_TRUNC)) && !n.spec->store)
		r = -EACCES;
	if (r < 0) {
		node_clear (&n);
		fuse_reply_err (req, -r);
		return;
	}
	fh = g_new0 (FileHandle, 1);
	g_mutex_init (&fh->lock);
	fh->sb = g_steal_pointer (&n.sb);
	fh->spec = n.spec;
	fh->job_id = n.job_id;
	fh->flags = fi->flags;
	fh->output_fd = -1;
	if (fh->spec->read == READ_OUTPUT) {
		g_autofree char *path = sandbox_job_path (fh->sb, fh->job_id, fh->spec->output);
		fh->output_fd = open (path, O_RDONLY | O_CLOEXEC);
		if (fh->output_fd < 0) {
			r = -errno;
			file_handle_free (fh);
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
	if (fh->spec->read == READ_OUTPUT && output_is_final (fh)) {
		fi->direct_io = 0;
		fi->keep_cache = 1;
	}
	fi->fh = (uint64_t) (uintptr_t) fh;
	if (fuse_reply_open (req, fi) == -ENOENT)
		file_handle_free (fh); /* the opener was interrupted */
}

static void
record_error (Sandbox *sb, const NodeSpec *spec, const NsError *err)
{
	const char *name = spec->name;
	size_t n = strlen (name);

	/* Parser messages usually name their file already. */
	if (strncmp (err->msg, name, n) == 0 && err->msg[n] == ':')
		sandbox_set_error (sb, NULL, err);
	else
		sandbox_set_error (sb, name, err);
}

static GString *
show_text (Sandbox *sb, const NodeSpec *spec)
{
	GString *text = g_string_new (NULL);

	g_mutex_lock (&sb->lock);
	spec->show (sb, NULL, text);
	g_mutex_unlock (&sb->lock);
	return text;
}

/* Store a value in SPEC's file; op_lock held. */
static int
store_locked (Sandbox *sb, const NodeSpec *spec, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	int r;

	/* The kernel hands a large write(2) over in pieces: LEN is the first
	 * piece's, not necessarily the whole write's. */
	if (len > NS_MAX_WRITE)
		return ns_error (err, EFBIG, "a write of %zu bytes or more is over the limit of %d", len, NS_MAX_WRITE);
	if (sb->removed)
		return ns_error (err, ENOENT, "the sandbox was removed");
	r = spec->store (sb, fh, buf, len, err);
	if (r == 0 && spec->truncate_empties)
		sb->emptiable_stores++;
	return r;
}

/* Validate and apply one value written to SPEC's file (FH: the open it
 * came through, if any): 0 or -errno, with `error` saying why.  A failed
 * write on an open whose close stored the empty value (sh's `echo /bad >
 * rootfs` closes a dup first) leaves what was there before the
 * redirection, unless a value was stored there since. */
static int
store_value (Sandbox *sb, const NodeSpec *spec, FileHandle *fh, const char *buf, size_t len)
{
	g_autoptr (GString) before = NULL;
	NsError err = { 0 }, ignored;
	int r;

	g_mutex_lock (&sb->op_lock);
	if (fh)
		before = g_steal_pointer (&fh->text_before_empty);
	r = store_locked (sb, spec, fh, buf, len, &err);
	if (r < 0 && before && sb->emptiable_stores == fh->stores_at_empty &&
	    store_locked (sb, spec, NULL, before->str, before->len, &ignored) < 0)
		g_warning ("%s: cannot put %s back: %s", sb->name, spec->name, ignored.msg);
	g_mutex_unlock (&sb->op_lock);
	if (r < 0)
		record_error (sb, spec, &err);
	return r;
}

/* `: > rootfs` (and Python's write_text("")) opens with O_TRUNC and
 * closes without a write: the empty value, stored at the first close.
 * sh closes a dup of the file before `echo /x > rootfs` writes to it,
 * so that close comes first there too; the value it replaced is kept
 * on the open, and a write through it that fails puts it back. */
static void
nsfs_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	FileHandle *fh = (FileHandle *) (uintptr_t) fi->fh;
	Sandbox *sb = fh->sb;
	g_autoptr (GString) before = NULL;
	NsError err = { 0 };
	bool store;
	int r = 0;

	/* op_lock first: a write on this open in flight meanwhile has then
	 * either cleared empty_on_close or not begun. */
	g_mutex_lock (&sb->op_lock);
	g_mutex_lock (&fh->lock);
	store = fh->empty_on_close;
	fh->empty_on_close = false;
	g_mutex_unlock (&fh->lock);
	if (store) {
		before = show_text (sb, fh->spec);
		r = store_locked (sb, fh->spec, fh, "", 0, &err);
		if (r == 0) {
			fh->text_before_empty = g_steal_pointer (&before);
			fh->stores_at_empty = sb->emptiable_stores;
		}
	}
	g_mutex_unlock (&sb->op_lock);
	if (r < 0)
		record_error (sb, fh->spec, &err);
	/* Errors come back from close(2), as a write's would from write. */
	fuse_reply_err (req, -r);
}

/* The poll handle an open of `wait` left with its running job goes with
 * the open: a tool that opens, polls and closes in a loop would pile
 * them up until the job ends. */
static void
forget_pollhandle (FileHandle *fh)
{
	Job *job;

	if (!fh->pollhandle)
		return;
	g_mutex_lock (&fh->sb->lock);
	job = sandbox_job_locked (fh->sb, fh->job_id);
	if (job && !job->status)
		g_ptr_array_remove (job->pollhandles, fh->pollhandle); /* and destroy */
	g_mutex_unlock (&fh->sb->lock);
	fh->pollhandle = NULL;
}

static void
nsfs_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	forget_pollhandle ((FileHandle *) (uintptr_t) fi->fh);
	file_handle_free ((FileHandle *) (uintptr_t) fi->fh);
	fuse_reply_err (req, 0);
}

static void
reply_slice (fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	if ((size_t) off >= len)
		fuse_reply_buf (req, NULL, 0);
	else
		fuse_reply_buf (req, data + off, MIN (size, len - (size_t) off));
}

/* After a reply the kernel may release the file at once, so nothing may
 * touch FH (its lock included) once the reply is sent: copy, unlock,
 * then reply. */
static void
read_snapshot (fuse_req_t req, FileHandle *fh, size_t size, off_t off)
{
	g_autofree char *slice = NULL;
	size_t len = 0;

	g_mutex_lock (&fh->lock);
	/* One snapshot per pass: regenerated when a reader starts over. */
	if (!fh->snapshot || off == 0) {
		Job *job = NULL;
		if (fh->snapshot)
			g_string_truncate (fh->snapshot, 0);
		else
			fh->snapshot = g_string_new (NULL);
		g_mutex_lock (&fh->sb->lock);
		if (fh->job_id)
			job = sandbox_job_locked (fh->sb, fh->job_id);
		if (!fh->job_id || job)
			fh->spec->show (fh->sb, job, fh->snapshot);
		g_mutex_unlock (&fh->sb->lock);
	}
	if ((size_t) off < fh->snapshot->len) {
		len = MIN (size, fh->snapshot->len - (size_t) off);
		slice = g_memdup2 (fh->snapshot->str + off, len);
	}
	g_mutex_unlock (&fh->lock);
	fuse_reply_buf (req, slice, len);
}

static void
read_job_id (fuse_req_t req, FileHandle *fh, size_t size)
{
	char text[16] = "";
	size_t len = 0, start;

	/* The file offset is past what was written; our own position counts. */
	g_mutex_lock (&fh->lock);
	if (fh->started_job)
		len = (size_t) snprintf (text, sizeof text, "%u\n", fh->started_job);
	start = MIN (fh->id_read_pos, len);
	size = MIN (size, len - start);
	fh->id_read_pos = start + size;
	g_mutex_unlock (&fh->lock);
	fuse_reply_buf (req, text + start, size);
}

/* Output goes to the kernel by splice where it fits (SPLICE_MAX): file
 * to pipe to /dev/fuse moves page references, so the only copy is the
 * kernel's into the reader's buffer or page cache.  libfuse keeps the
 * pipe (one per worker thread, freed with the thread).  Bigger direct
 * reads (cat asks for st_blksize, a megabyte) are copied. */
static bool splice_output;

/* Without splice: a copy through a buffer kept per thread, since a fresh
 * megabyte per read would be an mmap, page faults and an munmap each time. */
static __thread char *output_buf;
static __thread size_t output_buf_size;

static void
free_output_buf (void *buf)
{
	g_free (buf);
}

static void
copy_output (fuse_req_t req, int fd, size_t size, off_t off)
{
	static GPrivate cleanup = G_PRIVATE_INIT (free_output_buf);
	ssize_t n;

	if (output_buf_size < size) {
		g_free (output_buf);
		output_buf = g_malloc (size);
		output_buf_size = size;
		/* Freed when the worker thread ends. */
		g_private_set (&cleanup, output_buf);
	}
	do
		n = pread (fd, output_buf, size, off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fuse_reply_err (req, errno);
	else
		fuse_reply_buf (req, output_buf, (size_t) n);
}

static void
read_output (fuse_req_t req, FileHandle *fh, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT (0);
	struct stat st;

	if (!splice_output) {
		copy_output (req, fh->output_fd, size, off);
		return;
	}
	/* Ask for no more than there is: a short splice makes libfuse redo
	 * the whole request as a copy. */
	if (fstat (fh->output_fd, &st) < 0) {
		fuse_reply_err (req, errno);
		return;
	}
	if (off >= st.st_size) {
		fuse_reply_buf (req, NULL, 0);
		return;
	}
	size = MIN (size, (size_t) (st.st_size - off));
	if (size > SPLICE_MAX) {
		copy_output (req, fh->output_fd, size, off);
		return;
	}
	bv.buf[0].size = size;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fh->output_fd;
	bv.buf[0].pos = off;
	fuse_reply_data (req, &bv, 0);
}

/* --- wait: deferred replies --------------------------------------------- */

typedef struct {
	uint32_t serial;
	unsigned job_id;
	size_t size;
	off_t off;
} Waiter;

/* req -> Waiter.  The job's end and an interrupt race to reply; whoever
 * takes the request out of the table under wait_lock replies. */
static GRecMutex wait_lock;
static GHashTable *waiters;

/* Set while this thread registers the interrupt callback: libfuse then
 * calls it at once for an already interrupted request, holding the
 * request's lock, and a reply from in there would free that lock under
 * libfuse's feet.  So the callback only marks, and the registering
 * thread replies. */
static __thread bool registering_interrupt;
static __thread bool interrupted_while_registering;

static void
on_wait_interrupted (fuse_req_t req, void *data)
{
	Waiter *w;

	if (registering_interrupt) {
		interrupted_while_registering = true;
		return;
	}
	g_rec_mutex_lock (&wait_lock);
	w = waiters ? g_hash_table_lookup (waiters, req) : NULL;
	if (w)
		g_hash_table_steal (waiters, req);
	g_rec_mutex_unlock (&wait_lock);
	if (w) {
		g_free (w);
		fuse_reply_err (req, EINTR);
	}
}

static void
read_wait (fuse_req_t req, FileHandle *fh, size_t size, off_t off)
{
	g_autofree char *status = NULL;
	Waiter *w;
	Job *job;

	g_rec_mutex_lock (&wait_lock);
	g_mutex_lock (&fh->sb->lock);
	job = sandbox_job_locked (fh->sb, fh->job_id);
	if (job && job->status)
		status = g_strconcat (job->status, "\n", NULL);
	g_mutex_unlock (&fh->sb->lock);
	if (!job || status || (fh->flags & O_NONBLOCK)) {
		g_rec_mutex_unlock (&wait_lock);
		if (!job)
			fuse_reply_err (req, ENOENT);
		else if (status)
			reply_slice (req, status, strlen (status), size, off);
		else
			fuse_reply_err (req, EAGAIN);
		return;
	}
	registering_interrupt = true;
	interrupted_while_registering = false;
	fuse_req_interrupt_func (req, on_wait_interrupted, NULL);
	registering_interrupt = false;
	if (interrupted_while_registering) {
		g_rec_mutex_unlock (&wait_lock);
		fuse_reply_err (req, EINTR);
		return;
	}
	w = g_new0 (Waiter, 1);
	*w = (Waiter) { fh->sb->serial, fh->job_id, size, off };
	if (!waiters)
		waiters = g_hash_table_new (g_direct_hash, g_direct_equal);
	g_hash_table_insert (waiters, req, w);
	g_rec_mutex_unlock (&wait_lock);
}

typedef struct {
	fuse_req_t req;
	Waiter *w;
} Ready;

static void
on_sandbox_touched (const Sandbox *sb)
{
	fuse_ino_t dir = ino_make (sb->serial, 0, SB_NODE_DIR);

	/* A negative offset drops the attributes only; the kernel takes no
	 * lock that a request in flight could hold, so this cannot wait on
	 * nsfsd.  -ENOENT: the kernel does not know the directory yet. */
	if (session)
		fuse_lowlevel_notify_inval_inode (session, dir, -1, 0);
}

/* A job ended: answer its blocked readers and wake its pollers. */
static void
on_job_end (Sandbox *sb, unsigned id)
{
	g_autoptr (GArray) ready = g_array_new (FALSE, FALSE, sizeof (Ready));
	g_autoptr (GPtrArray) handles = NULL;
	g_autofree char *status = NULL;
	GHashTableIter it;
	gpointer key, value;
	Job *job;

	g_mutex_lock (&sb->lock);
	job = id >= 1 && id <= sb->jobs->len ? sb->jobs->pdata[id - 1] : NULL;
	if (job) {
		status = g_strconcat (job->status ? job->status : "running", "\n", NULL);
		handles = job->pollhandles;
		job->pollhandles = sandbox_pollhandles_new ();
	}
	g_mutex_unlock (&sb->lock);
	if (!job)
		return;

	g_rec_mutex_lock (&wait_lock);
	if (waiters) {
		g_hash_table_iter_init (&it, waiters);
		while (g_hash_table_iter_next (&it, &key, &value)) {
			Waiter *w = value;
			if (w->serial == sb->serial && w->job_id == id) {
				Ready rd = { key, w };
				g_array_append_val (ready, rd);
				g_hash_table_iter_steal (&it);
			}
		}
	}
	g_rec_mutex_unlock (&wait_lock);
	for (guint i = 0; i < ready->len; i++) {
		Ready *rd = &g_array_index (ready, Ready, i);
		reply_slice (rd->req, status, strlen (status), rd->w->size, rd->w->off);
		g_free (rd->w);
	}
	for (guint i = 0; i < handles->len; i++)
		fuse_lowlevel_notify_poll (handles->pdata[i]);
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

void
ops_cancel_waiters (void)
{
	GHashTableIter it;
	gpointer key, value;

	g_rec_mutex_lock (&wait_lock);
	if (waiters) {
		g_hash_table_iter_init (&it, waiters);
		while (g_hash_table_iter_next (&it, &key, &value)) {
			g_hash_table_iter_steal (&it);
			g_free (value);
			fuse_reply_err (key, EINTR);
		}
		g_hash_table_destroy (waiters);
		waiters = NULL;
	}
	g_rec_mutex_unlock (&wait_lock);
}

static void
nsfs_poll (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct fuse_pollhandle *ph)
{
	FileHandle *fh = (FileHandle *) (uintptr_t) fi->fh;
	unsigned revents = POLLIN | POLLRDNORM;
	Job *job;

	if (fh->spec->read != READ_WAIT) {
		if (fh->spec->store)
			revents |= POLLOUT | POLLWRNORM;
		if (ph)
			fuse_pollhandle_destroy (ph);
		fuse_reply_poll (req, revents);
		return;
	}
	g_mutex_lock (&fh->sb->lock);
	job = sandbox_job_locked (fh->sb, fh->job_id);
	if (job && !job->status) {
		revents = 0;
		if (ph) {
			/* The kernel asks again on every poll(2) of this open;
			 * one handle per open is all it needs to be woken. */
			if (fh->pollhandle)
				g_ptr_array_remove (job->pollhandles, fh->pollhandle); /* and destroy */
			g_ptr_array_add (job->pollhandles, ph);
			fh->pollhandle = ph;
			ph = NULL;
		}
	}
	g_mutex_unlock (&fh->sb->lock);
	if (ph)
		fuse_pollhandle_destroy (ph);
	fuse_reply_poll (req, revents);
}

static void
nsfs_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	FileHandle *fh = (FileHandle *) (uintptr_t) fi->fh;

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
		read_wait (req, fh, size, off);
		return;
	}
	fuse_reply_err (req, EIO);
}

static void
nsfs_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	FileHandle *fh = (FileHandle *) (uintptr_t) fi->fh;
	int r;

	if (!fh->spec->store) {
		fuse_reply_err (req, EBADF);
		return;
	}
	/* A write, good or bad, is the value: the close stores no other. */
	g_mutex_lock (&fh->lock);
	fh->empty_on_close = false;
	g_mutex_unlock (&fh->lock);
	/* Each write(2) is one whole message, whatever its offset. */
	if ((r = store_value (fh->sb, fh->spec, fh, buf, size)) < 0) {
		fuse_reply_err (req, -r);
		return;
	}
	fuse_reply_write (req, size);
}

static void
nsfs_setattr (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
	                  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	Node n;
	int r = resolve (ino, &n);

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
		else if (n.spec->truncate_empties)
			r = store_value (n.sb, n.spec, NULL, "", 0);
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
	if (conn->capable & FUSE_CAP_SPLICE_WRITE) {
		conn->want |= FUSE_CAP_SPLICE_WRITE;
		splice_output = true;
	}
	clock_gettime (CLOCK_REALTIME, &mount_time);
	sandbox_set_job_end_hook (on_job_end);
	sandbox_set_touch_hook (on_sandbox_touched);
}

const struct fuse_lowlevel_ops nsfs_ops = {
	.init = nsfs_init,
	.lookup = nsfs_lookup,
	.getattr = nsfs_getattr,
	.setattr = nsfs_setattr,
	.readlink = nsfs_readlink,
	.mknod = nsfs_mknod,
	.mkdir = nsfs_mkdir,
	.unlink = nsfs_eperm_entry,
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
