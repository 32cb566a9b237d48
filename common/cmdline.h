/* An exec line split into argv the way a shell splits words (quotes and
 * backslashes), with no expansion, globbing or pipes. */
#pragma once

#include <stddef.h>

#include "error.h"

/* On success *ARGV is a NULL-terminated vector (g_strfreev).  Empty lines
 * and unbalanced quotes are EINVAL. */
int ns_cmdline_parse (const char *text, size_t len, char ***argv, NsError *err);

/* The line a write holds, in place, as the parser reads it: without its
 * final newline, backslash-newlines joined, blanks around it stripped (a
 * blank after a backslash is a word's: `echo a\ ` passes "a ").  It
 * splits as the write does. */
char *ns_cmdline_strip (char *line);
