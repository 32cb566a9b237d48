/* Helper children: short-lived forks of the supervisor that do one thing
 * the supervisor itself must not (join a user namespace, take the owner's
 * credentials) or must not wait for (open a path the owner names, which
 * may be on a file system that never answers).  Each is a registered
 * child of the loop (never a stray), its result is its exit status, and
 * it is killed if it takes longer than its time. */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"

typedef struct {
	pid_t pid;
	guint timer;
	bool timed_out;
	SupHelperDone done;
	gpointer data;
} Helper;

static void
on_helper_exit (pid_t pid, int wstatus, gpointer data)
{
	Helper *h = data;
	int code;

	sup_loop_remove (&h->timer);
	if (h->timed_out)
		code = ETIMEDOUT;
	else if (WIFEXITED (wstatus))
		code = WEXITSTATUS (wstatus);
	else
		code = EIO;
	h->done (code, h->data);
	g_free (h);
}

static gboolean
on_helper_timeout (gpointer data)
{
	Helper *h = data;

	h->timer = 0;
	h->timed_out = true;
	/* Reaped, and answered, through the loop as any end of it. */
	kill (h->pid, SIGKILL);
	return G_SOURCE_REMOVE;
}

int
sup_helper_start (SupHelperFunc fn, gpointer arg, guint timeout_s, SupHelperDone done, gpointer data, NsError *err)
{
	pid_t parent = getpid (), pid;
	Helper *h;

	pid = fork ();
	if (pid < 0)
		return ns_error (err, errno, "fork: %s", strerror (errno));
	if (pid == 0) {
		/* Nothing of it may outlive the supervisor. */
		prctl (PR_SET_PDEATHSIG, SIGKILL);
		if (getppid () != parent)
			_exit (ECHILD);
		_exit (fn (arg) & 0xff);
	}
	h = g_new0 (Helper, 1);
	h->pid = pid;
	h->done = done;
	h->data = data;
	h->timer = sup_loop_add_timer (timeout_s * 1000, on_helper_timeout, h);
	sup_loop_watch_child (pid, on_helper_exit, h);
	return 0;
}
