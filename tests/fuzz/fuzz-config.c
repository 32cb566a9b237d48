/* libFuzzer harness for common/sandbox_config.c: the input as a config
 * file.  Invariants: a file that loads holds a valid name, a non-empty
 * namespace set and well-formed maps, and saving and loading it again
 * gives the same configuration; one that does not load leaves *out alone
 * and says why in one line. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "fuzz.h"
#include "names.h"
#include "nstypes.h"
#include "sandbox_config.h"

FUZZ_INIT

static char *dir, *in_path, *out_path;

static void
remove_dir (void)
{
	g_unlink (in_path);
	g_unlink (out_path);
	g_rmdir (dir);
}

static void
setup (void)
{
	if (dir)
		return;
	dir = g_dir_make_tmp ("nsfs-fuzz-config-XXXXXX", NULL);
	FUZZ_CHECK (dir != NULL);
	in_path = g_build_filename (dir, "in", NULL);
	out_path = g_build_filename (dir, "out", NULL);
	atexit (remove_dir);
}

static bool
maps_equal (const NsIdMap *a, const NsIdMap *b)
{
	return a->n == b->n && memcmp (a->extent, b->extent, a->n * sizeof a->extent[0]) == 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int codes[] = { EINVAL, EIO, EPROTO, 0 };
	NsSandboxConfig *sentinel = (NsSandboxConfig *) &sentinel;
	NsSandboxConfig *c = sentinel;
	g_autoptr (NsSandboxConfig) back = NULL;
	NsError err;
	int r;

	setup ();
	FUZZ_CHECK (g_file_set_contents (in_path, (const char *) data, (gssize) size, NULL));
	fuzz_poison_error (&err);
	r = ns_config_load (in_path, &c, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, codes, NULL);
		FUZZ_CHECK (c == sentinel);
		return 0;
	}
	FUZZ_CHECK (r == 0);
	FUZZ_CHECK (fuzz_error_untouched (&err));
	FUZZ_CHECK (c != sentinel && c != NULL);
	FUZZ_CHECK (ns_name_valid (c->name, strlen (c->name)));
	FUZZ_CHECK (c->ns != 0 && (c->ns & ~ns_all_flags ()) == 0);
	FUZZ_CHECK (!c->uid_map || (c->uid_map->n >= 1 && c->uid_map->n <= NS_IDMAP_MAX_LINES));
	FUZZ_CHECK (!c->gid_map || (c->gid_map->n >= 1 && c->gid_map->n <= NS_IDMAP_MAX_LINES));
	FUZZ_CHECK (c->rootfs != NULL);

	FUZZ_CHECK (ns_config_save (c, out_path, NULL) == 0);
	FUZZ_CHECK (ns_config_load (out_path, &back, NULL) == 0);
	FUZZ_CHECK (strcmp (c->name, back->name) == 0);
	FUZZ_CHECK (c->owner_uid == back->owner_uid && c->owner_gid == back->owner_gid);
	FUZZ_CHECK (c->ns == back->ns);
	FUZZ_CHECK (!c->uid_map == !back->uid_map && !c->gid_map == !back->gid_map);
	FUZZ_CHECK (!c->uid_map || maps_equal (c->uid_map, back->uid_map));
	FUZZ_CHECK (!c->gid_map || maps_equal (c->gid_map, back->gid_map));
	FUZZ_CHECK (g_strcmp0 (c->hostname, back->hostname) == 0);
	FUZZ_CHECK (strcmp (c->rootfs, back->rootfs) == 0);
	ns_config_free (c);
	return 0;
}
