/* Writes: every request that changes a sandbox (a write to one of its
 * files, the empty value stored by O_TRUNC or truncate(2), rmdir) is a
 * WriteOp.  A sandbox runs its ops one at a time in arrival order; an op
 * that must hear from the supervisor sends its request and gives its
 * thread back, and the answer resumes it from the event thread.  The
 * kernel gets its reply when the op ends (a deferred reply), and an
 * interrupt (Ctrl-C) answers EINTR at once. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "files.h"

/* A step's outcome when it is waiting for its supervisor. */
#define OP_PENDING 1

/* Resume OP with a request's outcome (R 0 and REPLY the `ok` answer's
 * fields, or R -errno with op->err filled): 0 when the write is done,
 * -errno when it failed (op->err says why), OP_PENDING when it sent
 * another request. */
typedef int (*OpResume) (WriteOp *op, int r, char **reply);

struct WriteOp {
	Sandbox *sb;           /* a reference */
	FileHandle *fh;        /* the open it came through (a reference), or NULL */
	const NodeSpec *spec;
	char *buf;             /* the value written (a copy) */
	size_t len;
	NsError err;
	/* A store handler's own state across requests, freed with the op. */
	gpointer state;
	GDestroyNotify state_free;
	OpResume resume;
};

/* Send FIELDS to the op's supervisor; RESUME gets the answer.  Returns
 * OP_PENDING, or -errno (op->err filled) when nothing was sent. */
int op_call (WriteOp *op, char *const *fields, OpResume resume);
/* The same, unless no supervisor is connected: then 0, nothing sent. */
int op_call_if_connected (WriteOp *op, char *const *fields, OpResume resume);

/* The FUSE requests that become ops. */
void writes_write (fuse_req_t req, FileHandle *fh, const char *buf, size_t size);
/* O_TRUNC's close (flush) and truncate(2) to 0 of a truncate_empties row. */
void writes_flush (fuse_req_t req, FileHandle *fh);
void writes_truncate (fuse_req_t req, fuse_ino_t ino, Sandbox *sb, const NodeSpec *spec);
void writes_rmdir (fuse_req_t req, Sandbox *sb);

/* What one uid may have waiting at once (0: no limit; root is exempt). */
void writes_set_limit (unsigned requests_per_uid);
