/* Supervisors' ends, known without a descriptor held per supervisor.
 *
 * nsfsd's descriptors are what bounds how many sandboxes it can hold (a
 * hard RLIMIT_NOFILE of 20,000 on some machines): a supervisor costs its
 * socket and nothing more.  Its end is watched (through a pidfd opened
 * then) only once something needs it: its socket hung up, an rmdir or a
 * stop waits for it, or it is killed.  A pid is only ever used while it is
 * known to be the supervisor's: a child of ours is reaped under the same
 * lock that opens pidfds for it, and a supervisor found running (not our
 * child) is told from a later process with its pid by its start time. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

/* EXITED true once the supervisor has ended (and been reaped, if it is our
 * child); false when the wait timed out. */
typedef void (*SupExitFn) (gpointer data, bool exited);

/* Answers and polls run on CTX's thread (nsfsd's event thread). */
void supexits_init (GMainContext *ctx);
/* Answer every wait left as timed out, then forget every supervisor. */
void supexits_finish_waits (void);
void supexits_shutdown (void);

/* Remember PID, a running supervisor (OUR_CHILD: we started it and reap
 * it). */
void supexits_track (pid_t pid, bool our_child);
/* Start watching PID's end now (its connection hung up).  Event thread. */
void supexits_watch (pid_t pid);
/* FN on the event thread once PID has ended, or after TIMEOUT_MS. */
void supexits_when_exited (pid_t pid, unsigned timeout_ms, SupExitFn fn, gpointer data);
/* SIGKILL PID if it is still the supervisor tracked under that pid. */
void supexits_kill (pid_t pid);
