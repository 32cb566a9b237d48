#include "ctl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "nstypes.h"
#include "signames.h"
#include "words.h"

typedef struct {
	const char *name;
	NsCtlVerb verb;
	size_t min_args, max_args;
	const char *usage;
} CtlSyntax;

static const CtlSyntax ctl_table[] = {
	{ "ns", NS_CTL_NS, 1, NS_TYPE_COUNT, "ns TYPE..." },
	{ "start", NS_CTL_START, 0, 0, "start" },
	{ "stop", NS_CTL_STOP, 0, 0, "stop" },
	{ "kill", NS_CTL_KILL, 0, 1, "kill [SIGNAL]" },
	{ "pin", NS_CTL_PIN, 0, 0, "pin" },
	{ "unpin", NS_CTL_UNPIN, 0, 0, "unpin" },
};

static const CtlSyntax *
lookup_verb (const char *word)
{
	for (size_t i = 0; i < G_N_ELEMENTS (ctl_table); i++)
		if (strcmp (ctl_table[i].name, word) == 0)
			return &ctl_table[i];
	return NULL;
}

static int
parse_one (char **words, size_t nwords, NsCtlCmd *cmd, NsError *err)
{
	const CtlSyntax *syn = lookup_verb (words[0]);
	size_t nargs = nwords - 1;

	if (!syn)
		return ns_error (err, EINVAL, "unknown directive '%.32s' (known: ns, start, stop, kill, pin, unpin)", words[0]);
	if (nargs < syn->min_args || nargs > syn->max_args)
		return ns_error (err, EINVAL, "%s: wrong number of arguments (usage: %s)", syn->name, syn->usage);
	memset (cmd, 0, sizeof *cmd);
	cmd->verb = syn->verb;
	switch (syn->verb) {
	case NS_CTL_NS:
		return ns_set_parse (words + 1, nargs, &cmd->ns_set, err);
	case NS_CTL_KILL:
		cmd->signo = SIGKILL;
		return nargs ? ns_signal_parse (words[1], &cmd->signo, err) : 0;
	case NS_CTL_START:
	case NS_CTL_STOP:
	case NS_CTL_PIN:
	case NS_CTL_UNPIN:
		return 0;
	}
	return 0;
}

void
ns_ctl_error_at (NsError *err, size_t line)
{
	char where[32];

	snprintf (where, sizeof where, "line %zu", line);
	ns_error_prefix (err, where);
}

int
ns_ctl_parse (const char *text, size_t len, NsCtlScript *script, NsError *err)
{
	g_autofree char *copy = NULL;
	g_auto (GStrv) lines = NULL;
	NsCtlScript tmp = { 0 };
	size_t lineno = 0;

	if (memchr (text, '\0', len))
		return ns_error (err, EINVAL, "contains a NUL byte");
	copy = g_strndup (text, len);
	lines = g_strsplit (copy, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_auto (GStrv) words = NULL;
		size_t nwords;
		int r;

		lineno++;
		words = ns_words_split (*l, &nwords);
		if (nwords == 0)
			continue;
		if (tmp.n == NS_CTL_MAX_CMDS)
			return ns_error (err, E2BIG, "more than %d directives in one write", NS_CTL_MAX_CMDS);
		r = parse_one (words, nwords, &tmp.cmd[tmp.n], err);
		if (r < 0) {
			ns_ctl_error_at (err, lineno);
			return r;
		}
		tmp.cmd[tmp.n++].line = lineno;
	}
	if (tmp.n == 0)
		return ns_error (err, EINVAL, "no directive (known: ns, start, stop, kill, pin, unpin)");
	*script = tmp;
	return 0;
}
