/* nsfs-init: the program a sandbox's init executes once it has set the
 * sandbox up (backend/spawn.c).  Until then the init is a copy of its
 * supervisor, with the supervisor's memory; from then on it is this:
 * statically linked and, on x86-64 and arm64, without a C library, so
 * that its own pages are its stack (PSS per idle sandbox:
 * docs/performance.md), and nothing of the supervisor's is left for the
 * owner, who may ptrace it, to read.
 *
 * Its one argument is its title, `nsfs-init NAME`; it is PID 1 of the
 * sandbox's pid namespace exactly when it owns one. */
#include "init_loop.h"
#include "init_sys.h"

static void __attribute__ ((noreturn))
init_main (int argc, char **argv)
{
	/* execveat by descriptor names the process after the descriptor's
	 * number; ps shows the title as the supervisor's copy did. */
	if (argc > 0 && argv[0])
		init_set_name (argv[0]);
	sup_init_loop (init_is_pid1 ());
}

#ifdef NSFS_INIT_FREESTANDING

/* The kernel starts the program with argc at the stack pointer and argv
 * after it; the entry point hands that to init_main with the stack aligned
 * as a call expects. */
__attribute__ ((used)) static void __attribute__ ((noreturn))
init_start (long *initial_sp)
{
	init_main ((int) initial_sp[0], (char **) (initial_sp + 1));
}

#if defined(__x86_64__)
__asm__ (".text\n"
         ".global _start\n"
         "_start:\n"
         "	xor %ebp, %ebp\n"
         "	mov %rsp, %rdi\n"
         "	and $-16, %rsp\n"
         "	call init_start\n"
         "	hlt\n");
#elif defined(__aarch64__)
__asm__ (".text\n"
         ".global _start\n"
         "_start:\n"
         "	mov x29, #0\n"
         "	mov x30, #0\n"
         "	mov x0, sp\n"
         "	bl init_start\n"
         "	brk #0\n");
#endif

#else

int
main (int argc, char **argv)
{
	init_main (argc, argv);
}

#endif
