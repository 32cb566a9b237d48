#include "words.h"

#include <glib.h>

char **
ns_words_split (char *line, size_t *n)
{
	char **words;

	g_strdelimit (line, "\t\r", ' ');
	words = g_strsplit (g_strstrip (line), " ", -1);
	/* g_strsplit leaves empty words between repeated blanks. */
	*n = 0;
	for (size_t i = 0; words[i]; i++)
		if (*words[i])
			words[(*n)++] = words[i];
		else
			g_free (words[i]);
	words[*n] = NULL;
	return words;
}
