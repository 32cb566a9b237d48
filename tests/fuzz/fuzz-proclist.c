/* libFuzzer harness for common/proclist.c.  Invariants: a children text
 * that parses is exactly its pids printed back, each with one space, and
 * one that does not leaves the array as it was; a stat line that parses
 * has, after its last ')', the state letter and the parent as printed;
 * a start time that parses is the 22nd field printed back. */
#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include <glib.h>

#include "fuzz.h"
#include "proclist.h"

FUZZ_INIT

static void
check_children (const char *text, size_t size)
{
	g_autoptr (GArray) pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
	g_autoptr (GString) back = g_string_new (NULL);
	pid_t first = 42;
	int r;

	g_array_append_val (pids, first);
	r = ns_children_parse (text, size, pids);
	if (r < 0) {
		FUZZ_CHECK (r == -EINVAL);
		FUZZ_CHECK (pids->len == 1 && g_array_index (pids, pid_t, 0) == 42);
		return;
	}
	FUZZ_CHECK (r == 0);
	for (guint i = 1; i < pids->len; i++) {
		FUZZ_CHECK (g_array_index (pids, pid_t, i) > 0);
		g_string_append_printf (back, "%d ", g_array_index (pids, pid_t, i));
	}
	FUZZ_CHECK (back->len == size && memcmp (back->str, text, size) == 0);
}

static void
check_stat (const char *text, size_t size)
{
	const char *close = NULL;
	pid_t ppid = -12345;
	char want[32];
	int r = ns_stat_ppid (text, size, &ppid);

	if (r < 0) {
		FUZZ_CHECK (r == -EINVAL);
		FUZZ_CHECK (ppid == -12345);
		return;
	}
	FUZZ_CHECK (r == 0 && ppid >= 0);
	for (size_t i = 0; i < size; i++)
		if (text[i] == ')')
			close = text + i;
	FUZZ_CHECK (close != NULL);
	snprintf (want, sizeof want, " %c %d", close[2], ppid);
	FUZZ_CHECK ((size_t) (text + size - close - 1) >= strlen (want));
	FUZZ_CHECK (memcmp (close + 1, want, strlen (want)) == 0);
}

static void
check_start_time (const char *text, size_t size)
{
	guint64 ticks = 12345;
	const char *close = NULL, *p, *end = text + size;
	g_autofree char *digits = NULL;
	int r = ns_stat_start_time (text, size, &ticks);
	int spaces = 0;

	if (r < 0) {
		FUZZ_CHECK (r == -EINVAL && ticks == 12345);
		return;
	}
	FUZZ_CHECK (r == 0);
	for (size_t i = 0; i < size; i++)
		if (text[i] == ')')
			close = text + i;
	FUZZ_CHECK (close != NULL);
	/* The 22nd field starts after the 20th space past the command. */
	for (p = close + 1; p < end && spaces < 20; p++)
		if (*p == ' ')
			spaces++;
	FUZZ_CHECK (spaces == 20 && p < end);
	digits = g_strndup (p, (gsize) (end - p));
	FUZZ_CHECK (g_ascii_strtoull (digits, NULL, 10) == ticks);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	check_children ((const char *) data, size);
	check_stat ((const char *) data, size);
	check_start_time ((const char *) data, size);
	return 0;
}
