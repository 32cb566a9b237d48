/* The supervisor's event loop: one GMainContext (the default one: the
 * supervisor is single-threaded and runs nothing else), as conmon has.
 * Features register descriptors, timers and child processes on it and
 * are called back; nothing a feature does may wait on anything an owner
 * controls (a FUSE mount, a process of the sandbox), so everything that
 * could is a descriptor, a child or a timer here.
 *
 * Children.  SIGCHLD comes through a signalfd, and every child is reaped
 * by waitpid(-1) on it.  A reaped pid goes to the callback it was
 * registered with (sup_loop_watch_child: helpers such as check-rootfs
 * and hostname children, an init being thrown away), else to the reaper
 * given to sup_loop_init (the init, jobs, strays).  Registered helpers
 * are never strays (backend/strays.c asks sup_loop_is_helper). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "error.h"

typedef void (*SupFdFunc) (int fd, GIOCondition cond, gpointer data);
/* CHILD ended with WSTATUS (waitpid's) and is reaped. */
typedef void (*SupChildFunc) (pid_t child, int wstatus, gpointer data);
/* A child nobody registered: the init, a job or a stray. */
typedef void (*SupReapFunc) (pid_t child, int wstatus);
/* After one round of reaping (REAPED: whether any child was). */
typedef void (*SupReapedFunc) (bool reaped);

/* Block SIGCHLD (and the signals the supervisor ignores: SIGTERM, SIGINT,
 * SIGHUP, SIGPIPE) and read them from a signalfd on the loop. */
int sup_loop_init (SupReapFunc reap, SupReapedFunc after, NsError *err);
void sup_loop_run (void);
/* Return from sup_loop_run once the current callback returns. */
void sup_loop_quit (void);
void sup_loop_shutdown (void);

/* Call FN whenever FD shows COND; a source id for sup_loop_remove. */
guint sup_loop_add_fd (int fd, GIOCondition cond, SupFdFunc fn, gpointer data);
/* Call FN every MS milliseconds until it returns G_SOURCE_REMOVE or the
 * timer is removed. */
guint sup_loop_add_timer (guint ms, GSourceFunc fn, gpointer data);
/* Remove the source ID (0: none) and zero it. */
void sup_loop_remove (guint *id);

/* Register helper child PID: FN (NULL: nothing, the child is only
 * reaped) is called once it is reaped. */
void sup_loop_watch_child (pid_t pid, SupChildFunc fn, gpointer data);
bool sup_loop_is_helper (pid_t pid);
/* Send SIGNO to every registered helper child. */
void sup_loop_signal_helpers (int signo);
/* Reap and dispatch as the loop does, but waiting, until no child is
 * left (for `destroy`, once everything was sent SIGKILL): true, or false
 * if some are still there after TIMEOUT_MS.  BETWEEN is called after
 * each death (a dead process may hand us its children). */
bool sup_loop_reap_all (void (*between) (void), guint timeout_ms);
