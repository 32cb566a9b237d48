#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "cmdline.h"
#include "inodes.h"
#include "names.h"
#include "nstypes.h"
#include "statedir.h"
#include "supervisor_client.h"

static GMutex registry_lock;
static GHashTable *by_name;    /* name -> Sandbox* (the registry's reference) */
static GHashTable *by_serial;  /* serial -> Sandbox* (borrowed) */
static GHashTable *reserved;   /* names being created -> owner uid */
static uint32_t next_serial = 1;
static SandboxJobEndHook job_end_hook;
static SandboxTouchHook touch_hook;
static SandboxLimits limits = SANDBOX_DEFAULT_LIMITS;

void
sandbox_set_limits (const SandboxLimits *l)
{
	limits = *l;
}

/* Call with registry_lock held. */
static guint
count_owned_by (uid_t uid)
{
	GHashTableIter it;
	gpointer value;
	guint n = 0;

	g_hash_table_iter_init (&it, by_name);
	while (g_hash_table_iter_next (&it, NULL, &value))
		n += ((Sandbox *) value)->owner == uid;
	g_hash_table_iter_init (&it, reserved);
	while (g_hash_table_iter_next (&it, NULL, &value))
		n += GPOINTER_TO_UINT (value) == uid;
	return n;
}

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

GPtrArray *
sandbox_pollhandles_new (void)
{
	return g_ptr_array_new_with_free_func ((GDestroyNotify) fuse_pollhandle_destroy);
}

static void
job_free (Job *job)
{
	g_free (job->cmd);
	g_free (job->status);
	if (job->pollhandles)
		g_ptr_array_unref (job->pollhandles);
	g_free (job);
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
	g_mutex_clear (&sb->lock);
	g_mutex_clear (&sb->op_lock);
	g_free (sb);
}

static Sandbox *
sandbox_new (const char *name, NsSandboxConfig *cfg)
{
	Sandbox *sb = g_new0 (Sandbox, 1);

	sb->refcount = 1;
	sb->name = g_strdup (name);
	sb->dir = statedir_sandbox_path (name);
	sb->cfg = cfg;
	sb->owner = cfg->owner_uid;
	sb->state = SB_CREATED;
	sb->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) job_free);
	g_mutex_init (&sb->lock);
	g_mutex_init (&sb->op_lock);
	clock_gettime (CLOCK_REALTIME, &sb->ctime);
	sb->mtime = sb->ctime;
	return sb;
}

void
sandbox_registry_init (void)
{
	by_name = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) sandbox_unref);
	by_serial = g_hash_table_new (g_direct_hash, g_direct_equal);
	reserved = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

void
sandbox_registry_shutdown (void)
{
	g_autoptr (GPtrArray) list = sandbox_list ();

	for (guint i = 0; i < list->len; i++) {
		Sandbox *sb = list->pdata[i];
		SupConn *conn;
		g_mutex_lock (&sb->lock);
		conn = sb->conn;
		sb->conn = NULL;
		sb->removed = true;
		g_mutex_unlock (&sb->lock);
		supclient_close (conn);
	}
	g_mutex_lock (&registry_lock);
	g_hash_table_destroy (by_serial);
	g_hash_table_destroy (by_name);
	g_hash_table_destroy (reserved);
	by_serial = by_name = reserved = NULL;
	g_mutex_unlock (&registry_lock);
}

/* Call with registry_lock held. */
static void
register_locked (Sandbox *sb)
{
	sb->serial = next_serial++;
	g_hash_table_insert (by_name, sb->name, sb);
	g_hash_table_insert (by_serial, GUINT_TO_POINTER (sb->serial), sb);
}

static void
unregister (Sandbox *sb)
{
	g_mutex_lock (&registry_lock);
	if (g_hash_table_lookup (by_name, sb->name) == sb) {
		g_hash_table_remove (by_serial, GUINT_TO_POINTER (sb->serial));
		g_hash_table_remove (by_name, sb->name);
	}
	g_mutex_unlock (&registry_lock);
}

Sandbox *
sandbox_lookup (const char *name)
{
	Sandbox *sb;

	g_mutex_lock (&registry_lock);
	sb = g_hash_table_lookup (by_name, name);
	if (sb)
		sandbox_ref (sb);
	g_mutex_unlock (&registry_lock);
	return sb;
}

Sandbox *
sandbox_by_serial (uint32_t serial)
{
	Sandbox *sb;

	g_mutex_lock (&registry_lock);
	sb = g_hash_table_lookup (by_serial, GUINT_TO_POINTER (serial));
	if (sb)
		sandbox_ref (sb);
	g_mutex_unlock (&registry_lock);
	return sb;
}

guint
sandbox_count (void)
{
	guint n;
	g_mutex_lock (&registry_lock);
	n = by_name ? g_hash_table_size (by_name) : 0;
	g_mutex_unlock (&registry_lock);
	return n;
}

static gint
by_serial_order (gconstpointer a, gconstpointer b)
{
	const Sandbox *x = *(Sandbox *const *) a, *y = *(Sandbox *const *) b;
	return x->serial < y->serial ? -1 : x->serial > y->serial;
}

GPtrArray *
sandbox_list (void)
{
	GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) sandbox_unref);
	GHashTableIter it;
	gpointer value;

	g_mutex_lock (&registry_lock);
	g_hash_table_iter_init (&it, by_name);
	while (g_hash_table_iter_next (&it, NULL, &value))
		g_ptr_array_add (list, sandbox_ref (value));
	g_mutex_unlock (&registry_lock);
	g_ptr_array_sort (list, by_serial_order);
	return list;
}

static void
touch (Sandbox *sb)
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
	touch (sb);
	g_mutex_unlock (&sb->lock);
	/* Kept across restarts; losing it is not worth failing the write. */
	(void) g_file_set_contents_full (path, line, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
}

static void refresh_jobs_from_records (Sandbox *sb, bool supervisor_alive);
static int ensure_supervisor (Sandbox *sb, NsError *err);
static int request (Sandbox *sb, char *const *fields, char ***reply, NsError *err);

static int
remove_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	return type == FTW_DP ? rmdir (path) : unlink (path);
}

static void
remove_tree (const char *dir)
{
	nftw (dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new sandbox with its own fresh supervisor, not yet registered. */
static Sandbox *
create_fresh (const char *name, uid_t uid, gid_t gid, NsError *err)
{
	g_autofree char *cfg_path = NULL;
	Sandbox *sb = sandbox_new (name, ns_config_new (name, uid, gid));

	sb->cfg->max_output = limits.job_output;
	if (mkdir (sb->dir, 0700) < 0) {
		ns_error (err, errno == EEXIST ? EEXIST : errno, "cannot create %s: %s", sb->dir, strerror (errno));
		sandbox_unref (sb);
		return NULL;
	}
	cfg_path = g_build_filename (sb->dir, "config", NULL);
	if (ns_config_save (sb->cfg, cfg_path, err) < 0 || supclient_spawn (sb, &sb->conn, err) < 0) {
		remove_tree (sb->dir);
		sandbox_unref (sb);
		return NULL;
	}
	return sb;
}

int
sandbox_create (const char *name, uid_t uid, gid_t gid, Sandbox **out, NsError *err)
{
	Sandbox *sb = NULL;

	g_mutex_lock (&registry_lock);
	if (g_hash_table_lookup (by_name, name) || g_hash_table_contains (reserved, name)) {
		g_mutex_unlock (&registry_lock);
		return ns_error (err, EEXIST, "sandbox %s exists", name);
	}
	if (uid != 0 && limits.sandboxes_per_uid && count_owned_by (uid) >= limits.sandboxes_per_uid) {
		g_mutex_unlock (&registry_lock);
		return ns_error (err, EDQUOT, "uid %u already has %u sandboxes (--max-sandboxes-per-user)", uid,
		                 limits.sandboxes_per_uid);
	}
	/* The name is ours while the supervisor comes up, without holding
	 * the registry lock (every lookup takes it). */
	g_hash_table_insert (reserved, g_strdup (name), GUINT_TO_POINTER (uid));
	g_mutex_unlock (&registry_lock);

	sb = create_fresh (name, uid, gid, err);

	g_mutex_lock (&registry_lock);
	g_hash_table_remove (reserved, name);
	if (sb) {
		register_locked (sb);
		sandbox_ref (sb);
	}
	g_mutex_unlock (&registry_lock);
	if (!sb)
		return -err->code;
	*out = sb;
	return 0;
}

int
sandbox_destroy (Sandbox *sb, NsError *err)
{
	SupConn *conn;

	g_mutex_lock (&sb->op_lock);
	/* A sandbox whose supervisor was lost may still hold pins: a fresh
	 * supervisor's `destroy` releases them. */
	if (!sb->conn && sb->pinned)
		(void) ensure_supervisor (sb, err);
	/* From here a lost supervisor is expected, not an error. */
	g_mutex_lock (&sb->lock);
	sb->removed = true;
	conn = sb->conn ? supclient_ref (sb->conn) : NULL;
	g_mutex_unlock (&sb->lock);
	if (conn) {
		char *req[] = { "destroy", NULL };
		int r = supclient_request (conn, req, NULL, err);
		/* The supervisor is a process of the sandbox too: rmdir returns
		 * once it is gone. */
		if (r == 0 && supclient_wait_exit (conn, 5000) < 0)
			g_warning ("sandbox %s: its supervisor did not exit after destroy", sb->name);
		supclient_unref (conn);
		if (r < 0 && r != -EIO) {
			g_mutex_lock (&sb->lock);
			sb->removed = false;
			g_mutex_unlock (&sb->lock);
			g_mutex_unlock (&sb->op_lock);
			return r;
		}
	}
	g_mutex_lock (&sb->lock);
	conn = sb->conn;
	sb->conn = NULL;
	sb->state = SB_STOPPED;
	g_mutex_unlock (&sb->lock);
	supclient_close (conn);
	/* Readers blocked in `wait` get the jobs' last word before it goes. */
	refresh_jobs_from_records (sb, false);
	remove_tree (sb->dir);
	unregister (sb);
	g_mutex_unlock (&sb->op_lock);
	return 0;
}

static int
ensure_supervisor (Sandbox *sb, NsError *err)
{
	SupConn *conn = NULL;
	int r;

	if (sb->conn)
		return 0;
	if ((r = supclient_spawn (sb, &conn, err)) < 0)
		return r;
	g_mutex_lock (&sb->lock);
	sb->conn = conn;
	g_mutex_unlock (&sb->lock);
	return 0;
}

/* The event thread may drop sb->conn (supervisor lost) at any time; a
 * request keeps its own reference. */
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
request (Sandbox *sb, char *const *fields, char ***reply, NsError *err)
{
	SupConn *c;
	int r;

	if ((r = ensure_supervisor (sb, err)) < 0)
		return r;
	if (!(c = current_conn (sb)))
		return ns_error (err, EIO, "the sandbox's supervisor is gone");
	r = supclient_request (c, fields, reply, err);
	supclient_unref (c);
	return r;
}

int
sandbox_start (Sandbox *sb, NsError *err)
{
	char *req[] = { "start", NULL };
	return request (sb, req, NULL, err);
}

int
sandbox_stop (Sandbox *sb, NsError *err)
{
	char *req[] = { "stop", NULL };
	return request (sb, req, NULL, err);
}

int
sandbox_kill (Sandbox *sb, int signo, NsError *err)
{
	char sig[16];
	char *req[] = { "kill", sig, NULL };

	snprintf (sig, sizeof sig, "%d", signo);
	return request (sb, req, NULL, err);
}

int
sandbox_apply_hostname (Sandbox *sb, const char *hostname, NsError *err)
{
	char *req[] = { "hostname", (char *) hostname, NULL };
	bool running;

	g_mutex_lock (&sb->lock);
	running = sb->state == SB_RUNNING;
	g_mutex_unlock (&sb->lock);
	if (!running)
		return 0;
	return request (sb, req, NULL, err);
}

static unsigned long
parse_pinned (const char *text)
{
	g_auto (GStrv) words = g_strsplit (text ? text : "", " ", -1);
	unsigned long set = 0;

	if (!words[0] || !words[0][0] || ns_set_parse (words, g_strv_length (words), &set, NULL) < 0)
		return 0;
	return set;
}

int
sandbox_pin (Sandbox *sb, bool pin, NsError *err)
{
	char *req[] = { pin ? "pin" : "unpin", NULL };
	g_auto (GStrv) reply = NULL;
	int r = request (sb, req, &reply, err);

	if (r < 0)
		return r;
	g_mutex_lock (&sb->lock);
	sb->pinned = parse_pinned (reply[1]);
	touch (sb);
	g_mutex_unlock (&sb->lock);
	return 0;
}

int
sandbox_check_rootfs (Sandbox *sb, const char *path, NsError *err)
{
	char *req[] = { "check-rootfs", (char *) path, NULL };
	if (sb->owner == 0)
		return 0;
	return request (sb, req, NULL, err);
}

int
sandbox_set_caps (Sandbox *sb, const char *caps, NsError *err)
{
	char *req[] = { "caps", (char *) caps, NULL };
	SupConn *c = current_conn (sb);
	int r;

	if (!c)
		return 0; /* a new supervisor reads the saved configuration */
	r = supclient_request (c, req, NULL, err);
	supclient_unref (c);
	return r;
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
	touch (sb);
	g_mutex_unlock (&sb->lock);
	return 0;
}

static Job *job_from_records (Sandbox *sb, unsigned id);

/* Whether job ID's directory holds a started job's pid record. */
static bool
job_was_started (Sandbox *sb, unsigned id)
{
	g_autofree char *pid_path = sandbox_job_path (sb, id, "pid");
	return access (pid_path, F_OK) == 0;
}

static int
exec_once (Sandbox *sb, const char *cmdline, unsigned *out_id, bool *taken_in, NsError *err)
{
	g_autoptr (GPtrArray) req = g_ptr_array_new_with_free_func (g_free);
	g_auto (GStrv) reply = NULL;
	Job *job = g_new0 (Job, 1);
	unsigned id;
	int r;

	g_mutex_lock (&sb->lock);
	if (limits.jobs_per_sandbox && sb->jobs->len >= limits.jobs_per_sandbox) {
		g_mutex_unlock (&sb->lock);
		g_free (job);
		return ns_error (err, EDQUOT, "exec: this sandbox has %u jobs already (--max-jobs-per-sandbox)",
		                 limits.jobs_per_sandbox);
	}
	/* Inode numbers have room for this many, whatever the limit says. */
	if (sb->jobs->len >= INO_MAX_JOB) {
		g_mutex_unlock (&sb->lock);
		g_free (job);
		return ns_error (err, EDQUOT, "exec: this sandbox has %u jobs, the most a sandbox can have",
		                 sb->jobs->len);
	}
	id = sb->jobs->len + 1;
	job->id = id;
	job->pending = true;
	job->cmd = ns_cmdline_strip (g_strdup (cmdline));
	job->pollhandles = sandbox_pollhandles_new ();
	clock_gettime (CLOCK_REALTIME, &job->start_time);
	g_ptr_array_add (sb->jobs, job);
	g_mutex_unlock (&sb->lock);

	g_ptr_array_add (req, g_strdup ("exec"));
	g_ptr_array_add (req, g_strdup_printf ("%u", id));
	g_ptr_array_add (req, g_strdup (cmdline));
	g_ptr_array_add (req, NULL);
	r = request (sb, (char *const *) req->pdata, &reply, err);

	g_mutex_lock (&sb->lock);
	if (r == -EEXIST && job_was_started (sb, id)) {
		/* The supervisor has run a job ID already: one whose exec
		 * timed out here, answered after we gave up.  It is a job like
		 * any other, as its records tell (and its exit event, if that
		 * came first and the record could not be written). */
		Job *found = job_from_records (sb, id);
		if (!found->status && job->status) {
			found->status = g_steal_pointer (&job->status);
			found->end_time = job->end_time;
		}
		sb->jobs->pdata[id - 1] = found;
		job_free (job);
		touch (sb);
		*taken_in = true;
	} else if (r < 0) {
		/* A failed write uses no job id. */
		g_ptr_array_remove_index (sb->jobs, id - 1);
	} else {
		job->pid = reply[1] ? (pid_t) atoi (reply[1]) : 0;
		job->pending = false;
		touch (sb);
	}
	g_mutex_unlock (&sb->lock);
	if (r == 0)
		*out_id = id;
	return r;
}

int
sandbox_exec (Sandbox *sb, const char *cmdline, unsigned *out_id, NsError *err)
{
	int r;

	/* A job nobody heard of had the id (exec_once): the next one is free
	 * unless more answers were lost. */
	for (int tries = 0; tries < 8; tries++) {
		bool taken_in = false;
		r = exec_once (sb, cmdline, out_id, &taken_in, err);
		if (!taken_in)
			break;
	}
	return r;
}

Job *
sandbox_job_locked (Sandbox *sb, unsigned id)
{
	Job *job;

	if (id == 0 || id > sb->jobs->len)
		return NULL;
	job = sb->jobs->pdata[id - 1];
	return job->pending ? NULL : job;
}

char *
sandbox_job_path (Sandbox *sb, unsigned id, const char *file)
{
	char idtext[16];
	snprintf (idtext, sizeof idtext, "%u", id);
	return g_build_filename (sb->dir, "jobs", idtext, file, NULL);
}

/* Mark JOB ended with STATUS at WHEN (NULL: now); call with sb->lock
 * held.  Returns true if this changed anything, so the caller wakes
 * waiters once. */
static bool
job_end_locked (Sandbox *sb, Job *job, const char *status, const struct timespec *when)
{
	if (job->status)
		return false;
	job->status = g_strdup (status);
	if (when)
		job->end_time = *when;
	else
		clock_gettime (CLOCK_REALTIME, &job->end_time);
	touch (sb);
	return true;
}

void
sandbox_on_exit (Sandbox *sb, unsigned id, const char *status)
{
	g_autofree char *record = sandbox_job_path (sb, id, "status");
	struct stat st;
	bool ended = false;

	/* The supervisor wrote the exit record before it said so: its time
	 * is the end, the same a later nsfsd reads back from it. */
	g_mutex_lock (&sb->lock);
	if (id >= 1 && id <= sb->jobs->len)
		ended = job_end_locked (sb, sb->jobs->pdata[id - 1], status,
		                        stat (record, &st) == 0 ? &st.st_mtim : NULL);
	g_mutex_unlock (&sb->lock);
	if (ended && job_end_hook)
		job_end_hook (sb, id);
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
	touch (sb);
	g_mutex_unlock (&sb->lock);
	if (strcmp (state, "stopped") == 0 && arg[0] && strcmp (arg, "stopped on request") != 0) {
		NsError err;
		ns_error (&err, EIO, "sandbox stopped: %s", arg);
		sandbox_set_error (sb, NULL, &err);
	}
}

/* A job's exit record, written by its supervisor when it was reaped;
 * WHEN gets the time it was written (when the job ended). */
static char *
read_exit_record (Sandbox *sb, unsigned id, struct timespec *when)
{
	g_autofree char *path = sandbox_job_path (sb, id, "status");
	char *text = NULL;
	struct stat st;

	if (!g_file_get_contents (path, &text, NULL, NULL))
		return NULL;
	if (stat (path, &st) == 0)
		*when = st.st_mtim;
	else
		clock_gettime (CLOCK_REALTIME, when);
	return g_strchomp (text);
}

/* Bring jobs up to date with their exit records.  With the supervisor
 * gone, a job with no record was killed with it (PR_SET_PDEATHSIG), so
 * SIGKILL is what it died of. */
static void
refresh_jobs_from_records (Sandbox *sb, bool supervisor_alive)
{
	g_autoptr (GArray) ended = g_array_new (FALSE, FALSE, sizeof (unsigned));

	g_mutex_lock (&sb->lock);
	for (guint i = 0; i < sb->jobs->len; i++) {
		Job *job = sb->jobs->pdata[i];
		g_autofree char *rec = NULL;
		struct timespec when;
		if (job->status || job->pending)
			continue;
		rec = read_exit_record (sb, job->id, &when);
		if (!rec && supervisor_alive)
			continue;
		if (job_end_locked (sb, job, rec ? rec : "signaled 9", rec ? &when : NULL))
			g_array_append_val (ended, job->id);
	}
	g_mutex_unlock (&sb->lock);
	for (guint i = 0; i < ended->len && job_end_hook; i++)
		job_end_hook (sb, g_array_index (ended, unsigned, i));
}

void
sandbox_on_supervisor_lost (Sandbox *sb)
{
	SupConn *conn;
	bool removed;
	NsError err;

	g_mutex_lock (&sb->lock);
	removed = sb->removed;
	if (removed) {
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
	refresh_jobs_from_records (sb, false);
	ns_error (&err, EIO, "the sandbox's supervisor exited unexpectedly; the sandbox is stopped");
	sandbox_set_error (sb, NULL, &err);
	supclient_close (conn);
}

/* Job ID as its records in the state dir tell it (cmd, pid, exit). */
static Job *
job_from_records (Sandbox *sb, unsigned id)
{
	g_autofree char *cmd_path = sandbox_job_path (sb, id, "cmd");
	g_autofree char *pid_path = sandbox_job_path (sb, id, "pid");
	g_autofree char *pid_text = NULL;
	Job *job = g_new0 (Job, 1);
	struct stat st;

	job->id = id;
	job->pollhandles = sandbox_pollhandles_new ();
	if (!g_file_get_contents (cmd_path, &job->cmd, NULL, NULL))
		job->cmd = g_strdup ("");
	/* The record is the line and one newline (a blank before it may be
	 * the last word's: `echo a\ `). */
	if (g_str_has_suffix (job->cmd, "\n"))
		job->cmd[strlen (job->cmd) - 1] = '\0';
	if (g_file_get_contents (pid_path, &pid_text, NULL, NULL))
		job->pid = (pid_t) atoi (pid_text);
	if (stat (cmd_path, &st) == 0)
		job->start_time = st.st_mtim;
	job->status = read_exit_record (sb, id, &job->end_time);
	return job;
}

static void
load_jobs (Sandbox *sb)
{
	g_autofree char *jobs_dir = g_build_filename (sb->dir, "jobs", NULL);
	unsigned max = 0;
	GDir *d = g_dir_open (jobs_dir, 0, NULL);
	const char *entry;

	if (!d)
		return;
	while ((entry = g_dir_read_name (d))) {
		unsigned long id = strtoul (entry, NULL, 10);
		if (id > max && id < (1u << 24))
			max = (unsigned) id;
	}
	g_dir_close (d);
	/* Ids are dense: a failed exec removes its directory. */
	for (unsigned id = 1; id <= max; id++)
		g_ptr_array_add (sb->jobs, job_from_records (sb, id));
}

static void
adopt_one (const char *name)
{
	g_autofree char *dir = statedir_sandbox_path (name);
	g_autofree char *cfg_path = g_build_filename (dir, "config", NULL);
	g_autofree char *err_path = g_build_filename (dir, "error", NULL);
	g_auto (GStrv) hello = NULL;
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
		sb->mtime = sb->ctime = st.st_mtim;
	if (g_file_get_contents (err_path, &sb->error, NULL, NULL))
		g_strchomp (sb->error);
	load_jobs (sb);
	if (supclient_connect (sb, &sb->conn, &hello, &err) == 0) {
		/* hello: ok VERSION STATE PID REASON */
		const char *state = hello[2] ? hello[2] : "created";
		sb->state = strcmp (state, "running") == 0 ? SB_RUNNING
		            : strcmp (state, "stopped") == 0 ? SB_STOPPED : SB_CREATED;
		sb->init_pid = hello[2] && hello[3] ? (pid_t) atoi (hello[3]) : 0;
		/* It stopped while nobody listened: say why, as if we had. */
		if (sb->state == SB_STOPPED && hello[3] && hello[4] && hello[4][0] &&
		    strcmp (hello[4], "stopped on request") != 0) {
			g_free (sb->error);
			sb->error = g_strdup_printf ("sandbox stopped: %s", hello[4]);
		}
		if (hello[2] && hello[3] && hello[4])
			sb->pinned = parse_pinned (hello[5]);
		supclient_watch (sb->conn);
	} else {
		sb->state = sb->jobs->len ? SB_STOPPED : SB_CREATED;
	}
	g_mutex_lock (&registry_lock);
	register_locked (sb);
	g_mutex_unlock (&registry_lock);
	/* Jobs that ended while nobody listened have their records now. */
	refresh_jobs_from_records (sb, sb->conn != NULL);
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
