/* Sandbox objects as nsfsd sees them: configuration, state, jobs, and the
 * connection to the sandbox's supervisor.  nsfsd holds no process of its
 * own; everything here can be rebuilt from the state directory. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <glib.h>

#include "error.h"
#include "sandbox_config.h"

typedef enum { SB_CREATED, SB_RUNNING, SB_STOPPED } SbState;

typedef struct SupConn SupConn;

typedef struct {
	unsigned id;
	pid_t pid;
	char *cmd;
	char *status;        /* NULL while running: "exited 0", "signaled 9" */
	bool pending;        /* exec not yet answered: invisible */
	struct timespec start_time;
	struct timespec end_time; /* once status is set: its files' mtime */
	GPtrArray *pollhandles;  /* struct fuse_pollhandle*, woken at exit */
} Job;

typedef struct Sandbox {
	gint refcount;
	uint32_t serial;       /* inode namespace; never reused in one run */
	char *name;
	char *dir;             /* <state>/sandboxes/<name> */
	uid_t owner;           /* cfg->owner_uid, which never changes: read
	                        * without the lock (cfg itself is replaced) */
	struct timespec ctime, mtime;

	/* Serialises everything that talks to the supervisor or changes the
	 * configuration, so a write is validated and applied as a whole. */
	GMutex op_lock;
	/* Values stored in truncate_empties files (rootfs) so far, under
	 * op_lock: tells whether one changed since (see nsfs_flush). */
	guint64 emptiable_stores;

	/* Guards the fields below; never held while waiting on a supervisor. */
	GMutex lock;
	NsSandboxConfig *cfg;
	SbState state;
	pid_t init_pid;
	char *error;
	GPtrArray *jobs;       /* Job*, jobs->pdata[id - 1] */
	bool removed;
	unsigned long pinned;  /* CLONE_NEW* types bind-mounted under pinned/ */
	SupConn *conn;
} Sandbox;

/* An empty Job.pollhandles: it destroys the handles it still holds. */
GPtrArray *sandbox_pollhandles_new (void);

Sandbox *sandbox_ref (Sandbox *sb);
void sandbox_unref (Sandbox *sb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sandbox, sandbox_unref)

/* Limits that keep one user from exhausting the daemon (0: no limit). */
typedef struct {
	unsigned sandboxes_per_uid;   /* root's are not counted */
	unsigned jobs_per_sandbox;
	uint64_t job_output;          /* bytes per job and stream */
} SandboxLimits;

#define SANDBOX_DEFAULT_LIMITS { .sandboxes_per_uid = 64, .jobs_per_sandbox = 4096, .job_output = NS_DEFAULT_MAX_OUTPUT }

void sandbox_set_limits (const SandboxLimits *limits);

/* The registry: name and serial lookups, listed in creation order. */
void sandbox_registry_init (void);
/* Let go of every sandbox (nsfsd is exiting; supervisors keep running). */
void sandbox_registry_shutdown (void);
Sandbox *sandbox_lookup (const char *name);        /* new ref or NULL */
Sandbox *sandbox_by_serial (uint32_t serial);      /* new ref or NULL */
guint sandbox_count (void);
/* Names of all sandboxes with their serials, for readdir. */
GPtrArray *sandbox_list (void);                    /* Sandbox* refs; free with g_ptr_array_unref */

/* mkdir: create, persist and give the sandbox a supervisor. */
int sandbox_create (const char *name, uid_t uid, gid_t gid, Sandbox **out, NsError *err);
/* rmdir: end everything, remove the state, drop from the registry. */
int sandbox_destroy (Sandbox *sb, NsError *err);

/* Adopt every sandbox found in the state dir (at start-up). */
void sandbox_adopt_all (void);

/* Record ERR as the sandbox's last error, prefixed with FILE. */
void sandbox_set_error (Sandbox *sb, const char *file, const NsError *err);

/* Operations that go through the supervisor; caller holds op_lock. */
int sandbox_start (Sandbox *sb, NsError *err);
int sandbox_stop (Sandbox *sb, NsError *err);
int sandbox_kill (Sandbox *sb, int signo, NsError *err);
int sandbox_apply_hostname (Sandbox *sb, const char *hostname, NsError *err);
int sandbox_pin (Sandbox *sb, bool pin, NsError *err);
/* EACCES/ENOENT unless a non-root owner can read PATH itself. */
int sandbox_check_rootfs (Sandbox *sb, const char *path, NsError *err);
/* Tell a live supervisor the capabilities later jobs keep. */
int sandbox_set_caps (Sandbox *sb, const char *caps, NsError *err);
/* Start a job running CMDLINE, the text as written (already checked with
 * ns_cmdline_parse); the job's `cmd` shows it as ns_cmdline_strip does. */
int sandbox_exec (Sandbox *sb, const char *cmdline, unsigned *id, NsError *err);
/* A copy of the current configuration, to change and commit. */
NsSandboxConfig *sandbox_copy_config (Sandbox *sb);
/* Save CFG (a changed copy of sb->cfg) and make it current; takes CFG
 * either way.  Caller holds op_lock. */
int sandbox_commit_config (Sandbox *sb, NsSandboxConfig *cfg, NsError *err);

/* Called (without locks) once a job has ended, to wake its readers. */
typedef void (*SandboxJobEndHook) (Sandbox *sb, unsigned id);
void sandbox_set_job_end_hook (SandboxJobEndHook hook);

/* Called with sb->lock held whenever the sandbox's mtime moves, so the
 * kernel's cached attributes of its directory can be dropped; it must
 * neither block nor take sandbox locks. */
typedef void (*SandboxTouchHook) (const Sandbox *sb);
void sandbox_set_touch_hook (SandboxTouchHook hook);

/* Supervisor events, called from the event thread. */
void sandbox_on_exit (Sandbox *sb, unsigned id, const char *status);
void sandbox_on_state (Sandbox *sb, const char *state, const char *arg);
void sandbox_on_supervisor_lost (Sandbox *sb);

/* Paths of a job's files in the state dir; caller frees. */
char *sandbox_job_path (Sandbox *sb, unsigned id, const char *file);

/* Job i (1-based) if it exists and is visible; call with sb->lock held. */
Job *sandbox_job_locked (Sandbox *sb, unsigned id);
