/* uid_map / gid_map text: "inside outside count" lines, as /proc/PID/uid_map. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define NS_IDMAP_MAX_LINES 340
#define NS_IDMAP_MAX_BYTES 4096   /* the kernel's limit for one map write */

typedef struct {
	uint32_t inside;
	uint32_t outside;
	uint32_t count;
} NsIdExtent;

typedef struct {
	size_t n;
	NsIdExtent extent[NS_IDMAP_MAX_LINES];
} NsIdMap;

/* Parse TEXT (LEN bytes, one optional trailing newline) into MAP.  WHAT
 * ("uid_map") prefixes messages.  Malformed lines, zero counts, ranges
 * past 4294967295, overlapping ranges: EINVAL; more than 340 lines, or
 * 4096 bytes or more as the kernel is given it (ns_idmap_kernel_text): EINVAL,
 * as the kernel would.  MAP is written only on success. */
int ns_idmap_parse (const char *text, size_t len, const char *what, NsIdMap *map, NsError *err);

/* The text form, one "inside outside count\n" per extent; caller frees. */
char *ns_idmap_format (const NsIdMap *map);

/* MAP as the kernel is given it, into OUT: sorted by inside id, each
 * extent that continues the one before it (inside and outside alike)
 * joined to it, so that a map of many one-id lines fits the kernel's one
 * page.  The same ids map the same way. */
void ns_idmap_joined (const NsIdMap *map, NsIdMap *out);

/* The text the kernel is given for MAP: ns_idmap_joined, formatted;
 * caller frees. */
char *ns_idmap_kernel_text (const NsIdMap *map);

/* A map of one extent: "0 ID 1". */
void ns_idmap_single (NsIdMap *map, uint32_t inside, uint32_t outside);

/* The inside id that OUTSIDE maps to; false if it is not mapped. */
bool ns_idmap_to_inside (const NsIdMap *map, uint32_t outside, uint32_t *inside);
/* The outside id that INSIDE maps to; false if it is not mapped. */
bool ns_idmap_to_outside (const NsIdMap *map, uint32_t inside, uint32_t *outside);

/* Ranges delegated to a user: its own id plus /etc/subuid-style ranges. */
typedef struct {
	size_t n;
	NsIdExtent range[64]; /* inside is unused; outside/count are the range */
} NsIdDelegation;

/* Collect from CONTENT (an /etc/subuid or /etc/subgid file) the ranges
 * whose first field is USER or the decimal ID.  Malformed lines are
 * skipped, as newuidmap does. */
void ns_subid_parse (const char *content, const char *user, uint32_t id, NsIdDelegation *out);

/* EPERM unless every extent's outside range lies within OWN_ID (count 1)
 * or one range of DELEG.  Messages name the line. */
int ns_idmap_check_delegation (const NsIdMap *map, const char *what, uint32_t own_id,
                               const NsIdDelegation *deleg, NsError *err);
