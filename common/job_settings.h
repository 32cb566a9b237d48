/* env, cwd and user (INTERFACE §10): how later jobs start.  Pure parsers
 * that check a whole write, and their inverses for reading back.
 *
 *   env    KEY=VALUE lines (KEY: [A-Za-z_][A-Za-z0-9_]*), at most 256
 *   cwd    an absolute path inside the sandbox
 *   user   UID[:GID] inside the sandbox, or nothing for the default */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define NS_ENV_MAX 256
#define NS_CWD_MAX 4096

/* EINVAL naming the line for a malformed one or a KEY given twice, E2BIG
 * past NS_ENV_MAX lines; *OUT is the normalized text ("KEY=VALUE\n"
 * lines, "" for none). */
int ns_env_parse (const char *text, size_t len, char **out, NsError *err);
/* ENV (normalized) over DEFAULTS (a NULL-ended KEY=VALUE array): one
 * NULL-ended array, ENV's value winning for a KEY in both. */
char **ns_env_merge (char *const *defaults, const char *env);

/* One line: "" (the default, /) or an absolute path. */
int ns_cwd_parse (const char *text, size_t len, char **out, NsError *err);

typedef struct {
	bool set;           /* false: the ids the owner maps to */
	uint32_t uid;
	bool gid_set;       /* false: the gid the owner maps to */
	uint32_t gid;
} NsJobUser;

int ns_user_parse (const char *text, size_t len, NsJobUser *out, NsError *err);
/* "UID", "UID:GID", or "" when not set. */
char *ns_user_format (const NsJobUser *u);

typedef enum { NS_STDIN_NULL, NS_STDIN_PIPE, NS_STDIN_TTY } NsStdinMode;

typedef struct {
	NsStdinMode mode;
	unsigned rows, cols;    /* tty: the terminal's first size */
} NsStdin;

#define NS_TTY_ROWS_DEFAULT 24
#define NS_TTY_COLS_DEFAULT 80

/* null | pipe | tty [ROWS COLS] (1 to 65535 each). */
int ns_stdin_parse (const char *text, size_t len, NsStdin *out, NsError *err);
char *ns_stdin_format (const NsStdin *in);
