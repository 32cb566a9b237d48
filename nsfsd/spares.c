#include "spares.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statedir.h"
#include "supervisor_client.h"

static GMutex pool_lock;
static GQueue pool = G_QUEUE_INIT;  /* Sandbox* */
static unsigned wanted;
static unsigned next_id;
static bool refill_scheduled;
static GThreadPool *refiller;

static Sandbox *
spawn_spare (void)
{
	g_autofree char *name = NULL, *dir = NULL, *cfg_path = NULL;
	NsError err = { 0 };
	Sandbox *sb;

	g_mutex_lock (&pool_lock);
	name = g_strdup_printf ("spare%u", next_id++);
	g_mutex_unlock (&pool_lock);
	dir = statedir_spare_path (name);
	cfg_path = g_build_filename (dir, "config", NULL);
	sb = sandbox_new_in (name, dir, ns_config_new (name, 0, 0));
	if (mkdir (dir, 0700) < 0 || ns_config_save (sb->cfg, cfg_path, &err) < 0 ||
	    supclient_spawn (sb, true, &sb->conn, &err) < 0) {
		g_warning ("cannot start a spare sandbox: %s", err.msg[0] ? err.msg : strerror (errno));
		sandbox_remove_tree (dir);
		sandbox_unref (sb);
		return NULL;
	}
	return sb;
}

static void
refill (gpointer data, gpointer unused)
{
	unsigned missing;

	g_mutex_lock (&pool_lock);
	refill_scheduled = false;
	missing = wanted > pool.length ? wanted - pool.length : 0;
	g_mutex_unlock (&pool_lock);
	while (missing--) {
		Sandbox *sb = spawn_spare ();
		if (!sb)
			break;
		g_mutex_lock (&pool_lock);
		g_queue_push_tail (&pool, sb);
		g_mutex_unlock (&pool_lock);
	}
}

/* Call with pool_lock held. */
static void
schedule_refill_locked (void)
{
	if (refill_scheduled || pool.length >= wanted)
		return;
	refill_scheduled = true;
	/* Its own thread: spawning must not hold up the event thread, which
	 * answers the requests of the mkdir that just took a spare. */
	g_thread_pool_push (refiller, GUINT_TO_POINTER (1), NULL);
}

/* Spares of an earlier nsfsd: their supervisors are killed (their inits
 * go with them, PR_SET_PDEATHSIG) and their directories removed. */
static void
clear_leftovers (void)
{
	g_autofree char *root = statedir_spares_path ();
	GDir *d;
	const char *entry;

	g_mkdir_with_parents (root, 0700);
	d = g_dir_open (root, 0, NULL);
	if (!d)
		return;
	while ((entry = g_dir_read_name (d))) {
		g_autofree char *dir = g_build_filename (root, entry, NULL);
		g_autofree char *pid_path = g_build_filename (dir, "supervisor.pid", NULL);
		g_autofree char *pid_text = NULL;
		if (g_file_get_contents (pid_path, &pid_text, NULL, NULL) && atoi (pid_text) > 1)
			kill (atoi (pid_text), SIGKILL);
		sandbox_remove_tree (dir);
	}
	g_dir_close (d);
}

void
spares_init (unsigned count)
{
	clear_leftovers ();
	/* One thread for the daemon's life: spares die with the thread that
	 * spawned them (PR_SET_PDEATHSIG), so it must not be an idle thread
	 * GLib may end. */
	{
		/* Signals are for the main thread (see supclient_init). */
		sigset_t all, old;
		sigfillset (&all);
		pthread_sigmask (SIG_BLOCK, &all, &old);
		refiller = g_thread_pool_new (refill, NULL, 1, TRUE, NULL);
		pthread_sigmask (SIG_SETMASK, &old, NULL);
	}
	g_mutex_lock (&pool_lock);
	wanted = count;
	schedule_refill_locked ();
	g_mutex_unlock (&pool_lock);
}

Sandbox *
spares_take (void)
{
	Sandbox *sb;

	for (;;) {
		bool alive, ready;
		g_mutex_lock (&pool_lock);
		sb = g_queue_pop_head (&pool);
		if (sb) {
			g_mutex_lock (&sb->lock);
			alive = sb->conn != NULL;
			ready = alive && supclient_ready (sb->conn);
			g_mutex_unlock (&sb->lock);
			/* One still starting keeps its place: its directory must
			 * not move before its supervisor has opened it. */
			if (alive && !ready) {
				g_queue_push_head (&pool, sb);
				sb = NULL;
			}
		} else {
			alive = false;
		}
		schedule_refill_locked ();
		g_mutex_unlock (&pool_lock);
		if (!sb || alive)
			return sb;
		/* Its supervisor died while it waited: drop it. */
		sandbox_remove_tree (sb->dir);
		sandbox_unref (sb);
	}
}

void
spares_shutdown (void)
{
	Sandbox *sb;

	g_mutex_lock (&pool_lock);
	wanted = 0;
	g_mutex_unlock (&pool_lock);
	if (refiller)
		g_thread_pool_free (refiller, FALSE, TRUE);
	refiller = NULL;
	for (;;) {
		NsError err = { 0 };
		g_mutex_lock (&pool_lock);
		sb = g_queue_pop_head (&pool);
		g_mutex_unlock (&pool_lock);
		if (!sb)
			break;
		sandbox_destroy (sb, &err);
		sandbox_unref (sb);
	}
}
