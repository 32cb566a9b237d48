#include "cgroup_layout.h"

#include <string.h>

#include <glib.h>

#include "mountinfo.h"

static const char *const names[NS_CG_COUNT] = { "memory", "pids", "cpu", "cpuacct", "unified" };

const char *
ns_cgroup_hier_name (NsCgroupHier h)
{
	return names[h];
}

static bool
has_option (const char *opts, const char *want)
{
	g_auto (GStrv) o = g_strsplit (opts, ",", -1);

	for (char **p = o; *p; p++)
		if (strcmp (*p, want) == 0)
			return true;
	return false;
}

/* This process's path in the hierarchy whose /proc/self/cgroup field
 * (the controller list, or "" for the unified one) has WANT; NULL if
 * none. */
static const char *
own_path (char **lines, const char *want, bool unified)
{
	for (char **l = lines; *l; l++) {
		g_auto (GStrv) f = g_strsplit (*l, ":", 3);
		if (g_strv_length (f) != 3)
			continue;
		if (unified ? (strcmp (f[0], "0") == 0 && f[1][0] == '\0') : has_option (f[1], want))
			return strchr (strchr (*l, ':') + 1, ':') + 1;
	}
	return NULL;
}

/* On cgroup2, a delegated group's processes wait in the leaf `nsfsd`
 * (nsfsd's resources.c moves itself there, and its supervisors are born
 * there): the group nsfs works in is the one above it, for nsfsd and
 * its supervisors alike. */
static char *
unified_own_path (char **cg)
{
	const char *own = own_path (cg, NULL, true);

	if (own && g_str_has_suffix (own, "/nsfsd") && strlen (own) > strlen ("/nsfsd"))
		return g_strndup (own, strlen (own) - strlen ("/nsfsd"));
	if (own && strcmp (own, "/nsfsd") == 0)
		return g_strdup ("/");
	return g_strdup (own);
}

/* The mount of a hierarchy must show its root (field 4 "/"): a bind of a
 * subtree (a container's view) is not where our own path starts. */
static void
set_dir (NsCgroupLayout *layout, NsCgroupHier h, const char *root, const char *mnt, const char *own, bool v1)
{
	g_autofree char *m = NULL;

	if (layout->dir[h] || !own || strcmp (root, "/") != 0)
		return;
	m = g_strdup (mnt);
	ns_mountinfo_unescape (m);
	layout->dir[h] = strcmp (own, "/") == 0 ? g_strdup (m) : g_strconcat (m, own, NULL);
	layout->v1[h] = v1;
}

void
ns_cgroup_layout_parse (const char *mountinfo, const char *self_cgroup, NsCgroupLayout *layout)
{
	g_auto (GStrv) mounts = g_strsplit (mountinfo, "\n", -1);
	g_auto (GStrv) cg = g_strsplit (self_cgroup, "\n", -1);

	memset (layout, 0, sizeof *layout);
	for (char **l = mounts; *l; l++) {
		const char *sep = strstr (*l, " - ");
		g_auto (GStrv) f = NULL, tail = NULL;

		if (!sep)
			continue;
		f = g_strsplit (*l, " ", 6);
		tail = g_strsplit (sep + 3, " ", 3);
		if (g_strv_length (f) < 5 || g_strv_length (tail) < 3)
			continue;
		if (strcmp (tail[0], "cgroup2") == 0) {
			g_autofree char *own = unified_own_path (cg);
			set_dir (layout, NS_CG_UNIFIED, f[3], f[4], own, false);
		} else if (strcmp (tail[0], "cgroup") == 0) {
			g_autofree char *opts = g_strstrip (g_strdup (tail[2]));
			for (int h = NS_CG_MEMORY; h <= NS_CG_CPUACCT; h++)
				if (has_option (opts, names[h]))
					set_dir (layout, (NsCgroupHier) h, f[3], f[4], own_path (cg, names[h], false), true);
		}
	}
	/* Controllers with no v1 hierarchy are the unified one's. */
	for (int h = NS_CG_MEMORY; h <= NS_CG_CPUACCT; h++)
		if (!layout->dir[h] && layout->dir[NS_CG_UNIFIED] && h != NS_CG_CPUACCT) {
			layout->dir[h] = g_strdup (layout->dir[NS_CG_UNIFIED]);
			layout->v1[h] = false;
		}
}

void
ns_cgroup_layout_clear (NsCgroupLayout *layout)
{
	for (int h = 0; h < NS_CG_COUNT; h++)
		g_clear_pointer (&layout->dir[h], g_free);
}
