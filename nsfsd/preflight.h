/* What nsfsd checks before it mounts, so that a machine not ready for it
 * gets one line saying what is wrong and what to do, rather than
 * libfuse's or the kernel's bare errno. */
#pragma once

#include <stdbool.h>

/* /dev/fuse exists and this process may open it; false after a message. */
bool preflight_fuse_device (void);
/* Nothing but a stale mount of ours is mounted on MOUNTPOINT (a canonical
 * path); false after a message. */
bool preflight_mountpoint_free (const char *mountpoint);
/* The message for a state dir nsfsd cannot set up (statedir_init's error,
 * WHY, with its errno CODE). */
void preflight_say_state_dir_unusable (const char *dir, int code, const char *why);
/* Warnings that cost speed or features, not correctness: a state dir not
 * on a tmpfs, and what a non-root nsfsd can and cannot do. */
void preflight_warn (const char *state_dir);
