/* nsfsd: options, the state dir, the mount (cleaning a stale one), and
 * the FUSE loop.  Sandboxes outlive this process; see docs/design.md. */
#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <glib.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "handles.h"
#include "ops.h"
#include "output.h"
#include "preflight.h"
#include "proto.h"
#include "quota.h"
#include "sandbox.h"
#include "events.h"
#include "network.h"
#include "resources.h"
#include "statedir.h"
#include "trace.h"
#include "trash.h"
#include "supervisor_spawn.h"
#include "supervisor_client.h"
#include "wait.h"

typedef struct {
	bool foreground;
	bool debug;
	const char *state_dir;
	const char *mountpoint;
	SandboxLimits limits;
	unsigned request_timeout;
	unsigned per_user[QUOTA_KINDS];
	NetworkOptions net;
	ResourceOptions resources;
} Options;

static void
usage (FILE *out)
{
	fprintf (out, "usage: nsfsd [-f] [-d] [--state-dir DIR] [MOUNTPOINT]\n"
	              "  -f, --foreground   stay in the foreground\n"
	              "  -d, --debug        log every request (to stderr, kept when detached)\n"
	              "  --state-dir DIR    where sandboxes are kept (default /run/nsfs)\n"
	              "  --max-sandboxes-per-user N   sandboxes one non-root uid may own (default 64, 0: no limit)\n"
	              "  --max-jobs-per-sandbox N     jobs one sandbox may have started (default 4096, 0: no limit)\n"
	              "  --max-job-output BYTES       output kept per job and stream (default 8G; K, M, G suffixes)\n"
	              "  --request-timeout SECONDS    how long to wait for a sandbox's supervisor (default 30)\n"
	              "  --max-requests-per-user N    writes one non-root uid may have waiting on supervisors (default 256)\n"
	              "  --max-open-files-per-user N  files one non-root uid may hold open on the mount (default 4096)\n"
	              "  --max-blocked-reads-per-user N  reads of wait one non-root uid may have blocked (default 1024)\n"
	              "  --bridge NAME      the bridge of `net veth` sandboxes (default " NETWORK_DEFAULT_BRIDGE ")\n"
	              "  --subnet CIDR      their pool of addresses; the first is the bridge's (default " NETWORK_DEFAULT_SUBNET ")\n"
	              "  --max-veth-per-user N   sandboxes with veth one non-root uid may have (default 16)\n"
	              "  --max-ports-per-user N  port forwards one non-root uid may have (default 64)\n"
	              "  --user-memory-max DEFAULT[,CEILING]  memory.max of non-root owners' sandboxes (default max,max)\n"
	              "  --user-pids-max DEFAULT[,CEILING]    pids.max of non-root owners' sandboxes (default 4096,max)\n"
	              "  --user-cpu-max 'DEFAULT[,CEILING]'   cpu.max of non-root owners' sandboxes (default 'max 100000,max 100000')\n"
	              "  --cgroup-controllers LIST  the controllers limits may use, of memory,pids,cpu (default all three)\n"
	              "  MOUNTPOINT         default /mnt/ns\n");
}

static bool
parse_size (const char *text, uint64_t *out)
{
	char *end;
	guint64 v;

	errno = 0;
	v = g_ascii_strtoull (text, &end, 10);
	if (errno || end == text)
		return false;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	}
	if (*end)
		return false;
	*out = v;
	return true;
}

static bool
parse_count (const char *text, unsigned *out)
{
	uint64_t v;
	if (!g_ascii_isdigit (text[0]) || !parse_size (text, &v) || v > UINT_MAX)
		return false;
	*out = (unsigned) v;
	return true;
}

/* DEFAULT[,CEILING] of one limit, in its file's syntax. */
static bool
parse_user_limit (NsLimitKind kind, const char *text, ResourceOptions *r)
{
	g_auto (GStrv) parts = g_strsplit (text, ",", 3);
	NsLimits *dst[2] = { &r->user_default, &r->user_ceiling };
	guint n = g_strv_length (parts);

	if (n < 1 || n > 2)
		return false;
	for (guint i = 0; i < n; i++) {
		NsLimits *l = dst[i];
		const char *t = parts[i];
		int ok;
		switch (kind) {
		case NS_LIMIT_MEMORY: ok = ns_memory_max_parse (t, strlen (t), &l->memory_max, NULL); break;
		case NS_LIMIT_PIDS: ok = ns_pids_max_parse (t, strlen (t), &l->pids_max, NULL); break;
		default: ok = ns_cpu_max_parse (t, strlen (t), &l->cpu_quota, &l->cpu_period, NULL); break;
		}
		if (ok < 0)
			return false;
	}
	return true;
}

static int
parse_options (int argc, char **argv, Options *o)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "max-sandboxes-per-user", required_argument, NULL, 'U' },
		{ "max-jobs-per-sandbox", required_argument, NULL, 'J' },
		{ "max-job-output", required_argument, NULL, 'O' },
		{ "request-timeout", required_argument, NULL, 'T' },
		{ "max-requests-per-user", required_argument, NULL, 'R' },
		{ "max-open-files-per-user", required_argument, NULL, 'H' },
		{ "max-blocked-reads-per-user", required_argument, NULL, 'B' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "subnet", required_argument, NULL, 'n' },
		{ "max-veth-per-user", required_argument, NULL, 'v' },
		{ "max-ports-per-user", required_argument, NULL, 'p' },
		{ "user-memory-max", required_argument, NULL, 'm' },
		{ "user-pids-max", required_argument, NULL, 'P' },
		{ "user-cpu-max", required_argument, NULL, 'c' },
		{ "cgroup-controllers", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;

	*o = (Options) { .state_dir = "/run/nsfs", .mountpoint = "/mnt/ns", .limits = SANDBOX_DEFAULT_LIMITS,
	                 .request_timeout = SUPCLIENT_DEFAULT_TIMEOUT_SECONDS,
	                 .per_user = { [QUOTA_REQUESTS] = 256, [QUOTA_HANDLES] = 4096, [QUOTA_READERS] = 1024 },
	                 .net = { .bridge = NETWORK_DEFAULT_BRIDGE, .veth_per_user = 16, .ports_per_user = 64 } };
	network_parse_subnet (NETWORK_DEFAULT_SUBNET, &o->net.subnet, &o->net.prefix);
	ns_limits_default (&o->resources.user_default);
	ns_limits_default (&o->resources.user_ceiling);
	o->resources.user_default.pids_max = 4096;
	resources_parse_controllers ("memory,pids,cpu", &o->resources);
	while ((c = getopt_long (argc, argv, "fdhV", opts, NULL)) != -1) {
		switch (c) {
		case 'f': o->foreground = true; break;
		case 'd': o->debug = true; break;
		case 's': o->state_dir = optarg; break;
		case 'U':
		case 'J':
			if (!parse_count (optarg, c == 'U' ? &o->limits.sandboxes_per_uid : &o->limits.jobs_per_sandbox)) {
				fprintf (stderr, "nsfsd: not a count: %s\n", optarg);
				return -1;
			}
			break;
		case 'R':
		case 'H':
		case 'B': {
			QuotaKind k = c == 'R' ? QUOTA_REQUESTS : c == 'H' ? QUOTA_HANDLES : QUOTA_READERS;
			if (!parse_count (optarg, &o->per_user[k])) {
				fprintf (stderr, "nsfsd: not a count: %s\n", optarg);
				return -1;
			}
			break;
		}
		case 'b':
			/* A name the kernel takes, and nothing a path could make of it. */
			if (!optarg[0] || strlen (optarg) >= IFNAMSIZ || strpbrk (optarg, "/ \t\n\"")) {
				fprintf (stderr, "nsfsd: not an interface name: %s\n", optarg);
				return -1;
			}
			o->net.bridge = optarg;
			break;
		case 'n':
			if (!network_parse_subnet (optarg, &o->net.subnet, &o->net.prefix)) {
				fprintf (stderr, "nsfsd: not a subnet (A.B.C.D/8 to /28, its network's address): %s\n", optarg);
				return -1;
			}
			break;
		case 'v':
		case 'p':
			if (!parse_count (optarg, c == 'v' ? &o->net.veth_per_user : &o->net.ports_per_user)) {
				fprintf (stderr, "nsfsd: not a count: %s\n", optarg);
				return -1;
			}
			break;
		case 'm':
		case 'P':
		case 'c':
			if (!parse_user_limit (c == 'm' ? NS_LIMIT_MEMORY : c == 'P' ? NS_LIMIT_PIDS : NS_LIMIT_CPU, optarg,
			                       &o->resources)) {
				fprintf (stderr, "nsfsd: not DEFAULT[,CEILING] of that limit: %s\n", optarg);
				return -1;
			}
			break;
		case 'C':
			if (!resources_parse_controllers (optarg, &o->resources)) {
				fprintf (stderr, "nsfsd: not a list of memory, pids and cpu: %s\n", optarg);
				return -1;
			}
			break;
		case 'T':
			if (!parse_count (optarg, &o->request_timeout) || o->request_timeout == 0) {
				fprintf (stderr, "nsfsd: not a number of seconds: %s\n", optarg);
				return -1;
			}
			break;
		case 'O':
			if (!parse_size (optarg, &o->limits.job_output)) {
				fprintf (stderr, "nsfsd: not a size: %s\n", optarg);
				return -1;
			}
			break;
		case 'h': usage (stdout); exit (0);
		case 'V': printf ("nsfsd %s (supervisor protocol %d)\n", NSFS_VERSION, NSFS_PROTO_VERSION); exit (0);
		default: usage (stderr); return -1;
		}
	}
	if (optind < argc)
		o->mountpoint = argv[optind++];
	if (optind < argc) {
		usage (stderr);
		return -1;
	}
	return 0;
}

/* Every open of job output holds a descriptor, and every sandbox one or
 * two: the soft limit most shells hand down (1024) would let a few users
 * make everyone's opens fail with EMFILE.  Root may raise the hard limit
 * too, up to the kernel's nr_open; the per-uid bound keeps any one user
 * far below it. */
static void
raise_nofile_limit (void)
{
	struct rlimit rl;
	g_autofree char *nr_open = NULL;

	if (getrlimit (RLIMIT_NOFILE, &rl) < 0)
		return;
	supspawn_set_nofile_limit (&rl);
	if (geteuid () == 0 && g_file_get_contents ("/proc/sys/fs/nr_open", &nr_open, NULL, NULL)) {
		rlim_t most = (rlim_t) g_ascii_strtoull (nr_open, NULL, 10);
		if (most > rl.rlim_max)
			rl.rlim_max = most;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit (RLIMIT_NOFILE, &rl) == 0)
		return;
	/* Without CAP_SYS_RESOURCE (a container), up to the hard limit. */
	if (getrlimit (RLIMIT_NOFILE, &rl) < 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit (RLIMIT_NOFILE, &rl) < 0)
		g_warning ("cannot raise the open file limit: %s", strerror (errno));
}

/* One nsfsd per state dir: a second one would fight over supervisors. */
static int
lock_state_dir (const char *dir)
{
	g_autofree char *path = g_build_filename (dir, "nsfsd.lock", NULL);
	int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0) {
		fprintf (stderr, "nsfsd: open %s: %s\n", path, strerror (errno));
		return -1;
	}
	if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf (stderr, "nsfsd: another nsfsd is serving %s\n", dir);
		close (fd);
		return -1;
	}
	return fd;
}

/* Say who holds the state dir's lock, for `kill $(cat STATE/nsfsd.lock)`
 * once nsfsd has detached; the lock, not this text, keeps a second nsfsd
 * out.  A clean exit empties it again. */
static void
record_pid (int lock_fd, pid_t pid)
{
	char text[24];
	int n = pid ? snprintf (text, sizeof text, "%d\n", (int) pid) : 0;

	if (ftruncate (lock_fd, 0) < 0 || pwrite (lock_fd, text, (size_t) n, 0) != n)
		g_warning ("cannot record nsfsd's pid in the state dir's lock file: %s", strerror (errno));
}

/* A killed nsfsd leaves its mount behind, answering ENOTCONN; detach it
 * (lazily, as fusermount3 -u -z does) before mounting again.  statfs(2),
 * not stat(2): the kernel answers a stat of the root from its cache for a
 * moment (attrs.c), but always asks the daemon for statfs. */
static void
clean_stale_mount (const char *mountpoint)
{
	struct statfs fs;

	if (statfs (mountpoint, &fs) == 0 || errno != ENOTCONN)
		return;
	if (umount2 (mountpoint, MNT_DETACH) == 0) {
		g_message ("detached a stale mount on %s", mountpoint);
		return;
	}
	{
		g_autofree char *cmd = g_strdup_printf ("fusermount3 -u -z '%s'", mountpoint);
		if (system (cmd) != 0)
			g_warning ("cannot detach the stale mount on %s", mountpoint);
	}
}

static void
silence_log (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
}

/* SIGTERM and SIGINT end nsfsd with a clean unmount, but libfuse installs
 * its handlers only over the default action: started as a background job
 * of a non-interactive shell (`nsfsd -f &` in a script), nsfsd inherits
 * SIGINT ignored and would stay mounted when told to stop, and a blocked
 * signal inherited from the parent would never arrive.  An ignored SIGHUP
 * is left alone: that is `nohup`, asking nsfsd to outlive its terminal. */
static void
take_back_stop_signals (void)
{
	static const int stops[] = { SIGTERM, SIGINT, SIGHUP };
	sigset_t set;

	sigemptyset (&set);
	for (size_t i = 0; i < G_N_ELEMENTS (stops); i++) {
		if (stops[i] != SIGHUP)
			signal (stops[i], SIG_DFL);
		sigaddset (&set, stops[i]);
	}
	sigprocmask (SIG_UNBLOCK, &set, NULL);
}

int
main (int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT (0, NULL);
	struct fuse_loop_config *loop_cfg;
	struct fuse_session *se;
	g_autofree char *mountpoint = NULL;
	g_autofree char *max_read_opt = g_strdup_printf ("max_read=%d", OUTPUT_SPLICE_MAX);
	NsError err = { 0 };
	Options o;
	int lock_fd, log_fd = -1, r = 1;

	if (parse_options (argc, argv, &o) < 0)
		return 2;
	if (!o.debug)
		g_log_set_handler (NULL, G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO, silence_log, NULL);
	signal (SIGPIPE, SIG_IGN);
	take_back_stop_signals ();

	if (!preflight_fuse_device ())
		return 1;
	if (statedir_init (o.state_dir, &err) < 0) {
		preflight_say_state_dir_unusable (o.state_dir, err.code, err.msg);
		return 1;
	}
	if ((lock_fd = lock_state_dir (o.state_dir)) < 0)
		return 1;
	clean_stale_mount (o.mountpoint);
	if (g_mkdir_with_parents (o.mountpoint, 0755) < 0) {
		fprintf (stderr, "nsfsd: cannot create the mountpoint %s: %s\n", o.mountpoint, strerror (errno));
		return 1;
	}
	mountpoint = realpath (o.mountpoint, NULL);
	if (!mountpoint) {
		fprintf (stderr, "nsfsd: %s: %s\n", o.mountpoint, strerror (errno));
		return 1;
	}
	if (!preflight_mountpoint_free (mountpoint))
		return 1;
	preflight_warn (o.state_dir);

	fuse_opt_add_arg (&args, argv[0]);
	fuse_opt_add_arg (&args, "-o");
	fuse_opt_add_arg (&args, geteuid () == 0 ? "fsname=nsfs,subtype=nsfsd,default_permissions,allow_other"
	                                         : "fsname=nsfs,subtype=nsfsd,default_permissions");
	/* Every read, readahead's included, small enough to be spliced
	 * (output.h): a 1 MiB read is copied through nsfsd instead. */
	fuse_opt_add_arg (&args, "-o");
	fuse_opt_add_arg (&args, max_read_opt);
	/* libfuse's own -d shows opcodes and inode numbers; ours names the
	 * path and the outcome of each request (trace.c). */
	if (o.debug)
		trace_enable ();
	sandbox_registry_init ();
	sandbox_set_limits (&o.limits);
	network_init (&o.net);
	resources_init (&o.resources);
	for (int k = 0; k < QUOTA_KINDS; k++)
		quota_set_limit ((QuotaKind) k, o.per_user[k]);
	raise_nofile_limit ();
	se = fuse_session_new (&args, &nsfs_ops, sizeof nsfs_ops, NULL);
	if (!se)
		goto out_args;
	ops_set_session (se);
	if (fuse_set_signal_handlers (se) != 0)
		goto out_session;
	if (fuse_session_mount (se, mountpoint) != 0)
		goto out_signals;
	/* Detach only now that the mount exists: `nsfsd && ls` never races.
	 * Threads start after the fork.  Only -f keeps nsfsd in the
	 * foreground (INTERFACE §0); a detached -d keeps the stderr it was
	 * given, which fuse_daemonize points at /dev/null, for its log. */
	if (o.debug && !o.foreground)
		log_fd = dup (STDERR_FILENO);
	if (fuse_daemonize (o.foreground) != 0) {
		if (log_fd >= 0)
			close (log_fd);
		goto out_unmount;
	}
	if (log_fd >= 0) {
		dup2 (log_fd, STDERR_FILENO);
		close (log_fd);
	}
	record_pid (lock_fd, getpid ());
	{
		/* Canonical: a detached nsfsd runs in /. */
		g_autofree char *sandboxes = statedir_sandboxes_path ();
		g_autofree char *top = g_path_get_dirname (sandboxes);
		trash_init (top);
	}
	supclient_init (o.request_timeout);
	sandbox_adopt_all ();
	/* A predecessor's bridge and table, if no sandbox needs them now. */
	network_release_if_unused ();

	/* Under systemd (Type=notify), the unit is up once the mount serves
	 * and the running sandboxes are taken back; a no-op elsewhere. */
	sd_notifyf (0, "READY=1\nSTATUS=serving %s", mountpoint);
	loop_cfg = fuse_loop_cfg_create ();
	fuse_loop_cfg_set_clone_fd (loop_cfg, 0);
	fuse_loop_cfg_set_max_threads (loop_cfg, 64);
	r = fuse_session_loop_mt (se, loop_cfg);
	/* libfuse reports the signal that ended the loop; that is a clean exit. */
	r = r == 0 || r == SIGTERM || r == SIGINT || r == SIGHUP ? 0 : 1;
	fuse_loop_cfg_destroy (loop_cfg);

	sd_notify (0, "STOPPING=1");
	ops_cancel_waiters ();
	events_cancel_all ();
	/* Writes still waiting on supervisors are answered here (rmdirs
	 * waiting for one to exit, in supclient_shutdown), and let go of
	 * their open files. */
	network_shutdown ();
	sandbox_registry_shutdown ();
	supclient_shutdown ();
	ops_free_handles ();
	trash_shutdown ();
	resources_shutdown ();
out_unmount:
	fuse_session_unmount (se);
out_signals:
	fuse_remove_signal_handlers (se);
out_session:
	fuse_session_destroy (se);
out_args:
	fuse_opt_free_args (&args);
	record_pid (lock_fd, 0);
	close (lock_fd);
	return r;
}
