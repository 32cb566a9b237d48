/* Creating a sandbox: clone3 the init into the configured namespaces,
 * write its id maps from outside, let it build its mounts, and hear from
 * the loop when it says ready (crun's lockstep over sync pipes, with the
 * supervisor's side of the last step asynchronous). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
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
#include "init_loop.h"
#include "loop.h"
#include "nstypes.h"
#include "report.h"
#include "title.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* What the init sends back: 0 for ready, or an errno and a message. */

/* A user namespace belongs to the effective ids that created it.  The
 * sandbox's must belong to its owner, so the owner holds capabilities in
 * it from outside (as with its own `unshare -U`): that is what lets the
 * owner open the init's ns links and root.  Everything else about the
 * sandbox stays the supervisor's (root's). */
static pid_t
clone_as_owner (const NsSandboxConfig *cfg, const SupCgroups *cg, unsigned long flags, int *pidfd, bool *born_in_v2)
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
	/* Born in the cgroup2 group needs the caller to have the right to move
	 * a process there, which the owner's ids have not: a non-root
	 * owner's init moves in (enter_self), waiting for the kernel's lock. */
	pid = sup_cgroups_clone (switch_ids ? NULL : cg, flags, pidfd, born_in_v2);
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
	sup_report_write (fd, code, msg);
	_exit (code ? 1 : 0);
}

int
sup_init_program_open (void)
{
	g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
	g_autofree char *dir = self ? g_path_get_dirname (self) : NULL;
	g_autofree char *path = dir ? g_build_filename (dir, "nsfs-init", NULL) : NULL;

	return path ? open (path, O_PATH | O_CLOEXEC) : -1;
}

/* Become nsfs-init (init_program.c): the init's copy of the supervisor's
 * memory (about 100 KiB of its own pages) goes, and with it all the owner
 * could read of the supervisor's by ptracing its init.  Returns only if
 * it cannot; the caller then runs the same loop in place. */
static void
exec_init_program (int program_fd)
{
	char title[sizeof "nsfs-init " + NAME_MAX];
	char *argv[] = { title, NULL };
	char *envp[] = { NULL };

	if (program_fd < 0)
		return;
	sup_title_format ("nsfs-init", title, sizeof title);
	syscall (SYS_execveat, program_fd, "", argv, envp, AT_EMPTY_PATH);
}

/* A start in progress: its overlay is made by a helper (if it has one),
 * then the init is cloned and set going, and builds its mounts (of a
 * rootfs the owner names, maybe on a file system that never answers);
 * its report comes through the loop. */
struct SupStart {
	NsSandboxConfig *cfg;   /* becomes the supervisor's once the init is ready */
	NsMountList mounts;     /* cfg->mounts, parsed */
	int overlay_fd;         /* the overlay to become the root, or -1 */
	/* The init makes its cgroup namespace itself, once it is in the
	 * sandbox's cgroup, so the namespace is rooted there. */
	bool late_cgroupns;
	bool born_in_v2;        /* the init was born in the cgroup2 group */
	int report_fd;          /* the init's report pipe, non-blocking */
	guint watch;
};

static int
compare_fds (const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

/* The init is a copy of the supervisor that never execs: drop every
 * descriptor it inherited but the N in KEEP (-1 entries are skipped). */
static void
close_inherited_fds (int *keep, size_t n)
{
	unsigned next = 3;

	qsort (keep, n, sizeof *keep, compare_fds);
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int) next)
			continue;
		if ((unsigned) keep[i] > next)
			close_range (next, (unsigned) keep[i] - 1, 0);
		next = (unsigned) keep[i] + 1;
	}
	close_range (next, ~0U, 0);
}

static void __attribute__ ((noreturn))
init_child (const SupStart *st, const SupCgroups *cg, int null_fd, int go_fd, int report_fd, int program_fd)
{
	const NsSandboxConfig *cfg = st->cfg;
	int keep[] = { go_fd, report_fd, st->overlay_fd, program_fd };
	NsError err = { 0 };
	g_autofree char *hostname = NULL;
	char go;

	/* In the sandbox's cgroup before anything else (cgroups.c: a thread
	 * moving itself into a v1 group takes no global lock). */
	if (sup_cgroups_enter_self (cg, st->born_in_v2) < 0)
		report_and_exit (report_fd, errno, "enter the sandbox's cgroup");
	/* The owner may ptrace its init and use its descriptors: it gets none
	 * of the supervisor's, supervisor.log (stderr) included. */
	if (dup2 (null_fd, 0) < 0 || dup2 (null_fd, 1) < 0 || dup2 (null_fd, 2) < 0)
		_exit (1);
	close_inherited_fds (keep, G_N_ELEMENTS (keep));
	sup_title_set ("nsfs-init");
	prctl (PR_SET_PDEATHSIG, SIGKILL);
	/* getppid() is 0 across a pid namespace; a supervisor that died
	 * before PDEATHSIG was armed shows as EOF on the go pipe instead. */
	if (read (go_fd, &go, 1) != 1)
		_exit (1);
	close (go_fd);
	if (st->late_cgroupns && unshare (CLONE_NEWCGROUP) < 0)
		report_and_exit (report_fd, errno, "a cgroup namespace rooted in the sandbox's cgroup");

	/* Become the owner (the inside ids its ids map to) before touching
	 * the rootfs, so the owner's permissions decide what the sandbox can
	 * reach, and stay dumpable so the owner may open the init's ns links
	 * and its root, as for a process it started itself. */
	if (sup_drop_to_owner (cfg, cfg->ns & CLONE_NEWUSER, &err) < 0)
		report_and_exit (report_fd, err.code, err.msg);
	prctl (PR_SET_DUMPABLE, 1);
	if (sup_setup_mounts (cfg, &st->mounts, st->overlay_fd, &err) < 0)
		report_and_exit (report_fd, err.code, err.msg);
	if (cfg->ns & CLONE_NEWUTS) {
		hostname = ns_config_hostname (cfg);
		if (sethostname (hostname, strlen (hostname)) < 0)
			report_and_exit (report_fd, errno, "sethostname failed");
	}
	if ((cfg->ns & CLONE_NEWNET) && sup_loopback_up (&err) < 0)
		report_and_exit (report_fd, err.code, err.msg);
	if (sup_eth0_up (cfg, &err) < 0)
		report_and_exit (report_fd, err.code, err.msg);
	if (chdir ("/") < 0)
		report_and_exit (report_fd, errno, "chdir / failed");

	{
		SupReport ok = { 0 };
		(void) !write (report_fd, &ok, sizeof ok);
		close (report_fd);
	}
	exec_init_program (program_fd);
	sup_init_loop (cfg->ns & CLONE_NEWPID);
}

static int
check_config_startable (const NsSandboxConfig *cfg, const NsMountList *mounts, NsError *err)
{
	if (cfg->rootfs[0] && !(cfg->ns & CLONE_NEWNS))
		return ns_error (err, EINVAL, "start: rootfs needs the mnt namespace (add mnt to ns)");
	if (mounts->n && !(cfg->ns & CLONE_NEWNS))
		return ns_error (err, EINVAL, "start: mounts need the mnt namespace (add mnt to ns)");
	if (ns_mounts_has_overlay (mounts) && !cfg->rootfs[0])
		return ns_error (err, EINVAL, "start: overlay needs a rootfs (its read-only lower layer)");
	if (cfg->net.mode == NS_NET_VETH && !(cfg->ns & CLONE_NEWNET))
		return ns_error (err, EINVAL, "start: veth needs the net namespace (add net to ns)");
	if (cfg->net.mode == NS_NET_VETH && (!cfg->net_addr || !cfg->net_bridge))
		return ns_error (err, EINVAL, "start: veth has no address (write net again)");
	if (cfg->ports[0] && cfg->net.mode != NS_NET_VETH)
		return ns_error (err, EINVAL, "start: ports need veth (write veth to net)");
	if (cfg->owner_uid != 0 && !(cfg->ns & CLONE_NEWUSER))
		return ns_error (err, EPERM, "start: a non-root owner's sandbox needs the user namespace");
	return 0;
}

static void
start_free (SupStart *st)
{
	sup_loop_remove (&st->watch);
	ns_close_fdp (&st->report_fd);
	ns_close_fdp (&st->overlay_fd);
	ns_mounts_clear (&st->mounts);
	ns_config_free (st->cfg);
	g_free (st);
}

/* The start is over: the init is ready (REP says 0), or it failed, and is
 * killed and thrown away (reaped silently, unless REAPED already). */
static void
start_settle (Supervisor *s, const SupReport *rep, bool reaped)
{
	SupStart *st = s->starting;
	NsError err = { 0 };

	s->starting = NULL;
	if (rep && rep->code == 0) {
		ns_config_free (s->cfg);
		s->cfg = g_steal_pointer (&st->cfg);
		s->state = SUP_RUNNING;
		g_clear_pointer (&s->stop_reason, g_free);
		start_free (st);
		sup_start_settled (NULL);
		return;
	}
	if (rep)
		ns_error (&err, rep->code, "start: %s", rep->msg);
	else
		ns_error (&err, ECHILD, "start: the init died during setup");
	sup_net_detach (s, st->cfg);
	if (!reaped && s->init_pid > 0) {
		kill (s->init_pid, SIGKILL);
		sup_loop_watch_child (s->init_pid, NULL, NULL);
	}
	sup_cgroups_release (s);
	ns_close_fdp (&s->init_pidfd);
	s->init_pid = 0;
	start_free (st);
	sup_start_settled (&err);
}

static void
on_init_report (int fd, GIOCondition cond, gpointer data)
{
	Supervisor *s = data;
	SupReport rep;
	int r = sup_report_read (fd, &rep);

	if (r < 0)
		return;
	start_settle (s, r ? &rep : NULL, false);
}

void
sup_start_init_reaped (Supervisor *s)
{
	SupReport rep = { 0 };

	/* Whatever it wrote before it died is in the pipe by now; a ready
	 * report of an init that is gone is no start either. */
	if (sup_report_read (s->starting->report_fd, &rep) != 1 || rep.code == 0)
		rep = (SupReport) { .code = ECHILD, .msg = "the init died during setup" };
	start_settle (s, &rep, true);
}

/* Create the init for the start ST and set it going; its report is read
 * from the loop (on_init_report), so a rootfs that hangs the init hangs
 * nothing else. */
static int
start_init (Supervisor *s, SupStart *st, NsError *err)
{
	const NsSandboxConfig *cfg = st->cfg;
	int go[2] = { -1, -1 }, rep[2] = { -1, -1 };
	_cleanup_close_ int null_fd = -1;
	int pidfd = -1, r;
	pid_t pid;

	if (cfg->ns & CLONE_NEWNS)
		sup_detach_nsfs_mounts ();
	/* The init's stdio: never supervisor.log, a root-owned file the owner
	 * could write to through the init it may ptrace. */
	null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || pipe2 (go, O_CLOEXEC) < 0 || pipe2 (rep, O_CLOEXEC) < 0) {
		r = ns_error (err, errno, "start: %s", strerror (errno));
		goto fail;
	}
	/* Without a mount namespace of its own the sandbox shares the host's,
	 * not the supervisor's private copy. */
	if (!(cfg->ns & CLONE_NEWNS) && (r = sup_enter_host_mounts (s, err)) < 0)
		goto fail;
	if ((r = sup_cgroups_create (s, cfg, err)) < 0)
		goto fail;
	st->late_cgroupns = (cfg->ns & CLONE_NEWCGROUP) && sup_cgroups_active (&s->cg);
	pid = clone_as_owner (cfg, &s->cg, st->late_cgroupns ? cfg->ns & ~(unsigned long) CLONE_NEWCGROUP : cfg->ns, &pidfd,
	                      &st->born_in_v2);
	if (pid != 0 && !(cfg->ns & CLONE_NEWNS))
		sup_leave_host_mounts (s);
	if (pid < 0) {
		r = ns_error (err, errno, "start: clone3 into %s: %s", "namespaces", strerror (errno));
		goto fail;
	}
	if (pid == 0) {
		close (go[1]);
		close (rep[0]);
		init_child (st, &s->cg, null_fd, go[0], rep[1], s->init_program_fd);
	}
	ns_close_fdp (&go[0]);
	ns_close_fdp (&rep[1]);
	/* The init has its copy; ours would keep the overlay alive. */
	ns_close_fdp (&st->overlay_fd);

	if (cfg->ns & CLONE_NEWUSER) {
		if ((r = write_id_maps (cfg, pid, err)) < 0)
			goto kill_init;
	}
	if ((r = sup_net_attach (s, cfg, pid, err)) < 0)
		goto kill_init;
	if (write (go[1], "g", 1) != 1) {
		r = ns_error (err, errno, "start: the init died before setup");
		goto kill_init;
	}
	ns_close_fdp (&go[1]);
	if (fcntl (rep[0], F_SETFL, O_NONBLOCK) < 0) {
		r = ns_error (err, errno, "start: report pipe: %s", strerror (errno));
		goto kill_init;
	}
	st->report_fd = rep[0];
	st->watch = sup_loop_add_fd (rep[0], G_IO_IN | G_IO_HUP | G_IO_ERR, on_init_report, s);
	s->starting = st;
	s->init_pid = pid;
	s->init_pidfd = pidfd;
	return 0;

kill_init:
	sup_net_detach (s, cfg);
	kill (pid, SIGKILL);
	sup_loop_watch_child (pid, NULL, NULL);
	close (pidfd);
fail:
	sup_cgroups_release (s);
	for (int i = 0; i < 2; i++) {
		ns_close_fdp (&go[i]);
		ns_close_fdp (&rep[i]);
	}
	return r;
}

/* The overlay of a start is made (or not): on to the init. */
static void
overlay_ready (int mount_fd, const NsError *why, gpointer data)
{
	Supervisor *s = data;
	SupStart *st = s->starting;
	NsError err = { 0 };

	if (!why && sup_is_destroying ()) {
		close (mount_fd);
		why = &err;
		ns_error (&err, ECANCELED, "the sandbox is being removed");
	}
	if (!why) {
		st->overlay_fd = mount_fd;
		if (start_init (s, st, &err) == 0)
			return;
		why = &err;
	}
	{
		SupReport rep = { .code = why->code };
		g_strlcpy (rep.msg, why->msg, sizeof rep.msg);
		start_settle (s, &rep, true);
	}
}

int
sup_start_begin (Supervisor *s, NsError *err)
{
	g_autofree char *cfg_path = g_build_filename (s->dir, "config", NULL);
	NsSandboxConfig *cfg = NULL;
	SupStart *st;
	int r;

	if ((r = ns_config_load (cfg_path, &cfg, err)) < 0)
		return r;
	st = g_new0 (SupStart, 1);
	st->cfg = cfg;
	st->overlay_fd = st->report_fd = -1;
	/* The configuration holds what the file reads back: lines numbered
	 * as `cat mounts` shows them. */
	if ((r = ns_mounts_parse (cfg->mounts, strlen (cfg->mounts), &st->mounts, err)) < 0 ||
	    (r = check_config_startable (cfg, &st->mounts, err)) < 0) {
		start_free (st);
		return r;
	}
	if (ns_mounts_has_overlay (&st->mounts)) {
		if ((r = sup_overlay_mount (s, cfg, overlay_ready, s, err)) < 0) {
			start_free (st);
			return r;
		}
		s->starting = st;
		return 0;
	}
	if ((r = start_init (s, st, err)) < 0)
		start_free (st);
	return r;
}

typedef struct {
	int pidfd;
	unsigned long flags;
	const char *hostname;
} HostnameCall;

/* In a helper child: join the UTS (and user) namespace and set it. */
static int
hostname_child (gpointer data)
{
	HostnameCall *call = data;

	if (setns (call->pidfd, (int) call->flags) < 0)
		return errno;
	if (sethostname (call->hostname, strlen (call->hostname)) < 0)
		return errno;
	return 0;
}

int
sup_set_hostname (Supervisor *s, const char *hostname, SupHelperDone done, gpointer data, NsError *err)
{
	HostnameCall call = { s->init_pidfd, CLONE_NEWUTS | (s->cfg->ns & CLONE_NEWUSER), hostname };

	if (s->state != SUP_RUNNING || !(s->cfg->ns & CLONE_NEWUTS))
		return 0;
	/* A child, since the supervisor cannot join a user namespace and come
	 * back; a helper of the loop, since joining one is nothing a request
	 * should wait for with the supervisor standing still. */
	if (sup_helper_start (hostname_child, &call, SUP_HELPER_TIMEOUT_SECONDS, done, data, err) < 0)
		return -err->code;
	return 1;
}
