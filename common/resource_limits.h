/* memory.max, pids.max and cpu.max (INTERFACE §8), in cgroup v2's syntax
 * whatever the host's hierarchy: pure parsers that check a whole write,
 * their inverses, and the translation to cgroup v1's files.
 *
 *   memory.max   BYTES (k, m, g suffixes) | max
 *   pids.max     COUNT | max
 *   cpu.max      QUOTA PERIOD | max [PERIOD]     (microseconds) */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* No limit. */
#define NS_LIMIT_MAX UINT64_MAX
#define NS_CPU_PERIOD_DEFAULT 100000
/* cgroup v2's bounds of cpu.max (kernel/sched/core.c). */
#define NS_CPU_PERIOD_MIN 1000
#define NS_CPU_PERIOD_MAX 1000000
#define NS_CPU_QUOTA_MIN 1000

typedef struct {
	uint64_t memory_max;      /* bytes, or NS_LIMIT_MAX */
	uint64_t pids_max;        /* or NS_LIMIT_MAX */
	uint64_t cpu_quota;       /* µs per period, or NS_LIMIT_MAX */
	uint64_t cpu_period;      /* µs */
} NsLimits;

void ns_limits_default (NsLimits *l);

/* EINVAL malformed; the value is untouched on error. */
int ns_memory_max_parse (const char *text, size_t len, uint64_t *out, NsError *err);
int ns_pids_max_parse (const char *text, size_t len, uint64_t *out, NsError *err);
int ns_cpu_max_parse (const char *text, size_t len, uint64_t *quota, uint64_t *period, NsError *err);

/* As the files read back (no newline): "max" or the number; cpu.max
 * "QUOTA PERIOD" or "max PERIOD". */
char *ns_limit_format (uint64_t v);
char *ns_cpu_max_format (uint64_t quota, uint64_t period);

/* One of the limits, as a file of a cgroup hierarchy takes it: v2 writes
 * what the file reads back; v1 (memory.limit_in_bytes, pids.max,
 * cpu.cfs_quota_us and cpu.cfs_period_us) writes -1 where v2 writes max
 * (pids.max is "max" in both). */
typedef struct {
	const char *file;
	char *value;
} NsCgroupWrite;

typedef enum { NS_LIMIT_MEMORY, NS_LIMIT_PIDS, NS_LIMIT_CPU } NsLimitKind;

/* The writes that set KIND from L on a v2 (V1 false) or v1 hierarchy, in
 * the order they must be made; at most 2; free each value. */
size_t ns_limit_writes (const NsLimits *l, NsLimitKind kind, bool v1, NsCgroupWrite out[2]);
/* Whether L is what a new cgroup has without a write: no limit, and the
 * default CPU period. */
bool ns_limits_are_default (const NsLimits *l);
/* Whether L sets no limit of KIND ("max"). */
bool ns_limit_is_unlimited (const NsLimits *l, NsLimitKind kind);
