/* The write path (see writes.h): a queue of ops per sandbox, each op's
 * deferred reply, and interrupts.  No thread ever waits here: an op that
 * must hear from its supervisor is resumed by the answer, on the event
 * thread, and the op after it starts there too. */
#include "writes.h"
#include "events.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "attrs.h"
#include "handles.h"
#include "nodes.h"
#include "quota.h"
#include "sandbox.h"

typedef enum { OP_WRITE, OP_FLUSH, OP_TRUNCATE, OP_RMDIR } OpKind;

typedef struct {
	WriteOp pub;          /* first: a WriteOp* is an Op* */
	OpKind kind;
	fuse_req_t req;       /* under queue_lock; NULL once answered */
	uid_t uid;            /* who is charged for it (QUOTA_REQUESTS) */
	size_t size;          /* OP_WRITE: what the reply says was written */
	fuse_ino_t ino;       /* OP_TRUNCATE: whose attributes the reply has */
	/* OP_WRITE on an open whose close stored the empty value: the text
	 * that was there before, put back if this write fails and nothing
	 * was stored there since (see writes_flush).  OP_FLUSH: the text it
	 * replaced, handed to the open if the empty value is stored. */
	GString *before;
} Op;

/* Guards every Op.req, the live_reqs table and every sandbox's queue. */
static GMutex queue_lock;
static GHashTable *live_reqs; /* fuse_req_t -> Op* of ops not answered yet */

/* See wait.c: libfuse calls an interrupt callback at once, from inside
 * fuse_req_interrupt_func and with the request's lock held, when the
 * request was interrupted already; a reply from in there would free that
 * lock under libfuse's feet.  So the callback only marks it then. */
static __thread bool registering_interrupt;
static __thread bool interrupted_while_registering;

static Op *
op_new (OpKind kind, fuse_req_t req, Sandbox *sb, FileHandle *fh, const NodeSpec *spec, const char *buf,
        size_t len)
{
	Op *op = g_new0 (Op, 1);

	op->kind = kind;
	op->req = req;
	op->uid = fuse_req_ctx (req)->uid;
	op->pub.sb = sandbox_ref (sb);
	op->pub.fh = fh ? file_handle_ref (fh) : NULL;
	op->pub.spec = spec;
	/* A NUL after the value: handlers may take it as a string. */
	op->pub.buf = g_malloc (len + 1);
	if (len)
		memcpy (op->pub.buf, buf, len);
	op->pub.buf[len] = '\0';
	op->pub.len = len;
	return op;
}

static void
op_free (Op *op)
{
	quota_give (QUOTA_REQUESTS, op->uid);
	if (op->pub.state_free)
		op->pub.state_free (op->pub.state);
	if (op->before)
		g_string_free (op->before, TRUE);
	if (op->pub.fh)
		file_handle_unref (op->pub.fh);
	sandbox_unref (op->pub.sb);
	g_free (op->pub.buf);
	g_free (op);
}

static void
record_error (Sandbox *sb, const NodeSpec *spec, const NsError *err)
{
	const char *name = spec ? spec->name : "rmdir";
	size_t n = strlen (name);

	/* Parser messages usually name their file already. */
	if (strncmp (err->msg, name, n) == 0 && err->msg[n] == ':')
		sandbox_set_error (sb, NULL, err);
	else
		sandbox_set_error (sb, name, err);
}

static void
reply (Op *op, fuse_req_t req, int r)
{
	Node n;

	switch (op->kind) {
	case OP_WRITE:
		if (r < 0)
			fuse_reply_err (req, -r);
		else
			fuse_reply_write (req, op->size);
		return;
	case OP_TRUNCATE:
		memset (&n, 0, sizeof n);
		reply_attr_of (req, &n, r < 0 ? r : node_resolve (op->ino, &n));
		return;
	case OP_FLUSH:
		/* Errors come back from close(2), as a write's would from write. */
	case OP_RMDIR:
		fuse_reply_err (req, -r);
		return;
	}
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

/* What a failed write leaves: the value before its open's O_TRUNC, if
 * nothing was stored since (sh's `echo /bad > rootfs` closes a dup of
 * the file first, storing the empty value). */
static void
put_back (Op *op)
{
	Sandbox *sb = op->pub.sb;
	const NodeSpec *spec = op->pub.spec;
	NsError err;

	if (!op->before || !spec->restore || sb->emptiable_stores != op->pub.fh->stores_at_empty)
		return;
	if (spec->restore (sb, op->before->str, op->before->len, &err) < 0)
		g_warning ("%s: cannot put %s back: %s", sb->name, spec->name, err.msg);
}

/* OP ended with R: its effects, its error line, its reply; returns the
 * sandbox's next op, now running (or NULL). */
static Op *
op_end (Op *op, int r)
{
	Sandbox *sb = op->pub.sb;
	fuse_req_t req;
	Op *next;

	if (r == 0 && op->pub.spec && op->pub.spec->truncate_empties && op->kind != OP_RMDIR)
		sb->emptiable_stores++;
	/* A configuration file was written (exec starts a job instead). */
	if (r == 0 && op->kind != OP_RMDIR && op->pub.spec && op->pub.spec->read != READ_JOB_ID) {
		if (sandbox_node_is_config (op->pub.spec)) {
			g_mutex_lock (&sb->lock);
			sandbox_file_changed_locked (sb, (unsigned) (op->pub.spec - sandbox_nodes));
			g_mutex_unlock (&sb->lock);
		}
		events_emit (sb->serial, sb->name, "changed %s", op->pub.spec->name);
	}
	if (op->kind == OP_WRITE && r < 0)
		put_back (op);
	if (op->kind == OP_FLUSH && r == 0 && op->before) {
		FileHandle *fh = op->pub.fh;
		if (fh->text_before_empty)
			g_string_free (fh->text_before_empty, TRUE);
		fh->text_before_empty = g_steal_pointer (&op->before);
		fh->stores_at_empty = sb->emptiable_stores;
	}
	/* Before the reply: a reader of `error` after a failed write sees why. */
	if (r < 0)
		record_error (sb, op->pub.spec, &op->pub.err);

	g_mutex_lock (&queue_lock);
	req = op->req;
	if (req)
		g_hash_table_remove (live_reqs, req);
	op->req = NULL;
	next = g_queue_pop_head (sb->ops);
	sb->op_running = next;
	g_mutex_unlock (&queue_lock);
	if (req)
		reply (op, req, r);
	op_free (op);
	return next;
}

static void on_rmdir_done (gpointer data, int r, const NsError *err);

/* Begin OP: 0 or -errno when it is over already, OP_PENDING when it
 * waits for its supervisor. */
static int
op_start (Op *op)
{
	WriteOp *w = &op->pub;
	FileHandle *fh = w->fh;
	bool store = true;

	if (op->kind == OP_RMDIR) {
		sandbox_destroy (w->sb, on_rmdir_done, op);
		return OP_PENDING;
	}
	/* Whatever makes this write fail, what its O_TRUNC emptied is put
	 * back (op_end). */
	if (op->kind == OP_WRITE && fh)
		op->before = g_steal_pointer (&fh->text_before_empty);
	/* The kernel hands a large write(2) over in pieces: LEN is the first
	 * piece's, not necessarily the whole write's. */
	if (w->len > NS_MAX_WRITE)
		return ns_error (&w->err, EFBIG, "a write of %zu bytes or more is over the limit of %d", w->len,
		                 NS_MAX_WRITE);
	if (w->sb->removed)
		return ns_error (&w->err, ENOENT, "the sandbox was removed");
	if (op->kind == OP_FLUSH) {
		g_mutex_lock (&fh->lock);
		store = fh->empty_on_close;
		fh->empty_on_close = false;
		g_mutex_unlock (&fh->lock);
		if (store)
			op->before = show_text (w->sb, w->spec);
	}
	return store ? w->spec->store (w) : 0;
}

/* Run OP and the ops after it that end without waiting. */
static void
op_run (Op *op)
{
	while (op) {
		int r = op_start (op);
		if (r == OP_PENDING)
			return;
		op = op_end (op, r);
	}
}

static void
on_answer (gpointer data, int r, char **reply_fields, const NsError *err)
{
	Op *op = data;

	if (r < 0)
		op->pub.err = *err;
	r = op->pub.resume (&op->pub, r, reply_fields);
	if (r != OP_PENDING)
		op_run (op_end (op, r));
}

static void
on_rmdir_done (gpointer data, int r, const NsError *err)
{
	Op *op = data;

	if (r < 0)
		op->pub.err = *err;
	op_run (op_end (op, r));
}

int
op_call (WriteOp *w, char *const *fields, OpResume resume)
{
	int r;

	w->resume = resume;
	r = sandbox_call (w->sb, fields, on_answer, w, &w->err);
	return r < 0 ? r : OP_PENDING;
}

int
op_call_if_connected (WriteOp *w, char *const *fields, OpResume resume)
{
	int r;

	w->resume = resume;
	r = sandbox_call_if_connected (w->sb, fields, on_answer, w, &w->err);
	return r < 0 ? r : r == 1 ? 0 : OP_PENDING;
}

/* --- interrupts and submission -------------------------------------------- */

static void
on_interrupted (fuse_req_t req, void *data)
{
	bool queued = false;
	Op *op;

	if (registering_interrupt) {
		interrupted_while_registering = true;
		return;
	}
	g_mutex_lock (&queue_lock);
	op = live_reqs ? g_hash_table_lookup (live_reqs, req) : NULL;
	if (op) {
		g_hash_table_remove (live_reqs, req);
		op->req = NULL;
		/* Not begun: it goes without a trace.  Running: it runs to its
		 * end all the same (what it asked of the supervisor may be done
		 * already), and only its reply is given now. */
		queued = op->pub.sb->op_running != op;
		if (queued)
			g_queue_remove (op->pub.sb->ops, op);
	}
	g_mutex_unlock (&queue_lock);
	if (!op)
		return;
	fuse_reply_err (req, EINTR);
	if (queued)
		op_free (op);
}

static void
submit (Op *op)
{
	fuse_req_t req = op->req;
	Sandbox *sb = op->pub.sb;
	Op *run = NULL;
	int r;

	if ((r = quota_take (QUOTA_REQUESTS, op->uid, &op->pub.err)) < 0) {
		record_error (sb, op->pub.spec, &op->pub.err);
		op->uid = 0; /* nothing was taken */
		reply (op, req, r);
		op_free (op);
		return;
	}
	registering_interrupt = true;
	interrupted_while_registering = false;
	fuse_req_interrupt_func (req, on_interrupted, NULL);
	registering_interrupt = false;
	if (interrupted_while_registering) {
		fuse_reply_err (req, EINTR);
		op_free (op);
		return;
	}
	g_mutex_lock (&queue_lock);
	if (!live_reqs)
		live_reqs = g_hash_table_new (g_direct_hash, g_direct_equal);
	g_hash_table_insert (live_reqs, req, op);
	/* rmdir goes first: what is queued would only find the sandbox
	 * gone, and the op running now is cut short below. */
	if (op->kind == OP_RMDIR)
		g_queue_push_head (sb->ops, op);
	else
		g_queue_push_tail (sb->ops, op);
	if (!sb->op_running)
		run = sb->op_running = g_queue_pop_head (sb->ops);
	g_mutex_unlock (&queue_lock);
	if (run)
		op_run (run);
	else if (op->kind == OP_RMDIR)
		/* Its answer ends the running op, and that starts the rmdir. */
		sandbox_cancel_calls (sb, ENOENT, "the sandbox was removed");
}

void
writes_write (fuse_req_t req, FileHandle *fh, const char *buf, size_t size)
{
	Op *op;

	/* A write, good or bad, is the value: the close stores no other. */
	g_mutex_lock (&fh->lock);
	fh->empty_on_close = false;
	g_mutex_unlock (&fh->lock);
	op = op_new (OP_WRITE, req, fh->sb, fh, fh->spec, buf, size);
	op->size = size;
	submit (op);
}

/* `: > rootfs` (and Python's write_text("")) opens with O_TRUNC and
 * closes without a write: the empty value, stored at the first close.
 * sh closes a dup of the file before `echo /x > rootfs` writes to it,
 * so that close comes first there too; the value it replaced is kept
 * on the open, and a write through it that fails puts it back. */
void
writes_flush (fuse_req_t req, FileHandle *fh)
{
	submit (op_new (OP_FLUSH, req, fh->sb, fh, fh->spec, "", 0));
}

void
writes_truncate (fuse_req_t req, fuse_ino_t ino, Sandbox *sb, const NodeSpec *spec)
{
	Op *op = op_new (OP_TRUNCATE, req, sb, NULL, spec, "", 0);

	op->ino = ino;
	submit (op);
}

void
writes_rmdir (fuse_req_t req, Sandbox *sb)
{
	submit (op_new (OP_RMDIR, req, sb, NULL, NULL, NULL, 0));
}
