/* libFuzzer harness for common/idmap.c.
 *
 * Input: uid_map text, optionally followed by a line "%%" and an
 * /etc/subuid-style file for the delegation check.  Invariants: a map that
 * parses is well-formed, formats to text that parses to the same map, and
 * maps each of its outside ids back; joined for the kernel it is sorted,
 * has nothing left to join, fits one write and maps the same ids; a failed
 * parse leaves the map alone and says why in one line. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "idmap.h"

FUZZ_INIT

static void
check_map (const NsIdMap *m)
{
	FUZZ_CHECK (m->n >= 1 && m->n <= NS_IDMAP_MAX_LINES);
	for (size_t i = 0; i < m->n; i++) {
		const NsIdExtent *e = &m->extent[i];
		FUZZ_CHECK (e->count >= 1);
		FUZZ_CHECK ((uint64_t) e->inside + e->count <= UINT32_MAX);
		FUZZ_CHECK ((uint64_t) e->outside + e->count <= UINT32_MAX);
		for (size_t j = 0; j < i; j++) {
			const NsIdExtent *o = &m->extent[j];
			FUZZ_CHECK (e->inside >= (uint64_t) o->inside + o->count || o->inside >= (uint64_t) e->inside + e->count);
			FUZZ_CHECK (e->outside >= (uint64_t) o->outside + o->count
			            || o->outside >= (uint64_t) e->outside + e->count);
		}
	}
}

static void
check_roundtrip (const NsIdMap *m)
{
	g_autofree NsIdMap *again = g_new0 (NsIdMap, 1);
	g_autofree char *text = ns_idmap_format (m);
	g_autofree char *text2 = NULL;

	FUZZ_CHECK (ns_idmap_parse (text, strlen (text), "uid_map", again, NULL) == 0);
	FUZZ_CHECK (again->n == m->n);
	FUZZ_CHECK (memcmp (again->extent, m->extent, m->n * sizeof m->extent[0]) == 0);
	text2 = ns_idmap_format (again);
	FUZZ_CHECK (strcmp (text, text2) == 0);

	for (size_t i = 0; i < m->n; i++) {
		const NsIdExtent *e = &m->extent[i];
		uint32_t in = 0;
		FUZZ_CHECK (ns_idmap_to_inside (m, e->outside, &in) && in == e->inside);
		FUZZ_CHECK (ns_idmap_to_inside (m, e->outside + (e->count - 1), &in) && in == e->inside + (e->count - 1));
	}
}

static void
check_joined (const NsIdMap *m)
{
	g_autofree NsIdMap *j = g_new0 (NsIdMap, 1);
	g_autofree char *text = NULL;
	uint64_t total = 0, joined_total = 0;

	ns_idmap_joined (m, j);
	check_map (j);
	FUZZ_CHECK (j->n <= m->n);
	text = ns_idmap_kernel_text (m);
	FUZZ_CHECK (strlen (text) < NS_IDMAP_MAX_BYTES);
	{
		g_autofree char *formatted = ns_idmap_format (j);
		FUZZ_CHECK (strcmp (text, formatted) == 0);
	}
	for (size_t i = 0; i < j->n; i++) {
		joined_total += j->extent[i].count;
		if (i == 0)
			continue;
		FUZZ_CHECK (j->extent[i - 1].inside < j->extent[i].inside);
		FUZZ_CHECK (!((uint64_t) j->extent[i - 1].inside + j->extent[i - 1].count == j->extent[i].inside &&
		              (uint64_t) j->extent[i - 1].outside + j->extent[i - 1].count == j->extent[i].outside));
	}
	for (size_t i = 0; i < m->n; i++) {
		const NsIdExtent *e = &m->extent[i];
		uint32_t in = 0;
		total += e->count;
		FUZZ_CHECK (ns_idmap_to_inside (j, e->outside, &in) && in == e->inside);
		FUZZ_CHECK (ns_idmap_to_inside (j, e->outside + (e->count - 1), &in) && in == e->inside + (e->count - 1));
	}
	FUZZ_CHECK (total == joined_total);
}

static bool
within (uint32_t first, uint32_t count, uint32_t r_first, uint32_t r_count)
{
	return first >= r_first && (uint64_t) first + count <= (uint64_t) r_first + r_count;
}

static void
check_delegation (const NsIdMap *m, const char *subid)
{
	static const int eperm[] = { EPERM, 0 };
	const uint32_t own = 1000;
	NsIdDelegation d;
	NsError err;
	bool all_ok = true;
	int r;

	memset (&d, 0xa5, sizeof d);
	ns_subid_parse (subid, "alice", own, &d);
	FUZZ_CHECK (d.n <= G_N_ELEMENTS (d.range));
	for (size_t i = 0; i < d.n; i++) {
		FUZZ_CHECK (d.range[i].count >= 1);
		FUZZ_CHECK ((uint64_t) d.range[i].outside + d.range[i].count <= UINT32_MAX);
	}
	if (!m)
		return;

	for (size_t i = 0; i < m->n; i++) {
		bool ok = within (m->extent[i].outside, m->extent[i].count, own, 1);
		for (size_t j = 0; !ok && j < d.n; j++)
			ok = within (m->extent[i].outside, m->extent[i].count, d.range[j].outside, d.range[j].count);
		all_ok &= ok;
	}
	fuzz_poison_error (&err);
	r = ns_idmap_check_delegation (m, "gid_map", own, &d, &err);
	if (all_ok) {
		FUZZ_CHECK (r == 0);
		FUZZ_CHECK (fuzz_error_untouched (&err));
	} else {
		fuzz_check_error (r, &err, eperm, "gid_map: line ");
		FUZZ_CHECK (strstr (err.msg, "not delegated to gid 1000") != NULL);
	}
	FUZZ_CHECK (ns_idmap_check_delegation (m, "uid_map", own, &d, NULL) == r);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int einval[] = { EINVAL, 0 };
	const char *text = (const char *) data;
	const char *sep = memmem (data, size, "\n%%\n", 4);
	size_t map_len = sep ? (size_t) (sep - text) + 1 : size;
	g_autofree NsIdMap *map = g_new (NsIdMap, 1);
	g_autofree NsIdMap *ref = g_new (NsIdMap, 1);
	g_autofree char *subid = NULL;
	NsError err;
	int r;

	memset (map, 0xa5, sizeof *map);
	memcpy (ref, map, sizeof *map);
	fuzz_poison_error (&err);
	r = ns_idmap_parse (text, map_len, "uid_map", map, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, einval, "uid_map: ");
		FUZZ_CHECK (memcmp (map, ref, sizeof *map) == 0);
	} else {
		FUZZ_CHECK (r == 0);
		FUZZ_CHECK (fuzz_error_untouched (&err));
		check_map (map);
		check_roundtrip (map);
		check_joined (map);
	}
	FUZZ_CHECK (ns_idmap_parse (text, map_len, "uid_map", ref, NULL) == r);

	subid = g_strndup (sep ? sep + 4 : text, sep ? size - (size_t) (sep + 4 - text) : size);
	check_delegation (r == 0 ? map : NULL, subid);
	return 0;
}
