/* `wait`: deferred reads and poll. */
#pragma once

#include <fuse_lowlevel.h>

#include "files.h"

/* FLAGS: the file's flags at this read (O_NONBLOCK: EAGAIN, no wait). */
void read_wait (fuse_req_t req, FileHandle *fh, size_t size, off_t off, int flags);
void wait_poll (fuse_req_t req, FileHandle *fh, struct fuse_pollhandle *ph);
/* A job ended: answer its blocked readers and wake its pollers. */
void wait_job_ended (Sandbox *sb, unsigned id);
/* The poll handle an open left with its running job goes with the open. */
void wait_forget_pollhandle (FileHandle *fh);
/* Answer every blocked `wait` read with EINTR (before unmounting). */
void ops_cancel_waiters (void);
