/* The zygote: one supervisor that nsfsd executes when it starts and that
 * forks every other.  Executing a supervisor (the kernel's exec, the
 * loader, libc's, libcap's and glib's start-up) was most of what a new
 * sandbox's first `exec` waited for; a copy of a process that has done
 * all that starts in a fraction of the time (docs/performance.md).
 *
 * The copies are made with CLONE_PARENT: each is nsfsd's child, exactly
 * as if nsfsd had spawned it, so nsfsd reaps and watches it as before and
 * the zygote keeps nothing per sandbox.  The zygote must stay the pristine
 * start of a supervisor: single-threaded, no state of a sandbox, no
 * descriptor but its socket. */
#include "supervisor.h"

#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "proto.h"

/* fork(2) copies no page table entry of a file mapping without an
 * anonymous page: the child faults each page of code in as it first runs
 * it, and a fault costs far more on these machines than copying an entry
 * (docs/performance.md).  So the zygote maps every page of its code and
 * read-only data once, and gives each such mapping an anonymous page (its
 * first byte written over itself, made writable for that moment only,
 * before the zygote has read a single request); from then on every copy,
 * and every init a copy makes, starts with all of them mapped. */
static void
premap_file_mappings (void)
{
	g_autofree char *maps = NULL;
	g_auto (GStrv) lines = NULL;

	if (!g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL))
		return;
	lines = g_strsplit (maps, "\n", -1);
	for (char **l = lines; *l && **l; l++) {
		unsigned long start, end, inode;
		char perms[5];
		int prot;

		if (sscanf (*l, "%lx-%lx %4s %*s %*s %lu", &start, &end, perms, &inode) != 4)
			continue;
		if (inode == 0 || perms[0] != 'r' || perms[1] == 'w' || perms[3] != 'p')
			continue;
		prot = PROT_READ | (perms[2] == 'x' ? PROT_EXEC : 0);
		/* MADV_POPULATE_READ is Linux 5.14: without it, nothing. */
		if (madvise ((void *) start, end - start, MADV_POPULATE_READ) < 0)
			continue;
		/* The whole mapping at once, since a part would split it off. */
		if (mprotect ((void *) start, end - start, prot | PROT_WRITE) == 0) {
			volatile char *first = (volatile char *) start;
			*first = *first;
			if (mprotect ((void *) start, end - start, prot) < 0)
				_exit (1);
		}
	}
}

/* The owner's groups are looked up (getgrouplist) for every job and
 * every path check; the first lookup in a process loads the NSS modules
 * nsswitch.conf names (1.5 ms, most of a write to `mounts`).  Loaded here,
 * every copy has them, and premap_file_mappings maps their code too. */
static void
load_nss_modules (void)
{
	gid_t groups[SUP_MAX_GROUPS];
	NsSandboxConfig probe = { .owner_uid = 0, .owner_gid = 0 };

	(void) sup_owner_group_list (&probe, groups, G_N_ELEMENTS (groups));
}

static pid_t
clone_as_nsfsd_child (void)
{
	struct clone_args args = { .flags = CLONE_PARENT };
	return (pid_t) syscall (SYS_clone3, &args, sizeof args);
}

int
sup_zygote_serve (Supervisor *s, int sock, char **dir, int *first_client)
{
	/* Out of nsfsd's session, like every supervisor: its terminal's
	 * signals must not end the zygote. */
	setsid ();
	load_nss_modules ();
	premap_file_mappings ();
	/* nsfsd counts on the zygote only once it has said so: one that
	 * cannot set itself up makes nsfsd execute supervisors instead. */
	if (ns_proto_sendv (sock, "ready", NULL) < 0)
		return 1;
	for (;;) {
		g_auto (GStrv) req = NULL;
		char pidtext[16];
		NsError err;
		int fd, r;
		pid_t pid;

		r = ns_proto_recv_fd (sock, &req, &fd);
		/* End of stream (nsfsd is gone) or a socket that failed. */
		if ((r == 0 && !req) || (r < 0 && r != -EBADMSG && r != -EMSGSIZE))
			return 1;
		if (!req || g_strv_length (req) != 2 || strcmp (req[0], "spawn") != 0 || fd < 0 ||
		    !g_path_is_absolute (req[1])) {
			ns_close_fdp (&fd);
			ns_error (&err, EINVAL, "zygote: expected `spawn DIR` and a socket");
			sup_reply_err (sock, &err);
			continue;
		}
		sup_private_mounts_refresh (s);
		pid = clone_as_nsfsd_child ();
		if (pid == 0) {
			close (sock);
			*dir = g_strdup (req[1]);
			*first_client = fd;
			return 0;
		}
		close (fd);
		if (pid < 0) {
			ns_error (&err, errno, "zygote: clone3: %s", strerror (errno));
			sup_reply_err (sock, &err);
			continue;
		}
		snprintf (pidtext, sizeof pidtext, "%d", pid);
		ns_proto_sendv (sock, "ok", pidtext, NULL);
	}
}
