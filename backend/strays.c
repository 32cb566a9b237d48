/* Strays: the sandbox's processes that are neither its init nor a job we
 * track, the children jobs leave behind (`sh -c 'daemon &'`).  When a
 * process dies its children are reparented: inside a pid namespace to
 * its PID 1, the init; without one to us, the nearest subreaper.  `stop`
 * and `rmdir` must reach them as well as the jobs. */
#include "supervisor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "loop.h"
#include "proclist.h"

/* All of /proc/PID/stat that ns_stat_ppid needs, with a command of 64
 * bytes of ") " included, is far below this. */
#define STAT_READ_MAX 512

static bool
read_small (const char *path, char *buf, size_t size, size_t *len)
{
	_cleanup_close_ int fd = open (path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return false;
	while (got < size) {
		ssize_t n = read (fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			break;
		got += (size_t) n;
	}
	*len = got;
	return true;
}

/* Without CONFIG_PROC_CHILDREN: every process's stat, for its parent. */
static void
scan_children (pid_t parent, GArray *pids)
{
	DIR *proc = opendir ("/proc");
	struct dirent *e;

	if (!proc)
		return;
	while ((e = readdir (proc))) {
		char path[300], buf[STAT_READ_MAX];
		size_t len;
		pid_t ppid;
		char *end;
		long pid = strtol (e->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf (path, sizeof path, "/proc/%ld/stat", pid);
		if (read_small (path, buf, sizeof buf, &len) && ns_stat_ppid (buf, len, &ppid) == 0 && ppid == parent) {
			pid_t child = (pid_t) pid;
			g_array_append_val (pids, child);
		}
	}
	closedir (proc);
}

static bool
have_children_files (void)
{
	static int have = -1;

	if (have < 0) {
		char path[64];
		snprintf (path, sizeof path, "/proc/self/task/%d/children", getpid ());
		have = access (path, F_OK) == 0;
	}
	return have;
}

/* PARENT's children (PARENT being single-threaded, as we and the init
 * are), appended to PIDS; none if PARENT is gone. */
static void
list_children (pid_t parent, GArray *pids)
{
	g_autofree char *text = NULL;
	char path[64];
	gsize len;

	if (!have_children_files ()) {
		scan_children (parent, pids);
		return;
	}
	snprintf (path, sizeof path, "/proc/%d/task/%d/children", parent, parent);
	if (g_file_get_contents (path, &text, &len, NULL) && ns_children_parse (text, len, pids) < 0)
		g_warning ("%s: unexpected contents", path);
}

/* Our own children that are neither the init, nor a tracked job, nor a
 * helper child of the loop: strays
 * when the sandbox has no pid namespace of its own (or had one and its
 * init is gone, when there are none). */
static GArray *
our_strays (Supervisor *s)
{
	GArray *pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
	guint kept = 0;

	list_children (getpid (), pids);
	for (guint i = 0; i < pids->len; i++) {
		pid_t pid = g_array_index (pids, pid_t, i);
		/* Helper children (check-rootfs, hostname, an init thrown
		 * away) are the loop's, never strays. */
		if (pid != s->init_pid && !g_hash_table_contains (s->jobs, GINT_TO_POINTER (pid)) && !sup_loop_is_helper (pid))
			g_array_index (pids, pid_t, kept++) = pid;
	}
	g_array_set_size (pids, kept);
	return pids;
}

bool
sup_init_has_strays (Supervisor *s)
{
	g_autoptr (GArray) pids = NULL;

	/* Only the init reaps these, so only it may signal them (a pid we
	 * read could be reused by the time we sent to it): looking is all
	 * we do. */
	if (s->init_pid <= 0 || !s->cfg || !(s->cfg->ns & CLONE_NEWPID))
		return false;
	pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
	list_children (s->init_pid, pids);
	return pids->len > 0;
}

/* Signal PID (in process group PGID) and, if it leads it, its group; in
 * SIGNALLED (if any), record it and skip what was reached before. */
static void
signal_stray (pid_t pid, pid_t pgid, int signo, GHashTable *signalled)
{
	if (signalled) {
		bool reached = g_hash_table_contains (signalled, GINT_TO_POINTER (pid)) ||
		               (pgid > 0 && g_hash_table_contains (signalled, GINT_TO_POINTER (pgid)));
		g_hash_table_add (signalled, GINT_TO_POINTER (pid));
		if (reached)
			return;
	}
	kill (pgid == pid ? -pid : pid, signo);
}

guint
sup_signal_strays (Supervisor *s, int signo, GHashTable *signalled)
{
	g_autoptr (GArray) pids = our_strays (s);
	g_autoptr (GArray) pgids = g_array_sized_new (FALSE, FALSE, sizeof (pid_t), pids->len);

	/* Our unreaped children: their pids cannot be reused under us.  The
	 * leaders of process groups first, each taking its group along, so
	 * that a stray in one of those groups is not signalled twice. */
	for (guint i = 0; i < pids->len; i++) {
		pid_t pid = g_array_index (pids, pid_t, i), pgid = getpgid (pid);
		g_array_append_val (pgids, pgid);
		if (pgid == pid)
			signal_stray (pid, pgid, signo, signalled);
	}
	for (guint i = 0; i < pids->len; i++) {
		pid_t pid = g_array_index (pids, pid_t, i), pgid = g_array_index (pgids, pid_t, i);
		if (pgid != pid)
			signal_stray (pid, pgid, signo, signalled);
	}
	return pids->len;
}
