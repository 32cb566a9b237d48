/* `events` and `.events` (INTERFACE §11): each open is a reader with its
 * own bounded queue of the lines that happened after it opened; reads
 * block (deferred replies, interruptible) until there is one, poll
 * reports them, and a reader that falls behind gets one `overflow` line
 * for what it lost.  Emitting never waits on a reader. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <fuse_lowlevel.h>
#include <glib.h>

/* Lines a reader may have waiting; past it they are dropped for one
 * `overflow` line. */
#define EVENTS_QUEUE_MAX 1024

typedef struct EventReader EventReader;

/* A reader of the sandbox SERIAL's events, or (SERIAL 0) of every
 * sandbox's, each line then prefixed by the sandbox's name. */
EventReader *events_open (uint32_t serial, uid_t uid);
void events_close (EventReader *r);
/* FLAGS: the file's flags at this read (O_NONBLOCK: EAGAIN, no wait). */
void events_read (fuse_req_t req, EventReader *r, size_t size, int flags);
void events_poll (fuse_req_t req, EventReader *r, struct fuse_pollhandle *ph);

/* Tell the readers of sandbox SERIAL (named NAME) and of `.events`. */
void events_emit (uint32_t serial, const char *name, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

/* Answer every blocked read with EINTR (before unmounting). */
void events_cancel_all (void);
