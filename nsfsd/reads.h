/* Reads of generated files. */
#pragma once

#include <fuse_lowlevel.h>

#include "files.h"

/* Answer with LEN bytes of DATA as seen at OFF, at most SIZE. */
void reply_slice (fuse_req_t req, const char *data, size_t len, size_t size, off_t off);
void read_snapshot (fuse_req_t req, FileHandle *fh, size_t size, off_t off);
void read_job_id (fuse_req_t req, FileHandle *fh, size_t size);
