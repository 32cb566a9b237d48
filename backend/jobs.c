/* Jobs: fork into the sandbox's namespaces (the nsenter pattern), send
 * output straight to state-dir files, report execve's result over a
 * close-on-exec pipe, and write exit records as jobs are reaped. */
#include "supervisor.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cleanup.h"

/* How long setns_once_alone waits for a job child to let go of our
 * memory: it takes microseconds, unless the machine is starved. */
#define SETNS_ALONE_PATIENCE_US (2 * G_USEC_PER_SEC)

typedef struct {
	int code;
	char msg[NS_ERROR_MSG_MAX];
} ExecReport;

static char *const clean_env_root[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=dumb", NULL
};
static char *const clean_env_user[] = {
	"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "TERM=dumb", NULL
};

static void __attribute__ ((noreturn, format (printf, 3, 4)))
job_fail (int fd, int code, const char *fmt, ...)
{
	ExecReport rep = { .code = code };
	va_list ap;

	va_start (ap, fmt);
	vsnprintf (rep.msg, sizeof rep.msg, fmt, ap);
	va_end (ap);
	(void) !write (fd, &rep, sizeof rep);
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

/* What the job child needs, all prepared by the supervisor: the child
 * shares its memory (see start_job_process), so it must not allocate
 * anything that outlives it, nor look anything up. */
typedef struct {
	Supervisor *s;
	char *const *argv;
	int null_fd, out_fd, err_fd, report_fd;
	gid_t groups[SUP_MAX_GROUPS];
	size_t n_groups;
} JobStart;

static int
job_child (void *data)
{
	JobStart *js = data;
	Supervisor *s = js->s;
	const NsSandboxConfig *cfg = s->cfg;
	/* The pid and time namespaces are the supervisor's to enter (see
	 * start_job_process); a process sharing memory cannot join a time
	 * namespace, and the pid namespace is where it was born already. */
	unsigned long join = cfg->ns & ~(unsigned long) (CLONE_NEWPID | CLONE_NEWTIME);
	bool userns = cfg->ns & CLONE_NEWUSER;
	int report_fd = js->report_fd;
	NsError err = { 0 };

	reset_signals ();
	setsid ();
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
	if (sup_restrict_job (cfg, userns, &err) < 0)
		job_fail (report_fd, err.code, "exec: %s", err.msg);
	/* The supervisor puts its own environ back when we are gone. */
	environ = (char **) (getuid () == 0 ? clean_env_root : clean_env_user);
	execvp (js->argv[0], js->argv);
	job_fail (report_fd, errno, "exec: %s: %s", js->argv[0], strerror (errno));
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
	static const char *const files[] = { "stdout", "stderr", "cmd", "pid", "status" };

	if (fd >= 0)
		for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
			unlinkat (fd, files[i], 0);
	unlinkat (s->dirfd, name, AT_REMOVEDIR);
}

/* Jobs start the way posix_spawn starts a process: a child that shares
 * our memory while we wait (CLONE_VM | CLONE_VFORK), so nothing of the
 * supervisor is copied for execve to throw away.  Under AddressSanitizer
 * a plain fork: its shadow stack bookkeeping does not expect a second
 * process on a stack of ours. */
#if defined(__SANITIZE_ADDRESS__)
#define JOB_SHARES_MEMORY 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JOB_SHARES_MEMORY 0
#endif
#endif
#ifndef JOB_SHARES_MEMORY
#define JOB_SHARES_MEMORY 1
#endif

#define JOB_STACK_SIZE (256 * 1024)

static pid_t
clone_job_child (JobStart *js)
{
	static char *stack;
	pid_t pid;

	if (!JOB_SHARES_MEMORY) {
		pid = fork ();
		if (pid == 0)
			_exit (job_child (js));
		return pid;
	}
	/* One stack serves every job: we are suspended while a child uses it. */
	if (!stack) {
		void *p = mmap (NULL, JOB_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (p == MAP_FAILED)
			return -1;
		stack = p;
	}
	return clone (job_child, stack + JOB_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, js);
}

/* The kernel lets only a process that shares its memory with no other
 * join a time namespace (EUSERS otherwise), and a CLONE_VFORK child that
 * has let us go in execve or _exit still points at our memory for an
 * instant before it switches to its own or drops it.  setns in that
 * instant failed and ended a supervisor now and then (the lost
 * supervisors of CI runs); the child is finishing, so wait it out. */
static int
setns_once_alone (int fd, int nstype)
{
	gint64 deadline = g_get_monotonic_time () + SETNS_ALONE_PATIENCE_US;

	for (unsigned tries = 0;; tries++) {
		int e;
		if (setns (fd, nstype) == 0)
			return 0;
		e = errno;
		if (e != EUSERS || g_get_monotonic_time () > deadline) {
			errno = e;
			return -1;
		}
		/* The child may be waiting for a CPU, not just for us. */
		if (tries < 1000)
			sched_yield ();
		else
			g_usleep (50);
	}
}

static void
return_to_own_namespaces (Supervisor *s, unsigned long entered)
{
	if ((entered & CLONE_NEWPID) && setns (s->self_pidns_fd, CLONE_NEWPID) < 0)
		g_error ("cannot return to the supervisor's pid namespace: %s", strerror (errno));
	if ((entered & CLONE_NEWTIME) && setns_once_alone (s->self_timens_fd, CLONE_NEWTIME) < 0)
		g_error ("cannot return to the supervisor's time namespace: %s", strerror (errno));
}

static pid_t
start_job_process (Supervisor *s, JobStart *js, NsError *err)
{
	unsigned long enter = s->cfg->ns & (CLONE_NEWPID | CLONE_NEWTIME);
	char **own_environ = environ;
	pid_t pid;

	/* setns(CLONE_NEWPID) changes only where our children go, and
	 * setns(CLONE_NEWTIME) is for single-threaded callers: we enter
	 * both, the child is born in them and stays our child, and we step
	 * back. */
	if (enter && setns_once_alone (s->init_pidfd, (int) enter) < 0)
		return ns_error (err, errno, "exec: enter the pid and time namespaces: %s", strerror (errno));
	pid = clone_job_child (js);
	if (pid < 0)
		ns_error (err, errno, "exec: clone: %s", strerror (errno));
	environ = own_environ;
	return_to_own_namespaces (s, enter);
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

static bool
job_with_id_runs (Supervisor *s, unsigned id)
{
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init (&it, s->jobs);
	while (g_hash_table_iter_next (&it, NULL, &value))
		if (((SupJob *) value)->id == id)
			return true;
	return false;
}

int
sup_exec_job (Supervisor *s, unsigned id, const char *cmdline, char *const *argv, pid_t *out_pid, NsError *err)
{
	char name[32];
	_cleanup_close_ int jobdir = -1;
	JobStart js = { .s = s, .argv = argv, .null_fd = -1, .out_fd = -1, .err_fd = -1 };
	int report[2] = { -1, -1 };
	ExecReport rep;
	ssize_t n;
	pid_t pid;
	int r;

	snprintf (name, sizeof name, "jobs/%u", id);
	/* A directory of a job that never started is what an exec left
	 * whose answer never reached nsfsd (a supervisor that died in it):
	 * nsfsd gave its id back, as a failed write uses none, so the id is
	 * free again.  One with a pid record is a job that ran: EEXIST, and
	 * nsfsd takes it in (sandbox_exec). */
	r = mkdirat (s->dirfd, name, 0700);
	if (r < 0 && errno == EEXIST && !job_with_id_runs (s, id) && !job_has_pid_record (s, id)) {
		remove_job_dir (s, name);
		r = mkdirat (s->dirfd, name, 0700);
	}
	if (r < 0)
		return ns_error (err, errno, "exec: job %u: %s", id, strerror (errno));
	jobdir = openat (s->dirfd, name, O_DIRECTORY | O_CLOEXEC);
	if (jobdir < 0) {
		r = ns_error (err, errno, "exec: open job dir: %s", strerror (errno));
		goto undo;
	}
	if ((js.out_fd = open_output (jobdir, "stdout", err)) < 0 || (js.err_fd = open_output (jobdir, "stderr", err)) < 0) {
		r = -err->code;
		goto undo;
	}
	js.null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
	if (js.null_fd < 0 || pipe2 (report, O_CLOEXEC) < 0) {
		r = ns_error (err, errno, "exec: %s", strerror (errno));
		goto undo;
	}
	js.report_fd = report[1];
	if (s->cfg->owner_uid != 0)
		js.n_groups = sup_owner_group_list (s->cfg, js.groups, G_N_ELEMENTS (js.groups));
	pid = start_job_process (s, &js, err);
	if (pid < 0) {
		r = (int) pid;
		goto undo;
	}
	ns_close_fdp (&report[1]);
	do
		n = read (report[0], &rep, sizeof rep);
	while (n < 0 && errno == EINTR);
	ns_close_fdp (&report[0]);
	if (n == (ssize_t) sizeof rep) {
		rep.msg[sizeof rep.msg - 1] = '\0';
		while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = ns_error (err, rep.code, "%s", rep.msg);
		goto undo;
	}
	ns_close_fdp (&js.null_fd);
	ns_close_fdp (&js.out_fd);
	ns_close_fdp (&js.err_fd);
	{
		SupJob *job = g_new0 (SupJob, 1);
		job->id = id;
		job->pid = pid;
		g_hash_table_insert (s->jobs, GINT_TO_POINTER (pid), job);
	}
	*out_pid = pid;
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

void
sup_record_job_start (Supervisor *s, unsigned id, const char *cmdline, pid_t pid)
{
	char name[32], pidtext[16];
	g_autofree char *cmd = g_strconcat (cmdline, "\n", NULL);
	_cleanup_close_ int jobdir = -1;

	snprintf (name, sizeof name, "jobs/%u", id);
	snprintf (pidtext, sizeof pidtext, "%d\n", pid);
	jobdir = openat (s->dirfd, name, O_DIRECTORY | O_CLOEXEC);
	if (jobdir < 0 || write_record (jobdir, "cmd", cmd) < 0 || write_record (jobdir, "pid", pidtext) < 0)
		g_warning ("job %u: cannot write its cmd and pid records", id);
}

bool
sup_job_reaped (Supervisor *s, pid_t pid, int wstatus, unsigned *id, char **status)
{
	SupJob *job = g_hash_table_lookup (s->jobs, GINT_TO_POINTER (pid));
	g_autofree char *text = NULL;
	char name[32];
	_cleanup_close_ int jobdir = -1;

	if (!job)
		return false;
	*id = job->id;
	*status = ns_wait_status_format (wstatus);
	text = g_strconcat (*status, "\n", NULL);
	snprintf (name, sizeof name, "jobs/%u", job->id);
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
