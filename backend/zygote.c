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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "proto.h"

/* One request: `spawn DIR` with the new supervisor's first client
 * socket attached.  Returns the message's fields (NULL at end of stream
 * or on a malformed request) and the descriptor in *FD, -1 unless exactly
 * one came (any others are closed). */
static char **
receive_request (int sock, int *fd, bool *eof)
{
	g_autofree char *buf = g_malloc (NSFS_PROTO_MAX);
	union {
		char space[CMSG_SPACE (4 * sizeof (int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = NSFS_PROTO_MAX };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.space,
		.msg_controllen = sizeof control.space,
	};
	size_t received = 0;
	ssize_t n;

	*fd = -1;
	*eof = false;
	do
		n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		*eof = true;
		return NULL;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t off = 0; CMSG_LEN (off + sizeof (int)) <= c->cmsg_len; off += sizeof (int)) {
			int got;
			memcpy (&got, CMSG_DATA (c) + off, sizeof got);
			if (received++ == 0)
				*fd = got;
			else
				close (got);
		}
	}
	if (received != 1 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		ns_close_fdp (fd);
		*fd = -1;
		return NULL;
	}
	return ns_proto_decode (buf, (size_t) n);
}

/* Say which sandbox this copy serves where ps(1) and the tests look: in
 * the argument area nsfsd reserved when it started the zygote (prctl's
 * PR_SET_MM would need CAP_SYS_RESOURCE). */
static void
retitle (char *area, size_t len, const char *dir)
{
	static const char flag[] = "--dir";
	size_t dlen = strlen (dir);

	if (!area || sizeof flag + dlen + 1 > len)
		return;
	memset (area, 0, len);
	memcpy (area, flag, sizeof flag);
	memcpy (area + sizeof flag, dir, dlen);
}

static pid_t
clone_as_nsfsd_child (void)
{
	struct clone_args args = { .flags = CLONE_PARENT };
	return (pid_t) syscall (SYS_clone3, &args, sizeof args);
}

int
sup_zygote_serve (Supervisor *s, int sock, char *title_area, size_t title_len, char **dir, int *first_client)
{
	/* Out of nsfsd's session, like every supervisor: its terminal's
	 * signals must not end the zygote. */
	setsid ();
	/* nsfsd counts on the zygote only once it has said so: one that
	 * cannot set itself up makes nsfsd execute supervisors instead. */
	if (ns_proto_sendv (sock, "ready", NULL) < 0)
		return 1;
	for (;;) {
		g_auto (GStrv) req = NULL;
		char pidtext[16];
		bool eof;
		int fd;
		pid_t pid;

		req = receive_request (sock, &fd, &eof);
		if (eof)
			return 1;
		if (!req || g_strv_length (req) != 2 || strcmp (req[0], "spawn") != 0 || fd < 0 ||
		    !g_path_is_absolute (req[1])) {
			if (fd >= 0)
				close (fd);
			ns_proto_sendv (sock, "err", "22", "zygote: expected `spawn DIR` and a socket", NULL);
			continue;
		}
		sup_private_mounts_refresh (s);
		pid = clone_as_nsfsd_child ();
		if (pid == 0) {
			close (sock);
			retitle (title_area, title_len, req[1]);
			*dir = g_strdup (req[1]);
			*first_client = fd;
			return 0;
		}
		close (fd);
		if (pid < 0) {
			char code[16];
			int e = errno;
			snprintf (code, sizeof code, "%d", e);
			ns_proto_sendv (sock, "err", code, strerror (e), NULL);
			continue;
		}
		snprintf (pidtext, sizeof pidtext, "%d", pid);
		ns_proto_sendv (sock, "ok", pidtext, NULL);
	}
}
