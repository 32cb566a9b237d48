/* Inode numbers are computed, not allocated: (sandbox serial, job id,
 * node index).  Nothing needs a lookup count, and a number that outlived
 * its sandbox simply no longer resolves (serials are never reused). */
#pragma once

#include <stdint.h>

#include <fuse_lowlevel.h>

#define INO_ROOT FUSE_ROOT_ID
/* /.events: serial 0 is no sandbox's. */
#define INO_TOP_EVENTS 2
#define INO_MAX_JOB 0xffffffu

static inline fuse_ino_t
ino_make (uint32_t serial, unsigned job, unsigned node)
{
	return ((fuse_ino_t) serial << 32) | ((fuse_ino_t) (job & INO_MAX_JOB) << 8) | (node & 0xff);
}

static inline uint32_t ino_serial (fuse_ino_t ino) { return (uint32_t) (ino >> 32); }
static inline unsigned ino_job (fuse_ino_t ino) { return (unsigned) ((ino >> 8) & INO_MAX_JOB); }
static inline unsigned ino_node (fuse_ino_t ino) { return (unsigned) (ino & 0xff); }
