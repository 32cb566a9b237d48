/* caps: the `caps` file's parser and formatter. */
#include <errno.h>
#include <linux/capability.h>

#include "caps.h"
#include "test-util.h"

#define BIT(c) ((uint64_t) 1 << (c))

static uint64_t
parse_ok (const char *text)
{
	uint64_t keep = 0xdead;
	NsError err = { 0 };
	g_assert_cmpint (ns_caps_parse (text, strlen (text), &keep, &err), ==, 0);
	return keep;
}

static void
parse_fails (const char *text, const char *want)
{
	uint64_t keep = 0xdead;
	NsError err;
	int r;

	ns_error_poison (&err);
	r = ns_caps_parse (text, strlen (text), &keep, &err);
	assert_ns_error (r, &err, EINVAL, want);
	g_assert_cmpuint (keep, ==, 0xdead);
}

static void
test_words (void)
{
	g_assert_cmpuint (parse_ok ("all"), ==, ns_caps_all ());
	g_assert_cmpuint (parse_ok ("all\n"), ==, ns_caps_all ());
	g_assert_cmpuint (parse_ok ("none"), ==, 0);
	g_assert_cmpuint (parse_ok (" none \n"), ==, 0);
	g_assert_cmpuint (ns_caps_all () & BIT (CAP_LAST_CAP), !=, 0);
	g_assert_cmpuint (ns_caps_all () >> CAP_LAST_CAP, ==, 1);
}

static void
test_libcap_text (void)
{
	g_assert_cmpuint (parse_ok ("cap_net_bind_service=ep"), ==, BIT (CAP_NET_BIND_SERVICE));
	g_assert_cmpuint (parse_ok ("cap_chown,cap_kill=ep\n"), ==, BIT (CAP_CHOWN) | BIT (CAP_KILL));
	/* Permitted without effective is kept: jobs may raise it. */
	g_assert_cmpuint (parse_ok ("cap_sys_admin=p"), ==, BIT (CAP_SYS_ADMIN));
	/* Inheritable alone keeps nothing. */
	g_assert_cmpuint (parse_ok ("cap_sys_admin=i"), ==, 0);
	g_assert_cmpuint (parse_ok ("=ep cap_sys_admin-ep"), ==, ns_caps_all () & ~BIT (CAP_SYS_ADMIN));
	g_assert_cmpuint (parse_ok ("="), ==, 0);
}

static void
test_errors (void)
{
	parse_fails ("", "caps: empty");
	parse_fails ("\n", "caps: empty");
	parse_fails ("cap_bogus=ep", "not a capability set");
	parse_fails ("everything", "not a capability set");
	parse_fails ("cap_kill=e", "cap_kill is effective but not permitted");
	parse_fails ("all\nnone", "single line");
}

static void
test_format_roundtrip (void)
{
	static const uint64_t sets[] = { 0, BIT (CAP_NET_BIND_SERVICE), BIT (CAP_CHOWN) | BIT (CAP_SETUID) | BIT (CAP_SYS_ADMIN) };

	for (size_t i = 0; i < G_N_ELEMENTS (sets); i++) {
		g_autofree char *text = ns_caps_format (sets[i]);
		g_assert_cmpuint (parse_ok (text), ==, sets[i]);
	}
	{
		g_autofree char *all = ns_caps_format (ns_caps_all ());
		g_autofree char *none = ns_caps_format (0);
		g_autofree char *one = ns_caps_format (BIT (CAP_NET_BIND_SERVICE));
		g_assert_cmpstr (all, ==, "all");
		g_assert_cmpstr (none, ==, "none");
		g_assert_cmpstr (one, ==, "cap_net_bind_service=ep");
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/caps/words", test_words);
	g_test_add_func ("/caps/libcap-text", test_libcap_text);
	g_test_add_func ("/caps/errors", test_errors);
	g_test_add_func ("/caps/format-roundtrip", test_format_roundtrip);
	return g_test_run ();
}
