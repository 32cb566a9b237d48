/* libFuzzer harness for common/job_settings.c (the first byte picks env,
 * cwd or user).  Invariants: what parses formats to text that parses to
 * the same value; a failure leaves the output alone and explains itself
 * in one line. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "job_settings.h"

FUZZ_INIT

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int codes[] = { EINVAL, E2BIG, 0 };
	const char *text = (const char *) data + 1;
	NsError err;
	int r;

	if (size == 0)
		return 0;
	size--;
	fuzz_poison_error (&err);
	switch (data[0] % 4) {
	case 3: {
		NsStdin in = { NS_STDIN_NULL, 7, 7 }, again;
		g_autofree char *back = NULL;
		r = ns_stdin_parse (text, size, &in, &err);
		if (r < 0) {
			fuzz_check_error (r, &err, codes, "stdin: ");
			FUZZ_CHECK (in.rows == 7);
			return 0;
		}
		back = ns_stdin_format (&in);
		FUZZ_CHECK (ns_stdin_parse (back, strlen (back), &again, NULL) == 0 && again.mode == in.mode);
		break;
	}
	case 0: {
		char *out = NULL;
		g_autofree char *again = NULL;
		char *const defaults[] = { "PATH=/bin", "TERM=dumb", NULL };
		r = ns_env_parse (text, size, &out, &err);
		if (r < 0) {
			fuzz_check_error (r, &err, codes, "env: ");
			FUZZ_CHECK (out == NULL);
			return 0;
		}
		FUZZ_CHECK (ns_env_parse (out, strlen (out), &again, NULL) == 0 && strcmp (out, again) == 0);
		{
			g_auto (GStrv) merged = ns_env_merge (defaults, out);
			for (char **m = merged; *m; m++)
				FUZZ_CHECK (strchr (*m, '=') != NULL);
		}
		g_free (out);
		break;
	}
	case 1: {
		char *out = NULL;
		g_autofree char *again = NULL;
		r = ns_cwd_parse (text, size, &out, &err);
		if (r < 0) {
			fuzz_check_error (r, &err, codes, "cwd: ");
			FUZZ_CHECK (out == NULL);
			return 0;
		}
		FUZZ_CHECK (out[0] == '\0' || out[0] == '/');
		FUZZ_CHECK (ns_cwd_parse (out, strlen (out), &again, NULL) == 0 && strcmp (out, again) == 0);
		g_free (out);
		break;
	}
	default: {
		NsJobUser u = { .uid = 7 }, again;
		g_autofree char *back = NULL;
		r = ns_user_parse (text, size, &u, &err);
		if (r < 0) {
			fuzz_check_error (r, &err, codes, "user: ");
			FUZZ_CHECK (u.uid == 7 && !u.set);
			return 0;
		}
		back = ns_user_format (&u);
		FUZZ_CHECK (ns_user_parse (back, strlen (back), &again, NULL) == 0);
		FUZZ_CHECK (again.set == u.set && (!u.set || (again.uid == u.uid && again.gid_set == u.gid_set)));
		break;
	}
	}
	return 0;
}
