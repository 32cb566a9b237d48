/* The epoll set of fd_watch.h.  Watches are added from any thread (an
 * epoll_ctl) and ended only in the context's thread, so ending one needs
 * no lock; their references are atomic because a caller in another
 * thread drops its own.  A watch in the batch being dispatched is held by
 * the batch, so one callback ending another watch of the same batch
 * leaves nothing dangling. */
#include "fd_watch.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BATCH 64

struct FdWatch {
	gint refcount;
	int fd;
	bool active;          /* in the set; only the context's thread changes it */
	FdWatchFn fn;
	gpointer data;
	GDestroyNotify notify;
};

typedef struct {
	GSource source;
	gpointer tag;
} EpollSource;

static int epoll_fd = -1;
static GSource *epoll_source;
/* Every active watch, for the shutdown (the set cannot be listed). */
static GMutex active_lock;
static GHashTable *active;

static FdWatch *
fd_watch_ref (FdWatch *w)
{
	g_atomic_int_inc (&w->refcount);
	return w;
}

void
fd_watch_unref (FdWatch *w)
{
	if (w && g_atomic_int_dec_and_test (&w->refcount))
		g_free (w);
}

void
fd_watch_remove (FdWatch *w)
{
	if (!w || !w->active)
		return;
	w->active = false;
	epoll_ctl (epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
	g_mutex_lock (&active_lock);
	g_hash_table_remove (active, w);
	g_mutex_unlock (&active_lock);
	if (w->notify)
		w->notify (w->data);
	fd_watch_unref (w); /* the set's */
}

FdWatch *
fd_watch_add (int fd, GIOCondition cond, FdWatchFn fn, gpointer data, GDestroyNotify notify)
{
	FdWatch *w = g_new0 (FdWatch, 1);
	struct epoll_event ev = { .events = (uint32_t) cond, .data.ptr = w };

	/* One for the set, one for the caller. */
	*w = (FdWatch) { .refcount = 2, .fd = fd, .active = true, .fn = fn, .data = data, .notify = notify };
	g_mutex_lock (&active_lock);
	g_hash_table_add (active, w);
	g_mutex_unlock (&active_lock);
	if (epoll_ctl (epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
		g_error ("fd_watch: epoll_ctl ADD %d: %s", fd, strerror (errno));
	return w;
}

static gboolean
epoll_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
	struct epoll_event ev[BATCH];
	FdWatch *batch[BATCH];
	int n = epoll_wait (epoll_fd, ev, BATCH, 0);

	for (int i = 0; i < n; i++)
		batch[i] = fd_watch_ref (ev[i].data.ptr);
	for (int i = 0; i < n; i++) {
		FdWatch *w = batch[i];
		/* Level-triggered: what this batch leaves is reported again. */
		if (w->active && !w->fn (w->fd, (GIOCondition) ev[i].events, w->data))
			fd_watch_remove (w);
		fd_watch_unref (w);
	}
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs epoll_funcs = { .dispatch = epoll_dispatch };

void
fd_watch_init (GMainContext *ctx)
{
	epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		g_error ("fd_watch: epoll_create1: %s", strerror (errno));
	active = g_hash_table_new (g_direct_hash, g_direct_equal);
	epoll_source = g_source_new (&epoll_funcs, sizeof (EpollSource));
	((EpollSource *) epoll_source)->tag = g_source_add_unix_fd (epoll_source, epoll_fd, G_IO_IN);
	g_source_attach (epoll_source, ctx);
}

void
fd_watch_shutdown (void)
{
	g_autoptr (GPtrArray) left = g_ptr_array_new ();
	GHashTableIter it;
	gpointer w;

	if (!epoll_source)
		return;
	g_mutex_lock (&active_lock);
	g_hash_table_iter_init (&it, active);
	while (g_hash_table_iter_next (&it, &w, NULL))
		g_ptr_array_add (left, w);
	g_mutex_unlock (&active_lock);
	for (guint i = 0; i < left->len; i++)
		fd_watch_remove (left->pdata[i]);
	g_source_destroy (epoll_source);
	g_clear_pointer (&epoll_source, g_source_unref);
	g_clear_pointer (&active, g_hash_table_destroy);
	close (epoll_fd);
	epoll_fd = -1;
}
