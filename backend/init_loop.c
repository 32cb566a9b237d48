#include "init_loop.h"

#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

static volatile sig_atomic_t stop_requested;

static void
on_sigterm (int sig)
{
	stop_requested = 1;
}

static void
on_sigchld (int sig)
{
}

void
sup_init_loop (bool owns_pidns)
{
	struct sigaction term = { .sa_handler = on_sigterm };
	struct sigaction chld = { .sa_handler = on_sigchld };
	sigset_t blocked, waiting;

	sigfillset (&blocked);
	sigprocmask (SIG_SETMASK, &blocked, NULL);
	sigaction (SIGTERM, &term, NULL);
	sigaction (SIGCHLD, &chld, NULL);
	sigfillset (&waiting);
	sigdelset (&waiting, SIGTERM);
	sigdelset (&waiting, SIGCHLD);
	for (;;) {
		while (waitpid (-1, NULL, WNOHANG) > 0)
			;
		/* Without a pid namespace of its own, -1 would be everything
		 * the owner may signal. */
		if (stop_requested && owns_pidns) {
			stop_requested = 0;
			kill (-1, SIGTERM);
		}
		sigsuspend (&waiting);
	}
}
