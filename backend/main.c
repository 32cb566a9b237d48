/* nsfs-supervisor main: detach, become a subreaper, and serve nsfsd's
 * requests and the sandbox's SIGCHLDs from one poll loop. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "caps.h"
#include "cleanup.h"
#include "cmdline.h"
#include "config.h"
#include "names.h"
#include "nstypes.h"
#include "proto.h"
#include "signames.h"

/* While a stop is pending, how often to look whether the sandbox's
 * processes are all gone: strays in a pid namespace are the init's to
 * reap, so no SIGCHLD tells us. */
#define STOP_POLL_MS 20
#define MAX_CLIENTS 8

static Supervisor sup;
static int clients[MAX_CLIENTS];
/* Whether each client said hello: only those hear events.  An event
 * sent before would be read as the answer to the hello; what it says is
 * in that answer and in the records anyway. */
static bool greeted[MAX_CLIENTS];
static int listen_fd = -1, signal_fd = -1;
static bool quit;
/* Whether any request ever reached us: a supervisor that got none and
 * whose first client is gone was abandoned while being started (a zygote
 * that died with the request in hand makes nsfsd fail that mkdir), and
 * must not linger as a process nobody knows of. */
static bool spoken_to;

void
sup_broadcast (Supervisor *s, const char *verb, ...)
{
	g_autofree char **fields = NULL;
	va_list ap;

	va_start (ap, verb);
	fields = ns_proto_fields_va (verb, ap);
	va_end (ap);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] >= 0 && greeted[i])
			ns_proto_send (clients[i], fields);
}

/* Where a reply goes: the client, and the tag its request came with,
 * which the reply carries back (see NSFS_PROTO_TAG). */
typedef struct {
	int fd;
	char tag[NSFS_PROTO_TAG_MAX];   /* "" for an untagged request (hello) */
} ReplyTo;

/* Who a pending stop answers once the init is gone (fd -1: nobody). */
static ReplyTo stop_to = { .fd = -1 };
/* The strays a pending stop sent SIGTERM to (a pid set). */
static GHashTable *stop_signalled;

static int
reply_fields (const ReplyTo *to, char *const *fields)
{
	return ns_proto_send_tagged (to->fd, to->tag, fields);
}

static int __attribute__ ((sentinel))
reply_ok (const ReplyTo *to, ...)
{
	g_autofree char **fields = NULL;
	va_list ap;

	va_start (ap, to);
	fields = ns_proto_fields_va ("ok", ap);
	va_end (ap);
	return reply_fields (to, fields);
}

static int
reply_err (const ReplyTo *to, const NsError *err)
{
	char code[16];
	char *const fields[] = { "err", code, (char *) err->msg, NULL };

	snprintf (code, sizeof code, "%d", err->code ? err->code : EIO);
	return reply_fields (to, fields);
}

int
sup_reply_err (int fd, const NsError *err)
{
	ReplyTo to = { .fd = fd };
	return reply_err (&to, err);
}

static const char *
state_name (SupState st)
{
	switch (st) {
	case SUP_CREATED: return "created";
	case SUP_RUNNING: return "running";
	case SUP_STOPPED: return "stopped";
	}
	return "unknown";
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
		text = g_strdup_printf ("%s\n", state_name (sup.state));
	if (ns_write_atomic (sup.dirfd, "state", text, false) < 0)
		g_warning ("cannot write %s/state", sup.dir);
}

static void
poll_stop (bool on)
{
	struct itimerspec its = { 0 };

	if (on) {
		its.it_value.tv_nsec = STOP_POLL_MS * 1000000L;
		its.it_interval = its.it_value;
	}
	timerfd_settime (sup.timerfd, 0, &its, NULL);
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
		kill (sup.init_pid, SIGKILL);
		return;
	}
	/* A process in a session of its own (missed by SIGTERM to its job's
	 * group) becomes a stray when its job ends: it gets SIGTERM then. */
	ours = sup_signal_strays (&sup, SIGTERM, stop_signalled);
	if (g_hash_table_size (sup.jobs) == 0 && ours == 0 && !sup_init_has_strays (&sup))
		kill (sup.init_pid, SIGKILL);
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
	sup_broadcast (&sup, "state", "stopped", reason, NULL);
}

/* The init is gone: every job went with it (pid namespace) or is killed
 * now, and the namespaces are released once the last fd drops. */
static void
sandbox_ended (const char *reason)
{
	if (sup.state != SUP_RUNNING)
		return;
	sup_signal_jobs (&sup, SIGKILL);
	sup_signal_strays (&sup, SIGKILL, NULL);
	close (sup.init_pidfd);
	sup.init_pidfd = -1;
	sup.init_pid = 0;
	mark_stopped (reason);
	poll_stop (false);
	if (sup.stopping) {
		sup.stopping = false;
		if (stop_to.fd >= 0)
			reply_ok (&stop_to, NULL);
		stop_to.fd = -1;
	}
}

static void
reap_children (void)
{
	bool reaped = false;
	int wstatus;
	pid_t pid;

	while ((pid = waitpid (-1, &wstatus, WNOHANG)) > 0) {
		reaped = true;
		g_autofree char *status = NULL;
		unsigned id;

		if (pid == sup.init_pid) {
			g_autofree char *why = NULL;
			if (sup.stopping) {
				why = g_strdup ("stopped on request");
			} else {
				g_autofree char *how = ns_wait_status_format (wstatus);
				why = g_strdup_printf ("the sandbox init ended (%s)", how);
			}
			sandbox_ended (why);
		} else if (sup_job_reaped (&sup, pid, wstatus, &id, &status)) {
			char idtext[16];
			snprintf (idtext, sizeof idtext, "%u", id);
			sup_broadcast (&sup, "exit", idtext, status, NULL);
		}
	}
	check_stop ();
	/* A stopped sandbox has no processes: a stray killed with it may
	 * have had children, reparented to us as it died. */
	if (reaped && sup.state != SUP_RUNNING)
		sup_signal_strays (&sup, SIGKILL, NULL);
}

static void
begin_stop (const ReplyTo *to)
{
	/* §3: after a stop the state is `stopped`, also when the sandbox had
	 * never been started (there is nothing to end). */
	if (sup.state == SUP_CREATED)
		mark_stopped ("stopped on request");
	if (sup.state != SUP_RUNNING) {
		reply_ok (to, NULL);
		return;
	}
	sup.stopping = true;
	stop_to = *to;
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

static char *
pinned_text (void)
{
	return ns_set_format (sup.pinned);
}

/* Make the started sandbox known: its pins, its record, its clients. */
static void
announce_running (void)
{
	char pid[16];
	NsError err;

	/* A pinned sandbox pins its new namespaces in place of the old. */
	if (sup.pin_requested && sup_pin (&sup, &err) < 0)
		g_warning ("%s", err.msg);
	write_state_record ();
	snprintf (pid, sizeof pid, "%d", sup.init_pid);
	sup_broadcast (&sup, "state", "running", pid, NULL);
}

static int
ensure_running (NsError *err)
{
	int r;

	if (sup.state == SUP_RUNNING)
		return 0;
	if ((r = sup_start (&sup, err)) < 0)
		return r;
	announce_running ();
	return 0;
}

/* An exec that started the sandbox for a program that then could not be
 * executed leaves it as it found it, created or stopped (with the reason
 * it stopped for), as every failed write leaves what it would have
 * changed.  Nothing was announced yet, so nobody saw it run. */
static void
undo_start (SupState before, char *stop_reason)
{
	kill (sup.init_pid, SIGKILL);
	while (waitpid (sup.init_pid, NULL, 0) < 0 && errno == EINTR)
		;
	close (sup.init_pidfd);
	sup.init_pidfd = -1;
	sup.init_pid = 0;
	sup.state = before;
	g_free (sup.stop_reason);
	sup.stop_reason = stop_reason;
}

/* `exec ID LINE`: start the sandbox if need be, then the job. */
static void
handle_exec (const ReplyTo *to, char **msg)
{
	g_auto (GStrv) argv = NULL;
	g_autofree char *stop_reason = g_strdup (sup.stop_reason);
	g_autofree char *shown = NULL;
	SupState before = sup.state;
	NsError err = { 0 };
	char *end;
	unsigned long id = strtoul (msg[1], &end, 10);
	char pidtext[16];
	pid_t pid;

	if (*end || id == 0 || id > UINT32_MAX) {
		ns_error (&err, EINVAL, "exec: bad job id");
		reply_err (to, &err);
		return;
	}
	/* The write travels once, as it was written, and is split here by
	 * the same parser nsfsd checked it with; `cmd` shows it stripped,
	 * as nsfsd does. */
	if (ns_cmdline_parse (msg[2], strlen (msg[2]), &argv, &err) < 0 ||
	    (before != SUP_RUNNING && sup_start (&sup, &err) < 0)) {
		reply_err (to, &err);
		return;
	}
	if (sup_exec_job (&sup, (unsigned) id, msg[2], argv, &pid, &err) < 0) {
		if (before != SUP_RUNNING)
			undo_start (before, g_steal_pointer (&stop_reason));
		reply_err (to, &err);
		return;
	}
	if (before != SUP_RUNNING)
		announce_running ();
	snprintf (pidtext, sizeof pidtext, "%d", pid);
	reply_ok (to, pidtext, NULL);
	shown = ns_cmdline_strip (g_strdup (msg[2]));
	sup_record_job_start (&sup, (unsigned) id, shown, pid);
}

static void
destroy_everything (void)
{
	sup_signal_jobs (&sup, SIGKILL);
	sup_signal_strays (&sup, SIGKILL, NULL);
	if (sup.init_pid > 0)
		kill (sup.init_pid, SIGKILL);
	/* Wait for every child, jobs and strays included, so nothing
	 * outlives rmdir.  Each death may hand us the dead one's children
	 * (we are their subreaper); they are killed before the next wait. */
	for (;;) {
		int wstatus;
		pid_t pid = waitpid (-1, &wstatus, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		if (pid == sup.init_pid) {
			sup.init_pid = 0;
		} else {
			g_autofree char *status = NULL;
			char idtext[16];
			unsigned id;
			if (sup_job_reaped (&sup, pid, wstatus, &id, &status)) {
				snprintf (idtext, sizeof idtext, "%u", id);
				sup_broadcast (&sup, "exit", idtext, status, NULL);
			}
		}
		sup_signal_strays (&sup, SIGKILL, NULL);
	}
	if (sup.init_pidfd >= 0)
		close (sup.init_pidfd);
	sup.init_pidfd = -1;
	sup.state = SUP_STOPPED;
	sup_unpin (&sup);
}

static void
handle_request (int i, char **msg)
{
	ReplyTo to_client = { .fd = clients[i] }, *to = &to_client;
	NsError err = { 0 };
	const char *verb;
	guint n;

	spoken_to = true;
	if (msg[0][0] == NSFS_PROTO_TAG) {
		if (strlen (msg[0]) >= sizeof to->tag || !msg[1]) {
			ns_error (&err, EPROTO, "malformed request tag");
			reply_err (to, &err);
			return;
		}
		g_strlcpy (to->tag, msg[0], sizeof to->tag);
		msg++;
	}
	verb = msg[0];
	n = g_strv_length (msg);
	if (strcmp (verb, "hello") == 0) {
		char pid[16], version[16];
		if (n < 2 || atoi (msg[1]) != NSFS_PROTO_VERSION) {
			ns_error (&err, EPROTO, "supervisor speaks protocol %d, nsfsd spoke %s", NSFS_PROTO_VERSION,
			          n < 2 ? "none" : msg[1]);
			reply_err (to, &err);
			return;
		}
		g_autofree char *pinned = pinned_text ();
		snprintf (pid, sizeof pid, "%d", sup.state == SUP_RUNNING ? sup.init_pid : 0);
		snprintf (version, sizeof version, "%d", NSFS_PROTO_VERSION);
		reply_ok (to, version, state_name (sup.state), pid,
		                sup.stop_reason ? sup.stop_reason : "", pinned, NULL);
		greeted[i] = true;
	} else if (strcmp (verb, "start") == 0) {
		char pid[16];
		if (ensure_running (&err) < 0) {
			reply_err (to, &err);
			return;
		}
		snprintf (pid, sizeof pid, "%d", sup.init_pid);
		reply_ok (to, pid, NULL);
	} else if (strcmp (verb, "exec") == 0 && n == 3) {
		handle_exec (to, msg);
	} else if (strcmp (verb, "stop") == 0) {
		begin_stop (to);
	} else if (strcmp (verb, "kill") == 0 && n == 2) {
		int signo;
		if (ns_signal_parse (msg[1], &signo, &err) < 0) {
			reply_err (to, &err);
			return;
		}
		sup_signal_jobs (&sup, signo);
		reply_ok (to, NULL);
	} else if (strcmp (verb, "hostname") == 0 && n == 2) {
		if (sup_set_hostname (&sup, msg[1], &err) < 0) {
			reply_err (to, &err);
			return;
		}
		reply_ok (to, NULL);
	} else if (strcmp (verb, "caps") == 0 && n == 2) {
		uint64_t keep;
		/* Later jobs keep this set; a sandbox not started yet reads it
		 * from its configuration when it starts. */
		if (ns_caps_parse (msg[1], strlen (msg[1]), &keep, &err) < 0) {
			reply_err (to, &err);
			return;
		}
		if (sup.cfg)
			sup.cfg->caps = keep;
		reply_ok (to, NULL);
	} else if (strcmp (verb, "check-rootfs") == 0 && n == 2) {
		g_autofree char *cfg_path = g_build_filename (sup.dir, "config", NULL);
		g_autoptr (NsSandboxConfig) cfg = NULL;
		if (ns_config_load (cfg_path, &cfg, &err) < 0 || sup_check_path_as_owner (cfg, msg[1], &err) < 0) {
			reply_err (to, &err);
			return;
		}
		reply_ok (to, NULL);
	} else if (strcmp (verb, "pin") == 0) {
		g_autofree char *pinned = NULL;
		if (sup_pin (&sup, &err) < 0) {
			reply_err (to, &err);
			return;
		}
		sup.pin_requested = true;
		pinned = pinned_text ();
		reply_ok (to, pinned, NULL);
	} else if (strcmp (verb, "unpin") == 0) {
		sup_unpin (&sup);
		sup.pin_requested = false;
		reply_ok (to, "", NULL);
	} else if (strcmp (verb, "destroy") == 0) {
		destroy_everything ();
		reply_ok (to, NULL);
		quit = true;
	} else {
		ns_error (&err, EINVAL, "unknown request '%.32s'", verb);
		reply_err (to, &err);
	}
}

static void
add_client (int fd)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i] < 0) {
			clients[i] = fd;
			greeted[i] = false;
			return;
		}
	}
	close (fd);
}

static bool
have_clients (void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] >= 0)
			return true;
	return false;
}

static void
drop_client (int i)
{
	if (stop_to.fd == clients[i])
		stop_to.fd = -1;
	close (clients[i]);
	clients[i] = -1;
	if (!spoken_to && !have_clients ()) {
		fprintf (stderr, "nsfs-supervisor: abandoned before any request; exiting\n");
		quit = true;
	}
}

static void
accept_client (void)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	int fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* Only our own user (nsfsd runs as it) may drive the sandbox. */
	if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid ()) {
		close (fd);
		return;
	}
	add_client (fd);
}

static int
listen_on_dir (int dirfd)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	/* Through /proc/self/fd the path stays short whatever the state dir. */
	snprintf (addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/supervisor.sock", dirfd);
	unlink (addr.sun_path);
	fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (fd, 8) < 0) {
		int e = errno;
		close (fd);
		return -e;
	}
	return fd;
}

static void
serve (void)
{
	while (!quit) {
		struct pollfd pfd[3 + MAX_CLIENTS];
		int idx[3 + MAX_CLIENTS];
		nfds_t n = 0;

		pfd[n] = (struct pollfd) { .fd = signal_fd, .events = POLLIN };
		idx[n++] = -1;
		pfd[n] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
		idx[n++] = -2;
		pfd[n] = (struct pollfd) { .fd = sup.timerfd, .events = POLLIN };
		idx[n++] = -3;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (clients[i] >= 0) {
				pfd[n] = (struct pollfd) { .fd = clients[i], .events = POLLIN };
				idx[n++] = i;
			}
		}
		if (poll (pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			g_error ("poll: %s", strerror (errno));
		}
		for (nfds_t k = 0; k < n && !quit; k++) {
			if (!pfd[k].revents)
				continue;
			if (idx[k] == -1) {
				struct signalfd_siginfo si;
				/* SIGTERM and friends are swallowed on purpose: the
				 * supervisor outlives nsfsd, only `destroy` ends it. */
				while (read (signal_fd, &si, sizeof si) == sizeof si)
					;
				reap_children ();
			} else if (idx[k] == -2) {
				accept_client ();
			} else if (idx[k] == -3) {
				uint64_t ticks;
				(void) !read (sup.timerfd, &ticks, sizeof ticks);
				check_stop ();
			} else {
				char **msg = NULL;
				int i = idx[k];
				if (ns_proto_recv (clients[i], &msg) < 0 || !msg) {
					drop_client (i);
					continue;
				}
				handle_request (i, msg);
				g_strfreev (msg);
			}
		}
	}
}

/* Leave nsfsd's session so its terminal and signals are not ours; we
 * stay its child (it reaps us) until it exits, then we are an orphan. */
static void
detach (void)
{
	setsid ();
}

static void
redirect_stdio (const char *dir)
{
	g_autofree char *log = g_build_filename (dir, "supervisor.log", NULL);
	int null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
	int log_fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (null_fd >= 0) {
		dup2 (null_fd, 0);
		dup2 (null_fd, 1);
		close (null_fd);
	}
	if (log_fd >= 0) {
		dup2 (log_fd, 2);
		close (log_fd);
	}
}

/* Process-wide and the same for every sandbox, so a zygote does it once
 * for all of its copies. */
static int
setup_process (void)
{
	/* Nothing of nsfsd's groups may reach a sandbox. */
	if (geteuid () == 0 && setgroups (0, NULL) < 0) {
		fprintf (stderr, "nsfs-supervisor: setgroups: %s\n", strerror (errno));
		return -1;
	}
	sup.self_pidns_fd = open ("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	sup.self_timens_fd = open ("/proc/self/ns/time", O_RDONLY | O_CLOEXEC);
	/* A mount namespace of our own, a slave of the host's (mounts made
	 * there later still reach us and our sandboxes where they propagate),
	 * so nsfs mounts can be detached from what sandboxes copy (mountns.c).
	 * A zygote's copies share its namespace: making it and detaching
	 * there was a third of a supervisor's start. */
	sup.host_mntns_fd = open ("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	sup.self_mntns_fd = -1;
	sup.host_mounts_fd = -1;
	if (geteuid () == 0 && sup.host_mntns_fd >= 0) {
		NsError err;
		if (sup_private_mounts (&sup, &err) < 0) {
			fprintf (stderr, "nsfs-supervisor: %s\n", err.msg);
			return -1;
		}
	}
	if (sup.self_pidns_fd < 0) {
		fprintf (stderr, "nsfs-supervisor: open /proc/self/ns/pid: %s\n", strerror (errno));
		return -1;
	}
	return 0;
}

int
main (int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'D' },
		{ "fd", required_argument, NULL, 'F' },
		{ "version", no_argument, NULL, 'V' },
		{ "zygote", no_argument, NULL, 'Z' },
		{ "title-room", required_argument, NULL, 'T' },
		{ 0 },
	};
	const char *dir = NULL;
	g_autofree char *zygote_dir = NULL;
	char *title = argv[0] + strlen (argv[0]) + 1;
	size_t title_len = 0;
	bool zygote = false;
	int first_client = -1, c;
	sigset_t mask;
	g_autofree char *pidtext = NULL;

	for (int i = 1; i < argc; i++)
		title_len = MAX (title_len, (size_t) (argv[i] + strlen (argv[i]) + 1 - title));
	while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'D': dir = optarg; break;
		case 'F': first_client = atoi (optarg); break;
		case 'Z': zygote = true; break;
		case 'T': break; /* room for sup_zygote_serve's retitle */
		case 'V': printf ("nsfs-supervisor %s (protocol %d)\n", NSFS_VERSION, NSFS_PROTO_VERSION); return 0;
		default: return 2;
		}
	}
	if (zygote ? first_client < 0 : !dir || !g_path_is_absolute (dir)) {
		fprintf (stderr, "usage: nsfs-supervisor --dir ABSOLUTE_SANDBOX_DIR [--fd N]\n"
		                 "       nsfs-supervisor --zygote --fd N [--title-room SPACES]\n");
		return 2;
	}
	/* What every supervisor shares is done once, before the zygote's
	 * copies are made; a supervisor executed on its own logs it. */
	if (!zygote)
		redirect_stdio (dir);
	if (setup_process () < 0)
		return 1;
	if (zygote) {
		if (sup_zygote_serve (&sup, first_client, title, title_len, &zygote_dir, &first_client) != 0)
			return 0;
		dir = zygote_dir;
		redirect_stdio (dir);
	}
	/* Only the zygote watches the host's mounts. */
	ns_close_fdp (&sup.host_mounts_fd);
	sup.host_mounts_fd = -1;
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i] = -1;
	sup.dir = g_strdup (dir);
	sup.init_pidfd = -1;
	stop_to.fd = -1;
	stop_signalled = g_hash_table_new (g_direct_hash, g_direct_equal);
	sup.state = SUP_CREATED;
	sup.jobs = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);

	sup.dirfd = open (dir, O_DIRECTORY | O_CLOEXEC);
	if (sup.dirfd < 0) {
		fprintf (stderr, "nsfs-supervisor: open %s: %s\n", dir, strerror (errno));
		return 1;
	}
	detach ();
	if (first_client >= 0) {
		fcntl (first_client, F_SETFD, FD_CLOEXEC);
		add_client (first_client);
	}
	prctl (PR_SET_CHILD_SUBREAPER, 1);
	sup.timerfd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	sigemptyset (&mask);
	sigaddset (&mask, SIGCHLD);
	sigaddset (&mask, SIGTERM);
	sigaddset (&mask, SIGINT);
	sigaddset (&mask, SIGHUP);
	sigaddset (&mask, SIGPIPE);
	sigprocmask (SIG_BLOCK, &mask, NULL);
	signal_fd = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	listen_fd = listen_on_dir (sup.dirfd);
	if (sup.timerfd < 0 || signal_fd < 0 || listen_fd < 0) {
		fprintf (stderr, "nsfs-supervisor: setup failed: %s\n", strerror (errno));
		return 1;
	}
	if (mkdirat (sup.dirfd, "jobs", 0700) < 0 && errno == EEXIST)
		sup_record_orphaned_jobs (&sup);
	pidtext = g_strdup_printf ("%d\n", getpid ());
	ns_write_atomic (sup.dirfd, "supervisor.pid", pidtext, false);
	write_state_record ();

	serve ();

	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i] >= 0)
			close (clients[i]);
	close (listen_fd);
	close (signal_fd);
	close (sup.timerfd);
	close (sup.self_pidns_fd);
	if (sup.self_timens_fd >= 0)
		close (sup.self_timens_fd);
	if (sup.host_mntns_fd >= 0)
		close (sup.host_mntns_fd);
	if (sup.self_mntns_fd >= 0)
		close (sup.self_mntns_fd);
	close (sup.dirfd);
	g_hash_table_destroy (sup.jobs);
	g_hash_table_destroy (stop_signalled);
	ns_config_free (sup.cfg);
	g_free (sup.stop_reason);
	g_free (sup.dir);
	return 0;
}
