/* libFuzzer harness for common/resource_limits.c (the first byte picks the file).
 * Invariants: what parses formats to text that parses to the same value;
 * a failed parse leaves the value alone and explains itself in one line;
 * every value has its v1 and v2 writes. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "resource_limits.h"

FUZZ_INIT

static void
check_writes (const NsLimits *l)
{
	for (int kind = NS_LIMIT_MEMORY; kind <= NS_LIMIT_CPU; kind++)
		for (int v1 = 0; v1 < 2; v1++) {
			NsCgroupWrite w[2];
			size_t n = ns_limit_writes (l, (NsLimitKind) kind, v1, w);
			FUZZ_CHECK (n >= 1 && n <= 2);
			for (size_t i = 0; i < n; i++) {
				FUZZ_CHECK (w[i].file && w[i].value && w[i].value[0]);
				g_free (w[i].value);
			}
		}
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	static const int codes[] = { EINVAL, 0 };
	const char *text = (const char *) data + 1;
	NsLimits l;
	NsError err;
	int r;

	if (size == 0)
		return 0;
	size--;
	ns_limits_default (&l);
	fuzz_poison_error (&err);
	switch (data[0] % 3) {
	case 0: {
		uint64_t v = 7, again;
		g_autofree char *back = NULL;
		r = ns_memory_max_parse (text, size, &v, &err);
		if (r < 0) {
			fuzz_check_error (r, &err, codes, "memory.max: ");
			FUZZ_CHECK (v == 7);
			return 0;
		}
		back = ns_limit_format (v);
		FUZZ_CHECK (ns_memory_max_parse (back, strlen (back), &again, NULL) == 0 && again == v);
		l.memory_max = v;
		break;
	}
	case 1: {
		uint64_t v = 7, again;
		g_autofree char *back = NULL;
		r = ns_pids_max_parse (text, size, &v, &err);
		if (r < 0) {
			fuzz_check_error (r, &err, codes, "pids.max: ");
			FUZZ_CHECK (v == 7);
			return 0;
		}
		back = ns_limit_format (v);
		FUZZ_CHECK (ns_pids_max_parse (back, strlen (back), &again, NULL) == 0 && again == v);
		l.pids_max = v;
		break;
	}
	default: {
		uint64_t q = 7, p = 7, q2, p2;
		g_autofree char *back = NULL;
		r = ns_cpu_max_parse (text, size, &q, &p, &err);
		if (r < 0) {
			fuzz_check_error (r, &err, codes, "cpu.max: ");
			FUZZ_CHECK (q == 7 && p == 7);
			return 0;
		}
		FUZZ_CHECK (p >= NS_CPU_PERIOD_MIN && p <= NS_CPU_PERIOD_MAX);
		back = ns_cpu_max_format (q, p);
		FUZZ_CHECK (ns_cpu_max_parse (back, strlen (back), &q2, &p2, NULL) == 0 && q2 == q && p2 == p);
		l.cpu_quota = q;
		l.cpu_period = p;
		break;
	}
	}
	check_writes (&l);
	return 0;
}
