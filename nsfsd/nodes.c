/* Inode numbers to nodes: which sandbox, job and table row a number
 * names, and the lookup of a name in a directory.  Nothing is allocated
 * per inode (see inodes.h). */
#include "nodes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "inodes.h"

void
node_clear (Node *n)
{
	g_clear_pointer (&n->sb, sandbox_unref);
}

/* Resolve INO to a node that exists right now. */
int
node_resolve (fuse_ino_t ino, Node *n)
{
	memset (n, 0, sizeof *n);
	if (ino == INO_ROOT)
		return 0;
	if (ino == INO_TOP_EVENTS) {
		n->spec = &top_events_node;
		return 0;
	}
	n->sb = sandbox_by_serial (ino_serial (ino));
	if (!n->sb)
		return -ENOENT;
	n->node = ino_node (ino);
	n->job_id = ino_job (ino);
	g_mutex_lock (&n->sb->lock);
	if (n->job_id) {
		Job *job = n->node < JOB_NODE_COUNT ? sandbox_job_locked (n->sb, n->job_id) : NULL;
		if (!job || !job_node_visible (job, n->node))
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

fuse_ino_t
node_ino (const Node *n)
{
	if (n->spec == &top_events_node)
		return INO_TOP_EVENTS;
	return ino_make (n->sb->serial, n->job_id, n->node);
}


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

int
node_lookup_child (const Node *dir, const char *name, Node *out)
{
	memset (out, 0, sizeof *out);
	if (!dir->sb && dir->spec) /* /.events */
		return -ENOTDIR;
	if (!dir->sb && strcmp (name, top_events_node.name) == 0) {
		out->spec = &top_events_node;
		return 0;
	}
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
				Job *job;
				bool visible;
				g_mutex_lock (&dir->sb->lock);
				job = sandbox_job_locked (dir->sb, dir->job_id);
				visible = job && job_node_visible (job, i);
				g_mutex_unlock (&dir->sb->lock);
				if (!visible)
					return -ENOENT;
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

