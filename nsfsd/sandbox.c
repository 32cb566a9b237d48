/* The sandbox object: its life (references), its configuration, its
 * `error`, and the hooks that tell the FUSE side of a change. */
#include "sandbox_private.h"
#include "trash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "nstypes.h"
#include "statedir.h"

static SandboxJobEndHook job_end_hook;
static SandboxTouchHook touch_hook;

void
sandbox_set_job_end_hook (SandboxJobEndHook hook)
{
	job_end_hook = hook;
}

void
sandbox_set_touch_hook (SandboxTouchHook hook)
{
	touch_hook = hook;
}

void
sandbox_job_ended (Sandbox *sb, unsigned id)
{
	if (job_end_hook)
		job_end_hook (sb, id);
}

GPtrArray *
sandbox_pollhandles_new (void)
{
	return g_ptr_array_new_with_free_func ((GDestroyNotify) fuse_pollhandle_destroy);
}

Sandbox *
sandbox_ref (Sandbox *sb)
{
	g_atomic_int_inc (&sb->refcount);
	return sb;
}

void
sandbox_unref (Sandbox *sb)
{
	if (!sb || !g_atomic_int_dec_and_test (&sb->refcount))
		return;
	g_ptr_array_unref (sb->jobs);
	ns_config_free (sb->cfg);
	g_free (sb->error);
	g_free (sb->name);
	g_free (sb->dir);
	g_queue_free (sb->ops);
	g_mutex_clear (&sb->lock);
	g_free (sb);
}

Sandbox *
sandbox_new (const char *name, NsSandboxConfig *cfg)
{
	Sandbox *sb = g_new0 (Sandbox, 1);
	struct timespec now;

	sb->refcount = 1;
	sb->name = g_strdup (name);
	sb->dir = statedir_sandbox_path (name);
	sb->cfg = cfg;
	sb->owner = cfg->owner_uid;
	sb->state = SB_CREATED;
	sb->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) sandbox_job_free);
	sb->ops = g_queue_new ();
	g_mutex_init (&sb->lock);
	clock_gettime (CLOCK_REALTIME, &now);
	sandbox_set_times (sb, &now);
	return sb;
}

void
sandbox_set_times (Sandbox *sb, const struct timespec *when)
{
	sb->mtime = *when;
	for (size_t i = 0; i < G_N_ELEMENTS (sb->file_mtime); i++)
		sb->file_mtime[i] = *when;
}

void
sandbox_file_changed_locked (Sandbox *sb, unsigned node)
{
	if (node < G_N_ELEMENTS (sb->file_mtime))
		clock_gettime (CLOCK_REALTIME, &sb->file_mtime[node]);
}

void
sandbox_touch_locked (Sandbox *sb)
{
	clock_gettime (CLOCK_REALTIME, &sb->mtime);
	if (touch_hook)
		touch_hook (sb);
}

void
sandbox_set_error (Sandbox *sb, const char *file, const NsError *err)
{
	g_autofree char *path = g_build_filename (sb->dir, "error", NULL);
	g_autofree char *line = NULL;

	g_mutex_lock (&sb->lock);
	g_free (sb->error);
	sb->error = file ? g_strdup_printf ("%s: %s", file, err->msg) : g_strdup (err->msg);
	line = g_strconcat (sb->error, "\n", NULL);
	sandbox_touch_locked (sb);
	g_mutex_unlock (&sb->lock);
	/* Kept across restarts; losing it is not worth failing the write. */
	(void) g_file_set_contents_full (path, line, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
}

bool
sandbox_is_running (Sandbox *sb)
{
	bool running;

	g_mutex_lock (&sb->lock);
	running = sb->state == SB_RUNNING;
	g_mutex_unlock (&sb->lock);
	return running;
}

unsigned long
sandbox_parse_pinned (const char *text)
{
	g_auto (GStrv) words = g_strsplit (text ? text : "", " ", -1);
	unsigned long set = 0;

	if (!words[0] || !words[0][0] || ns_set_parse (words, g_strv_length (words), &set, NULL) < 0)
		return 0;
	return set;
}

void
sandbox_set_pinned (Sandbox *sb, const char *text)
{
	g_mutex_lock (&sb->lock);
	sb->pinned = sandbox_parse_pinned (text);
	sandbox_touch_locked (sb);
	g_mutex_unlock (&sb->lock);
}

NsSandboxConfig *
sandbox_copy_config (Sandbox *sb)
{
	NsSandboxConfig *c;

	g_mutex_lock (&sb->lock);
	c = ns_config_copy (sb->cfg);
	g_mutex_unlock (&sb->lock);
	return c;
}

int
sandbox_commit_config (Sandbox *sb, NsSandboxConfig *cfg, NsError *err)
{
	g_autofree char *path = g_build_filename (sb->dir, "config", NULL);
	int r = ns_config_save (cfg, path, err);

	if (r < 0) {
		ns_config_free (cfg);
		return r;
	}
	g_mutex_lock (&sb->lock);
	ns_config_free (sb->cfg);
	sb->cfg = cfg;
	sandbox_touch_locked (sb);
	g_mutex_unlock (&sb->lock);
	return 0;
}

void
sandbox_remove_tree (const char *dir)
{
	trash_dispose (dir);
}
