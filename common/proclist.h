/* What the kernel says about a process's children, parsed: the text of
 * /proc/PID/task/TID/children and of /proc/PID/stat. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include <glib.h>

/* Append to PIDS (a GArray of pid_t) the pids in TEXT: positive decimal
 * numbers, each followed by one space, as the children file has them.
 * Returns 0, or -EINVAL with PIDS as it was. */
int ns_children_parse (const char *text, size_t len, GArray *pids);

/* The parent pid (the fourth field) of a /proc/PID/stat line, whose
 * second field, the command in parentheses, may hold any byte: 0, or
 * -EINVAL with *PPID untouched. */
int ns_stat_ppid (const char *text, size_t len, pid_t *ppid);

/* The start time (the 22nd field, in clock ticks since boot) of a
 * /proc/PID/stat line: what tells a process from a later one that got its
 * pid.  0, or -EINVAL with *TICKS untouched. */
int ns_stat_start_time (const char *text, size_t len, guint64 *ticks);
