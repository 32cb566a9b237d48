/* What ps(1), top(1) and lsns(8) show for a supervisor's processes: one
 * short line, `nsfs-supervisor NAME`, `nsfs-init NAME` or `nsfs-zygote`,
 * with no padding and no host path (the init's is what `ps` inside a
 * sandbox shows as PID 1). */
#pragma once

#include <stddef.h>

/* Remember the argument area execve(2) gave us: argv[0] to the end of the
 * last argument, the only memory /proc/PID/cmdline reads from.  Before
 * getopt_long(3) permutes argv, and before anything is written over it. */
void sup_title_init (int argc, char **argv);

/* Name the sandbox this process serves, from its directory's last
 * component, for every title set from now on. */
void sup_title_name_sandbox (const char *dir);

/* `ROLE NAME` (ROLE alone before a sandbox is named) into BUF. */
void sup_title_format (const char *role, char *buf, size_t size);

/* Show `ROLE NAME` (or ROLE alone before a sandbox is named), cut to the
 * area, as the command line, and its first 15 bytes as /proc/PID/comm. */
void sup_title_set (const char *role);
