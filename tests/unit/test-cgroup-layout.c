/* common/cgroup_layout.c: the three layouts, from their text. */
#include <string.h>

#include <glib.h>

#include "cgroup_layout.h"

static const char hybrid_mounts[] =
	"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
	"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
	"40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
static const char hybrid_self[] =
	"9:name=systemd:/\n8:pids:/\n4:memory:/process_api/a29c\n2:cpuacct:/\n1:cpu:/\n0::/\n";

static void
test_hybrid (void)
{
	NsCgroupLayout l;

	ns_cgroup_layout_parse (hybrid_mounts, hybrid_self, &l);
	g_assert_cmpstr (l.dir[NS_CG_MEMORY], ==, "/sys/fs/cgroup/memory/process_api/a29c");
	g_assert_cmpstr (l.dir[NS_CG_PIDS], ==, "/sys/fs/cgroup/pids");
	g_assert_cmpstr (l.dir[NS_CG_CPU], ==, "/sys/fs/cgroup/cpu");
	g_assert_cmpstr (l.dir[NS_CG_CPUACCT], ==, "/sys/fs/cgroup/cpuacct");
	g_assert_cmpstr (l.dir[NS_CG_UNIFIED], ==, "/sys/fs/cgroup/unified");
	g_assert_true (l.v1[NS_CG_MEMORY] && l.v1[NS_CG_PIDS] && l.v1[NS_CG_CPU] && l.v1[NS_CG_CPUACCT]);
	g_assert_false (l.v1[NS_CG_UNIFIED]);
	ns_cgroup_layout_clear (&l);
}

static void
test_unified (void)
{
	NsCgroupLayout l;

	ns_cgroup_layout_parse ("30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
	                        "0::/system.slice/nsfs.service\n", &l);
	g_assert_cmpstr (l.dir[NS_CG_UNIFIED], ==, "/sys/fs/cgroup/system.slice/nsfs.service");
	g_assert_cmpstr (l.dir[NS_CG_MEMORY], ==, "/sys/fs/cgroup/system.slice/nsfs.service");
	g_assert_false (l.v1[NS_CG_MEMORY]);
	g_assert_cmpstr (l.dir[NS_CG_PIDS], ==, l.dir[NS_CG_UNIFIED]);
	g_assert_cmpstr (l.dir[NS_CG_CPU], ==, l.dir[NS_CG_UNIFIED]);
	g_assert_null (l.dir[NS_CG_CPUACCT]);
	ns_cgroup_layout_clear (&l);
}

/* Under Delegate=yes nsfsd waits in the leaf `nsfsd` of its unit's group,
 * and its supervisors with it: all of them must work in the unit's group,
 * not in the leaf (which has processes, so it could pass nothing on). */
static void
test_delegated_leaf (void)
{
	static const char *const cases[][2] = {
		{ "0::/system.slice/nsfsd.service/nsfsd\n", "/sys/fs/cgroup/system.slice/nsfsd.service" },
		{ "0::/system.slice/nsfsd.service\n", "/sys/fs/cgroup/system.slice/nsfsd.service" },
		{ "0::/nsfsd\n", "/sys/fs/cgroup" },
		{ "0::/a/not-nsfsd\n", "/sys/fs/cgroup/a/not-nsfsd" },
	};

	for (size_t i = 0; i < G_N_ELEMENTS (cases); i++) {
		NsCgroupLayout l;
		ns_cgroup_layout_parse ("30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
		                        cases[i][0], &l);
		g_assert_cmpstr (l.dir[NS_CG_UNIFIED], ==, cases[i][1]);
		g_assert_cmpstr (l.dir[NS_CG_MEMORY], ==, cases[i][1]);
		ns_cgroup_layout_clear (&l);
	}
}

static void
test_legacy_and_joined_controllers (void)
{
	NsCgroupLayout l;

	ns_cgroup_layout_parse ("32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
	                        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
	                        "36 31 0:33 /lxc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n",
	                        "3:cpu,cpuacct:/a\n2:memory:/b\n1:pids:/lxc\n", &l);
	g_assert_cmpstr (l.dir[NS_CG_CPU], ==, "/sys/fs/cgroup/cpu,cpuacct/a");
	g_assert_cmpstr (l.dir[NS_CG_CPUACCT], ==, "/sys/fs/cgroup/cpu,cpuacct/a");
	g_assert_cmpstr (l.dir[NS_CG_MEMORY], ==, "/sys/fs/cgroup/memory/b");
	/* A mount of a subtree is not the hierarchy's root: not used. */
	g_assert_null (l.dir[NS_CG_PIDS]);
	g_assert_null (l.dir[NS_CG_UNIFIED]);
	ns_cgroup_layout_clear (&l);
}

static void
test_escaped_mount_point (void)
{
	NsCgroupLayout l;

	/* mountinfo escapes a blank in a mount point as \040. */
	ns_cgroup_layout_parse ("35 31 0:32 / /sys/fs/cgroup/my\\040mem rw - cgroup cgroup rw,memory\n",
	                        "2:memory:/a\n", &l);
	g_assert_cmpstr (l.dir[NS_CG_MEMORY], ==, "/sys/fs/cgroup/my mem/a");
	ns_cgroup_layout_clear (&l);
}

static void
test_nothing (void)
{
	NsCgroupLayout l;

	ns_cgroup_layout_parse ("", "", &l);
	for (int h = 0; h < NS_CG_COUNT; h++)
		g_assert_null (l.dir[h]);
	ns_cgroup_layout_parse ("garbage\n - \n1 2 3\n", "x:y\n", &l);
	for (int h = 0; h < NS_CG_COUNT; h++)
		g_assert_null (l.dir[h]);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/cgroup-layout/hybrid", test_hybrid);
	g_test_add_func ("/cgroup-layout/unified", test_unified);
	g_test_add_func ("/cgroup-layout/delegated-leaf", test_delegated_leaf);
	g_test_add_func ("/cgroup-layout/legacy-and-joined-controllers", test_legacy_and_joined_controllers);
	g_test_add_func ("/cgroup-layout/escaped-mount-point", test_escaped_mount_point);
	g_test_add_func ("/cgroup-layout/nothing", test_nothing);
	return g_test_run ();
}
