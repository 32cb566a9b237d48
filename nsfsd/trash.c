#include "trash.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "resources.h"
#include "threads.h"

static char *trash_dir;
static GThreadPool *pool;
static gint counter;

static int
remove_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	/* Go on past a failure: remove all that can be. */
	(void) (type == FTW_DP ? rmdir (path) : unlink (path));
	return 0;
}

/* DIR and everything in it. */
static void
remove_tree (const char *dir)
{
	/* A pin detached a moment ago may still be a mount point in a mount
	 * namespace the detach reaches by propagation (EBUSY): look again a
	 * few times, briefly. */
	for (int tries = 0; tries < 5; tries++) {
		nftw (dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		if (access (dir, F_OK) < 0)
			return;
		g_usleep (20 * 1000);
	}
	g_warning ("cannot remove all of %s", dir);
}

static void
remove_in_thread (gpointer path, gpointer unused)
{
	resources_remove_recorded_groups (path);
	remove_tree (path);
	g_free (path);
}

static void
queue (char *path)
{
	GError *gerr = NULL;

	if (!g_thread_pool_push (pool, path, &gerr)) {
		g_warning ("trash: %s", gerr->message);
		g_error_free (gerr);
		remove_tree (path);
		g_free (path);
	}
}

void
trash_init (const char *state_dir)
{
	GDir *d;
	const char *name;

	trash_dir = g_build_filename (state_dir, "trash", NULL);
	if (mkdir (trash_dir, 0700) < 0 && errno != EEXIST)
		g_warning ("cannot create %s: %s", trash_dir, strerror (errno));
	pool = nsfs_thread_pool_new (remove_in_thread, g_free);
	d = g_dir_open (trash_dir, 0, NULL);
	while (d && (name = g_dir_read_name (d)))
		queue (g_build_filename (trash_dir, name, NULL));
	if (d)
		g_dir_close (d);
}

void
trash_dispose (const char *dir)
{
	g_autofree char *base = g_path_get_basename (dir);
	char *to;

	if (!pool) {
		remove_tree (dir);
		return;
	}
	to = g_strdup_printf ("%s/%s.%d.%d", trash_dir, base, (int) getpid (), g_atomic_int_add (&counter, 1));
	if (rename (dir, to) < 0) {
		if (errno != ENOENT)
			g_warning ("cannot move %s to %s: %s", dir, to, strerror (errno));
		g_free (to);
		remove_tree (dir);
		return;
	}
	queue (to);
}

void
trash_shutdown (void)
{
	if (pool)
		g_thread_pool_free (pool, FALSE, TRUE);
	pool = NULL;
	g_clear_pointer (&trash_dir, g_free);
}
