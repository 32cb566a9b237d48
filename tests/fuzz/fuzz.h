/* Shared by the libFuzzer harnesses and the plain-C replay driver. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

/* Each harness says FUZZ_INIT once: glib's slice allocator would hide
 * heap errors from AddressSanitizer. */
#define FUZZ_INIT \
	int \
	LLVMFuzzerInitialize (int *argc, char ***argv) \
	{ \
		setenv ("G_SLICE", "always-malloc", 0); \
		return 0; \
	}

/* An invariant that must hold for every input, with or without NDEBUG. */
#define FUZZ_CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf (stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort (); \
		} \
	} while (0)

/* An NsError that shows whether a parser touched it. */
static inline void
fuzz_poison_error (NsError *err)
{
	err->code = 12345;
	memset (err->msg, 'X', sizeof err->msg - 1);
	err->msg[sizeof err->msg - 1] = '\0';
}

static inline int
fuzz_error_untouched (const NsError *err)
{
	NsError ref;
	fuzz_poison_error (&ref);
	return memcmp (err, &ref, sizeof ref) == 0;
}

/* R came back with ERR filled in: R is -CODE for one of the codes in
 * ALLOWED (0-terminated), and the message is one non-empty line that
 * starts with PREFIX (or anything when PREFIX is NULL). */
static inline void
fuzz_check_error (long r, const NsError *err, const int *allowed, const char *prefix)
{
	int ok = 0;

	for (const int *a = allowed; *a; a++)
		ok |= err->code == *a;
	if (!ok) {
		fprintf (stderr, "unexpected error code %d (%s)\n", err->code, err->msg);
		abort ();
	}
	FUZZ_CHECK (r == -err->code);
	FUZZ_CHECK (memchr (err->msg, '\0', sizeof err->msg) != NULL);
	FUZZ_CHECK (err->msg[0] != '\0');
	FUZZ_CHECK (strchr (err->msg, '\n') == NULL);
	FUZZ_CHECK (strchr (err->msg, '\r') == NULL);
	FUZZ_CHECK (!prefix || strncmp (err->msg, prefix, strlen (prefix)) == 0);
}
