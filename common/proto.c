#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

ssize_t
ns_proto_encode (char *const *fields, char *buf, size_t size)
{
	size_t off = 0;

	for (size_t i = 0; fields[i]; i++) {
		size_t n = strlen (fields[i]) + 1;
		if (n > size - off)
			return -E2BIG;
		memcpy (buf + off, fields[i], n);
		off += n;
	}
	return (ssize_t) off;
}

char **
ns_proto_decode (const char *buf, size_t len)
{
	GPtrArray *v;
	size_t off = 0;

	if (len == 0 || buf[len - 1] != '\0')
		return NULL;
	v = g_ptr_array_new ();
	while (off < len) {
		size_t n = strlen (buf + off);
		g_ptr_array_add (v, g_strndup (buf + off, n));
		off += n + 1;
	}
	g_ptr_array_add (v, NULL);
	return (char **) g_ptr_array_free (v, FALSE);
}

/* The bytes FIELDS take encoded, capped at the most a message may be
 * (ns_proto_encode then says E2BIG). */
static size_t
encoded_size (char *const *fields)
{
	size_t size = 0;

	for (size_t i = 0; fields[i] && size <= NSFS_PROTO_MAX; i++)
		size += strlen (fields[i]) + 1;
	return size < NSFS_PROTO_MAX ? size : NSFS_PROTO_MAX;
}

int
ns_proto_send_fd (int sock, char *const *fields, int fd)
{
	size_t size = encoded_size (fields);
	g_autofree char *buf = g_malloc (size);
	ssize_t len;
	union {
		char space[CMSG_SPACE (sizeof (int))];
		struct cmsghdr align;
	} control = { 0 };
	struct iovec iov = { 0 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t w;

	/* Sized to the message: a buffer of the largest one would be a fresh
	 * page or two to fault in for each (see ns_proto_recv_fd). */
	if ((len = ns_proto_encode (fields, buf, size)) < 0)
		return (int) len;
	iov.iov_base = buf;
	iov.iov_len = (size_t) len;
	if (fd >= 0) {
		struct cmsghdr *c;
		msg.msg_control = control.space;
		msg.msg_controllen = sizeof control.space;
		c = CMSG_FIRSTHDR (&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN (sizeof (int));
		memcpy (CMSG_DATA (c), &fd, sizeof fd);
	}
	do
		w = sendmsg (sock, &msg, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return 0;
}

int
ns_proto_send (int fd, char *const *fields)
{
	return ns_proto_send_fd (fd, fields, -1);
}

int
ns_proto_send_tagged (int fd, const char *tag, char *const *fields)
{
	g_autofree char **tagged = NULL;
	guint n;

	if (!tag || !tag[0])
		return ns_proto_send (fd, fields);
	n = g_strv_length ((char **) fields);
	tagged = g_new (char *, n + 2);
	tagged[0] = (char *) tag;
	memcpy (tagged + 1, fields, (n + 1) * sizeof *fields);
	return ns_proto_send (fd, tagged);
}

char **
ns_proto_fields_va (const char *verb, va_list ap)
{
	GPtrArray *v = g_ptr_array_new ();
	const char *f;

	g_ptr_array_add (v, (gpointer) verb);
	while ((f = va_arg (ap, const char *)))
		g_ptr_array_add (v, (gpointer) f);
	g_ptr_array_add (v, NULL);
	return (char **) g_ptr_array_free (v, FALSE);
}

int
ns_proto_sendv (int fd, const char *verb, ...)
{
	g_autofree char **fields = NULL;
	va_list ap;

	va_start (ap, verb);
	fields = ns_proto_fields_va (verb, ap);
	va_end (ap);
	return ns_proto_send (fd, fields);
}

static void
drop_fd (int *fd)
{
	if (fd && *fd >= 0) {
		close (*fd);
		*fd = -1;
	}
}

/* Take the descriptors of MSG's SCM_RIGHTS: the first into *FD if it is
 * the only one, every other closed; the count. */
static size_t
take_fds (struct msghdr *msg, int *fd)
{
	size_t received = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c; c = CMSG_NXTHDR (msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t off = 0; CMSG_LEN (off + sizeof (int)) <= c->cmsg_len; off += sizeof (int)) {
			int got;
			memcpy (&got, CMSG_DATA (c) + off, sizeof got);
			if (received++ == 0 && fd)
				*fd = got;
			else
				close (got);
		}
	}
	if (received > 1)
		drop_fd (fd);
	return received;
}

int
ns_proto_recv_fd (int sock, char ***out, int *fd)
{
	g_autofree char *buf = NULL;
	union {
		char space[CMSG_SPACE (4 * sizeof (int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { 0 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.space,
		.msg_controllen = sizeof control.space,
	};
	ssize_t n;

	*out = NULL;
	if (fd)
		*fd = -1;
	/* A packet's length first, then a buffer of that size: one of the
	 * largest size each time costs a copied supervisor a fault or two
	 * per message, and messages are tens of bytes.  A packet that a
	 * concurrent reader put in its place is caught as cut below. */
	do
		n = recv (sock, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	iov.iov_len = n > 0 && n <= NSFS_PROTO_MAX ? (size_t) n : 1;
	iov.iov_base = buf = g_malloc (iov.iov_len);
	do
		n = recvmsg (sock, &msg, MSG_TRUNC | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Descriptors sent to a plain receiver are closed, as recv(2)
	 * would have dropped them. */
	if (take_fds (&msg, fd) > 1 && fd)
		return -EBADMSG;
	if (fd && (msg.msg_flags & MSG_CTRUNC)) {
		drop_fd (fd);
		return -EBADMSG;
	}
	if (n == 0)
		return 0;
	/* MSG_TRUNC reports the packet's real length: never act on a cut one. */
	if ((size_t) n > iov.iov_len) {
		drop_fd (fd);
		return -EMSGSIZE;
	}
	*out = ns_proto_decode (buf, (size_t) n);
	if (!*out) {
		drop_fd (fd);
		return -EBADMSG;
	}
	return 0;
}

int
ns_proto_recv (int fd, char ***out)
{
	return ns_proto_recv_fd (fd, out, NULL);
}
