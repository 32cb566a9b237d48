/* Watches on many descriptors through one epoll set, which a GMainContext
 * polls as a single descriptor.
 *
 * GMainContext polls every descriptor of every source at every iteration:
 * with a socket and a pidfd per supervisor, each wakeup of nsfsd's event
 * thread cost O(sandboxes), and 1,000 idle sandboxes made a cold sandbox
 * 2.1x and a job 1.6x as slow (docs/performance.md).  An epoll set costs a
 * wakeup only for what is ready. */
#pragma once

#include <glib.h>

typedef struct FdWatch FdWatch;

/* As GUnixFDSourceFunc: FALSE (G_SOURCE_REMOVE) ends the watch. */
typedef gboolean (*FdWatchFn) (int fd, GIOCondition cond, gpointer data);

/* Attach the epoll set to CTX (whose thread runs every callback). */
void fd_watch_init (GMainContext *ctx);
/* End every watch left (their NOTIFY runs) and close the set. */
void fd_watch_shutdown (void);

/* Call FN when FD is ready for COND (G_IO_ERR and G_IO_HUP always); from
 * any thread.  The watch holds a reference for the caller: drop it with
 * fd_watch_unref, after fd_watch_remove if the caller ends the watch. */
FdWatch *fd_watch_add (int fd, GIOCondition cond, FdWatchFn fn, gpointer data, GDestroyNotify notify);
/* End the watch: FN is not called again and NOTIFY (DATA) runs now.  In
 * the context's thread only; a watch already ended is left alone. */
void fd_watch_remove (FdWatch *w);
void fd_watch_unref (FdWatch *w);
