#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

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

int
ns_proto_send (int fd, char *const *fields)
{
	g_autofree char *buf = g_malloc (NSFS_PROTO_MAX);
	ssize_t len = ns_proto_encode (fields, buf, NSFS_PROTO_MAX);
	ssize_t w;

	if (len < 0)
		return (int) len;
	do
		w = send (fd, buf, (size_t) len, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return 0;
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

int
ns_proto_recv (int fd, char ***out)
{
	g_autofree char *buf = g_malloc (NSFS_PROTO_MAX);
	ssize_t n;

	*out = NULL;
	do
		n = recv (fd, buf, NSFS_PROTO_MAX, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	/* MSG_TRUNC reports the packet's real length: never act on a cut one. */
	if (n > NSFS_PROTO_MAX)
		return -EMSGSIZE;
	*out = ns_proto_decode (buf, (size_t) n);
	if (!*out)
		return -EBADMSG;
	return 0;
}
