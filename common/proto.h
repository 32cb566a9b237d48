/* Messages between nsfsd and a sandbox's supervisor.
 *
 * Transport: a SOCK_SEQPACKET unix socket, one message per packet.  A
 * message is a list of fields, each ended by a NUL byte; the first field
 * is the verb.  See docs/design.md for the verbs. */
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/* Bumped whenever a verb or field changes meaning; both sides say it in
 * `hello` and refuse a peer of another version. */
#define NSFS_PROTO_VERSION 2
/* nsfsd's requests (all but `hello`) start with a tag field, '#' and a
 * number, and their replies (`ok` or `err`) with the same field: a reply
 * that arrives after its request gave up waiting (a supervisor stalled
 * past nsfsd's timeout) is then told apart from the next request's.
 * Events (`exit`, `state`) carry none. */
#define NSFS_PROTO_TAG '#'
#define NSFS_PROTO_TAG_MAX 24
/* `stop`: SIGTERM, and SIGKILL to what is left this many seconds later;
 * nsfsd waits that much longer for its answer than for others'. */
#define NSFS_STOP_GRACE_SECONDS 5
/* Room for the largest write (64 KiB) and its verb and fields. */
#define NSFS_PROTO_MAX (128 * 1024)

/* Encode NULL-terminated FIELDS into BUF; the length, or -E2BIG. */
ssize_t ns_proto_encode (char *const *fields, char *buf, size_t size);

/* Decode LEN bytes into a NULL-terminated vector (g_strfreev); NULL when
 * the message is empty or not NUL-terminated. */
char **ns_proto_decode (const char *buf, size_t len);

/* Send FIELDS as one packet on FD, retrying on EINTR: 0 or -errno. */
int ns_proto_send (int fd, char *const *fields);

/* Send FIELDS after TAG, a field of its own (none if TAG is NULL or
 * empty): see NSFS_PROTO_TAG. */
int ns_proto_send_tagged (int fd, const char *tag, char *const *fields);

/* Send with a variable argument list ending in NULL. */
int ns_proto_sendv (int fd, const char *verb, ...) __attribute__ ((sentinel));

/* VERB and the arguments of AP up to NULL as a NULL-terminated vector of
 * borrowed strings (free the array with g_free, not the strings). */
char **ns_proto_fields_va (const char *verb, va_list ap);

/* Receive one packet.  *OUT is NULL at end of stream (returns 0). */
int ns_proto_recv (int fd, char ***out);

/* The same, with one descriptor passed along (SCM_RIGHTS, FD -1 for
 * none).  On receipt *FD is the descriptor (close-on-exec) or -1; a
 * packet with more than one is refused (-EBADMSG, all closed). */
int ns_proto_send_fd (int sock, char *const *fields, int fd);
int ns_proto_recv_fd (int sock, char ***out, int *fd);
