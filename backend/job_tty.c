/* `stdin tty` (INTERFACE §10): a job on a pseudo-terminal of its own.
 * The supervisor holds the master, as conmon does: what the job prints is
 * appended to its `stdout` file whether or not anyone is attached, and
 * copied to every client attached to the job's console socket; what a
 * client sends is the job's keystrokes.  A client that does not read is
 * dropped once its buffer is full, never waited for. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "loop.h"
#include "names.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO ('T', 0x41)
#endif

/* What one client may have waiting before it is dropped. */
#define CLIENT_BUFFER_MAX (256 * 1024)

typedef struct {
	int fd;
	guint watch;
	GByteArray *out;        /* not yet sent */
	SupTty *tty;
} Client;

struct SupTty {
	int master;
	int log_fd;             /* the job's stdout file */
	guint watch;
	int listen_fd;
	guint listen_watch;
	char *socket_path;
	GPtrArray *clients;     /* Client* */
	/* jobs/<id>/stdin: a FIFO whose bytes go to the terminal, and a write
	 * end of our own so it never reads end of file. */
	int input_fd, input_keeper;
	guint input_watch;
};

int
sup_tty_open (Supervisor *s, const NsStdin *in, int *master, int *slave, NsError *err)
{
	g_autofree char *ptmx = NULL;
	struct winsize ws = { .ws_row = (unsigned short) in->rows, .ws_col = (unsigned short) in->cols };
	int unlock = 0, m, sl;

	/* The sandbox's own devpts where it has a mount namespace (rootfs.c
	 * made it); the host's otherwise. */
	if (s->cfg->ns & CLONE_NEWNS)
		ptmx = g_strdup_printf ("/proc/%d/root/dev/ptmx", (int) s->init_pid);
	else
		ptmx = g_strdup ("/dev/ptmx");
	m = open (ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return ns_error (err, errno, "exec: tty: open %s: %s", ptmx, strerror (errno));
	/* Its size before the job exists: no resize race. */
	if (ioctl (m, TIOCSPTLCK, &unlock) < 0 || ioctl (m, TIOCSWINSZ, &ws) < 0) {
		close (m);
		return ns_error (err, errno, "exec: tty: %s", strerror (errno));
	}
	sl = ioctl (m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0) {
		close (m);
		return ns_error (err, errno, "exec: tty: the terminal's peer: %s", strerror (errno));
	}
	*master = m;
	*slave = sl;
	return 0;
}

static void
client_drop (Client *c)
{
	sup_loop_remove (&c->watch);
	close (c->fd);
	g_byte_array_unref (c->out);
	g_ptr_array_remove_fast (c->tty->clients, c);
	g_free (c);
}

/* False when the client is gone. */
static bool
client_flush (Client *c)
{
	while (c->out->len) {
		ssize_t n = send (c->fd, c->out->data, c->out->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		g_byte_array_remove_range (c->out, 0, (guint) n);
	}
	return true;
}

static void
on_client (int fd, GIOCondition cond, gpointer data)
{
	Client *c = data;
	char buf[4096];
	ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

	if (n > 0) {
		/* Keystrokes: a terminal that is full drops them, as a line
		 * would. */
		if (write (c->tty->master, buf, (size_t) n) < 0 && errno != EAGAIN)
			g_message ("tty: %s", g_strerror (errno));
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* It is done sending (socat at the end of its input); it may still
	 * read what the job says, until it hangs up. */
	if (n == 0) {
		sup_loop_remove (&c->watch);
		return;
	}
	client_drop (c);
}

static void
on_accept (int fd, GIOCondition cond, gpointer data)
{
	SupTty *t = data;
	Client *c;
	int cfd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (cfd < 0)
		return;
	c = g_new0 (Client, 1);
	c->fd = cfd;
	c->tty = t;
	c->out = g_byte_array_new ();
	g_ptr_array_add (t->clients, c);
	c->watch = sup_loop_add_fd (cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, c);
}

/* What the terminal showed: into the log, and to every client. */
static void
relay (SupTty *t, const char *buf, size_t n)
{
	if (write (t->log_fd, buf, n) < 0)
		g_message ("tty: log: %s", g_strerror (errno));
	for (guint i = t->clients->len; i > 0; i--) {
		Client *c = t->clients->pdata[i - 1];
		g_byte_array_append (c->out, (const guint8 *) buf, (guint) n);
		if (!client_flush (c) || c->out->len > CLIENT_BUFFER_MAX)
			client_drop (c);
	}
}

static void
on_output (int fd, GIOCondition cond, gpointer data)
{
	SupTty *t = data;
	char buf[65536];
	ssize_t n = read (fd, buf, sizeof buf);

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EIO: every holder of the terminal is gone. */
		sup_loop_remove (&t->watch);
		return;
	}
	relay (t, buf, (size_t) n);
}

static void
on_input (int fd, GIOCondition cond, gpointer data)
{
	SupTty *t = data;
	char buf[4096];
	ssize_t n = read (fd, buf, sizeof buf);

	if (n > 0 && write (t->master, buf, (size_t) n) < 0 && errno != EAGAIN)
		g_message ("tty: input: %s", g_strerror (errno));
}

SupTty *
sup_tty_attach (Supervisor *s, unsigned id, int master, int log_fd, int input_fd, int input_keeper, NsError *err)
{
	g_autofree char *dir = ns_console_dir (s->dir);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	SupTty *t = g_new0 (SupTty, 1);

	t->master = master;
	t->log_fd = dup (log_fd);
	t->listen_fd = -1;
	t->input_fd = input_fd;
	t->input_keeper = input_keeper;
	if (input_fd >= 0) {
		fcntl (input_fd, F_SETFL, O_NONBLOCK);
		t->input_watch = sup_loop_add_fd (input_fd, G_IO_IN, on_input, t);
	}
	t->clients = g_ptr_array_new ();
	t->socket_path = ns_console_path (s->dir, s->cfg->name, id);
	fcntl (master, F_SETFL, O_NONBLOCK);
	if (strlen (t->socket_path) >= sizeof addr.sun_path) {
		ns_error (err, ENAMETOOLONG, "exec: tty: the console's path is too long: %s", t->socket_path);
		goto fail;
	}
	g_strlcpy (addr.sun_path, t->socket_path, sizeof addr.sun_path);
	if (mkdir (dir, 0711) < 0 && errno != EEXIST) {
		ns_error (err, errno, "exec: tty: %s: %s", dir, strerror (errno));
		goto fail;
	}
	unlink (t->socket_path);
	t->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* The owner's and root's alone, as the job's output is. */
	if (t->listen_fd < 0 || bind (t->listen_fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
	    chown (t->socket_path, s->cfg->owner_uid, s->cfg->owner_gid) < 0 || chmod (t->socket_path, 0600) < 0 ||
	    listen (t->listen_fd, 16) < 0) {
		ns_error (err, errno, "exec: tty: the console socket: %s", strerror (errno));
		goto fail;
	}
	t->watch = sup_loop_add_fd (master, G_IO_IN | G_IO_HUP | G_IO_ERR, on_output, t);
	t->listen_watch = sup_loop_add_fd (t->listen_fd, G_IO_IN, on_accept, t);
	return t;
fail:
	sup_tty_free (t);
	return NULL;
}

int
sup_tty_resize (SupTty *t, unsigned rows, unsigned cols, NsError *err)
{
	struct winsize ws = { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };

	/* The kernel sends the foreground process group SIGWINCH. */
	if (ioctl (t->master, TIOCSWINSZ, &ws) < 0)
		return ns_error (err, errno, "winsize: %s", strerror (errno));
	return 0;
}

void
sup_tty_free (SupTty *t)
{
	if (!t)
		return;
	/* What the job printed last may still be in the master (its end
	 * can be seen before its last output): to the log and the clients,
	 * who get what is queued for them as far as their sockets take it. */
	if (t->watch && t->master >= 0)
		for (int i = 0; i < 64; i++) {
			char buf[65536];
			ssize_t n = read (t->master, buf, sizeof buf);
			if (n <= 0)
				break;
			relay (t, buf, (size_t) n);
		}
	sup_loop_remove (&t->watch);
	sup_loop_remove (&t->listen_watch);
	sup_loop_remove (&t->input_watch);
	if (t->input_fd >= 0)
		close (t->input_fd);
	if (t->input_keeper >= 0)
		close (t->input_keeper);
	while (t->clients->len)
		client_drop (t->clients->pdata[0]);
	g_ptr_array_unref (t->clients);
	if (t->listen_fd >= 0) {
		close (t->listen_fd);
		unlink (t->socket_path);
	}
	if (t->master >= 0)
		close (t->master);
	if (t->log_fd >= 0)
		close (t->log_fd);
	g_free (t->socket_path);
	g_free (t);
}
