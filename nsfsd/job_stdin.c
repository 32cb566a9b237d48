#include "job_stdin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deferred.h"
#include "handles.h"
#include "supervisor_client.h"

/* A write waiting for room in the pipe. */
typedef struct {
	fuse_req_t req;
	GBytes *data;           /* what is left to write */
	size_t done;            /* of DATA, written */
	size_t before;          /* written before DATA was copied */
} PendingWrite;

/* Per open (fh->stdin_pipe). */
struct JobStdin {
	int fd;                 /* the FIFO's write end; -1: the job had ended */
	GQueue pending;         /* PendingWrite*, the first being written */
	GSource *watch;         /* on the event thread, while one waits */
};

/* One lock for every open's queue, and the table of waiting writes by
 * request (for interrupts). */
static GMutex stdin_lock;
static GHashTable *waiting;     /* fuse_req_t -> FileHandle* */

typedef struct {
	PendingWrite *w;
	int err;
} Answer;

static void
answer (PendingWrite *w, int err)
{
	/* What went in counts, as for a pipe; nothing at all is the error. */
	if (w->done + w->before || !err)
		fuse_reply_write (w->req, w->done + w->before);
	else
		fuse_reply_err (w->req, err);
	g_bytes_unref (w->data);
	g_free (w);
}

/* Write what the pipe takes of W; under stdin_lock.  0 when it is all in,
 * EAGAIN when it waits for room, or the errno that ends it. */
static int
push (JobStdin *in, PendingWrite *w)
{
	gsize len;
	const char *p = g_bytes_get_data (w->data, &len);

	while (w->done < len) {
		ssize_t n = write (in->fd, p + w->done, len - w->done);
		if (n > 0)
			w->done += (size_t) n;
		else if (n < 0 && errno != EINTR)
			return errno;
	}
	return 0;
}

static gboolean on_room (gint fd, GIOCondition cond, gpointer data);

/* Under stdin_lock: write FH's queue out as far as the pipe takes it;
 * what is done goes to DONE (answered once the lock is let go); watch
 * for room if something still waits. */
static void
drain (FileHandle *fh, GArray *done)
{
	JobStdin *in = fh->stdin_pipe;
	PendingWrite *w;

	while ((w = g_queue_peek_head (&in->pending))) {
		int r = push (in, w);
		if (r == EAGAIN)
			break;
		g_queue_pop_head (&in->pending);
		g_hash_table_remove (waiting, w->req);
		g_array_append_val (done, ((Answer) { w, r }));
	}
	if (!g_queue_is_empty (&in->pending) && !in->watch) {
		file_handle_ref (fh);
		in->watch = supclient_watch_fd (in->fd, G_IO_OUT | G_IO_ERR | G_IO_HUP, on_room, fh,
		                                (GDestroyNotify) file_handle_unref);
	}
}

static void
answer_all (GArray *done)
{
	for (guint i = 0; i < done->len; i++) {
		Answer *a = &g_array_index (done, Answer, i);
		answer (a->w, a->err);
	}
}

static gboolean
on_room (gint fd, GIOCondition cond, gpointer data)
{
	FileHandle *fh = data;
	g_autoptr (GArray) done = g_array_new (FALSE, FALSE, sizeof (Answer));

	g_mutex_lock (&stdin_lock);
	if (fh->stdin_pipe) {
		g_clear_pointer (&fh->stdin_pipe->watch, g_source_unref);
		drain (fh, done);
	}
	g_mutex_unlock (&stdin_lock);
	answer_all (done);
	return G_SOURCE_REMOVE;
}

/* A writer waiting for room was interrupted: its request is answered
 * with what went in so far (or EINTR), and it leaves the queue. */
static void
on_write_interrupted (fuse_req_t req, void *data)
{
	PendingWrite *w = NULL;
	FileHandle *fh;

	if (deferred_interrupted_now ())
		return;
	g_mutex_lock (&stdin_lock);
	fh = waiting ? g_hash_table_lookup (waiting, req) : NULL;
	if (fh) {
		GList *l;
		for (l = fh->stdin_pipe->pending.head; l; l = l->next)
			if (((PendingWrite *) l->data)->req == req)
				break;
		if (l) {
			w = l->data;
			g_queue_delete_link (&fh->stdin_pipe->pending, l);
		}
		g_hash_table_remove (waiting, req);
	}
	g_mutex_unlock (&stdin_lock);
	if (w)
		answer (w, EINTR);
}

static void
ignore_answer (gpointer data, int r, char **reply, const NsError *err)
{
}

int
job_stdin_open (FileHandle *fh)
{
	g_autofree char *path = sandbox_job_path (fh->sb, fh->job_id, "stdin");
	char id[16];
	NsError ignored;
	JobStdin *in = g_new0 (JobStdin, 1);

	g_queue_init (&in->pending);
	in->fd = open (path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	/* No reader: the job has ended; its writes are EPIPE. */
	if (in->fd < 0 && errno != ENXIO) {
		int e = errno;
		g_free (in);
		return e;
	}
	fh->stdin_pipe = in;
	if (in->fd >= 0) {
		/* The supervisor's own write end may go: from now on the job
		 * sees end of file when the last open of stdin is closed. */
		snprintf (id, sizeof id, "%u", fh->job_id);
		sandbox_call_if_connected (fh->sb, (char *[]) { "stdin-open", id, NULL }, ignore_answer, NULL, &ignored);
	}
	return 0;
}

void
job_stdin_write (fuse_req_t req, FileHandle *fh, const char *buf, size_t size)
{
	JobStdin *in = fh->stdin_pipe;
	g_autoptr (GArray) done = g_array_new (FALSE, FALSE, sizeof (Answer));
	PendingWrite *w;

	if (!in || in->fd < 0) {
		fuse_reply_err (req, EPIPE);
		return;
	}
	g_mutex_lock (&stdin_lock);
	/* Straight from the request's buffer when nothing waits before it:
	 * a copy only of what does not fit (every copy showed in the bench). */
	if (g_queue_is_empty (&in->pending)) {
		size_t written = 0;
		int e = 0;
		while (written < size) {
			ssize_t n = write (in->fd, buf + written, size - written);
			if (n > 0) {
				written += (size_t) n;
			} else if (errno != EINTR) {
				e = errno;
				break;
			}
		}
		if (written == size || e != EAGAIN) {
			g_mutex_unlock (&stdin_lock);
			if (written)
				fuse_reply_write (req, written);
			else
				fuse_reply_err (req, e);
			return;
		}
		w = g_new0 (PendingWrite, 1);
		w->req = req;
		w->data = g_bytes_new (buf + written, size - written);
		w->before = written;
	} else {
		w = g_new0 (PendingWrite, 1);
		w->req = req;
		w->data = g_bytes_new (buf, size);
	}
	if (!waiting)
		waiting = g_hash_table_new (g_direct_hash, g_direct_equal);
	g_queue_push_tail (&in->pending, w);
	g_hash_table_insert (waiting, req, fh);
	drain (fh, done);
	/* Still waiting: interruptible from now on.  Registered under the
	 * lock, before the event thread can answer it; an interrupt that came
	 * already is ours to answer (the callback, called from inside
	 * deferred_register, does nothing). */
	if (g_hash_table_contains (waiting, req) && !deferred_register (req, on_write_interrupted)) {
		GList *l = g_queue_find (&in->pending, w);
		if (l)
			g_queue_delete_link (&in->pending, l);
		g_hash_table_remove (waiting, req);
		g_array_append_val (done, ((Answer) { w, EINTR }));
	}
	g_mutex_unlock (&stdin_lock);
	answer_all (done);
}

void
job_stdin_release (FileHandle *fh)
{
	JobStdin *in = fh->stdin_pipe;

	GSource *watch;

	if (!in)
		return;
	/* No write waits by now (the kernel releases an open only once its
	 * writes are answered), but a watch for room may still be there, for
	 * one that was interrupted. */
	g_mutex_lock (&stdin_lock);
	watch = g_steal_pointer (&in->watch);
	fh->stdin_pipe = NULL;
	g_mutex_unlock (&stdin_lock);
	if (watch) {
		g_source_destroy (watch);
		g_source_unref (watch);
	}
	if (in->fd >= 0)
		close (in->fd);
	g_free (in);
}
