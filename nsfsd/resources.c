#include "resources.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup_layout.h"
#include "events.h"

static ResourceOptions opts;
static NsCgroupLayout layout;
static bool supported[NS_LIMIT_CPU + 1];
static char *base[NS_CG_COUNT];         /* <dir>/nsfs, made here */

static const NsCgroupHier hier_of[] = {
	[NS_LIMIT_MEMORY] = NS_CG_MEMORY,
	[NS_LIMIT_PIDS] = NS_CG_PIDS,
	[NS_LIMIT_CPU] = NS_CG_CPU,
};

static const char *const limit_names[] = { "memory.max", "pids.max", "cpu.max" };

bool
resources_parse_controllers (const char *text, ResourceOptions *o)
{
	g_auto (GStrv) words = g_strsplit (text, ",", -1);
	bool offered[NS_LIMIT_CPU + 1] = { false };

	for (char **w = words; *w; w++) {
		int k;
		for (k = NS_LIMIT_MEMORY; k <= NS_LIMIT_CPU; k++)
			if (strcmp (*w, (const char *[]) { "memory", "pids", "cpu" }[k]) == 0)
				break;
		if (k > NS_LIMIT_CPU)
			return strcmp (text, "") == 0;
		offered[k] = true;
	}
	memcpy (o->offered, offered, sizeof offered);
	return true;
}

static bool
has_word (const char *dir, const char *file, const char *word)
{
	g_autofree char *path = g_build_filename (dir, file, NULL);
	g_autofree char *text = NULL;
	g_auto (GStrv) words = NULL;

	if (!g_file_get_contents (path, &text, NULL, NULL))
		return false;
	words = g_strsplit_set (g_strstrip (text), " ", -1);
	return g_strv_contains ((const char *const *) words, word);
}

/* systemd's Delegate=yes (or any cgroup2 delegation) starts nsfsd in the
 * root of its subtree, with the controllers available there but not
 * passed on; a group with processes in it cannot pass them on (cgroup2's
 * rule of no internal processes).  So nsfsd moves itself, and with it
 * every supervisor it will start, into a leaf `<own>/nsfsd`, then passes
 * on what the limits use.  Elsewhere (the controllers passed on already,
 * or none available: cgroup v1, no delegation) nothing moves. */
static void
leave_delegated_root (const char *own, const char *const *controllers, const bool *wanted)
{
	g_autofree char *leaf = g_build_filename (own, "nsfsd", NULL);
	g_autofree char *procs = g_build_filename (leaf, "cgroup.procs", NULL);
	g_autofree char *control = g_build_filename (own, "cgroup.subtree_control", NULL);
	g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
	g_autoptr (GError) gerr = NULL;
	bool available[NS_LIMIT_CPU + 1], needed = false;

	for (int k = NS_LIMIT_MEMORY; k <= NS_LIMIT_CPU; k++) {
		available[k] = wanted[k] && has_word (own, "cgroup.controllers", controllers[k]);
		needed |= available[k] && !has_word (own, "cgroup.subtree_control", controllers[k]);
	}
	if (!needed)
		return;
	if ((mkdir (leaf, 0755) < 0 && errno != EEXIST) || !g_file_set_contents (procs, pid, -1, &gerr)) {
		g_message ("cannot move nsfsd into %s, so its group cannot pass controllers on: %s", leaf,
		           gerr ? gerr->message : g_strerror (errno));
		return;
	}
	for (int k = NS_LIMIT_MEMORY; k <= NS_LIMIT_CPU; k++) {
		g_autofree char *plus = g_strdup_printf ("+%s", controllers[k]);
		g_autoptr (GError) e = NULL;
		if (available[k] && !g_file_set_contents (control, plus, -1, &e))
			g_message ("cannot pass %s on in %s: %s", controllers[k], own, e->message);
	}
}

void
resources_init (const ResourceOptions *o)
{
	g_autofree char *mountinfo = NULL, *self = NULL;
	static const char *const controller[] = { "memory", "pids", "cpu" };

	opts = *o;
	g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, NULL);
	g_file_get_contents ("/proc/self/cgroup", &self, NULL, NULL);
	ns_cgroup_layout_parse (mountinfo ? mountinfo : "", self ? self : "", &layout);
	if (layout.dir[NS_CG_UNIFIED] && !layout.v1[NS_CG_UNIFIED] && geteuid () == 0)
		leave_delegated_root (layout.dir[NS_CG_UNIFIED], controller, o->offered);
	for (int h = 0; h < NS_CG_COUNT; h++) {
		if (!layout.dir[h])
			continue;
		base[h] = g_build_filename (layout.dir[h], "nsfs", NULL);
		/* One that exists may be another nsfsd's (root's, for a non-root
		 * nsfsd): ours only if we may make groups in it. */
		if ((mkdir (base[h], 0755) < 0 && errno != EEXIST) || access (base[h], W_OK) < 0) {
			/* A non-root nsfsd has none, and says so once (preflight.c). */
			if (geteuid () == 0)
				g_message ("no cgroup for nsfs in %s: %s", layout.dir[h], g_strerror (errno));
			g_clear_pointer (&base[h], g_free);
		}
	}
	for (int k = NS_LIMIT_MEMORY; k <= NS_LIMIT_CPU; k++) {
		NsCgroupHier h = hier_of[k];
		if (!base[h] || !opts.offered[k])
			continue;
		if (layout.v1[h]) {
			supported[k] = true;
			continue;
		}
		/* Unified: ask nsfs's group to pass the controller on (it can
		 * only if ours has it: a delegated subtree). */
		{
			g_autofree char *path = g_build_filename (base[h], "cgroup.subtree_control", NULL);
			g_autofree char *plus = g_strdup_printf ("+%s", controller[k]);
			g_file_set_contents (path, plus, -1, NULL);
		}
		/* On the unified hierarchy a controller serves nsfs's groups
		 * only if nsfs's group passes it on. */
		supported[k] = has_word (base[h], "cgroup.subtree_control", controller[k]);
	}
	for (int k = NS_LIMIT_MEMORY; k <= NS_LIMIT_CPU; k++)
		if (opts.offered[k] && !supported[k] && geteuid () == 0)
			g_message ("no %s controller for nsfs's cgroups: %s can only be max, and non-root owners' default "
			           "and ceiling of it are not enforced", controller[k], limit_names[k]);
}

void
resources_shutdown (void)
{
	/* Only empty groups go (rmdir of a cgroup with children fails):
	 * running sandboxes keep theirs. */
	for (int h = 0; h < NS_CG_COUNT; h++) {
		if (!base[h])
			continue;
		{
			g_autoptr (GDir) d = g_dir_open (base[h], 0, NULL);
			const char *name;
			while (d && (name = g_dir_read_name (d))) {
				g_autofree char *sub = g_build_filename (base[h], name, NULL);
				if (g_file_test (sub, G_FILE_TEST_IS_DIR))
					rmdir (sub);
			}
		}
		rmdir (base[h]);
		g_clear_pointer (&base[h], g_free);
	}
	ns_cgroup_layout_clear (&layout);
}

const ResourceOptions *
resources_options (void)
{
	return &opts;
}

void
resources_user_default (NsLimits *out)
{
	NsLimits none;

	ns_limits_default (&none);
	*out = opts.user_default;
	/* A default nsfs cannot enforce would make every sandbox fail to
	 * start (a non-root nsfsd has no cgroup at all): it is not applied,
	 * and resources_init said so. */
	if (!supported[NS_LIMIT_MEMORY])
		out->memory_max = none.memory_max;
	if (!supported[NS_LIMIT_PIDS])
		out->pids_max = none.pids_max;
	if (!supported[NS_LIMIT_CPU]) {
		out->cpu_quota = none.cpu_quota;
		out->cpu_period = none.cpu_period;
	}
}

int
resources_check_supported (NsLimitKind kind, const NsLimits *l, NsError *err)
{
	if (supported[kind] || ns_limit_is_unlimited (l, kind))
		return 0;
	return ns_error (err, EOPNOTSUPP, "%s: nsfs has no cgroup with the %s controller here; only max can be set",
	                 limit_names[kind], kind == NS_LIMIT_MEMORY ? "memory" : kind == NS_LIMIT_PIDS ? "pids" : "cpu");
}

int
resources_check_ceiling (uid_t owner, NsLimitKind kind, const NsLimits *l, NsError *err)
{
	const NsLimits *c = &opts.user_ceiling;
	bool over = false;
	g_autofree char *ceiling = NULL;

	if (owner == 0)
		return 0;
	switch (kind) {
	case NS_LIMIT_MEMORY:
		over = l->memory_max > c->memory_max;
		ceiling = ns_limit_format (c->memory_max);
		break;
	case NS_LIMIT_PIDS:
		over = l->pids_max > c->pids_max;
		ceiling = ns_limit_format (c->pids_max);
		break;
	case NS_LIMIT_CPU:
		/* As a share of a CPU: quota/period against the ceiling's. */
		if (c->cpu_quota != NS_LIMIT_MAX)
			over = l->cpu_quota == NS_LIMIT_MAX ||
			       (double) l->cpu_quota / (double) l->cpu_period > (double) c->cpu_quota / (double) c->cpu_period;
		ceiling = ns_cpu_max_format (c->cpu_quota, c->cpu_period);
		break;
	}
	if (over)
		return ns_error (err, EPERM, "%s: over the most nsfsd lets uid %u set (%s)", limit_names[kind],
		                 (unsigned) owner, ceiling);
	return 0;
}

/* --- stats ---------------------------------------------------------------- */

/* The first number in FILE of DIR, or after KEY (a "key value" line). */
static uint64_t
read_number (const char *dir, const char *file, const char *key)
{
	g_autofree char *path = g_build_filename (dir, file, NULL);
	g_autofree char *text = NULL;
	g_auto (GStrv) lines = NULL;

	if (!g_file_get_contents (path, &text, NULL, NULL))
		return 0;
	if (!key)
		return g_ascii_strtoull (text, NULL, 10);
	lines = g_strsplit (text, "\n", -1);
	for (char **l = lines; *l; l++) {
		size_t n = strlen (key);
		if (strncmp (*l, key, n) == 0 && (*l)[n] == ' ')
			return g_ascii_strtoull (*l + n + 1, NULL, 10);
	}
	return 0;
}

/* The supervisor's record of a running sandbox's groups (backend/cgroups.c):
 * a "HIER 1|2 DIR" line each, and "resident 0 PID" while its spawner
 * lives in them, which `stats` leaves out. */
typedef struct {
	char *dir[NS_CG_COUNT];
	bool v1[NS_CG_COUNT];
	bool resident;
} Groups;

/* The supervisor's record of the groups of the sandbox whose state
 * directory is DIR. */
static void
read_record_in (const char *dir, Groups *g)
{
	g_autofree char *path = g_build_filename (dir, "cgroups", NULL);
	g_autofree char *text = NULL;
	g_auto (GStrv) lines = NULL;

	memset (g, 0, sizeof *g);
	if (!g_file_get_contents (path, &text, NULL, NULL))
		return;
	lines = g_strsplit (text, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_auto (GStrv) f = g_strsplit (*l, " ", 3);
		if (g_strv_length (f) != 3)
			continue;
		if (strcmp (f[0], "resident") == 0)
			g->resident = true;
		for (int h = 0; h < NS_CG_COUNT; h++)
			if (strcmp (f[0], ns_cgroup_hier_name ((NsCgroupHier) h)) == 0 && !g->dir[h]) {
				g->dir[h] = g_strdup (f[2]);
				g->v1[h] = strcmp (f[1], "1") == 0;
			}
	}
}

static void
read_record (Sandbox *sb, Groups *g)
{
	read_record_in (sb->dir, g);
}

void
resources_remove_recorded_groups (const char *sandbox_dir)
{
	Groups g;

	read_record_in (sandbox_dir, &g);
	for (int h = 0; h < NS_CG_COUNT; h++) {
		g_autofree char *procs = NULL;

		/* Only nsfs's own groups, whatever the record says. */
		if (!g.dir[h] || !strstr (g.dir[h], "/nsfs/"))
			goto next;
		procs = g_build_filename (g.dir[h], "cgroup.procs", NULL);
		for (int tries = 0; tries < 200 && rmdir (g.dir[h]) < 0 && errno == EBUSY; tries++) {
			g_autofree char *pids = NULL;
			g_auto (GStrv) p = NULL;
			if (g_file_get_contents (procs, &pids, NULL, NULL)) {
				p = g_strsplit (pids, "\n", -1);
				for (char **q = p; *q && **q; q++)
					kill ((pid_t) g_ascii_strtoll (*q, NULL, 10), SIGKILL);
			}
			g_usleep (10 * 1000);
		}
next:
		g_free (g.dir[h]);
	}
}

void
resources_note_oom (Sandbox *sb)
{
	uint64_t kills = 0, seen;
	Groups g;

	read_record (sb, &g);
	if (g.dir[NS_CG_MEMORY])
		kills = g.v1[NS_CG_MEMORY] ? read_number (g.dir[NS_CG_MEMORY], "memory.oom_control", "oom_kill")
		                           : read_number (g.dir[NS_CG_MEMORY], "memory.events", "oom_kill");
	for (int h = 0; h < NS_CG_COUNT; h++)
		g_free (g.dir[h]);
	g_mutex_lock (&sb->lock);
	/* A new start has new groups, counting from 0 again. */
	seen = kills < sb->oom_seen ? 0 : sb->oom_seen;
	sb->oom_seen = kills;
	g_mutex_unlock (&sb->lock);
	for (; seen < kills; seen++)
		events_emit (sb->serial, sb->name, "oom");
}

void
resources_show_stats (Sandbox *sb, GString *out)
{
	uint64_t mem = 0, peak = 0, pids = 0, cpu = 0, ooms = 0;
	Groups g;

	if (sb->state == SB_RUNNING) {
		const char *m = NULL, *p, *c;
		read_record (sb, &g);
		if ((m = g.dir[NS_CG_MEMORY])) {
			bool v1 = g.v1[NS_CG_MEMORY];
			mem = read_number (m, v1 ? "memory.usage_in_bytes" : "memory.current", NULL);
			peak = read_number (m, v1 ? "memory.max_usage_in_bytes" : "memory.peak", NULL);
			ooms = v1 ? read_number (m, "memory.oom_control", "oom_kill") : read_number (m, "memory.events", "oom_kill");
		}
		if ((p = g.dir[NS_CG_PIDS]))
			pids = read_number (p, "pids.current", NULL);
		if (g.resident && pids > 0)
			pids--;
		if ((c = g.dir[NS_CG_CPUACCT]) && g.v1[NS_CG_CPUACCT])
			cpu = read_number (c, "cpuacct.usage", NULL) / 1000;
		else if ((c = g.dir[NS_CG_CPU] ? g.dir[NS_CG_CPU] : g.dir[NS_CG_UNIFIED]))
			cpu = read_number (c, "cpu.stat", "usage_usec");
		for (int h = 0; h < NS_CG_COUNT; h++)
			g_free (g.dir[h]);
	}
	g_string_append_printf (out,
	                        "memory.current %" G_GUINT64_FORMAT "\nmemory.peak %" G_GUINT64_FORMAT
	                        "\npids.current %" G_GUINT64_FORMAT "\ncpu.usage_usec %" G_GUINT64_FORMAT
	                        "\noom_kills %" G_GUINT64_FORMAT "\n",
	                        mem, peak, pids, cpu, ooms);
}
