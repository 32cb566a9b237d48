/* Creating a sandbox: clone3 the init into the configured namespaces,
 * write its id maps from outside, let it build its mounts, and wait for
 * it to say ready (crun's lockstep over sync pipes). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "nstypes.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* What the init sends back: 0 for ready, or an errno and a message. */
typedef struct {
	int code;
	char msg[NS_ERROR_MSG_MAX];
} InitReport;

static pid_t
clone3_into (unsigned long flags, int *pidfd)
{
	struct clone_args args = {
		.flags = flags | CLONE_PIDFD,
		.pidfd = (uint64_t) (uintptr_t) pidfd,
		.exit_signal = SIGCHLD,
	};
	return (pid_t) syscall (SYS_clone3, &args, sizeof args);
}

/* A user namespace belongs to the effective ids that created it.  The
 * sandbox's must belong to its owner, so the owner holds capabilities in
 * it from outside (as with its own `unshare -U`): that is what lets the
 * owner open the init's ns links and root.  Everything else about the
 * sandbox stays the supervisor's (root's). */
static pid_t
clone_as_owner (const NsSandboxConfig *cfg, int *pidfd)
{
	bool switch_ids = cfg->owner_uid != 0 && (cfg->ns & CLONE_NEWUSER) && geteuid () == 0;
	pid_t pid;
	int saved;

	if (switch_ids) {
		NsError err;
		/* The init inherits the owner's groups, so the rootfs is
		 * reached with exactly the owner's permissions. */
		if (sup_owner_groups (cfg, &err) < 0)
			return -1;
		if (setresgid (-1, cfg->owner_gid, -1) < 0)
			return -1;
		if (setresuid (-1, cfg->owner_uid, -1) < 0) {
			saved = errno;
			setresgid (-1, 0, -1);
			errno = saved;
			return -1;
		}
	}
	pid = clone3_into (cfg->ns, pidfd);
	if (pid != 0 && switch_ids) {
		saved = errno;
		if (setresuid (-1, 0, -1) < 0 || setresgid (-1, 0, -1) < 0 || setgroups (0, NULL) < 0)
			g_error ("cannot return to root after creating the sandbox: %s", strerror (errno));
		errno = saved;
	}
	return pid;
}

static int
write_proc_file (pid_t pid, const char *file, const char *text, NsError *err)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	size_t len = strlen (text);

	snprintf (path, sizeof path, "/proc/%d/%s", pid, file);
	fd = open (path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return ns_error (err, errno, "open %s: %s", path, strerror (errno));
	/* id maps must arrive in one write(2). */
	if (write (fd, text, len) != (ssize_t) len)
		return ns_error (err, errno, "%s: the kernel refused the map: %s", file, strerror (errno));
	return 0;
}

static bool
gid_map_delegates (const NsSandboxConfig *cfg)
{
	NsIdMap scratch;
	const NsIdMap *map = ns_config_gid_map (cfg, &scratch);

	for (size_t i = 0; i < map->n; i++)
		if (map->extent[i].outside != cfg->owner_gid || map->extent[i].count != 1)
			return true;
	return false;
}

static int
write_id_maps (const NsSandboxConfig *cfg, pid_t pid, NsError *err)
{
	NsIdMap scratch;
	g_autofree char *uid_text = ns_idmap_kernel_text (ns_config_uid_map (cfg, &scratch));
	g_autofree char *gid_text = ns_idmap_kernel_text (ns_config_gid_map (cfg, &scratch));
	int r;

	/* As newgidmap does: a non-root owner whose gid map holds nothing
	 * but its own gid gets `setgroups deny`, so the sandbox cannot drop
	 * a group the owner is restricted by; delegated ranges allow it. */
	if (cfg->owner_uid != 0 && !gid_map_delegates (cfg)) {
		if ((r = write_proc_file (pid, "setgroups", "deny", err)) < 0)
			return r;
	}
	if ((r = write_proc_file (pid, "gid_map", gid_text, err)) < 0)
		return r;
	return write_proc_file (pid, "uid_map", uid_text, err);
}

static void
report_and_exit (int fd, int code, const char *msg)
{
	InitReport rep = { .code = code };
	g_strlcpy (rep.msg, msg, sizeof rep.msg);
	(void) !write (fd, &rep, sizeof rep);
	_exit (code ? 1 : 0);
}

static volatile sig_atomic_t init_stop_requested;

static void
init_on_sigterm (int sig)
{
	init_stop_requested = 1;
}

static void
init_on_sigchld (int sig)
{
}

/* The sandbox init: holds the namespaces, reaps orphans as PID 1, and on
 * SIGTERM passes it to everything in its pid namespace.  It never execs,
 * so it costs only the pages it dirties. */
static void __attribute__ ((noreturn))
init_main (bool owns_pidns)
{
	struct sigaction term = { .sa_handler = init_on_sigterm };
	struct sigaction chld = { .sa_handler = init_on_sigchld };
	sigset_t blocked, waiting;

	sigfillset (&blocked);
	sigprocmask (SIG_SETMASK, &blocked, NULL);
	sigaction (SIGTERM, &term, NULL);
	sigaction (SIGCHLD, &chld, NULL);
	sigfillset (&waiting);
	sigdelset (&waiting, SIGTERM);
	sigdelset (&waiting, SIGCHLD);
	for (;;) {
		while (waitpid (-1, NULL, WNOHANG) > 0)
			;
		if (init_stop_requested && owns_pidns) {
			init_stop_requested = 0;
			kill (-1, SIGTERM);
		}
		sigsuspend (&waiting);
	}
}

/* The init is a copy of the supervisor that never execs: drop every
 * descriptor it inherited but the two sync pipes. */
static void
close_inherited_fds (int keep_a, int keep_b)
{
	int lo = keep_a < keep_b ? keep_a : keep_b, hi = keep_a < keep_b ? keep_b : keep_a;

	if (lo > 3)
		close_range (3, (unsigned) lo - 1, 0);
	if (hi > lo + 1)
		close_range ((unsigned) lo + 1, (unsigned) hi - 1, 0);
	close_range ((unsigned) hi + 1, ~0U, 0);
}

static void __attribute__ ((noreturn))
init_child (const NsSandboxConfig *cfg, int go_fd, int report_fd)
{
	NsError err = { 0 };
	g_autofree char *hostname = NULL;
	char go;

	close_inherited_fds (go_fd, report_fd);
	prctl (PR_SET_PDEATHSIG, SIGKILL);
	/* getppid() is 0 across a pid namespace; a supervisor that died
	 * before PDEATHSIG was armed shows as EOF on the go pipe instead. */
	if (read (go_fd, &go, 1) != 1)
		_exit (1);
	close (go_fd);

	/* Become the owner (the inside ids its ids map to) before touching
	 * the rootfs, so the owner's permissions decide what the sandbox can
	 * reach, and stay dumpable so the owner may open the init's ns links
	 * and its root, as for a process it started itself. */
	if (sup_drop_to_owner (cfg, cfg->ns & CLONE_NEWUSER, &err) < 0)
		report_and_exit (report_fd, err.code, err.msg);
	prctl (PR_SET_DUMPABLE, 1);
	if (sup_setup_mounts (cfg, &err) < 0)
		report_and_exit (report_fd, err.code, err.msg);
	if (cfg->ns & CLONE_NEWUTS) {
		hostname = ns_config_hostname (cfg);
		if (sethostname (hostname, strlen (hostname)) < 0)
			report_and_exit (report_fd, errno, "sethostname failed");
	}
	if ((cfg->ns & CLONE_NEWNET) && sup_loopback_up (&err) < 0)
		report_and_exit (report_fd, err.code, err.msg);
	if (chdir ("/") < 0)
		report_and_exit (report_fd, errno, "chdir / failed");

	{
		InitReport ok = { 0 };
		(void) !write (report_fd, &ok, sizeof ok);
		close (report_fd);
	}
	init_main (cfg->ns & CLONE_NEWPID);
}

static int
check_config_startable (const NsSandboxConfig *cfg, NsError *err)
{
	if (cfg->rootfs[0] && !(cfg->ns & CLONE_NEWNS))
		return ns_error (err, EINVAL, "start: rootfs needs the mnt namespace (add mnt to ns)");
	if (cfg->owner_uid != 0 && !(cfg->ns & CLONE_NEWUSER))
		return ns_error (err, EPERM, "start: a non-root owner's sandbox needs the user namespace");
	return 0;
}

/* Create the init for CFG (which this takes) and make it the
 * supervisor's; the caller decides what state that means. */
static int
start_init (Supervisor *s, NsSandboxConfig *cfg, NsError *err)
{
	int go[2] = { -1, -1 }, rep[2] = { -1, -1 };
	int pidfd = -1, r;
	InitReport report;
	ssize_t n;
	pid_t pid;

	if ((r = check_config_startable (cfg, err)) < 0)
		goto fail;
	if (cfg->ns & CLONE_NEWNS)
		sup_detach_nsfs_mounts ();
	if (pipe2 (go, O_CLOEXEC) < 0 || pipe2 (rep, O_CLOEXEC) < 0) {
		r = ns_error (err, errno, "start: pipe: %s", strerror (errno));
		goto fail;
	}
	/* Without a mount namespace of its own the sandbox shares the host's,
	 * not the supervisor's private copy. */
	if (!(cfg->ns & CLONE_NEWNS) && (r = sup_enter_host_mounts (s, err)) < 0)
		goto fail;
	pid = clone_as_owner (cfg, &pidfd);
	if (pid != 0 && !(cfg->ns & CLONE_NEWNS))
		sup_leave_host_mounts (s);
	if (pid < 0) {
		r = ns_error (err, errno, "start: clone3 into %s: %s", "namespaces", strerror (errno));
		goto fail;
	}
	if (pid == 0) {
		close (go[1]);
		close (rep[0]);
		init_child (cfg, go[0], rep[1]);
	}
	close (go[0]);
	go[0] = -1;
	close (rep[1]);
	rep[1] = -1;

	if (cfg->ns & CLONE_NEWUSER) {
		if ((r = write_id_maps (cfg, pid, err)) < 0)
			goto kill_init;
	}
	if (write (go[1], "g", 1) != 1) {
		r = ns_error (err, errno, "start: the init died before setup");
		goto kill_init;
	}
	n = read (rep[0], &report, sizeof report);
	if (n != (ssize_t) sizeof report) {
		r = ns_error (err, ECHILD, "start: the init died during setup");
		goto kill_init;
	}
	if (report.code) {
		report.msg[sizeof report.msg - 1] = '\0';
		r = ns_error (err, report.code, "start: %s", report.msg);
		goto kill_init;
	}
	close (go[1]);
	close (rep[0]);

	ns_config_free (s->cfg);
	s->cfg = cfg;
	s->init_pid = pid;
	s->init_pidfd = pidfd;
	return 0;

kill_init:
	kill (pid, SIGKILL);
	waitpid (pid, NULL, 0);
	close (pidfd);
fail:
	for (int i = 0; i < 2; i++) {
		ns_close_fdp (&go[i]);
		ns_close_fdp (&rep[i]);
	}
	ns_config_free (cfg);
	return r;
}

int
sup_start (Supervisor *s, NsError *err)
{
	g_autofree char *cfg_path = g_build_filename (s->dir, "config", NULL);
	NsSandboxConfig *cfg = NULL;
	int r;

	if ((r = ns_config_load (cfg_path, &cfg, err)) < 0)
		return r;
	if ((r = start_init (s, cfg, err)) < 0)
		return r;
	s->state = SUP_RUNNING;
	g_clear_pointer (&s->stop_reason, g_free);
	return 0;
}

int
sup_set_hostname (Supervisor *s, const char *hostname, NsError *err)
{
	int status;
	pid_t pid;

	if (s->state != SUP_RUNNING || !(s->cfg->ns & CLONE_NEWUTS))
		return 0;
	pid = fork ();
	if (pid < 0)
		return ns_error (err, errno, "hostname: fork: %s", strerror (errno));
	if (pid == 0) {
		unsigned long flags = CLONE_NEWUTS | (s->cfg->ns & CLONE_NEWUSER);
		if (setns (s->init_pidfd, (int) flags) < 0)
			_exit (errno);
		if (sethostname (hostname, strlen (hostname)) < 0)
			_exit (errno);
		_exit (0);
	}
	/* This child is not a job; take it before the SIGCHLD loop sees it. */
	while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED (status) || WEXITSTATUS (status))
		return ns_error (err, WIFEXITED (status) ? WEXITSTATUS (status) : EIO,
		                 "hostname: cannot apply it to the running sandbox");
	return 0;
}
