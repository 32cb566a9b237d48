#include "job_settings.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "names.h"

static bool
valid_key (const char *k, size_t n)
{
	if (n == 0 || !(g_ascii_isalpha (k[0]) || k[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(g_ascii_isalnum (k[i]) || k[i] == '_'))
			return false;
	return true;
}

int
ns_env_parse (const char *text, size_t len, char **out, NsError *err)
{
	g_autofree char *copy = NULL;
	g_auto (GStrv) lines = NULL;
	g_autoptr (GString) norm = g_string_new (NULL);
	g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	size_t lineno = 0, n = 0;

	if (memchr (text, '\0', len))
		return ns_error (err, EINVAL, "env: contains a NUL byte");
	copy = g_strndup (text, len);
	lines = g_strsplit (copy, "\n", -1);
	for (char **l = lines; *l; l++) {
		const char *eq = strchr (*l, '=');
		size_t klen;

		lineno++;
		if (!**l)
			continue;
		if (!eq)
			return ns_error (err, EINVAL, "env: line %zu: not KEY=VALUE", lineno);
		klen = (size_t) (eq - *l);
		if (!valid_key (*l, klen))
			return ns_error (err, EINVAL, "env: line %zu: '%.*s' is not a KEY ([A-Za-z_][A-Za-z0-9_]*)", lineno,
			                 (int) MIN (klen, 64), *l);
		if (!g_hash_table_add (seen, g_strndup (*l, klen)))
			return ns_error (err, EINVAL, "env: line %zu: %.*s given twice", lineno, (int) MIN (klen, 64), *l);
		if (++n > NS_ENV_MAX)
			return ns_error (err, E2BIG, "env: more than %d lines", NS_ENV_MAX);
		g_string_append_printf (norm, "%s\n", *l);
	}
	*out = g_string_free (g_steal_pointer (&norm), FALSE);
	return 0;
}

char **
ns_env_merge (char *const *defaults, const char *env)
{
	g_auto (GStrv) lines = g_strsplit (env ? env : "", "\n", -1);
	GPtrArray *out = g_ptr_array_new ();

	for (char *const *d = defaults; *d; d++) {
		size_t klen = strcspn (*d, "=");
		bool replaced = false;
		for (char **l = lines; *l && !replaced; l++)
			replaced = strncmp (*l, *d, klen + 1) == 0;
		if (!replaced)
			g_ptr_array_add (out, g_strdup (*d));
	}
	for (char **l = lines; *l; l++)
		if (**l)
			g_ptr_array_add (out, g_strdup (*l));
	g_ptr_array_add (out, NULL);
	return (char **) g_ptr_array_free (out, FALSE);
}

int
ns_cwd_parse (const char *text, size_t len, char **out, NsError *err)
{
	g_autofree char *line = NULL;
	int r;

	if ((r = ns_value_line (text, len, "cwd", &line, err)) < 0)
		return r;
	g_strstrip (line);
	if (line[0] && line[0] != '/')
		return ns_error (err, EINVAL, "cwd: '%.64s' is not an absolute path", line);
	if (strlen (line) >= NS_CWD_MAX)
		return ns_error (err, E2BIG, "cwd: the path is longer than %d bytes", NS_CWD_MAX - 1);
	if (!g_utf8_validate (line, -1, NULL))
		return ns_error (err, EINVAL, "cwd: the path is not valid UTF-8");
	*out = g_steal_pointer (&line);
	return 0;
}

static bool
parse_id (const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (!g_ascii_isdigit (*s))
			return false;
		v = v * 10 + (uint64_t) (*s - '0');
		if (v > 4294967294u)
			return false;
	}
	*out = (uint32_t) v;
	return true;
}

int
ns_user_parse (const char *text, size_t len, NsJobUser *out, NsError *err)
{
	g_autofree char *line = NULL;
	NsJobUser u = { 0 };
	char *colon;
	int r;

	if ((r = ns_value_line (text, len, "user", &line, err)) < 0)
		return r;
	g_strstrip (line);
	if (!line[0]) {
		*out = u;
		return 0;
	}
	u.set = true;
	if ((colon = strchr (line, ':'))) {
		*colon = '\0';
		if (!parse_id (colon + 1, &u.gid))
			return ns_error (err, EINVAL, "user: '%.32s' is not a gid", colon + 1);
		u.gid_set = true;
	}
	if (!parse_id (line, &u.uid))
		return ns_error (err, EINVAL, "user: '%.32s' is not a uid (UID[:GID], numbers)", line);
	*out = u;
	return 0;
}

char *
ns_user_format (const NsJobUser *u)
{
	if (!u->set)
		return g_strdup ("");
	if (u->gid_set)
		return g_strdup_printf ("%u:%u", u->uid, u->gid);
	return g_strdup_printf ("%u", u->uid);
}

static bool
parse_dimension (const char *s, unsigned *out)
{
	uint32_t v;

	if (!parse_id (s, &v) || v == 0 || v > 65535)
		return false;
	*out = v;
	return true;
}

int
ns_stdin_parse (const char *text, size_t len, NsStdin *out, NsError *err)
{
	g_autofree char *line = NULL;
	g_auto (GStrv) words = NULL;
	NsStdin in = { NS_STDIN_NULL, NS_TTY_ROWS_DEFAULT, NS_TTY_COLS_DEFAULT };
	guint n;
	int r;

	if ((r = ns_value_line (text, len, "stdin", &line, err)) < 0)
		return r;
	words = g_strsplit_set (g_strstrip (line), " \t", -1);
	{
		/* Blanks between words, however many. */
		char **w = words, **o = words;
		for (; *w; w++)
			if (**w)
				*o++ = *w;
			else
				g_free (*w);
		*o = NULL;
	}
	n = g_strv_length (words);
	if (n == 1 && strcmp (words[0], "null") == 0)
		in.mode = NS_STDIN_NULL;
	else if (n == 1 && strcmp (words[0], "pipe") == 0)
		in.mode = NS_STDIN_PIPE;
	else if ((n == 1 || n == 3) && strcmp (words[0], "tty") == 0) {
		in.mode = NS_STDIN_TTY;
		if (n == 3 && (!parse_dimension (words[1], &in.rows) || !parse_dimension (words[2], &in.cols)))
			return ns_error (err, EINVAL, "stdin: tty ROWS COLS, numbers from 1 to 65535");
	} else
		return ns_error (err, EINVAL, "stdin: '%.64s' is not null, pipe or tty [ROWS COLS]", line);
	*out = in;
	return 0;
}

char *
ns_stdin_format (const NsStdin *in)
{
	switch (in->mode) {
	case NS_STDIN_PIPE: return g_strdup ("pipe");
	case NS_STDIN_TTY: return g_strdup_printf ("tty %u %u", in->rows, in->cols);
	default: return g_strdup ("null");
	}
}
