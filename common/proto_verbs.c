#include "proto_verbs.h"

#include <errno.h>
#include <string.h>

#define REQUEST(v, lo, hi, tag, f, r, n) \
	{ .verb = v, .kind = NS_MSG_REQUEST, .min_fields = lo, .max_fields = hi, .tagged = tag, .fields = f, .reply = r, .reply_fields = n }
#define EVENT(v, lo, hi, f) \
	{ .verb = v, .kind = NS_MSG_EVENT, .min_fields = lo, .max_fields = hi, .fields = f }

/* Protocol 2.  A row changed in meaning bumps NSFS_PROTO_VERSION.  hello
 * allows fields after VERSION and ignores them: a later peer may say more
 * there without being refused by this one. */
const NsProtoVerb ns_proto_verbs[] = {
	REQUEST ("hello", 1, 4, false, "VERSION [ignored...]", "VERSION STATE INITPID REASON PINNED", 5),
	REQUEST ("start", 0, 0, true, "", "INITPID", 1),
	REQUEST ("exec", 2, 2, true, "ID CMDLINE", "PID", 1),
	REQUEST ("stop", 0, 0, true, "", "", 0),
	REQUEST ("kill", 1, 1, true, "SIGNO", "", 0),
	REQUEST ("hostname", 1, 1, true, "NAME", "", 0),
	REQUEST ("pin", 0, 0, true, "", "PINNED", 1),
	REQUEST ("unpin", 0, 0, true, "", "PINNED", 1),
	REQUEST ("check-rootfs", 1, 1, true, "PATH", "", 0),
	REQUEST ("check-sources", 2, 2 * 64, true, "LINE PATH [LINE PATH...]", "", 0),
	REQUEST ("caps", 1, 1, true, "TEXT", "", 0),
	REQUEST ("limits", 3, 3, true, "MEMORY_MAX PIDS_MAX CPU_MAX", "", 0),
	REQUEST ("job-settings", 0, 0, true, "", "", 0),
	REQUEST ("stdin-open", 1, 1, true, "ID", "", 0),
	REQUEST ("winsize", 3, 3, true, "ID ROWS COLS", "", 0),
	REQUEST ("destroy", 0, 0, true, "", "", 0),
	EVENT ("exit", 2, 2, "ID STATUS"),
	EVENT ("state", 2, 2, "running INITPID | stopped REASON"),
};
const size_t ns_proto_n_verbs = sizeof ns_proto_verbs / sizeof ns_proto_verbs[0];

const NsProtoVerb *
ns_proto_verb_find (const char *verb, NsMsgKind kind)
{
	for (size_t i = 0; i < ns_proto_n_verbs; i++)
		if (ns_proto_verbs[i].kind == kind && strcmp (ns_proto_verbs[i].verb, verb) == 0)
			return &ns_proto_verbs[i];
	return NULL;
}

int
ns_proto_verb_check (char *const *msg, NsMsgKind kind, const NsProtoVerb **row, NsError *err)
{
	const NsProtoVerb *v;
	size_t n = 0;

	*row = NULL;
	if (!msg || !msg[0])
		return ns_error (err, EPROTO, "empty message");
	v = ns_proto_verb_find (msg[0], kind);
	if (!v)
		return ns_error (err, EINVAL, "unknown %s '%.32s'", kind == NS_MSG_REQUEST ? "request" : "event", msg[0]);
	while (msg[n + 1])
		n++;
	if (n < v->min_fields || n > v->max_fields) {
		if (v->min_fields == v->max_fields)
			return ns_error (err, EPROTO, "%s takes %u field%s, not %zu", v->verb, v->min_fields,
			                 v->min_fields == 1 ? "" : "s", n);
		return ns_error (err, EPROTO, "%s takes %u to %u fields, not %zu", v->verb, v->min_fields, v->max_fields, n);
	}
	*row = v;
	return 0;
}
