/* Directory listings: readdir and readdirplus of any directory. */
#pragma once

#include <stdbool.h>

#include <fuse_lowlevel.h>

void listing_reply (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus);
