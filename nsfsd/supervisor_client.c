#include "supervisor_client.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cleanup.h"
#include "proto.h"
#include "supervisor_spawn.h"

static unsigned request_timeout = SUPCLIENT_DEFAULT_TIMEOUT_SECONDS;

struct SupConn {
	int fd;
	Sandbox *sb;          /* a reference, dropped when the sandbox closes us */
	GMutex request_lock;  /* one request in flight */
	GMutex lock;
	GCond cond;
	char **reply;
	bool have_reply;
	bool dead;
	GSource *watch;
	gint refcount;
	pid_t pid;            /* the supervisor */
	bool watch_closed;
	bool hello_pending;   /* the first reply answers our hello */
	guint64 last_tag;     /* of the last request sent (request_lock) */
	guint64 awaited_tag;  /* the reply wanted now, 0 for none (lock) */
};

static GMainContext *event_ctx;
static void conn_free (SupConn *c);

SupConn *
supclient_ref (SupConn *c)
{
	g_atomic_int_inc (&c->refcount);
	return c;
}

void
supclient_unref (SupConn *c)
{
	if (c && g_atomic_int_dec_and_test (&c->refcount))
		conn_free (c);
}

static GMainLoop *event_loop;
static GThread *event_thread;

static void
conn_free (SupConn *c)
{
	if (c->fd >= 0)
		close (c->fd);
	sandbox_unref (c->sb);
	g_strfreev (c->reply);
	g_mutex_clear (&c->request_lock);
	g_mutex_clear (&c->lock);
	g_cond_clear (&c->cond);
	g_free (c);
}

/* Supervisors still alive, watched through pidfds: we reap those that are
 * our children, and rmdir waits here until its supervisor is gone. */
typedef struct {
	pid_t pid;
	int pidfd;
	bool our_child;
} ExitWatch;

static GMutex live_lock;
static GCond live_cond;
static GHashTable *live_supervisors; /* pid set */

static void
exit_watch_free (ExitWatch *w)
{
	if (w->pidfd >= 0)
		close (w->pidfd);
	g_free (w);
}

static void
supervisor_gone (ExitWatch *w)
{
	g_mutex_lock (&live_lock);
	g_hash_table_remove (live_supervisors, GINT_TO_POINTER (w->pid));
	g_cond_broadcast (&live_cond);
	g_mutex_unlock (&live_lock);
}

/* A supervisor ends with status 0 after `destroy` and only then: say
 * how any other end came, or a lost sandbox leaves nothing to go on. */
static void
report_supervisor_end (pid_t pid, int wstatus)
{
	g_autofree char *how = NULL;

	if (WIFEXITED (wstatus) && WEXITSTATUS (wstatus) == 0)
		return;
	how = ns_wait_status_format (wstatus);
	g_warning ("supervisor %d ended: %s (see its sandbox's supervisor.log)", (int) pid, how);
}

/* Reap PID if it has ended, and report how: waitpid's answer (0 while
 * it runs). */
static pid_t
reap_supervisor (pid_t pid)
{
	int wstatus;
	pid_t r;

	do
		r = waitpid (pid, &wstatus, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == pid)
		report_supervisor_end (pid, wstatus);
	return r;
}

static gboolean
on_supervisor_exit (gint fd, GIOCondition cond, gpointer data)
{
	ExitWatch *w = data;

	if (w->our_child)
		reap_supervisor (w->pid);
	supervisor_gone (w);
	return G_SOURCE_REMOVE;
}

/* Without pidfds (old kernels, valgrind), poll: a child until it can be
 * reaped, anyone else until it no longer exists. */
static gboolean
poll_supervisor_exit (gpointer data)
{
	ExitWatch *w = data;

	if (w->our_child) {
		if (reap_supervisor (w->pid) == 0)
			return G_SOURCE_CONTINUE;
	} else if (kill (w->pid, 0) == 0 || errno != ESRCH) {
		return G_SOURCE_CONTINUE;
	}
	supervisor_gone (w);
	return G_SOURCE_REMOVE;
}

static void
watch_exit (pid_t pid, bool our_child)
{
	int pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
	ExitWatch *w = g_new0 (ExitWatch, 1);
	GSource *src;

	*w = (ExitWatch) { pid, pidfd, our_child };
	g_mutex_lock (&live_lock);
	g_hash_table_add (live_supervisors, GINT_TO_POINTER (pid));
	g_mutex_unlock (&live_lock);
	if (pidfd >= 0) {
		fcntl (pidfd, F_SETFD, FD_CLOEXEC);
		src = g_unix_fd_source_new (pidfd, G_IO_IN);
		g_source_set_callback (src, (GSourceFunc) (void (*) (void)) on_supervisor_exit, w,
		                       (GDestroyNotify) exit_watch_free);
	} else {
		src = g_timeout_source_new (10);
		g_source_set_callback (src, poll_supervisor_exit, w, (GDestroyNotify) exit_watch_free);
	}
	g_source_attach (src, event_ctx);
	g_source_unref (src);
}

int
supclient_wait_exit (SupConn *c, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
	int r = 0;

	g_mutex_lock (&live_lock);
	while (g_hash_table_contains (live_supervisors, GINT_TO_POINTER (c->pid)))
		if (!g_cond_wait_until (&live_cond, &live_lock, deadline)) {
			r = -ETIMEDOUT;
			break;
		}
	g_mutex_unlock (&live_lock);
	return r;
}

static gpointer
event_thread_main (gpointer data)
{
	g_main_context_push_thread_default (event_ctx);
	g_main_loop_run (event_loop);
	g_main_context_pop_thread_default (event_ctx);
	return NULL;
}

void
supclient_init (unsigned request_timeout_seconds)
{
	request_timeout = request_timeout_seconds;
	supspawn_init ();
	live_supervisors = g_hash_table_new (g_direct_hash, g_direct_equal);
	event_ctx = g_main_context_new ();
	event_loop = g_main_loop_new (event_ctx, FALSE);
	{
		/* Signals are for the main thread: libfuse's SIGTERM handler
		 * wakes the loop only when it runs there (its workers block them
		 * too), so threads of ours start with every signal blocked. */
		sigset_t all, old;
		sigfillset (&all);
		pthread_sigmask (SIG_BLOCK, &all, &old);
		event_thread = g_thread_new ("nsfs-events", event_thread_main, NULL);
		pthread_sigmask (SIG_SETMASK, &old, NULL);
	}
}

void
supclient_shutdown (void)
{
	if (!event_loop)
		return;
	g_main_loop_quit (event_loop);
	g_thread_join (event_thread);
	/* Finish the closes that were queued for the event thread. */
	while (g_main_context_iteration (event_ctx, FALSE))
		;
	g_main_loop_unref (event_loop);
	g_main_context_unref (event_ctx);
	g_clear_pointer (&live_supervisors, g_hash_table_destroy);
	supspawn_shutdown ();
	event_loop = NULL;
}

/* A tagged reply (MSG[0] is its tag): to the request waiting for it,
 * or dropped if that request gave up already. */
static void
deliver_reply (SupConn *c, char **msg)
{
	guint64 tag = g_ascii_strtoull (msg[0] + 1, NULL, 10);
	bool wanted;

	g_free (msg[0]);
	memmove (msg, msg + 1, g_strv_length (msg) * sizeof *msg);
	g_mutex_lock (&c->lock);
	wanted = tag != 0 && tag == c->awaited_tag && msg[0];
	if (wanted) {
		g_strfreev (c->reply);
		c->reply = msg;
		c->have_reply = true;
		c->awaited_tag = 0;
		g_cond_broadcast (&c->cond);
	}
	g_mutex_unlock (&c->lock);
	if (!wanted) {
		g_message ("sandbox %s: a late answer from its supervisor, dropped", c->sb->name);
		g_strfreev (msg);
	}
}

static void
dispatch_event (SupConn *c, char **msg)
{
	guint n = g_strv_length (msg);

	if (strcmp (msg[0], "exit") == 0 && n == 3)
		sandbox_on_exit (c->sb, (unsigned) strtoul (msg[1], NULL, 10), msg[2]);
	else if (strcmp (msg[0], "state") == 0 && n >= 2)
		sandbox_on_state (c->sb, msg[1], n >= 3 ? msg[2] : "");
	else
		g_warning ("sandbox %s: unexpected message '%s' from its supervisor", c->sb->name, msg[0]);
	g_strfreev (msg);
}

static void
mark_dead (SupConn *c)
{
	g_mutex_lock (&c->lock);
	c->dead = true;
	g_cond_broadcast (&c->cond);
	g_mutex_unlock (&c->lock);
}

static gboolean
on_readable (gint fd, GIOCondition cond, gpointer data)
{
	SupConn *c = data;
	char **msg = NULL;
	int r = ns_proto_recv (fd, &msg);

	if (r == -EAGAIN)
		return G_SOURCE_CONTINUE;
	if (r < 0 || !msg) {
		bool was_dead;
		g_mutex_lock (&c->lock);
		was_dead = c->dead;
		g_mutex_unlock (&c->lock);
		mark_dead (c);
		if (!was_dead)
			sandbox_on_supervisor_lost (c->sb);
		return G_SOURCE_REMOVE;
	}
	if (c->hello_pending && (strcmp (msg[0], "ok") == 0 || strcmp (msg[0], "err") == 0)) {
		bool ok = strcmp (msg[0], "ok") == 0 && msg[1] && atoi (msg[1]) == NSFS_PROTO_VERSION;
		g_mutex_lock (&c->lock);
		c->hello_pending = false;
		g_mutex_unlock (&c->lock);
		if (!ok) {
			g_warning ("sandbox %s: its supervisor refused our protocol %d: %s", c->sb->name, NSFS_PROTO_VERSION,
			           msg[1] && msg[2] ? msg[2] : msg[1] ? msg[1] : "");
			g_strfreev (msg);
			mark_dead (c);
			sandbox_on_supervisor_lost (c->sb);
			return G_SOURCE_REMOVE;
		}
		g_strfreev (msg);
		return G_SOURCE_CONTINUE;
	}
	if (msg[0][0] == NSFS_PROTO_TAG)
		deliver_reply (c, msg);
	else
		dispatch_event (c, msg);
	return G_SOURCE_CONTINUE;
}

static SupConn *
conn_new (Sandbox *sb, int fd, pid_t pid)
{
	SupConn *c = g_new0 (SupConn, 1);
	c->fd = fd;
	c->pid = pid;
	c->sb = sandbox_ref (sb);
	c->refcount = 1;
	g_mutex_init (&c->request_lock);
	g_mutex_init (&c->lock);
	g_cond_init (&c->cond);
	return c;
}

static void
conn_watch (SupConn *c)
{
	c->watch = g_unix_fd_source_new (c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
	/* The watch borrows the connection: it is destroyed, in this same
	 * thread, before the connection's last reference goes (close_watch). */
	g_source_set_callback (c->watch, (GSourceFunc) (void (*) (void)) on_readable, c, NULL);
	g_source_attach (c->watch, event_ctx);
}

/* Send and wait without the event thread: used for `hello`, before the
 * connection is watched. */
static int
hello_sync (int fd, char ***fields, NsError *err)
{
	char version[16];
	char **msg = NULL;
	struct timeval tv = { .tv_sec = 10 };
	int r;

	snprintf (version, sizeof version, "%d", NSFS_PROTO_VERSION);
	setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if ((r = ns_proto_sendv (fd, "hello", version, NULL)) < 0)
		return ns_error (err, -r, "supervisor: cannot send hello: %s", strerror (-r));
	r = ns_proto_recv (fd, &msg);
	if (r < 0 || !msg)
		return ns_error (err, r < 0 ? -r : ECONNRESET, "supervisor: no answer to hello");
	if (strcmp (msg[0], "ok") != 0) {
		r = ns_error (err, EPROTO, "supervisor refused: %s", msg[1] && msg[2] ? msg[2] : "no reason");
		g_strfreev (msg);
		return r;
	}
	tv.tv_sec = 0;
	setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	*fields = msg;
	return 0;
}

int
supclient_spawn (Sandbox *sb, SupConn **out, NsError *err)
{
	char version[16];
	pid_t pid;
	int sv[2], r;

	if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return ns_error (err, errno, "socketpair: %s", strerror (errno));
	r = supspawn_start (sb->dir, sv[1], &pid, err);
	close (sv[1]);
	if (r < 0) {
		close (sv[0]);
		return r;
	}
	/* The supervisor stays our child while we run (we reap it); after a
	 * restart it is an orphan and the system's init reaps it. */
	watch_exit (pid, true);
	/* hello goes out now but its answer is checked by the event thread:
	 * mkdir need not wait for the supervisor to finish starting, and
	 * requests queue behind hello on the socket. */
	snprintf (version, sizeof version, "%d", NSFS_PROTO_VERSION);
	if ((r = ns_proto_sendv (sv[0], "hello", version, NULL)) < 0) {
		close (sv[0]);
		return ns_error (err, -r, "the supervisor failed to start (see supervisor.log): %s", strerror (-r));
	}
	*out = conn_new (sb, sv[0], pid);
	(*out)->hello_pending = true;
	conn_watch (*out);
	return 0;
}

int
supclient_connect (Sandbox *sb, SupConn **out, char ***hello, NsError *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	_cleanup_close_ int dirfd = open (sb->dir, O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = -1;
	int r;

	if (dirfd < 0)
		return ns_error (err, errno, "open %s: %s", sb->dir, strerror (errno));
	snprintf (addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/supervisor.sock", dirfd);
	fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ns_error (err, errno, "socket: %s", strerror (errno));
	if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
		return ns_error (err, errno, "no supervisor answers: %s", strerror (errno));
	if ((r = hello_sync (fd, hello, err)) < 0)
		return r;
	{
		struct ucred cred;
		socklen_t len = sizeof cred;
		if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
			return ns_error (err, errno, "SO_PEERCRED: %s", strerror (errno));
		watch_exit (cred.pid, false);
		*out = conn_new (sb, ns_steal_fd (&fd), cred.pid);
	}
	return 0;
}

void
supclient_watch (SupConn *c)
{
	conn_watch (c);
}

int
supclient_request (SupConn *c, char *const *fields, char ***reply, NsError *err)
{
	char tag[NSFS_PROTO_TAG_MAX];
	gint64 deadline;
	char **msg;
	int r = 0;

	g_mutex_lock (&c->request_lock);
	snprintf (tag, sizeof tag, "%c%" G_GUINT64_FORMAT, NSFS_PROTO_TAG, ++c->last_tag);
	g_mutex_lock (&c->lock);
	g_strfreev (c->reply);
	c->reply = NULL;
	c->have_reply = false;
	c->awaited_tag = c->last_tag;
	if (c->dead) {
		c->awaited_tag = 0;
		g_mutex_unlock (&c->lock);
		g_mutex_unlock (&c->request_lock);
		return ns_error (err, EIO, "the sandbox's supervisor is gone");
	}
	g_mutex_unlock (&c->lock);

	if ((r = ns_proto_send_tagged (c->fd, tag, fields)) < 0) {
		g_mutex_lock (&c->lock);
		c->awaited_tag = 0;
		g_mutex_unlock (&c->lock);
		g_mutex_unlock (&c->request_lock);
		if (r == -E2BIG)
			return ns_error (err, E2BIG, "the request is larger than the supervisor protocol allows");
		return ns_error (err, EIO, "cannot reach the supervisor: %s", strerror (-r));
	}
	deadline = g_get_monotonic_time () + (gint64) request_timeout * G_TIME_SPAN_SECOND;
	if (strcmp (fields[0], "stop") == 0)
		deadline += NSFS_STOP_GRACE_SECONDS * G_TIME_SPAN_SECOND;
	g_mutex_lock (&c->lock);
	while (!c->have_reply && !c->dead) {
		if (!g_cond_wait_until (&c->cond, &c->lock, deadline))
			break;
	}
	msg = c->reply;
	c->reply = NULL;
	/* A reply that comes after this is dropped (deliver_reply). */
	c->awaited_tag = 0;
	if (!c->have_reply)
		r = ns_error (err, c->dead ? EIO : ETIMEDOUT, c->dead ? "the sandbox's supervisor is gone"
		                                                        : "the supervisor did not answer in time (--request-timeout)");
	c->have_reply = false;
	g_mutex_unlock (&c->lock);
	g_mutex_unlock (&c->request_lock);
	if (r < 0)
		return r;
	if (strcmp (msg[0], "err") == 0) {
		int code = msg[1] ? atoi (msg[1]) : EIO;
		r = ns_error (err, code > 0 ? code : EIO, "%s", msg[1] && msg[2] ? msg[2] : "failed");
		g_strfreev (msg);
		return r;
	}
	if (reply)
		*reply = msg;
	else
		g_strfreev (msg);
	return 0;
}

/* Runs in the event thread, so the watch is never mid-dispatch here. */
static gboolean
close_watch (gpointer data)
{
	SupConn *c = data;

	if (c->watch) {
		g_source_destroy (c->watch);
		g_source_unref (c->watch);
		c->watch = NULL;
	}
	g_mutex_lock (&c->lock);
	c->watch_closed = true;
	g_cond_broadcast (&c->cond);
	g_mutex_unlock (&c->lock);
	supclient_unref (c);
	return G_SOURCE_REMOVE;
}

/* Synchronous, so that when rmdir returns the connection's descriptor is
 * closed too; the watch itself is only ever touched by the event thread. */
void
supclient_close (SupConn *c)
{
	if (!c)
		return;
	mark_dead (c);
	if (g_main_context_is_owner (event_ctx)) {
		close_watch (c);
		return;
	}
	supclient_ref (c);
	g_main_context_invoke (event_ctx, close_watch, c);
	g_mutex_lock (&c->lock);
	while (!c->watch_closed && g_main_loop_is_running (event_loop))
		g_cond_wait_until (&c->cond, &c->lock, g_get_monotonic_time () + G_TIME_SPAN_SECOND);
	g_mutex_unlock (&c->lock);
	supclient_unref (c);
}
