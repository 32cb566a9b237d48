/* Unit tests for common/nstypes.c: namespace names, flags and sets. */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include <glib.h>

#include "nstypes.h"
#include "test-util.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
	const char *name;
	unsigned long flag;
} expected[] = {
	{ "cgroup", CLONE_NEWCGROUP },
	{ "ipc", CLONE_NEWIPC },
	{ "mnt", CLONE_NEWNS },
	{ "net", CLONE_NEWNET },
	{ "pid", CLONE_NEWPID },
	{ "time", CLONE_NEWTIME },
	{ "user", CLONE_NEWUSER },
	{ "uts", CLONE_NEWUTS },
};

static void
test_table (void)
{
	G_STATIC_ASSERT (G_N_ELEMENTS (expected) == NS_TYPE_COUNT);
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_assert_cmpstr (ns_types[i].name, ==, expected[i].name);
		g_assert_cmpuint (ns_types[i].flag, ==, expected[i].flag);
		if (i > 0)
			g_assert_cmpint (strcmp (ns_types[i - 1].name, ns_types[i].name), <, 0);
		/* Every type is one distinct bit. */
		g_assert_cmpuint (ns_types[i].flag & (ns_types[i].flag - 1), ==, 0);
		for (size_t j = 0; j < i; j++)
			g_assert_cmpuint (ns_types[i].flag & ns_types[j].flag, ==, 0);
	}
}

static void
test_all_flags (void)
{
	unsigned long all = CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWTIME
	                    | CLONE_NEWUSER | CLONE_NEWUTS;
	g_assert_cmpuint (ns_all_flags (), ==, all);
	g_assert_cmpuint (NS_ALL_FLAGS, ==, all);
}

static void
test_by_name (void)
{
	static const char *const unknown[] = {
		"", "USER", "User", "users", "use", "mount", "network", "uts ", " uts", "cgroups", "all", "none", "ns",
	};

	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		const NsType *t = ns_type_by_name (expected[i].name);
		g_assert_nonnull (t);
		g_assert_true (t == &ns_types[i]);
	}
	for (size_t i = 0; i < G_N_ELEMENTS (unknown); i++)
		g_assert_null (ns_type_by_name (unknown[i]));
}

static int
parse_words (const char *line, unsigned long *out, NsError *err)
{
	g_auto (GStrv) w = g_strsplit (line, " ", -1);
	return ns_set_parse (w, g_strv_length (w), out, err);
}

static void
test_set_parse_each (void)
{
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		unsigned long set = 0xdead;
		char *words[] = { (char *) expected[i].name, NULL };
		g_assert_cmpint (ns_set_parse (words, 1, &set, NULL), ==, 0);
		g_assert_cmpuint (set, ==, expected[i].flag);
	}
}

static void
test_set_parse_all_orders (void)
{
	unsigned long set = 0;

	g_assert_cmpint (parse_words ("cgroup ipc mnt net pid time user uts", &set, NULL), ==, 0);
	g_assert_cmpuint (set, ==, ns_all_flags ());
	g_assert_cmpint (parse_words ("uts user time pid net mnt ipc cgroup", &set, NULL), ==, 0);
	g_assert_cmpuint (set, ==, ns_all_flags ());
	g_assert_cmpint (parse_words ("user pid", &set, NULL), ==, 0);
	g_assert_cmpuint (set, ==, CLONE_NEWUSER | CLONE_NEWPID);
}

static void
assert_set_fails (const char *line, const char *want)
{
	unsigned long set = 0xdead;
	NsError err;
	int r;

	g_test_message ("words: '%s'", line);
	ns_error_poison (&err);
	r = parse_words (line, &set, &err);
	assert_ns_error (r, &err, EINVAL, want);
	g_assert_true (g_str_has_prefix (err.msg, "ns: "));
	g_assert_cmpuint (set, ==, 0xdead);
}

static void
test_set_parse_repeated (void)
{
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		g_autofree char *line = g_strdup_printf ("%s %s", expected[i].name, expected[i].name);
		g_autofree char *want = g_strdup_printf ("ns: '%s' given twice", expected[i].name);
		assert_set_fails (line, want);
	}
	assert_set_fails ("user pid mnt user", "ns: 'user' given twice");
	assert_set_fails ("cgroup ipc mnt net pid time user uts cgroup", "'cgroup' given twice");
}

static void
test_set_parse_unknown (void)
{
	g_autofree char *longword = g_strnfill (500, 'q');
	g_autofree char *longline = g_strdup_printf ("user %s", longword);
	NsError err;

	assert_set_fails ("bogus", "ns: unknown namespace type 'bogus' (choose from cgroup ipc mnt net pid time user uts)");
	assert_set_fails ("user bogus pid", "unknown namespace type 'bogus'");
	assert_set_fails ("USER", "unknown namespace type 'USER'");
	assert_set_fails ("mount", "unknown namespace type 'mount'");
	assert_set_fails ("user  pid", "unknown namespace type ''"); /* an empty word */
	assert_set_fails (longline, "unknown namespace type 'qqqq");
	parse_words (longline, &(unsigned long) { 0 }, &err);
	g_assert_cmpuint (strlen (err.msg), <, 160);
}

static void
test_set_parse_empty (void)
{
	unsigned long set = 0xdead;
	NsError err;
	int r;

	ns_error_poison (&err);
	r = ns_set_parse ((char *[]) { NULL }, 0, &set, &err);
	assert_ns_error (r, &err, EINVAL, "ns: no namespace type given");
	g_assert_cmpuint (set, ==, 0xdead);
	g_assert_cmpint (ns_set_parse ((char *[]) { NULL }, 0, &set, NULL), ==, -EINVAL);
}

static void
test_set_format (void)
{
	g_autofree char *all = ns_set_format (ns_all_flags ());
	g_autofree char *none = ns_set_format (0);
	g_autofree char *two = ns_set_format (CLONE_NEWUTS | CLONE_NEWCGROUP);
	g_autofree char *user = ns_set_format (CLONE_NEWUSER);
	g_autofree char *extra = ns_set_format (CLONE_NEWUSER | CLONE_VM | CLONE_THREAD);

	g_assert_cmpstr (all, ==, "cgroup ipc mnt net pid time user uts");
	g_assert_cmpstr (none, ==, "");
	g_assert_cmpstr (two, ==, "cgroup uts");
	g_assert_cmpstr (user, ==, "user");
	g_assert_cmpstr (extra, ==, "user");
}

static void
test_set_roundtrip_every_subset (void)
{
	for (unsigned bits = 1; bits < (1u << NS_TYPE_COUNT); bits++) {
		unsigned long set = 0, back = 0;
		g_autofree char *text = NULL;
		g_auto (GStrv) words = NULL;

		for (size_t i = 0; i < NS_TYPE_COUNT; i++)
			if (bits & (1u << i))
				set |= ns_types[i].flag;
		text = ns_set_format (set);
		words = g_strsplit (text, " ", -1);
		g_assert_cmpuint (g_strv_length (words), ==, (guint) __builtin_popcount (bits));
		g_assert_cmpint (ns_set_parse (words, g_strv_length (words), &back, NULL), ==, 0);
		g_assert_cmpuint (back, ==, set);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/nstypes/table", test_table);
	g_test_add_func ("/nstypes/all-flags", test_all_flags);
	g_test_add_func ("/nstypes/by-name", test_by_name);
	g_test_add_func ("/nstypes/set-parse/each-type", test_set_parse_each);
	g_test_add_func ("/nstypes/set-parse/all-orders", test_set_parse_all_orders);
	g_test_add_func ("/nstypes/set-parse/repeated", test_set_parse_repeated);
	g_test_add_func ("/nstypes/set-parse/unknown", test_set_parse_unknown);
	g_test_add_func ("/nstypes/set-parse/empty", test_set_parse_empty);
	g_test_add_func ("/nstypes/set-format", test_set_format);
	g_test_add_func ("/nstypes/roundtrip-every-subset", test_set_roundtrip_every_subset);
	return g_test_run ();
}
