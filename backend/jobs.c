/* Jobs: fork into the sandbox's namespaces (the nsenter pattern), send
 * output straight to state-dir files, report execve's result over a
 * close-on-exec pipe that the loop reads (a program on a file system that
 * never answers hangs its job, not the supervisor), and write exit
 * records as jobs are reaped. */
#include "supervisor.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cleanup.h"
#include "loop.h"
#include "job_start.h"
#include "report.h"
#include "spawner.h"

static char *const clean_env_root[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=dumb", NULL
};
static char *const clean_env_user[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "TERM=dumb", NULL
};

/* The defaults for the job's uid inside (root's, or a user's) with `env`
 * over them. */
static char **
job_environment (const NsSandboxConfig *cfg)
{
	uint32_t uid, gid;

	sup_owner_inside_ids (cfg, cfg->ns & CLONE_NEWUSER, &uid, &gid);
	if (cfg->user.set)
		uid = cfg->user.uid;
	return ns_env_merge (uid == 0 ? clean_env_root : clean_env_user, cfg->env);
}

static void __attribute__ ((noreturn, format (printf, 3, 4)))
job_fail (int fd, int code, const char *fmt, ...)
{
	char msg[NS_ERROR_MSG_MAX];
	va_list ap;

	va_start (ap, fmt);
	vsnprintf (msg, sizeof msg, fmt, ap);
	va_end (ap);
	sup_report_write (fd, code, msg);
	_exit (127);
}

/* The supervisor installs no handlers (it reads signals from a
 * signalfd), so the blocked mask is all a job must not inherit. */
static void
reset_signals (void)
{
	sigset_t none;

	sigemptyset (&none);
	sigprocmask (SIG_SETMASK, &none, NULL);
}

int
sup_job_child (void *data)
{
	JobStart *js = data;
	Supervisor *s = js->s;
	const NsSandboxConfig *cfg = s->cfg;
	/* The pid and time namespaces are the supervisor's to enter (see
	 * start_job_process): the child is born in them. */
	unsigned long join = cfg->ns & ~(unsigned long) (CLONE_NEWPID | CLONE_NEWTIME);
	bool userns = cfg->ns & CLONE_NEWUSER;
	int report_fd = js->report_fd;
	NsError err = { 0 };

	/* In the sandbox's cgroup before anything of the job runs (the
	 * supervisor's own stays outside); the spawner's children are born
	 * there. */
	if (!js->in_groups && sup_cgroups_enter_self (&s->cg, js->born_in_v2) < 0)
		job_fail (report_fd, errno, "exec: enter the sandbox's cgroup: %s", strerror (errno));
	reset_signals ();
	setsid ();
	/* Its controlling terminal from its first instruction. */
	if (js->tty && ioctl (js->null_fd, TIOCSCTTY, 0) < 0)
		job_fail (report_fd, errno, "exec: tty: make it the controlling terminal: %s", strerror (errno));
	prctl (PR_SET_PDEATHSIG, SIGKILL);
	if (dup2 (js->null_fd, 0) < 0 || dup2 (js->out_fd, 1) < 0 || dup2 (js->err_fd, 2) < 0)
		job_fail (report_fd, errno, "exec: redirect output: %s", strerror (errno));
	/* A job has the owner's supplementary groups, no more and no fewer:
	 * a group can restrict as well as grant (a file mode 0604 root:G
	 * keeps G's members out), and in a user namespace with setgroups
	 * denied the job cannot change them afterwards.  Root's jobs have
	 * none of the supervisor's. */
	if (setgroups (js->n_groups, js->groups) < 0)
		job_fail (report_fd, errno, "exec: setgroups: %s", strerror (errno));
	/* Without a mount namespace of its own the sandbox shares the host's
	 * (the supervisor's is a private copy). */
	if (!(cfg->ns & CLONE_NEWNS) && s->host_mntns_fd >= 0 && setns (s->host_mntns_fd, CLONE_NEWNS) < 0)
		job_fail (report_fd, errno, "exec: enter the host's mount namespace: %s", strerror (errno));
	if (join && setns (s->init_pidfd, (int) join) < 0)
		job_fail (report_fd, errno, "exec: join the sandbox's namespaces: %s", strerror (errno));
	if (chdir ("/") < 0)
		job_fail (report_fd, errno, "exec: chdir /: %s", strerror (errno));
	if (sup_restrict_job (cfg, &js->user, userns, &err) < 0)
		job_fail (report_fd, err.code, "exec: %s", err.msg);
	/* As the job's own ids: a directory they cannot enter is EACCES. */
	if (js->cwd[0] && chdir (js->cwd) < 0)
		job_fail (report_fd, errno, "exec: cwd %s: %s", js->cwd, strerror (errno));
	/* Until execve this is a copy of the supervisor's memory under the
	 * owner's ids: not the owner's to ptrace or read (execve makes the
	 * program's own process dumpable as usual). */
	prctl (PR_SET_DUMPABLE, 0);
	environ = (char **) js->envp;
	execvp (js->argv[0], js->argv);
	job_fail (report_fd, errno, "exec: %s: %s", js->argv[0], strerror (errno));
}

/* `stdin pipe`: the job's stdin is the read end of a FIFO in its
 * directory, which nsfsd writes to (jobs/<id>/stdin).  KEEPER gets a
 * write end of our own, so the job reads nothing, not end of file, until
 * nsfsd has opened its own (stdin-open). */
static int
open_stdin_fifo (int jobdir, int *keeper, NsError *err)
{
	_cleanup_close_ int rd = -1;

	if (mkfifoat (jobdir, "stdin", 0600) < 0 && errno != EEXIST)
		return ns_error (err, errno, "exec: stdin: mkfifo: %s", strerror (errno));
	rd = openat (jobdir, "stdin", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (rd < 0)
		return ns_error (err, errno, "exec: stdin: open: %s", strerror (errno));
	*keeper = openat (jobdir, "stdin", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (*keeper < 0 || fcntl (rd, F_SETFL, 0) < 0)
		return ns_error (err, errno, "exec: stdin: open: %s", strerror (errno));
	/* Room for 1 MiB (fs.pipe-max-size's default), a whole FUSE write:
	 * one that does not fit waits a round on nsfsd's event thread.  (The
	 * bench's stream ran no faster for it: 0.31x a pipe either way.) */
	(void) fcntl (rd, F_SETPIPE_SZ, 1 << 20);
	return g_steal_fd (&rd);
}

void
sup_job_free (gpointer data)
{
	SupJob *job = data;

	ns_close_fdp (&job->stdin_keeper);
	sup_tty_free (job->tty);
	g_free (job);
}

SupJob *
sup_job_by_id (Supervisor *s, unsigned id)
{
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init (&it, s->jobs);
	while (g_hash_table_iter_next (&it, NULL, &value))
		if (((SupJob *) value)->id == id)
			return value;
	return NULL;
}

void
sup_job_stdin_opened (Supervisor *s, unsigned id)
{
	SupJob *job = sup_job_by_id (s, id);

	if (job)
		ns_close_fdp (&job->stdin_keeper);
}

static int
open_output (int jobdir, const char *name, NsError *err)
{
	int fd = openat (jobdir, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return ns_error (err, errno, "exec: create %s: %s", name, strerror (errno));
	return fd;
}

/* Written to a temporary file and renamed, so a crash leaves no torn
 * record; not fsynced, which keeps fsync off the job start and exit
 * paths (the records outlive crashes of nsfsd and of the supervisor, not
 * of the machine). */
static int
write_record (int dirfd, const char *name, const char *text)
{
	return ns_write_atomic (dirfd, name, text, false);
}

static void
remove_job_dir (Supervisor *s, const char *name)
{
	_cleanup_close_ int fd = openat (s->dirfd, name, O_DIRECTORY | O_CLOEXEC);
	static const char *const files[] = { "stdout", "stderr", "cmd", "pid", "status", "stdin" };

	if (fd >= 0)
		for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
			unlinkat (fd, files[i], 0);
	unlinkat (s->dirfd, name, AT_REMOVEDIR);
}

/* A job is a plain fork, in the sandbox's pid and time namespaces: a
 * child that shared our memory (CLONE_VM | CLONE_VFORK, as posix_spawn
 * does) kept the supervisor suspended until its execve was done, and an
 * execve of a program on a file system that never answers is never done.
 * A copy of our memory also lets us step back into our own namespaces at
 * once: the kernel lets only a process that shares its memory with none
 * join a time namespace. */
static pid_t
start_job_process (Supervisor *s, JobStart *js, NsError *err)
{
	unsigned long enter = s->cfg->ns & (CLONE_NEWPID | CLONE_NEWTIME);
	pid_t pid;
	int r;

	/* The fast way, where there is one (spawner.h). */
	if ((r = sup_spawner_job (s, js, &pid, err)) != 0)
		return r > 0 ? pid : r;

	/* setns(CLONE_NEWPID) changes only where our children go, and
	 * setns(CLONE_NEWTIME) is for single-threaded callers: we enter
	 * both, the child is born in them and stays our child, and we step
	 * back. */
	if (enter && setns (s->init_pidfd, (int) enter) < 0)
		return ns_error (err, errno, "exec: enter the pid and time namespaces: %s", strerror (errno));
	pid = sup_cgroups_clone (&s->cg, 0, NULL, &js->born_in_v2);
	if (pid == 0)
		_exit (sup_job_child (js));
	if (pid < 0)
		ns_error (err, errno, "exec: clone: %s", strerror (errno));
	if ((enter & CLONE_NEWPID) && setns (s->self_pidns_fd, CLONE_NEWPID) < 0)
		g_error ("cannot return to the supervisor's pid namespace: %s", strerror (errno));
	if ((enter & CLONE_NEWTIME) && setns (s->self_timens_fd, CLONE_NEWTIME) < 0)
		g_error ("cannot return to the supervisor's time namespace: %s", strerror (errno));
	return pid < 0 ? -err->code : pid;
}

static bool
job_has_pid_record (Supervisor *s, unsigned id)
{
	char path[48];
	struct stat st;

	snprintf (path, sizeof path, "jobs/%u/pid", id);
	return fstatat (s->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A job whose execve's report is not in yet. */
struct SupExec {
	Supervisor *s;
	SupJob *job;
	int report_fd;          /* non-blocking; EOF means execve succeeded */
	guint watch;
	/* Its cmd and pid records were written before its report came: an
	 * exec that asked for its id again was refused for it (EEXIST), and
	 * nsfsd took it in as a job from them. */
	bool revealed;
	char *shown;            /* the command line as `cmd` shows it */
	SupExecDone done;
	gpointer data;
};

static void
job_dir_name (char *name, size_t size, unsigned id)
{
	snprintf (name, size, "jobs/%u", id);
}

static void
write_start_records (Supervisor *s, unsigned id, const char *shown, pid_t pid)
{
	char name[32], pidtext[16];
	g_autofree char *cmd = g_strconcat (shown, "\n", NULL);
	_cleanup_close_ int jobdir = -1;

	job_dir_name (name, sizeof name, id);
	snprintf (pidtext, sizeof pidtext, "%d\n", pid);
	jobdir = openat (s->dirfd, name, O_DIRECTORY | O_CLOEXEC);
	if (jobdir < 0 || write_record (jobdir, "cmd", cmd) < 0 || write_record (jobdir, "pid", pidtext) < 0)
		g_warning ("job %u: cannot write its cmd and pid records", id);
}

static void
exec_free (SupExec *ex)
{
	sup_loop_remove (&ex->watch);
	ns_close_fdp (&ex->report_fd);
	g_free (ex->shown);
	g_free (ex);
}

/* The report is in (REP, or NULL for end of file: execve succeeded, or
 * the child died before it got there, which its exit status tells).
 * GONE: the child is reaped already. */
static void
exec_settle (SupExec *ex, const SupReport *rep, bool gone)
{
	Supervisor *s = ex->s;
	SupJob *job = ex->job;
	SupExecDone done = ex->done;
	gpointer data = ex->data;
	pid_t pid = job->pid;
	unsigned id = job->id;
	NsError err = { 0 };
	char name[32];

	job->exec = NULL;
	if (!rep) {
		/* The reply first: the records are for nsfsd's successors. */
		done (pid, NULL, data);
		if (!ex->revealed)
			write_start_records (s, id, ex->shown, pid);
		exec_free (ex);
		return;
	}
	ns_error (&err, rep->code, "%s", rep->msg);
	if (!ex->revealed) {
		/* No job: its directory goes, and its end is nobody's news. */
		job_dir_name (name, sizeof name, id);
		if (!gone)
			sup_loop_watch_child (pid, NULL, NULL);
		g_hash_table_remove (s->jobs, GINT_TO_POINTER (pid));
		remove_job_dir (s, name);
	}
	/* A revealed job stays one, and ends with its child (exited 127). */
	done (!ex->revealed && !gone ? pid : 0, &err, data);
	exec_free (ex);
}

static void
on_exec_report (int fd, GIOCondition cond, gpointer data)
{
	SupExec *ex = data;
	SupReport rep;
	int r = sup_report_read (fd, &rep);

	if (r >= 0)
		exec_settle (ex, r ? &rep : NULL, false);
}

/* Make job ID's directory.  One that exists is refused (EEXIST) if it is
 * a started job's, or a job's whose start is under way (whose records are
 * written now, so nsfsd, which asked for the id again after giving up on
 * the first exec, takes it in), and reused otherwise: what an exec left
 * whose answer never reached nsfsd (a supervisor that died in it); nsfsd
 * gave its id back, as a failed write uses none. */
static int
make_job_dir (Supervisor *s, unsigned id, const char *name, NsError *err)
{
	SupJob *running;
	int r = mkdirat (s->dirfd, name, 0700);

	if (r < 0 && errno == EEXIST) {
		running = sup_job_by_id (s, id);
		if (running && running->exec && !running->exec->revealed) {
			write_start_records (s, id, running->exec->shown, running->pid);
			running->exec->revealed = true;
		} else if (!running && !job_has_pid_record (s, id)) {
			remove_job_dir (s, name);
			r = mkdirat (s->dirfd, name, 0700);
		}
		if (r < 0)
			errno = EEXIST;
	}
	if (r < 0)
		return ns_error (err, errno, "exec: job %u: %s", id, strerror (errno));
	return 0;
}

int
sup_exec_job (Supervisor *s, unsigned id, const char *shown, char *const *argv, SupExecDone done, gpointer data,
              NsError *err)
{
	char name[32];
	_cleanup_close_ int jobdir = -1;
	JobStart js = { .s = s, .argv = argv, .null_fd = -1, .out_fd = -1, .err_fd = -1 };
	_cleanup_close_ int keeper = -1, master = -1, log_fd = -1, tty_input = -1, tty_keeper = -1;
	g_auto (GStrv) envp = NULL;
	int report[2] = { -1, -1 };
	SupExec *ex;
	SupJob *job;
	pid_t pid;
	int r;

	job_dir_name (name, sizeof name, id);
	if ((r = make_job_dir (s, id, name, err)) < 0)
		return r;
	jobdir = openat (s->dirfd, name, O_DIRECTORY | O_CLOEXEC);
	if (jobdir < 0) {
		r = ns_error (err, errno, "exec: open job dir: %s", strerror (errno));
		goto undo;
	}
	if ((js.out_fd = open_output (jobdir, "stdout", err)) < 0 || (js.err_fd = open_output (jobdir, "stderr", err)) < 0) {
		r = -err->code;
		goto undo;
	}
	if (s->cfg->stdin_mode.mode == NS_STDIN_TTY) {
		/* The terminal is the job's stdin, stdout and stderr; we keep
		 * its stdout file for what the terminal shows. */
		if ((r = sup_tty_open (s, &s->cfg->stdin_mode, &master, &js.null_fd, err)) < 0)
			goto undo;
		log_fd = g_steal_fd (&js.out_fd);
		ns_close_fdp (&js.err_fd);
		/* jobs/<id>/stdin writes to the terminal, through a FIFO. */
		if ((tty_input = open_stdin_fifo (jobdir, &tty_keeper, err)) < 0) {
			r = -err->code;
			goto undo;
		}
		js.out_fd = dup (js.null_fd);
		js.err_fd = dup (js.null_fd);
		js.tty = true;
	} else if (s->cfg->stdin_mode.mode == NS_STDIN_PIPE)
		js.null_fd = open_stdin_fifo (jobdir, &keeper, err);
	else
		js.null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
	if (js.null_fd < 0 && s->cfg->stdin_mode.mode == NS_STDIN_PIPE) {
		r = -err->code;
		goto undo;
	}
	if (js.null_fd < 0 || pipe2 (report, O_CLOEXEC) < 0 || fcntl (report[0], F_SETFL, O_NONBLOCK) < 0) {
		r = ns_error (err, errno, "exec: %s", strerror (errno));
		goto undo;
	}
	js.report_fd = report[1];
	if (s->cfg->owner_uid != 0)
		js.n_groups = sup_owner_group_list (s->cfg, js.groups, G_N_ELEMENTS (js.groups));
	js.cwd = s->cfg->cwd;
	js.user = s->cfg->user;
	envp = job_environment (s->cfg);
	js.envp = envp;
	pid = start_job_process (s, &js, err);
	if (pid < 0) {
		r = (int) pid;
		goto undo;
	}
	ns_close_fdp (&report[1]);
	ns_close_fdp (&js.null_fd);
	ns_close_fdp (&js.out_fd);
	ns_close_fdp (&js.err_fd);
	/* A job from now on, for kill, stop and destroy as for any; its
	 * `exec` is answered when the report is in (on_exec_report), or when
	 * the child is reaped before (sup_job_reaped). */
	job = g_new0 (SupJob, 1);
	job->id = id;
	job->pid = pid;
	job->stdin_keeper = g_steal_fd (&keeper);
	if (master >= 0) {
		NsError tty_err = { 0 };
		job->tty = sup_tty_attach (s, id, g_steal_fd (&master), log_fd, g_steal_fd (&tty_input),
		                           g_steal_fd (&tty_keeper), &tty_err);
		if (!job->tty)
			g_warning ("job %u: %s", id, tty_err.msg);
	}
	ex = g_new0 (SupExec, 1);
	*ex = (SupExec) { .s = s, .job = job, .report_fd = report[0], .shown = g_strdup (shown), .done = done, .data = data };
	job->exec = ex;
	g_hash_table_insert (s->jobs, GINT_TO_POINTER (pid), job);
	ex->watch = sup_loop_add_fd (report[0], G_IO_IN | G_IO_HUP | G_IO_ERR, on_exec_report, ex);
	return 0;

undo:
	ns_close_fdp (&report[0]);
	ns_close_fdp (&report[1]);
	ns_close_fdp (&js.null_fd);
	ns_close_fdp (&js.out_fd);
	ns_close_fdp (&js.err_fd);
	remove_job_dir (s, name);
	return r;
}

bool
sup_job_reaped (Supervisor *s, pid_t pid, int wstatus, unsigned *id, char **status)
{
	SupJob *job = g_hash_table_lookup (s->jobs, GINT_TO_POINTER (pid));
	g_autofree char *text = NULL;
	char name[32];
	_cleanup_close_ int jobdir = -1;

	if (job && job->exec) {
		/* Its report, if it wrote one, is in the pipe by now. */
		SupReport rep;
		exec_settle (job->exec, sup_report_read (job->exec->report_fd, &rep) == 1 ? &rep : NULL, true);
		job = g_hash_table_lookup (s->jobs, GINT_TO_POINTER (pid));
	}
	if (!job)
		return false;
	*id = job->id;
	*status = ns_wait_status_format (wstatus);
	text = g_strconcat (*status, "\n", NULL);
	job_dir_name (name, sizeof name, job->id);
	jobdir = openat (s->dirfd, name, O_DIRECTORY | O_CLOEXEC);
	if (jobdir < 0 || write_record (jobdir, "status", text) < 0)
		g_warning ("job %u: cannot write its exit record", job->id);
	g_hash_table_remove (s->jobs, GINT_TO_POINTER (pid));
	return true;
}

void
sup_signal_jobs (Supervisor *s, int signo)
{
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init (&it, s->jobs);
	while (g_hash_table_iter_next (&it, &key, NULL)) {
		pid_t pid = GPOINTER_TO_INT (key);
		/* Each job leads its own process group (setsid), so its
		 * children hear the signal too. */
		if (kill (-pid, signo) < 0)
			kill (pid, signo);
	}
}

/* A supervisor that starts for a directory with jobs in it follows one
 * that died: those jobs died with it (PR_SET_PDEATHSIG), so any without
 * an exit record gets the one its own reaper could not write. */
void
sup_record_orphaned_jobs (Supervisor *s)
{
	_cleanup_close_ int jobs = openat (s->dirfd, "jobs", O_DIRECTORY | O_CLOEXEC);
	GDir *d;
	const char *entry;
	g_autofree char *path = NULL;

	if (jobs < 0)
		return;
	path = g_strdup_printf ("/proc/self/fd/%d", jobs);
	d = g_dir_open (path, 0, NULL);
	if (!d)
		return;
	while ((entry = g_dir_read_name (d))) {
		_cleanup_close_ int jobdir = openat (jobs, entry, O_DIRECTORY | O_CLOEXEC);
		if (jobdir < 0 || faccessat (jobdir, "status", F_OK, 0) == 0)
			continue;
		/* A directory without a pid record is an exec that never ran. */
		if (faccessat (jobdir, "pid", F_OK, 0) == 0)
			write_record (jobdir, "status", "signaled 9\n");
	}
	g_dir_close (d);
}
