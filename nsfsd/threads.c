#include "threads.h"

#include <pthread.h>
#include <signal.h>

GThread *
nsfs_thread_new (const char *name, GThreadFunc fn, gpointer data)
{
	sigset_t all, old;
	GThread *t;

	sigfillset (&all);
	pthread_sigmask (SIG_BLOCK, &all, &old);
	t = g_thread_new (name, fn, data);
	pthread_sigmask (SIG_SETMASK, &old, NULL);
	return t;
}

GThreadPool *
nsfs_thread_pool_new (GFunc fn, GDestroyNotify item_free)
{
	sigset_t all, old;
	GThreadPool *pool;

	sigfillset (&all);
	pthread_sigmask (SIG_BLOCK, &all, &old);
	/* Exclusive: its thread is made here, under this mask, not later by
	 * whichever thread pushes first. */
	pool = g_thread_pool_new_full (fn, NULL, item_free, 1, TRUE, NULL);
	pthread_sigmask (SIG_SETMASK, &old, NULL);
	return pool;
}
