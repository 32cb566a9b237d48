/* The rows of the sandbox and job tables and their show/store handlers.
 * A new control file is one row here plus its handlers. */
#include "files.h"

#include <errno.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "caps.h"
#include "cmdline.h"
#include "ctl.h"
#include "idmap.h"
#include "names.h"
#include "nstypes.h"

static const char *
state_name (SbState st)
{
	switch (st) {
	case SB_CREATED: return "created";
	case SB_RUNNING: return "running";
	case SB_STOPPED: return "stopped";
	}
	return "unknown";
}

static bool
is_running (Sandbox *sb)
{
	bool running;
	g_mutex_lock (&sb->lock);
	running = sb->state == SB_RUNNING;
	g_mutex_unlock (&sb->lock);
	return running;
}

/* --- ctl ---------------------------------------------------------------- */

static void
show_ctl (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *set = ns_set_format (sb->cfg->ns);
	g_string_append_printf (out, "ns %s\n", set);
}

static int
check_ns_allowed (const NsSandboxConfig *cfg, unsigned long set, NsError *err)
{
	if (cfg->owner_uid != 0 && !(set & CLONE_NEWUSER))
		return ns_error (err, EPERM, "ns: a sandbox of a non-root owner always has a user namespace");
	return 0;
}

static int
ns_busy_while_running (NsError *err)
{
	return ns_error (err, EBUSY, "ns: cannot change the namespaces of a running sandbox (stop it first)");
}

static int
run_directive (Sandbox *sb, const NsCtlCmd *cmd, NsError *err)
{
	switch (cmd->verb) {
	case NS_CTL_NS: {
		NsSandboxConfig *c;
		/* Foreseen by store_ctl's check; kept as the last word, since
		 * a running init's configuration must never change under it. */
		if (is_running (sb))
			return ns_busy_while_running (err);
		c = sandbox_copy_config (sb);
		c->ns = cmd->ns_set;
		return sandbox_commit_config (sb, c, err);
	}
	case NS_CTL_START:
		return is_running (sb) ? 0 : sandbox_start (sb, err);
	case NS_CTL_STOP:
		return sandbox_stop (sb, err);
	case NS_CTL_KILL:
		return sandbox_kill (sb, cmd->signo, err);
	case NS_CTL_PIN:
	case NS_CTL_UNPIN:
		return sandbox_pin (sb, cmd->verb == NS_CTL_PIN, err);
	}
	return 0;
}

/* A write whose later directive failed (`ns ...` then a `start` that
 * could not start) must not leave its `ns` line behind: the set goes back
 * to what it was, unless the sandbox runs with the new one by now.
 * Actions already taken (start, stop, kill, pin) cannot be taken back. */
static void
restore_ns_set (Sandbox *sb, unsigned long ns)
{
	NsSandboxConfig *c;
	NsError ignored;

	if (is_running (sb))
		return;
	c = sandbox_copy_config (sb);
	if (c->ns == ns) {
		ns_config_free (c);
		return;
	}
	c->ns = ns;
	if (sandbox_commit_config (sb, c, &ignored) < 0)
		g_warning ("%s: cannot restore the namespace set: %s", sb->name, ignored.msg);
}

static int
store_ctl (Sandbox *sb, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	NsCtlScript script;
	unsigned long old_ns;
	bool ns_changed = false, running;
	int r;

	if ((r = ns_ctl_parse (buf, len, &script, err)) < 0)
		return r;
	/* Check every directive first, against the state the directives
	 * before it will have left (`start` then `ns` is refused whole). */
	running = is_running (sb);
	for (size_t i = 0; i < script.n; i++) {
		if (script.cmd[i].verb == NS_CTL_START || script.cmd[i].verb == NS_CTL_STOP)
			running = script.cmd[i].verb == NS_CTL_START;
		if (script.cmd[i].verb != NS_CTL_NS)
			continue;
		if (running)
			r = ns_busy_while_running (err);
		else {
			g_mutex_lock (&sb->lock);
			r = check_ns_allowed (sb->cfg, script.cmd[i].ns_set, err);
			g_mutex_unlock (&sb->lock);
		}
		if (r < 0) {
			ns_ctl_error_at (err, script.cmd[i].line);
			return r;
		}
	}
	g_mutex_lock (&sb->lock);
	old_ns = sb->cfg->ns;
	g_mutex_unlock (&sb->lock);
	for (size_t i = 0; i < script.n; i++) {
		if ((r = run_directive (sb, &script.cmd[i], err)) < 0) {
			ns_ctl_error_at (err, script.cmd[i].line);
			if (ns_changed)
				restore_ns_set (sb, old_ns);
			return r;
		}
		ns_changed |= script.cmd[i].verb == NS_CTL_NS;
	}
	return 0;
}

/* --- uid_map, gid_map --------------------------------------------------- */

static void
show_uid_map (Sandbox *sb, Job *job, GString *out)
{
	NsIdMap scratch;
	g_autofree char *text = ns_idmap_format (ns_config_uid_map (sb->cfg, &scratch));
	g_string_append (out, text);
}

static void
show_gid_map (Sandbox *sb, Job *job, GString *out)
{
	NsIdMap scratch;
	g_autofree char *text = ns_idmap_format (ns_config_gid_map (sb->cfg, &scratch));
	g_string_append (out, text);
}

/* newuidmap's rule: a non-root owner maps its own id and the ranges that
 * /etc/subuid (/etc/subgid) delegates to it, nothing else. */
static int
check_delegation (const NsIdMap *map, const char *what, const char *subid_file, uint32_t owner_uid,
                  uint32_t own_id, NsError *err)
{
	g_autofree char *content = NULL;
	NsIdDelegation deleg = { 0 };
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];

	getpwuid_r (owner_uid, &pw, pwbuf, sizeof pwbuf, &pwp);
	if (g_file_get_contents (subid_file, &content, NULL, NULL))
		ns_subid_parse (content, pwp ? pwp->pw_name : NULL, owner_uid, &deleg);
	return ns_idmap_check_delegation (map, what, own_id, &deleg, err);
}

static int
store_map (Sandbox *sb, const char *buf, size_t len, bool is_uid, NsError *err)
{
	const char *what = is_uid ? "uid_map" : "gid_map";
	g_autofree NsIdMap *map = g_new0 (NsIdMap, 1);
	NsSandboxConfig *c;
	int r;

	if ((r = ns_idmap_parse (buf, len, what, map, err)) < 0)
		return r;
	if (is_running (sb))
		return ns_error (err, EBUSY, "%s: cannot change the map of a running sandbox (stop it first)", what);
	c = sandbox_copy_config (sb);
	if (c->owner_uid != 0) {
		r = is_uid ? check_delegation (map, what, "/etc/subuid", c->owner_uid, c->owner_uid, err)
		           : check_delegation (map, what, "/etc/subgid", c->owner_uid, c->owner_gid, err);
		if (r < 0) {
			ns_config_free (c);
			return r;
		}
	}
	if (is_uid) {
		c->uid_map = *map;
		c->uid_map_set = true;
	} else {
		c->gid_map = *map;
		c->gid_map_set = true;
	}
	return sandbox_commit_config (sb, c, err);
}

static int
store_uid_map (Sandbox *sb, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	return store_map (sb, buf, len, true, err);
}

static int
store_gid_map (Sandbox *sb, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	return store_map (sb, buf, len, false, err);
}

/* --- hostname ----------------------------------------------------------- */

static void
show_hostname (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *h = ns_config_hostname (sb->cfg);
	g_string_append_printf (out, "%s\n", h);
}

static int
store_hostname (Sandbox *sb, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	g_autofree char *value = NULL;
	NsSandboxConfig *c;
	int r;

	if ((r = ns_value_line (buf, len, "hostname", &value, err)) < 0)
		return r;
	if ((r = ns_hostname_check (value, err)) < 0)
		return r;
	if ((r = sandbox_apply_hostname (sb, value, err)) < 0)
		return r;
	c = sandbox_copy_config (sb);
	g_free (c->hostname);
	c->hostname = g_steal_pointer (&value);
	return sandbox_commit_config (sb, c, err);
}

/* --- rootfs ------------------------------------------------------------- */

static void
show_rootfs (Sandbox *sb, Job *job, GString *out)
{
	if (sb->cfg->rootfs[0])
		g_string_append_printf (out, "%s\n", sb->cfg->rootfs);
}

static int
store_rootfs (Sandbox *sb, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	g_autofree char *value = NULL;
	NsSandboxConfig *c;
	struct stat st;
	int r;

	if ((r = ns_value_line (buf, len, "rootfs", &value, err)) < 0)
		return r;
	if ((r = ns_rootfs_path_check (value, err)) < 0)
		return r;
	if (is_running (sb))
		return ns_error (err, EBUSY, "rootfs: cannot change the root of a running sandbox (stop it first)");
	if (value[0]) {
		if (stat (value, &st) < 0)
			return ns_error (err, errno == ENOENT || errno == ENOTDIR ? ENOENT : errno, "rootfs: %.200s: %s",
			                 value, strerror (errno));
		if (!S_ISDIR (st.st_mode))
			return ns_error (err, EINVAL, "rootfs: %.200s is not a directory", value);
		/* What root can see is not the question: the owner must be able
		 * to read it with its own credentials (checked by the
		 * supervisor, which may change identity; nsfsd may not). */
		if ((r = sandbox_check_rootfs (sb, value, err)) < 0)
			return r;
	}
	c = sandbox_copy_config (sb);
	g_free (c->rootfs);
	c->rootfs = g_steal_pointer (&value);
	return sandbox_commit_config (sb, c, err);
}

/* --- caps ---------------------------------------------------------------- */

static void
show_caps (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *text = ns_caps_format (sb->cfg->caps);
	g_string_append_printf (out, "%s\n", text);
}

static int
store_caps (Sandbox *sb, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	g_autofree char *text = NULL;
	NsSandboxConfig *c;
	uint64_t keep;
	int r;

	if ((r = ns_caps_parse (buf, len, &keep, err)) < 0)
		return r;
	c = sandbox_copy_config (sb);
	c->caps = keep;
	if ((r = sandbox_commit_config (sb, c, err)) < 0)
		return r;
	text = ns_caps_format (keep);
	return sandbox_set_caps (sb, text, err);
}

/* --- exec --------------------------------------------------------------- */

static int
store_exec (Sandbox *sb, FileHandle *fh, const char *buf, size_t len, NsError *err)
{
	g_auto (GStrv) argv = NULL;
	g_autofree char *line = NULL;
	unsigned id;
	int r;

	if ((r = ns_cmdline_parse (buf, len, &argv, err)) < 0)
		return r;
	line = g_strndup (buf, len);
	if ((r = sandbox_exec (sb, line, &id, err)) < 0)
		return r;
	g_mutex_lock (&fh->lock);
	fh->started_job = id;
	fh->id_read_pos = 0;
	g_mutex_unlock (&fh->lock);
	return 0;
}

/* --- status, error ------------------------------------------------------ */

static void
show_status (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *set = ns_set_format (sb->cfg->ns);

	g_string_append_printf (out, "state %s\n", state_name (sb->state));
	if (sb->state == SB_RUNNING)
		g_string_append_printf (out, "pid %d\n", sb->init_pid);
	g_string_append_printf (out, "ns %s\n", set);
	if (sb->pinned) {
		g_autofree char *pinned = ns_set_format (sb->pinned);
		g_string_append_printf (out, "pinned %s\n", pinned);
	}
}

static void
show_error (Sandbox *sb, Job *job, GString *out)
{
	if (sb->error && sb->error[0])
		g_string_append_printf (out, "%s\n", sb->error);
}

/* --- links -------------------------------------------------------------- */

static char *
link_root (Sandbox *sb, unsigned node)
{
	if (sb->state != SB_RUNNING)
		return NULL;
	return g_strdup_printf ("/proc/%d/root", sb->init_pid);
}

/* While running, the init's namespace; otherwise a pinned one. */
static char *
link_ns (Sandbox *sb, unsigned node)
{
	const NsType *t = &ns_types[node - SB_NODE_NS_FIRST];

	if (sb->state == SB_RUNNING && (sb->cfg->ns & t->flag))
		return g_strdup_printf ("/proc/%d/ns/%s", sb->init_pid, t->name);
	if (sb->pinned & t->flag)
		return g_build_filename (sb->dir, "pinned", t->name, NULL);
	return NULL;
}

static char *
link_last (Sandbox *sb, unsigned node)
{
	for (guint i = sb->jobs->len; i > 0; i--) {
		Job *job = sb->jobs->pdata[i - 1];
		if (!job->pending)
			return g_strdup_printf ("jobs/%u", job->id);
	}
	return NULL;
}

/* --- job files ---------------------------------------------------------- */

static void
show_job_cmd (Sandbox *sb, Job *job, GString *out)
{
	g_string_append_printf (out, "%s\n", job->cmd);
}

static void
show_job_pid (Sandbox *sb, Job *job, GString *out)
{
	g_string_append_printf (out, "%d\n", job->pid);
}

static void
show_job_status (Sandbox *sb, Job *job, GString *out)
{
	g_string_append_printf (out, "%s\n", job->status ? job->status : "running");
}

/* --- the tables --------------------------------------------------------- */

#define NS_ROW(i, n, f) \
	[SB_NODE_NS_FIRST + i] = { n, SB_NODE_NS, S_IFLNK | 0777, .link = link_ns, .ns_flag = f }

/* Directories are 0755 although nothing can be made in them: with the
 * kernel's default_permissions check a 0555 directory refused its owner's
 * unlink, rename or mkdir there with EACCES before nsfsd was asked, where
 * the contract promises EPERM for those anywhere (EACCES means "not
 * yours").  Others still get EACCES from the kernel. */
const NodeSpec sandbox_nodes[SB_NODE_COUNT] = {
	[SB_NODE_DIR] = { "", -1, S_IFDIR | 0755 },
	[SB_NODE_CTL] = { "ctl", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_ctl, store_ctl },
	[SB_NODE_UID_MAP] = { "uid_map", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_uid_map, store_uid_map },
	[SB_NODE_GID_MAP] = { "gid_map", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_gid_map, store_gid_map },
	[SB_NODE_HOSTNAME] = { "hostname", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_hostname, store_hostname },
	[SB_NODE_ROOTFS] = { "rootfs", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_rootfs, store_rootfs,
	                     .truncate_empties = true },
	[SB_NODE_CAPS] = { "caps", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_caps, store_caps },
	[SB_NODE_EXEC] = { "exec", SB_NODE_DIR, S_IFREG | 0600, READ_JOB_ID, NULL, store_exec },
	[SB_NODE_STATUS] = { "status", SB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_status },
	[SB_NODE_ERROR] = { "error", SB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_error },
	[SB_NODE_NS] = { "ns", SB_NODE_DIR, S_IFDIR | 0755 },
	[SB_NODE_ROOT] = { "root", SB_NODE_DIR, S_IFLNK | 0777, .link = link_root },
	[SB_NODE_JOBS] = { "jobs", SB_NODE_DIR, S_IFDIR | 0755 },
	[SB_NODE_LAST] = { "last", SB_NODE_DIR, S_IFLNK | 0777, .link = link_last },
	NS_ROW (0, "cgroup", CLONE_NEWCGROUP),
	NS_ROW (1, "ipc", CLONE_NEWIPC),
	NS_ROW (2, "mnt", CLONE_NEWNS),
	NS_ROW (3, "net", CLONE_NEWNET),
	NS_ROW (4, "pid", CLONE_NEWPID),
	NS_ROW (5, "time", 0x00000080 /* CLONE_NEWTIME */),
	NS_ROW (6, "user", CLONE_NEWUSER),
	NS_ROW (7, "uts", CLONE_NEWUTS),
};

const NodeSpec job_nodes[JOB_NODE_COUNT] = {
	[JOB_NODE_DIR] = { "", -1, S_IFDIR | 0755 },
	[JOB_NODE_CMD] = { "cmd", JOB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_job_cmd },
	[JOB_NODE_PID] = { "pid", JOB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_job_pid },
	[JOB_NODE_STATUS] = { "status", JOB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_job_status },
	[JOB_NODE_WAIT] = { "wait", JOB_NODE_DIR, S_IFREG | 0444, READ_WAIT, show_job_status },
	[JOB_NODE_STDOUT] = { "stdout", JOB_NODE_DIR, S_IFREG | 0400, READ_OUTPUT, .output = "stdout" },
	[JOB_NODE_STDERR] = { "stderr", JOB_NODE_DIR, S_IFREG | 0400, READ_OUTPUT, .output = "stderr" },
};

bool
sandbox_node_visible (Sandbox *sb, unsigned node)
{
	const NodeSpec *spec;
	g_autofree char *target = NULL;

	if (node >= SB_NODE_COUNT)
		return false;
	spec = &sandbox_nodes[node];
	if (!S_ISLNK (spec->mode))
		return true;
	target = spec->link (sb, node);
	return target != NULL;
}
