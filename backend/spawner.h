/* The spawner: a warm process per running sandbox that makes its jobs.
 *
 * A job made by fork copies the supervisor's page tables, and both sides
 * then take copy-on-write faults (about 0.3 ms a job here).  A child that
 * shares its parent's memory until execve (CLONE_VM | CLONE_VFORK, as
 * posix_spawn makes them) costs none of that, but holds its parent until
 * execve is done, and an execve of a program on a file system that never
 * answers is never done.  So the supervisor forks, once per start (at
 * its second job: a cold sandbox runs one), a spawner that sits in the
 * sandbox's pid and time namespaces and makes each later job with
 * CLONE_VM | CLONE_VFORK | CLONE_PARENT (the job is the supervisor's
 * child, as any other).  The child says its pid first, on the spawner's
 * socket; a hung execve then holds the spawner alone, and jobs are made
 * by fork (sup_spawner_job returns 0) until the sandbox ends and takes
 * the spawner with it. */
#pragma once

#include <sys/types.h>

#include "error.h"
#include "job_start.h"

/* Make the job JS describes through the running sandbox's spawner
 * (started at the second job of a start): 1 with *PID; 0 when there is none to use (no
 * init, a busy spawner, one that could not start, a sanitizer build):
 * make it by fork; -errno with ERR when the spawner took the request and
 * failed (the job is not to be made twice). */
int sup_spawner_job (Supervisor *s, JobStart *js, pid_t *pid, NsError *err);
/* The sandbox ended: the spawner goes with it. */
void sup_spawner_stop (Supervisor *s);
