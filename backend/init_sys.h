/* The few things the init asks of the kernel, each a function.
 *
 * nsfs-init is built without a C library where the raw calls below are
 * written out (x86-64 and arm64, NSFS_INIT_FREESTANDING): its own pages
 * are then its stack and nothing else, which is most of what an idle
 * sandbox costs beside its supervisor (docs/performance.md).  Elsewhere
 * (sanitizer builds' in-place init, other architectures) the same
 * functions are glibc's calls, with glibc's numbers.
 *
 * Signals are taken with rt_sigtimedwait while all are blocked: no
 * handler, so no sigreturn trampoline, which a C library would supply. */
#pragma once

#include <stdbool.h>

#ifdef NSFS_INIT_FREESTANDING

#include <asm/unistd.h>

/* The kernel's numbers on x86-64 and arm64 (asm-generic). */
enum {
	INIT_SIGTERM = 15,
	INIT_SIGCHLD = 17,
	INIT_SIG_SETMASK = 2,
	INIT_WNOHANG = 1,
	INIT_PR_SET_NAME = 15,
	INIT_KERNEL_SIGSET_BYTES = 8,
};

static inline long
init_syscall (long nr, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	long ret;
	register long r10 __asm__ ("r10") = d;

	__asm__ volatile ("syscall"
	                  : "=a"(ret)
	                  : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
	                  : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__ ("x8") = nr;
	register long x0 __asm__ ("x0") = a;
	register long x1 __asm__ ("x1") = b;
	register long x2 __asm__ ("x2") = c;
	register long x3 __asm__ ("x3") = d;

	__asm__ volatile ("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
#else
#error "nsfs-init without a C library is written for x86-64 and arm64 only"
#endif
}

static inline unsigned long long
init_signal_bit (int signo)
{
	return 1ULL << (signo - 1);
}

static inline void
init_block_signals (void)
{
	unsigned long long every_signal = ~0ULL;

	init_syscall (__NR_rt_sigprocmask, INIT_SIG_SETMASK, (long) &every_signal, 0, INIT_KERNEL_SIGSET_BYTES);
}

/* Waits for SIGTERM or SIGCHLD (blocked, so pending until taken here);
 * true for SIGTERM. */
static inline bool
init_wait_for_sigterm (void)
{
	unsigned long long answered = init_signal_bit (INIT_SIGTERM) | init_signal_bit (INIT_SIGCHLD);

	return init_syscall (__NR_rt_sigtimedwait, (long) &answered, 0, 0, INIT_KERNEL_SIGSET_BYTES) == INIT_SIGTERM;
}

static inline bool
init_reap_one (void)
{
	return init_syscall (__NR_wait4, -1, 0, INIT_WNOHANG, 0) > 0;
}

static inline void
init_sigterm_everyone (void)
{
	init_syscall (__NR_kill, -1, INIT_SIGTERM, 0, 0);
}

static inline void
init_set_name (const char *name)
{
	init_syscall (__NR_prctl, INIT_PR_SET_NAME, (long) name, 0, 0);
}

static inline bool
init_is_pid1 (void)
{
	return init_syscall (__NR_getpid, 0, 0, 0, 0) == 1;
}

#else

#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static inline void
init_block_signals (void)
{
	sigset_t every_signal;

	sigfillset (&every_signal);
	sigprocmask (SIG_SETMASK, &every_signal, NULL);
}

static inline bool
init_wait_for_sigterm (void)
{
	sigset_t answered;

	sigemptyset (&answered);
	sigaddset (&answered, SIGTERM);
	sigaddset (&answered, SIGCHLD);
	return sigwaitinfo (&answered, NULL) == SIGTERM;
}

static inline bool
init_reap_one (void)
{
	return waitpid (-1, NULL, WNOHANG) > 0;
}

static inline void
init_sigterm_everyone (void)
{
	kill (-1, SIGTERM);
}

static inline void
init_set_name (const char *name)
{
	prctl (PR_SET_NAME, name, 0, 0, 0);
}

static inline bool
init_is_pid1 (void)
{
	return getpid () == 1;
}

#endif
