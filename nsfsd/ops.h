/* The FUSE low-level operations of nsfsd. */
#pragma once

#include <fuse_lowlevel.h>

extern const struct fuse_lowlevel_ops nsfs_ops;

void ops_set_session (struct fuse_session *se);
