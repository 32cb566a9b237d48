#include "cmdline.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

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
	line = g_strndup (text, len);
	if (g_strstrip (line)[0] == '\0')
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
