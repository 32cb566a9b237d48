#include "statedir.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <glib/gstdio.h>

static char *state_dir;

int
statedir_init (const char *dir, NsError *err)
{
	g_autofree char *version_path = g_build_filename (dir, "version", NULL);
	g_autofree char *sandboxes = g_build_filename (dir, "sandboxes", NULL);
	g_autofree char *text = NULL;
	g_autoptr (GError) gerr = NULL;

	if (g_mkdir_with_parents (sandboxes, 0700) < 0)
		return ns_error (err, errno, "cannot create %s: %s", sandboxes, strerror (errno));
	if (g_file_get_contents (version_path, &text, NULL, NULL)) {
		long v = strtol (text, NULL, 10);
		if (v != NS_STATEDIR_FORMAT)
			return ns_error (err, EPROTO, "state dir %s has format %ld; this nsfsd reads format %d", dir, v,
			                 NS_STATEDIR_FORMAT);
	} else {
		g_autofree char *v = g_strdup_printf ("%d\n", NS_STATEDIR_FORMAT);
		if (!g_file_set_contents_full (version_path, v, -1,
		                               G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, &gerr))
			return ns_error (err, EIO, "cannot write %s: %s", version_path, gerr->message);
	}
	g_free (state_dir);
	state_dir = g_canonicalize_filename (dir, NULL);
	return 0;
}

char *
statedir_sandboxes_path (void)
{
	return g_build_filename (state_dir, "sandboxes", NULL);
}

char *
statedir_sandbox_path (const char *name)
{
	return g_build_filename (state_dir, "sandboxes", name, NULL);
}

