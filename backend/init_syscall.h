/* The init's few system calls, made directly.  nsfs-init is built without
 * a C library where the calls below are written out (x86-64, arm64): its
 * own pages are then its stack and nothing else, which is most of what an
 * idle sandbox costs beside its supervisor (docs/performance.md).  Built
 * with one (a sanitizer build's in-place init, other architectures), the
 * same calls go through glibc's syscall().
 *
 * A call returns what the kernel returned: without a C library a failure
 * is -errno, with one it is -1; callers only ask whether it is positive. */
#pragma once

#include <asm/unistd.h>

#ifdef NSFS_INIT_FREESTANDING

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

#else

#include <unistd.h>

#define init_syscall(nr, a, b, c, d) syscall ((long) (nr), (long) (a), (long) (b), (long) (c), (long) (d))

#endif
