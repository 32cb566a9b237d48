#include "names.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

static bool
is_name_char (char c)
{
	return g_ascii_isalnum (c) || c == '_' || c == '.' || c == '-';
}

bool
ns_name_valid (const char *name, size_t len)
{
	if (len == 0 || len > NS_NAME_MAX)
		return false;
	if (name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char (name[i]))
			return false;
	return true;
}

int
ns_value_line (const char *buf, size_t len, const char *what, char **out, NsError *err)
{
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (memchr (buf, '\0', len))
		return ns_error (err, EINVAL, "%s: value contains a NUL byte", what);
	if (memchr (buf, '\n', len))
		return ns_error (err, EINVAL, "%s: value must be a single line", what);
	*out = g_strndup (buf, len);
	return 0;
}

int
ns_hostname_check (const char *hostname, NsError *err)
{
	size_t len = strlen (hostname);

	if (len == 0)
		return ns_error (err, EINVAL, "hostname: empty (1 to %d characters)", NS_HOSTNAME_MAX);
	if (len > NS_HOSTNAME_MAX)
		return ns_error (err, EINVAL, "hostname: %zu characters, at most %d allowed", len, NS_HOSTNAME_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = hostname[i];
		if (!g_ascii_isalnum (c) && c != '-' && c != '.')
			return ns_error (err, EINVAL, "hostname: character %zu is not a letter, digit, '-' or '.'", i + 1);
	}
	return 0;
}

int
ns_rootfs_path_check (const char *path, NsError *err)
{
	size_t len = strlen (path);

	if (len == 0)
		return 0;
	if (len > NS_PATH_MAX)
		return ns_error (err, E2BIG, "rootfs: path is %zu bytes, at most %d allowed", len, NS_PATH_MAX);
	if (strchr (path, '\n'))
		return ns_error (err, EINVAL, "rootfs: the path contains a newline");
	/* The configuration file stores text; a path it cannot hold would
	 * come back as the host's / after a restart. */
	if (!g_utf8_validate (path, -1, NULL))
		return ns_error (err, EINVAL, "rootfs: the path is not valid UTF-8");
	if (path[0] != '/')
		return ns_error (err, EINVAL, "rootfs: '%.64s' is not an absolute path", path);
	return 0;
}

char *
ns_state_dir_of (const char *sandbox_dir)
{
	g_autofree char *sandboxes = g_path_get_dirname (sandbox_dir);

	return g_path_get_dirname (sandboxes);
}

char *
ns_console_dir (const char *sandbox_dir)
{
	g_autofree char *state = ns_state_dir_of (sandbox_dir);

	return g_strconcat (state, ".consoles", NULL);
}

char *
ns_console_path (const char *sandbox_dir, const char *name, unsigned id)
{
	g_autofree char *dir = ns_console_dir (sandbox_dir);

	return g_strdup_printf ("%s/%s-%u.sock", dir, name, id);
}
