/* `wait`: reads deferred until the job ends (interruptible), and poll
 * handles woken then. */
#include "wait.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <poll.h>

#include "deferred.h"
#include "quota.h"
#include "reads.h"

typedef struct {
	uint32_t serial;
	unsigned job_id;
	size_t size;
	off_t off;
	uid_t uid;             /* charged for it (QUOTA_READERS) */
} Waiter;

static void
waiter_free (Waiter *w)
{
	quota_give (QUOTA_READERS, w->uid);
	g_free (w);
}

/* req -> Waiter.  The job's end and an interrupt race to reply; whoever
 * takes the request out of the table under wait_lock replies. */
static GRecMutex wait_lock;
static GHashTable *waiters;

static void
on_wait_interrupted (fuse_req_t req, void *data)
{
	Waiter *w;

	if (deferred_interrupted_now ())
		return;
	g_rec_mutex_lock (&wait_lock);
	w = waiters ? g_hash_table_lookup (waiters, req) : NULL;
	if (w)
		g_hash_table_steal (waiters, req);
	g_rec_mutex_unlock (&wait_lock);
	if (w) {
		waiter_free (w);
		fuse_reply_err (req, EINTR);
	}
}

void
read_wait (fuse_req_t req, FileHandle *fh, size_t size, off_t off, int flags)
{
	g_autofree char *status = NULL;
	uid_t uid = fuse_req_ctx (req)->uid;
	NsError err;
	Waiter *w;
	Job *job;
	int r;

	g_rec_mutex_lock (&wait_lock);
	g_mutex_lock (&fh->sb->lock);
	job = sandbox_job_locked (fh->sb, fh->job_id);
	if (job && job->status)
		status = g_strconcat (job->status, "\n", NULL);
	g_mutex_unlock (&fh->sb->lock);
	/* FLAGS are the file's now: O_NONBLOCK may have been set with
	 * fcntl since the open. */
	if (!job || status || (flags & O_NONBLOCK)) {
		g_rec_mutex_unlock (&wait_lock);
		if (!job)
			fuse_reply_err (req, ENOENT);
		else if (status)
			reply_slice (req, status, strlen (status), size, off);
		else
			fuse_reply_err (req, EAGAIN);
		return;
	}
	if ((r = quota_take (QUOTA_READERS, uid, &err)) < 0) {
		g_rec_mutex_unlock (&wait_lock);
		if (uid == fh->sb->owner)
			sandbox_set_error (fh->sb, "wait", &err);
		fuse_reply_err (req, -r);
		return;
	}
	if (!deferred_register (req, on_wait_interrupted)) {
		g_rec_mutex_unlock (&wait_lock);
		quota_give (QUOTA_READERS, uid);
		fuse_reply_err (req, EINTR);
		return;
	}
	w = g_new0 (Waiter, 1);
	*w = (Waiter) { fh->sb->serial, fh->job_id, size, off, uid };
	if (!waiters)
		waiters = g_hash_table_new (g_direct_hash, g_direct_equal);
	g_hash_table_insert (waiters, req, w);
	g_rec_mutex_unlock (&wait_lock);
}

typedef struct {
	fuse_req_t req;
	Waiter *w;
} Ready;

/* A job ended: answer its blocked readers and wake its pollers. */
void
wait_job_ended (Sandbox *sb, unsigned id)
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
		waiter_free (rd->w);
	}
	for (guint i = 0; i < handles->len; i++)
		fuse_lowlevel_notify_poll (handles->pdata[i]);
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
			waiter_free (value);
			fuse_reply_err (key, EINTR);
		}
		g_hash_table_destroy (waiters);
		waiters = NULL;
	}
	g_rec_mutex_unlock (&wait_lock);
}

void
wait_poll (fuse_req_t req, FileHandle *fh, struct fuse_pollhandle *ph)
{
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


void
wait_forget_pollhandle (FileHandle *fh)
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

