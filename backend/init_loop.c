/* Written against init_syscall.h alone, so that nsfs-init needs no C
 * library: every signal stays blocked, and the two the init answers are
 * taken with rt_sigtimedwait, which needs no handler (and so no
 * sigreturn trampoline a C library would provide). */
#include "init_loop.h"

#include "init_syscall.h"

/* The kernel's numbers, the same on every architecture init_syscall.h
 * writes out; without a C library there is no <signal.h> to take them
 * from, and the kernel's own header clashes with glibc's where there is. */
enum {
	INIT_SIGTERM = 15,
	INIT_SIGCHLD = 17,
	INIT_SIG_SETMASK = 2,
	INIT_WNOHANG = 1,
	INIT_KERNEL_SIGSET_BYTES = 8,
};

static unsigned long
signal_bit (int signo)
{
	return 1UL << (signo - 1);
}

void
sup_init_loop (bool owns_pidns)
{
	unsigned long every_signal = ~0UL;
	unsigned long answered = signal_bit (INIT_SIGTERM) | signal_bit (INIT_SIGCHLD);

	init_syscall (__NR_rt_sigprocmask, INIT_SIG_SETMASK, (long) &every_signal, 0, INIT_KERNEL_SIGSET_BYTES);
	for (;;) {
		/* A SIGCHLD that arrives while this reaps stays pending, so
		 * no exit is missed between the two. */
		while (init_syscall (__NR_wait4, -1, 0, INIT_WNOHANG, 0) > 0)
			;
		long signo = init_syscall (__NR_rt_sigtimedwait, (long) &answered, 0, 0, INIT_KERNEL_SIGSET_BYTES);
		/* Without a pid namespace of its own, -1 would be everything
		 * the owner may signal. */
		if (signo == INIT_SIGTERM && owns_pidns)
			init_syscall (__NR_kill, -1, INIT_SIGTERM, 0, 0);
	}
}

