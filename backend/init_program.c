/* nsfs-init: the program a sandbox's init executes once it has set the
 * sandbox up (backend/spawn.c).  Until then the init is a copy of its
 * supervisor, with the supervisor's memory; from then on it is this:
 * statically linked, no library to load, a few pages of its own (PSS per
 * idle sandbox: docs/performance.md), and nothing of the supervisor's
 * left for the owner, who may ptrace it, to read.
 *
 * Its one argument is its title, `nsfs-init NAME`; it is PID 1 of the
 * sandbox's pid namespace exactly when it owns one. */
#include <stddef.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "init_loop.h"

int
main (int argc, char **argv)
{
	/* execveat by descriptor names the process after the descriptor's
	 * number; ps shows the title as nsfs-init's copy did. */
	if (argc > 0 && argv[0])
		prctl (PR_SET_NAME, argv[0], 0, 0, 0);
	sup_init_loop (getpid () == 1);
}
