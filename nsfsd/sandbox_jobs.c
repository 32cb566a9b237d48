/* A sandbox's jobs as nsfsd sees them: started through exec, ended by
 * their supervisor's events, and read back from their records in the
 * state dir (after a restart, or when an answer was lost).  Files are
 * read without sb->lock held: a slow disk must not stall the event
 * thread's other sandboxes behind a lock that readers take too. */
#include "sandbox_private.h"

#include "events.h"
#include "names.h"
#include "resources.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdline.h"
#include "inodes.h"

void
sandbox_job_free (Job *job)
{
	g_free (job->cmd);
	g_free (job->status);
	if (job->pollhandles)
		g_ptr_array_unref (job->pollhandles);
	g_free (job);
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
	sandbox_touch_locked (sb);
	return true;
}

void
sandbox_on_exit (Sandbox *sb, unsigned id, const char *status)
{
	g_autofree char *record = sandbox_job_path (sb, id, "status");
	struct stat st;
	bool have_time, ended = false;

	/* The supervisor wrote the exit record before it said so: its time
	 * is the end, the same a later nsfsd reads back from it. */
	have_time = stat (record, &st) == 0;
	g_mutex_lock (&sb->lock);
	if (id >= 1 && id <= sb->jobs->len)
		ended = job_end_locked (sb, sb->jobs->pdata[id - 1], status, have_time ? &st.st_mtim : NULL);
	g_mutex_unlock (&sb->lock);
	if (ended) {
		events_emit (sb->serial, sb->name, "job %u %s", id, status);
		resources_note_oom (sb);
		sandbox_job_ended (sb, id);
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

typedef struct {
	unsigned id;
	char *record;            /* NULL: none */
	struct timespec when;
} Found;

static void
found_clear (Found *f)
{
	g_free (f->record);
}

void
sandbox_refresh_jobs (Sandbox *sb, bool supervisor_alive)
{
	g_autoptr (GArray) open_jobs = g_array_new (FALSE, FALSE, sizeof (unsigned));
	g_autoptr (GArray) found = g_array_new (FALSE, TRUE, sizeof (Found));
	g_autoptr (GArray) ended = g_array_new (FALSE, FALSE, sizeof (unsigned));

	g_array_set_clear_func (found, (GDestroyNotify) found_clear);
	g_mutex_lock (&sb->lock);
	for (guint i = 0; i < sb->jobs->len; i++) {
		Job *job = sb->jobs->pdata[i];
		if (!job->status && !job->pending)
			g_array_append_val (open_jobs, job->id);
	}
	g_mutex_unlock (&sb->lock);
	for (guint i = 0; i < open_jobs->len; i++) {
		Found f = { .id = g_array_index (open_jobs, unsigned, i) };
		f.record = read_exit_record (sb, f.id, &f.when);
		if (f.record || !supervisor_alive)
			g_array_append_val (found, f);
	}
	g_mutex_lock (&sb->lock);
	for (guint i = 0; i < found->len; i++) {
		Found *f = &g_array_index (found, Found, i);
		Job *job = f->id <= sb->jobs->len ? sb->jobs->pdata[f->id - 1] : NULL;
		if (job && job->id == f->id &&
		    job_end_locked (sb, job, f->record ? f->record : "signaled 9", f->record ? &f->when : NULL))
			g_array_append_val (ended, f->id);
	}
	g_mutex_unlock (&sb->lock);
	for (guint i = 0; i < ended->len; i++)
		sandbox_job_ended (sb, g_array_index (ended, unsigned, i));
}

GArray *
sandbox_running_job_pids (Sandbox *sb)
{
	GArray *pids = g_array_new (FALSE, FALSE, sizeof (pid_t));

	g_mutex_lock (&sb->lock);
	for (guint i = 0; i < sb->jobs->len; i++) {
		Job *job = sb->jobs->pdata[i];
		if (!job->status && !job->pending && job->pid > 0)
			g_array_append_val (pids, job->pid);
	}
	g_mutex_unlock (&sb->lock);
	return pids;
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
	{
		g_autofree char *fifo = sandbox_job_path (sb, id, "stdin");
		g_autofree char *console = sandbox_console_path (sb, id);
		job->stdin_pipe = lstat (fifo, &st) == 0 && S_ISFIFO (st.st_mode);
		/* A terminal job's console is there while it runs; its size
		 * was not kept. */
		job->tty = lstat (console, &st) == 0 && S_ISSOCK (st.st_mode);
		job->rows = NS_TTY_ROWS_DEFAULT;
		job->cols = NS_TTY_COLS_DEFAULT;
	}
	return job;
}

char *
sandbox_console_path (Sandbox *sb, unsigned id)
{
	return ns_console_path (sb->dir, sb->name, id);
}

void
sandbox_load_jobs (Sandbox *sb)
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

int
sandbox_exec_begin (Sandbox *sb, const char *cmdline, unsigned *out_id, NsError *err)
{
	const SandboxLimits *limits = sandbox_limits ();
	Job *job;

	g_mutex_lock (&sb->lock);
	if (limits->jobs_per_sandbox && sb->jobs->len >= limits->jobs_per_sandbox) {
		g_mutex_unlock (&sb->lock);
		return ns_error (err, EDQUOT, "exec: this sandbox has %u jobs already (--max-jobs-per-sandbox)",
		                 limits->jobs_per_sandbox);
	}
	/* Inode numbers have room for this many, whatever the limit says. */
	if (sb->jobs->len >= INO_MAX_JOB) {
		g_mutex_unlock (&sb->lock);
		return ns_error (err, EDQUOT, "exec: this sandbox has %u jobs, the most a sandbox can have",
		                 sb->jobs->len);
	}
	job = g_new0 (Job, 1);
	job->id = sb->jobs->len + 1;
	job->pending = true;
	job->cmd = ns_cmdline_strip (g_strdup (cmdline));
	job->pollhandles = sandbox_pollhandles_new ();
	job->stdin_pipe = sb->cfg->stdin_mode.mode == NS_STDIN_PIPE;
	job->tty = sb->cfg->stdin_mode.mode == NS_STDIN_TTY;
	job->rows = sb->cfg->stdin_mode.rows;
	job->cols = sb->cfg->stdin_mode.cols;
	clock_gettime (CLOCK_REALTIME, &job->start_time);
	g_ptr_array_add (sb->jobs, job);
	g_mutex_unlock (&sb->lock);
	*out_id = job->id;
	return 0;
}

/* Whether job ID's directory holds a started job's pid record. */
static bool
job_was_started (Sandbox *sb, unsigned id)
{
	g_autofree char *pid_path = sandbox_job_path (sb, id, "pid");
	return access (pid_path, F_OK) == 0;
}

bool
sandbox_exec_end (Sandbox *sb, unsigned id, int r, char **reply)
{
	Job *found = r == -EEXIST && job_was_started (sb, id) ? job_from_records (sb, id) : NULL;
	bool taken_in = false;
	Job *job;

	g_mutex_lock (&sb->lock);
	/* Jobs are only ever added by the running write, so ID is the last. */
	job = id == sb->jobs->len ? sb->jobs->pdata[id - 1] : NULL;
	if (!job) {
		g_mutex_unlock (&sb->lock);
		if (found)
			sandbox_job_free (found);
		return false;
	}
	if (found) {
		/* The supervisor has run a job ID already: one whose exec
		 * timed out here, answered after we gave up.  It is a job like
		 * any other, as its records tell (and its exit event, if that
		 * came first and the record could not be written). */
		if (!found->status && job->status) {
			found->status = g_steal_pointer (&job->status);
			found->end_time = job->end_time;
		}
		sb->jobs->pdata[id - 1] = found;
		sandbox_job_free (job);
		sandbox_touch_locked (sb);
		taken_in = true;
	} else if (r < 0) {
		/* A failed write uses no job id. */
		g_ptr_array_remove_index (sb->jobs, id - 1);
	} else {
		job->pid = reply && reply[1] ? (pid_t) atoi (reply[1]) : 0;
		job->pending = false;
		sandbox_touch_locked (sb);
	}
	g_mutex_unlock (&sb->lock);
	if (r == 0 && !taken_in)
		events_emit (sb->serial, sb->name, "job %u started", id);
	return taken_in;
}
