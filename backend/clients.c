/* Connections: accept on supervisor.sock (peers of our own uid only),
 * read requests from each client through the loop, send replies and
 * events, and cut off a client that does not read. */
#include "clients.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "loop.h"
#include "proto.h"
#include "requests.h"
#include "supervisor.h"

struct SupClient {
	int fd;                 /* -1 once it is gone */
	guint watch;
	/* Whether it said hello: only those hear events.  An event sent
	 * before would be read as the answer to the hello; what it says is
	 * in that answer and in the records anyway. */
	bool greeted;
	int refs;
};

static GPtrArray *clients;      /* SupClient*, connected */
static int listen_fd = -1;
static guint listen_watch;
/* Whether any request ever reached us: a supervisor that got none and
 * whose first client is gone was abandoned while being started (a zygote
 * that died with the request in hand makes nsfsd fail that mkdir), and
 * must not linger as a process nobody knows of. */
static bool spoken_to;

SupClient *
sup_client_ref (SupClient *c)
{
	c->refs++;
	return c;
}

void
sup_client_unref (SupClient *c)
{
	if (c && --c->refs == 0)
		g_free (c);
}

static void
client_drop (SupClient *c)
{
	if (c->fd < 0)
		return;
	sup_loop_remove (&c->watch);
	ns_close_fdp (&c->fd);
	g_ptr_array_remove (clients, c);
	if (!spoken_to && clients->len == 0) {
		fprintf (stderr, "nsfs-supervisor: abandoned before any request; exiting\n");
		sup_loop_quit ();
	}
	sup_client_unref (c);
}

int
sup_client_send (SupClient *c, const char *tag, char *const *fields)
{
	int r;

	if (c->fd < 0)
		return -ENOTCONN;
	r = ns_proto_send_tagged (c->fd, tag, fields);
	if (r < 0) {
		/* EAGAIN: the send timeout passed (SUP_CLIENT_SEND_TIMEOUT_MS). */
		fprintf (stderr, "nsfs-supervisor: a client that cannot take a message (%s) is cut off\n", strerror (-r));
		client_drop (c);
	}
	return r;
}

void
sup_client_greet (SupClient *c)
{
	c->greeted = true;
}

void
sup_broadcast (const char *verb, ...)
{
	g_autofree char **fields = NULL;
	va_list ap;

	va_start (ap, verb);
	fields = ns_proto_fields_va (verb, ap);
	va_end (ap);
	/* Backwards: a client cut off on the way leaves the array. */
	for (guint i = clients->len; i-- > 0;) {
		SupClient *c = clients->pdata[i];
		if (c->greeted)
			sup_client_send (c, NULL, fields);
	}
}

int
sup_reply_err (int fd, const NsError *err)
{
	char code[16];
	char *const fields[] = { "err", code, (char *) err->msg, NULL };

	snprintf (code, sizeof code, "%d", err->code ? err->code : EIO);
	return ns_proto_send (fd, fields);
}

static void
on_client_readable (int fd, GIOCondition cond, gpointer data)
{
	SupClient *c = data;
	char **msg = NULL;
	int r = ns_proto_recv (fd, &msg);

	if (r == -EAGAIN)
		return;
	if (r < 0 || !msg) {
		client_drop (c);
		return;
	}
	spoken_to = true;
	sup_client_ref (c);
	sup_requests_dispatch (c, msg);
	sup_client_unref (c);
}

static void
client_add (int fd)
{
	struct timeval tv = { SUP_CLIENT_SEND_TIMEOUT_MS / 1000, (SUP_CLIENT_SEND_TIMEOUT_MS % 1000) * 1000 };
	SupClient *c;

	if (clients->len >= SUP_MAX_CLIENTS ||
	    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 || fcntl (fd, F_SETFD, FD_CLOEXEC) < 0) {
		close (fd);
		return;
	}
	c = g_new0 (SupClient, 1);
	c->fd = fd;
	c->refs = 1;
	c->watch = sup_loop_add_fd (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_readable, c);
	g_ptr_array_add (clients, c);
}

static void
on_listen_readable (int fd, GIOCondition cond, gpointer data)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	int conn = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);

	if (conn < 0)
		return;
	/* Only our own user (nsfsd runs as it) may drive the sandbox. */
	if (getsockopt (conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != geteuid ()) {
		close (conn);
		return;
	}
	client_add (conn);
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

int
sup_clients_init (int dirfd, int first_client, NsError *err)
{
	clients = g_ptr_array_new ();
	listen_fd = listen_on_dir (dirfd);
	if (listen_fd < 0)
		return ns_error (err, -listen_fd, "listen on supervisor.sock: %s", strerror (-listen_fd));
	listen_watch = sup_loop_add_fd (listen_fd, G_IO_IN, on_listen_readable, NULL);
	if (first_client >= 0)
		client_add (first_client);
	return 0;
}

void
sup_clients_shutdown (void)
{
	if (!clients)
		return;
	spoken_to = true; /* an exit already, not an abandoned start */
	while (clients->len > 0)
		client_drop (clients->pdata[clients->len - 1]);
	g_clear_pointer (&clients, g_ptr_array_unref);
	sup_loop_remove (&listen_watch);
	ns_close_fdp (&listen_fd);
}
