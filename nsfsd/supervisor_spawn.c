/* How a supervisor comes to exist: forked by the zygote (a supervisor
 * nsfsd executed once, see backend/zygote.c), or, when there is none,
 * executed directly.  Either way it is nsfsd's child. */
#include "supervisor_spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "config.h"
#include "proto.h"

/* Room for each copy of the zygote to write its title, `nsfs-supervisor
 * NAME`, in (its argument area is all the title it has: backend/title.c). */
#define TITLE_ROOM 4096
#define ZYGOTE_TIMEOUT_SECONDS 10

static char *supervisor_path;
static struct rlimit child_nofile;
static bool have_child_nofile;

void
supspawn_set_nofile_limit (const struct rlimit *rl)
{
	child_nofile = *rl;
	have_child_nofile = true;
}
static GMutex zygote_lock;  /* one request in flight; guards the three below */
static int zygote_fd = -1;
static pid_t zygote_pid = -1;
static bool zygote_wanted;

/* The supervisor binary sits beside nsfsd in a build tree and in
 * libexecdir when installed; NSFS_SUPERVISOR overrides both. */
static char *
find_supervisor (void)
{
	const char *env = getenv ("NSFS_SUPERVISOR");
	g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
	g_autofree char *dir = exe ? g_path_get_dirname (exe) : NULL;
	g_autofree char *built = dir ? g_build_filename (dir, "..", "backend", "nsfs-supervisor", NULL) : NULL;

	if (env && *env)
		return g_strdup (env);
	if (built && access (built, X_OK) == 0)
		return g_steal_pointer (&built);
	return g_build_filename (NSFS_LIBEXECDIR, "nsfs-supervisor", NULL);
}

/* Supervisors start with an empty environment but for the sanitizers'
 * settings, so a test build reports from every process. */
static char **
supervisor_environment (void)
{
	static const char *const keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
	GPtrArray *env = g_ptr_array_new ();

	for (size_t i = 0; i < G_N_ELEMENTS (keep); i++) {
		const char *v = getenv (keep[i]);
		if (v)
			g_ptr_array_add (env, g_strdup_printf ("%s=%s", keep[i], v));
	}
	g_ptr_array_add (env, NULL);
	return (char **) g_ptr_array_free (env, FALSE);
}

/* Execute the supervisor with ARGV and SOCK as its descriptor 3 (and
 * nothing else of ours: /dev/fuse least of all): 0, or an errno. */
static int
execute_supervisor (char **argv, int sock, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char **envp = supervisor_environment ();
	int r;

	posix_spawn_file_actions_init (&fa);
	posix_spawn_file_actions_adddup2 (&fa, sock, 3);
	posix_spawn_file_actions_addclosefrom_np (&fa, 4);
	posix_spawnattr_init (&attr);
	sigemptyset (&none);
	sigfillset (&all);
	posix_spawnattr_setsigmask (&attr, &none);
	posix_spawnattr_setsigdefault (&attr, &all);
	posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	r = posix_spawn (pid, supervisor_path, &fa, &attr, argv, envp);
	/* Sandboxes get the open file limit nsfsd was given, not the one it
	 * raised for itself; set before the supervisor gets any request, so
	 * it holds for every process it will make. */
	if (r == 0 && have_child_nofile && prlimit (*pid, RLIMIT_NOFILE, &child_nofile, NULL) < 0)
		g_warning ("cannot set a supervisor's open file limit: %s", strerror (errno));
	g_strfreev (envp);
	posix_spawn_file_actions_destroy (&fa);
	posix_spawnattr_destroy (&attr);
	return r;
}

static void zygote_stop (void);

/* Called with zygote_lock held: the zygote is usable once it said
 * `ready`; one that cannot set itself up turns the zygote off for good. */
static void
zygote_start (void)
{
	g_autofree char *room = g_strnfill (TITLE_ROOM, ' ');
	char *argv[] = { supervisor_path, "--zygote", "--fd", "3", "--title-room", room, NULL };
	struct timeval tv = { .tv_sec = ZYGOTE_TIMEOUT_SECONDS };
	g_auto (GStrv) hello = NULL;
	int sv[2], r;

	if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		g_warning ("no zygote (socketpair: %s); supervisors are executed one by one", strerror (errno));
		return;
	}
	r = execute_supervisor (argv, sv[1], &zygote_pid);
	close (sv[1]);
	if (r != 0) {
		g_warning ("no zygote (%s); supervisors are executed one by one", strerror (r));
		close (sv[0]);
		zygote_pid = -1;
		zygote_wanted = false;
		return;
	}
	zygote_fd = sv[0];
	/* A zygote that hangs must not hold mkdir for ever. */
	setsockopt (zygote_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (ns_proto_recv (zygote_fd, &hello) < 0 || !hello || strcmp (hello[0], "ready") != 0) {
		g_warning ("the zygote did not start (see nsfsd's stderr); supervisors are executed one by one");
		zygote_stop ();
		zygote_wanted = false;
	}
}

/* Called with zygote_lock held: end a zygote that failed a request (a
 * new one is started for the next). */
static void
zygote_stop (void)
{
	if (zygote_fd >= 0)
		close (zygote_fd);
	zygote_fd = -1;
	if (zygote_pid > 0) {
		kill (zygote_pid, SIGKILL);
		while (waitpid (zygote_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	zygote_pid = -1;
}

/* One exchange with the zygote, started if there is none (called with
 * zygote_lock held): 0 with *PID; -EPIPE when the zygote was gone before
 * it had the request, -ECONNRESET when it died with it (either way it is
 * reaped); another -errno when it refused. */
static int
zygote_request (const char *dir, int sock, pid_t *pid)
{
	char *req[] = { "spawn", (char *) dir, NULL };
	g_auto (GStrv) reply = NULL;
	int r;

	if (zygote_fd < 0)
		zygote_start ();
	if (zygote_fd < 0)
		return -ENOENT;
	if ((r = ns_proto_send_fd (zygote_fd, req, sock)) < 0) {
		g_warning ("the zygote is gone (%s); starting another", strerror (-r));
		zygote_stop ();
		return -EPIPE;
	}
	/* It died (or hung, or spoke nonsense) with our request: whether it
	 * made a copy first is unknown, so no other supervisor may be given
	 * this socket. */
	if ((r = ns_proto_recv (zygote_fd, &reply)) < 0 || !reply ||
	    (strcmp (reply[0], "ok") == 0 && (!reply[1] || (*pid = atoi (reply[1])) <= 0))) {
		g_warning ("the zygote failed while starting a supervisor (%s)", r < 0 ? strerror (-r) : "no answer");
		zygote_stop ();
		return -ECONNRESET;
	}
	if (strcmp (reply[0], "ok") == 0)
		return 0;
	g_warning ("the zygote refused: %s", reply[1] && reply[2] ? reply[2] : "?");
	return reply[1] ? -atoi (reply[1]) : -EPROTO;
}

/* Ask the zygote for a copy, and a new zygote if it was gone: 0 with
 * *PID, or -errno. */
static int
zygote_spawn (const char *dir, int sock, pid_t *pid)
{
	int r = -ENOENT;

	g_mutex_lock (&zygote_lock);
	if (zygote_wanted)
		r = zygote_request (dir, sock, pid);
	if (r == -EPIPE && zygote_wanted)
		r = zygote_request (dir, sock, pid);
	g_mutex_unlock (&zygote_lock);
	return r;
}

void
supspawn_init (void)
{
	const char *env = getenv ("NSFS_ZYGOTE");

	supervisor_path = find_supervisor ();
	zygote_wanted = !env || strcmp (env, "0") != 0;
	g_mutex_lock (&zygote_lock);
	if (zygote_wanted)
		zygote_start ();
	g_mutex_unlock (&zygote_lock);
}

void
supspawn_shutdown (void)
{
	g_mutex_lock (&zygote_lock);
	zygote_stop ();
	g_mutex_unlock (&zygote_lock);
	g_clear_pointer (&supervisor_path, g_free);
}

int
supspawn_start (const char *dir, int sock, pid_t *pid, NsError *err)
{
	char *argv[] = { supervisor_path, "--dir", (char *) dir, "--fd", "3", NULL };
	int r;

	r = zygote_spawn (dir, sock, pid);
	if (r == 0)
		return 0;
	if (r == -ECONNRESET)
		return ns_error (err, EIO, "the zygote died while starting the supervisor; try again");
	if ((r = execute_supervisor (argv, sock, pid)) != 0)
		return ns_error (err, r, "cannot start %s: %s", supervisor_path, strerror (r));
	return 0;
}
