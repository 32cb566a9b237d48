/* nsfsd's side of the supervisor protocol: start a supervisor or connect
 * to a running one, send it requests without waiting for them, and hand
 * its answers and events to the sandbox code from a dedicated event
 * thread.  No caller ever blocks on a supervisor. */
#pragma once

#include <stdbool.h>

#include "error.h"
#include "sandbox.h"
#include "supervisor_exits.h"

#include <glib-unix.h>

/* How long a request waits for its supervisor's answer (ETIMEDOUT). */
#define SUPCLIENT_DEFAULT_TIMEOUT_SECONDS 30
void supclient_init (unsigned request_timeout_seconds);
void supclient_shutdown (void);
unsigned supclient_request_timeout_ms (void);

/* SupReplyFn (sandbox.h) is called once with a request's outcome: R 0
 * and REPLY the fields of the `ok` answer (REPLY[0] is "ok"; borrowed),
 * or R -errno and ERR. */

/* Spawn the supervisor for SB (state dir sb->dir) and say hello. */
int supclient_spawn (Sandbox *sb, SupConn **out, NsError *err);

/* Connect to an already running supervisor through its socket and say
 * hello. */
int supclient_connect (Sandbox *sb, SupConn **out, NsError *err);

/* Start listening to C, once it is stored where the sandbox code finds
 * it: the answer to hello goes to sandbox_on_hello (before any event),
 * events to sandbox_on_*. */
void supclient_watch (SupConn *c);

/* Send FIELDS.  Returns 0 once sent: FN is then called exactly once,
 * later, from the event thread or from supclient_close's caller, after
 * at most TIMEOUT_MS (ETIMEDOUT).  Returns -errno with ERR when nothing
 * was sent (FN is not called).  Never blocks. */
/* Call FN on the event thread when FD shows COND (until FN returns
 * G_SOURCE_REMOVE); NOTIFY gets DATA when the watch goes. */
GSource *supclient_watch_fd (int fd, GIOCondition cond, GUnixFDSourceFunc fn, gpointer data, GDestroyNotify notify);
int supclient_call (SupConn *c, char *const *fields, unsigned timeout_ms, SupReplyFn fn, gpointer data,
                    NsError *err);

/* Answer every call in flight on C now with CODE and WHY; their late
 * answers are dropped. */
void supclient_cancel_calls (SupConn *c, int code, const char *why);

/* FN once the supervisor behind C has exited (and, if it is our child,
 * been reaped), with EXITED true; or after TIMEOUT_MS with EXITED false.
 * Called from the event thread. */
void supclient_when_exited (SupConn *c, unsigned timeout_ms, SupExitFn fn, gpointer data);

/* SIGKILL the supervisor behind C (never a later process with its pid). */
void supclient_kill (SupConn *c);
pid_t supclient_pid (SupConn *c);

SupConn *supclient_ref (SupConn *c);
void supclient_unref (SupConn *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SupConn, supclient_unref)

/* Stop watching and drop the owner's reference (the supervisor keeps
 * running).  Every call still in flight is answered with EIO first. */
void supclient_close (SupConn *c);
