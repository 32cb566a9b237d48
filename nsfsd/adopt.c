/* Adoption: at start-up, every sandbox of the state dir is taken back,
 * its configuration and jobs from the files, its live state from its
 * supervisor.  Nothing waits on a supervisor here either: its hello is
 * answered on the event thread, and one that never answers, or speaks
 * another protocol, is kept as it is (see Sandbox.unreachable). */
#include "sandbox_private.h"

#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "names.h"
#include "nstypes.h"
#include "statedir.h"
#include "supervisor_client.h"

/* The supervisor's `state` record ("running PID", "stopped", "created"):
 * what the sandbox shows until its supervisor's hello says better, and
 * all that is known of one that will not say. */
static void
read_state_record (Sandbox *sb)
{
	g_autofree char *path = g_build_filename (sb->dir, "state", NULL);
	g_autofree char *text = NULL;

	if (!g_file_get_contents (path, &text, NULL, NULL))
		return;
	if (g_str_has_prefix (text, "running ")) {
		sb->state = SB_RUNNING;
		sb->init_pid = (pid_t) atoi (text + strlen ("running "));
	} else if (g_str_has_prefix (text, "stopped")) {
		sb->state = SB_STOPPED;
	}
}

/* The namespaces the supervisor has pinned: its bind mounts in pinned/.
 * Its hello says so too, but `status` is read before that answer comes,
 * and pins are records like the others. */
static void
read_pins (Sandbox *sb)
{
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_autofree char *path = g_build_filename (sb->dir, "pinned", ns_types[i].name, NULL);
		struct statfs fs;
		if (statfs (path, &fs) == 0 && fs.f_type == NSFS_MAGIC)
			sb->pinned |= ns_types[i].flag;
	}
}

static void
adopt_one (const char *name)
{
	g_autofree char *dir = statedir_sandbox_path (name);
	g_autofree char *cfg_path = g_build_filename (dir, "config", NULL);
	g_autofree char *err_path = g_build_filename (dir, "error", NULL);
	NsSandboxConfig *cfg = NULL;
	NsError err = { 0 };
	Sandbox *sb;
	struct stat st;

	if (ns_config_load (cfg_path, &cfg, &err) < 0) {
		g_warning ("not adopting sandbox %s: %s", name, err.msg);
		return;
	}
	sb = sandbox_new (name, cfg);
	if (stat (cfg_path, &st) == 0)
		/* No file's own time is recorded: the config record's (the last
		 * change to any of them) is never older than the real one. */
		sandbox_set_times (sb, &st.st_mtim);
	if (g_file_get_contents (err_path, &sb->error, NULL, NULL))
		g_strchomp (sb->error);
	sandbox_load_jobs (sb);
	if (supclient_connect (sb, &sb->conn, &err) == 0) {
		read_state_record (sb);
		read_pins (sb);
		sb->adopting = true;
	} else {
		sb->state = sb->jobs->len ? SB_STOPPED : SB_CREATED;
	}
	sandbox_register (sb);
	if (sb->conn)
		supclient_watch (sb->conn);
	/* Without a supervisor, jobs that have no exit record died with the
	 * one they had; with one, its hello brings them up to date. */
	if (!sb->conn)
		sandbox_refresh_jobs (sb, false);
}

void
sandbox_adopt_all (void)
{
	g_autofree char *root = statedir_sandboxes_path ();
	GDir *d = g_dir_open (root, 0, NULL);
	const char *entry;

	if (!d)
		return;
	while ((entry = g_dir_read_name (d)))
		if (ns_name_valid (entry, strlen (entry)))
			adopt_one (entry);
	g_dir_close (d);
}
