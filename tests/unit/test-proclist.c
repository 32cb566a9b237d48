/* Unit tests for common/proclist.c: the children file and stat lines. */
#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include <glib.h>

#include "proclist.h"

static GArray *
children_of (const char *text)
{
	GArray *pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
	pid_t sentinel = 77;

	g_array_append_val (pids, sentinel);
	g_test_message ("children: '%s'", text);
	g_assert_cmpint (ns_children_parse (text, strlen (text), pids), ==, 0);
	return pids;
}

static void
test_children (void)
{
	g_autoptr (GArray) none = children_of ("");
	g_autoptr (GArray) one = children_of ("12574 ");
	g_autoptr (GArray) three = children_of ("12574 12575 2147483647 ");

	g_assert_cmpuint (none->len, ==, 1);
	g_assert_cmpuint (one->len, ==, 2);
	g_assert_cmpint (g_array_index (one, pid_t, 0), ==, 77);
	g_assert_cmpint (g_array_index (one, pid_t, 1), ==, 12574);
	g_assert_cmpuint (three->len, ==, 4);
	g_assert_cmpint (g_array_index (three, pid_t, 2), ==, 12575);
	g_assert_cmpint (g_array_index (three, pid_t, 3), ==, 2147483647);
}

static void
test_children_malformed (void)
{
	static const char *const bad[] = {
		"12574", " 12574 ", "12574  ", "0 ", "012 ", "-5 ", "+5 ", "2147483648 ",
		"99999999999999999999 ", "12 x ", "12\n", "1 2", "abc ", " ",
	};

	for (size_t i = 0; i < G_N_ELEMENTS (bad); i++) {
		g_autoptr (GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
		pid_t keep = 5;

		g_array_append_val (pids, keep);
		g_test_message ("children: '%s'", bad[i]);
		g_assert_cmpint (ns_children_parse (bad[i], strlen (bad[i]), pids), ==, -EINVAL);
		g_assert_cmpuint (pids->len, ==, 1);
		g_assert_cmpint (g_array_index (pids, pid_t, 0), ==, 5);
	}
}

static void
assert_ppid (const char *line, pid_t want)
{
	pid_t ppid = -1;

	g_test_message ("stat: '%s'", line);
	g_assert_cmpint (ns_stat_ppid (line, strlen (line), &ppid), ==, 0);
	g_assert_cmpint (ppid, ==, want);
}

static void
test_stat_ppid (void)
{
	assert_ppid ("8269 (bash) S 8268 8269 8269 0 -1 4194560", 8268);
	assert_ppid ("1 (systemd) S 0 1 1 0 -1", 0);
	assert_ppid ("42 (a) b (c) ) Z 7 42", 7);
	assert_ppid ("42 () R 2147483647", 2147483647);
	assert_ppid ("42 (x\ny) t 9 1", 9);
}

static void
test_stat_ppid_malformed (void)
{
	static const char *const bad[] = {
		"", "8269 bash S 8268", "8269 (bash) S", "8269 (bash) S ", "8269 (bash)  S 1",
		"8269 (bash) SS 1 2", "8269 (bash) S x", "8269 (bash) S 12x 1", "8269 (bash) S -1 2",
		"8269 (bash) S 2147483648 1", "8269 (bash) S 00 1", "8269 (bash) 5 1 1",
	};

	for (size_t i = 0; i < G_N_ELEMENTS (bad); i++) {
		pid_t ppid = -12345;
		g_test_message ("stat: '%s'", bad[i]);
		g_assert_cmpint (ns_stat_ppid (bad[i], strlen (bad[i]), &ppid), ==, -EINVAL);
		g_assert_cmpint (ppid, ==, -12345);
	}
}

/* A real line of this machine's, and its start time: 4,176,234 ticks. */
static const char real_stat[] =
	"2386 (nsfs-supervisor) S 2380 2379 2379 0 -1 4194624 1070 0 0 0 3 1 0 0 20 0 1 0 4176234 "
	"20480000 1105 18446744073709551615 1 1 0 0 0 0 0 4096 16386 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

static void
test_stat_start_time (void)
{
	guint64 ticks = 0;
	g_autofree char *odd = NULL;

	g_assert_cmpint (ns_stat_start_time (real_stat, strlen (real_stat), &ticks), ==, 0);
	g_assert_cmpuint (ticks, ==, 4176234);
	/* A command with ") " and spaces in it, the line ending at the field. */
	odd = g_strdup ("7 (a) b ) c) R -1 -2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 -18 18446744073709551615");
	g_assert_cmpint (ns_stat_start_time (odd, strlen (odd), &ticks), ==, 0);
	g_assert_cmpuint (ticks, ==, G_MAXUINT64);
	g_free (odd);
	odd = g_strdup ("7 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 20");
	g_assert_cmpint (ns_stat_start_time (odd, strlen (odd), &ticks), ==, 0);
	g_assert_cmpuint (ticks, ==, 20);
}

static void
test_stat_start_time_malformed (void)
{
	static const char *const bad[] = {
		"",
		"7 a R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 20",
		/* a field short */
		"7 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 20",
		/* an empty field */
		"7 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16  18 20",
		"7 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -20",
		"7 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 2x0",
		"7 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 18446744073709551616",
		"7 (a) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 ",
	};

	for (size_t i = 0; i < G_N_ELEMENTS (bad); i++) {
		guint64 ticks = 12345;
		g_test_message ("stat: '%s'", bad[i]);
		g_assert_cmpint (ns_stat_start_time (bad[i], strlen (bad[i]), &ticks), ==, -EINVAL);
		g_assert_cmpuint (ticks, ==, 12345);
	}
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/proclist/children", test_children);
	g_test_add_func ("/proclist/children-malformed", test_children_malformed);
	g_test_add_func ("/proclist/stat-ppid", test_stat_ppid);
	g_test_add_func ("/proclist/stat-ppid-malformed", test_stat_ppid_malformed);
	g_test_add_func ("/proclist/stat-start-time", test_stat_start_time);
	g_test_add_func ("/proclist/stat-start-time-malformed", test_stat_start_time_malformed);
	return g_test_run ();
}
