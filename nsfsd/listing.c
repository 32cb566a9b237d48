/* Directory listings (readdir and readdirplus) over the tables. */
#include "listing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "attrs.h"
#include "inodes.h"

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

/* The directory's entries, in cookie order; "." and ".." are cookies 1, 2.
 * Of the root, only those after OFF that a reply of SIZE bytes can hold:
 * `ls -l` of 1,000 sandboxes reads it in six requests, and each listed
 * them all. */
static GArray *
list_dir (const Node *dir, fuse_ino_t self, off_t off, size_t size, bool plus)
{
	GArray *a = g_array_new (FALSE, FALSE, sizeof (DirEntry));

	g_array_set_clear_func (a, (GDestroyNotify) dir_entry_clear);
	add_entry (a, ".", self, S_IFDIR, 1);
	add_entry (a, "..", INO_ROOT, S_IFDIR, 2);
	if (!dir->sb) {
		/* An entry takes at least its header (the kernel's struct
		 * fuse_dirent, 24 bytes, or fuse_direntplus, 152) and 8 bytes
		 * of name; fewer only lists more than the reply holds. */
		size_t least = (plus ? 152 : 24) + 8;
		uint32_t after = off > 2 ? (uint32_t) MIN (off - 2, (off_t) G_MAXUINT32) : 0;
		g_autoptr (GPtrArray) list = sandbox_list_after (after, (guint) MIN (size / least + 1, G_MAXUINT));
		for (guint i = 0; i < list->len; i++) {
			Sandbox *sb = list->pdata[i];
			add_entry (a, sb->name, ino_make (sb->serial, 0, SB_NODE_DIR), S_IFDIR, (off_t) sb->serial + 2);
		}
		return a;
	}
	g_mutex_lock (&dir->sb->lock);
	if (dir->job_id) {
		Job *job = sandbox_job_locked (dir->sb, dir->job_id);
		for (unsigned i = 1; i < JOB_NODE_COUNT && job; i++)
			if (job_node_visible (job, i))
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
	if (e->cookie > 2 && node_resolve (e->ino, &n) == 0) {
		if (stat_node (&n, &p.attr) == 0) {
			p.ino = p.attr.st_ino;
			p.attr_timeout = attr_timeout_of (&n);
			p.entry_timeout = entry_timeout_of (p.attr.st_mode);
		}
		node_clear (&n);
	}
	return fuse_add_direntry_plus (req, buf, room, e->name, &p, e->cookie);
}

void
listing_reply (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	g_autofree char *buf = NULL;
	g_autoptr (GArray) entries = NULL;
	size_t used = 0;
	Node dir;
	int r = node_resolve (ino, &dir);

	if (r == 0 && dir.sb && !S_ISDIR (dir.spec->mode))
		r = -ENOTDIR;
	if (r < 0) {
		node_clear (&dir);
		fuse_reply_err (req, -r);
		return;
	}
	entries = list_dir (&dir, ino, off, size, plus);
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

