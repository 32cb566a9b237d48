/* libFuzzer harness for common/mounts.c.  Invariants: a list that parses
 * has at most 64 mounts, each well formed (absolute paths without `..`,
 * a mode within 07777, one overlay at most), in line order; written back
 * out it parses to the same list, and formats to the same text again; a
 * failed parse leaves the list alone and names its line in one line. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "mounts.h"

FUZZ_INIT

static bool
path_ok (const char *p)
{
	g_auto (GStrv) parts = NULL;

	if (!p || p[0] != '/' || strlen (p) >= NS_MOUNT_PATH_MAX || strpbrk (p, " \t\r\n"))
		return false;
	parts = g_strsplit (p, "/", -1);
	for (char **c = parts; *c; c++)
		if (strcmp (*c, "..") == 0)
			return false;
	return true;
}

static bool
same_mount (const NsMount *a, const NsMount *b)
{
	return a->kind == b->kind && g_strcmp0 (a->src, b->src) == 0 && g_strcmp0 (a->dst, b->dst) == 0 &&
	       a->ro == b->ro && a->size == b->size && a->mode == b->mode;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int codes[] = { EINVAL, E2BIG, 0 };
	g_autofree NsMountList *list = g_new (NsMountList, 1), *ref = g_new (NsMountList, 1);
	g_autofree NsMountList *again = g_new0 (NsMountList, 1);
	g_autofree char *text = NULL, *text2 = NULL;
	size_t overlays = 0;
	NsError err;
	int r;

	memset (list, 0xa5, sizeof *list);
	*ref = *list;
	fuzz_poison_error (&err);
	r = ns_mounts_parse ((const char *) data, size, list, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, codes, NULL);
		FUZZ_CHECK (memcmp (list, ref, sizeof *list) == 0);
		FUZZ_CHECK (strncmp (err.msg, "mounts: ", 8) == 0);
		return 0;
	}
	FUZZ_CHECK (r == 0);
	FUZZ_CHECK (fuzz_error_untouched (&err));
	FUZZ_CHECK (list->n <= NS_MOUNTS_MAX);
	for (size_t i = 0; i < list->n; i++) {
		const NsMount *m = &list->m[i];
		FUZZ_CHECK (m->line >= 1 && m->line > (i ? list->m[i - 1].line : 0));
		FUZZ_CHECK (m->mode <= 07777);
		switch (m->kind) {
		case NS_MOUNT_BIND:
			FUZZ_CHECK (path_ok (m->src) && path_ok (m->dst));
			break;
		case NS_MOUNT_TMPFS:
			FUZZ_CHECK (!m->src && path_ok (m->dst) && !m->ro);
			break;
		case NS_MOUNT_OVERLAY:
			FUZZ_CHECK (!m->src && !m->dst);
			overlays++;
			break;
		default:
			FUZZ_CHECK (!"unknown kind");
		}
	}
	FUZZ_CHECK (overlays <= 1);
	text = ns_mounts_format (list);
	FUZZ_CHECK (ns_mounts_parse (text, strlen (text), again, NULL) == 0);
	FUZZ_CHECK (again->n == list->n);
	for (size_t i = 0; i < list->n; i++) {
		FUZZ_CHECK (same_mount (&again->m[i], &list->m[i]));
		FUZZ_CHECK (again->m[i].line == i + 1);
	}
	text2 = ns_mounts_format (again);
	FUZZ_CHECK (strcmp (text, text2) == 0);
	ns_mounts_clear (again);
	ns_mounts_clear (list);
	return 0;
}
