/* nsfs-supervisor main: set the process up (or serve as the zygote and
 * go on in each copy), detach, become a subreaper, and run the event loop
 * (loop.c) on which the clients (clients.c), their requests (requests.c),
 * the sandbox's life (lifecycle.c), its jobs (jobs.c) and the helper
 * children (helpers.c) register what they wait for. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cleanup.h"
#include "clients.h"
#include "config.h"
#include "loop.h"
#include "proto.h"
#include "title.h"

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
	/* Not dumpable: the owner must never read or ptrace a supervisor's
	 * memory, nor a child's that takes the owner's ids before execve
	 * (a job, a check-rootfs helper), which starts as a copy of it. */
	if (prctl (PR_SET_DUMPABLE, 0) < 0) {
		fprintf (stderr, "nsfs-supervisor: PR_SET_DUMPABLE: %s\n", strerror (errno));
		return -1;
	}
	/* Nothing of nsfsd's groups may reach a sandbox. */
	if (geteuid () == 0 && setgroups (0, NULL) < 0) {
		fprintf (stderr, "nsfs-supervisor: setgroups: %s\n", strerror (errno));
		return -1;
	}
	sup.init_program_fd = sup_init_program_open ();
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
	if (geteuid () == 0)
		sup_cgroups_probe_births ();
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
	g_autofree char *dir = NULL;
	bool zygote = false;
	int first_client = -1, c;
	g_autofree char *pidtext = NULL;
	NsError err = { 0 };

	/* Before getopt_long permutes argv: the strings lie in order. */
	sup_title_init (argc, argv);
	while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		/* A copy: the title is written over the arguments. */
		case 'D': g_free (dir); dir = g_strdup (optarg); break;
		case 'F': first_client = atoi (optarg); break;
		case 'Z': zygote = true; break;
		case 'T': break; /* room for the copies' titles (title.c) */
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
		sup_title_set ("nsfs-zygote");
		if (sup_zygote_serve (&sup, first_client, &dir, &first_client) != 0)
			return 0;
		redirect_stdio (dir);
	}
	/* Only the zygote watches the host's mounts. */
	ns_close_fdp (&sup.host_mounts_fd);
	sup_title_name_sandbox (dir);
	sup_title_set ("nsfs-supervisor");
	sup_lifecycle_init (dir);
	sup.dirfd = open (dir, O_DIRECTORY | O_CLOEXEC);
	if (sup.dirfd < 0) {
		fprintf (stderr, "nsfs-supervisor: open %s: %s\n", dir, strerror (errno));
		return 1;
	}
	detach ();
	if (first_client >= 0 && fcntl (first_client, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf (stderr, "nsfs-supervisor: --fd %d: %s\n", first_client, strerror (errno));
		return 1;
	}
	if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0) {
		fprintf (stderr, "nsfs-supervisor: PR_SET_CHILD_SUBREAPER: %s\n", strerror (errno));
		return 1;
	}
	if (sup_loop_init (sup_reap, sup_after_reaping, &err) < 0 || sup_clients_init (sup.dirfd, first_client, &err) < 0) {
		fprintf (stderr, "nsfs-supervisor: setup failed: %s\n", err.msg);
		return 1;
	}
	if (mkdirat (sup.dirfd, "jobs", 0700) < 0 && errno == EEXIST)
		sup_record_orphaned_jobs (&sup);
	pidtext = g_strdup_printf ("%d\n", getpid ());
	ns_write_atomic (sup.dirfd, "supervisor.pid", pidtext, false);
	sup_write_state_record ();

	sup_loop_run ();

	sup_clients_shutdown ();
	sup_loop_shutdown ();
	ns_close_fdp (&sup.self_pidns_fd);
	ns_close_fdp (&sup.self_timens_fd);
	ns_close_fdp (&sup.host_mntns_fd);
	ns_close_fdp (&sup.self_mntns_fd);
	ns_close_fdp (&sup.dirfd);
	ns_close_fdp (&sup.init_program_fd);
	sup_lifecycle_shutdown ();
	return 0;
}
