#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "cleanup.h"

typedef struct {
	SupChildFunc fn;
	gpointer data;
} ChildWatch;

typedef struct {
	SupFdFunc fn;
	gpointer data;
} FdWatch;

static GMainLoop *loop;
static int signal_fd = -1;
static guint signal_watch;
static SupReapFunc reap_other;
static SupReapedFunc after_reaping;
/* pid -> ChildWatch*: the helper children. */
static GHashTable *helpers;

/* One reaped child to whoever it belongs to. */
static void
dispatch_child (pid_t pid, int wstatus)
{
	ChildWatch *w = NULL;
	gpointer key;

	if (g_hash_table_steal_extended (helpers, GINT_TO_POINTER (pid), &key, (gpointer *) &w)) {
		if (w->fn)
			w->fn (pid, wstatus, w->data);
		g_free (w);
		return;
	}
	reap_other (pid, wstatus);
}

static void
reap_children (void)
{
	bool reaped = false;
	int wstatus;
	pid_t pid;

	while ((pid = waitpid (-1, &wstatus, WNOHANG)) > 0) {
		reaped = true;
		dispatch_child (pid, wstatus);
	}
	if (after_reaping)
		after_reaping (reaped);
}

static gboolean
on_signal (gint fd, GIOCondition cond, gpointer data)
{
	struct signalfd_siginfo si;

	/* SIGTERM and friends are swallowed on purpose: the supervisor
	 * outlives nsfsd, only `destroy` ends it.  Any signal may stand for
	 * several SIGCHLDs, so the reaping goes until none is left. */
	while (read (fd, &si, sizeof si) == sizeof si)
		;
	reap_children ();
	return G_SOURCE_CONTINUE;
}

int
sup_loop_init (SupReapFunc reap, SupReapedFunc after, NsError *err)
{
	sigset_t mask;

	reap_other = reap;
	after_reaping = after;
	helpers = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
	sigemptyset (&mask);
	sigaddset (&mask, SIGCHLD);
	sigaddset (&mask, SIGTERM);
	sigaddset (&mask, SIGINT);
	sigaddset (&mask, SIGHUP);
	sigaddset (&mask, SIGPIPE);
	if (sigprocmask (SIG_BLOCK, &mask, NULL) < 0)
		return ns_error (err, errno, "sigprocmask: %s", strerror (errno));
	signal_fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0)
		return ns_error (err, errno, "signalfd: %s", strerror (errno));
	loop = g_main_loop_new (NULL, FALSE);
	signal_watch = g_unix_fd_add (signal_fd, G_IO_IN, on_signal, NULL);
	return 0;
}

void
sup_loop_run (void)
{
	/* Children that ended before the loop ran sent their SIGCHLD to a
	 * blocked mask already: the signalfd holds it, nothing is lost. */
	g_main_loop_run (loop);
}

void
sup_loop_quit (void)
{
	g_main_loop_quit (loop);
}

void
sup_loop_shutdown (void)
{
	sup_loop_remove (&signal_watch);
	ns_close_fdp (&signal_fd);
	g_clear_pointer (&loop, g_main_loop_unref);
	g_clear_pointer (&helpers, g_hash_table_destroy);
	/* Sources of the default context that features left behind. */
	while (g_main_context_iteration (NULL, FALSE))
		;
}

static gboolean
on_fd (gint fd, GIOCondition cond, gpointer data)
{
	FdWatch *w = data;

	w->fn (fd, cond, w->data);
	return G_SOURCE_CONTINUE;
}

guint
sup_loop_add_fd (int fd, GIOCondition cond, SupFdFunc fn, gpointer data)
{
	FdWatch *w = g_new (FdWatch, 1);

	*w = (FdWatch) { fn, data };
	return g_unix_fd_add_full (G_PRIORITY_DEFAULT, fd, cond, on_fd, w, g_free);
}

guint
sup_loop_add_timer (guint ms, GSourceFunc fn, gpointer data)
{
	return g_timeout_add (ms, fn, data);
}

void
sup_loop_remove (guint *id)
{
	if (*id)
		g_source_remove (*id);
	*id = 0;
}

void
sup_loop_watch_child (pid_t pid, SupChildFunc fn, gpointer data)
{
	ChildWatch *w = g_new (ChildWatch, 1);

	*w = (ChildWatch) { fn, data };
	g_hash_table_replace (helpers, GINT_TO_POINTER (pid), w);
}

bool
sup_loop_is_helper (pid_t pid)
{
	return helpers && g_hash_table_contains (helpers, GINT_TO_POINTER (pid));
}

void
sup_loop_signal_helpers (int signo)
{
	GHashTableIter it;
	gpointer key;

	/* Our unreaped children: their pids cannot be reused under us. */
	g_hash_table_iter_init (&it, helpers);
	while (g_hash_table_iter_next (&it, &key, NULL))
		kill (GPOINTER_TO_INT (key), signo);
}

bool
sup_loop_reap_all (void (*between) (void), guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

	for (;;) {
		struct pollfd pfd = { .fd = signal_fd, .events = POLLIN };
		struct signalfd_siginfo si;
		gint64 left;
		int wstatus;
		pid_t pid = waitpid (-1, &wstatus, WNOHANG);

		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			return true; /* ECHILD: none left */
		if (pid > 0) {
			dispatch_child (pid, wstatus);
			if (between)
				between ();
			continue;
		}
		/* Some are left: wait for the next SIGCHLD, not past the
		 * deadline (a process waiting on a FUSE request its server
		 * took and never answers cannot die, SIGKILL or not). */
		left = deadline - g_get_monotonic_time ();
		if (left <= 0)
			return false;
		if (poll (&pfd, 1, (int) MAX (1, left / 1000)) < 0 && errno != EINTR)
			return false;
		while (read (signal_fd, &si, sizeof si) == sizeof si)
			;
	}
}
