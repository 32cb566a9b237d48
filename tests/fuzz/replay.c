/* Replay inputs through a libFuzzer harness without libFuzzer: each file
 * named on the command line, and each file in each directory named there,
 * goes once to LLVMFuzzerTestOneInput.  Builds with any C compiler, so the
 * harnesses are compiled and their seed corpora run in every build. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#pragma weak LLVMFuzzerInitialize

static int
replay_file (const char *path)
{
	FILE *f = fopen (path, "rb");
	unsigned char *buf = NULL;
	size_t size = 0, cap = 0, n;

	if (!f) {
		fprintf (stderr, "%s: %s\n", path, strerror (errno));
		return -1;
	}
	for (;;) {
		if (size == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc (buf, cap);
			if (!buf)
				abort ();
		}
		n = fread (buf + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror (f)) {
		fprintf (stderr, "%s: read error\n", path);
		fclose (f);
		free (buf);
		return -1;
	}
	fclose (f);
	/* An exact-size copy, so a read past the end is caught by ASan. */
	{
		unsigned char *exact = malloc (size ? size : 1);
		if (!exact)
			abort ();
		memcpy (exact, buf, size);
		free (buf);
		fprintf (stderr, "replay %s (%zu bytes)\n", path, size);
		LLVMFuzzerTestOneInput (exact, size);
		free (exact);
	}
	return 0;
}

static int
skip_entry (const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static long
replay_path (const char *path)
{
	struct dirent **list;
	struct stat st;
	long count = 0;
	int n;

	if (stat (path, &st) < 0) {
		fprintf (stderr, "%s: %s\n", path, strerror (errno));
		return -1;
	}
	if (!S_ISDIR (st.st_mode))
		return replay_file (path) < 0 ? -1 : 1;
	n = scandir (path, &list, skip_entry, alphasort);
	if (n < 0) {
		fprintf (stderr, "%s: %s\n", path, strerror (errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen (path) + strlen (list[i]->d_name) + 2;
		char *child = malloc (len);

		if (!child)
			abort ();
		snprintf (child, len, "%s/%s", path, list[i]->d_name);
		if (stat (child, &st) == 0 && S_ISREG (st.st_mode)) {
			if (replay_file (child) < 0)
				count = -1;
			else if (count >= 0)
				count++;
		}
		free (child);
		free (list[i]);
	}
	free (list);
	return count;
}

int
main (int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf (stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize (&argc, &argv);
	for (int i = 1; i < argc; i++) {
		long n = replay_path (argv[i]);
		if (n < 0)
			return 1;
		total += n;
	}
	printf ("replayed %ld inputs\n", total);
	/* An empty corpus would test nothing: treat it as a failure. */
	return total > 0 ? 0 : 1;
}
