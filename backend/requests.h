/* Requests: the supervisor's table of verbs and their handlers, checked
 * against the protocol's (common/proto_verbs.h), and the requests in
 * flight.  Every request is answered exactly once: by its handler, now
 * or when what it waits for comes through the loop, or, if the supervisor
 * exits first, with ECANCELED. */
#pragma once

#include <glib.h>

#include "clients.h"
#include "error.h"
#include "proto.h"

typedef struct {
	SupClient *client;              /* a reference */
	char tag[NSFS_PROTO_TAG_MAX];   /* "" for an untagged request (hello) */
	char **msg;                     /* the verb and its fields, no tag */
	char **raw;                     /* what was received, to free */
	const struct SupVerb *verb;
} SupRequest;

typedef void (*SupHandler) (SupRequest *req);

/* The request waits while a start is in progress (it needs a sandbox
 * that is running or not, not one becoming so), and runs when the start
 * settles, in the order requests came. */
#define SUP_VERB_WAITS_FOR_START 0x1

typedef struct SupVerb {
	const char *verb;               /* a request of ns_proto_verbs */
	SupHandler handler;
	unsigned flags;
} SupVerb;

extern const SupVerb sup_verbs[];
extern const size_t sup_n_verbs;

/* A message from C (taken): check it against the protocol's table and
 * hand it to its handler, or queue it behind a start. */
void sup_requests_dispatch (SupClient *c, char **msg);
/* A start settled: run the requests that waited for it. */
void sup_requests_resume (void);
/* From now on (destroy) requests that wait are never run. */
void sup_requests_close (void);
/* Answer every request still pending with ECANCELED (before exiting). */
void sup_requests_cancel_all (void);

/* Answer REQ (and free it): `ok` with the fields up to NULL, or ERR. */
void sup_request_ok (SupRequest *req, ...) __attribute__ ((sentinel));
void sup_request_err (SupRequest *req, const NsError *err);
void sup_request_errno (SupRequest *req, int code, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

/* lifecycle.c's handlers. */
void sup_handle_start (SupRequest *req);
void sup_handle_stop (SupRequest *req);
void sup_handle_destroy (SupRequest *req);
