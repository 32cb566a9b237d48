/* Validation of the short strings users write: sandbox names, hostnames,
 * rootfs paths, and the one trailing newline a written value may carry. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define NS_NAME_MAX 64
#define NS_HOSTNAME_MAX 64
#define NS_PATH_MAX 4096

/* 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool ns_name_valid (const char *name, size_t len);

/* Copy BUF[0..LEN) into a NUL-terminated string, dropping one trailing
 * newline.  EINVAL if the value holds a NUL byte or any other newline
 * (a value is one line), with WHAT naming the file in the message. */
int ns_value_line (const char *buf, size_t len, const char *what, char **out, NsError *err);

/* Paths nsfsd and the supervisor both derive from a sandbox's state
 * directory, <state>/sandboxes/<name>: <state> itself; the directory of
 * console sockets beside it (<state>.consoles, since <state> is root's
 * alone); and job ID's console socket there, <name>-<id>.sock. */
char *ns_state_dir_of (const char *sandbox_dir);
char *ns_console_dir (const char *sandbox_dir);
char *ns_console_path (const char *sandbox_dir, const char *name, unsigned id);

/* 1..64 of letters, digits, '-' and '.'. */
int ns_hostname_check (const char *hostname, NsError *err);

/* Syntax only: empty (the host's /) or absolute, at most NS_PATH_MAX,
 * UTF-8, with no newline.  Whether it exists is checked by the caller. */
int ns_rootfs_path_check (const char *path, NsError *err);
