/* ns_caps_parse: never crashes; what it accepts formats to text it reads
 * back as the same set; on error the output is untouched and the message
 * is one line. */
#include <string.h>

#include <glib.h>

#include "caps.h"
#include "fuzz.h"

FUZZ_INIT

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	uint64_t keep = 0x5a5a, again = 0;
	NsError err;
	int r;

	memset (&err, 0, sizeof err);
	r = ns_caps_parse ((const char *) data, size, &keep, &err);
	if (r < 0) {
		FUZZ_CHECK (keep == 0x5a5a);
		FUZZ_CHECK (err.code == -r);
		FUZZ_CHECK (strchr (err.msg, '\n') == NULL);
		return 0;
	}
	FUZZ_CHECK ((keep & ~ns_caps_all ()) == 0);
	{
		g_autofree char *text = ns_caps_format (keep);
		FUZZ_CHECK (ns_caps_parse (text, strlen (text), &again, NULL) == 0);
		FUZZ_CHECK (again == keep);
	}
	return 0;
}
