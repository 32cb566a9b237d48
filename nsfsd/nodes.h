/* A resolved inode: the sandbox, table row and job it stands for. */
#pragma once

#include <fuse_lowlevel.h>

#include "files.h"
#include "sandbox.h"

typedef struct {
	Sandbox *sb;          /* a reference, or NULL for the root */
	const NodeSpec *spec;
	unsigned node;
	unsigned job_id;
} Node;

void node_clear (Node *n);
/* Resolve INO to a node that exists right now: 0 or -ENOENT. */
int node_resolve (fuse_ino_t ino, Node *n);
fuse_ino_t node_ino (const Node *n);
/* NAME in directory DIR: 0, -ENOENT or -ENOTDIR. */
int node_lookup_child (const Node *dir, const char *name, Node *out);
