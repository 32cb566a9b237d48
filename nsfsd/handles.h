/* Open files: per-open state and the page-cache policy of each open. */
#pragma once

#include <fuse_lowlevel.h>

#include "files.h"

void handles_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
FileHandle *file_handle_ref (FileHandle *fh);
void file_handle_unref (FileHandle *fh);
/* The kernel's release of an open. */
void handles_release (FileHandle *fh);
/* Free the handles of files still open when the session ended. */
void ops_free_handles (void);
