/* Reads of job output. */
#pragma once

#include <stdbool.h>

#include <fuse_lowlevel.h>

#include "files.h"

void output_use_splice (bool on);
void read_output (fuse_req_t req, FileHandle *fh, size_t size, off_t off);
