/* libFuzzer harness for common/names.c: the input as a sandbox name, as a
 * written value (ns_value_line), and that value as a hostname and a rootfs
 * path.  Each check is compared with a plain restatement of its rule. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "names.h"

FUZZ_INIT

static bool
ref_name_valid (const char *s, size_t len)
{
	if (len < 1 || len > NS_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!g_ascii_isalnum (s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static void
check_hostname (const char *h)
{
	static const int einval[] = { EINVAL, 0 };
	size_t len = strlen (h);
	bool ok = len >= 1 && len <= NS_HOSTNAME_MAX;
	NsError err;
	int r;

	for (size_t i = 0; ok && i < len; i++)
		ok = g_ascii_isalnum (h[i]) || h[i] == '-' || h[i] == '.';
	fuzz_poison_error (&err);
	r = ns_hostname_check (h, &err);
	if (ok) {
		FUZZ_CHECK (r == 0);
		FUZZ_CHECK (fuzz_error_untouched (&err));
	} else {
		fuzz_check_error (r, &err, einval, "hostname: ");
	}
}

static void
check_rootfs (const char *p)
{
	static const int codes[] = { EINVAL, E2BIG, 0 };
	size_t len = strlen (p);
	NsError err;
	int r;

	fuzz_poison_error (&err);
	r = ns_rootfs_path_check (p, &err);
	if (r == 0) {
		FUZZ_CHECK (fuzz_error_untouched (&err));
		FUZZ_CHECK (len == 0 || (p[0] == '/' && len <= NS_PATH_MAX));
	} else {
		fuzz_check_error (r, &err, codes, "rootfs: ");
		FUZZ_CHECK (len > 0);
		if (len > NS_PATH_MAX)
			FUZZ_CHECK (r == -E2BIG);
		else if (p[0] != '/')
			FUZZ_CHECK (r == -EINVAL);
		/* An absolute path of allowed length may still be refused for a
		 * newline (names.h): nothing more to check here. */
	}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int einval[] = { EINVAL, 0 };
	static char untouched[] = "untouched";
	const char *buf = (const char *) data;
	size_t len = size;
	char *out = untouched;
	bool line_ok;
	NsError err;
	int r;

	FUZZ_CHECK (ns_name_valid (buf, size) == ref_name_valid (buf, size));

	if (len > 0 && buf[len - 1] == '\n')
		len--;
	line_ok = !memchr (buf, '\0', len) && !memchr (buf, '\n', len);
	fuzz_poison_error (&err);
	r = ns_value_line (buf, size, "hostname", &out, &err);
	if (!line_ok) {
		fuzz_check_error (r, &err, einval, "hostname: ");
		FUZZ_CHECK (out == untouched);
	} else {
		FUZZ_CHECK (r == 0);
		FUZZ_CHECK (fuzz_error_untouched (&err));
		FUZZ_CHECK (out != untouched && strlen (out) == len && memcmp (out, buf, len) == 0);
		check_hostname (out);
		check_rootfs (out);
		g_free (out);
	}

	/* The raw bytes up to the first NUL, newlines and all. */
	{
		g_autofree char *raw = g_strndup (buf, size);
		check_hostname (raw);
		check_rootfs (raw);
	}
	return 0;
}
