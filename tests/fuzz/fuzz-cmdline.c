/* libFuzzer harness for common/cmdline.c.  Invariants: a line that splits
 * gives a non-empty program name, and its words, each shell-quoted and
 * joined by spaces, split back to the same words; a line that does not
 * split leaves *argv alone and says why in one line.  The line as
 * ns_cmdline_strip shows it (a job's `cmd`) is no longer than the write
 * and starts and ends with no blank but an escaped one. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "cmdline.h"
#include "fuzz.h"

FUZZ_INIT

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int einval[] = { EINVAL, 0 };
	char **sentinel = (char **) &sentinel;
	char **argv = sentinel;
	g_auto (GStrv) again = NULL;
	g_autofree char *stripped = g_strndup ((const char *) data, size);
	g_autoptr (GString) quoted = g_string_new (NULL);
	NsError err;
	int r;

	fuzz_poison_error (&err);
	r = ns_cmdline_parse ((const char *) data, size, &argv, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, einval, "exec: ");
		FUZZ_CHECK (argv == sentinel);
		return 0;
	}
	FUZZ_CHECK (r == 0);
	FUZZ_CHECK (fuzz_error_untouched (&err));
	FUZZ_CHECK (argv != sentinel && argv != NULL);
	FUZZ_CHECK (argv[0] != NULL && argv[0][0] != '\0');

	for (char **a = argv; *a; a++) {
		g_autofree char *q = g_shell_quote (*a);
		if (a != argv)
			g_string_append_c (quoted, ' ');
		g_string_append (quoted, q);
	}
	FUZZ_CHECK (ns_cmdline_parse (quoted->str, quoted->len, &again, NULL) == 0);
	FUZZ_CHECK (g_strv_equal ((const char *const *) argv, (const char *const *) again));
	/* A NUL stops g_strndup's copy; the parser refused those already. */
	ns_cmdline_strip (stripped);
	FUZZ_CHECK (strlen (stripped) <= size);
	FUZZ_CHECK (stripped[0] != '\0' && !g_ascii_isspace (stripped[0]));
	if (g_ascii_isspace (stripped[strlen (stripped) - 1]))
		FUZZ_CHECK (strlen (stripped) >= 2 && stripped[strlen (stripped) - 2] == '\\');
	g_strfreev (argv);
	return 0;
}
