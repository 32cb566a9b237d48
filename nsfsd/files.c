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
#include "mounts.h"
#include "net.h"
#include "network.h"
#include "resources.h"
#include "names.h"
#include "nstypes.h"
#include "writes.h"

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

/* A ctl write in progress: its directives, the next one to run, and the
 * namespace set to put back if a later directive fails. */
typedef struct {
	NsCtlScript script;
	size_t next;
	unsigned long old_ns;
	bool ns_changed;
} CtlRun;

/* A write whose later directive failed (`ns ...` then a `start` that
 * could not start) must not leave its `ns` line behind: the set goes back
 * to what it was, unless the sandbox runs with the new one by now.
 * Actions already taken (start, stop, kill, pin) cannot be taken back. */
static void
restore_ns_set (Sandbox *sb, unsigned long ns)
{
	NsSandboxConfig *c;
	NsError ignored;

	if (sandbox_is_running (sb))
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

static int ctl_continue (WriteOp *op);

static int
ctl_failed (WriteOp *op, int r)
{
	CtlRun *run = op->state;

	ns_ctl_error_at (&op->err, run->script.cmd[run->next].line);
	if (run->ns_changed)
		restore_ns_set (op->sb, run->old_ns);
	return r;
}

/* A directive's answer from the supervisor. */
static int
ctl_answered (WriteOp *op, int r, char **reply)
{
	CtlRun *run = op->state;
	NsCtlVerb verb = run->script.cmd[run->next].verb;

	if (r < 0)
		return ctl_failed (op, r);
	if (verb == NS_CTL_PIN || verb == NS_CTL_UNPIN)
		sandbox_set_pinned (op->sb, reply[1]);
	run->next++;
	return ctl_continue (op);
}

static int
run_directive (WriteOp *op, const NsCtlCmd *cmd)
{
	Sandbox *sb = op->sb;
	char sig[16];

	switch (cmd->verb) {
	case NS_CTL_NS: {
		NsSandboxConfig *c;
		/* Foreseen by store_ctl's check; kept as the last word, since
		 * a running init's configuration must never change under it. */
		if (sandbox_is_running (sb))
			return ns_busy_while_running (&op->err);
		c = sandbox_copy_config (sb);
		c->ns = cmd->ns_set;
		return sandbox_commit_config (sb, c, &op->err);
	}
	case NS_CTL_START:
		if (sandbox_is_running (sb))
			return 0;
		return op_call (op, (char *[]) { "start", NULL }, ctl_answered);
	case NS_CTL_STOP:
		return op_call (op, (char *[]) { "stop", NULL }, ctl_answered);
	case NS_CTL_KILL:
		snprintf (sig, sizeof sig, "%d", cmd->signo);
		return op_call (op, (char *[]) { "kill", sig, NULL }, ctl_answered);
	case NS_CTL_PIN:
		return op_call (op, (char *[]) { "pin", NULL }, ctl_answered);
	case NS_CTL_UNPIN:
		return op_call (op, (char *[]) { "unpin", NULL }, ctl_answered);
	}
	return 0;
}

/* Run the directives from run->next on, until one waits or all ran. */
static int
ctl_continue (WriteOp *op)
{
	CtlRun *run = op->state;

	while (run->next < run->script.n) {
		const NsCtlCmd *cmd = &run->script.cmd[run->next];
		int r = run_directive (op, cmd);
		if (r == OP_PENDING)
			return r;
		if (r < 0)
			return ctl_failed (op, r);
		run->ns_changed |= cmd->verb == NS_CTL_NS;
		run->next++;
	}
	return 0;
}

static int
store_ctl (WriteOp *op)
{
	Sandbox *sb = op->sb;
	CtlRun *run = g_new0 (CtlRun, 1);
	bool running;
	int r;

	op->state = run;
	op->state_free = g_free;
	if ((r = ns_ctl_parse (op->buf, op->len, &run->script, &op->err)) < 0)
		return r;
	/* Check every directive first, against the state the directives
	 * before it will have left (`start` then `ns` is refused whole). */
	running = sandbox_is_running (sb);
	for (size_t i = 0; i < run->script.n; i++) {
		const NsCtlCmd *cmd = &run->script.cmd[i];
		if (cmd->verb == NS_CTL_START || cmd->verb == NS_CTL_STOP)
			running = cmd->verb == NS_CTL_START;
		if (cmd->verb != NS_CTL_NS)
			continue;
		if (running)
			r = ns_busy_while_running (&op->err);
		else {
			g_mutex_lock (&sb->lock);
			r = check_ns_allowed (sb->cfg, cmd->ns_set, &op->err);
			g_mutex_unlock (&sb->lock);
		}
		if (r < 0) {
			ns_ctl_error_at (&op->err, cmd->line);
			return r;
		}
	}
	g_mutex_lock (&sb->lock);
	run->old_ns = sb->cfg->ns;
	g_mutex_unlock (&sb->lock);
	return ctl_continue (op);
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
store_map (WriteOp *op, bool is_uid)
{
	const char *what = is_uid ? "uid_map" : "gid_map";
	g_autofree NsIdMap *map = g_new0 (NsIdMap, 1);
	Sandbox *sb = op->sb;
	NsError *err = &op->err;
	NsSandboxConfig *c;
	int r;

	if ((r = ns_idmap_parse (op->buf, op->len, what, map, err)) < 0)
		return r;
	if (sandbox_is_running (sb))
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
		g_free (c->uid_map);
		c->uid_map = g_steal_pointer (&map);
	} else {
		g_free (c->gid_map);
		c->gid_map = g_steal_pointer (&map);
	}
	return sandbox_commit_config (sb, c, err);
}

static int
store_uid_map (WriteOp *op)
{
	return store_map (op, true);
}

static int
store_gid_map (WriteOp *op)
{
	return store_map (op, false);
}

/* --- hostname, caps: saved, then told to a live supervisor ---------------- */

/* A value saved, then told to the supervisor: the configuration to put
 * back if the supervisor refuses it, and the request that tells it the
 * old value again. */
typedef struct {
	NsSandboxConfig *old;
	char **undo;
} Told;

static void
told_free (Told *t)
{
	ns_config_free (t->old);
	g_strfreev (t->undo);
	g_free (t);
}

static void
ignore_answer (gpointer data, int r, char **reply, const NsError *err)
{
}

static int
told_supervisor (WriteOp *op, int r, char **reply)
{
	Told *t = op->state;
	NsError ignored;

	if (r == 0)
		return 0;
	if (sandbox_commit_config (op->sb, g_steal_pointer (&t->old), &ignored) < 0)
		g_warning ("%s: cannot put the old value back: %s", op->sb->name, ignored.msg);
	/* A supervisor that did not answer in time may still apply the new
	 * value when it gets to it: the old one, asked for after it, is what
	 * it ends with. */
	if (r == -ETIMEDOUT && sandbox_call_if_connected (op->sb, t->undo, ignore_answer, NULL, &ignored) < 0)
		g_warning ("%s: cannot tell the supervisor the old value: %s", op->sb->name, ignored.msg);
	return r;
}

/* Save C (taking it) and tell a live supervisor FIELDS; a refusal puts
 * the old value back (UNDO tells it to the supervisor).  ONLY_RUNNING:
 * only a running sandbox is told. */
static int
save_and_tell (WriteOp *op, NsSandboxConfig *c, char *const *fields, char *const *undo, bool only_running)
{
	Told *t = g_new0 (Told, 1);
	int r;

	t->old = sandbox_copy_config (op->sb);
	t->undo = g_strdupv ((char **) undo);
	op->state = t;
	op->state_free = (GDestroyNotify) told_free;
	if ((r = sandbox_commit_config (op->sb, c, &op->err)) < 0)
		return r;
	if (only_running && !sandbox_is_running (op->sb))
		r = 0;
	else
		/* A supervisor not started yet reads the saved configuration. */
		r = op_call_if_connected (op, fields, told_supervisor);
	if (r < 0)
		return told_supervisor (op, r, NULL);
	return r;
}

static void
show_hostname (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *h = ns_config_hostname (sb->cfg);
	g_string_append_printf (out, "%s\n", h);
}

static int
store_hostname (WriteOp *op)
{
	g_autofree char *value = NULL, *old = NULL;
	NsSandboxConfig *c;
	int r;

	if ((r = ns_value_line (op->buf, op->len, "hostname", &value, &op->err)) < 0)
		return r;
	if ((r = ns_hostname_check (value, &op->err)) < 0)
		return r;
	g_mutex_lock (&op->sb->lock);
	old = ns_config_hostname (op->sb->cfg);
	g_mutex_unlock (&op->sb->lock);
	c = sandbox_copy_config (op->sb);
	g_free (c->hostname);
	c->hostname = g_strdup (value);
	return save_and_tell (op, c, (char *[]) { "hostname", value, NULL }, (char *[]) { "hostname", old, NULL }, true);
}

static void
show_caps (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *text = ns_caps_format (sb->cfg->caps);
	g_string_append_printf (out, "%s\n", text);
}

static int
store_caps (WriteOp *op)
{
	g_autofree char *text = NULL, *old = NULL;
	NsSandboxConfig *c;
	uint64_t keep;
	int r;

	if ((r = ns_caps_parse (op->buf, op->len, &keep, &op->err)) < 0)
		return r;
	c = sandbox_copy_config (op->sb);
	old = ns_caps_format (c->caps);
	c->caps = keep;
	text = ns_caps_format (keep);
	return save_and_tell (op, c, (char *[]) { "caps", text, NULL }, (char *[]) { "caps", old, NULL }, false);
}

/* --- rootfs ------------------------------------------------------------- */

static void
show_rootfs (Sandbox *sb, Job *job, GString *out)
{
	if (sb->cfg->rootfs[0])
		g_string_append_printf (out, "%s\n", sb->cfg->rootfs);
}

static int
commit_rootfs (Sandbox *sb, const char *value, NsError *err)
{
	NsSandboxConfig *c = sandbox_copy_config (sb);

	g_free (c->rootfs);
	c->rootfs = g_strdup (value);
	return sandbox_commit_config (sb, c, err);
}

static int
rootfs_checked (WriteOp *op, int r, char **reply)
{
	return r < 0 ? r : commit_rootfs (op->sb, op->state, &op->err);
}

static int
store_rootfs (WriteOp *op)
{
	g_autofree char *value = NULL;
	int r;

	if ((r = ns_value_line (op->buf, op->len, "rootfs", &value, &op->err)) < 0)
		return r;
	if ((r = ns_rootfs_path_check (value, &op->err)) < 0)
		return r;
	if (sandbox_is_running (op->sb))
		return ns_error (&op->err, EBUSY, "rootfs: cannot change the root of a running sandbox (stop it first)");
	if (!value[0])
		return commit_rootfs (op->sb, value, &op->err);
	op->state = g_steal_pointer (&value);
	op->state_free = g_free;
	/* The supervisor looks, with the owner's own credentials (it may
	 * change identity; nsfsd may not): a look as root would tell the
	 * owner whether a path exists where it cannot see, and nsfsd never
	 * touches a path a user names (it may be on a file system of the
	 * user's that never answers). */
	return op_call (op, (char *[]) { "check-rootfs", op->state, NULL }, rootfs_checked);
}

static int
restore_rootfs (Sandbox *sb, const char *text, size_t len, NsError *err)
{
	g_autofree char *value = g_strndup (text, len);

	return commit_rootfs (sb, g_strchomp (value), err);
}

/* --- mounts ------------------------------------------------------------- */

static void
show_mounts (Sandbox *sb, Job *job, GString *out)
{
	g_string_append (out, sb->cfg->mounts);
}

static int
commit_mounts (Sandbox *sb, const char *text, NsError *err)
{
	NsSandboxConfig *c = sandbox_copy_config (sb);

	g_free (c->mounts);
	c->mounts = g_strdup (text);
	return sandbox_commit_config (sb, c, err);
}

static int
mounts_sources_checked (WriteOp *op, int r, char **reply)
{
	g_autofree char *text = NULL;

	if (r < 0)
		return r;
	text = ns_mounts_format (op->state);
	return commit_mounts (op->sb, text, &op->err);
}

static void
mounts_free (gpointer list)
{
	ns_mounts_clear (list);
	g_free (list);
}

static int
store_mounts (WriteOp *op)
{
	NsMountList *list = g_new0 (NsMountList, 1);
	g_autoptr (GPtrArray) req = g_ptr_array_new_with_free_func (g_free);
	int r;

	op->state = list;
	op->state_free = mounts_free;
	if ((r = ns_mounts_parse (op->buf, op->len, list, &op->err)) < 0)
		return r;
	if (sandbox_is_running (op->sb))
		return ns_error (&op->err, EBUSY, "mounts: cannot change the mounts of a running sandbox (stop it first)");
	/* The binds' sources, as their owner sees them (as for rootfs: never
	 * looked at as root, never by nsfsd), in one request. */
	g_ptr_array_add (req, g_strdup ("check-sources"));
	for (size_t i = 0; i < list->n; i++) {
		if (list->m[i].kind != NS_MOUNT_BIND)
			continue;
		g_ptr_array_add (req, g_strdup_printf ("%zu", list->m[i].line));
		g_ptr_array_add (req, g_strdup (list->m[i].src));
	}
	if (req->len == 1)
		return mounts_sources_checked (op, 0, NULL);
	g_ptr_array_add (req, NULL);
	return op_call (op, (char *const *) req->pdata, mounts_sources_checked);
}

static int
restore_mounts (Sandbox *sb, const char *text, size_t len, NsError *err)
{
	g_autofree char *value = g_strndup (text, len);

	return commit_mounts (sb, value, err);
}

/* --- net, ports ------------------------------------------------------------ */

static void
show_net (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *text = ns_net_format (&sb->cfg->net);

	/* While running: the address in use, leased or written. */
	if (sb->state == SB_RUNNING && sb->cfg->net.mode == NS_NET_VETH && sb->cfg->net_addr) {
		g_autofree char *addr = ns_ipv4_format (sb->cfg->net_addr, sb->cfg->net_prefix);
		g_string_append_printf (out, "veth %s\n", addr);
		return;
	}
	g_string_append_printf (out, "%s\n", text);
}

static int
store_net (WriteOp *op)
{
	NsSandboxConfig *c = NULL;
	NsNetSpec spec;
	bool none;
	int r;

	if ((r = ns_net_parse (op->buf, op->len, &spec, &op->err)) < 0)
		return r;
	if (sandbox_is_running (op->sb))
		return ns_error (&op->err, EBUSY, "net: cannot change the network of a running sandbox (stop it first)");
	network_lock ();
	r = network_lease (op->sb, &spec, &c, &op->err);
	if (r == 0)
		r = sandbox_commit_config (op->sb, c, &op->err);
	network_unlock ();
	none = spec.mode == NS_NET_NONE;
	if (r == 0 && none)
		network_release_if_unused ();
	return r;
}

static void
show_ports (Sandbox *sb, Job *job, GString *out)
{
	g_string_append (out, sb->cfg->ports);
}

static int
commit_ports (Sandbox *sb, const char *text, NsError *err)
{
	NsSandboxConfig *c = sandbox_copy_config (sb);

	g_free (c->ports);
	c->ports = g_strdup (text);
	return sandbox_commit_config (sb, c, err);
}

static int
store_ports (WriteOp *op)
{
	g_autofree NsPortList *list = g_new0 (NsPortList, 1);
	g_autofree char *text = NULL;
	int r;

	if ((r = ns_ports_parse (op->buf, op->len, list, &op->err)) < 0)
		return r;
	if (sandbox_is_running (op->sb))
		return ns_error (&op->err, EBUSY, "ports: cannot change the forwards of a running sandbox (stop it first)");
	text = ns_ports_format (list);
	network_lock ();
	r = network_check_ports (op->sb, list, &op->err);
	if (r == 0)
		r = commit_ports (op->sb, text, &op->err);
	network_unlock ();
	return r;
}

static int
restore_ports (Sandbox *sb, const char *text, size_t len, NsError *err)
{
	g_autofree char *value = g_strndup (text, len);

	return commit_ports (sb, value, err);
}

/* --- memory.max, pids.max, cpu.max, stats ------------------------------------ */

static void
show_memory_max (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *t = ns_limit_format (sb->cfg->limits.memory_max);
	g_string_append_printf (out, "%s\n", t);
}

static void
show_pids_max (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *t = ns_limit_format (sb->cfg->limits.pids_max);
	g_string_append_printf (out, "%s\n", t);
}

static void
show_cpu_max (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *t = ns_cpu_max_format (sb->cfg->limits.cpu_quota, sb->cfg->limits.cpu_period);
	g_string_append_printf (out, "%s\n", t);
}

static void
show_stats (Sandbox *sb, Job *job, GString *out)
{
	resources_show_stats (sb, out);
}

/* A new value of one limit: checked whole (syntax, this host, the
 * owner's ceiling), saved, and applied at once to a running sandbox (its
 * supervisor writes the cgroup files). */
static int
store_limit (WriteOp *op, NsLimitKind kind)
{
	NsSandboxConfig *c = sandbox_copy_config (op->sb);
	g_autofree char *mem = NULL, *pids = NULL, *cpu = NULL;
	g_autofree char *old_mem = NULL, *old_pids = NULL, *old_cpu = NULL;
	NsLimits l = c->limits;
	int r;

	switch (kind) {
	case NS_LIMIT_MEMORY: r = ns_memory_max_parse (op->buf, op->len, &l.memory_max, &op->err); break;
	case NS_LIMIT_PIDS: r = ns_pids_max_parse (op->buf, op->len, &l.pids_max, &op->err); break;
	default: r = ns_cpu_max_parse (op->buf, op->len, &l.cpu_quota, &l.cpu_period, &op->err); break;
	}
	if (r == 0)
		r = resources_check_supported (kind, &l, &op->err);
	if (r == 0)
		r = resources_check_ceiling (op->sb->owner, kind, &l, &op->err);
	if (r < 0) {
		ns_config_free (c);
		return r;
	}
	old_mem = ns_limit_format (c->limits.memory_max);
	old_pids = ns_limit_format (c->limits.pids_max);
	old_cpu = ns_cpu_max_format (c->limits.cpu_quota, c->limits.cpu_period);
	c->limits = l;
	mem = ns_limit_format (l.memory_max);
	pids = ns_limit_format (l.pids_max);
	cpu = ns_cpu_max_format (l.cpu_quota, l.cpu_period);
	return save_and_tell (op, c, (char *[]) { "limits", mem, pids, cpu, NULL },
	                      (char *[]) { "limits", old_mem, old_pids, old_cpu, NULL }, true);
}

static int
store_memory_max (WriteOp *op)
{
	return store_limit (op, NS_LIMIT_MEMORY);
}

static int
store_pids_max (WriteOp *op)
{
	return store_limit (op, NS_LIMIT_PIDS);
}

static int
store_cpu_max (WriteOp *op)
{
	return store_limit (op, NS_LIMIT_CPU);
}

/* --- env, cwd, user ----------------------------------------------------- */

static void
show_env (Sandbox *sb, Job *job, GString *out)
{
	g_string_append (out, sb->cfg->env);
}

static void
show_cwd (Sandbox *sb, Job *job, GString *out)
{
	g_string_append_printf (out, "%s\n", sb->cfg->cwd[0] ? sb->cfg->cwd : "/");
}

static void
show_user (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *u = ns_user_format (&sb->cfg->user);
	if (u[0])
		g_string_append_printf (out, "%s\n", u);
}

/* C replaces the configuration; later jobs of a running sandbox take it
 * from there (the supervisor reads it again). */
static int
save_job_settings (WriteOp *op, NsSandboxConfig *c)
{
	char *reload[] = { "job-settings", NULL };

	return save_and_tell (op, c, reload, reload, true);
}

static int
store_env (WriteOp *op)
{
	NsSandboxConfig *c;
	char *env = NULL;
	int r;

	if ((r = ns_env_parse (op->buf, op->len, &env, &op->err)) < 0)
		return r;
	c = sandbox_copy_config (op->sb);
	g_free (c->env);
	c->env = env;
	return save_job_settings (op, c);
}

static int
store_cwd (WriteOp *op)
{
	NsSandboxConfig *c;
	char *cwd = NULL;
	int r;

	if ((r = ns_cwd_parse (op->buf, op->len, &cwd, &op->err)) < 0)
		return r;
	c = sandbox_copy_config (op->sb);
	g_free (c->cwd);
	/* "/" is the default, and reads back as such. */
	c->cwd = strcmp (cwd, "/") == 0 ? (g_free (cwd), g_strdup ("")) : cwd;
	return save_job_settings (op, c);
}

static int
store_user (WriteOp *op)
{
	NsSandboxConfig *c = sandbox_copy_config (op->sb);
	NsIdMap scratch;
	uint32_t outside;
	NsJobUser u;
	int r;

	if ((r = ns_user_parse (op->buf, op->len, &u, &op->err)) < 0) {
		ns_config_free (c);
		return r;
	}
	if (u.set && !(c->ns & CLONE_NEWUSER) && c->owner_uid != 0)
		r = ns_error (&op->err, EPERM, "user: without a user namespace only root's sandboxes may run jobs as others");
	else if (u.set && (c->ns & CLONE_NEWUSER) && !ns_idmap_to_outside (ns_config_uid_map (c, &scratch), u.uid, &outside))
		r = ns_error (&op->err, EINVAL, "user: uid %u is not mapped in the sandbox's user namespace (uid_map)", u.uid);
	else if (u.set && u.gid_set && (c->ns & CLONE_NEWUSER) && !ns_idmap_to_outside (ns_config_gid_map (c, &scratch), u.gid, &outside))
		r = ns_error (&op->err, EINVAL, "user: gid %u is not mapped in the sandbox's user namespace (gid_map)", u.gid);
	if (r < 0) {
		ns_config_free (c);
		return r;
	}
	c->user = u;
	return save_job_settings (op, c);
}

static void
show_stdin (Sandbox *sb, Job *job, GString *out)
{
	g_autofree char *t = ns_stdin_format (&sb->cfg->stdin_mode);
	g_string_append_printf (out, "%s\n", t);
}

static int
store_stdin (WriteOp *op)
{
	NsSandboxConfig *c;
	NsStdin in;
	int r;

	if ((r = ns_stdin_parse (op->buf, op->len, &in, &op->err)) < 0)
		return r;
	c = sandbox_copy_config (op->sb);
	c->stdin_mode = in;
	return save_job_settings (op, c);
}

static int
restore_env (Sandbox *sb, const char *text, size_t len, NsError *err)
{
	NsSandboxConfig *c = sandbox_copy_config (sb);

	g_free (c->env);
	c->env = g_strndup (text, len);
	return sandbox_commit_config (sb, c, err);
}

static int
restore_user (Sandbox *sb, const char *text, size_t len, NsError *err)
{
	NsSandboxConfig *c = sandbox_copy_config (sb);

	if (ns_user_parse (text, len, &c->user, err) < 0) {
		ns_config_free (c);
		return -err->code;
	}
	return sandbox_commit_config (sb, c, err);
}

/* --- exec --------------------------------------------------------------- */

/* An exec in progress: the job id it asked for, and how many ids it
 * found taken by jobs whose answers were lost (sandbox_exec_end). */
typedef struct {
	unsigned id;
	unsigned tries;
} ExecRun;

static int exec_ask (WriteOp *op);

static int
exec_answered (WriteOp *op, int r, char **reply)
{
	ExecRun *run = op->state;
	FileHandle *fh = op->fh;

	if (sandbox_exec_end (op->sb, run->id, r, reply) && ++run->tries < 8)
		/* A job nobody heard of had the id: the next one is free
		 * unless more answers were lost. */
		return exec_ask (op);
	if (r < 0)
		return r;
	g_mutex_lock (&fh->lock);
	fh->started_job = run->id;
	fh->id_read_pos = 0;
	g_mutex_unlock (&fh->lock);
	return 0;
}

static int
exec_ask (WriteOp *op)
{
	ExecRun *run = op->state;
	char id[16];
	int r;

	if ((r = sandbox_exec_begin (op->sb, op->buf, &run->id, &op->err)) < 0)
		return r;
	snprintf (id, sizeof id, "%u", run->id);
	r = op_call (op, (char *[]) { "exec", id, op->buf, NULL }, exec_answered);
	if (r < 0)
		sandbox_exec_end (op->sb, run->id, r, NULL);
	return r;
}

static int
store_exec (WriteOp *op)
{
	g_auto (GStrv) argv = NULL;
	int r;

	if ((r = ns_cmdline_parse (op->buf, op->len, &argv, &op->err)) < 0)
		return r;
	/* The line travels as written (op->buf ends in a NUL of its own). */
	op->state = g_new0 (ExecRun, 1);
	op->state_free = g_free;
	return exec_ask (op);
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

/* --- jobs/<id>/stdin ------------------------------------------------------ */

static void
show_nothing (Sandbox *sb, Job *job, GString *out)
{
}

/* Never called: writes to it bypass the queue (ops.c); a row with a
 * store is what makes it writable. */
static int
store_job_stdin (WriteOp *op)
{
	return ns_error (&op->err, EIO, "stdin: written through the wrong path");
}

bool
job_node_visible (const Job *job, unsigned node)
{
	switch (node) {
	case JOB_NODE_STDIN: return job->stdin_pipe || job->tty;
	case JOB_NODE_WINSIZE:
	case JOB_NODE_CONSOLE: return job->tty;
	default: return true;
	}
}

static void
show_winsize (Sandbox *sb, Job *job, GString *out)
{
	g_string_append_printf (out, "%u %u\n", job->rows, job->cols);
}

typedef struct {
	unsigned id, rows, cols;
} Resize;

static int
winsize_told (WriteOp *op, int r, char **reply)
{
	Resize *rs = op->state;
	Job *job;

	if (r < 0)
		return r;
	g_mutex_lock (&op->sb->lock);
	job = sandbox_job_locked (op->sb, rs->id);
	if (job) {
		job->rows = rs->rows;
		job->cols = rs->cols;
	}
	g_mutex_unlock (&op->sb->lock);
	return 0;
}

/* ROWS COLS: the terminal's new size; the job gets SIGWINCH. */
static int
store_winsize (WriteOp *op)
{
	g_autofree char *line = g_strconcat ("tty ", op->buf, NULL);
	Resize *rs = g_new0 (Resize, 1);
	char id[16], rows[16], cols[16];
	NsStdin in;
	int r;

	op->state = rs;
	op->state_free = g_free;
	if ((r = ns_stdin_parse (line, strlen (line), &in, &op->err)) < 0 || !strchr (g_strstrip (op->buf), ' '))
		return ns_error (&op->err, EINVAL, "winsize: ROWS COLS, numbers from 1 to 65535");
	*rs = (Resize) { op->fh->job_id, in.rows, in.cols };
	snprintf (id, sizeof id, "%u", rs->id);
	snprintf (rows, sizeof rows, "%u", in.rows);
	snprintf (cols, sizeof cols, "%u", in.cols);
	return op_call (op, (char *[]) { "winsize", id, rows, cols, NULL }, winsize_told);
}

/* Job rows' links need the job: only console is one. */
static char *
link_console (Sandbox *sb, unsigned node)
{
	return NULL;
}

char *
node_link_target (Sandbox *sb, const NodeSpec *spec, unsigned node, unsigned job_id)
{
	if (job_id && spec == &job_nodes[JOB_NODE_CONSOLE])
		return sandbox_console_path (sb, job_id);
	return spec->link (sb, node);
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
	                     .truncate_empties = true, .restore = restore_rootfs },
	[SB_NODE_CAPS] = { "caps", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_caps, store_caps },
	[SB_NODE_MOUNTS] = { "mounts", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_mounts, store_mounts,
	                     .truncate_empties = true, .restore = restore_mounts },
	[SB_NODE_NET] = { "net", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_net, store_net },
	[SB_NODE_MEMORY_MAX] = { "memory.max", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_memory_max, store_memory_max },
	[SB_NODE_PIDS_MAX] = { "pids.max", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_pids_max, store_pids_max },
	[SB_NODE_CPU_MAX] = { "cpu.max", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_cpu_max, store_cpu_max },
	[SB_NODE_STATS] = { "stats", SB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_stats },
	[SB_NODE_ENV] = { "env", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_env, store_env,
	                  .truncate_empties = true, .restore = restore_env },
	[SB_NODE_EVENTS] = { "events", SB_NODE_DIR, S_IFREG | 0444, READ_EVENTS },
	[SB_NODE_STDIN] = { "stdin", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_stdin, store_stdin },
	[SB_NODE_CWD] = { "cwd", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_cwd, store_cwd },
	[SB_NODE_USER] = { "user", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_user, store_user,
	                   .truncate_empties = true, .restore = restore_user },
	[SB_NODE_PORTS] = { "ports", SB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_ports, store_ports,
	                    .truncate_empties = true, .restore = restore_ports },
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

G_STATIC_ASSERT (SB_NODE_COUNT <= SANDBOX_FILES_MAX);

bool
sandbox_node_is_config (const NodeSpec *spec)
{
	return spec >= sandbox_nodes && spec < sandbox_nodes + SB_NODE_COUNT && spec->store &&
	       spec->read == READ_SNAPSHOT;
}

const NodeSpec top_events_node = { .name = ".events", .parent = -1, .mode = S_IFREG | 0444, .read = READ_EVENTS };

const NodeSpec job_nodes[JOB_NODE_COUNT] = {
	[JOB_NODE_DIR] = { "", -1, S_IFDIR | 0755 },
	[JOB_NODE_CMD] = { "cmd", JOB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_job_cmd },
	[JOB_NODE_PID] = { "pid", JOB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_job_pid },
	[JOB_NODE_STATUS] = { "status", JOB_NODE_DIR, S_IFREG | 0444, READ_SNAPSHOT, show_job_status },
	[JOB_NODE_WAIT] = { "wait", JOB_NODE_DIR, S_IFREG | 0444, READ_WAIT, show_job_status },
	[JOB_NODE_STDOUT] = { "stdout", JOB_NODE_DIR, S_IFREG | 0400, READ_OUTPUT, .output = "stdout" },
	[JOB_NODE_STDERR] = { "stderr", JOB_NODE_DIR, S_IFREG | 0400, READ_OUTPUT, .output = "stderr" },
	/* Written by the FUSE write itself (job_stdin.c), not the sandbox's
	 * queue of writes: a full pipe must not hold up its configuration. */
	[JOB_NODE_STDIN] = { "stdin", JOB_NODE_DIR, S_IFREG | 0200, READ_SNAPSHOT, show_nothing, store_job_stdin },
	[JOB_NODE_WINSIZE] = { "winsize", JOB_NODE_DIR, S_IFREG | 0644, READ_SNAPSHOT, show_winsize, store_winsize },
	[JOB_NODE_CONSOLE] = { "console", JOB_NODE_DIR, S_IFLNK | 0777, .link = link_console },
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
