/* Unit tests for common/proto_verbs.c, the protocol's table of verbs, and
 * for the supervisor's table of handlers (backend/requests.c), which must
 * serve every request the protocol declares and nothing else. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "mounts.h"
#include "proto_verbs.h"
#include "requests.h"
#include "test-util.h"

static void
test_names_unique_and_plain (void)
{
	for (size_t i = 0; i < ns_proto_n_verbs; i++) {
		const NsProtoVerb *v = &ns_proto_verbs[i];
		g_assert_nonnull (v->verb);
		g_assert_cmpuint (strlen (v->verb), >, 0);
		g_assert_cmpuint (strspn (v->verb, "abcdefghijklmnopqrstuvwxyz-"), ==, strlen (v->verb));
		/* Not the words a reply starts with, nor a tag. */
		g_assert_cmpstr (v->verb, !=, "ok");
		g_assert_cmpstr (v->verb, !=, "err");
		for (size_t j = i + 1; j < ns_proto_n_verbs; j++)
			if (ns_proto_verbs[j].kind == v->kind)
				g_assert_cmpstr (ns_proto_verbs[j].verb, !=, v->verb);
	}
}

static void
test_arity_sane (void)
{
	for (size_t i = 0; i < ns_proto_n_verbs; i++) {
		const NsProtoVerb *v = &ns_proto_verbs[i];
		g_assert_cmpuint (v->min_fields, <=, v->max_fields);
		/* check-sources carries a line and a path for each bind. */
		g_assert_cmpuint (v->max_fields, <=, 2 * NS_MOUNTS_MAX);
		g_assert_nonnull (v->fields);
		if (v->kind == NS_MSG_EVENT) {
			g_assert_false (v->tagged);
			g_assert_cmpuint (v->reply_fields, ==, 0);
		} else {
			g_assert_nonnull (v->reply);
			g_assert_cmpuint (v->reply_fields, <=, 8);
			/* The reply's words, counted, are what it carries. */
			g_auto (GStrv) words = g_strsplit (v->reply, " ", -1);
			g_assert_cmpuint (v->reply[0] ? g_strv_length (words) : 0, ==, v->reply_fields);
			/* Only hello, the first message, goes untagged. */
			g_assert_cmpint (v->tagged, ==, strcmp (v->verb, "hello") != 0);
		}
	}
	g_assert_nonnull (ns_proto_verb_find ("hello", NS_MSG_REQUEST));
	g_assert_nonnull (ns_proto_verb_find ("destroy", NS_MSG_REQUEST));
	g_assert_nonnull (ns_proto_verb_find ("exit", NS_MSG_EVENT));
	g_assert_null (ns_proto_verb_find ("exit", NS_MSG_REQUEST));
}

static void
test_check (void)
{
	const NsProtoVerb *row = NULL;
	NsError err;
	int r;

	r = ns_proto_verb_check ((char *const[]) { "exec", "1", "true", NULL }, NS_MSG_REQUEST, &row, &err);
	g_assert_cmpint (r, ==, 0);
	g_assert_cmpstr (row->verb, ==, "exec");
	r = ns_proto_verb_check ((char *const[]) { "stop", NULL }, NS_MSG_REQUEST, &row, &err);
	g_assert_cmpint (r, ==, 0);
	r = ns_proto_verb_check ((char *const[]) { "hello", "2", "later", NULL }, NS_MSG_REQUEST, &row, &err);
	g_assert_cmpint (r, ==, 0);

	ns_error_poison (&err);
	r = ns_proto_verb_check ((char *const[]) { "exec", "1", NULL }, NS_MSG_REQUEST, &row, &err);
	assert_ns_error (r, &err, EPROTO, "exec takes 2 fields, not 1");
	g_assert_null (row);
	ns_error_poison (&err);
	r = ns_proto_verb_check ((char *const[]) { "stop", "now", NULL }, NS_MSG_REQUEST, &row, &err);
	assert_ns_error (r, &err, EPROTO, "stop takes 0 fields");
	ns_error_poison (&err);
	r = ns_proto_verb_check ((char *const[]) { "hello", NULL }, NS_MSG_REQUEST, &row, &err);
	assert_ns_error (r, &err, EPROTO, "hello takes 1 to 4 fields");
	ns_error_poison (&err);
	r = ns_proto_verb_check ((char *const[]) { "reboot", NULL }, NS_MSG_REQUEST, &row, &err);
	assert_ns_error (r, &err, EINVAL, "unknown request 'reboot'");
	ns_error_poison (&err);
	r = ns_proto_verb_check ((char *const[]) { "exit", "1", "exited 0", NULL }, NS_MSG_REQUEST, &row, &err);
	assert_ns_error (r, &err, EINVAL, "unknown request");
	r = ns_proto_verb_check ((char *const[]) { "exit", "1", "exited 0", NULL }, NS_MSG_EVENT, &row, &err);
	g_assert_cmpint (r, ==, 0);
	ns_error_poison (&err);
	r = ns_proto_verb_check ((char *const[]) { NULL }, NS_MSG_REQUEST, &row, &err);
	assert_ns_error (r, &err, EPROTO, "empty");
}

static void
test_supervisor_serves_every_request (void)
{
	for (size_t i = 0; i < ns_proto_n_verbs; i++) {
		const NsProtoVerb *v = &ns_proto_verbs[i];
		size_t rows = 0;
		if (v->kind != NS_MSG_REQUEST)
			continue;
		for (size_t j = 0; j < sup_n_verbs; j++)
			if (strcmp (sup_verbs[j].verb, v->verb) == 0)
				rows++;
		if (rows != 1)
			g_error ("request '%s': %zu rows in the supervisor's table, not 1", v->verb, rows);
	}
	for (size_t j = 0; j < sup_n_verbs; j++) {
		g_assert_nonnull (sup_verbs[j].handler);
		if (!ns_proto_verb_find (sup_verbs[j].verb, NS_MSG_REQUEST))
			g_error ("the supervisor serves '%s', which the protocol does not declare", sup_verbs[j].verb);
	}
}

static void
test_what_never_waits (void)
{
	/* hello and destroy are answered during a start too: destroy must end
	 * a start whose init hangs in a mount. */
	for (size_t j = 0; j < sup_n_verbs; j++)
		if (strcmp (sup_verbs[j].verb, "destroy") == 0 || strcmp (sup_verbs[j].verb, "hello") == 0)
			g_assert_cmpuint (sup_verbs[j].flags & SUP_VERB_WAITS_FOR_START, ==, 0);
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/proto-verbs/names", test_names_unique_and_plain);
	g_test_add_func ("/proto-verbs/arity", test_arity_sane);
	g_test_add_func ("/proto-verbs/check", test_check);
	g_test_add_func ("/proto-verbs/supervisor-serves-every-request", test_supervisor_serves_every_request);
	g_test_add_func ("/proto-verbs/what-never-waits", test_what_never_waits);
	return g_test_run ();
}
