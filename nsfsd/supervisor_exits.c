#include "supervisor_exits.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd_watch.h"
#include "proclist.h"
#include "sandbox_config.h" /* ns_wait_status_format */

/* Without pidfds (valgrind does not know pidfd_open), how often a
 * watched supervisor is looked at. */
#define POLL_INTERVAL_MS 10

/* A supervisor not yet seen to end. */
typedef struct {
	pid_t pid;
	bool our_child;
	guint64 start_ticks; /* not our child: its start time, read when tracked */
	bool watched;        /* a pidfd watch or a poll is on it */
	GSList *waiters;     /* ExitWaiter* */
} Tracked;

/* Someone waiting for a supervisor's end (supexits_when_exited). */
typedef struct {
	pid_t pid;
	SupExitFn fn;
	gpointer data;
	unsigned timeout_ms;
	GSource *timer;
} ExitWaiter;

/* A pidfd being watched for PID's end. */
typedef struct {
	pid_t pid;
	int pidfd;
} PidfdWatch;

static GMainContext *event_ctx;
/* Reaping a child and opening a pidfd for it both happen under LOCK:
 * that is what keeps its pid from being reused in between. */
static GMutex lock;
static GHashTable *tracked; /* pid -> Tracked* */

static void
tracked_free (Tracked *t)
{
	g_slist_free (t->waiters); /* answered (or moved) before this */
	g_free (t);
}

void
supexits_init (GMainContext *ctx)
{
	event_ctx = ctx;
	tracked = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) tracked_free);
}

void
supexits_shutdown (void)
{
	g_clear_pointer (&tracked, g_hash_table_destroy);
	event_ctx = NULL;
}

static bool
read_start_ticks (pid_t pid, guint64 *ticks)
{
	char path[64];
	g_autofree char *text = NULL;
	gsize len;

	snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
	return g_file_get_contents (path, &text, &len, NULL) && ns_stat_start_time (text, len, ticks) == 0;
}

/* Whether the process now at T's pid is T's supervisor.  Under LOCK. */
static bool
still_same_process_locked (const Tracked *t)
{
	guint64 now;

	/* A child of ours keeps its pid until we reap it, under LOCK. */
	if (t->our_child)
		return true;
	return read_start_ticks (t->pid, &now) && now == t->start_ticks;
}

/* A pidfd for T's supervisor: -ESRCH once it is gone, -ENOSYS without
 * pidfd_open.  Under LOCK. */
static int
open_pidfd_locked (const Tracked *t)
{
	int fd = (int) syscall (SYS_pidfd_open, t->pid, 0);

	if (fd < 0)
		return -errno;
	/* Checked after the pidfd is open: if the process behind it is still
	 * the one we track, the pidfd is its. */
	if (!still_same_process_locked (t)) {
		close (fd);
		return -ESRCH;
	}
	return fd;
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

/* Reap our child PID if it has ended: waitpid's answer (0 while it runs).
 * Under LOCK. */
static pid_t
reap_locked (pid_t pid)
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

/* Whether T's supervisor has ended (a child of ours is reaped here).
 * Under LOCK. */
static bool
has_ended_locked (const Tracked *t)
{
	if (t->our_child)
		return reap_locked (t->pid) != 0;
	if (kill (t->pid, 0) < 0 && errno == ESRCH)
		return true;
	return !still_same_process_locked (t);
}

static GSList *
forget_locked (pid_t pid)
{
	Tracked *t = g_hash_table_lookup (tracked, GINT_TO_POINTER (pid));
	GSList *waiters;

	if (!t)
		return NULL;
	waiters = t->waiters;
	t->waiters = NULL;
	g_hash_table_remove (tracked, GINT_TO_POINTER (pid));
	return waiters;
}

static void
exit_waiter_done (ExitWaiter *ew, bool exited)
{
	if (ew->timer) {
		g_source_destroy (ew->timer);
		g_source_unref (ew->timer);
	}
	ew->fn (ew->data, exited);
	g_free (ew);
}

static void
answer_all (GSList *waiters, bool exited)
{
	for (GSList *l = waiters; l; l = l->next)
		exit_waiter_done (l->data, exited);
	g_slist_free (waiters);
}

/* PID is known to have ended: reap it if it is our child, and answer
 * whoever waits for it. */
static void
supervisor_ended (pid_t pid)
{
	Tracked *t;
	GSList *waiters = NULL;

	g_mutex_lock (&lock);
	t = g_hash_table_lookup (tracked, GINT_TO_POINTER (pid));
	if (t) {
		if (t->our_child)
			reap_locked (pid);
		waiters = forget_locked (pid);
	}
	g_mutex_unlock (&lock);
	answer_all (waiters, true);
}

void
supexits_track (pid_t pid, bool our_child)
{
	Tracked *t = g_new0 (Tracked, 1);

	t->pid = pid;
	t->our_child = our_child;
	/* Unreadable: it has ended already, which a watch will find. */
	if (!our_child && !read_start_ticks (pid, &t->start_ticks))
		t->start_ticks = G_MAXUINT64;
	g_mutex_lock (&lock);
	if (g_hash_table_contains (tracked, GINT_TO_POINTER (pid)))
		tracked_free (t); /* connected to again: what we know stands */
	else
		g_hash_table_insert (tracked, GINT_TO_POINTER (pid), t);
	g_mutex_unlock (&lock);
}

static void
pidfd_watch_free (PidfdWatch *w)
{
	close (w->pidfd);
	g_free (w);
}

static gboolean
on_pidfd_ready (int fd, GIOCondition cond, gpointer data)
{
	PidfdWatch *w = data;

	supervisor_ended (w->pid);
	return G_SOURCE_REMOVE;
}

static gboolean
poll_end (gpointer data)
{
	pid_t pid = GPOINTER_TO_INT (data);
	Tracked *t;
	GSList *waiters = NULL;
	bool running;

	g_mutex_lock (&lock);
	t = g_hash_table_lookup (tracked, GINT_TO_POINTER (pid));
	running = t && !has_ended_locked (t);
	if (t && !running)
		waiters = forget_locked (pid);
	g_mutex_unlock (&lock);
	answer_all (waiters, true);
	return running ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void
supexits_watch (pid_t pid)
{
	Tracked *t;
	int fd;

	g_mutex_lock (&lock);
	t = g_hash_table_lookup (tracked, GINT_TO_POINTER (pid));
	if (!t || t->watched) {
		g_mutex_unlock (&lock);
		return;
	}
	t->watched = true;
	fd = open_pidfd_locked (t);
	g_mutex_unlock (&lock);
	if (fd >= 0) {
		PidfdWatch *w = g_new0 (PidfdWatch, 1);
		*w = (PidfdWatch) { pid, fd };
		fd_watch_unref (fd_watch_add (fd, G_IO_IN, on_pidfd_ready, w, (GDestroyNotify) pidfd_watch_free));
	} else if (fd == -ESRCH) {
		supervisor_ended (pid);
	} else {
		GSource *src = g_timeout_source_new (POLL_INTERVAL_MS);
		g_source_set_callback (src, poll_end, GINT_TO_POINTER (pid), NULL);
		g_source_attach (src, event_ctx);
		g_source_unref (src);
	}
}

void
supexits_kill (pid_t pid)
{
	Tracked *t;
	int fd = -ESRCH;

	g_mutex_lock (&lock);
	t = g_hash_table_lookup (tracked, GINT_TO_POINTER (pid));
	if (t)
		fd = open_pidfd_locked (t);
	/* No pidfds: under LOCK, a child of ours cannot be reaped meanwhile;
	 * anyone else's pid could be reused between the check and the kill,
	 * a window left open only where pidfds are missing. */
	if (t && fd == -ENOSYS && still_same_process_locked (t))
		kill (pid, SIGKILL);
	g_mutex_unlock (&lock);
	if (fd >= 0) {
		if (syscall (SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
			g_warning ("supervisor %d: pidfd_send_signal: %s", (int) pid, g_strerror (errno));
		close (fd);
	}
}

/* --- waits ------------------------------------------------------------------ */

static gboolean
exit_wait_timed_out (gpointer data)
{
	ExitWaiter *ew = data;
	Tracked *t;

	g_mutex_lock (&lock);
	t = g_hash_table_lookup (tracked, GINT_TO_POINTER (ew->pid));
	if (t)
		t->waiters = g_slist_remove (t->waiters, ew);
	g_mutex_unlock (&lock);
	g_source_unref (ew->timer); /* destroyed by returning REMOVE */
	ew->timer = NULL;
	ew->fn (ew->data, false);
	g_free (ew);
	return G_SOURCE_REMOVE;
}

static gboolean
exit_wait_start (gpointer data)
{
	ExitWaiter *ew = data;
	Tracked *t;

	g_mutex_lock (&lock);
	t = g_hash_table_lookup (tracked, GINT_TO_POINTER (ew->pid));
	if (t) {
		t->waiters = g_slist_prepend (t->waiters, ew);
		ew->timer = g_timeout_source_new (ew->timeout_ms);
		g_source_set_callback (ew->timer, exit_wait_timed_out, ew, NULL);
		g_source_attach (ew->timer, event_ctx);
	}
	g_mutex_unlock (&lock);
	if (t)
		supexits_watch (ew->pid);
	else
		exit_waiter_done (ew, true);
	return G_SOURCE_REMOVE;
}

void
supexits_when_exited (pid_t pid, unsigned timeout_ms, SupExitFn fn, gpointer data)
{
	ExitWaiter *ew = g_new0 (ExitWaiter, 1);
	GSource *src = g_idle_source_new ();

	*ew = (ExitWaiter) { pid, fn, data, timeout_ms, NULL };
	/* In the event thread, where the end itself is seen: never called
	 * back from inside the caller. */
	g_source_set_callback (src, exit_wait_start, ew, NULL);
	g_source_attach (src, event_ctx);
	g_source_unref (src);
}

void
supexits_finish_waits (void)
{
	for (;;) {
		GSList *waiters = NULL;
		GHashTableIter it;
		gpointer value;

		while (g_main_context_iteration (event_ctx, FALSE))
			;
		g_mutex_lock (&lock);
		g_hash_table_iter_init (&it, tracked);
		while (g_hash_table_iter_next (&it, NULL, &value)) {
			Tracked *t = value;
			waiters = g_slist_concat (waiters, t->waiters);
			t->waiters = NULL;
		}
		g_mutex_unlock (&lock);
		if (!waiters)
			return;
		answer_all (waiters, false);
	}
}
