/* Deferred replies: a request answered later, from another thread, and
 * interruptible meanwhile (FUSE_INTERRUPT: Ctrl-C answers EINTR). */
#pragma once

#include <stdbool.h>

#include <fuse_lowlevel.h>

/* Register FN as REQ's interrupt callback.  False when REQ was already
 * interrupted: the caller answers EINTR itself, at once.  FN must start
 * with `if (deferred_interrupted_now ()) return;`. */
bool deferred_register (fuse_req_t req, fuse_interrupt_func_t fn);
/* True (and noted) when FN is being called from inside
 * deferred_register, where it must not reply. */
bool deferred_interrupted_now (void);
