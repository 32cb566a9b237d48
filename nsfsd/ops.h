/* The FUSE low-level operations of nsfsd. */
#pragma once

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops nsfs_ops;

void ops_set_session (struct fuse_session *se);
/* Answer every blocked `wait` read with EINTR (before unmounting). */
void ops_cancel_waiters (void);
/* Free the handles of files still open when the session ended. */
void ops_free_handles (void);
