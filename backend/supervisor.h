/* nsfs-supervisor: one single-threaded process per sandbox.  It creates
 * the namespaces, owns the sandbox init and every job, and writes job
 * output and exit records into the sandbox's state directory, so nsfsd
 * can come and go without the sandbox noticing. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "error.h"
#include "cgroup_layout.h"
#include "loop.h"
#include "mounts.h"
#include "sandbox_config.h"

typedef enum { SUP_CREATED, SUP_RUNNING, SUP_STOPPED } SupState;

/* A job whose execve's report is not in yet (jobs.c). */
typedef struct SupExec SupExec;
/* A start whose init has not said ready yet (spawn.c). */
typedef struct SupStart SupStart;

/* A `stdin tty` job's terminal (job_tty.c). */
typedef struct SupTty SupTty;

typedef struct {
	unsigned id;
	pid_t pid;
	SupExec *exec;      /* until its execve's report is in */
	SupTty *tty;        /* `stdin tty`: its terminal's master and console */
	/* `stdin pipe`: a write end of the job's stdin FIFO held until nsfsd
	 * opens one of its own (stdin-open), so the job does not read end of
	 * file before anyone could write; -1 once let go. */
	int stdin_keeper;
} SupJob;

/* The running sandbox's cgroup in each hierarchy (cgroups.c). */
typedef struct {
	char *dir[NS_CG_COUNT];   /* NULL where it has none */
	bool v1[NS_CG_COUNT];
	int procs_fd[NS_CG_COUNT];/* its cgroup.procs; -1 */
	/* v1 hierarchies: its `tasks`, where a single-threaded process moves
	 * itself without the kernel's global migration lock; -1. */
	int tasks_fd[NS_CG_COUNT];
	/* The cgroup2 group's directory, to be born in (CLONE_INTO_CGROUP); -1. */
	int v2_dir_fd;
	/* nsfs's one process that lives in the groups beside the init and
	 * the jobs (0: none): the spawner, so that the jobs it makes are born
	 * there instead of moving in (spawner.h).  The owner does not see
	 * it: pids.max is written one higher while it is there, kill spares
	 * it, and the record's `resident` line tells nsfsd to leave it out of
	 * `stats`. */
	pid_t resident;
} SupCgroups;

typedef struct Supervisor {
	char *dir;          /* the sandbox's state directory */
	int dirfd;
	SupState state;
	NsSandboxConfig *cfg;   /* as loaded at the last start */
	pid_t init_pid;         /* also while a start is in progress */
	int init_pidfd;
	SupStart *starting;     /* a start in progress: the init builds its mounts */
	/* Running, for an exec whose job is not known to have started yet:
	 * nobody was told, and a failed exec ends it again unseen; any other
	 * request announces it (lifecycle.c). */
	bool unannounced;
	int self_pidns_fd;      /* to return to after forking into the sandbox's */
	int self_timens_fd;     /* the same for the time namespace (-1 if none) */
	int host_mntns_fd;      /* the mount namespace we were started in */
	int self_mntns_fd;      /* our own, a slave of the host's */
	int host_mounts_fd;     /* the host's mountinfo, polled for changes */
	int init_program_fd;    /* nsfs-init, opened O_PATH beside us (-1: none) */
	GHashTable *jobs;       /* pid -> SupJob*: running jobs, and those whose exec is under way */
	char *stop_reason;
	bool stopping;          /* a `stop` is pending */
	gint64 stop_deadline;   /* monotonic: when SIGKILL follows SIGTERM */
	/* Pinning: the types bind-mounted under pinned/, and whether each
	 * new start should pin again. */
	unsigned long pinned;
	bool pin_requested;
	char veth_host[16];     /* the host end of the sandbox's veth pair, or "" */
	SupCgroups cg;
} Supervisor;

/* The supervisor, one per process. */
extern Supervisor sup;

/* helpers.c: run FN (ARG) in a child of the loop; its result is its exit
 * code (0 or an errno), which DONE gets, or ETIMEDOUT if it took more
 * than TIMEOUT_S seconds (then it is killed), or EIO if it was killed. */
#define SUP_HELPER_TIMEOUT_SECONDS 60
typedef int (*SupHelperFunc) (gpointer arg);
typedef void (*SupHelperDone) (int code, gpointer data);
int sup_helper_start (SupHelperFunc fn, gpointer arg, guint timeout_s, SupHelperDone done, gpointer data, NsError *err);

/* spawn.c: clone the init from the saved config and set it going; its
 * report comes through the loop, and sup_start_settled is called with
 * the result (never from within sup_start_begin). */
int sup_start_begin (Supervisor *s, NsError *err);
/* The init of a start in progress was reaped. */
void sup_start_init_reaped (Supervisor *s);
/* Apply a new hostname to the running sandbox's UTS namespace, in a
 * helper child: 1 if DONE will be called, 0 if there was nothing to do. */
int sup_set_hostname (Supervisor *s, const char *hostname, SupHelperDone done, gpointer data, NsError *err);

/* lifecycle.c: start, stop, the init's end and destroy. */
void sup_lifecycle_init (const char *dir);
void sup_lifecycle_shutdown (void);
/* The `state` record, from sup's state. */
void sup_write_state_record (void);
/* A start is settled: ERR NULL if the init is ready. */
void sup_start_settled (const NsError *err);
bool sup_start_in_progress (void);
/* A destroy is under way: nothing new may start. */
bool sup_is_destroying (void);
/* Start the sandbox; DONE is called with NULL once it runs (at once if it
 * does already), or with the error.  QUIET: for an exec, which announces
 * it (sup_announce_running) or ends it again (sup_undo_start). */
typedef void (*SupStartDone) (const NsError *err, gpointer data);
void sup_ensure_running (bool quiet, SupStartDone done, gpointer data);
void sup_announce_running (void);
/* The init is reaped silently, unless REAPED: then REAPED (DATA) hears. */
void sup_undo_start (SupState before, char *stop_reason, SupChildFunc reaped, gpointer data);
/* The loop's reaper, for the init, jobs and strays, and what follows. */
void sup_reap (pid_t pid, int wstatus);
void sup_after_reaping (bool reaped);
const char *sup_state_name (SupState st);
char *sup_pinned_text (void);

/* overlay.c: mount the overlay of CFG's rootfs for a start, in a helper;
 * DONE gets the detached mount (which it then owns) or the error. */
typedef void (*SupOverlayDone) (int mount_fd, const NsError *err, gpointer data);
int sup_overlay_mount (Supervisor *s, const NsSandboxConfig *cfg, SupOverlayDone done, gpointer data, NsError *err);

/* job_tty.c: `stdin tty`.  Open a terminal of the sandbox's devpts, of
 * IN's size; hold its master for job ID (its output appended to LOG_FD,
 * its console socket made); resize it; let it go. */
int sup_tty_open (Supervisor *s, const NsStdin *in, int *master, int *slave, NsError *err);
SupTty *sup_tty_attach (Supervisor *s, unsigned id, int master, int log_fd, int input_fd, int input_keeper,
                        NsError *err);
int sup_tty_resize (SupTty *t, unsigned rows, unsigned cols, NsError *err);
void sup_tty_free (SupTty *t);
SupJob *sup_job_by_id (Supervisor *s, unsigned id);

/* cgroups.c: the sandbox's cgroup.  Made (with the limits of CFG) before
 * the init is made; the init and the jobs are born in its cgroup2 group
 * and move into its v1 ones first thing; signalled and removed when the
 * sandbox ends. */
void sup_cgroups_init (SupCgroups *cg);
int sup_cgroups_create (Supervisor *s, const NsSandboxConfig *cfg, NsError *err);
int sup_cgroups_apply_limits (SupCgroups *cg, const NsLimits *l, NsError *err);
/* Whether a child born into a new cgroup2 group (CLONE_INTO_CGROUP) lives
 * here: since 6.14 (and in stable kernels that took the same fix) clone3
 * compares the kill count of the target group at the end with the
 * parent's own group's at the start, and kills the child where they
 * differ.  One child born into a probe group tells, for this process and
 * its copies; sup_cgroups_clone is born in a group only after a yes. */
bool sup_cgroups_probe_births (void);
/* A copy of the caller, as fork() (FLAGS: clone3's namespace flags; PIDFD
 * NULL for none) born in the cgroup2 group where it may be: *BORN_IN_V2
 * says whether it was.  Unless CG is NULL. */
pid_t sup_cgroups_clone (const SupCgroups *cg, unsigned long flags, int *pidfd, bool *born_in_v2);
/* Move the caller, a single-threaded process, into every group it is not
 * in yet (BORN_IN_V2: the cgroup2 one it was born in). */
int sup_cgroups_enter_self (const SupCgroups *cg, bool born_in_v2);
bool sup_cgroups_active (const SupCgroups *cg);
/* SIGNO to every process in the groups but SPARE and the resident (SPARE
 * 0: to every one, the resident too); how many. */
guint sup_cgroups_signal (SupCgroups *cg, int signo, pid_t spare);
/* PID now lives in the groups (0: none does any more): pids.max and the
 * record follow. */
void sup_cgroups_set_resident (Supervisor *s, pid_t pid);
/* Now (destroy: every child reaped), or from the loop once the last
 * processes are reaped (the sandbox ended). */
void sup_cgroups_remove (Supervisor *s);
void sup_cgroups_release (Supervisor *s);
/* The part of nsfs's group named for this nsfsd's state dir. */
char *sup_cgroup_instance (const char *sandbox_dir);

/* sandbox_net.c: `net veth` and `ports`.  Outside, before the init is let
 * go: its veth pair and forwards; undone by sup_net_detach.  Inside, in
 * the init: eth0's address and default route. */
int sup_net_attach (Supervisor *s, const NsSandboxConfig *cfg, pid_t init_pid, NsError *err);
void sup_net_detach (Supervisor *s, const NsSandboxConfig *cfg);
int sup_eth0_up (const NsSandboxConfig *cfg, NsError *err);

/* rootfs.c: runs inside the new init, before it reports ready: the
 * rootfs (or OVERLAY_FD, the overlay made of it, unless -1), the lines of
 * MOUNTS, /proc and /dev. */
int sup_setup_mounts (const NsSandboxConfig *cfg, const NsMountList *mounts, int overlay_fd, NsError *err);
/* mount_lines.c: the bind and tmpfs lines of MOUNTS, in order, inside the
 * root ROOT_FD; mount points are made only on OVERLAY_FD's mount (if not
 * -1) or on a tmpfs of an earlier line. */
int sup_apply_mount_lines (int root_fd, const NsMountList *mounts, int overlay_fd, NsError *err);
int sup_loopback_up (NsError *err);
/* Enter the host's mount namespace for a moment (pins live there). */
int sup_enter_host_mounts (Supervisor *s, NsError *err);
void sup_leave_host_mounts (Supervisor *s);

/* mountns.c: the mount namespace supervisors live in.  Make it (a slave
 * copy of the host's, nsfs mounts detached), or make it again if the
 * host's mount table changed since; then detach nsfs mounts that came in
 * (before every clone of a sandbox). */
int sup_private_mounts (Supervisor *s, NsError *err);
void sup_private_mounts_refresh (Supervisor *s);
void sup_detach_nsfs_mounts (void);

/* jobs.c: start job ID running ARGV, its command line shown as SHOWN.
 * 0 if the child is made (DONE is called once its execve's report is in,
 * with its pid or the error; with the error, the pid of a child that is
 * no job and not reaped yet, or 0), or the error at once. */
typedef void (*SupExecDone) (pid_t pid, const NsError *err, gpointer data);
int sup_exec_job (Supervisor *s, unsigned id, const char *shown, char *const *argv, SupExecDone done, gpointer data,
                  NsError *err);
/* A child ended: write its record; returns true if it was a job. */
bool sup_job_reaped (Supervisor *s, pid_t pid, int wstatus, unsigned *id, char **status);
void sup_job_free (gpointer job);
/* nsfsd opened job ID's stdin: the job may see end of file from now on. */
void sup_job_stdin_opened (Supervisor *s, unsigned id);
void sup_signal_jobs (Supervisor *s, int signo);
void sup_record_orphaned_jobs (Supervisor *s);

/* strays.c: processes jobs left behind, reparented to the init (pid
 * namespace) or to us.  Whether the init has any; signal those that are
 * ours (the init passes SIGTERM to its own, and takes them along when it
 * dies), returning how many there are.  SIGNALLED (or NULL) is the set
 * of pids and process groups signalled before: a stray in it, or in a
 * group in it, is skipped (a process gets SIGTERM once), and those
 * signalled now are added. */
bool sup_init_has_strays (Supervisor *s);
guint sup_signal_strays (Supervisor *s, int signo, GHashTable *signalled);

/* pin.c */
int sup_pin (Supervisor *s, NsError *err);
void sup_unpin (Supervisor *s);

/* privs.c: credentials of the init and of job processes. */
int sup_drop_to_owner (const NsSandboxConfig *cfg, bool in_userns, NsError *err);
/* The same, as USER if it is set (`user`). */
int sup_drop_to_job_user (const NsSandboxConfig *cfg, const NsJobUser *user, bool in_userns, NsError *err);
/* The inside ids the owner's map to (0 where unmapped); its own without a
 * user namespace. */
void sup_owner_inside_ids (const NsSandboxConfig *cfg, bool in_userns, uint32_t *uid, uint32_t *gid);
int sup_restrict_job (const NsSandboxConfig *cfg, const NsJobUser *user, bool in_userns, NsError *err);
/* Take the owner's supplementary groups (the caller is root). */
int sup_owner_groups (const NsSandboxConfig *cfg, NsError *err);
#define SUP_MAX_GROUPS 256
size_t sup_owner_group_list (const NsSandboxConfig *cfg, gid_t *groups, size_t max);
/* Whether the owner, with its own credentials, can open each of the N
 * PATHS (as a directory it can read if WANT_DIR, else at all), in order,
 * in one helper child: DONE gets 0 or the errno of the first open that
 * failed, and that path's index. */
typedef void (*SupPathsDone) (int code, size_t index, gpointer data);
int sup_check_paths_as_owner (const NsSandboxConfig *cfg, char *const *paths, size_t n, bool want_dir,
                              SupPathsDone done, gpointer data, NsError *err);

/* zygote.c: serve `spawn` requests on SOCK until nsfsd goes (returns 1).
 * Returns 0 in each copy it makes, with the sandbox's DIR and the socket
 * of its FIRST_CLIENT, for the copy to go on as that supervisor. */
int sup_zygote_serve (Supervisor *s, int sock, char **dir, int *first_client);

/* clients.c: answer FD's request with ERR (`err CODE MESSAGE`), untagged
 * (the zygote's socket). */
int sup_reply_err (int fd, const NsError *err);
/* Tell every client that said hello. */
void sup_broadcast (const char *verb, ...) __attribute__ ((sentinel));

/* nsfs-init, beside our own executable, opened O_PATH for every init to
 * execute once it is set up; -1 where it is missing (a sanitizer build
 * makes none: the init then runs the same loop in place). */
int sup_init_program_open (void);
