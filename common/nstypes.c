#include "nstypes.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include <glib.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const NsType ns_types[NS_TYPE_COUNT] = {
	{ "cgroup", CLONE_NEWCGROUP },
	{ "ipc", CLONE_NEWIPC },
	{ "mnt", CLONE_NEWNS },
	{ "net", CLONE_NEWNET },
	{ "pid", CLONE_NEWPID },
	{ "time", CLONE_NEWTIME },
	{ "user", CLONE_NEWUSER },
	{ "uts", CLONE_NEWUTS },
};

unsigned long
ns_all_flags (void)
{
	unsigned long all = 0;
	for (size_t i = 0; i < NS_TYPE_COUNT; i++)
		all |= ns_types[i].flag;
	return all;
}

const NsType *
ns_type_by_name (const char *name)
{
	for (size_t i = 0; i < NS_TYPE_COUNT; i++)
		if (strcmp (ns_types[i].name, name) == 0)
			return &ns_types[i];
	return NULL;
}

int
ns_set_parse (char *const *words, size_t n, unsigned long *out, NsError *err)
{
	unsigned long set = 0;

	if (n == 0)
		return ns_error (err, EINVAL, "ns: no namespace type given (choose from cgroup ipc mnt net pid time user uts)");
	for (size_t i = 0; i < n; i++) {
		const NsType *t = ns_type_by_name (words[i]);
		if (!t)
			return ns_error (err, EINVAL, "ns: unknown namespace type '%.32s' (choose from cgroup ipc mnt net pid time user uts)", words[i]);
		if (set & t->flag)
			return ns_error (err, EINVAL, "ns: '%s' given twice", t->name);
		set |= t->flag;
	}
	*out = set;
	return 0;
}

char *
ns_set_format (unsigned long set)
{
	GString *s = g_string_new (NULL);
	for (size_t i = 0; i < NS_TYPE_COUNT; i++) {
		if (!(set & ns_types[i].flag))
			continue;
		if (s->len)
			g_string_append_c (s, ' ');
		g_string_append (s, ns_types[i].name);
	}
	return g_string_free (s, FALSE);
}
