/* Threads of nsfsd's own (besides libfuse's workers).  Signals are for
 * the main thread: libfuse's SIGTERM handler ends the FUSE loop only
 * when it runs there, so every other thread is born with every signal
 * blocked. */
#pragma once

#include <glib.h>

GThread *nsfs_thread_new (const char *name, GThreadFunc fn, gpointer data);
/* A pool of one thread, made at once, with signals blocked. */
GThreadPool *nsfs_thread_pool_new (GFunc fn, GDestroyNotify item_free);
