/* nsfsd's side of the supervisor protocol: start a supervisor, send it
 * one request at a time, and hand its events to the sandbox code from a
 * dedicated event thread. */
#pragma once

#include "error.h"
#include "sandbox.h"

/* How long a request waits for its supervisor's answer (ETIMEDOUT). */
#define SUPCLIENT_DEFAULT_TIMEOUT_SECONDS 30
void supclient_init (unsigned request_timeout_seconds);
void supclient_shutdown (void);

/* Spawn the supervisor for SB (state dir sb->dir) and connect to it. */
int supclient_spawn (Sandbox *sb, SupConn **out, NsError *err);

/* Connect to an already running supervisor through its socket.  Fills
 * HELLO with the `ok` reply's fields (version, state, pid, reason).  Its
 * events wait in the socket until supclient_watch: apply HELLO first, so
 * that no newer event is overwritten by it. */
int supclient_connect (Sandbox *sb, SupConn **out, char ***hello, NsError *err);
void supclient_watch (SupConn *c);

/* Send FIELDS and wait for the reply.  On `ok`, *REPLY (may be NULL)
 * receives the reply's fields; on `err`, ERR is filled and -errno is
 * returned. */
int supclient_request (SupConn *c, char *const *fields, char ***reply, NsError *err);

/* Wait until the supervisor behind C has exited (and, if it is our
 * child, been reaped): 0, or -ETIMEDOUT. */
int supclient_wait_exit (SupConn *c, int timeout_ms);

SupConn *supclient_ref (SupConn *c);
void supclient_unref (SupConn *c);

/* Stop watching and drop the owner's reference (the supervisor keeps
 * running). */
void supclient_close (SupConn *c);
