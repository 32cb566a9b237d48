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

/* Room for every row of files.h's sandbox table (checked there). */
#define SANDBOX_FILES_MAX 48

typedef struct SupConn SupConn;
/* supervisor_client.h */
typedef void (*SupReplyFn) (gpointer data, int r, char **reply, const NsError *err);

typedef enum { SB_CREATED, SB_RUNNING, SB_STOPPED } SbState;

typedef struct {
	unsigned id;
	pid_t pid;
	char *cmd;
	char *status;        /* NULL while running: "exited 0", "signaled 9" */
	bool pending;        /* exec not yet answered: invisible */
	struct timespec start_time;
	struct timespec end_time; /* once status is set: its files' mtime */
	GPtrArray *pollhandles;  /* struct fuse_pollhandle*, woken at exit */
	bool stdin_pipe;     /* started with `stdin pipe`: has jobs/<id>/stdin */
	bool tty;            /* started with `stdin tty`: stdin, winsize, console */
	unsigned rows, cols; /* its terminal's size, as last set */
} Job;

typedef struct Sandbox {
	gint refcount;
	uint32_t serial;       /* inode namespace; never reused in one run */
	char *name;
	char *dir;             /* <state>/sandboxes/<name> */
	uid_t owner;           /* cfg->owner_uid, which never changes: read
	                        * without the lock (cfg itself is replaced) */
	struct timespec mtime;
	/* When each configuration file last took a write (indexed by node,
	 * files.h): its mtime, which a job start or a state change leaves
	 * alone, so `find -newer` and `make` see only real changes. */
	struct timespec file_mtime[SANDBOX_FILES_MAX];

	/* Writes run one at a time, in order, none of them holding a thread
	 * while it waits (writes.c); the running one alone touches this.
	 * Values stored in truncate_empties files (rootfs) so far: tells
	 * whether one changed since (see truncate.c). */
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
	/* A supervisor that is alive but would not speak with us (it refused
	 * our protocol, or did not answer hello): no request goes to it and
	 * no second supervisor is started beside it; stop and rmdir end it
	 * with SIGKILL. */
	SupConn *unreachable;
	bool adopting;         /* the first hello's answer tells the state */
	uint64_t oom_seen;     /* oom_kills of its cgroup already told (events) */

	/* The write queue (writes.c), under its own lock. */
	GQueue *ops;
	void *op_running;
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
/* When a sandbox last appeared or went: the mount root's mtime. */
void sandbox_registry_changed_at (struct timespec *when);
/* Names of all sandboxes with their serials, for readdir. */
GPtrArray *sandbox_list (void);                    /* Sandbox* refs; free with g_ptr_array_unref */
/* At most MAX of them, the first whose serials are above SERIAL. */
GPtrArray *sandbox_list_after (uint32_t serial, guint max);

/* mkdir: create, persist and give the sandbox a supervisor. */
int sandbox_create (const char *name, uid_t uid, gid_t gid, Sandbox **out, NsError *err);
/* Adopt every sandbox found in the state dir (at start-up). */
void sandbox_adopt_all (void);

/* Record ERR as the sandbox's last error, prefixed with FILE. */
void sandbox_set_error (Sandbox *sb, const char *file, const NsError *err);

/* Send FIELDS to the sandbox's supervisor, starting one if it has none
 * (see supervisor_client.h for FN).  Only the write running for the
 * sandbox calls this (writes.c). */
int sandbox_call (Sandbox *sb, char *const *fields, SupReplyFn fn, gpointer data, NsError *err);
/* The same, but only to a supervisor that is connected: returns 1 (FN
 * not called) when there is none. */
int sandbox_call_if_connected (Sandbox *sb, char *const *fields, SupReplyFn fn, gpointer data, NsError *err);
/* Answer the sandbox's requests in flight now with CODE (rmdir cuts in). */
void sandbox_cancel_calls (Sandbox *sb, int code, const char *why);

/* rmdir: end everything, remove the state, drop from the registry; DONE
 * is called once with 0 or -errno (ERR). */
typedef void (*SandboxDoneFn) (gpointer data, int r, const NsError *err);
void sandbox_destroy (Sandbox *sb, SandboxDoneFn done, gpointer data);

/* The `pinned` text of a supervisor's answer. */
void sandbox_set_pinned (Sandbox *sb, const char *text);
bool sandbox_is_running (Sandbox *sb);

/* A job for CMDLINE (checked with ns_cmdline_parse), invisible until
 * sandbox_exec_end: its id, or -errno with ERR (a limit). */
int sandbox_exec_begin (Sandbox *sb, const char *cmdline, unsigned *id, NsError *err);
/* The exec of job ID was answered with R (REPLY: `ok PID`).  Returns
 * true if the id turned out to belong to a job started earlier, whose
 * answer was lost: it is taken in, and the exec should be asked again
 * with a fresh id. */
bool sandbox_exec_end (Sandbox *sb, unsigned id, int r, char **reply);

/* Every time of SB (its own and each file's) set to WHEN: at creation,
 * and when it is adopted from the state dir. */
void sandbox_set_times (Sandbox *sb, const struct timespec *when);
/* The configuration file at NODE (files.h) took a write: its mtime moves;
 * call with sb->lock held. */
void sandbox_file_changed_locked (Sandbox *sb, unsigned node);

/* A copy of the current configuration, to change and commit. */
NsSandboxConfig *sandbox_copy_config (Sandbox *sb);
/* Save CFG (a changed copy of sb->cfg) and make it current; takes CFG
 * either way.  Only the running write calls this. */
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
/* The answer to hello (see SupHelloFn). */
void sandbox_on_hello (Sandbox *sb, SupConn *c, int r, char **hello, const NsError *err);
void sandbox_on_state (Sandbox *sb, const char *state, const char *arg);
void sandbox_on_supervisor_lost (Sandbox *sb);

/* Paths of a job's files in the state dir; caller frees. */
char *sandbox_job_path (Sandbox *sb, unsigned id, const char *file);
/* The console socket of job ID (`stdin tty`): <state>.consoles/<name>-<id>.sock,
 * as the supervisor makes it. */
char *sandbox_console_path (Sandbox *sb, unsigned id);

/* Job i (1-based) if it exists and is visible; call with sb->lock held. */
Job *sandbox_job_locked (Sandbox *sb, unsigned id);
