/* `mounts` (INTERFACE §7): extra mounts of a sandbox, one per line,
 * applied in order at start.  A pure parser that checks a whole write
 * before anything is applied, and its inverse for reading back.
 *
 *   bind SRC DST [ro]
 *   tmpfs DST [size=SIZE] [mode=MODE]
 *   overlay
 *
 * Paths are absolute, without `..` components, and hold no blank (words
 * are split at blanks, as in every file of the tree); SIZE is bytes or
 * has a k, m or g suffix; MODE is octal, at most 07777. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define NS_MOUNTS_MAX 64
#define NS_MOUNT_PATH_MAX 4096
#define NS_TMPFS_DEFAULT_MODE 0755

typedef enum {
	NS_MOUNT_BIND,
	NS_MOUNT_TMPFS,
	NS_MOUNT_OVERLAY,
} NsMountKind;

typedef struct {
	NsMountKind kind;
	char *src;          /* bind */
	char *dst;          /* bind, tmpfs */
	bool ro;            /* bind */
	uint64_t size;      /* tmpfs: bytes, 0 for the kernel's default */
	unsigned mode;      /* tmpfs */
	size_t line;        /* where it stood in the write, from 1 */
} NsMount;

typedef struct {
	size_t n;
	NsMount m[NS_MOUNTS_MAX];
} NsMountList;

/* Parse TEXT (LEN bytes): one mount per line, blank lines ignored; no
 * line at all is the empty list (no extra mounts).  On error LIST is
 * untouched and ERR names the line: EINVAL malformed, E2BIG too many
 * lines or a path too long. */
int ns_mounts_parse (const char *text, size_t len, NsMountList *list, NsError *err);

/* LIST as the file reads back: one normalized line each (sizes in bytes,
 * modes in octal with a leading 0); "" for none. */
char *ns_mounts_format (const NsMountList *list);

/* Free what LIST holds and empty it. */
void ns_mounts_clear (NsMountList *list);
/* Copy SRC into DST (which must be empty or cleared). */
void ns_mounts_copy (NsMountList *dst, const NsMountList *src);
/* Whether LIST has the `overlay` line. */
bool ns_mounts_has_overlay (const NsMountList *list);
