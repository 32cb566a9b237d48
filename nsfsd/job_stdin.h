/* jobs/<id>/stdin of a job started with `stdin pipe` (INTERFACE §10):
 * each open is a write end of the job's stdin FIFO in the state dir (the
 * job sees end of file once every open is closed, as with a named pipe);
 * a write that does not fit in the pipe waits for room without holding a
 * thread (a deferred reply, interruptible); a write after the job ended
 * is EPIPE. */
#pragma once

#include <fuse_lowlevel.h>

#include "files.h"

typedef struct JobStdin JobStdin;

/* The open of FH: 0, or an errno for the open to fail with. */
int job_stdin_open (FileHandle *fh);
void job_stdin_write (fuse_req_t req, FileHandle *fh, const char *buf, size_t size);
void job_stdin_release (FileHandle *fh);
