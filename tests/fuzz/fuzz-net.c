/* libFuzzer harness for common/net.c's `net` and `ports` parsers (the
 * first byte picks which).  Invariants: what parses formats to text that
 * parses to the same value and formats the same again; a failed parse
 * leaves its output alone and explains itself in one line. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "net.h"

FUZZ_INIT

static void
one_net (const char *data, size_t size)
{
	static const int codes[] = { EINVAL, 0 };
	NsNetSpec spec = { 9, 9, 9 }, ref = spec, again;
	g_autofree char *text = NULL, *text2 = NULL;
	NsError err;
	int r;

	fuzz_poison_error (&err);
	r = ns_net_parse (data, size, &spec, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, codes, NULL);
		FUZZ_CHECK (memcmp (&spec, &ref, sizeof spec) == 0);
		return;
	}
	FUZZ_CHECK (spec.mode == NS_NET_NONE || spec.mode == NS_NET_VETH);
	FUZZ_CHECK (spec.addr == 0 || (spec.prefix >= 8 && spec.prefix <= 30));
	text = ns_net_format (&spec);
	FUZZ_CHECK (ns_net_parse (text, strlen (text), &again, NULL) == 0);
	FUZZ_CHECK (memcmp (&spec, &again, sizeof spec) == 0);
	text2 = ns_net_format (&again);
	FUZZ_CHECK (strcmp (text, text2) == 0);
}

static void
one_ports (const char *data, size_t size)
{
	static const int codes[] = { EINVAL, E2BIG, 0 };
	g_autofree NsPortList *list = g_new (NsPortList, 1), *ref = g_new (NsPortList, 1);
	g_autofree NsPortList *again = g_new0 (NsPortList, 1);
	g_autofree char *text = NULL, *text2 = NULL;
	NsError err;
	int r;

	memset (list, 0xa5, sizeof *list);
	*ref = *list;
	fuzz_poison_error (&err);
	r = ns_ports_parse (data, size, list, &err);
	if (r < 0) {
		fuzz_check_error (r, &err, codes, NULL);
		FUZZ_CHECK (memcmp (list, ref, sizeof *list) == 0);
		FUZZ_CHECK (strncmp (err.msg, "ports: ", 7) == 0);
		return;
	}
	FUZZ_CHECK (list->n <= NS_PORTS_MAX);
	for (size_t i = 0; i < list->n; i++) {
		FUZZ_CHECK (list->p[i].host_port && list->p[i].sandbox_port);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK (list->p[j].proto != list->p[i].proto || list->p[j].host_port != list->p[i].host_port);
	}
	text = ns_ports_format (list);
	FUZZ_CHECK (ns_ports_parse (text, strlen (text), again, NULL) == 0);
	FUZZ_CHECK (again->n == list->n);
	text2 = ns_ports_format (again);
	FUZZ_CHECK (strcmp (text, text2) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		one_ports ((const char *) data + 1, size - 1);
	else
		one_net ((const char *) data + 1, size - 1);
	return 0;
}
