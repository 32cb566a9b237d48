/* Starting supervisor processes: copies of a zygote nsfsd executes once,
 * or executed one by one when there is none (NSFS_ZYGOTE=0, or it could
 * not start).  Each supervisor is nsfsd's child. */
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include "error.h"

/* Find the supervisor binary and start the zygote unless told not to. */
void supspawn_init (void);
/* Let the zygote go (the supervisors stay). */
void supspawn_shutdown (void);

/* Start the supervisor of the sandbox in DIR, with SOCK as its first
 * client's socket: 0 with *PID, or -errno with ERR filled. */
int supspawn_start (const char *dir, int sock, pid_t *pid, NsError *err);

/* The open file limit supervisors (and so sandboxes) get. */
void supspawn_set_nofile_limit (const struct rlimit *rl);
