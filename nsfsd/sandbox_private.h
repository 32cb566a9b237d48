/* What the files behind sandbox.h share among themselves: the registry
 * (registry.c), the sandbox object (sandbox.c), its jobs
 * (sandbox_jobs.c), its supervisor (supervision.c) and adoption
 * (adopt.c). */
#pragma once

#include "sandbox.h"

const SandboxLimits *sandbox_limits (void);

Sandbox *sandbox_new (const char *name, NsSandboxConfig *cfg);
/* Give SB its serial and make it findable (the registry's reference is
 * SB's own); and forget it again. */
void sandbox_register (Sandbox *sb);
void sandbox_unregister (Sandbox *sb);

void sandbox_job_free (Job *job);
/* Tell the FUSE side that job ID ended (no lock held). */
void sandbox_job_ended (Sandbox *sb, unsigned id);

/* The sandbox changed: its mtime moves; call with sb->lock held. */
void sandbox_touch_locked (Sandbox *sb);

/* Remove a state directory and everything in it. */
void sandbox_remove_tree (const char *dir);

/* Jobs from their records in the state dir (at adoption). */
void sandbox_load_jobs (Sandbox *sb);
/* Bring jobs up to date with their exit records.  With the supervisor
 * gone, a job with no record was killed with it (PR_SET_PDEATHSIG), so
 * SIGKILL is what it died of. */
void sandbox_refresh_jobs (Sandbox *sb, bool supervisor_alive);
/* The host pids of the jobs still running (for a kill without the
 * supervisor's help). */
GArray *sandbox_running_job_pids (Sandbox *sb);

/* Close the sandbox's connections to its supervisors (which keep
 * running); calls still in flight are answered with EIO. */
void sandbox_let_go_of_supervisors (Sandbox *sb);

/* The pinned set of a supervisor's text. */
unsigned long sandbox_parse_pinned (const char *text);
