/* nsfs-supervisor: one single-threaded process per sandbox.  It creates
 * the namespaces, owns the sandbox init and every job, and writes job
 * output and exit records into the sandbox's state directory, so nsfsd
 * can come and go without the sandbox noticing. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "error.h"
#include "sandbox_config.h"

typedef enum { SUP_CREATED, SUP_RUNNING, SUP_STOPPED } SupState;

typedef struct {
	unsigned id;
	pid_t pid;
} SupJob;

typedef struct Supervisor {
	char *dir;          /* the sandbox's state directory */
	int dirfd;
	SupState state;
	NsSandboxConfig *cfg;   /* as loaded at the last start */
	pid_t init_pid;
	int init_pidfd;
	int self_pidns_fd;      /* to return to after forking into the sandbox's */
	int self_timens_fd;     /* the same for the time namespace (-1 if none) */
	int host_mntns_fd;      /* the mount namespace we were started in */
	int self_mntns_fd;      /* our own, a slave of the host's */
	int host_mounts_fd;     /* the host's mountinfo, polled for changes */
	GHashTable *jobs;       /* pid -> SupJob*, running jobs only */
	char *stop_reason;
	bool stopping;          /* a `stop` is pending */
	gint64 stop_deadline;   /* monotonic: when SIGKILL follows SIGTERM */
	int timerfd;            /* polls a pending stop */
	/* Pinning: the types bind-mounted under pinned/, and whether each
	 * new start should pin again. */
	unsigned long pinned;
	bool pin_requested;
} Supervisor;

/* spawn.c: create the namespaces and the init from the saved config. */
int sup_start (Supervisor *s, NsError *err);
/* Apply a new hostname to the running sandbox's UTS namespace. */
int sup_set_hostname (Supervisor *s, const char *hostname, NsError *err);

/* rootfs.c: runs inside the new init, before it reports ready. */
int sup_setup_mounts (const NsSandboxConfig *cfg, NsError *err);
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

/* jobs.c */
int sup_exec_job (Supervisor *s, unsigned id, const char *cmdline, char *const *argv, pid_t *pid, NsError *err);
/* The cmd and pid records of a job sup_exec_job started (after the reply:
 * nsfsd has both already, the records are for its successors). */
void sup_record_job_start (Supervisor *s, unsigned id, const char *cmdline, pid_t pid);
/* A child ended: write its record; returns true if it was a job. */
bool sup_job_reaped (Supervisor *s, pid_t pid, int wstatus, unsigned *id, char **status);
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
int sup_restrict_job (const NsSandboxConfig *cfg, bool in_userns, NsError *err);
/* Take the owner's supplementary groups (the caller is root). */
int sup_owner_groups (const NsSandboxConfig *cfg, NsError *err);
#define SUP_MAX_GROUPS 256
size_t sup_owner_group_list (const NsSandboxConfig *cfg, gid_t *groups, size_t max);
/* Whether the owner, with its own credentials, can open PATH as a
 * directory: 0, or EACCES/ENOENT with ERR saying so. */
int sup_check_path_as_owner (const NsSandboxConfig *cfg, const char *path, NsError *err);

/* zygote.c: serve `spawn` requests on SOCK until nsfsd goes (returns 1).
 * Returns 0 in each copy it makes, with the sandbox's DIR and the socket
 * of its FIRST_CLIENT, for the copy to go on as that supervisor; TITLE is
 * the argument area the copy rewrites to name DIR. */
int sup_zygote_serve (Supervisor *s, int sock, char *title, size_t title_len, char **dir, int *first_client);

/* main.c: answer FD's request with ERR (`err CODE MESSAGE`). */
int sup_reply_err (int fd, const NsError *err);
/* main.c: tell every connected nsfsd. */
void sup_broadcast (Supervisor *s, const char *verb, ...) __attribute__ ((sentinel));
