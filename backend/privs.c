/* Credentials of the init and of job processes: never more than the
 * sandbox's owner had, and only the capabilities `caps` keeps. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/wait.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* With a user namespace the process becomes the inside ids that the
 * owner's ids map to (0 if the owner is not mapped, which only a root
 * owner can arrange); without one it keeps the owner's host ids. */
void
sup_owner_inside_ids (const NsSandboxConfig *cfg, bool in_userns, uint32_t *uid, uint32_t *gid)
{
	*uid = cfg->owner_uid;
	*gid = cfg->owner_gid;
	if (in_userns) {
		NsIdMap scratch;
		if (!ns_idmap_to_inside (ns_config_uid_map (cfg, &scratch), cfg->owner_uid, uid))
			*uid = 0;
		if (!ns_idmap_to_inside (ns_config_gid_map (cfg, &scratch), cfg->owner_gid, gid))
			*gid = 0;
	}
}

int
sup_drop_to_owner (const NsSandboxConfig *cfg, bool in_userns, NsError *err)
{
	return sup_drop_to_job_user (cfg, NULL, in_userns, err);
}

int
sup_drop_to_job_user (const NsSandboxConfig *cfg, const NsJobUser *user, bool in_userns, NsError *err)
{
	uint32_t uid, gid;

	sup_owner_inside_ids (cfg, in_userns, &uid, &gid);
	/* `user` (INTERFACE §10): other ids of the sandbox, as the owner
	 * could take them itself inside (they are mapped: nsfsd checked). */
	if (user && user->set) {
		uid = user->uid;
		if (user->gid_set)
			gid = user->gid;
	}
	if (cfg->owner_uid != 0 && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ns_error (err, errno, "no_new_privs: %s", strerror (errno));
	if (setresgid (gid, gid, gid) < 0)
		return ns_error (err, errno, "setresgid %u: %s", gid, strerror (errno));
	if (setresuid (uid, uid, uid) < 0)
		return ns_error (err, errno, "setresuid %u: %s", uid, strerror (errno));
	return 0;
}

/* The owner's supplementary groups (the primary one if the account is
 * unknown); at most MAX, which holds at least one. */
size_t
sup_owner_group_list (const NsSandboxConfig *cfg, gid_t *groups, size_t max)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	int n = (int) MIN (max, (size_t) INT_MAX);

	getpwuid_r (cfg->owner_uid, &pw, buf, sizeof buf, &pwp);
	if (!pwp || getgrouplist (pwp->pw_name, cfg->owner_gid, groups, &n) < 0) {
		groups[0] = cfg->owner_gid;
		n = 1;
	}
	return (size_t) n;
}

int
sup_owner_groups (const NsSandboxConfig *cfg, NsError *err)
{
	gid_t groups[SUP_MAX_GROUPS];
	size_t n = sup_owner_group_list (cfg, groups, G_N_ELEMENTS (groups));

	if (setgroups (n, groups) < 0)
		return ns_error (err, errno, "setgroups: %s", strerror (errno));
	return 0;
}

typedef struct {
	const NsSandboxConfig *cfg;
	char *const *paths;
	size_t n;
	bool want_dir;
	int index_fd;       /* where the child says which path failed */
	/* Looked up by the supervisor, whose NSS modules stay loaded: in
	 * each child, getgrouplist loaded them again (1.5 ms a check). */
	gid_t groups[SUP_MAX_GROUPS];
	size_t n_groups;
} PathCheck;

typedef struct {
	int index_fd;
	SupPathsDone done;
	gpointer data;
} PathCheckWait;

static int
check_one_path (const char *path, bool want_dir)
{
	int fd;

	/* A bind's source need only be reachable: what is in it is
	 * accessed with the owner's mapped ids later, as on the host. */
	if (!want_dir)
		fd = open (path, O_PATH | O_CLOEXEC);
	else
		fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOTDIR && want_dir) {
		struct stat st;
		/* The path itself, or one of the directories on its way? */
		return stat (path, &st) == 0 && !S_ISDIR (st.st_mode) ? ENOTDIR : ENOENT;
	}
	if (fd < 0)
		return errno;
	close (fd);
	return 0;
}

/* In a helper child: become the owner and open the paths, in order. */
static int
check_paths_child (gpointer data)
{
	PathCheck *pc = data;
	const NsSandboxConfig *cfg = pc->cfg;
	int null_fd;

	if (setgroups (pc->n_groups, pc->groups) < 0 || setresgid (cfg->owner_gid, cfg->owner_gid, cfg->owner_gid) < 0 ||
	    setresuid (cfg->owner_uid, cfg->owner_uid, cfg->owner_uid) < 0)
		return EPERM;
	/* A process of the owner's ids: the owner must not ptrace it into
	 * the supervisor's memory, nor write to supervisor.log through it. */
	prctl (PR_SET_DUMPABLE, 0);
	null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || dup2 (null_fd, 2) < 0)
		return EIO;
	for (size_t i = 0; i < pc->n; i++) {
		int r = check_one_path (pc->paths[i], pc->want_dir);
		if (r) {
			(void) !write (pc->index_fd, &i, sizeof i);
			return r;
		}
	}
	return 0;
}

static void
check_paths_done (int code, gpointer data)
{
	PathCheckWait *w = data;
	size_t index = 0;

	/* Nothing there: it was killed (timed out) before it said. */
	if (read (w->index_fd, &index, sizeof index) != (ssize_t) sizeof index)
		index = 0;
	close (w->index_fd);
	w->done (code, index, w->data);
	g_free (w);
}

int
sup_check_paths_as_owner (const NsSandboxConfig *cfg, char *const *paths, size_t n, bool want_dir, SupPathsDone done,
                          gpointer data, NsError *err)
{
	PathCheck pc = { .cfg = cfg, .paths = paths, .n = n, .want_dir = want_dir, .index_fd = -1 };
	PathCheckWait *w;
	int p[2];

	pc.n_groups = sup_owner_group_list (cfg, pc.groups, G_N_ELEMENTS (pc.groups));
	if (pipe2 (p, O_CLOEXEC | O_NONBLOCK) < 0)
		return ns_error (err, errno, "pipe: %s", strerror (errno));
	pc.index_fd = p[1];
	w = g_new0 (PathCheckWait, 1);
	*w = (PathCheckWait) { p[0], done, data };
	/* The paths may be anywhere the owner can mount a file system that
	 * never answers: the opens happen in a helper, which is killed if it
	 * takes longer than SUP_HELPER_TIMEOUT_SECONDS.  One helper for all:
	 * a fork each cost a write of 16 binds 13 ms. */
	if (sup_helper_start (check_paths_child, &pc, SUP_HELPER_TIMEOUT_SECONDS, check_paths_done, w, err) < 0) {
		close (p[0]);
		close (p[1]);
		g_free (w);
		return -err->code;
	}
	close (p[1]);
	return 0;
}

static bool
kept (uint64_t keep, cap_value_t c)
{
	return c < 64 && (keep & ((uint64_t) 1 << c));
}

/* The capability sets, by the raw system calls: the job child shares the
 * supervisor's memory, and libcap's cap_get_proc and cap_init allocate
 * from its heap, which a sandbox process allowed to signal the child
 * (it holds CAP_KILL in the child's user namespace) could leave half
 * updated by killing the child inside malloc. */
static int
caps_get (uint64_t *permitted)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall (SYS_capget, &hdr, data) < 0)
		return -errno;
	*permitted = data[0].permitted | (uint64_t) data[1].permitted << 32;
	return 0;
}

static int
caps_set_all (uint64_t set)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		uint32_t word = (uint32_t) (set >> (32 * i));
		data[i] = (struct __user_cap_data_struct) { .effective = word, .permitted = word, .inheritable = word };
	}
	return syscall (SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

/* Called in the job child once it joined the sandbox's namespaces, while
 * it still holds every capability there.  It allocates nothing. */
int
sup_restrict_job (const NsSandboxConfig *cfg, const NsJobUser *user, bool in_userns, NsError *err)
{
	cap_value_t last = cap_max_bits () - 1;
	struct rlimit fsize = { cfg->max_output, cfg->max_output };
	uint64_t held = 0, granted;
	int r;

	/* Nothing outside the kept set can come back, even through a file
	 * capability or a setuid binary. */
	for (cap_value_t c = 0; c <= last; c++)
		if (!kept (cfg->caps, c) && prctl (PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return ns_error (err, errno, "caps: drop %d from the bounding set: %s", c, strerror (errno));
	if (prctl (PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return ns_error (err, errno, "caps: keepcaps: %s", strerror (errno));
	if ((r = sup_drop_to_job_user (cfg, user, in_userns, err)) < 0)
		return r;

	/* What the process holds now bounds what it can keep: a host root
	 * may itself run with a reduced set. */
	if ((r = caps_get (&held)) < 0)
		return ns_error (err, -r, "caps: get: %s", strerror (-r));
	granted = held & cfg->caps & (last >= 63 ? UINT64_MAX : ((uint64_t) 1 << (last + 1)) - 1);
	if ((r = caps_set_all (granted)) < 0)
		return ns_error (err, -r, "caps: set: %s", strerror (-r));
	/* Ambient capabilities carry the set across execve for a job that is
	 * not uid 0 in its namespace; for uid 0 the bounding set decides. */
	if (getuid () != 0) {
		for (cap_value_t c = 0; c <= last; c++)
			if (kept (granted, c) && prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
				return ns_error (err, errno, "caps: ambient %d: %s", c, strerror (errno));
	}
	/* The output limit: the job's files (its stdout and stderr among
	 * them) cannot grow past max_output. */
	if (cfg->max_output && setrlimit (RLIMIT_FSIZE, &fsize) < 0)
		return ns_error (err, errno, "output limit: %s", strerror (errno));
	return 0;
}
