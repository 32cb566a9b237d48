#include "mounts.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "words.h"

/* A table of the line kinds (as ctl's directives): the word, how many
 * words may follow, and what the error line shows as the usage. */
typedef struct {
	const char *word;
	NsMountKind kind;
	size_t min_args, max_args;
	const char *usage;
} MountSyntax;

static const MountSyntax mount_table[] = {
	{ "bind", NS_MOUNT_BIND, 2, 3, "bind SRC DST [ro]" },
	{ "tmpfs", NS_MOUNT_TMPFS, 1, 3, "tmpfs DST [size=SIZE] [mode=MODE]" },
	{ "overlay", NS_MOUNT_OVERLAY, 0, 0, "overlay" },
};

static const MountSyntax *
lookup_kind (const char *word)
{
	for (size_t i = 0; i < G_N_ELEMENTS (mount_table); i++)
		if (strcmp (mount_table[i].word, word) == 0)
			return &mount_table[i];
	return NULL;
}

/* WHAT (SRC or DST) must be absolute, within NS_MOUNT_PATH_MAX, and have
 * no `..` component: a mount never climbs out of where it is named. */
static int
check_path (const char *what, const char *path, NsError *err)
{
	const char *p;

	if (path[0] != '/')
		return ns_error (err, EINVAL, "%s %.64s is not an absolute path", what, path);
	if (strlen (path) >= NS_MOUNT_PATH_MAX)
		return ns_error (err, E2BIG, "%s is longer than %d bytes", what, NS_MOUNT_PATH_MAX - 1);
	for (p = path; (p = strstr (p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return ns_error (err, EINVAL, "%s %.64s has a '..' component", what, path);
	return 0;
}

/* A destination is a path below the sandbox's root, never the root
 * itself: that is what `rootfs` and `overlay` choose. */
static int
check_destination (const char *path, NsError *err)
{
	int r;

	if ((r = check_path ("destination", path, err)) < 0)
		return r;
	if (strspn (path, "/") == strlen (path))
		return ns_error (err, EINVAL, "destination / is the sandbox's root (that is what rootfs sets)");
	return 0;
}

/* SIZE=: digits, then k, m or g (either case); not 0; no overflow. */
static int
parse_size (const char *text, uint64_t *out, NsError *err)
{
	uint64_t v = 0;
	unsigned shift = 0;
	const char *p = text;

	if (!g_ascii_isdigit (*p))
		return ns_error (err, EINVAL, "size=%.32s is not a size", text);
	for (; g_ascii_isdigit (*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return ns_error (err, EINVAL, "size=%.32s is too large", text);
		v = v * 10 + (uint64_t) (*p - '0');
	}
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	}
	if (*p)
		return ns_error (err, EINVAL, "size=%.32s is not a size (bytes, or a k, m or g suffix)", text);
	if (shift && v > (UINT64_MAX >> shift))
		return ns_error (err, EINVAL, "size=%.32s is too large", text);
	v <<= shift;
	if (v == 0)
		return ns_error (err, EINVAL, "size=0 is not a size");
	*out = v;
	return 0;
}

/* MODE=: octal digits, at most 07777. */
static int
parse_mode (const char *text, unsigned *out, NsError *err)
{
	unsigned v = 0;

	if (!*text)
		return ns_error (err, EINVAL, "mode= needs an octal mode");
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '7')
			return ns_error (err, EINVAL, "mode=%.32s is not an octal mode", text);
		v = v * 8 + (unsigned) (*p - '0');
		if (v > 07777)
			return ns_error (err, EINVAL, "mode=%.32s is more than 07777", text);
	}
	*out = v;
	return 0;
}

static int
parse_tmpfs_options (char **opts, size_t n, NsMount *m, NsError *err)
{
	bool have_size = false, have_mode = false;
	int r;

	for (size_t i = 0; i < n; i++) {
		if (g_str_has_prefix (opts[i], "size=")) {
			if (have_size)
				return ns_error (err, EINVAL, "size= given twice");
			if ((r = parse_size (opts[i] + 5, &m->size, err)) < 0)
				return r;
			have_size = true;
		} else if (g_str_has_prefix (opts[i], "mode=")) {
			if (have_mode)
				return ns_error (err, EINVAL, "mode= given twice");
			if ((r = parse_mode (opts[i] + 5, &m->mode, err)) < 0)
				return r;
			have_mode = true;
		} else {
			return ns_error (err, EINVAL, "unknown tmpfs option '%.32s' (known: size=, mode=)", opts[i]);
		}
	}
	return 0;
}

/* One line's words into M (whose strings the caller frees on error). */
static int
parse_line (char **words, size_t nwords, NsMount *m, NsError *err)
{
	const MountSyntax *syn = lookup_kind (words[0]);
	size_t nargs = nwords - 1;
	int r;

	if (!syn)
		return ns_error (err, EINVAL, "unknown mount '%.32s' (known: bind, tmpfs, overlay)", words[0]);
	if (nargs < syn->min_args || nargs > syn->max_args)
		return ns_error (err, EINVAL, "%s: wrong number of words (usage: %s)", syn->word, syn->usage);
	*m = (NsMount) { .kind = syn->kind, .mode = NS_TMPFS_DEFAULT_MODE };
	switch (syn->kind) {
	case NS_MOUNT_BIND:
		if ((r = check_path ("source", words[1], err)) < 0 || (r = check_destination (words[2], err)) < 0)
			return r;
		if (nargs == 3 && strcmp (words[3], "ro") != 0)
			return ns_error (err, EINVAL, "bind: unknown option '%.32s' (known: ro)", words[3]);
		m->src = g_strdup (words[1]);
		m->dst = g_strdup (words[2]);
		m->ro = nargs == 3;
		return 0;
	case NS_MOUNT_TMPFS:
		if ((r = check_destination (words[1], err)) < 0)
			return r;
		if ((r = parse_tmpfs_options (words + 2, nargs - 1, m, err)) < 0)
			return r;
		m->dst = g_strdup (words[1]);
		return 0;
	case NS_MOUNT_OVERLAY:
		return 0;
	}
	return 0;
}

static void
error_at (NsError *err, size_t line)
{
	char where[32];

	snprintf (where, sizeof where, "mounts: line %zu", line);
	ns_error_prefix (err, where);
}

int
ns_mounts_parse (const char *text, size_t len, NsMountList *list, NsError *err)
{
	g_autofree char *copy = NULL;
	g_auto (GStrv) lines = NULL;
	g_autofree NsMountList *tmp = g_new0 (NsMountList, 1);
	bool overlay = false;
	size_t lineno = 0;

	if (memchr (text, '\0', len))
		return ns_error (err, EINVAL, "mounts: contains a NUL byte");
	/* The configuration file stores text: a path it cannot hold would
	 * not come back after a restart. */
	if (!g_utf8_validate (text, (gssize) len, NULL))
		return ns_error (err, EINVAL, "mounts: not valid UTF-8");
	copy = g_strndup (text, len);
	lines = g_strsplit (copy, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_auto (GStrv) words = NULL;
		size_t nwords;
		int r;

		lineno++;
		words = ns_words_split (*l, &nwords);
		if (nwords == 0)
			continue;
		if (tmp->n == NS_MOUNTS_MAX) {
			ns_mounts_clear (tmp);
			return ns_error (err, E2BIG, "mounts: more than %d lines", NS_MOUNTS_MAX);
		}
		r = parse_line (words, nwords, &tmp->m[tmp->n], err);
		if (r == 0 && tmp->m[tmp->n].kind == NS_MOUNT_OVERLAY && overlay)
			r = ns_error (err, EINVAL, "overlay given twice");
		if (r < 0) {
			g_free (tmp->m[tmp->n].src);
			g_free (tmp->m[tmp->n].dst);
			ns_mounts_clear (tmp);
			error_at (err, lineno);
			return r;
		}
		overlay |= tmp->m[tmp->n].kind == NS_MOUNT_OVERLAY;
		tmp->m[tmp->n++].line = lineno;
	}
	*list = *tmp;
	return 0;
}

char *
ns_mounts_format (const NsMountList *list)
{
	GString *t = g_string_new (NULL);

	for (size_t i = 0; i < list->n; i++) {
		const NsMount *m = &list->m[i];
		switch (m->kind) {
		case NS_MOUNT_BIND:
			g_string_append_printf (t, "bind %s %s%s\n", m->src, m->dst, m->ro ? " ro" : "");
			break;
		case NS_MOUNT_TMPFS:
			g_string_append_printf (t, "tmpfs %s", m->dst);
			if (m->size)
				g_string_append_printf (t, " size=%" G_GUINT64_FORMAT, m->size);
			g_string_append_printf (t, " mode=0%o\n", m->mode);
			break;
		case NS_MOUNT_OVERLAY:
			g_string_append (t, "overlay\n");
			break;
		}
	}
	return g_string_free (t, FALSE);
}

void
ns_mounts_clear (NsMountList *list)
{
	for (size_t i = 0; i < list->n; i++) {
		g_free (list->m[i].src);
		g_free (list->m[i].dst);
	}
	list->n = 0;
}

void
ns_mounts_copy (NsMountList *dst, const NsMountList *src)
{
	*dst = *src;
	for (size_t i = 0; i < src->n; i++) {
		dst->m[i].src = g_strdup (src->m[i].src);
		dst->m[i].dst = g_strdup (src->m[i].dst);
	}
}

bool
ns_mounts_has_overlay (const NsMountList *list)
{
	for (size_t i = 0; i < list->n; i++)
		if (list->m[i].kind == NS_MOUNT_OVERLAY)
			return true;
	return false;
}
