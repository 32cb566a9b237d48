/* The spawner (see spawner.h): one process per running sandbox, forked
 * from the supervisor after the init, that makes jobs as posix_spawn
 * makes processes, so that a job start costs no copy of the supervisor
 * and a hung execve costs the supervisor nothing. */
#include "spawner.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "loop.h"
#include "proto.h"

#define SPAWNER_STACK_SIZE (256 * 1024)
/* How long the supervisor waits for a job's pid from the spawner:
 * microseconds, unless the machine is starved. */
#define SPAWNER_PID_WAIT_MS 2000
#define SPAWNER_FDS 4

/* AddressSanitizer's bookkeeping does not expect a second process on a
 * stack of ours: its builds fork every job. */
#if defined(__SANITIZE_ADDRESS__)
#define SPAWNER_USABLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPAWNER_USABLE 0
#endif
#endif
#ifndef SPAWNER_USABLE
#define SPAWNER_USABLE 1
#endif

/* A request: the job's groups, capabilities and `user`; its argv, its
 * environment and its `cwd` follow, each string ended by a NUL; SCM_RIGHTS
 * carries /dev/null, stdout, stderr and the report pipe. */
typedef struct {
	uint64_t caps;
	uint32_t n_groups;
	gid_t groups[SUP_MAX_GROUPS];
	uint32_t n_argv, n_env;
	NsJobUser user;
	bool tty;
} SpawnRequest;

/* What comes back: 'P' from the child, with its pid, before anything
 * that could hang; 'D' from the spawner once the child left its memory
 * (it ran execve, or died). */
typedef struct {
	char kind;
	pid_t pid;
} SpawnNote;

static Supervisor *spawner_sup;
static pid_t spawner_pid;       /* 0: none */
static pid_t spawner_init;      /* the init whose namespaces it is in */
static int spawner_fd = -1;     /* the supervisor's end of its socket */
static guint spawner_watch;
static bool spawner_busy;       /* a job made, its 'D' not in yet */
/* The init whose first job was forked: a spawner is made for the second
 * one, so that a sandbox that runs one job (the cold start) does not pay
 * for a fork it never uses again. */
static pid_t first_job_forked;

/* --- the spawner process -------------------------------------------------- */

typedef struct {
	JobStart js;
	int sock;
	pid_t tid;               /* CLONE_PARENT_SETTID writes the child's pid here */
} SpawnChild;

static int
spawn_child (void *data)
{
	SpawnChild *sc = data;
	SpawnNote note = { 'P', sc->tid };

	/* First, while nothing can hang yet: the supervisor waits for it. */
	(void) !send (sc->sock, &note, sizeof note, MSG_NOSIGNAL);
	return sup_job_child (&sc->js);
}

/* Close every descriptor but the KEEP ones (ascending, -1 ignored). */
static void
close_all_but (const int *keep, size_t n)
{
	unsigned lo = 0;

	for (size_t i = 0; i < n; i++) {
		if (keep[i] < 0)
			continue;
		if ((unsigned) keep[i] > lo)
			close_range (lo, (unsigned) keep[i] - 1, 0);
		lo = (unsigned) keep[i] + 1;
	}
	close_range (lo, ~0U, 0);
}

static int
compare_fds (const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

/* Receive one request: its argv (in BUF) and its descriptors.  0 at end
 * of stream (the supervisor is gone). */
static ssize_t
receive_request (int sock, char *buf, size_t size, int *fds)
{
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE (sizeof (int) * SPAWNER_FDS)];
	} control;
	struct iovec iov = { buf, size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
	                      .msg_controllen = sizeof control };
	struct cmsghdr *c;
	ssize_t n;

	do
		n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	c = CMSG_FIRSTHDR (&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN (sizeof (int) * SPAWNER_FDS) ||
	    (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t) n < sizeof (SpawnRequest))
		return -1;
	memcpy (fds, CMSG_DATA (c), sizeof (int) * SPAWNER_FDS);
	return n;
}

static void __attribute__ ((noreturn))
spawner_serve (Supervisor *s, int sock)
{
	static char buf[sizeof (SpawnRequest) + NSFS_PROTO_MAX];
	char *stack = mmap (NULL, SPAWNER_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
	                    -1, 0);

	if (stack == MAP_FAILED)
		_exit (1);
	for (;;) {
		int fds[SPAWNER_FDS];
		SpawnRequest req;
		SpawnChild sc = { .sock = sock };
		SpawnNote done = { 'D', -1 };
		GPtrArray *argv, *envp;
		ssize_t n = receive_request (sock, buf, sizeof buf - 1, fds);
		char *p, *end, *cwd;

		if (n == 0)
			_exit (0);
		if (n < 0)
			_exit (1);
		memcpy (&req, buf, sizeof req);
		buf[n] = '\0';
		argv = g_ptr_array_new ();
		envp = g_ptr_array_new ();
		p = buf + sizeof req;
		end = buf + n;
		for (uint32_t i = 0; i < req.n_argv && p < end; i++, p += strlen (p) + 1)
			g_ptr_array_add (argv, p);
		for (uint32_t i = 0; i < req.n_env && p < end; i++, p += strlen (p) + 1)
			g_ptr_array_add (envp, p);
		cwd = p < end ? p : (char *) "";
		g_ptr_array_add (argv, NULL);
		g_ptr_array_add (envp, NULL);
		s->cfg->caps = req.caps;
		sc.js = (JobStart) { .s = s, .argv = (char *const *) argv->pdata, .null_fd = fds[0], .out_fd = fds[1],
		                     .err_fd = fds[2], .report_fd = fds[3], .n_groups = MIN (req.n_groups, SUP_MAX_GROUPS),
		                     .envp = (char *const *) envp->pdata, .cwd = cwd, .user = req.user, .tty = req.tty,
		                     .in_groups = true };
		memcpy (sc.js.groups, req.groups, sizeof req.groups);
		/* The child shares our memory and we wait, until its execve:
		 * the job is the supervisor's child (CLONE_PARENT). */
		done.pid = clone (spawn_child, stack + SPAWNER_STACK_SIZE,
		                  CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PARENT_SETTID | SIGCHLD, &sc, &sc.tid);
		if (done.pid < 0) {
			SpawnNote failed = { 'P', -errno };
			(void) !send (sock, &failed, sizeof failed, MSG_NOSIGNAL);
		}
		for (int i = 0; i < SPAWNER_FDS; i++)
			close (fds[i]);
		g_ptr_array_free (argv, TRUE);
		g_ptr_array_free (envp, TRUE);
		(void) !send (sock, &done, sizeof done, MSG_NOSIGNAL);
	}
}

/* --- the supervisor's side ------------------------------------------------ */

static void
handle_note (const SpawnNote *note)
{
	if (note->kind == 'D')
		spawner_busy = false;
}

static void
forget_spawner (void)
{
	if (spawner_pid && spawner_sup)
		sup_cgroups_set_resident (spawner_sup, 0);
	sup_loop_remove (&spawner_watch);
	ns_close_fdp (&spawner_fd);
	spawner_pid = 0;
	spawner_init = 0;
	spawner_busy = false;
}

void
sup_spawner_stop (Supervisor *s)
{
	if (!spawner_pid)
		return;
	kill (spawner_pid, SIGKILL);
	forget_spawner ();
}

static void
on_spawner_note (int fd, GIOCondition cond, gpointer data)
{
	SpawnNote note;
	ssize_t n;

	while ((n = recv (fd, &note, sizeof note, MSG_DONTWAIT)) == (ssize_t) sizeof note)
		handle_note (&note);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		forget_spawner ();
}

static void
on_spawner_reaped (pid_t pid, int wstatus, gpointer data)
{
	if (pid == spawner_pid)
		forget_spawner ();
}

static int
spawner_start (Supervisor *s)
{
	unsigned long enter = s->cfg->ns & (CLONE_NEWPID | CLONE_NEWTIME);
	pid_t self = getpid (), pid;
	bool born_in_v2;
	int sv[2];

	if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	pid = sup_cgroups_clone (&s->cg, 0, NULL, &born_in_v2);
	if (pid < 0) {
		close (sv[0]);
		close (sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* 0-2 stay (the supervisor's /dev/null and log): received
		 * descriptors must not take their numbers, or the child's dup2
		 * onto them would be a no-op that leaves them close-on-exec. */
		int keep[] = { 0, 1, 2, sv[1], s->init_pidfd, s->host_mntns_fd };
		prctl (PR_SET_PDEATHSIG, SIGKILL);
		if (getppid () != self)
			_exit (0);
		/* In the sandbox's groups, so that the jobs we make are born
		 * there and move nowhere: a move may wait for the kernel's
		 * global migration lock (cgroups.c), paid here once at most
		 * instead of at every job.  All or none: a spawner out of
		 * them is none. */
		if (sup_cgroups_enter_self (&s->cg, born_in_v2) < 0)
			_exit (1);
		/* Alone in our memory, we may enter the time namespace; our
		 * children are born in both. */
		if (enter && setns (s->init_pidfd, (int) enter) < 0)
			_exit (1);
		qsort (keep, G_N_ELEMENTS (keep), sizeof keep[0], compare_fds);
		close_all_but (keep, G_N_ELEMENTS (keep));
		spawner_serve (s, sv[1]);
	}
	close (sv[1]);
	spawner_fd = sv[0];
	spawner_pid = pid;
	spawner_sup = s;
	sup_cgroups_set_resident (s, pid);
	spawner_init = s->init_pid;
	spawner_busy = false;
	sup_loop_watch_child (pid, on_spawner_reaped, NULL);
	spawner_watch = sup_loop_add_fd (spawner_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_spawner_note, NULL);
	return 0;
}

static int
send_request (Supervisor *s, const JobStart *js)
{
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE (sizeof (int) * SPAWNER_FDS)];
	} control;
	int fds[SPAWNER_FDS] = { js->null_fd, js->out_fd, js->err_fd, js->report_fd };
	g_autoptr (GByteArray) body = g_byte_array_new ();
	SpawnRequest req = { .caps = s->cfg->caps, .n_groups = (uint32_t) js->n_groups, .user = js->user, .tty = js->tty };
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
	                      .msg_controllen = sizeof control };
	struct cmsghdr *c;
	ssize_t n;

	memcpy (req.groups, js->groups, sizeof req.groups);
	g_byte_array_append (body, (const guint8 *) &req, sizeof req);
	for (size_t i = 0; js->argv[i]; i++, req.n_argv++)
		g_byte_array_append (body, (const guint8 *) js->argv[i], (guint) strlen (js->argv[i]) + 1);
	for (size_t i = 0; js->envp[i]; i++, req.n_env++)
		g_byte_array_append (body, (const guint8 *) js->envp[i], (guint) strlen (js->envp[i]) + 1);
	g_byte_array_append (body, (const guint8 *) js->cwd, (guint) strlen (js->cwd) + 1);
	/* The counts are known only now. */
	memcpy (body->data, &req, sizeof req);
	if (body->len > sizeof req + NSFS_PROTO_MAX)
		return -1;
	iov = (struct iovec) { body->data, body->len };
	memset (&control, 0, sizeof control);
	c = CMSG_FIRSTHDR (&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN (sizeof fds);
	memcpy (CMSG_DATA (c), fds, sizeof fds);
	do
		n = sendmsg (spawner_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t) body->len ? 0 : -1;
}

/* The 'P' note of the job just asked for: its pid, -errno where the
 * spawner could not make it, or 0 where none came. */
static pid_t
wait_for_pid (void)
{
	gint64 deadline = g_get_monotonic_time () + SPAWNER_PID_WAIT_MS * 1000;

	for (;;) {
		struct pollfd pfd = { spawner_fd, POLLIN, 0 };
		gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
		SpawnNote note;
		ssize_t n;

		if (left < 0 || poll (&pfd, 1, (int) left) == 0)
			return 0;
		n = recv (spawner_fd, &note, sizeof note, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n != (ssize_t) sizeof note)
			return 0;
		if (note.kind == 'P')
			return note.pid;
		handle_note (&note);
	}
}

int
sup_spawner_job (Supervisor *s, JobStart *js, pid_t *pid, NsError *err)
{
	if (!SPAWNER_USABLE || s->init_pid <= 0 || s->init_pidfd < 0)
		return 0;
	if (spawner_pid && spawner_init != s->init_pid)
		sup_spawner_stop (s);
	if (!spawner_pid && first_job_forked != s->init_pid) {
		first_job_forked = s->init_pid;
		return 0;
	}
	if (!spawner_pid && spawner_start (s) < 0)
		return 0;
	on_spawner_note (spawner_fd, G_IO_IN, NULL);
	/* A job still in its execve holds the spawner (a program on a file
	 * system that never answers, or just slow): this one is forked. */
	if (!spawner_pid || spawner_busy)
		return 0;
	if (send_request (s, js) < 0) {
		sup_spawner_stop (s);
		return 0;
	}
	spawner_busy = true;
	*pid = wait_for_pid ();
	if (*pid > 0)
		return 1;
	/* Its clone failed: the sandbox is at its pids.max (the spawner's
	 * children are born in the groups, and counted), or out of memory.
	 * A job made by fork moves in, as jobs always could. */
	if (*pid < 0)
		return 0;
	/* It took the request and said nothing: a job may exist that we do
	 * not know of (reaped as a stray).  Not made twice: this exec fails. */
	sup_spawner_stop (s);
	return ns_error (err, EAGAIN, "exec: the sandbox's job spawner did not answer");
}
