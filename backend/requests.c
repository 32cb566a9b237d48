/* The supervisor's verbs: one row per request of the protocol's table
 * (common/proto_verbs.c), whose field counts are checked here for all,
 * and the handlers that are not the lifecycle's (lifecycle.c). */
#include "requests.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "cmdline.h"
#include "proto_verbs.h"
#include "signames.h"
#include "supervisor.h"

/* Every request not answered yet, to cancel at exit. */
static GQueue pending = G_QUEUE_INIT;
/* Requests waiting for a start to settle, in the order they came. */
static GQueue waiting = G_QUEUE_INIT;
/* Set by destroy: what waits is cancelled, never run. */
static bool closing;

static void
request_free (SupRequest *req)
{
	g_queue_remove (&pending, req);
	sup_client_unref (req->client);
	g_strfreev (req->raw);
	g_free (req);
}

static void
answer (SupRequest *req, char *const *fields)
{
	/* A client that hung up or was cut off hears nothing. */
	sup_client_send (req->client, req->tag, fields);
	request_free (req);
}

void
sup_request_ok (SupRequest *req, ...)
{
	g_autofree char **fields = NULL;
	va_list ap;

	va_start (ap, req);
	fields = ns_proto_fields_va ("ok", ap);
	va_end (ap);
	answer (req, fields);
}

void
sup_request_err (SupRequest *req, const NsError *err)
{
	char code[16];
	char *const fields[] = { "err", code, (char *) err->msg, NULL };

	snprintf (code, sizeof code, "%d", err->code ? err->code : EIO);
	answer (req, fields);
}

void
sup_request_errno (SupRequest *req, int code, const char *fmt, ...)
{
	NsError err = { .code = code };
	va_list ap;

	va_start (ap, fmt);
	vsnprintf (err.msg, sizeof err.msg, fmt, ap);
	va_end (ap);
	sup_request_err (req, &err);
}

/* ------------------------------------------------------------------ */
/* hello */

static void
handle_hello (SupRequest *req)
{
	char pid[16], version[16];
	g_autofree char *pinned = NULL;
	SupClient *c = req->client;

	if (atoi (req->msg[1]) != NSFS_PROTO_VERSION) {
		sup_request_errno (req, EPROTO, "supervisor speaks protocol %d, nsfsd spoke %s", NSFS_PROTO_VERSION,
		                   req->msg[1]);
		return;
	}
	pinned = sup_pinned_text ();
	snprintf (pid, sizeof pid, "%d", sup.state == SUP_RUNNING ? sup.init_pid : 0);
	snprintf (version, sizeof version, "%d", NSFS_PROTO_VERSION);
	sup_client_ref (c);
	sup_request_ok (req, version, sup_state_name (sup.state), pid, sup.stop_reason ? sup.stop_reason : "", pinned,
	                NULL);
	sup_client_greet (c);
	sup_client_unref (c);
}

/* ------------------------------------------------------------------ */
/* exec ID LINE: start the sandbox if need be, then the job. */

typedef struct {
	SupRequest *req;
	unsigned id;
	char **argv;
	/* For a start made for this exec: what to put back if it fails. */
	bool made_start;
	SupState before;
	char *stop_reason;
} ExecCall;

static void
exec_call_free (ExecCall *call)
{
	g_strfreev (call->argv);
	g_free (call->stop_reason);
	g_free (call);
}

/* An undone start's error, answered once its init and the child that
 * could not execute are gone: the write leaves no process behind. */
typedef struct {
	ExecCall *call;
	NsError err;
	guint pending;
} UndoneExec;

static void
undone_exec_reaped (pid_t pid, int wstatus, gpointer data)
{
	UndoneExec *u = data;

	if (--u->pending)
		return;
	sup_request_err (u->call->req, &u->err);
	exec_call_free (u->call);
	g_free (u);
}

/* An exec that started the sandbox for a program that then could not be
 * executed leaves it as it found it, created or stopped (with the reason
 * it stopped for), as every failed write leaves what it would have
 * changed, unless someone else saw it run meanwhile.  CHILD: the failed
 * job's process, not reaped yet (0: none). */
static void
exec_failed (ExecCall *call, pid_t child, const NsError *err)
{
	if (call->made_start && sup.unannounced) {
		UndoneExec *u = g_new0 (UndoneExec, 1);

		*u = (UndoneExec) { .call = call, .err = *err, .pending = child > 0 ? 2 : 1 };
		if (child > 0)
			sup_loop_watch_child (child, undone_exec_reaped, u);
		sup_undo_start (call->before, g_steal_pointer (&call->stop_reason), undone_exec_reaped, u);
		return;
	}
	sup_request_err (call->req, err);
	exec_call_free (call);
}

static void
exec_done (pid_t pid, const NsError *err, gpointer data)
{
	ExecCall *call = data;
	char pidtext[16];

	if (err) {
		exec_failed (call, pid, err);
		return;
	}
	if (call->made_start && sup.unannounced)
		sup_announce_running ();
	snprintf (pidtext, sizeof pidtext, "%d", pid);
	sup_request_ok (call->req, pidtext, NULL);
	exec_call_free (call);
}

static void
exec_started (const NsError *err, gpointer data)
{
	ExecCall *call = data;
	g_autofree char *shown = NULL;
	NsError e = { 0 };

	if (err) {
		sup_request_err (call->req, err);
		exec_call_free (call);
		return;
	}
	/* The write travels once, as it was written, and is split here by
	 * the same parser nsfsd checked it with; `cmd` shows it stripped,
	 * as nsfsd does. */
	shown = ns_cmdline_strip (g_strdup (call->req->msg[2]));
	if (sup_exec_job (&sup, call->id, shown, call->argv, exec_done, call, &e) < 0)
		exec_failed (call, 0, &e);
}

static void
handle_exec (SupRequest *req)
{
	g_auto (GStrv) argv = NULL;
	NsError err = { 0 };
	ExecCall *call;
	char *end;
	unsigned long id = strtoul (req->msg[1], &end, 10);

	if (*end || id == 0 || id > UINT32_MAX) {
		sup_request_errno (req, EINVAL, "exec: bad job id");
		return;
	}
	if (ns_cmdline_parse (req->msg[2], strlen (req->msg[2]), &argv, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	call = g_new0 (ExecCall, 1);
	call->req = req;
	call->id = (unsigned) id;
	call->argv = g_steal_pointer (&argv);
	if (sup.state == SUP_RUNNING) {
		exec_started (NULL, call);
		return;
	}
	call->made_start = true;
	call->before = sup.state;
	call->stop_reason = g_strdup (sup.stop_reason);
	sup_ensure_running (true, exec_started, call);
}

/* ------------------------------------------------------------------ */
/* The others */

static void
handle_kill (SupRequest *req)
{
	NsError err = { 0 };
	int signo;

	if (ns_signal_parse (req->msg[1], &signo, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	sup_signal_jobs (&sup, signo);
	/* And what else is in the sandbox's cgroup, but its init. */
	if (sup.state == SUP_RUNNING)
		sup_cgroups_signal (&sup.cg, signo, sup.init_pid);
	sup_request_ok (req, NULL);
}

/* env, cwd or user changed: later jobs of the running sandbox take them
 * from the saved configuration (a stopped one reads it at its start). */
static void
handle_job_settings (SupRequest *req)
{
	g_autofree char *cfg_path = g_build_filename (sup.dir, "config", NULL);
	g_autoptr (NsSandboxConfig) cfg = NULL;
	NsError err = { 0 };

	if (ns_config_load (cfg_path, &cfg, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	if (sup.cfg) {
		g_free (sup.cfg->env);
		sup.cfg->env = g_strdup (cfg->env);
		g_free (sup.cfg->cwd);
		sup.cfg->cwd = g_strdup (cfg->cwd);
		sup.cfg->user = cfg->user;
		sup.cfg->stdin_mode = cfg->stdin_mode;
	}
	sup_request_ok (req, NULL);
}

static void
handle_winsize (SupRequest *req)
{
	SupJob *job = sup_job_by_id (&sup, (unsigned) g_ascii_strtoull (req->msg[1], NULL, 10));
	NsError err = { 0 };

	if (!job || !job->tty) {
		sup_request_errno (req, ENOENT, "winsize: job %s has no terminal (any more)", req->msg[1]);
		return;
	}
	if (sup_tty_resize (job->tty, (unsigned) g_ascii_strtoull (req->msg[2], NULL, 10),
	                    (unsigned) g_ascii_strtoull (req->msg[3], NULL, 10), &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	sup_request_ok (req, NULL);
}

static void
handle_stdin_open (SupRequest *req)
{
	sup_job_stdin_opened (&sup, (unsigned) g_ascii_strtoull (req->msg[1], NULL, 10));
	sup_request_ok (req, NULL);
}

/* New limits for the running sandbox (a stopped one reads them from its
 * configuration at the next start). */
static void
handle_limits (SupRequest *req)
{
	NsLimits l;
	NsError err = { 0 };

	if (ns_memory_max_parse (req->msg[1], strlen (req->msg[1]), &l.memory_max, &err) < 0 ||
	    ns_pids_max_parse (req->msg[2], strlen (req->msg[2]), &l.pids_max, &err) < 0 ||
	    ns_cpu_max_parse (req->msg[3], strlen (req->msg[3]), &l.cpu_quota, &l.cpu_period, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	if (sup.state == SUP_RUNNING && sup_cgroups_apply_limits (&sup.cg, &l, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	if (sup.cfg)
		sup.cfg->limits = l;
	sup_request_ok (req, NULL);
}

/* Hostnames are applied one at a time, in the order asked: each is a
 * helper child, and two at once would race to be the last (nsfsd tells
 * the old one again after a hostname that timed out). */
static GQueue hostname_queue = G_QUEUE_INIT;
static bool hostname_busy;

static void start_hostname (SupRequest *req);

static void
hostname_done (int code, gpointer data)
{
	SupRequest *req = data;

	if (code)
		sup_request_errno (req, code, "hostname: cannot apply it to the running sandbox: %s", strerror (code));
	else
		sup_request_ok (req, NULL);
	hostname_busy = false;
	if (!g_queue_is_empty (&hostname_queue))
		start_hostname (g_queue_pop_head (&hostname_queue));
}

static void
start_hostname (SupRequest *req)
{
	NsError err = { 0 };
	int r;

	if (closing) {
		sup_request_errno (req, ECANCELED, "the sandbox was destroyed");
		return;
	}
	r = sup_set_hostname (&sup, req->msg[1], hostname_done, req, &err);

	if (r > 0) {
		hostname_busy = true;
		return;
	}
	if (r < 0)
		sup_request_err (req, &err);
	else
		sup_request_ok (req, NULL);
	if (!g_queue_is_empty (&hostname_queue))
		start_hostname (g_queue_pop_head (&hostname_queue));
}

static void
handle_hostname (SupRequest *req)
{
	if (hostname_busy)
		g_queue_push_tail (&hostname_queue, req);
	else
		start_hostname (req);
}

static void
handle_caps (SupRequest *req)
{
	NsError err = { 0 };
	uint64_t keep;

	/* Later jobs keep this set; a sandbox not started yet reads it from
	 * its configuration when it starts. */
	if (ns_caps_parse (req->msg[1], strlen (req->msg[1]), &keep, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	if (sup.cfg)
		sup.cfg->caps = keep;
	sup_request_ok (req, NULL);
}

/* Paths the owner names, looked up with the owner's credentials: a
 * rootfs (a directory it can read), or the sources of a mounts write's
 * binds (anything it can reach), each with the line it is on. */
typedef struct {
	SupRequest *req;
	uint32_t uid;
	bool rootfs;
	GPtrArray *paths;
	GPtrArray *lines;
} PathCheck;

static void
path_check_free (PathCheck *pc)
{
	g_ptr_array_unref (pc->paths);
	g_ptr_array_unref (pc->lines);
	g_free (pc);
}

static void
check_paths_done (int code, size_t index, gpointer data)
{
	PathCheck *pc = data;
	const char *path = index < pc->paths->len ? pc->paths->pdata[index] : "";
	g_autofree char *what = pc->rootfs ? g_strdup ("rootfs")
	                                   : g_strdup_printf ("mounts: line %s: bind source",
	                                                      index < pc->lines->len ? (char *) pc->lines->pdata[index] : "?");

	if (code == 0)
		sup_request_ok (pc->req, NULL);
	else if (code == ETIMEDOUT)
		sup_request_errno (pc->req, ETIMEDOUT, "%s: the check of %.200s did not end in %d s", what, path,
		                   SUP_HELPER_TIMEOUT_SECONDS);
	else if (code == EIO)
		sup_request_errno (pc->req, EIO, "%s: the check of %.200s failed", what, path);
	else if (code == ENOTDIR && pc->rootfs)
		sup_request_errno (pc->req, EINVAL, "%s: %.200s is not a directory", what, path);
	else
		sup_request_errno (pc->req, code == ENOENT ? ENOENT : EACCES, "%s: uid %u cannot %s %.200s: %s", what,
		                   pc->uid, pc->rootfs ? "read" : "reach", path, strerror (code));
	path_check_free (pc);
}

static void
check_paths (SupRequest *req, bool rootfs)
{
	g_autofree char *cfg_path = g_build_filename (sup.dir, "config", NULL);
	g_autoptr (NsSandboxConfig) cfg = NULL;
	NsError err = { 0 };
	PathCheck *pc;

	if (ns_config_load (cfg_path, &cfg, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	pc = g_new0 (PathCheck, 1);
	pc->req = req;
	pc->uid = cfg->owner_uid;
	pc->rootfs = rootfs;
	pc->paths = g_ptr_array_new ();
	pc->lines = g_ptr_array_new ();
	if (rootfs) {
		g_ptr_array_add (pc->paths, req->msg[1]);
	} else {
		for (size_t i = 1; req->msg[i] && req->msg[i + 1]; i += 2) {
			g_ptr_array_add (pc->lines, req->msg[i]);
			g_ptr_array_add (pc->paths, req->msg[i + 1]);
		}
	}
	if (sup_check_paths_as_owner (cfg, (char *const *) pc->paths->pdata, pc->paths->len, rootfs, check_paths_done, pc,
	                              &err) < 0) {
		path_check_free (pc);
		sup_request_err (req, &err);
	}
}

static void
handle_check_rootfs (SupRequest *req)
{
	check_paths (req, true);
}

static void
handle_check_sources (SupRequest *req)
{
	if (g_strv_length (req->msg) % 2 == 0) {
		sup_request_errno (req, EINVAL, "check-sources: a line number without its path");
		return;
	}
	check_paths (req, false);
}

static void
handle_pin (SupRequest *req)
{
	g_autofree char *pinned = NULL;
	NsError err = { 0 };

	if (sup_pin (&sup, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	sup.pin_requested = true;
	pinned = sup_pinned_text ();
	sup_request_ok (req, pinned, NULL);
}

static void
handle_unpin (SupRequest *req)
{
	sup_unpin (&sup);
	sup.pin_requested = false;
	sup_request_ok (req, "", NULL);
}

/* ------------------------------------------------------------------ */
/* The table */

#define WAITS SUP_VERB_WAITS_FOR_START

/* One row per request of ns_proto_verbs (tests/unit/test-proto-verbs.c
 * checks that every one has a row here and that no row is unknown).
 * What only reads or touches nothing of the sandbox's processes runs at
 * once, during a start too: hello, check-rootfs, check-sources, and destroy, which ends
 * whatever is under way. */
const SupVerb sup_verbs[] = {
	{ "hello", handle_hello, 0 },
	{ "start", sup_handle_start, WAITS },
	{ "exec", handle_exec, WAITS },
	{ "stop", sup_handle_stop, WAITS },
	{ "kill", handle_kill, WAITS },
	{ "hostname", handle_hostname, WAITS },
	{ "pin", handle_pin, WAITS },
	{ "unpin", handle_unpin, WAITS },
	{ "check-rootfs", handle_check_rootfs, 0 },
	{ "check-sources", handle_check_sources, 0 },
	{ "caps", handle_caps, WAITS },
	{ "limits", handle_limits, WAITS },
	{ "job-settings", handle_job_settings, WAITS },
	{ "stdin-open", handle_stdin_open, 0 },
	{ "winsize", handle_winsize, WAITS },
	{ "destroy", sup_handle_destroy, 0 },
};
const size_t sup_n_verbs = G_N_ELEMENTS (sup_verbs);

static const SupVerb *
find_verb (const char *name)
{
	for (size_t i = 0; i < sup_n_verbs; i++)
		if (strcmp (sup_verbs[i].verb, name) == 0)
			return &sup_verbs[i];
	return NULL;
}

static void
run (SupRequest *req)
{
	/* A start made for an exec whose job is not known to run yet is
	 * nobody's news until then; a request other than destroy, which ends
	 * it anyway, makes it everyone's (and the exec keeps it, whatever
	 * becomes of its job). */
	if (sup.unannounced && req->verb->handler != sup_handle_destroy)
		sup_announce_running ();
	req->verb->handler (req);
}

void
sup_requests_dispatch (SupClient *c, char **msg)
{
	SupRequest *req = g_new0 (SupRequest, 1);
	const NsProtoVerb *row;
	NsError err = { 0 };

	req->client = sup_client_ref (c);
	req->raw = req->msg = msg;
	g_queue_push_tail (&pending, req);
	if (msg[0][0] == NSFS_PROTO_TAG) {
		if (strlen (msg[0]) >= sizeof req->tag || !msg[1]) {
			sup_request_errno (req, EPROTO, "malformed request tag");
			return;
		}
		g_strlcpy (req->tag, msg[0], sizeof req->tag);
		req->msg++;
	}
	if (ns_proto_verb_check (req->msg, NS_MSG_REQUEST, &row, &err) < 0) {
		sup_request_err (req, &err);
		return;
	}
	req->verb = find_verb (row->verb);
	if (!req->verb) {
		sup_request_errno (req, ENOSYS, "this supervisor does not serve '%s'", row->verb);
		return;
	}
	if ((req->verb->flags & SUP_VERB_WAITS_FOR_START) && (sup_start_in_progress () || !g_queue_is_empty (&waiting))) {
		g_queue_push_tail (&waiting, req);
		return;
	}
	run (req);
}

void
sup_requests_close (void)
{
	closing = true;
}

void
sup_requests_resume (void)
{
	while (!closing && !sup_start_in_progress () && !g_queue_is_empty (&waiting))
		run (g_queue_pop_head (&waiting));
}

void
sup_requests_cancel_all (void)
{
	g_queue_clear (&waiting);
	g_queue_clear (&hostname_queue);
	while (!g_queue_is_empty (&pending))
		sup_request_errno (g_queue_peek_head (&pending), ECANCELED, "the sandbox was destroyed");
}
