/* Splitting a written line into its words, as every file of the tree
 * that takes words does (ctl, mounts). */
#pragma once

#include <stddef.h>

/* The words of LINE (which is changed), split at blanks: spaces, tabs
 * and carriage returns, any number of them.  A NULL-terminated vector
 * (g_strfreev) of *N words, empty for a blank line. */
char **ns_words_split (char *line, size_t *n);
