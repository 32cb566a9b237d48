/* libFuzzer harness for common/proto.c (decode, and encode of what was
 * decoded).  Invariants: a packet decodes iff it is non-empty and ends in
 * NUL; it then has one field per NUL, and encoding the fields gives back
 * exactly the packet, which needs exactly its size. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "fuzz.h"
#include "proto.h"

FUZZ_INIT

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;
	g_auto (GStrv) v = ns_proto_decode (buf, size);
	g_autofree char *out = NULL;
	size_t nuls = 0;
	ssize_t n;

	if (size == 0 || buf[size - 1] != '\0') {
		FUZZ_CHECK (v == NULL);
		return 0;
	}
	FUZZ_CHECK (v != NULL);
	for (size_t i = 0; i < size; i++)
		nuls += buf[i] == '\0';
	FUZZ_CHECK (g_strv_length (v) == nuls);

	out = g_malloc (size + 1);
	out[size] = 'Z';
	n = ns_proto_encode (v, out, size + 1);
	FUZZ_CHECK (n == (ssize_t) size);
	FUZZ_CHECK (memcmp (out, buf, size) == 0);
	FUZZ_CHECK (out[size] == 'Z');
	FUZZ_CHECK (ns_proto_encode (v, out, size - 1) == -E2BIG);
	FUZZ_CHECK (ns_proto_encode (v, out, size) == (ssize_t) size);
	{
		g_auto (GStrv) again = ns_proto_decode (out, size);
		FUZZ_CHECK (g_strv_equal ((const char *const *) v, (const char *const *) again));
	}
	return 0;
}
