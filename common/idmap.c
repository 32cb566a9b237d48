#include "idmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

/* Read an unsigned decimal of at most 10 digits that fits in 32 bits. */
static bool
take_u32 (const char **p, const char *end, uint32_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	while (s < end && g_ascii_isdigit (*s)) {
		v = v * 10 + (uint64_t) (*s - '0');
		if (++digits > 10 || v > UINT32_MAX)
			return false;
		s++;
	}
	if (digits == 0)
		return false;
	*p = s;
	*out = (uint32_t) v;
	return true;
}

static void
skip_blanks (const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

static bool
ranges_overlap (uint32_t a, uint32_t an, uint32_t b, uint32_t bn)
{
	uint64_t a_end = (uint64_t) a + an, b_end = (uint64_t) b + bn;
	return a < b_end && b < a_end;
}

static int
parse_line (const char *s, const char *end, NsIdExtent *e, const char *what, size_t lineno, NsError *err)
{
	uint32_t *fields[3] = { &e->inside, &e->outside, &e->count };
	static const char *const names[3] = { "inside", "outside", "count" };

	for (int f = 0; f < 3; f++) {
		skip_blanks (&s, end);
		if (!take_u32 (&s, end, fields[f]))
			return ns_error (err, EINVAL, "%s: line %zu: %s is not a number from 0 to 4294967295 (expected 'inside outside count')",
			                 what, lineno, names[f]);
		if (f < 2 && s < end && *s != ' ' && *s != '\t')
			return ns_error (err, EINVAL, "%s: line %zu: unexpected character after %s", what, lineno, names[f]);
	}
	skip_blanks (&s, end);
	if (s != end)
		return ns_error (err, EINVAL, "%s: line %zu: unexpected text after count (expected 'inside outside count')", what, lineno);
	if (e->count == 0)
		return ns_error (err, EINVAL, "%s: line %zu: count must be at least 1", what, lineno);
	/* The kernel reserves (uid_t) -1, so a range may end at 4294967294 at most. */
	if ((uint64_t) e->inside + e->count > UINT32_MAX)
		return ns_error (err, EINVAL, "%s: line %zu: inside range %u+%u runs past 4294967294", what, lineno, e->inside, e->count);
	if ((uint64_t) e->outside + e->count > UINT32_MAX)
		return ns_error (err, EINVAL, "%s: line %zu: outside range %u+%u runs past 4294967294", what, lineno, e->outside, e->count);
	return 0;
}

int
ns_idmap_parse (const char *text, size_t len, const char *what, NsIdMap *map, NsError *err)
{
	g_autofree NsIdMap *tmp = g_new0 (NsIdMap, 1);
	const char *p = text, *end;
	size_t lineno = 0;

	if (len > 0 && text[len - 1] == '\n')
		len--;
	end = text + len;
	if (len == 0)
		return ns_error (err, EINVAL, "%s: empty (write 1 to %d lines of 'inside outside count')", what, NS_IDMAP_MAX_LINES);
	if (memchr (text, '\0', len))
		return ns_error (err, EINVAL, "%s: contains a NUL byte", what);

	while (p <= end) {
		const char *nl = memchr (p, '\n', (size_t) (end - p));
		const char *line_end = nl ? nl : end;
		NsIdExtent e;
		int r;

		lineno++;
		if (tmp->n == NS_IDMAP_MAX_LINES)
			return ns_error (err, EINVAL, "%s: more than %d lines", what, NS_IDMAP_MAX_LINES);
		r = parse_line (p, line_end, &e, what, lineno, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < tmp->n; i++) {
			const NsIdExtent *o = &tmp->extent[i];
			if (ranges_overlap (e.inside, e.count, o->inside, o->count))
				return ns_error (err, EINVAL, "%s: line %zu: inside range overlaps line %zu", what, lineno, i + 1);
			if (ranges_overlap (e.outside, e.count, o->outside, o->count))
				return ns_error (err, EINVAL, "%s: line %zu: outside range overlaps line %zu", what, lineno, i + 1);
		}
		tmp->extent[tmp->n++] = e;
		if (!nl)
			break;
		p = nl + 1;
	}
	{
		/* The kernel takes a map in one write of less than a page. */
		g_autofree char *text_form = ns_idmap_kernel_text (tmp);
		size_t bytes = strlen (text_form);
		if (bytes >= NS_IDMAP_MAX_BYTES)
			return ns_error (err, EINVAL,
			                 "%s: the map is %zu bytes written out (adjacent ranges joined); the kernel takes at most %d",
			                 what, bytes, NS_IDMAP_MAX_BYTES - 1);
	}
	memcpy (map, tmp, sizeof *map);
	return 0;
}

char *
ns_idmap_format (const NsIdMap *map)
{
	GString *s = g_string_new (NULL);
	for (size_t i = 0; i < map->n; i++)
		g_string_append_printf (s, "%u %u %u\n", map->extent[i].inside, map->extent[i].outside, map->extent[i].count);
	return g_string_free (s, FALSE);
}

static int
by_inside (const void *a, const void *b)
{
	const NsIdExtent *x = a, *y = b;
	return x->inside < y->inside ? -1 : x->inside > y->inside;
}

void
ns_idmap_joined (const NsIdMap *map, NsIdMap *out)
{
	NsIdMap sorted = *map;

	qsort (sorted.extent, sorted.n, sizeof sorted.extent[0], by_inside);
	out->n = 0;
	for (size_t i = 0; i < sorted.n; i++) {
		const NsIdExtent *e = &sorted.extent[i];
		NsIdExtent *last = out->n ? &out->extent[out->n - 1] : NULL;

		if (last && (uint64_t) last->inside + last->count == e->inside &&
		    (uint64_t) last->outside + last->count == e->outside)
			last->count += e->count;
		else
			out->extent[out->n++] = *e;
	}
}

char *
ns_idmap_kernel_text (const NsIdMap *map)
{
	g_autofree NsIdMap *joined = g_new (NsIdMap, 1);

	ns_idmap_joined (map, joined);
	return ns_idmap_format (joined);
}

void
ns_idmap_single (NsIdMap *map, uint32_t inside, uint32_t outside)
{
	map->n = 1;
	map->extent[0] = (NsIdExtent) { inside, outside, 1 };
}

bool
ns_idmap_to_inside (const NsIdMap *map, uint32_t outside, uint32_t *inside)
{
	for (size_t i = 0; i < map->n; i++) {
		const NsIdExtent *e = &map->extent[i];
		if (outside >= e->outside && (uint64_t) outside < (uint64_t) e->outside + e->count) {
			*inside = e->inside + (outside - e->outside);
			return true;
		}
	}
	return false;
}

bool
ns_idmap_to_outside (const NsIdMap *map, uint32_t inside, uint32_t *outside)
{
	for (size_t i = 0; i < map->n; i++) {
		const NsIdExtent *e = &map->extent[i];
		if (inside >= e->inside && (uint64_t) inside < (uint64_t) e->inside + e->count) {
			*outside = e->outside + (inside - e->inside);
			return true;
		}
	}
	return false;
}

void
ns_subid_parse (const char *content, const char *user, uint32_t id, NsIdDelegation *out)
{
	g_auto (GStrv) lines = g_strsplit (content, "\n", -1);
	char idstr[16];

	snprintf (idstr, sizeof idstr, "%u", id);
	out->n = 0;
	for (char **l = lines; *l && out->n < G_N_ELEMENTS (out->range); l++) {
		g_auto (GStrv) f = g_strsplit (*l, ":", -1);
		const char *p;
		uint32_t start, count;

		if (g_strv_length (f) != 3)
			continue;
		if (!(user && strcmp (f[0], user) == 0) && strcmp (f[0], idstr) != 0)
			continue;
		p = f[1];
		if (!take_u32 (&p, f[1] + strlen (f[1]), &start) || *p)
			continue;
		p = f[2];
		if (!take_u32 (&p, f[2] + strlen (f[2]), &count) || *p || count == 0)
			continue;
		if ((uint64_t) start + count > UINT32_MAX)
			continue;
		out->range[out->n++] = (NsIdExtent) { 0, start, count };
	}
}

static bool
within (uint32_t first, uint32_t count, uint32_t r_first, uint32_t r_count)
{
	return first >= r_first && (uint64_t) first + count <= (uint64_t) r_first + r_count;
}

int
ns_idmap_check_delegation (const NsIdMap *map, const char *what, uint32_t own_id,
                           const NsIdDelegation *deleg, NsError *err)
{
	const char *kind = what[0] == 'g' ? "gid" : "uid";

	for (size_t i = 0; i < map->n; i++) {
		const NsIdExtent *e = &map->extent[i];
		bool ok = within (e->outside, e->count, own_id, 1);

		for (size_t j = 0; !ok && deleg && j < deleg->n; j++)
			ok = within (e->outside, e->count, deleg->range[j].outside, deleg->range[j].count);
		if (ok)
			continue;
		if (e->count == 1)
			return ns_error (err, EPERM, "%s: line %zu: outside %s %u is not delegated to %s %u",
			                 what, i + 1, kind, e->outside, kind, own_id);
		return ns_error (err, EPERM, "%s: line %zu: outside %ss %u-%u are not delegated to %s %u", what, i + 1, kind,
		                 e->outside, (uint32_t) ((uint64_t) e->outside + e->count - 1), kind, own_id);
	}
	return 0;
}
