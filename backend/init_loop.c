/* Written against init_sys.h alone, so that nsfs-init needs no C library
 * where init_sys.h writes the calls out. */
#include "init_loop.h"

#include "init_sys.h"

void
sup_init_loop (bool owns_pidns)
{
	init_block_signals ();
	for (;;) {
		/* A SIGCHLD that comes while this reaps stays pending, so no
		 * exit is missed between the two. */
		while (init_reap_one ())
			;
		/* Without a pid namespace of its own, -1 would be everything
		 * the owner may signal. */
		if (init_wait_for_sigterm () && owns_pidns)
			init_sigterm_everyone ();
	}
}
