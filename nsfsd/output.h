/* Reads of job output. */
#pragma once

#include <stdbool.h>

#include <fuse_lowlevel.h>

#include "files.h"

/* The largest reply libfuse can splice: its pipe holds the reply and a
 * few pages more, and pipes stop at 1 MiB without CAP_SYS_RESOURCE.  The
 * mount's max_read (main.c), so that no read asks for more. */
#define OUTPUT_SPLICE_MAX (1024 * 1024 - 16 * 4096)

void output_use_splice (bool on);
void read_output (fuse_req_t req, FileHandle *fh, size_t size, off_t off);
