/* What stat shows of each node, and for how long the kernel may keep it. */
#pragma once

#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "nodes.h"

void attrs_init (struct fuse_session *se);
/* A sandbox's mtime moved: drop the kernel's copy of its directory's
 * attributes (called with sb->lock held; never blocks). */
void attrs_sandbox_touched (const Sandbox *sb);

double attr_timeout_of (const Node *n);
double entry_timeout_of (mode_t mode);
/* Fill ST for N; sb->lock must not be held. */
int stat_node (const Node *n, struct stat *st);
void reply_entry (fuse_req_t req, const Node *n);
/* Answer with N's attributes, or with -R if R already failed; clears N. */
void reply_attr_of (fuse_req_t req, Node *n, int r);
