#include "resource_limits.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "names.h"
#include "words.h"

void
ns_limits_default (NsLimits *l)
{
	*l = (NsLimits) { NS_LIMIT_MAX, NS_LIMIT_MAX, NS_LIMIT_MAX, NS_CPU_PERIOD_DEFAULT };
}

/* TEXT (LEN bytes, an optional newline) as its words; EINVAL for NUL
 * bytes or more than one line. */
static int
words_of (const char *what, const char *text, size_t len, char ***words, size_t *n, NsError *err)
{
	g_autofree char *copy = NULL;
	int r;

	if ((r = ns_value_line (text, len, what, &copy, err)) < 0)
		return r;
	*words = ns_words_split (copy, n);
	return 0;
}

/* Decimal digits, no sign; false on overflow or anything else. */
static bool
parse_u64 (const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (!g_ascii_isdigit (*s) || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t) (*s - '0');
	}
	*out = v;
	return true;
}

int
ns_memory_max_parse (const char *text, size_t len, uint64_t *out, NsError *err)
{
	g_auto (GStrv) words = NULL;
	g_autofree char *digits = NULL;
	unsigned shift = 0;
	size_t n, dlen;
	uint64_t v;
	int r;

	if ((r = words_of ("memory.max", text, len, &words, &n, err)) < 0)
		return r;
	if (n != 1)
		return ns_error (err, EINVAL, "memory.max: one value: bytes (k, m, g suffixes) or max");
	if (strcmp (words[0], "max") == 0) {
		*out = NS_LIMIT_MAX;
		return 0;
	}
	dlen = strlen (words[0]);
	switch (words[0][dlen - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	}
	digits = g_strndup (words[0], shift ? dlen - 1 : dlen);
	if (!parse_u64 (digits, &v))
		return ns_error (err, EINVAL, "memory.max: '%.32s' is not bytes (k, m, g suffixes) or max", words[0]);
	if (shift && v > (UINT64_MAX >> shift))
		return ns_error (err, EINVAL, "memory.max: '%.32s' is too large", words[0]);
	v <<= shift;
	/* The kernel's own ceiling (PAGE_COUNTER_MAX pages) is far above
	 * anything real; a value it cannot hold is refused here. */
	if (v >= (UINT64_C (1) << 62))
		return ns_error (err, EINVAL, "memory.max: '%.32s' is too large (use max)", words[0]);
	*out = v;
	return 0;
}

int
ns_pids_max_parse (const char *text, size_t len, uint64_t *out, NsError *err)
{
	g_auto (GStrv) words = NULL;
	size_t n;
	uint64_t v;
	int r;

	if ((r = words_of ("pids.max", text, len, &words, &n, err)) < 0)
		return r;
	if (n != 1)
		return ns_error (err, EINVAL, "pids.max: one value: a count or max");
	if (strcmp (words[0], "max") == 0) {
		*out = NS_LIMIT_MAX;
		return 0;
	}
	/* PID_MAX_LIMIT is 2^22; pids.max takes up to INT_MAX. */
	if (!parse_u64 (words[0], &v) || v > INT32_MAX)
		return ns_error (err, EINVAL, "pids.max: '%.32s' is not a count (0 to 2147483647) or max", words[0]);
	*out = v;
	return 0;
}

int
ns_cpu_max_parse (const char *text, size_t len, uint64_t *quota, uint64_t *period, NsError *err)
{
	g_auto (GStrv) words = NULL;
	uint64_t q = NS_LIMIT_MAX, p = NS_CPU_PERIOD_DEFAULT;
	size_t n;
	int r;

	if ((r = words_of ("cpu.max", text, len, &words, &n, err)) < 0)
		return r;
	if (n < 1 || n > 2)
		return ns_error (err, EINVAL, "cpu.max: QUOTA PERIOD or max [PERIOD], in microseconds");
	if (strcmp (words[0], "max") != 0) {
		if (n != 2)
			return ns_error (err, EINVAL, "cpu.max: a quota needs its period (QUOTA PERIOD)");
		if (!parse_u64 (words[0], &q) || q < NS_CPU_QUOTA_MIN || q > INT64_MAX / 1000)
			return ns_error (err, EINVAL, "cpu.max: quota '%.32s' is not a number of microseconds from %d", words[0],
			                 NS_CPU_QUOTA_MIN);
	}
	if (n == 2 && (!parse_u64 (words[1], &p) || p < NS_CPU_PERIOD_MIN || p > NS_CPU_PERIOD_MAX))
		return ns_error (err, EINVAL, "cpu.max: period '%.32s' is not a number of microseconds from %d to %d",
		                 words[1], NS_CPU_PERIOD_MIN, NS_CPU_PERIOD_MAX);
	*quota = q;
	*period = p;
	return 0;
}

char *
ns_limit_format (uint64_t v)
{
	return v == NS_LIMIT_MAX ? g_strdup ("max") : g_strdup_printf ("%" G_GUINT64_FORMAT, v);
}

char *
ns_cpu_max_format (uint64_t quota, uint64_t period)
{
	g_autofree char *q = ns_limit_format (quota);
	return g_strdup_printf ("%s %" G_GUINT64_FORMAT, q, period);
}

/* The v1 spelling of "no limit" in files that take a signed number. */
static char *
v1_signed (uint64_t v)
{
	return v == NS_LIMIT_MAX ? g_strdup ("-1") : g_strdup_printf ("%" G_GUINT64_FORMAT, v);
}

size_t
ns_limit_writes (const NsLimits *l, NsLimitKind kind, bool v1, NsCgroupWrite out[2])
{
	switch (kind) {
	case NS_LIMIT_MEMORY:
		out[0] = v1 ? (NsCgroupWrite) { "memory.limit_in_bytes", v1_signed (l->memory_max) }
		            : (NsCgroupWrite) { "memory.max", ns_limit_format (l->memory_max) };
		return 1;
	case NS_LIMIT_PIDS:
		out[0] = (NsCgroupWrite) { "pids.max", ns_limit_format (l->pids_max) };
		return 1;
	case NS_LIMIT_CPU:
		if (!v1) {
			out[0] = (NsCgroupWrite) { "cpu.max", ns_cpu_max_format (l->cpu_quota, l->cpu_period) };
			return 1;
		}
		/* The period first: a quota is checked against it. */
		out[0] = (NsCgroupWrite) { "cpu.cfs_period_us", g_strdup_printf ("%" G_GUINT64_FORMAT, l->cpu_period) };
		out[1] = (NsCgroupWrite) { "cpu.cfs_quota_us", v1_signed (l->cpu_quota) };
		return 2;
	}
	return 0;
}

bool
ns_limits_are_default (const NsLimits *l)
{
	NsLimits d;

	ns_limits_default (&d);
	return l->memory_max == d.memory_max && l->pids_max == d.pids_max && l->cpu_quota == d.cpu_quota &&
	       l->cpu_period == d.cpu_period;
}

bool
ns_limit_is_unlimited (const NsLimits *l, NsLimitKind kind)
{
	switch (kind) {
	case NS_LIMIT_MEMORY: return l->memory_max == NS_LIMIT_MAX;
	case NS_LIMIT_PIDS: return l->pids_max == NS_LIMIT_MAX;
	case NS_LIMIT_CPU: return l->cpu_quota == NS_LIMIT_MAX;
	}
	return true;
}
