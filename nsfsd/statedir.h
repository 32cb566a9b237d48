/* The state directory's top level: its format version and where each
 * sandbox's directory lives.  See docs/design.md for the layout. */
#pragma once

#include "error.h"

#define NS_STATEDIR_FORMAT 1

/* Create DIR (and DIR/sandboxes) or check the format of an existing one. */
int statedir_init (const char *dir, NsError *err);

char *statedir_sandboxes_path (void);
char *statedir_sandbox_path (const char *name);

