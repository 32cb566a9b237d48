/* Replace a small file atomically: a crash leaves the old or the new
 * contents, never a mix.  GLib's g_file_set_contents_full fsyncs whenever
 * it replaces a file; records that are rewritten on every state change
 * want the atomicity without the fsync. */
#pragma once

#include <stdbool.h>

/* Write TEXT to a temporary file beside NAME (relative to DIRFD), fsync
 * it when DURABLE, and rename it over NAME.  0 or -errno. */
int ns_write_atomic (int dirfd, const char *name, const char *text, bool durable);
