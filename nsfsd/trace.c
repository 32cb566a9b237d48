/* The request log of trace.h.
 *
 * Every reply nsfsd sends goes through one of nine fuse_reply_*
 * functions, from some sixty places, many of them long after the request
 * came (deferred replies).  The build links nsfsd with `--wrap` for each
 * of them (nsfsd/meson.build), so the wrappers below see every reply
 * without a change at those places; a request's line is kept from its
 * handler's start (trace_request) until then. */
#include "trace.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <glib.h>

#include "inodes.h"
#include "nodes.h"

static bool enabled;
static GMutex lock;
static GHashTable *pending; /* fuse_req_t -> char * (the line so far) */

void
trace_enable (void)
{
	enabled = true;
	pending = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
}

static void
append_path (GString *s, fuse_ino_t ino)
{
	Node n;

	if (ino == INO_ROOT) {
		g_string_append_c (s, '/');
		return;
	}
	if (node_resolve (ino, &n) < 0) {
		g_string_append_printf (s, "(gone: inode %#lx)", (unsigned long) ino);
		return;
	}
	if (!n.sb) {
		g_string_append_printf (s, "/%s", n.spec->name);
	} else if (n.job_id) {
		g_string_append_printf (s, "/%s/jobs/%u", n.sb->name, n.job_id);
		if (n.node != JOB_NODE_DIR)
			g_string_append_printf (s, "/%s", n.spec->name);
	} else {
		g_string_append_printf (s, "/%s", n.sb->name);
		if (n.node != SB_NODE_DIR)
			g_string_append_printf (s, "%s/%s", n.spec->parent == SB_NODE_NS ? "/ns" : "", n.spec->name);
	}
	node_clear (&n);
}

static void
append_name (GString *s, fuse_ino_t ino, const char *name)
{
	append_path (s, ino);
	if (name)
		g_string_append_printf (s, "%s%s", ino == INO_ROOT ? "" : "/", name);
}

void
trace_request2 (fuse_req_t req, const char *op, fuse_ino_t ino, const char *name, fuse_ino_t ino2,
                const char *name2)
{
	const struct fuse_ctx *ctx;
	GString *s;

	if (!enabled)
		return;
	ctx = fuse_req_ctx (req);
	s = g_string_new (NULL);
	g_string_append_printf (s, "pid %d uid %u: %s ", (int) ctx->pid, (unsigned) ctx->uid, op);
	append_name (s, ino, name);
	if (name2) {
		g_string_append (s, " -> ");
		append_name (s, ino2, name2);
	}
	g_mutex_lock (&lock);
	g_hash_table_replace (pending, req, g_string_free (s, FALSE));
	g_mutex_unlock (&lock);
}

void
trace_request (fuse_req_t req, const char *op, fuse_ino_t ino, const char *name)
{
	trace_request2 (req, op, ino, name, 0, NULL);
}

/* REQ's reply is OUTCOME: print its line.  Before the real reply, which
 * frees REQ (and a later request may then get the same address). */
static void G_GNUC_PRINTF (2, 3)
trace_reply (fuse_req_t req, const char *fmt, ...)
{
	g_autofree char *line = NULL, *outcome = NULL;
	va_list ap;

	if (!enabled)
		return;
	g_mutex_lock (&lock);
	g_hash_table_steal_extended (pending, req, NULL, (gpointer *) &line);
	g_mutex_unlock (&lock);
	va_start (ap, fmt);
	outcome = g_strdup_vprintf (fmt, ap);
	va_end (ap);
	fprintf (stderr, "nsfsd: %s: %s\n", line ? line : "(a request)", outcome);
}

int __real_fuse_reply_err (fuse_req_t req, int err);
int __real_fuse_reply_entry (fuse_req_t req, const struct fuse_entry_param *e);
int __real_fuse_reply_attr (fuse_req_t req, const struct stat *attr, double attr_timeout);
int __real_fuse_reply_readlink (fuse_req_t req, const char *link);
int __real_fuse_reply_open (fuse_req_t req, const struct fuse_file_info *fi);
int __real_fuse_reply_write (fuse_req_t req, size_t count);
int __real_fuse_reply_buf (fuse_req_t req, const char *buf, size_t size);
int __real_fuse_reply_data (fuse_req_t req, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags);
int __real_fuse_reply_poll (fuse_req_t req, unsigned revents);

int __wrap_fuse_reply_err (fuse_req_t req, int err);
int __wrap_fuse_reply_entry (fuse_req_t req, const struct fuse_entry_param *e);
int __wrap_fuse_reply_attr (fuse_req_t req, const struct stat *attr, double attr_timeout);
int __wrap_fuse_reply_readlink (fuse_req_t req, const char *link);
int __wrap_fuse_reply_open (fuse_req_t req, const struct fuse_file_info *fi);
int __wrap_fuse_reply_write (fuse_req_t req, size_t count);
int __wrap_fuse_reply_buf (fuse_req_t req, const char *buf, size_t size);
int __wrap_fuse_reply_data (fuse_req_t req, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags);
int __wrap_fuse_reply_poll (fuse_req_t req, unsigned revents);

int
__wrap_fuse_reply_err (fuse_req_t req, int err)
{
	if (err == 0)
		trace_reply (req, "ok");
	else
		trace_reply (req, "%s (%s)", strerrorname_np (err) ? strerrorname_np (err) : "?", strerror (err));
	return __real_fuse_reply_err (req, err);
}

int
__wrap_fuse_reply_entry (fuse_req_t req, const struct fuse_entry_param *e)
{
	trace_reply (req, "ok, inode %#lx, mode %o", (unsigned long) e->ino, (unsigned) e->attr.st_mode);
	return __real_fuse_reply_entry (req, e);
}

int
__wrap_fuse_reply_attr (fuse_req_t req, const struct stat *attr, double attr_timeout)
{
	trace_reply (req, "ok, mode %o, size %lld", (unsigned) attr->st_mode, (long long) attr->st_size);
	return __real_fuse_reply_attr (req, attr, attr_timeout);
}

int
__wrap_fuse_reply_readlink (fuse_req_t req, const char *link)
{
	trace_reply (req, "ok, %s", link);
	return __real_fuse_reply_readlink (req, link);
}

int
__wrap_fuse_reply_open (fuse_req_t req, const struct fuse_file_info *fi)
{
	trace_reply (req, "ok");
	return __real_fuse_reply_open (req, fi);
}

int
__wrap_fuse_reply_write (fuse_req_t req, size_t count)
{
	trace_reply (req, "ok, %zu bytes taken", count);
	return __real_fuse_reply_write (req, count);
}

int
__wrap_fuse_reply_buf (fuse_req_t req, const char *buf, size_t size)
{
	trace_reply (req, "ok, %zu bytes", size);
	return __real_fuse_reply_buf (req, buf, size);
}

int
__wrap_fuse_reply_data (fuse_req_t req, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
{
	trace_reply (req, "ok, %zu bytes", fuse_buf_size (bufv));
	return __real_fuse_reply_data (req, bufv, flags);
}

int
__wrap_fuse_reply_poll (fuse_req_t req, unsigned revents)
{
	trace_reply (req, "ok, events %#x", revents);
	return __real_fuse_reply_poll (req, revents);
}
