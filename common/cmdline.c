#include "cmdline.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <glib.h>

/* A newline outside quotes would make a second command of what follows;
 * inside quotes (or escaped) it is part of a word. */
static bool
has_unquoted_newline (const char *s, size_t len)
{
	char quote = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
		} else if (c == '\\') {
			i++;
		} else if (quote == '"') {
			if (c == '"')
				quote = 0;
		} else if (c == '\'' || c == '"') {
			quote = c;
		} else if (c == '\n') {
			return true;
		}
	}
	return false;
}

/* A backslash-newline goes before the line is split, inside double quotes
 * as well as outside, as sh removes it; glib's splitter would keep the
 * newline inside double quotes.  In single quotes both are characters. */
static void
join_continued_lines (char *s)
{
	char quote = 0, *out = s;

	for (char *p = s; *p; p++) {
		if (quote == '\'') {
			if (*p == '\'')
				quote = 0;
		} else if (*p == '\\') {
			if (p[1] == '\n') {
				p++;
				continue;
			}
			if (p[1])
				*out++ = *p++;
		} else if (quote == '"') {
			if (*p == '"')
				quote = 0;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		}
		*out++ = *p;
	}
	*out = '\0';
}

/* g_strstrip, but a trailing blank after a backslash is part of the last
 * word (`echo a\\ ` passes "a "), as in sh. */
static char *
strip_unescaped_blanks (char *line)
{
	size_t n = strlen (g_strchug (line));

	while (n > 0 && g_ascii_isspace (line[n - 1])) {
		size_t backslashes = 0;
		while (backslashes < n - 1 && line[n - 2 - backslashes] == '\\')
			backslashes++;
		if (backslashes % 2)
			break;
		line[--n] = '\0';
	}
	return line;
}

/* What the parser splits: the write without its final newline, lines
 * joined, blanks around it gone. */
static char *
canonical_line (char *line)
{
	join_continued_lines (line);
	return strip_unescaped_blanks (line);
}

char *
ns_cmdline_strip (char *line)
{
	size_t len = strlen (line);

	if (len > 0 && line[len - 1] == '\n')
		line[len - 1] = '\0';
	return canonical_line (line);
}

int
ns_cmdline_parse (const char *text, size_t len, char ***argv, NsError *err)
{
	g_autofree char *line = NULL;
	g_autoptr (GError) gerr = NULL;
	char **v = NULL;
	int argc = 0;

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (memchr (text, '\0', len))
		return ns_error (err, EINVAL, "exec: command line contains a NUL byte");
	if (has_unquoted_newline (text, len))
		return ns_error (err, EINVAL, "exec: one command line per write (use sh -c '...; ...' for several)");
	line = g_strndup (text, len);
	if (canonical_line (line)[0] == '\0')
		return ns_error (err, EINVAL, "exec: empty command line");
	if (!g_shell_parse_argv (line, &argc, &v, &gerr)) {
		if (g_error_matches (gerr, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING))
			return ns_error (err, EINVAL, "exec: empty command line");
		return ns_error (err, EINVAL, "exec: cannot split the command line: %s", gerr->message);
	}
	if (argc == 0 || v[0][0] == '\0') {
		g_strfreev (v);
		return ns_error (err, EINVAL, "exec: empty program name");
	}
	*argv = v;
	return 0;
}
