/* A sandbox and its supervisor: requests sent to it (starting one when
 * there is none), what it says of its state, its loss, and rmdir, which
 * ends it with or without its help.  Nothing here waits: every answer
 * comes back through a callback from the event thread. */
#include "network.h"
#include "sandbox_private.h"

#include "events.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "nstypes.h"
#include "proto.h"
#include "supervisor_client.h"

/* How long rmdir gives a supervisor to end its sandbox and answer before
 * it is killed instead, and how long a killed one may take to go.  The
 * kernel holds the lock of the mount's top directory through an rmdir:
 * every other mkdir and rmdir, anyone's, waits behind it, so it must not
 * wait long on a supervisor that does not answer.  A live one answers in
 * milliseconds (it sends SIGKILL and reaps). */
#define DESTROY_PATIENCE_MS 2000
#define EXIT_PATIENCE_MS 5000

/* The connection to use, a new reference (NULL: none). */
static SupConn *
current_conn (Sandbox *sb)
{
	SupConn *c;

	g_mutex_lock (&sb->lock);
	c = sb->conn ? supclient_ref (sb->conn) : NULL;
	g_mutex_unlock (&sb->lock);
	return c;
}

static int
unreachable_error (NsError *err)
{
	return ns_error (err, EIO, "the sandbox's supervisor does not speak with this nsfsd; "
	                           "`stop` or rmdir ends it");
}

/* The sandbox's connection, a new reference; a supervisor is started if
 * it has none.  Only the running write calls this, so two never race. */
static SupConn *
ensure_conn (Sandbox *sb, NsError *err)
{
	SupConn *c = NULL;
	bool unreachable, removed;

	g_mutex_lock (&sb->lock);
	unreachable = sb->unreachable != NULL;
	removed = sb->removed;
	if (sb->conn)
		c = supclient_ref (sb->conn);
	g_mutex_unlock (&sb->lock);
	if (c)
		return c;
	/* rmdir (or nsfsd's exit) closed it: no new one for a sandbox that
	 * is going away. */
	if (removed) {
		ns_error (err, ENOENT, "the sandbox was removed");
		return NULL;
	}
	/* A second supervisor beside a live one would take its socket and
	 * record its running jobs as killed while they run on. */
	if (unreachable) {
		unreachable_error (err);
		return NULL;
	}
	if (supclient_spawn (sb, &c, err) < 0)
		return NULL;
	g_mutex_lock (&sb->lock);
	sb->conn = supclient_ref (c);
	g_mutex_unlock (&sb->lock);
	supclient_watch (c);
	return c;
}

static unsigned
timeout_for (char *const *fields)
{
	unsigned ms = supclient_request_timeout_ms ();

	/* `stop` answers once the sandbox is down, after its grace period. */
	if (strcmp (fields[0], "stop") == 0)
		ms += NSFS_STOP_GRACE_SECONDS * 1000;
	return ms;
}

static void force_end (Sandbox *sb, SupConn *c, SupReplyFn fn, gpointer data);

int
sandbox_call (Sandbox *sb, char *const *fields, SupReplyFn fn, gpointer data, NsError *err)
{
	g_autoptr (SupConn) c = NULL;
	SupConn *unreachable = NULL;

	/* Stopping a supervisor we cannot speak with is killing it (with
	 * it, its init and jobs: PR_SET_PDEATHSIG). */
	if (strcmp (fields[0], "stop") == 0) {
		g_mutex_lock (&sb->lock);
		if (sb->unreachable)
			unreachable = supclient_ref (sb->unreachable);
		g_mutex_unlock (&sb->lock);
		if (unreachable) {
			force_end (sb, unreachable, fn, data);
			return 0;
		}
	}
	/* What the sandboxes of nsfsd share on the host's network is made
	 * before one of them starts (a kernel call, not a wait on anyone). */
	if ((strcmp (fields[0], "start") == 0 || strcmp (fields[0], "exec") == 0) && !sandbox_is_running (sb) &&
	    network_prepare_start (sb, err) < 0)
		return -err->code;
	if (!(c = ensure_conn (sb, err)))
		return -err->code;
	return supclient_call (c, fields, timeout_for (fields), fn, data, err);
}

int
sandbox_call_if_connected (Sandbox *sb, char *const *fields, SupReplyFn fn, gpointer data, NsError *err)
{
	g_autoptr (SupConn) c = current_conn (sb);

	if (!c)
		return 1;
	return supclient_call (c, fields, timeout_for (fields), fn, data, err);
}

void
sandbox_cancel_calls (Sandbox *sb, int code, const char *why)
{
	g_autoptr (SupConn) c = current_conn (sb);

	if (c)
		supclient_cancel_calls (c, code, why);
}

/* --- what supervisors say ------------------------------------------------- */

static SbState
state_of (const char *name)
{
	if (strcmp (name, "running") == 0)
		return SB_RUNNING;
	if (strcmp (name, "stopped") == 0)
		return SB_STOPPED;
	return SB_CREATED;
}

void
sandbox_on_state (Sandbox *sb, const char *state, const char *arg)
{
	g_mutex_lock (&sb->lock);
	if (strcmp (state, "running") == 0) {
		sb->state = SB_RUNNING;
		sb->init_pid = (pid_t) atoi (arg);
	} else if (strcmp (state, "stopped") == 0) {
		sb->state = SB_STOPPED;
		sb->init_pid = 0;
	}
	sandbox_touch_locked (sb);
	g_mutex_unlock (&sb->lock);
	if (strcmp (state, "running") == 0)
		events_emit (sb->serial, sb->name, "state running");
	else if (strcmp (state, "stopped") == 0)
		events_emit (sb->serial, sb->name, "state stopped %s", arg);
	if (strcmp (state, "stopped") == 0 && arg[0] && strcmp (arg, "stopped on request") != 0) {
		NsError err;
		ns_error (&err, EIO, "sandbox stopped: %s", arg);
		sandbox_set_error (sb, NULL, &err);
	}
}

/* hello: ok VERSION STATE PID REASON PINNED.  A supervisor we started
 * ourselves has nothing to tell; one we adopted tells how its sandbox is
 * (it may have stopped while nobody listened: say why, as if we had). */
static void
apply_hello (Sandbox *sb, char **hello)
{
	guint n = g_strv_length (hello);
	const char *reason = n > 4 ? hello[4] : "";

	g_mutex_lock (&sb->lock);
	sb->state = state_of (n > 2 ? hello[2] : "created");
	sb->init_pid = sb->state == SB_RUNNING && n > 3 ? (pid_t) atoi (hello[3]) : 0;
	if (sb->state == SB_STOPPED && reason[0] && strcmp (reason, "stopped on request") != 0) {
		g_free (sb->error);
		sb->error = g_strdup_printf ("sandbox stopped: %s", reason);
	}
	sb->pinned = sandbox_parse_pinned (n > 5 ? hello[5] : NULL);
	sandbox_touch_locked (sb);
	g_mutex_unlock (&sb->lock);
}

void
sandbox_on_hello (Sandbox *sb, SupConn *c, int r, char **hello, const NsError *err)
{
	bool current, adopting;
	NsError why;

	g_mutex_lock (&sb->lock);
	current = sb->conn == c;
	adopting = sb->adopting;
	sb->adopting = false;
	if (current && r < 0) {
		/* Alive, but not ours to drive: keep it from being replaced. */
		sb->unreachable = sb->conn;
		sb->conn = NULL;
	}
	g_mutex_unlock (&sb->lock);
	if (!current)
		return;
	if (r == 0) {
		if (adopting)
			apply_hello (sb, hello);
		/* Jobs that ended while nobody listened have their records. */
		sandbox_refresh_jobs (sb, true);
		return;
	}
	ns_error (&why, err->code, "its supervisor (pid %d) cannot be driven by this nsfsd: %s; `stop` or rmdir ends it",
	          (int) supclient_pid (c), err->msg);
	g_warning ("sandbox %s: %s", sb->name, why.msg);
	sandbox_set_error (sb, NULL, &why);
}

void
sandbox_on_supervisor_lost (Sandbox *sb)
{
	SupConn *conn;
	NsError err;

	g_mutex_lock (&sb->lock);
	if (sb->removed) {
		/* rmdir in progress: it closes the connection itself. */
		g_mutex_unlock (&sb->lock);
		return;
	}
	conn = sb->conn;
	sb->conn = NULL;
	if (sb->state == SB_RUNNING)
		sb->state = SB_STOPPED;
	sb->init_pid = 0;
	g_mutex_unlock (&sb->lock);
	sandbox_refresh_jobs (sb, false);
	ns_error (&err, EIO, "the sandbox's supervisor exited unexpectedly; the sandbox is stopped");
	sandbox_set_error (sb, NULL, &err);
	supclient_close (conn);
}

/* --- ending a supervisor without its help --------------------------------- */

/* Pins are bind mounts on the host; a supervisor that was killed left
 * them (its own `unpin` never ran). */
static void
detach_pins (Sandbox *sb)
{
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_autofree char *path = g_build_filename (sb->dir, "pinned", ns_types[i].name, NULL);
		if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			g_message ("sandbox %s: detached the pin %s", sb->name, path);
	}
	g_mutex_lock (&sb->lock);
	sb->pinned = 0;
	g_mutex_unlock (&sb->lock);
}

typedef struct {
	Sandbox *sb;
	SupConn *c;
	SupReplyFn fn;
	gpointer data;
} ForcedEnd;

static void
forced_end_done (gpointer data, bool exited)
{
	ForcedEnd *fe = data;
	Sandbox *sb = fe->sb;
	char *ok[] = { "ok", NULL };
	bool owned;

	if (!exited)
		g_warning ("sandbox %s: its supervisor %d did not exit after SIGKILL", sb->name, (int) supclient_pid (fe->c));
	detach_pins (sb);
	g_mutex_lock (&sb->lock);
	owned = sb->unreachable == fe->c;
	if (owned)
		sb->unreachable = NULL;
	sb->state = SB_STOPPED;
	sb->init_pid = 0;
	sandbox_touch_locked (sb);
	g_mutex_unlock (&sb->lock);
	sandbox_refresh_jobs (sb, false);
	if (owned)
		supclient_close (fe->c); /* drops the sandbox's reference */
	fe->fn (fe->data, 0, ok, NULL);
	supclient_unref (fe->c);
	sandbox_unref (sb);
	g_free (fe);
}

/* SIGKILL the supervisor behind C (taking a reference of C's): its init
 * and jobs die with it (PR_SET_PDEATHSIG, armed in each).  FN gets `ok`
 * once it is gone. */
static void
force_end (Sandbox *sb, SupConn *c, SupReplyFn fn, gpointer data)
{
	ForcedEnd *fe = g_new0 (ForcedEnd, 1);

	*fe = (ForcedEnd) { sandbox_ref (sb), c, fn, data };
	g_message ("sandbox %s: killing its supervisor %d", sb->name, (int) supclient_pid (c));
	supclient_kill (c);
	supclient_when_exited (c, EXIT_PATIENCE_MS, forced_end_done, fe);
}

/* --- rmdir ---------------------------------------------------------------- */

typedef struct {
	Sandbox *sb;
	SupConn *conn;
	SandboxDoneFn done;
	gpointer data;
} Destroy;

void
sandbox_let_go_of_supervisors (Sandbox *sb)
{
	SupConn *conn, *unreachable;

	g_mutex_lock (&sb->lock);
	conn = sb->conn;
	unreachable = sb->unreachable;
	sb->conn = sb->unreachable = NULL;
	g_mutex_unlock (&sb->lock);
	supclient_close (conn);
	supclient_close (unreachable);
}

static void
destroy_finish (Destroy *d)
{
	Sandbox *sb = d->sb;

	sandbox_let_go_of_supervisors (sb);
	g_mutex_lock (&sb->lock);
	sb->state = SB_STOPPED;
	g_mutex_unlock (&sb->lock);
	if (d->conn)
		supclient_unref (d->conn);
	/* Readers blocked in `wait` get the jobs' last word before it goes. */
	sandbox_refresh_jobs (sb, false);
	detach_pins (sb);
	sandbox_remove_tree (sb->dir);
	events_emit (sb->serial, sb->name, "removed");
	sandbox_unregister (sb);
	network_release_if_unused ();
	d->done (d->data, 0, NULL);
	sandbox_unref (sb);
	g_free (d);
}

static void
destroyed_supervisor_exited (gpointer data, bool exited)
{
	Destroy *d = data;

	/* The supervisor is a process of the sandbox too: rmdir returns
	 * once it is gone. */
	if (!exited)
		g_warning ("sandbox %s: its supervisor did not exit after destroy", d->sb->name);
	destroy_finish (d);
}

static void
forced_destroy_done (gpointer data, int r, char **reply, const NsError *err)
{
	destroy_finish (data);
}

static void
on_destroy_answer (gpointer data, int r, char **reply, const NsError *err)
{
	Destroy *d = data;

	if (r == 0) {
		supclient_when_exited (d->conn, EXIT_PATIENCE_MS, destroyed_supervisor_exited, d);
		return;
	}
	/* It did not answer in time, or not at all: its sandbox is ended
	 * without its help. */
	g_message ("sandbox %s: destroy failed (%s); ending it by force", d->sb->name, err->msg);
	force_end (d->sb, supclient_ref (d->conn), forced_destroy_done, d);
}

void
sandbox_destroy (Sandbox *sb, SandboxDoneFn done, gpointer data)
{
	char *req[] = { "destroy", NULL };
	Destroy *d = g_new0 (Destroy, 1);
	SupConn *unreachable = NULL;
	NsError err;

	*d = (Destroy) { sandbox_ref (sb), NULL, done, data };
	g_mutex_lock (&sb->lock);
	/* From here a lost supervisor is expected, not an error. */
	sb->removed = true;
	if (sb->unreachable)
		unreachable = supclient_ref (sb->unreachable);
	g_mutex_unlock (&sb->lock);
	if (unreachable) {
		force_end (sb, unreachable, forced_destroy_done, d);
		return;
	}
	/* A sandbox whose supervisor was lost may still hold pins:
	 * destroy_finish detaches them. */
	d->conn = current_conn (sb);
	if (!d->conn) {
		destroy_finish (d);
		return;
	}
	if (supclient_call (d->conn, req, MIN (DESTROY_PATIENCE_MS, supclient_request_timeout_ms ()), on_destroy_answer,
	                    d, &err) < 0)
		on_destroy_answer (d, -err.code, NULL, &err);
}
