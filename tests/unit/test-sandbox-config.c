/* Unit tests for common/sandbox_config.c: defaults, the on-disk form and
 * job exit records. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "nstypes.h"
#include "sandbox_config.h"
#include "test-util.h"

typedef struct {
	char *dir;
	char *path;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
	g_autoptr (GError) gerr = NULL;

	f->dir = g_dir_make_tmp ("nsfs-test-config-XXXXXX", &gerr);
	g_assert_no_error (gerr);
	f->path = g_build_filename (f->dir, "config", NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
	g_autoptr (GDir) d = g_dir_open (f->dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name (d))) {
		g_autofree char *p = g_build_filename (f->dir, name, NULL);
		g_assert_no_errno (g_unlink (p));
	}
	g_assert_no_errno (g_rmdir (f->dir));
	g_free (f->path);
	g_free (f->dir);
}

static void
write_file (const char *path, const char *text)
{
	g_autoptr (GError) gerr = NULL;
	g_file_set_contents (path, text, -1, &gerr);
	g_assert_no_error (gerr);
}

static void
parse_map (const char *text, NsIdMap *map)
{
	g_assert_cmpint (ns_idmap_parse (text, strlen (text), "uid_map", map, NULL), ==, 0);
}

static void
assert_maps_equal (const NsIdMap *a, const NsIdMap *b)
{
	g_assert_cmpuint (a->n, ==, b->n);
	g_assert_cmpmem (a->extent, a->n * sizeof a->extent[0], b->extent, b->n * sizeof b->extent[0]);
}

static void
assert_configs_equal (const NsSandboxConfig *a, const NsSandboxConfig *b)
{
	g_assert_cmpstr (a->name, ==, b->name);
	g_assert_cmpuint (a->owner_uid, ==, b->owner_uid);
	g_assert_cmpuint (a->owner_gid, ==, b->owner_gid);
	g_assert_cmpuint (a->ns, ==, b->ns);
	g_assert_cmpint (!a->uid_map, ==, !b->uid_map);
	g_assert_cmpint (!a->gid_map, ==, !b->gid_map);
	if (a->uid_map)
		assert_maps_equal (a->uid_map, b->uid_map);
	if (a->gid_map)
		assert_maps_equal (a->gid_map, b->gid_map);
	g_assert_cmpstr (a->hostname, ==, b->hostname);
	g_assert_cmpstr (a->rootfs, ==, b->rootfs);
	g_assert_cmpstr (a->mounts, ==, b->mounts);
	g_assert_cmpint (a->net.mode, ==, b->net.mode);
	g_assert_cmpuint (a->net.addr, ==, b->net.addr);
	g_assert_cmpuint (a->net.prefix, ==, b->net.prefix);
	g_assert_cmpuint (a->net_addr, ==, b->net_addr);
	g_assert_cmpuint (a->net_prefix, ==, b->net_prefix);
	g_assert_cmpuint (a->net_gateway, ==, b->net_gateway);
	g_assert_cmpstr (a->net_bridge, ==, b->net_bridge);
	g_assert_cmpstr (a->ports, ==, b->ports);
	g_assert_true (memcmp (&a->limits, &b->limits, sizeof a->limits) == 0);
	g_assert_cmpstr (a->env, ==, b->env);
	g_assert_cmpstr (a->cwd, ==, b->cwd);
	g_assert_true (memcmp (&a->user, &b->user, sizeof a->user) == 0);
	g_assert_true (memcmp (&a->stdin_mode, &b->stdin_mode, sizeof a->stdin_mode) == 0);
}

static void
test_new_defaults (void)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("box", 1000, 100);
	g_autofree NsIdMap *scratch = g_new0 (NsIdMap, 1);
	g_autofree char *host = NULL;
	const NsIdMap *m;

	g_assert_cmpstr (c->name, ==, "box");
	g_assert_cmpuint (c->owner_uid, ==, 1000);
	g_assert_cmpuint (c->owner_gid, ==, 100);
	g_assert_cmpuint (c->ns, ==, ns_all_flags ());
	g_assert_null (c->uid_map);
	g_assert_null (c->gid_map);
	g_assert_null (c->hostname);
	g_assert_cmpstr (c->rootfs, ==, "");
	g_assert_cmpstr (c->mounts, ==, "");

	m = ns_config_uid_map (c, scratch);
	g_assert_cmpuint (m->n, ==, 1);
	g_assert_cmpuint (m->extent[0].inside, ==, 0);
	g_assert_cmpuint (m->extent[0].outside, ==, 1000);
	g_assert_cmpuint (m->extent[0].count, ==, 1);

	m = ns_config_gid_map (c, scratch);
	g_assert_cmpuint (m->n, ==, 1);
	g_assert_cmpuint (m->extent[0].outside, ==, 100);

	host = ns_config_hostname (c);
	g_assert_cmpstr (host, ==, "box");
}

static void
test_effective_maps (void)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("box", 1000, 100);
	g_autofree NsIdMap *scratch = g_new0 (NsIdMap, 1);

	c->uid_map = g_new0 (NsIdMap, 1);
	parse_map ("0 1000 1\n1 100000 65536", c->uid_map);
	g_assert_true (ns_config_uid_map (c, scratch) == c->uid_map);
	g_assert_true (ns_config_gid_map (c, scratch) == scratch);
	g_assert_cmpuint (scratch->extent[0].outside, ==, 100);

	c->gid_map = g_new0 (NsIdMap, 1);
	parse_map ("0 100 1", c->gid_map);
	g_assert_true (ns_config_gid_map (c, scratch) == c->gid_map);
}

static void
test_hostname (void)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("my_box_1", 0, 0);
	g_autofree char *h1 = ns_config_hostname (c);
	g_autofree char *h2 = NULL;
	g_autofree char *h3 = NULL;

	g_assert_cmpstr (h1, ==, "my-box-1");
	g_assert_cmpstr (c->name, ==, "my_box_1"); /* the name is not changed */
	c->hostname = g_strdup ("web.example");
	h2 = ns_config_hostname (c);
	g_assert_cmpstr (h2, ==, "web.example");
	g_assert_true (h2 != c->hostname);

	{
		g_autoptr (NsSandboxConfig) d = ns_config_new ("a.b-c_d", 0, 0);
		h3 = ns_config_hostname (d);
		g_assert_cmpstr (h3, ==, "a.b-c-d");
	}
}

static void
test_free_null (void)
{
	ns_config_free (NULL);
}

static void
test_roundtrip_defaults (Fixture *f, gconstpointer data)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("box", 1000, 1000);
	g_autoptr (NsSandboxConfig) back = NULL;
	NsError err;
	GStatBuf st;

	ns_error_poison (&err);
	g_assert_cmpint (ns_config_save (c, f->path, &err), ==, 0);
	g_assert_cmpint (err.code, ==, 12345);
	g_assert_no_errno (g_stat (f->path, &st));
	g_assert_cmpint (st.st_mode & 07777, ==, 0600);

	g_assert_cmpint (ns_config_load (f->path, &back, &err), ==, 0);
	g_assert_nonnull (back);
	assert_configs_equal (c, back);
}

/* The maps are held apart from the configuration: a copy owns its own,
 * so freeing either leaves the other whole (ASan sees a shared one). */
static void
test_copy_owns_its_maps (void)
{
	NsSandboxConfig *c = ns_config_new ("box", 1000, 100);
	g_autoptr (NsSandboxConfig) d = NULL;
	g_autoptr (NsSandboxConfig) unset = NULL;

	c->uid_map = g_new0 (NsIdMap, 1);
	parse_map ("0 1000 1\n1 100000 65536", c->uid_map);
	unset = ns_config_copy (c);
	g_clear_pointer (&unset->uid_map, g_free);
	d = ns_config_copy (c);
	g_assert_true (d->uid_map != c->uid_map);
	g_assert_null (d->gid_map);
	ns_config_free (c);
	g_assert_cmpuint (d->uid_map->n, ==, 2);
	g_assert_cmpuint (d->uid_map->extent[1].outside, ==, 100000);
}

static void
test_roundtrip_full (Fixture *f, gconstpointer data)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("A-b.c_d", 4294967294u, 4294967293u);
	g_autoptr (NsSandboxConfig) back = NULL;
	g_autoptr (GString) big = g_string_new (NULL);

	for (int i = 0; i < NS_IDMAP_MAX_LINES; i++)
		g_string_append_printf (big, "%d %d 1\n", i, 2000 + i);
	c->ns = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS;
	c->uid_map = g_new0 (NsIdMap, 1);
	parse_map (big->str, c->uid_map);
	c->gid_map = g_new0 (NsIdMap, 1);
	parse_map ("0 0 4294967295", c->gid_map);
	c->hostname = g_strdup ("host.example-1");
	g_free (c->rootfs);
	c->rootfs = g_strdup ("/srv/roots/ a = b ;#[x]\\n\xc3\xa9 ");
	g_free (c->mounts);
	c->mounts = g_strdup ("overlay\nbind /h\xc3\xa9;#[x] /src ro\ntmpfs /tmp size=1024 mode=01777\n");
	c->net = (NsNetSpec) { NS_NET_VETH, 0x0ad50005, 16 };
	c->net_addr = 0x0ad50005;
	c->net_prefix = 16;
	c->net_gateway = 0x0ad50001;
	c->net_bridge = g_strdup ("nsfs0");
	g_free (c->ports);
	c->ports = g_strdup ("tcp 8080 80\nudp 53 53\n");
	c->limits = (NsLimits) { 512ull << 20, 256, 50000, 100000 };
	g_free (c->env);
	c->env = g_strdup ("LANG=C.UTF-8\nX= spaced = \n");
	g_free (c->cwd);
	c->cwd = g_strdup ("/srv/w ork");
	c->user = (NsJobUser) { true, 1000, true, 100 };
	c->stdin_mode = (NsStdin) { NS_STDIN_PIPE, 24, 80 };

	g_assert_cmpint (ns_config_save (c, f->path, NULL), ==, 0);
	g_assert_cmpint (ns_config_load (f->path, &back, NULL), ==, 0);
	assert_configs_equal (c, back);
}

static void
test_roundtrip_every_ns_type (Fixture *f, gconstpointer data)
{
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_autoptr (NsSandboxConfig) c = ns_config_new ("box", 1, 2);
		g_autoptr (NsSandboxConfig) back = NULL;

		c->ns = ns_types[i].flag;
		g_assert_cmpint (ns_config_save (c, f->path, NULL), ==, 0);
		g_assert_cmpint (ns_config_load (f->path, &back, NULL), ==, 0);
		assert_configs_equal (c, back);
	}
}

static void
test_save_overwrites (Fixture *f, gconstpointer data)
{
	g_autoptr (NsSandboxConfig) a = ns_config_new ("first", 1, 1);
	g_autoptr (NsSandboxConfig) b = ns_config_new ("second", 2, 2);
	g_autoptr (NsSandboxConfig) back = NULL;
	g_autoptr (GDir) d = NULL;
	int entries = 0;

	g_assert_cmpint (ns_config_save (a, f->path, NULL), ==, 0);
	g_assert_cmpint (ns_config_save (b, f->path, NULL), ==, 0);
	g_assert_cmpint (ns_config_load (f->path, &back, NULL), ==, 0);
	assert_configs_equal (b, back);
	/* No temporary file is left behind. */
	d = g_dir_open (f->dir, 0, NULL);
	while (g_dir_read_name (d))
		entries++;
	g_assert_cmpint (entries, ==, 1);
}

static void
test_save_error (Fixture *f, gconstpointer data)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("box", 1, 1);
	g_autofree char *bad = g_build_filename (f->dir, "missing", "config", NULL);
	NsError err;
	int r;

	ns_error_poison (&err);
	r = ns_config_save (c, bad, &err);
	assert_ns_error (r, &err, EIO, "cannot save configuration");
}

/* Load FILE_TEXT and expect CODE with WANT in the message; *out untouched. */
static void
assert_load_fails (Fixture *f, const char *file_text, int code, const char *want)
{
	NsSandboxConfig *out = (NsSandboxConfig *) &out;
	NsError err;
	int r;

	if (file_text)
		write_file (f->path, file_text);
	ns_error_poison (&err);
	r = ns_config_load (f->path, &out, &err);
	assert_ns_error (r, &err, code, want);
	g_assert_true (out == (NsSandboxConfig *) &out);
}

static void
test_load_missing (Fixture *f, gconstpointer data)
{
	assert_load_fails (f, NULL, ENOENT, "cannot read ");
}

static void
test_load_garbage (Fixture *f, gconstpointer data)
{
	assert_load_fails (f, "this is not a key file\n", EIO, "cannot read ");
	assert_load_fails (f, "\xff\xfe\x00garbage", EIO, "cannot read ");
}

static void
test_load_other_format (Fixture *f, gconstpointer data)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("box", 1000, 1000);
	g_autoptr (GKeyFile) kf = g_key_file_new ();
	g_autoptr (GError) gerr = NULL;
	g_autofree char *want = g_strdup_printf ("%s has format 2, this build reads format 1", f->path);

	g_assert_cmpint (ns_config_save (c, f->path, NULL), ==, 0);
	g_assert_true (g_key_file_load_from_file (kf, f->path, G_KEY_FILE_KEEP_COMMENTS, &gerr));
	g_key_file_set_integer (kf, "sandbox", "format", NS_CONFIG_FORMAT + 1);
	g_assert_true (g_key_file_save_to_file (kf, f->path, &gerr));
	assert_load_fails (f, NULL, EPROTO, want);

	g_key_file_set_integer (kf, "sandbox", "format", 0);
	g_assert_true (g_key_file_save_to_file (kf, f->path, &gerr));
	assert_load_fails (f, NULL, EPROTO, "has format 0, this build reads format 1");

	g_key_file_remove_key (kf, "sandbox", "format", NULL);
	g_assert_true (g_key_file_save_to_file (kf, f->path, &gerr));
	assert_load_fails (f, NULL, EPROTO, "this build reads format 1");

	assert_load_fails (f, "[sandbox]\nformat=-1\nname=box\nns=user\n", EPROTO, "has format -1");
	assert_load_fails (f, "[other]\nformat=1\nname=box\nns=user\n", EPROTO, "has format 0");
}

static void
test_load_bad_fields (Fixture *f, gconstpointer data)
{
	assert_load_fails (f, "[sandbox]\nformat=1\nns=user\n", EINVAL, "missing or bad name");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=.hidden\nns=user\n", EINVAL, "missing or bad name");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=a/b\nns=user\n", EINVAL, "missing or bad name");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=\nns=user\n", EINVAL, "missing or bad name");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=user bogus\n", EINVAL,
	                   "ns: unknown namespace type 'bogus'");
	/* An owner that is missing or too large is refused, never read as root. */
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nns=user\n", EINVAL, "owner_uid is missing");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=4294967296\nowner_gid=0\nns=user\n", EINVAL,
	                   "owner_uid is missing or not a 32-bit id");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=user user\n", EINVAL, "ns: 'user' given twice");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=\n", EINVAL, "ns: no namespace type given");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\n", EINVAL, "ns: no namespace type given");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=user\nuid_map=0 1000 0\\n\n", EINVAL,
	                   "uid_map: line 1: count must be at least 1");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=user\ngid_map=0 1000 1\\n0 2000 1\\n\n", EINVAL,
	                   "gid_map: line 2: inside range overlaps line 1");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=user\nuid_map=\n", EINVAL, "uid_map: empty");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=mnt\nmounts=tmpfs /t\\nbind a /b\n", EINVAL,
	                   "mounts: line 2: source a is not an absolute path");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=net\nnet=veth 10.0.0.0/24\n", EINVAL,
	                   "network's or broadcast");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=net\nnet=veth\nnet_address=10.0.0.2/24\n", EINVAL,
	                   "net_gateway is missing");
	assert_load_fails (f, "[sandbox]\nformat=1\nname=box\nowner_uid=0\nowner_gid=0\nns=net\nports=tcp 0\n", EINVAL,
	                   "ports: line 1");
}

static void
test_load_minimal (Fixture *f, gconstpointer data)
{
	g_autoptr (NsSandboxConfig) c = NULL;

	write_file (f->path, "[sandbox]\nformat=1\nname=box\nowner_uid=1000\nowner_gid=100\nns=user uts\n");
	g_assert_cmpint (ns_config_load (f->path, &c, NULL), ==, 0);
	g_assert_cmpstr (c->name, ==, "box");
	g_assert_cmpuint (c->owner_uid, ==, 1000);
	g_assert_cmpuint (c->owner_gid, ==, 100);
	g_assert_cmpuint (c->ns, ==, CLONE_NEWUSER | CLONE_NEWUTS);
	g_assert_null (c->uid_map);
	g_assert_null (c->gid_map);
	g_assert_null (c->hostname);
	g_assert_cmpstr (c->rootfs, ==, "");
}

static void
test_wait_status (void)
{
	static const struct {
		int wstatus;
		const char *text;
	} cases[] = {
		{ 0, "exited 0" },
		{ 1 << 8, "exited 1" },
		{ 255 << 8, "exited 255" },
		{ SIGKILL, "signaled 9" },
		{ SIGTERM, "signaled 15" },
		{ SIGSEGV | 0x80, "signaled 11" }, /* core dumped */
		{ (SIGSTOP << 8) | 0x7f, "running" },
		{ 0xffff, "running" },             /* continued */
	};

	for (size_t i = 0; i < G_N_ELEMENTS (cases); i++) {
		g_autofree char *s = ns_wait_status_format (cases[i].wstatus);
		g_assert_cmpstr (s, ==, cases[i].text);
	}
}

static char *
run_child (int how)
{
	int wstatus;
	pid_t pid = fork ();

	g_assert_cmpint (pid, >=, 0);
	if (pid == 0) {
		if (how >= 0)
			_exit (how);
		raise (-how);
		_exit (99);
	}
	g_assert_cmpint (waitpid (pid, &wstatus, 0), ==, pid);
	return ns_wait_status_format (wstatus);
}

static void
test_wait_status_real (void)
{
	g_autofree char *e0 = run_child (0);
	g_autofree char *e42 = run_child (42);
	g_autofree char *k = run_child (-SIGKILL);
	g_autofree char *t = run_child (-SIGTERM);

	g_assert_cmpstr (e0, ==, "exited 0");
	g_assert_cmpstr (e42, ==, "exited 42");
	g_assert_cmpstr (k, ==, "signaled 9");
	g_assert_cmpstr (t, ==, "signaled 15");
}

/* Linux paths are bytes: a rootfs that is not UTF-8 is still a directory
 * (ns_rootfs_path_check accepts it), and it must come back as written, not
 * as "" (the host's /). */
static void
test_roundtrip_non_utf8 (Fixture *f, gconstpointer data)
{
	g_autoptr (NsSandboxConfig) c = ns_config_new ("box", 1000, 1000);
	g_autoptr (NsSandboxConfig) back = NULL;
	NsError err = { 0 };
	int r;

	g_free (c->rootfs);
	c->rootfs = g_strdup ("/srv/latin1-\xe9t\xe9");
	/* Refusing to save or to load such a path would do too; silently
	 * loading it as "" would run the sandbox on the host's /. */
	r = ns_config_save (c, f->path, &err);
	if (r < 0) {
		assert_ns_error (r, &err, -r, NULL);
		g_test_message ("save refused it: %s", err.msg);
		return;
	}
	r = ns_config_load (f->path, &back, &err);
	if (r == 0 && strcmp (back->rootfs, c->rootfs) != 0) {
		g_autofree char *saved = g_strescape (c->rootfs, NULL);
		g_autofree char *loaded = g_strescape (back->rootfs, NULL);
		g_test_fail_printf ("rootfs \"%s\" was saved and loaded back as \"%s\"", saved, loaded);
	} else if (r < 0) {
		assert_ns_error (r, &err, -r, NULL);
		g_test_message ("load refused it: %s", err.msg);
	}
}

#define add_fixture(path, fn) g_test_add ((path), Fixture, NULL, fixture_setup, (fn), fixture_teardown)

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/sandbox-config/new-defaults", test_new_defaults);
	g_test_add_func ("/sandbox-config/effective-maps", test_effective_maps);
	g_test_add_func ("/sandbox-config/copy-owns-its-maps", test_copy_owns_its_maps);
	g_test_add_func ("/sandbox-config/hostname", test_hostname);
	g_test_add_func ("/sandbox-config/free-null", test_free_null);
	add_fixture ("/sandbox-config/file/roundtrip-defaults", test_roundtrip_defaults);
	add_fixture ("/sandbox-config/file/roundtrip-full", test_roundtrip_full);
	add_fixture ("/sandbox-config/file/roundtrip-every-ns-type", test_roundtrip_every_ns_type);
	add_fixture ("/sandbox-config/file/save-overwrites", test_save_overwrites);
	add_fixture ("/sandbox-config/file/save-error", test_save_error);
	add_fixture ("/sandbox-config/file/load-missing", test_load_missing);
	add_fixture ("/sandbox-config/file/load-garbage", test_load_garbage);
	add_fixture ("/sandbox-config/file/other-format-refused", test_load_other_format);
	add_fixture ("/sandbox-config/file/load-bad-fields", test_load_bad_fields);
	add_fixture ("/sandbox-config/file/load-minimal", test_load_minimal);
	g_test_add_func ("/sandbox-config/wait-status/format", test_wait_status);
	g_test_add_func ("/sandbox-config/wait-status/real-children", test_wait_status_real);
	/* Last: fails until non-UTF-8 rootfs paths survive a save and load. */
	add_fixture ("/sandbox-config/file/roundtrip-non-utf8-rootfs", test_roundtrip_non_utf8);
	return g_test_run ();
}
