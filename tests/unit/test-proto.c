/* Unit tests for common/proto.c: the nsfsd <-> supervisor messages. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "proto.h"
#include "test-util.h"

static void
assert_roundtrip (const char *const *fields, const char *wire, size_t wire_len)
{
	char buf[256];
	g_auto (GStrv) back = NULL;
	ssize_t n;

	memset (buf, 'Z', sizeof buf);
	n = ns_proto_encode ((char *const *) fields, buf, sizeof buf);
	g_assert_cmpint (n, ==, (ssize_t) wire_len);
	g_assert_cmpmem (buf, (size_t) n, wire, wire_len);
	g_assert_cmpint (buf[n], ==, 'Z'); /* nothing written past the end */
	back = ns_proto_decode (buf, (size_t) n);
	g_assert_nonnull (back);
	g_assert_cmpstrv (back, fields);
}

static void
test_encode_decode (void)
{
	assert_roundtrip ((const char *const[]) { "hello", "1", NULL }, "hello\0" "1", 8);
	assert_roundtrip ((const char *const[]) { "ok", NULL }, "ok", 3);
	assert_roundtrip ((const char *const[]) { "", NULL }, "", 1);
	assert_roundtrip ((const char *const[]) { "err", "22", "uid_map: line 2: bad", NULL },
	                  "err\0" "22\0" "uid_map: line 2: bad", 28);
	assert_roundtrip ((const char *const[]) { "a", "", "", "b", NULL }, "a\0\0\0b", 6);
	assert_roundtrip ((const char *const[]) { "exec", "sh", "-c", "echo a\nb", NULL }, "exec\0sh\0-c\0echo a\nb", 20);
	assert_roundtrip ((const char *const[]) { "\xff\x01", NULL }, "\xff\x01", 3);
}

static void
test_encode_empty_vector (void)
{
	char buf[4] = "ZZZ";
	g_assert_cmpint (ns_proto_encode ((char *[]) { NULL }, buf, sizeof buf), ==, 0);
	g_assert_cmpint (ns_proto_encode ((char *[]) { NULL }, NULL, 0), ==, 0);
	g_assert_cmpstr (buf, ==, "ZZZ");
}

static void
test_encode_size_limits (void)
{
	char *const f[] = { (char *) "abc", (char *) "de", NULL };
	char buf[7];

	/* "abc\0de\0" is exactly 7 bytes. */
	g_assert_cmpint (ns_proto_encode (f, buf, 7), ==, 7);
	g_assert_cmpmem (buf, 7, "abc\0de", 7);
	g_assert_cmpint (ns_proto_encode (f, buf, 6), ==, -E2BIG);
	g_assert_cmpint (ns_proto_encode (f, buf, 4), ==, -E2BIG);
	g_assert_cmpint (ns_proto_encode (f, buf, 3), ==, -E2BIG);
	g_assert_cmpint (ns_proto_encode (f, buf, 0), ==, -E2BIG);
	g_assert_cmpint (ns_proto_encode ((char *[]) { (char *) "", NULL }, buf, 0), ==, -E2BIG);
	g_assert_cmpint (ns_proto_encode ((char *[]) { (char *) "", NULL }, buf, 1), ==, 1);
}

static void
test_encode_max (void)
{
	g_autofree char *big = g_strnfill (NSFS_PROTO_MAX - 1, 'x');
	g_autofree char *buf = g_malloc (NSFS_PROTO_MAX);
	char *const f[] = { big, NULL };
	char *const g[] = { big, (char *) "", NULL };

	g_assert_cmpint (ns_proto_encode (f, buf, NSFS_PROTO_MAX), ==, NSFS_PROTO_MAX);
	g_assert_cmpint (ns_proto_encode (g, buf, NSFS_PROTO_MAX), ==, -E2BIG);
}

static void
test_decode_malformed (void)
{
	g_assert_null (ns_proto_decode ("", 0));
	g_assert_null (ns_proto_decode (NULL, 0));
	g_assert_null (ns_proto_decode ("a", 1));
	g_assert_null (ns_proto_decode ("ok\0x", 4));
	g_assert_null (ns_proto_decode ("ok\0\0x", 5));
	g_assert_null (ns_proto_decode ("hello", 5));
}

static void
test_decode_shapes (void)
{
	g_auto (GStrv) one = ns_proto_decode ("", 1);
	g_auto (GStrv) two_empty = ns_proto_decode ("\0", 2);
	g_auto (GStrv) mid = ns_proto_decode ("a\0\0b", 5);
	g_auto (GStrv) prefix = ns_proto_decode ("ok\0extra", 3);

	g_assert_cmpstrv (one, ((const char *const[]) { "", NULL }));
	g_assert_cmpstrv (two_empty, ((const char *const[]) { "", "", NULL }));
	g_assert_cmpstrv (mid, ((const char *const[]) { "a", "", "b", NULL }));
	g_assert_cmpstrv (prefix, ((const char *const[]) { "ok", NULL }));
}

static void
test_decode_exact_buffer (void)
{
	/* A heap copy of exactly LEN bytes: the decoder must not read past it. */
	g_autofree char *buf = g_memdup2 ("state\0running\0", 14);
	g_auto (GStrv) v = ns_proto_decode (buf, 14);

	g_assert_cmpstrv (v, ((const char *const[]) { "state", "running", NULL }));
}

static void
test_roundtrip_random (void)
{
	g_autofree char *buf = g_malloc (NSFS_PROTO_MAX);

	for (int iter = 0; iter < 500; iter++) {
		int nfields = g_test_rand_int_range (1, 20);
		g_autoptr (GPtrArray) f = g_ptr_array_new_with_free_func (g_free);
		g_auto (GStrv) back = NULL;
		ssize_t n;

		for (int i = 0; i < nfields; i++) {
			int len = g_test_rand_int_range (0, 200);
			char *s = g_malloc (len + 1);
			for (int j = 0; j < len; j++)
				s[j] = (char) g_test_rand_int_range (1, 256);
			s[len] = '\0';
			g_ptr_array_add (f, s);
		}
		g_ptr_array_add (f, NULL);
		n = ns_proto_encode ((char *const *) f->pdata, buf, NSFS_PROTO_MAX);
		g_assert_cmpint (n, >, 0);
		back = ns_proto_decode (buf, (size_t) n);
		g_assert_cmpstrv (back, (const char *const *) f->pdata);
	}
}

/* send / recv over a SOCK_SEQPACKET pair, as nsfsd and the supervisor do. */

static void
socket_pair (int sv[2])
{
	g_assert_no_errno (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
}

static void
test_send_recv (void)
{
	int sv[2];
	char **msg = NULL;

	socket_pair (sv);
	g_assert_cmpint (ns_proto_sendv (sv[0], "hello", "1", NULL), ==, 0);
	g_assert_cmpint (ns_proto_sendv (sv[0], "ok", NULL), ==, 0);
	g_assert_cmpint (ns_proto_send (sv[0], (char *[]) { (char *) "exec", (char *) "", (char *) "x y", NULL }), ==, 0);

	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "hello", "1", NULL }));
	g_strfreev (msg);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "ok", NULL }));
	g_strfreev (msg);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "exec", "", "x y", NULL }));
	g_strfreev (msg);

	/* A tag is a field of its own, first; none when NULL or empty. */
	g_assert_cmpint (ns_proto_send_tagged (sv[0], "#7", (char *[]) { (char *) "kill", (char *) "9", NULL }), ==, 0);
	g_assert_cmpint (ns_proto_send_tagged (sv[0], "", (char *[]) { (char *) "ok", NULL }), ==, 0);
	g_assert_cmpint (ns_proto_send_tagged (sv[0], NULL, (char *[]) { (char *) "ok", (char *) "1", NULL }), ==, 0);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "#7", "kill", "9", NULL }));
	g_strfreev (msg);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "ok", NULL }));
	g_strfreev (msg);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "ok", "1", NULL }));
	g_strfreev (msg);

	/* End of stream: 0 and NULL. */
	close (sv[0]);
	msg = (char **) &msg;
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_null (msg);
	close (sv[1]);
}

static void
test_send_max_and_too_big (void)
{
	g_autofree char *fits = g_strnfill (NSFS_PROTO_MAX - 4, 'f'); /* "ok\0" + fits + "\0" = 65536 */
	g_autofree char *too_big = g_strnfill (NSFS_PROTO_MAX - 3, 'b');
	char **msg = NULL;
	int sv[2];

	socket_pair (sv);
	g_assert_cmpint (ns_proto_sendv (sv[0], "ok", too_big, NULL), ==, -E2BIG);
	g_assert_cmpint (ns_proto_sendv (sv[0], "ok", fits, NULL), ==, 0);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpuint (g_strv_length (msg), ==, 2);
	g_assert_cmpstr (msg[1], ==, fits);
	g_strfreev (msg);
	close (sv[0]);
	close (sv[1]);
}

/* A packet over the limit is refused whole and the stream stays usable;
 * the receiver sizes its buffer to each packet. */
static void
test_recv_too_big (void)
{
	g_autofree char *huge = g_strnfill (NSFS_PROTO_MAX + 10, 'h');
	char **msg = NULL;
	int sv[2], sndbuf = 4 * NSFS_PROTO_MAX;

	socket_pair (sv);
	g_assert_no_errno (setsockopt (sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf));
	huge[NSFS_PROTO_MAX + 9] = '\0';
	g_assert_cmpint (send (sv[0], huge, NSFS_PROTO_MAX + 10, 0), ==, NSFS_PROTO_MAX + 10);
	g_assert_cmpint (ns_proto_sendv (sv[0], "a", NULL), ==, 0);
	g_assert_cmpint (ns_proto_sendv (sv[0], "longer", "than", "the", "first", NULL), ==, 0);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, -EMSGSIZE);
	g_assert_null (msg);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "a", NULL }));
	g_strfreev (msg);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "longer", "than", "the", "first", NULL }));
	g_strfreev (msg);
	close (sv[0]);
	close (sv[1]);
}

static void
test_recv_malformed (void)
{
	char **msg = NULL;
	int sv[2];

	socket_pair (sv);
	g_assert_cmpint (send (sv[0], "no-terminator", 13, 0), ==, 13);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, -EBADMSG);
	g_assert_null (msg);
	/* The stream stays usable after a bad packet. */
	g_assert_cmpint (ns_proto_sendv (sv[0], "ok", NULL), ==, 0);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "ok", NULL }));
	g_strfreev (msg);
	close (sv[0]);
	close (sv[1]);
}

/* Two descriptors in one packet, sent by hand. */
static void
send_two_fds (int sock, int a, int b)
{
	int fds[2] = { a, b };
	union {
		char space[CMSG_SPACE (sizeof fds)];
		struct cmsghdr align;
	} control = { 0 };
	struct iovec iov = { .iov_base = (char *) "spawn\0/x", .iov_len = 9 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.space,
		              .msg_controllen = sizeof control.space };
	struct cmsghdr *c = CMSG_FIRSTHDR (&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN (sizeof fds);
	memcpy (CMSG_DATA (c), fds, sizeof fds);
	g_assert_cmpint (sendmsg (sock, &msg, 0), ==, 9);
}

static void
test_send_recv_fd (void)
{
	char **msg = NULL;
	int sv[2], pipefd[2], fd = 123;
	char byte;

	socket_pair (sv);
	/* Non-blocking, so a descriptor leaked below shows as EAGAIN, not a hang. */
	g_assert_no_errno (pipe2 (pipefd, O_NONBLOCK));

	/* One descriptor arrives, close-on-exec, and works. */
	g_assert_cmpint (ns_proto_send_fd (sv[0], (char *[]) { (char *) "spawn", (char *) "/x", NULL }, pipefd[1]), ==, 0);
	g_assert_cmpint (ns_proto_recv_fd (sv[1], &msg, &fd), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "spawn", "/x", NULL }));
	g_strfreev (msg);
	g_assert_cmpint (fd, >=, 0);
	g_assert_cmpint (fd, !=, pipefd[1]);
	g_assert_cmpint (fcntl (fd, F_GETFD), ==, FD_CLOEXEC);
	g_assert_cmpint (write (fd, "z", 1), ==, 1);
	g_assert_cmpint (read (pipefd[0], &byte, 1), ==, 1);
	close (fd);

	/* None sent: -1. */
	fd = 123;
	g_assert_cmpint (ns_proto_sendv (sv[0], "ok", NULL), ==, 0);
	g_assert_cmpint (ns_proto_recv_fd (sv[1], &msg, &fd), ==, 0);
	g_assert_cmpint (fd, ==, -1);
	g_strfreev (msg);

	/* A plain receiver drops what it was sent and reads the message. */
	g_assert_cmpint (ns_proto_send_fd (sv[0], (char *[]) { (char *) "ok", NULL }, pipefd[1]), ==, 0);
	g_assert_cmpint (ns_proto_recv (sv[1], &msg), ==, 0);
	g_assert_cmpstrv (msg, ((const char *const[]) { "ok", NULL }));
	g_strfreev (msg);

	/* Two at once are refused, and neither is left open. */
	send_two_fds (sv[0], pipefd[0], pipefd[1]);
	fd = 123;
	g_assert_cmpint (ns_proto_recv_fd (sv[1], &msg, &fd), ==, -EBADMSG);
	g_assert_null (msg);
	g_assert_cmpint (fd, ==, -1);
	/* Only our own pipe ends hold the pipe now: closing the write end
	 * gives the read end end-of-file. */
	close (pipefd[1]);
	g_assert_cmpint (read (pipefd[0], &byte, 1), ==, 0);
	close (pipefd[0]);
	close (sv[0]);
	close (sv[1]);
}

static void
test_errors (void)
{
	char **msg = (char **) &msg;
	int sv[2];

	g_assert_cmpint (ns_proto_recv (-1, &msg), ==, -EBADF);
	g_assert_null (msg);
	g_assert_cmpint (ns_proto_sendv (-1, "ok", NULL), ==, -EBADF);

	/* A peer that went away: EPIPE, and no SIGPIPE kills us. */
	socket_pair (sv);
	close (sv[1]);
	g_assert_cmpint (ns_proto_sendv (sv[0], "ok", NULL), ==, -EPIPE);
	close (sv[0]);
}

/* A packet longer than NSFS_PROTO_MAX must not be taken for a shorter
 * message: recv() truncates a SOCK_SEQPACKET datagram silently, so the
 * receiver has to ask for MSG_TRUNC to notice. */
static void
test_recv_oversized (void)
{
	size_t len = NSFS_PROTO_MAX + 100;
	g_autofree char *pkt = g_malloc (len);
	char **msg = NULL;
	int sv[2], sndbuf = 4 * NSFS_PROTO_MAX;
	int r;

	memset (pkt, 'x', len);
	memcpy (pkt, "ok", 3);
	pkt[NSFS_PROTO_MAX - 1] = '\0'; /* where the truncation cuts */
	pkt[len - 1] = '\0';
	socket_pair (sv);
	g_assert_no_errno (setsockopt (sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf));
	g_assert_cmpint (send (sv[0], pkt, len, 0), ==, (ssize_t) len);
	r = ns_proto_recv (sv[1], &msg);
	if (r >= 0 || msg)
		g_test_fail_printf ("a %zu-byte packet was received as a %u-field message (returned %d), want an error",
		                    len, msg ? g_strv_length (msg) : 0, r);
	g_strfreev (msg);
	close (sv[0]);
	close (sv[1]);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/proto/encode-decode", test_encode_decode);
	g_test_add_func ("/proto/encode/empty-vector", test_encode_empty_vector);
	g_test_add_func ("/proto/encode/size-limits", test_encode_size_limits);
	g_test_add_func ("/proto/encode/max", test_encode_max);
	g_test_add_func ("/proto/decode/malformed", test_decode_malformed);
	g_test_add_func ("/proto/decode/shapes", test_decode_shapes);
	g_test_add_func ("/proto/decode/exact-buffer", test_decode_exact_buffer);
	g_test_add_func ("/proto/roundtrip-random", test_roundtrip_random);
	g_test_add_func ("/proto/socket/send-recv", test_send_recv);
	g_test_add_func ("/proto/socket/max-and-too-big", test_send_max_and_too_big);
	g_test_add_func ("/proto/socket/malformed-packet", test_recv_malformed);
	g_test_add_func ("/proto/socket/errors", test_errors);
	g_test_add_func ("/proto/socket/descriptor", test_send_recv_fd);
	/* Last: fails until ns_proto_recv notices truncated packets. */
	g_test_add_func ("/proto/socket/oversized-packet", test_recv_oversized);
	g_test_add_func ("/proto/socket/too-big-then-more", test_recv_too_big);
	return g_test_run ();
}
