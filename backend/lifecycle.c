/* The sandbox's life: created, running, stopped.  Start (the init's
 * report comes through the loop), the init's end, stop (SIGTERM, a look
 * every STOP_POLL_MS, SIGKILL after the grace period), destroy, and the
 * reaper that tells the init, jobs and strays apart. */
#include "supervisor.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "atomic_file.h"
#include "cleanup.h"
#include "idle_memory.h"
#include "loop.h"
#include "spawner.h"
#include "nstypes.h"
#include "proto.h"
#include "requests.h"

/* While a stop is pending, how often to look whether the sandbox's
 * processes are all gone: strays in a pid namespace are the init's to
 * reap, so no SIGCHLD tells us. */
#define STOP_POLL_MS 20
/* How long after its SIGKILL a stop still waits for the sandbox to end
 * before it answers that it cannot: a process in a FUSE request that its
 * server never answers does not die of SIGKILL (see destroy below).  The
 * stop goes on (the sandbox becomes stopped when they die); nsfsd waits
 * NSFS_STOP_GRACE_SECONDS longer for a stop than for other requests. */
#define STOP_KILL_WAIT_MS 500
/* How long destroy waits for what it killed before it answers (nearly
 * every process is reaped in a few ms) and exits.  SIGKILL ends a
 * process at once, except one in a FUSE request that its server took and
 * never answers (a program or a rootfs on a file system the owner
 * mounted): the kernel waits that out, uninterruptibly.  Destroy does
 * not: such a process dies of the SIGKILL it holds when the request ends
 * (the file system answers or goes away), reaped by whoever inherits it.
 * Short, because the kernel holds the lock of the mount's top directory
 * through the rmdir that asked: anyone's mkdir and rmdir wait behind it. */
#define DESTROY_WAIT_MS 200

Supervisor sup;

/* Who a pending stop answers once the init is gone (NULL: nobody). */
static SupRequest *stop_req;
/* The strays a pending stop sent SIGTERM to (a pid set). */
static GHashTable *stop_signalled;
static guint stop_timer;
/* Who hears of the start in progress, and whether it is an exec's. */
static SupStartDone start_done;
static gpointer start_data;
static bool start_quiet;
/* Set by destroy: the init's end is nobody's news any more. */
static bool destroying;

const char *
sup_state_name (SupState st)
{
	switch (st) {
	case SUP_CREATED: return "created";
	case SUP_RUNNING: return "running";
	case SUP_STOPPED: return "stopped";
	}
	return "unknown";
}

char *
sup_pinned_text (void)
{
	return ns_set_format (sup.pinned);
}

/* Informational (a live supervisor's `hello` is what counts), so atomic
 * but not fsynced: it changes on every start and stop. */
static void
write_state_record (void)
{
	g_autofree char *text = NULL;

	if (sup.state == SUP_RUNNING)
		text = g_strdup_printf ("running %d\n", sup.init_pid);
	else
		text = g_strdup_printf ("%s\n", sup_state_name (sup.state));
	if (ns_write_atomic (sup.dirfd, "state", text, false) < 0)
		g_warning ("cannot write %s/state", sup.dir);
}

void
sup_lifecycle_init (const char *dir)
{
	sup.dir = g_strdup (dir);
	sup.init_pidfd = -1;
	sup_cgroups_init (&sup.cg);
	sup.state = SUP_CREATED;
	sup.jobs = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, sup_job_free);
	stop_signalled = g_hash_table_new (g_direct_hash, g_direct_equal);
}

void
sup_lifecycle_shutdown (void)
{
	sup_loop_remove (&stop_timer);
	g_clear_pointer (&sup.jobs, g_hash_table_destroy);
	g_clear_pointer (&stop_signalled, g_hash_table_destroy);
	g_clear_pointer (&sup.cfg, ns_config_free);
	g_clear_pointer (&sup.stop_reason, g_free);
	g_clear_pointer (&sup.dir, g_free);
}

void
sup_write_state_record (void)
{
	write_state_record ();
}

/* ------------------------------------------------------------------ */
/* start */

bool
sup_is_destroying (void)
{
	return destroying;
}

bool
sup_start_in_progress (void)
{
	return sup.starting != NULL;
}

/* Make the started sandbox known: its pins, its record, its clients. */
void
sup_announce_running (void)
{
	char pid[16];
	NsError err;

	sup.unannounced = false;
	/* A pinned sandbox pins its new namespaces in place of the old. */
	if (sup.pin_requested && sup_pin (&sup, &err) < 0)
		g_warning ("%s", err.msg);
	write_state_record ();
	snprintf (pid, sizeof pid, "%d", sup.init_pid);
	sup_broadcast ("state", "running", pid, NULL);
}

void
sup_ensure_running (bool quiet, SupStartDone done, gpointer data)
{
	NsError err = { 0 };

	if (sup.state == SUP_RUNNING) {
		done (NULL, data);
		return;
	}
	if (sup_start_begin (&sup, &err) < 0) {
		done (&err, data);
		return;
	}
	start_done = done;
	start_data = data;
	start_quiet = quiet;
}

void
sup_start_settled (const NsError *err)
{
	SupStartDone done = start_done;
	gpointer data = start_data;

	start_done = NULL;
	start_data = NULL;
	if (!err) {
		if (start_quiet)
			sup.unannounced = true;
		else
			sup_announce_running ();
		sup_idle_memory_release_soon ();
	}
	if (done)
		done (err, data);
	sup_requests_resume ();
}

/* Put back what a start made for an exec that failed changed; nothing was
 * announced, so nobody saw it run.  The init is thrown away: killed, and
 * reaped by the loop like a helper, never taken for a stray. */
void
sup_undo_start (SupState before, char *stop_reason, SupChildFunc reaped, gpointer data)
{
	kill (sup.init_pid, SIGKILL);
	sup_loop_watch_child (sup.init_pid, reaped, data);
	sup_spawner_stop (&sup);
	sup_net_detach (&sup, sup.cfg);
	sup_cgroups_release (&sup);
	ns_close_fdp (&sup.init_pidfd);
	sup.init_pid = 0;
	sup.unannounced = false;
	sup.state = before;
	g_free (sup.stop_reason);
	sup.stop_reason = stop_reason;
}

static void
start_reply (const NsError *err, gpointer data)
{
	SupRequest *req = data;
	char pid[16];

	if (err) {
		sup_request_err (req, err);
		return;
	}
	snprintf (pid, sizeof pid, "%d", sup.init_pid);
	sup_request_ok (req, pid, NULL);
}

void
sup_handle_start (SupRequest *req)
{
	sup_ensure_running (false, start_reply, req);
}

/* ------------------------------------------------------------------ */
/* the init's end, and stop */

static gboolean on_stop_tick (gpointer data);

static void
poll_stop (bool on)
{
	sup_loop_remove (&stop_timer);
	if (on)
		stop_timer = sup_loop_add_timer (STOP_POLL_MS, on_stop_tick, NULL);
}

/* A pending stop ends the init, and with it the sandbox, once every other
 * process of the sandbox is gone or the grace period is over. */
static void
check_stop (void)
{
	guint ours;

	if (!sup.stopping || sup.init_pid <= 0)
		return;
	if (g_get_monotonic_time () >= sup.stop_deadline) {
		sup_signal_jobs (&sup, SIGKILL);
		sup_signal_strays (&sup, SIGKILL, NULL);
		sup_cgroups_signal (&sup.cg, SIGKILL, sup.init_pid);
		kill (sup.init_pid, SIGKILL);
		if (stop_req && g_get_monotonic_time () >= sup.stop_deadline + STOP_KILL_WAIT_MS * 1000)
			sup_request_errno (g_steal_pointer (&stop_req), EBUSY,
			                   "stop: %u jobs of the sandbox did not end of SIGKILL (waiting on a file system "
			                   "that does not answer?); it becomes stopped when they do",
			                   g_hash_table_size (sup.jobs));
		return;
	}
	/* A process in a session of its own (missed by SIGTERM to its job's
	 * group) becomes a stray when its job ends: it gets SIGTERM then. */
	ours = sup_signal_strays (&sup, SIGTERM, stop_signalled);
	if (g_hash_table_size (sup.jobs) == 0 && ours == 0 && !sup_init_has_strays (&sup))
		kill (sup.init_pid, SIGKILL);
}

static gboolean
on_stop_tick (gpointer data)
{
	check_stop ();
	return G_SOURCE_CONTINUE;
}

/* The sandbox reads `stopped`, for REASON, from now on: in its record
 * and to every client. */
static void
mark_stopped (const char *reason)
{
	sup.state = SUP_STOPPED;
	g_free (sup.stop_reason);
	sup.stop_reason = g_strdup (reason);
	write_state_record ();
	sup_broadcast ("state", "stopped", reason, NULL);
}

/* The init is gone: every job went with it (pid namespace) or is killed
 * now, and the namespaces are released once the last fd drops. */
static void
sandbox_ended (const char *reason)
{
	if (sup.state != SUP_RUNNING)
		return;
	/* What ends was seen to run first. */
	if (sup.unannounced)
		sup_announce_running ();
	sup_signal_jobs (&sup, SIGKILL);
	sup_signal_strays (&sup, SIGKILL, NULL);
	/* It holds the ended sandbox's pid and time namespaces. */
	sup_spawner_stop (&sup);
	sup_net_detach (&sup, sup.cfg);
	/* Whatever is still in its cgroup (without a pid namespace, what a
	 * job left behind in a session of its own) ends with it. */
	sup_cgroups_release (&sup);
	ns_close_fdp (&sup.init_pidfd);
	sup.init_pid = 0;
	mark_stopped (reason);
	poll_stop (false);
	if (sup.stopping) {
		sup.stopping = false;
		if (stop_req)
			sup_request_ok (g_steal_pointer (&stop_req), NULL);
	}
}

static void
init_reaped (int wstatus)
{
	g_autofree char *why = NULL;

	if (sup.starting) {
		sup_start_init_reaped (&sup);
		return;
	}
	if (destroying) {
		ns_close_fdp (&sup.init_pidfd);
		sup.init_pid = 0;
		return;
	}
	if (sup.stopping) {
		why = g_strdup ("stopped on request");
	} else {
		g_autofree char *how = ns_wait_status_format (wstatus);
		why = g_strdup_printf ("the sandbox init ended (%s)", how);
	}
	sandbox_ended (why);
}

void
sup_reap (pid_t pid, int wstatus)
{
	g_autofree char *status = NULL;
	unsigned id;

	if (pid == sup.init_pid) {
		init_reaped (wstatus);
	} else if (sup_job_reaped (&sup, pid, wstatus, &id, &status)) {
		char idtext[16];
		snprintf (idtext, sizeof idtext, "%u", id);
		sup_broadcast ("exit", idtext, status, NULL);
	}
	/* Else a stray of ours: reaped, and nothing more. */
}

void
sup_after_reaping (bool reaped)
{
	check_stop ();
	/* A stopped sandbox has no processes: a stray killed with it may
	 * have had children, reparented to us as it died. */
	if (reaped && sup.state != SUP_RUNNING)
		sup_signal_strays (&sup, SIGKILL, NULL);
}

void
sup_handle_stop (SupRequest *req)
{
	/* §3: after a stop the state is `stopped`, also when the sandbox had
	 * never been started (there is nothing to end). */
	if (sup.state == SUP_CREATED)
		mark_stopped ("stopped on request");
	if (sup.state != SUP_RUNNING) {
		sup_request_ok (req, NULL);
		return;
	}
	if (sup.stopping) {
		/* nsfsd gave up on the first: this one hears the end. */
		if (stop_req)
			sup_request_ok (g_steal_pointer (&stop_req), NULL);
		stop_req = req;
		return;
	}
	sup.stopping = true;
	stop_req = req;
	sup.stop_deadline = g_get_monotonic_time () + NSFS_STOP_GRACE_SECONDS * G_TIME_SPAN_SECOND;
	/* Each process gets SIGTERM once (a second one means "now" to many
	 * servers).  In its pid namespace the init passes it to all, jobs
	 * included; without one, the jobs' groups get it, and the strays. */
	kill (sup.init_pid, SIGTERM);
	g_hash_table_remove_all (stop_signalled);
	if (!(sup.cfg->ns & CLONE_NEWPID)) {
		GHashTableIter it;
		gpointer job_pid;
		sup_signal_jobs (&sup, SIGTERM);
		/* Each job leads its group: what they reached is done. */
		g_hash_table_iter_init (&it, sup.jobs);
		while (g_hash_table_iter_next (&it, &job_pid, NULL))
			g_hash_table_add (stop_signalled, job_pid);
		sup_signal_strays (&sup, SIGTERM, stop_signalled);
	}
	poll_stop (true);
	check_stop ();
}

/* ------------------------------------------------------------------ */
/* destroy */

static void
kill_strays (void)
{
	sup_signal_strays (&sup, SIGKILL, NULL);
}

void
sup_handle_destroy (SupRequest *req)
{
	bool all_gone;

	destroying = true;
	sup_requests_close ();
	/* Everything gets SIGKILL, whatever it is doing: an init in a mount
	 * that hangs, a job in an execve that hangs, a helper in an open
	 * that hangs. */
	sup_loop_signal_helpers (SIGKILL);
	sup_signal_jobs (&sup, SIGKILL);
	kill_strays ();
	if (sup.init_pid > 0)
		kill (sup.init_pid, SIGKILL);
	sup_cgroups_signal (&sup.cg, SIGKILL, 0);
	/* Wait for every child, jobs, helpers and strays included, so
	 * nothing outlives rmdir.  Each death may hand us the dead one's
	 * children (we are their subreaper); they are killed before the next
	 * wait. */
	all_gone = sup_loop_reap_all (kill_strays, DESTROY_WAIT_MS);
	if (sup.cfg)
		sup_net_detach (&sup, sup.cfg);
	sup_cgroups_remove (&sup);
	poll_stop (false);
	ns_close_fdp (&sup.init_pidfd);
	sup.init_pid = 0;
	sup.state = SUP_STOPPED;
	sup.stopping = false;
	sup_unpin (&sup);
	if (stop_req)
		sup_request_ok (g_steal_pointer (&stop_req), NULL);
	sup_request_ok (req, NULL);
	sup_requests_cancel_all ();
	/* nsfsd reads the exit records once we are gone, not at the reply. */
	if (!all_gone)
		fprintf (stderr, "nsfs-supervisor: destroy: processes that SIGKILL did not end in %d ms are left to die "
		                 "when what they wait for lets them go\n", DESTROY_WAIT_MS);
	sup_loop_quit ();
}
