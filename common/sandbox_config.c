#include "sandbox_config.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include "caps.h"
#include "mounts.h"
#include "names.h"
#include "nstypes.h"

#define GROUP "sandbox"

NsSandboxConfig *
ns_config_new (const char *name, uint32_t uid, uint32_t gid)
{
	NsSandboxConfig *c = g_new0 (NsSandboxConfig, 1);
	c->name = g_strdup (name);
	c->owner_uid = uid;
	c->owner_gid = gid;
	c->ns = ns_all_flags ();
	c->rootfs = g_strdup ("");
	c->mounts = g_strdup ("");
	c->ports = g_strdup ("");
	ns_limits_default (&c->limits);
	c->env = g_strdup ("");
	c->cwd = g_strdup ("");
	c->stdin_mode = (NsStdin) { NS_STDIN_NULL, NS_TTY_ROWS_DEFAULT, NS_TTY_COLS_DEFAULT };
	c->caps = ns_caps_all ();
	c->max_output = NS_DEFAULT_MAX_OUTPUT;
	return c;
}

void
ns_config_free (NsSandboxConfig *c)
{
	if (!c)
		return;
	g_free (c->name);
	g_free (c->uid_map);
	g_free (c->gid_map);
	g_free (c->hostname);
	g_free (c->rootfs);
	g_free (c->mounts);
	g_free (c->ports);
	g_free (c->net_bridge);
	g_free (c->env);
	g_free (c->cwd);
	g_free (c);
}

NsSandboxConfig *
ns_config_copy (const NsSandboxConfig *c)
{
	NsSandboxConfig *d = g_memdup2 (c, sizeof *c);
	d->name = g_strdup (c->name);
	d->uid_map = c->uid_map ? g_memdup2 (c->uid_map, sizeof *c->uid_map) : NULL;
	d->gid_map = c->gid_map ? g_memdup2 (c->gid_map, sizeof *c->gid_map) : NULL;
	d->hostname = g_strdup (c->hostname);
	d->rootfs = g_strdup (c->rootfs);
	d->mounts = g_strdup (c->mounts);
	d->ports = g_strdup (c->ports);
	d->net_bridge = g_strdup (c->net_bridge);
	d->env = g_strdup (c->env);
	d->cwd = g_strdup (c->cwd);
	return d;
}

const NsIdMap *
ns_config_uid_map (const NsSandboxConfig *c, NsIdMap *scratch)
{
	if (c->uid_map)
		return c->uid_map;
	ns_idmap_single (scratch, 0, c->owner_uid);
	return scratch;
}

const NsIdMap *
ns_config_gid_map (const NsSandboxConfig *c, NsIdMap *scratch)
{
	if (c->gid_map)
		return c->gid_map;
	ns_idmap_single (scratch, 0, c->owner_gid);
	return scratch;
}

char *
ns_config_hostname (const NsSandboxConfig *c)
{
	if (c->hostname)
		return g_strdup (c->hostname);
	return g_strdelimit (g_strdup (c->name), "_", '-');
}

static void
save_job_settings (GKeyFile *kf, const NsSandboxConfig *c)
{
	g_autofree char *user = ns_user_format (&c->user);

	if (c->env[0])
		g_key_file_set_string (kf, GROUP, "env", c->env);
	if (c->cwd[0])
		g_key_file_set_string (kf, GROUP, "cwd", c->cwd);
	if (user[0])
		g_key_file_set_string (kf, GROUP, "user", user);
	if (c->stdin_mode.mode != NS_STDIN_NULL) {
		g_autofree char *in = ns_stdin_format (&c->stdin_mode);
		g_key_file_set_string (kf, GROUP, "stdin", in);
	}
}

static void
save_limits (GKeyFile *kf, const NsLimits *l)
{
	g_autofree char *mem = ns_limit_format (l->memory_max);
	g_autofree char *pids = ns_limit_format (l->pids_max);
	g_autofree char *cpu = ns_cpu_max_format (l->cpu_quota, l->cpu_period);

	g_key_file_set_string (kf, GROUP, "memory_max", mem);
	g_key_file_set_string (kf, GROUP, "pids_max", pids);
	g_key_file_set_string (kf, GROUP, "cpu_max", cpu);
}

static void
save_net (GKeyFile *kf, const NsSandboxConfig *c)
{
	g_autofree char *net = ns_net_format (&c->net);

	if (c->net.mode != NS_NET_NONE)
		g_key_file_set_string (kf, GROUP, "net", net);
	if (c->net_addr) {
		g_autofree char *addr = ns_ipv4_format (c->net_addr, c->net_prefix);
		g_autofree char *gw = ns_ipv4_format (c->net_gateway, c->net_prefix);
		g_key_file_set_string (kf, GROUP, "net_address", addr);
		g_key_file_set_string (kf, GROUP, "net_gateway", gw);
		g_key_file_set_string (kf, GROUP, "net_bridge", c->net_bridge ? c->net_bridge : "");
	}
	if (c->ports[0])
		g_key_file_set_string (kf, GROUP, "ports", c->ports);
}

int
ns_config_save (const NsSandboxConfig *c, const char *path, NsError *err)
{
	g_autoptr (GKeyFile) kf = g_key_file_new ();
	g_autoptr (GError) gerr = NULL;
	g_autofree char *ns = ns_set_format (c->ns);
	g_autofree char *data = NULL;
	gsize len;

	g_key_file_set_integer (kf, GROUP, "format", NS_CONFIG_FORMAT);
	g_key_file_set_string (kf, GROUP, "name", c->name);
	g_key_file_set_uint64 (kf, GROUP, "owner_uid", c->owner_uid);
	g_key_file_set_uint64 (kf, GROUP, "owner_gid", c->owner_gid);
	g_key_file_set_string (kf, GROUP, "ns", ns);
	if (c->uid_map) {
		g_autofree char *m = ns_idmap_format (c->uid_map);
		g_key_file_set_string (kf, GROUP, "uid_map", m);
	}
	if (c->gid_map) {
		g_autofree char *m = ns_idmap_format (c->gid_map);
		g_key_file_set_string (kf, GROUP, "gid_map", m);
	}
	if (c->hostname)
		g_key_file_set_string (kf, GROUP, "hostname", c->hostname);
	g_key_file_set_string (kf, GROUP, "rootfs", c->rootfs);
	if (c->mounts[0])
		g_key_file_set_string (kf, GROUP, "mounts", c->mounts);
	save_net (kf, c);
	save_limits (kf, &c->limits);
	save_job_settings (kf, c);
	{
		g_autofree char *caps = ns_caps_format (c->caps);
		g_key_file_set_string (kf, GROUP, "caps", caps);
	}
	g_key_file_set_uint64 (kf, GROUP, "max_output", c->max_output);
	data = g_key_file_to_data (kf, &len, NULL);
	if (!g_file_set_contents_full (path, data, (gssize) len,
	                               G_FILE_SET_CONTENTS_CONSISTENT, 0600, &gerr))
		return ns_error (err, EIO, "cannot save configuration: %s", gerr->message);
	return 0;
}

static int
load_map (GKeyFile *kf, const char *key, NsIdMap **out, NsError *err)
{
	g_autofree char *text = g_key_file_get_string (kf, GROUP, key, NULL);
	g_autofree NsIdMap *map = NULL;
	int r;

	if (!text)
		return 0;
	map = g_new0 (NsIdMap, 1);
	if ((r = ns_idmap_parse (text, strlen (text), key, map, err)) < 0)
		return r;
	*out = g_steal_pointer (&map);
	return 0;
}

/* A missing key is NULL; a key that is there but unreadable (not UTF-8)
 * is an error, never silently "unset". */
static int
load_text (GKeyFile *kf, const char *key, char **out, const char *path, NsError *err)
{
	g_autoptr (GError) gerr = NULL;

	*out = g_key_file_get_string (kf, GROUP, key, &gerr);
	if (*out || g_error_matches (gerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND))
		return 0;
	return ns_error (err, EINVAL, "%s: %s: %s", path, key, gerr->message);
}

static int
load_id (GKeyFile *kf, const char *key, uint32_t *out, const char *path, NsError *err)
{
	g_autoptr (GError) gerr = NULL;
	guint64 v = g_key_file_get_uint64 (kf, GROUP, key, &gerr);

	if (gerr || v > UINT32_MAX)
		return ns_error (err, EINVAL, "%s: %s is missing or not a 32-bit id", path, key);
	*out = (uint32_t) v;
	return 0;
}

/* ADDR/PREFIX as `veth ADDR/PREFIX` has it. */
static int
load_address (GKeyFile *kf, const char *key, uint32_t *addr, unsigned *prefix, const char *path, NsError *err)
{
	g_autofree char *text = g_key_file_get_string (kf, GROUP, key, NULL);
	g_autofree char *line = NULL;
	NsNetSpec spec;

	if (!text)
		return ns_error (err, EINVAL, "%s: %s is missing", path, key);
	line = g_strdup_printf ("veth %s", text);
	if (ns_net_parse (line, strlen (line), &spec, err) < 0 || !spec.addr)
		return ns_error (err, EINVAL, "%s: %s is not an address with its prefix", path, key);
	*addr = spec.addr;
	*prefix = spec.prefix;
	return 0;
}

static int
load_net (GKeyFile *kf, NsSandboxConfig *c, const char *path, NsError *err)
{
	g_autofree char *net = NULL, *ports = NULL;
	NsPortList list;
	unsigned gw_prefix;
	int r;

	if ((r = load_text (kf, "net", &net, path, err)) < 0)
		return r;
	if (net && (r = ns_net_parse (net, strlen (net), &c->net, err)) < 0)
		return r;
	if (g_key_file_has_key (kf, GROUP, "net_address", NULL)) {
		if ((r = load_address (kf, "net_address", &c->net_addr, &c->net_prefix, path, err)) < 0 ||
		    (r = load_address (kf, "net_gateway", &c->net_gateway, &gw_prefix, path, err)) < 0)
			return r;
		c->net_bridge = g_key_file_get_string (kf, GROUP, "net_bridge", NULL);
		if (!c->net_bridge || !c->net_bridge[0] || strlen (c->net_bridge) >= 16)
			return ns_error (err, EINVAL, "%s: net_bridge is missing or too long", path);
	}
	if ((r = load_text (kf, "ports", &ports, path, err)) < 0)
		return r;
	if (ports) {
		if ((r = ns_ports_parse (ports, strlen (ports), &list, err)) < 0)
			return r;
		g_free (c->ports);
		c->ports = ns_ports_format (&list);
	}
	return 0;
}

/* Missing keys keep the defaults (a file from before issue 19). */
static int
load_limits (GKeyFile *kf, NsLimits *l, const char *path, NsError *err)
{
	g_autofree char *mem = NULL, *pids = NULL, *cpu = NULL;
	int r;

	if ((r = load_text (kf, "memory_max", &mem, path, err)) < 0 || (r = load_text (kf, "pids_max", &pids, path, err)) < 0 ||
	    (r = load_text (kf, "cpu_max", &cpu, path, err)) < 0)
		return r;
	if (mem && (r = ns_memory_max_parse (mem, strlen (mem), &l->memory_max, err)) < 0)
		return r;
	if (pids && (r = ns_pids_max_parse (pids, strlen (pids), &l->pids_max, err)) < 0)
		return r;
	if (cpu && (r = ns_cpu_max_parse (cpu, strlen (cpu), &l->cpu_quota, &l->cpu_period, err)) < 0)
		return r;
	return 0;
}

static int
load_job_settings (GKeyFile *kf, NsSandboxConfig *c, const char *path, NsError *err)
{
	g_autofree char *env = NULL, *cwd = NULL, *user = NULL;
	int r;

	if ((r = load_text (kf, "env", &env, path, err)) < 0 || (r = load_text (kf, "cwd", &cwd, path, err)) < 0 ||
	    (r = load_text (kf, "user", &user, path, err)) < 0)
		return r;
	if (env) {
		g_free (c->env);
		c->env = NULL;
		if ((r = ns_env_parse (env, strlen (env), &c->env, err)) < 0) {
			c->env = g_strdup ("");
			return r;
		}
	}
	if (cwd) {
		g_autofree char *parsed = NULL;
		if ((r = ns_cwd_parse (cwd, strlen (cwd), &parsed, err)) < 0)
			return r;
		g_free (c->cwd);
		c->cwd = g_steal_pointer (&parsed);
	}
	if (user && (r = ns_user_parse (user, strlen (user), &c->user, err)) < 0)
		return r;
	{
		g_autofree char *in = NULL;
		if ((r = load_text (kf, "stdin", &in, path, err)) < 0)
			return r;
		if (in && (r = ns_stdin_parse (in, strlen (in), &c->stdin_mode, err)) < 0)
			return r;
	}
	return 0;
}

/* Kept as it reads back; parsed here only to refuse a file no build
 * would have written. */
static int
load_mounts (GKeyFile *kf, NsSandboxConfig *c, const char *path, NsError *err)
{
	g_autofree char *text = NULL;
	NsMountList list;
	int r;

	if ((r = load_text (kf, "mounts", &text, path, err)) < 0)
		return r;
	if (!text)
		return 0;
	if ((r = ns_mounts_parse (text, strlen (text), &list, err)) < 0)
		return r;
	g_free (c->mounts);
	c->mounts = ns_mounts_format (&list);
	ns_mounts_clear (&list);
	return 0;
}

int
ns_config_load (const char *path, NsSandboxConfig **out, NsError *err)
{
	g_autoptr (GKeyFile) kf = g_key_file_new ();
	g_autoptr (GError) gerr = NULL;
	g_autoptr (NsSandboxConfig) c = NULL;
	g_autofree char *name = NULL, *ns = NULL;
	g_auto (GStrv) words = NULL;
	gint64 format;
	uint32_t uid = 0, gid = 0;
	int r;

	if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &gerr))
		return ns_error (err, gerr->domain == G_FILE_ERROR && gerr->code == G_FILE_ERROR_NOENT ? ENOENT : EIO,
		                 "cannot read %s: %s", path, gerr->message);
	format = g_key_file_get_int64 (kf, GROUP, "format", NULL);
	if (format != NS_CONFIG_FORMAT)
		return ns_error (err, EPROTO, "%s has format %" G_GINT64_FORMAT ", this build reads format %d", path, format,
		                 NS_CONFIG_FORMAT);
	name = g_key_file_get_string (kf, GROUP, "name", NULL);
	if (!name || !ns_name_valid (name, strlen (name)))
		return ns_error (err, EINVAL, "%s: missing or bad name", path);
	if ((r = load_id (kf, "owner_uid", &uid, path, err)) < 0 || (r = load_id (kf, "owner_gid", &gid, path, err)) < 0)
		return r;
	c = ns_config_new (name, uid, gid);
	ns = g_key_file_get_string (kf, GROUP, "ns", NULL);
	words = g_strsplit (ns ? ns : "", " ", -1);
	if ((r = ns_set_parse (words, g_strv_length (words), &c->ns, err)) < 0)
		return r;
	if ((r = load_map (kf, "uid_map", &c->uid_map, err)) < 0)
		return r;
	if ((r = load_map (kf, "gid_map", &c->gid_map, err)) < 0)
		return r;
	if ((r = load_text (kf, "hostname", &c->hostname, path, err)) < 0)
		return r;
	if (c->hostname && (r = ns_hostname_check (c->hostname, err)) < 0)
		return r;
	g_free (c->rootfs);
	c->rootfs = NULL;
	if ((r = load_text (kf, "rootfs", &c->rootfs, path, err)) < 0)
		return r;
	if (!c->rootfs)
		c->rootfs = g_strdup ("");
	if ((r = ns_rootfs_path_check (c->rootfs, err)) < 0)
		return r;
	if ((r = load_mounts (kf, c, path, err)) < 0)
		return r;
	if ((r = load_net (kf, c, path, err)) < 0)
		return r;
	if ((r = load_limits (kf, &c->limits, path, err)) < 0)
		return r;
	if ((r = load_job_settings (kf, c, path, err)) < 0)
		return r;
	{
		g_autofree char *caps = NULL;
		if ((r = load_text (kf, "caps", &caps, path, err)) < 0)
			return r;
		if (caps && (r = ns_caps_parse (caps, strlen (caps), &c->caps, err)) < 0)
			return r;
	}
	if (g_key_file_has_key (kf, GROUP, "max_output", NULL))
		c->max_output = g_key_file_get_uint64 (kf, GROUP, "max_output", NULL);
	*out = g_steal_pointer (&c);
	return 0;
}

char *
ns_wait_status_format (int wstatus)
{
	if (WIFEXITED (wstatus))
		return g_strdup_printf ("exited %d", WEXITSTATUS (wstatus));
	if (WIFSIGNALED (wstatus))
		return g_strdup_printf ("signaled %d", WTERMSIG (wstatus));
	return g_strdup ("running");
}
