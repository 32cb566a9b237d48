#include "supervisor_client.h"
#include "threads.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cleanup.h"
#include "fd_watch.h"
#include "supervisor_exits.h"
#include "proto.h"
#include "proto_verbs.h"
#include "supervisor_spawn.h"

static unsigned request_timeout_ms = SUPCLIENT_DEFAULT_TIMEOUT_SECONDS * 1000;
/* The least an adopted supervisor gets to answer hello (see conn_watch). */
#define HELLO_TIMEOUT_MIN_MS 5000

/* A request sent and not answered yet. */
typedef struct {
	guint64 tag;
	SupReplyFn fn;
	gpointer data;
	GSource *timer;
} Pending;

struct SupConn {
	int fd;
	Sandbox *sb;          /* a reference, dropped when the connection goes */
	pid_t pid;            /* the supervisor */
	gint refcount;
	FdWatch *watch;       /* only ever touched by the event thread */
	GSource *hello_timer; /* likewise */

	GMutex lock;          /* guards what follows */
	GCond cond;
	bool dead;
	bool hello_pending;   /* the first answer is our hello's */
	bool adopted;         /* found running, not started by us */
	bool watch_closed;
	guint64 last_tag;
	GHashTable *pending;  /* tag (guint64*) -> Pending* */
};

static GMainContext *event_ctx;
static GMainLoop *event_loop;
static GThread *event_thread;

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

static void
conn_free (SupConn *c)
{
	if (c->fd >= 0)
		close (c->fd);
	sandbox_unref (c->sb);
	g_hash_table_destroy (c->pending);
	g_mutex_clear (&c->lock);
	g_cond_clear (&c->cond);
	g_free (c);
}

unsigned
supclient_request_timeout_ms (void)
{
	return request_timeout_ms;
}

pid_t
supclient_pid (SupConn *c)
{
	return c->pid;
}

void
supclient_kill (SupConn *c)
{
	supexits_kill (c->pid);
}

GSource *
supclient_watch_fd (int fd, GIOCondition cond, GUnixFDSourceFunc fn, gpointer data, GDestroyNotify notify)
{
	GSource *src = g_unix_fd_source_new (fd, cond);

	g_source_set_callback (src, (GSourceFunc) (void (*) (void)) fn, data, notify);
	g_source_attach (src, event_ctx);
	return src;
}

static GSource *
attach_timeout (unsigned ms, GSourceFunc fn, gpointer data, GDestroyNotify notify)
{
	GSource *src = g_timeout_source_new (ms);

	g_source_set_callback (src, fn, data, notify);
	g_source_attach (src, event_ctx);
	return src;
}

static void
drop_source (GSource **src)
{
	if (*src) {
		g_source_destroy (*src);
		g_source_unref (*src);
		*src = NULL;
	}
}

void
supclient_when_exited (SupConn *c, unsigned timeout_ms, SupExitFn fn, gpointer data)
{
	supexits_when_exited (c->pid, timeout_ms, fn, data);
}

/* --- the event thread ----------------------------------------------------- */

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
	request_timeout_ms = request_timeout_seconds * 1000;
	supspawn_init ();
	event_ctx = g_main_context_new ();
	event_loop = g_main_loop_new (event_ctx, FALSE);
	fd_watch_init (event_ctx);
	supexits_init (event_ctx);
	event_thread = nsfs_thread_new ("nsfs-events", event_thread_main, NULL);
}

void
supclient_shutdown (void)
{
	if (!event_loop)
		return;
	g_main_loop_quit (event_loop);
	g_thread_join (event_thread);
	/* Finish the closes that were queued for the event thread, and what
	 * still waits for a supervisor to go (an rmdir, a stop of an
	 * unreachable one): answered as timed out, nothing left allocated. */
	supexits_finish_waits ();
	fd_watch_shutdown ();
	supexits_shutdown ();
	g_main_loop_unref (event_loop);
	g_main_context_unref (event_ctx);
	supspawn_shutdown ();
	event_loop = NULL;
}

/* --- requests in flight --------------------------------------------------- */

static void
pending_answer (Pending *p, int r, char **reply, const NsError *err)
{
	drop_source (&p->timer);
	p->fn (p->data, r, reply, err);
	g_free (p);
}

/* Take the pending request TAG out of C's table (NULL: answered already). */
static Pending *
pending_take (SupConn *c, guint64 tag)
{
	Pending *p;

	g_mutex_lock (&c->lock);
	p = g_hash_table_lookup (c->pending, &tag);
	if (p)
		g_hash_table_remove (c->pending, &tag);
	g_mutex_unlock (&c->lock);
	return p;
}

typedef struct {
	SupConn *c;
	guint64 tag;
} TimerRef;

static void
timer_ref_free (TimerRef *t)
{
	supclient_unref (t->c);
	g_free (t);
}

static gboolean
request_timed_out (gpointer data)
{
	TimerRef *t = data;
	Pending *p = pending_take (t->c, t->tag);
	NsError err;

	if (p) {
		/* This source is being dispatched: returning REMOVE destroys it. */
		g_source_unref (p->timer);
		p->timer = NULL;
		ns_error (&err, ETIMEDOUT, "the supervisor did not answer in time (--request-timeout)");
		pending_answer (p, -ETIMEDOUT, NULL, &err);
	}
	return G_SOURCE_REMOVE;
}

/* Answer every request in flight on C with CODE (the connection died). */
static void
fail_all_pending (SupConn *c, int code, const char *why)
{
	g_autoptr (GList) list = NULL;
	NsError err;

	g_mutex_lock (&c->lock);
	list = g_hash_table_get_values (c->pending);
	g_hash_table_remove_all (c->pending);
	g_mutex_unlock (&c->lock);
	ns_error (&err, code, "%s", why);
	for (GList *l = list; l; l = l->next)
		pending_answer (l->data, -code, NULL, &err);
}

void
supclient_cancel_calls (SupConn *c, int code, const char *why)
{
	fail_all_pending (c, code, why);
}

int
supclient_call (SupConn *c, char *const *fields, unsigned timeout_ms, SupReplyFn fn, gpointer data,
                NsError *err)
{
	char tag[NSFS_PROTO_TAG_MAX];
	const NsProtoVerb *row;
	Pending *p;
	TimerRef *t;
	guint64 *key;
	int r;

	/* What the other end will check too: a request the table does not
	 * allow is a bug here, not the supervisor's to refuse. */
	if (ns_proto_verb_check (fields, NS_MSG_REQUEST, &row, err) < 0 || !row->tagged) {
		g_warning ("a request the protocol table does not allow: %s", err->msg);
		return ns_error (err, EIO, "internal error: %s is not a request of protocol %d", fields[0],
		                 NSFS_PROTO_VERSION);
	}
	p = g_new0 (Pending, 1);
	g_mutex_lock (&c->lock);
	if (c->dead) {
		g_mutex_unlock (&c->lock);
		g_free (p);
		return ns_error (err, EIO, "the sandbox's supervisor is gone");
	}
	p->tag = ++c->last_tag;
	p->fn = fn;
	p->data = data;
	snprintf (tag, sizeof tag, "%c%" G_GUINT64_FORMAT, NSFS_PROTO_TAG, p->tag);
	/* In the table before it is sent: the answer may come at once. */
	key = g_new (guint64, 1);
	*key = p->tag;
	g_hash_table_insert (c->pending, key, p);
	/* The socket does not block (conn_new): a supervisor that stopped
	 * reading makes this fail instead of holding the caller. */
	r = ns_proto_send_tagged (c->fd, tag, fields);
	if (r < 0) {
		g_hash_table_remove (c->pending, key);
		g_mutex_unlock (&c->lock);
		g_free (p);
		if (r == -E2BIG)
			return ns_error (err, E2BIG, "the request is larger than the supervisor protocol allows");
		if (r == -EAGAIN)
			return ns_error (err, EAGAIN, "the supervisor is not taking requests (its queue is full)");
		return ns_error (err, EIO, "cannot reach the supervisor: %s", strerror (-r));
	}
	t = g_new0 (TimerRef, 1);
	*t = (TimerRef) { supclient_ref (c), p->tag };
	p->timer = attach_timeout (timeout_ms, request_timed_out, t, (GDestroyNotify) timer_ref_free);
	g_mutex_unlock (&c->lock);
	return 0;
}

/* --- what the supervisor says --------------------------------------------- */

/* A tagged reply (MSG[0] is its tag): to the request waiting for it,
 * or dropped if that request gave up already. */
static void
deliver_reply (SupConn *c, char **msg)
{
	guint64 tag = g_ascii_strtoull (msg[0] + 1, NULL, 10);
	char **fields = msg + 1;
	Pending *p = fields[0] ? pending_take (c, tag) : NULL;
	NsError err;

	if (!p) {
		g_message ("sandbox %s: a late answer from its supervisor, dropped", c->sb->name);
		return;
	}
	if (strcmp (fields[0], "err") == 0) {
		int code = fields[1] ? atoi (fields[1]) : EIO;
		if (code <= 0)
			code = EIO;
		ns_error (&err, code, "%s", fields[1] && fields[2] ? fields[2] : "failed");
		pending_answer (p, -code, NULL, &err);
	} else {
		pending_answer (p, 0, fields, NULL);
	}
}

static void
on_exit_event (Sandbox *sb, char **msg)
{
	sandbox_on_exit (sb, (unsigned) strtoul (msg[1], NULL, 10), msg[2]);
}

static void
on_state_event (Sandbox *sb, char **msg)
{
	sandbox_on_state (sb, msg[1], msg[2]);
}

/* nsfsd's side of the event rows of common/proto_verbs.c: a new event
 * is a row there and one here.  Fields are checked against that table
 * before a handler sees them. */
static const struct {
	const char *verb;
	void (*handle) (Sandbox *sb, char **msg);
} event_handlers[] = {
	{ "exit", on_exit_event },
	{ "state", on_state_event },
};

static void
dispatch_event (SupConn *c, char **msg)
{
	const NsProtoVerb *row;
	NsError err;

	if (ns_proto_verb_check (msg, NS_MSG_EVENT, &row, &err) < 0) {
		g_warning ("sandbox %s: a message from its supervisor refused: %s", c->sb->name, err.msg);
		return;
	}
	for (size_t i = 0; i < G_N_ELEMENTS (event_handlers); i++)
		if (strcmp (event_handlers[i].verb, row->verb) == 0) {
			event_handlers[i].handle (c->sb, msg);
			return;
		}
	g_warning ("sandbox %s: no handler for the event '%s'", c->sb->name, row->verb);
}

/* Mark C dead; true if it was alive until now. */
static bool
mark_dead (SupConn *c)
{
	bool was_alive;

	g_mutex_lock (&c->lock);
	was_alive = !c->dead;
	c->dead = true;
	g_cond_broadcast (&c->cond);
	g_mutex_unlock (&c->lock);
	return was_alive;
}

/* The answer to our hello, or its absence (MSG NULL: it timed out). */
static void
hello_answered (SupConn *c, char **msg)
{
	NsError err = { 0 };
	int r = 0;

	drop_source (&c->hello_timer);
	g_mutex_lock (&c->lock);
	c->hello_pending = false;
	g_mutex_unlock (&c->lock);
	if (!msg)
		r = ns_error (&err, ETIMEDOUT, "its supervisor did not answer hello in time");
	else if (strcmp (msg[0], "ok") != 0 || !msg[1] || atoi (msg[1]) != NSFS_PROTO_VERSION)
		r = ns_error (&err, EPROTO, "its supervisor refused protocol %d: %s", NSFS_PROTO_VERSION,
		              msg[1] && msg[2] ? msg[2] : msg[1] ? msg[1] : "no reason");
	if (r < 0) {
		/* Nothing more is asked of it: requests fail, and only a kill
		 * ends it (the sandbox code decides). */
		mark_dead (c);
		fail_all_pending (c, EIO, err.msg);
	}
	sandbox_on_hello (c->sb, c, r, msg, r < 0 ? &err : NULL);
}

static gboolean
hello_timed_out (gpointer data)
{
	SupConn *c = data;
	bool pending;

	g_mutex_lock (&c->lock);
	pending = c->hello_pending;
	g_mutex_unlock (&c->lock);
	g_source_unref (c->hello_timer); /* returning REMOVE destroys it */
	c->hello_timer = NULL;
	if (pending)
		hello_answered (c, NULL);
	return G_SOURCE_REMOVE;
}

static gboolean
on_readable (gint fd, GIOCondition cond, gpointer data)
{
	SupConn *c = data;
	g_auto (GStrv) msg = NULL;
	bool hello_pending;
	int r = ns_proto_recv (fd, &msg);

	if (r == -EAGAIN)
		return G_SOURCE_CONTINUE;
	g_mutex_lock (&c->lock);
	hello_pending = c->hello_pending;
	g_mutex_unlock (&c->lock);
	if (r < 0 || !msg) {
		bool was_alive = mark_dead (c);
		fail_all_pending (c, EIO, "the sandbox's supervisor is gone");
		/* Gone before or after its hello: lost either way. */
		drop_source (&c->hello_timer);
		g_mutex_lock (&c->lock);
		c->hello_pending = false;
		g_mutex_unlock (&c->lock);
		/* Its end is watched from now on, so that it is reaped. */
		supexits_watch (c->pid);
		if (was_alive)
			sandbox_on_supervisor_lost (c->sb);
		return G_SOURCE_REMOVE;
	}
	if (hello_pending && msg[0][0] != NSFS_PROTO_TAG) {
		hello_answered (c, msg);
		return G_SOURCE_CONTINUE;
	}
	if (msg[0][0] == NSFS_PROTO_TAG)
		deliver_reply (c, msg);
	else
		dispatch_event (c, msg);
	return G_SOURCE_CONTINUE;
}

/* --- connections ---------------------------------------------------------- */

static gboolean
conn_watch (gpointer data)
{
	SupConn *c = data;
	bool closed;

	g_mutex_lock (&c->lock);
	closed = c->watch_closed;
	g_mutex_unlock (&c->lock);
	if (closed)
		return G_SOURCE_REMOVE;
	/* The watch borrows the connection: it is ended, in this same
	 * thread, before the connection's last reference goes (close_watch). */
	c->watch = fd_watch_add (c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, c, NULL);
	/* Only a supervisor found running may be stuck before it ever spoke
	 * with us; one we started answers, or its requests time out.  Never
	 * less than 5 s, so that a slow machine is not taken for a stuck
	 * supervisor. */
	if (c->adopted)
		c->hello_timer = attach_timeout (MAX (request_timeout_ms, HELLO_TIMEOUT_MIN_MS), hello_timed_out, c, NULL);
	return G_SOURCE_REMOVE;
}

/* A connection on FD to the supervisor PID, whose hello is on its way;
 * watched once its owner has stored it. */
static SupConn *
conn_new (Sandbox *sb, int fd, pid_t pid, bool adopted)
{
	SupConn *c = g_new0 (SupConn, 1);

	c->adopted = adopted;
	c->fd = fd;
	c->pid = pid;
	c->sb = sandbox_ref (sb);
	c->refcount = 1;
	c->hello_pending = true;
	c->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
	g_mutex_init (&c->lock);
	g_cond_init (&c->cond);
	fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
	return c;
}

static int
send_hello (int fd, NsError *err)
{
	char version[16];
	int r;

	snprintf (version, sizeof version, "%d", NSFS_PROTO_VERSION);
	if ((r = ns_proto_sendv (fd, "hello", version, NULL)) < 0)
		return ns_error (err, -r, "cannot say hello to the supervisor: %s", strerror (-r));
	return 0;
}

int
supclient_spawn (Sandbox *sb, SupConn **out, NsError *err)
{
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
	supexits_track (pid, true);
	/* hello goes out now and its answer comes to the event thread:
	 * mkdir need not wait for the supervisor to finish starting, and
	 * requests queue behind hello on the socket. */
	if ((r = send_hello (sv[0], err)) < 0) {
		close (sv[0]);
		/* It reads EOF and ends: reaped once its end is seen. */
		supexits_watch (pid);
		return r;
	}
	*out = conn_new (sb, sv[0], pid, false);
	return 0;
}

int
supclient_connect (Sandbox *sb, SupConn **out, NsError *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	_cleanup_close_ int dirfd = open (sb->dir, O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int fd = -1;
	struct ucred cred;
	socklen_t len = sizeof cred;
	int r;

	if (dirfd < 0)
		return ns_error (err, errno, "open %s: %s", sb->dir, strerror (errno));
	snprintf (addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/supervisor.sock", dirfd);
	fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ns_error (err, errno, "socket: %s", strerror (errno));
	/* A unix socket's connect completes at once or fails: it never waits
	 * on the supervisor (a full backlog is EAGAIN). */
	fcntl (fd, F_SETFL, O_NONBLOCK);
	if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
		return ns_error (err, errno, "no supervisor answers: %s", strerror (errno));
	if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return ns_error (err, errno, "SO_PEERCRED: %s", strerror (errno));
	if ((r = send_hello (fd, err)) < 0)
		return r;
	supexits_track (cred.pid, false);
	*out = conn_new (sb, ns_steal_fd (&fd), cred.pid, true);
	return 0;
}

void
supclient_watch (SupConn *c)
{
	/* The watch and timers are the event thread's alone to touch. */
	GSource *src = g_idle_source_new ();

	g_source_set_priority (src, G_PRIORITY_HIGH);
	g_source_set_callback (src, conn_watch, supclient_ref (c), (GDestroyNotify) supclient_unref);
	g_source_attach (src, event_ctx);
	g_source_unref (src);
}

/* Runs in the event thread, so the watch is never mid-dispatch here. */
static gboolean
close_watch (gpointer data)
{
	SupConn *c = data;

	fd_watch_remove (c->watch);
	g_clear_pointer (&c->watch, fd_watch_unref);
	drop_source (&c->hello_timer);
	g_mutex_lock (&c->lock);
	c->watch_closed = true;
	g_cond_broadcast (&c->cond);
	g_mutex_unlock (&c->lock);
	supclient_unref (c);
	return G_SOURCE_REMOVE;
}

/* Synchronous, so that when rmdir returns the connection's descriptor is
 * closed too; the watch itself is only ever touched by the event thread.
 * The wait is for our own event thread, which never blocks. */
void
supclient_close (SupConn *c)
{
	if (!c)
		return;
	mark_dead (c);
	fail_all_pending (c, EIO, "the sandbox's supervisor is gone");
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
