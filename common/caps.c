#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/capability.h>

#include <glib.h>

#include "names.h"

uint64_t
ns_caps_all (void)
{
	return CAP_LAST_CAP >= 63 ? UINT64_MAX : ((uint64_t) 1 << (CAP_LAST_CAP + 1)) - 1;
}

int
ns_caps_parse (const char *text, size_t len, uint64_t *keep, NsError *err)
{
	g_autofree char *value = NULL;
	cap_t caps;
	uint64_t permitted = 0;
	int r;

	if ((r = ns_value_line (text, len, "caps", &value, err)) < 0)
		return r;
	g_strstrip (value);
	if (strcmp (value, "all") == 0) {
		*keep = ns_caps_all ();
		return 0;
	}
	if (strcmp (value, "none") == 0) {
		*keep = 0;
		return 0;
	}
	if (value[0] == '\0')
		return ns_error (err, EINVAL, "caps: empty (write all, none, or a set such as cap_net_bind_service=ep)");
	caps = cap_from_text (value);
	if (!caps)
		return ns_error (err, EINVAL, "caps: '%.64s' is not a capability set in libcap's text form", value);
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		cap_flag_value_t p = CAP_CLEAR, e = CAP_CLEAR;
		cap_get_flag (caps, c, CAP_PERMITTED, &p);
		cap_get_flag (caps, c, CAP_EFFECTIVE, &e);
		if (e == CAP_SET && p != CAP_SET) {
			char *name = cap_to_name (c);
			r = ns_error (err, EINVAL, "caps: %s is effective but not permitted (use =ep)", name);
			cap_free (name);
			cap_free (caps);
			return r;
		}
		if (p == CAP_SET)
			permitted |= (uint64_t) 1 << c;
	}
	cap_free (caps);
	*keep = permitted;
	return 0;
}

char *
ns_caps_format (uint64_t keep)
{
	cap_t caps;
	char *text, *out;

	if (keep == ns_caps_all ())
		return g_strdup ("all");
	if (keep == 0)
		return g_strdup ("none");
	caps = cap_init ();
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		if (!(keep & ((uint64_t) 1 << c)))
			continue;
		cap_set_flag (caps, CAP_PERMITTED, 1, &c, CAP_SET);
		cap_set_flag (caps, CAP_EFFECTIVE, 1, &c, CAP_SET);
	}
	text = cap_to_text (caps, NULL);
	out = g_strdup (text);
	cap_free (text);
	cap_free (caps);
	return out;
}
