/* Where the cgroup hierarchies are and where this process sits in them
 * (crun's detection, as text): from /proc/self/mountinfo and
 * /proc/self/cgroup.  A pure parser, so the unified, hybrid and legacy
 * layouts are all tested whichever this machine has. */
#pragma once

#include <stdbool.h>

typedef enum {
	NS_CG_MEMORY,
	NS_CG_PIDS,
	NS_CG_CPU,
	NS_CG_CPUACCT,
	NS_CG_UNIFIED,      /* the cgroup2 hierarchy, with or without controllers */
	NS_CG_COUNT,
} NsCgroupHier;

typedef struct {
	/* Each hierarchy's directory for this process, "" where there is
	 * none: <mount point><own path>, e.g. /sys/fs/cgroup/memory/a/b; on
	 * cgroup2, the parent of a leaf named `nsfsd` (resources.c). */
	char *dir[NS_CG_COUNT];
	/* Whether each controller is on cgroup v1 (its own hierarchy) or on
	 * the unified one (enabled in it or not, it is the v2 file names). */
	bool v1[NS_CG_COUNT];
} NsCgroupLayout;

/* The mountinfo's cgroup and cgroup2 mounts and the cgroup file's lines
 * into LAYOUT (which the caller clears). */
void ns_cgroup_layout_parse (const char *mountinfo, const char *self_cgroup, NsCgroupLayout *layout);
void ns_cgroup_layout_clear (NsCgroupLayout *layout);
const char *ns_cgroup_hier_name (NsCgroupHier h);
