#include "proclist.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* A decimal pid, 1 to INT_MAX, at TEXT[*pos]; leaves *pos after it. */
static bool
take_pid (const char *text, size_t len, size_t *pos, pid_t *pid)
{
	long long v = 0;
	size_t i = *pos;

	if (i >= len || !g_ascii_isdigit (text[i]) || text[i] == '0')
		return false;
	for (; i < len && g_ascii_isdigit (text[i]); i++) {
		v = v * 10 + (text[i] - '0');
		if (v > INT_MAX)
			return false;
	}
	*pos = i;
	*pid = (pid_t) v;
	return true;
}

int
ns_children_parse (const char *text, size_t len, GArray *pids)
{
	guint before = pids->len;
	size_t pos = 0;

	while (pos < len) {
		pid_t pid;
		if (!take_pid (text, len, &pos, &pid) || pos >= len || text[pos] != ' ') {
			g_array_set_size (pids, before);
			return -EINVAL;
		}
		pos++;
		g_array_append_val (pids, pid);
	}
	return 0;
}

int
ns_stat_ppid (const char *text, size_t len, pid_t *ppid)
{
	const char *close = NULL;
	size_t pos;
	pid_t v;

	/* The command ends at the last ')': it may contain ") ". */
	for (size_t i = 0; i < len; i++)
		if (text[i] == ')')
			close = text + i;
	if (!close)
		return -EINVAL;
	pos = (size_t) (close - text) + 1;
	/* ") S 123 ": a space, one state letter, a space, the parent. */
	if (pos + 3 > len || text[pos] != ' ' || !g_ascii_isalpha (text[pos + 1]) || text[pos + 2] != ' ')
		return -EINVAL;
	pos += 3;
	/* The parent of PID 1 and of kernel threads' root is 0. */
	if (pos < len && text[pos] == '0' && (pos + 1 == len || text[pos + 1] == ' ')) {
		*ppid = 0;
		return 0;
	}
	if (!take_pid (text, len, &pos, &v) || (pos < len && text[pos] != ' '))
		return -EINVAL;
	*ppid = v;
	return 0;
}
