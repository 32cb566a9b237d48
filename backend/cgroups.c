/* The sandbox's cgroup (INTERFACE §8): one group per running sandbox in
 * each hierarchy the host has for memory, pids, cpu and cpuacct, plus the
 * unified one, under <the supervisor's own group>/nsfs/<instance>/<name>.
 * The init and each job are born in the cgroup2 group and move into the
 * v1 ones before they do anything else; the supervisor stays outside.
 *
 * Moving a process between cgroups (a write to cgroup.procs) takes the
 * kernel's global cgroup_threadgroup_rwsem for writing, which waits for
 * an RCU grace period when no migration came within the last one: 5-15
 * ms on a rested machine, every time (docs/performance.md).  Two ways
 * around it, both without that lock: a child born in a group
 * (clone3(CLONE_INTO_CGROUP), cgroup2 only), and a single thread moving
 * itself (pid 0 written to a v1 group's `tasks`).
 *
 * The limits are written in each hierarchy's own terms (the v1
 * translation is common/resource_limits.c's table); stop, kill and
 * destroy reach every process listed in the groups; the groups go when
 * the sandbox's last process has.  Where no group can be made, the
 * sandbox runs without one (nsfsd refuses limits then: EOPNOTSUPP). */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cgroup_layout.h"
#include "cleanup.h"
#include "loop.h"
#include "names.h"

/* Groups of an ended sandbox whose last processes are not reaped yet:
 * the loop reaps them between tries. */
typedef struct {
	SupCgroups cg;
	guint timer;
	guint tries;
} Leftover;

static Leftover *leftover;

static void leftover_free (void);

static void
close_fds (SupCgroups *cg)
{
	for (int h = 0; h < NS_CG_COUNT; h++) {
		ns_close_fdp (&cg->procs_fd[h]);
		ns_close_fdp (&cg->tasks_fd[h]);
	}
	ns_close_fdp (&cg->v2_dir_fd);
}

static bool
already_listed (const SupCgroups *cg, NsCgroupHier h)
{
	for (int i = 0; i < (int) h; i++)
		if (cg->dir[i] && strcmp (cg->dir[i], cg->dir[h]) == 0)
			return true;
	return false;
}

/* The layout as the supervisor sees it (its mount namespace has the
 * host's cgroup mounts). */
static void
read_layout (NsCgroupLayout *layout)
{
	g_autofree char *mountinfo = NULL, *self = NULL;

	g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, NULL);
	g_file_get_contents ("/proc/self/cgroup", &self, NULL, NULL);
	ns_cgroup_layout_parse (mountinfo ? mountinfo : "", self ? self : "", layout);
}

char *
sup_cgroup_instance (const char *sandbox_dir)
{
	/* The state dir names the nsfsd. */
	g_autofree char *state = ns_state_dir_of (sandbox_dir);

	return g_strdup_printf ("%08x", g_str_hash (state));
}

static int
write_file_at (const char *dir, const char *file, const char *value)
{
	g_autofree char *path = g_build_filename (dir, file, NULL);
	_cleanup_close_ int fd = open (path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen (value);

	if (fd < 0)
		return -errno;
	if (write (fd, value, len) != (ssize_t) len)
		return -errno;
	return 0;
}

/* L as the kernel is to have it. */
static int
write_limits (SupCgroups *cg, const NsLimits *l, NsError *err)
{
	static const struct {
		NsLimitKind kind;
		NsCgroupHier hier;
		const char *name;
	} limits[] = {
		{ NS_LIMIT_MEMORY, NS_CG_MEMORY, "memory.max" },
		{ NS_LIMIT_PIDS, NS_CG_PIDS, "pids.max" },
		{ NS_LIMIT_CPU, NS_CG_CPU, "cpu.max" },
	};

	/* v1 keeps memory.limit_in_bytes at most memory.memsw.limit_in_bytes
	 * (with swap accounting): lift the latter first, set it last. */
	if (cg->dir[NS_CG_MEMORY] && cg->v1[NS_CG_MEMORY])
		write_file_at (cg->dir[NS_CG_MEMORY], "memory.memsw.limit_in_bytes", "-1");
	for (size_t i = 0; i < G_N_ELEMENTS (limits); i++) {
		const char *dir = cg->dir[limits[i].hier];
		NsCgroupWrite w[2];
		size_t n;
		int r = 0;

		if (!dir) {
			/* No such controller here: "max" is what the sandbox has
			 * anyway; anything else cannot be had. */
			if (!ns_limit_is_unlimited (l, limits[i].kind))
				return ns_error (err, EOPNOTSUPP, "%s: no cgroup controller for it here", limits[i].name);
			continue;
		}
		n = ns_limit_writes (l, limits[i].kind, cg->v1[limits[i].hier], w);
		for (size_t k = 0; k < n; k++) {
			if (r == 0 && (r = write_file_at (dir, w[k].file, w[k].value)) == -ENOENT && ns_limit_is_unlimited (l, limits[i].kind))
				r = 0;  /* a controller not enabled here: nothing to lift */
			if (r < 0 && !err->code)
				ns_error (err, r == -ENOENT ? EOPNOTSUPP : -r, "%s: cannot write %s %s: %s", limits[i].name, w[k].file,
				          w[k].value, strerror (-r));
			g_free (w[k].value);
		}
		if (r < 0)
			return -err->code;
	}
	/* A limit on memory means memory, not swap: a job over it is killed
	 * rather than swapped out (the files exist only with swap
	 * accounting). */
	if (cg->dir[NS_CG_MEMORY]) {
		if (cg->v1[NS_CG_MEMORY]) {
			g_autofree char *v = l->memory_max == NS_LIMIT_MAX ? g_strdup ("-1")
			                                                    : g_strdup_printf ("%" G_GUINT64_FORMAT, l->memory_max);
			write_file_at (cg->dir[NS_CG_MEMORY], "memory.memsw.limit_in_bytes", v);
		} else {
			write_file_at (cg->dir[NS_CG_MEMORY], "memory.swap.max", l->memory_max == NS_LIMIT_MAX ? "max" : "0");
		}
	}
	return 0;
}

int
sup_cgroups_apply_limits (SupCgroups *cg, const NsLimits *l, NsError *err)
{
	NsLimits kernel = *l;

	/* The resident takes a pid of the group that the owner's are not to
	 * lose. */
	if (cg->resident > 0 && kernel.pids_max != NS_LIMIT_MAX)
		kernel.pids_max++;
	return write_limits (cg, &kernel, err);
}

/* The record nsfsd reads `stats` from: "HIER 1|2 DIR" lines, and while
 * the spawner lives in the groups, "resident 0 PID". */
static void
write_record (Supervisor *s)
{
	GString *t = g_string_new (NULL);

	for (int h = 0; h < NS_CG_COUNT; h++)
		if (s->cg.dir[h])
			g_string_append_printf (t, "%s %d %s\n", ns_cgroup_hier_name ((NsCgroupHier) h), s->cg.v1[h] ? 1 : 2,
			                        s->cg.dir[h]);
	if (s->cg.resident > 0)
		g_string_append_printf (t, "resident 0 %d\n", (int) s->cg.resident);
	ns_write_atomic (s->dirfd, "cgroups", t->str, false);
	g_string_free (t, TRUE);
}

void
sup_cgroups_set_resident (Supervisor *s, pid_t pid)
{
	SupCgroups *cg = &s->cg;
	NsError err = { 0 };

	if (!sup_cgroups_active (cg) || cg->resident == pid)
		return;
	cg->resident = pid;
	/* The running sandbox's limits: its configuration follows every
	 * limit applied (requests.c, handle_limits). */
	if (s->cfg && s->cfg->limits.pids_max != NS_LIMIT_MAX && sup_cgroups_apply_limits (cg, &s->cfg->limits, &err) < 0)
		g_warning ("pids.max with the spawner %s the groups: %s", pid ? "in" : "out of", err.msg);
	write_record (s);
}

/* DIR and what it lacks of its parents: 1 where DIR itself was made, 0
 * where it was there (a group a run before could not remove), or -errno. */
static int
make_group (const char *dir)
{
	g_autofree char *parent = g_path_get_dirname (dir);

	if (g_mkdir_with_parents (parent, 0755) < 0)
		return -errno;
	if (mkdir (dir, 0755) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

/* What processes enter H's group through (sup_cgroups_enter_self,
 * sup_cgroups_clone); MADE: the group is new. */
static void
open_group (SupCgroups *cg, NsCgroupHier h, bool made)
{
	g_autofree char *procs = g_build_filename (cg->dir[h], "cgroup.procs", NULL);

	cg->procs_fd[h] = open (procs, O_WRONLY | O_CLOEXEC);
	if (cg->v1[h]) {
		g_autofree char *tasks = g_build_filename (cg->dir[h], "tasks", NULL);
		cg->tasks_fd[h] = open (tasks, O_WRONLY | O_CLOEXEC);
	} else if (cg->v2_dir_fd < 0 && made) {
		/* Not into a group left from before: cgroup.kill may have been
		 * written to it (sup_cgroups_probe_births). */
		cg->v2_dir_fd = open (cg->dir[h], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
}

int
sup_cgroups_create (Supervisor *s, const NsSandboxConfig *cfg, NsError *err)
{
	g_autofree char *instance = sup_cgroup_instance (s->dir);
	NsCgroupLayout layout;
	SupCgroups *cg = &s->cg;
	bool all_new = true;
	int made, r;

	/* The same groups as the run before: what is left in them is that
	 * run's, and goes now. */
	if (leftover)
		sup_cgroups_signal (&leftover->cg, SIGKILL, 0);
	leftover_free ();
	sup_cgroups_remove (s);
	read_layout (&layout);
	for (int h = 0; h < NS_CG_COUNT; h++) {
		g_autofree char *dir = NULL;

		cg->procs_fd[h] = cg->tasks_fd[h] = -1;
		if (!layout.dir[h])
			continue;
		dir = g_build_filename (layout.dir[h], "nsfs", instance, cfg->name, NULL);
		cg->dir[h] = g_steal_pointer (&dir);
		cg->v1[h] = layout.v1[h];
		if (already_listed (cg, (NsCgroupHier) h))
			continue;
		if ((made = make_group (cg->dir[h])) < 0) {
			/* No delegation here (a container's read-only cgroupfs):
			 * this hierarchy is not the sandbox's. */
			g_message ("cgroup %s: %s", cg->dir[h], g_strerror (-made));
			g_clear_pointer (&cg->dir[h], g_free);
			continue;
		}
		all_new = all_new && made;
		open_group (cg, (NsCgroupHier) h, made);
	}
	ns_cgroup_layout_clear (&layout);
	/* A new group has the default limits already: six writes (18 system
	 * calls on cgroupfs) off every start that sets none. */
	if ((!all_new || !ns_limits_are_default (&cfg->limits)) &&
	    (r = sup_cgroups_apply_limits (cg, &cfg->limits, err)) < 0) {
		sup_cgroups_remove (s);
		return r;
	}
	write_record (s);
	return 0;
}

static pid_t
clone3_with (unsigned long flags, int *pidfd, int cgroup_fd)
{
	struct clone_args args = {
		.flags = flags | (pidfd ? CLONE_PIDFD : 0) | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0),
		.pidfd = (uint64_t) (uintptr_t) pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t) (cgroup_fd >= 0 ? cgroup_fd : 0),
	};
	return (pid_t) syscall (SYS_clone3, &args, sizeof args);
}

/* Whether children born into a new cgroup2 group live (sup_cgroups_probe_births). */
static bool births_live;

bool
sup_cgroups_probe_births (void)
{
	g_autofree char *probe = NULL;
	NsCgroupLayout layout;
	int status = 0, fd;
	pid_t pid;

	births_live = false;
	read_layout (&layout);
	for (int h = 0; h < NS_CG_COUNT && !probe; h++)
		if (layout.dir[h] && !layout.v1[h])
			probe = g_strdup_printf ("%s/.nsfs-probe-%d", layout.dir[h], (int) getpid ());
	ns_cgroup_layout_clear (&layout);
	if (!probe || mkdir (probe, 0755) < 0)
		return false;
	fd = open (probe, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pid = fd >= 0 ? clone3_with (0, NULL, fd) : -1;
	if (pid == 0)
		_exit (0);
	if (pid > 0 && waitpid (pid, &status, 0) == pid)
		births_live = WIFEXITED (status) && WEXITSTATUS (status) == 0;
	if (fd >= 0)
		close (fd);
	rmdir (probe);
	return births_live;
}

pid_t
sup_cgroups_clone (const SupCgroups *cg, unsigned long flags, int *pidfd, bool *born_in_v2)
{
	pid_t pid = -1;

	*born_in_v2 = false;
	if (births_live && cg && cg->v2_dir_fd >= 0) {
		pid = clone3_with (flags, pidfd, cg->v2_dir_fd);
		if (pid >= 0) {
			*born_in_v2 = true;
			return pid;
		}
		/* A kernel before 5.7, a caller the group's owner does not let
		 * in, or a cgroup2 group at its pids.max (which a birth counts
		 * against and a move does not; INTERFACE §8 holds the limit for
		 * the sandbox's own forks): born outside, it moves in
		 * (enter_self). */
		if (errno != EINVAL && errno != E2BIG && errno != ENOSYS && errno != EACCES && errno != EPERM &&
		    errno != EOPNOTSUPP && errno != EAGAIN)
			return -1;
	}
	return clone3_with (flags, pidfd, -1);
}

int
sup_cgroups_enter_self (const SupCgroups *cg, bool born_in_v2)
{
	for (int h = 0; h < NS_CG_COUNT; h++) {
		int fd = cg->v1[h] && cg->tasks_fd[h] >= 0 ? cg->tasks_fd[h] : cg->procs_fd[h];

		if (cg->procs_fd[h] < 0 || (!cg->v1[h] && born_in_v2))
			continue;
		if (write (fd, "0", 1) < 0)
			return -errno;
	}
	return 0;
}

void
sup_cgroups_init (SupCgroups *cg)
{
	memset (cg, 0, sizeof *cg);
	for (int h = 0; h < NS_CG_COUNT; h++)
		cg->procs_fd[h] = cg->tasks_fd[h] = -1;
	cg->v2_dir_fd = -1;
}

bool
sup_cgroups_active (const SupCgroups *cg)
{
	for (int h = 0; h < NS_CG_COUNT; h++)
		if (cg->procs_fd[h] >= 0)
			return true;
	return false;
}

guint
sup_cgroups_signal (SupCgroups *cg, int signo, pid_t spare)
{
	guint n = 0;

	for (int h = 0; h < NS_CG_COUNT; h++) {
		g_autofree char *procs = NULL, *text = NULL;
		g_auto (GStrv) pids = NULL;

		if (cg->procs_fd[h] < 0 || !cg->dir[h])
			continue;
		/* The unified hierarchy ends a whole group at once (5.14). */
		if (signo == SIGKILL && !spare && !cg->v1[h] && write_file_at (cg->dir[h], "cgroup.kill", "1") == 0) {
			/* Its kill count moved: no child may be born in it now. */
			ns_close_fdp (&cg->v2_dir_fd);
			continue;
		}
		procs = g_build_filename (cg->dir[h], "cgroup.procs", NULL);
		if (!g_file_get_contents (procs, &text, NULL, NULL))
			continue;
		pids = g_strsplit (text, "\n", -1);
		for (char **p = pids; *p && **p; p++) {
			pid_t pid = (pid_t) g_ascii_strtoll (*p, NULL, 10);
			bool spared = pid == spare || (spare && pid == cg->resident);
			if (pid > 0 && !spared && kill (pid, signo) == 0)
				n++;
		}
	}
	return n;
}

static bool
remove_dirs (SupCgroups *cg)
{
	bool all = true;

	for (int h = NS_CG_COUNT - 1; h >= 0; h--) {
		if (!cg->dir[h])
			continue;
		if (!already_listed (cg, (NsCgroupHier) h) && rmdir (cg->dir[h]) < 0 && errno != ENOENT) {
			all = false;
			continue;
		}
		g_clear_pointer (&cg->dir[h], g_free);
	}
	return all;
}

static void
leftover_free (void)
{
	if (!leftover)
		return;
	sup_loop_remove (&leftover->timer);
	close_fds (&leftover->cg);
	for (int h = 0; h < NS_CG_COUNT; h++)
		g_free (leftover->cg.dir[h]);
	g_clear_pointer (&leftover, g_free);
}

static gboolean
leftover_retry (gpointer data)
{
	sup_cgroups_signal (&leftover->cg, SIGKILL, 0);
	if (remove_dirs (&leftover->cg) || ++leftover->tries >= 250) {
		for (int h = 0; h < NS_CG_COUNT; h++)
			if (leftover->cg.dir[h])
				g_warning ("cannot remove the cgroup %s: %s", leftover->cg.dir[h], g_strerror (EBUSY));
		leftover->timer = 0;
		leftover_free ();
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

void
sup_cgroups_release (Supervisor *s)
{
	bool any = false;

	for (int h = 0; h < NS_CG_COUNT; h++)
		any |= s->cg.dir[h] != NULL;
	if (!any)
		return;
	sup_cgroups_signal (&s->cg, SIGKILL, 0);
	unlinkat (s->dirfd, "cgroups", 0);
	if (remove_dirs (&s->cg)) {
		close_fds (&s->cg);
		return;
	}
	leftover_free ();
	leftover = g_new0 (Leftover, 1);
	leftover->cg = s->cg;
	sup_cgroups_init (&s->cg);
	leftover->timer = sup_loop_add_timer (20, leftover_retry, NULL);
}

void
sup_cgroups_remove (Supervisor *s)
{
	SupCgroups *cg = &s->cg;

	/* Processes that were killed leave their group a moment after their
	 * parent reaps them: look again, briefly. */
	for (int tries = 0; tries < 100 && !remove_dirs (cg); tries++) {
		sup_cgroups_signal (cg, SIGKILL, 0);
		g_usleep (10 * 1000);
	}
	close_fds (cg);
	for (int h = 0; h < NS_CG_COUNT; h++)
		if (cg->dir[h]) {
			g_warning ("cannot remove the cgroup %s: %s", cg->dir[h], g_strerror (EBUSY));
			g_clear_pointer (&cg->dir[h], g_free);
		}
	unlinkat (s->dirfd, "cgroups", 0);
	/* An earlier run's groups still waiting for their last processes:
	 * every child is reaped by now (destroy), so they go too. */
	if (leftover) {
		sup_cgroups_signal (&leftover->cg, SIGKILL, 0);
		for (int tries = 0; tries < 100 && !remove_dirs (&leftover->cg); tries++)
			g_usleep (10 * 1000);
	}
	leftover_free ();
}
