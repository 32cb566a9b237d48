/* The supervisor protocol's verbs, declared once for both ends.
 *
 * One row per message: its verb, whether nsfsd sends it (a request,
 * answered `ok ...` or `err ERRNO MESSAGE`) or the supervisor does (an
 * event, never answered), how many fields follow the verb, and what an
 * `ok` reply carries.  The supervisor's dispatch table (backend/requests.c)
 * names one handler per request row and leaves the field counts to this
 * table; the unit test checks both (tests/unit/test-proto-verbs.c).  The
 * wire format is common/proto.h's, and NSFS_PROTO_VERSION says which
 * table a peer speaks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum {
	NS_MSG_REQUEST,   /* nsfsd -> supervisor, answered once */
	NS_MSG_EVENT,     /* supervisor -> nsfsd, at any time */
} NsMsgKind;

typedef struct {
	const char *verb;
	NsMsgKind kind;
	/* Fields after the verb (a request's tag is not counted). */
	unsigned min_fields, max_fields;
	/* Requests: whether it carries a tag (NSFS_PROTO_TAG); all but
	 * `hello`, which comes first and alone on a connection. */
	bool tagged;
	/* For people (docs/design.md): the fields, and what `ok` carries. */
	const char *fields;
	const char *reply;
	/* Requests: how many fields an `ok` reply carries after `ok`. */
	unsigned reply_fields;
} NsProtoVerb;

extern const NsProtoVerb ns_proto_verbs[];
extern const size_t ns_proto_n_verbs;

/* The row of VERB of KIND, or NULL. */
const NsProtoVerb *ns_proto_verb_find (const char *verb, NsMsgKind kind);

/* Whether MSG (verb first, the tag already taken off, NULL-terminated)
 * is a message of KIND that its row allows: 0 with *ROW set, -EINVAL for
 * a verb nobody declared, -EPROTO for the wrong number of fields. */
int ns_proto_verb_check (char *const *msg, NsMsgKind kind, const NsProtoVerb **row, NsError *err);
