/* What a sandbox's init does once the sandbox is set up: it holds the
 * namespaces, reaps orphans as PID 1, and on SIGTERM passes it to
 * everything in its pid namespace.  Shared by nsfs-init (the small
 * program the init executes) and the supervisor's copy that runs it in
 * place where that program is missing (a sanitizer build). */
#pragma once

#include <stdbool.h>

/* Never returns.  Every signal is blocked on entry, or is blocked at once
 * (a SIGTERM sent earlier stays pending and is seen). */
void sup_init_loop (bool owns_pidns) __attribute__ ((noreturn));
