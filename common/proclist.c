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

/* Where the fields after the command start in a stat line: the command
 * ends at the last ')', since it may contain ") ". */
static bool
after_command (const char *text, size_t len, size_t *pos)
{
	const char *close = NULL;

	for (size_t i = 0; i < len; i++)
		if (text[i] == ')')
			close = text + i;
	if (!close)
		return false;
	*pos = (size_t) (close - text) + 1;
	return true;
}

int
ns_stat_ppid (const char *text, size_t len, pid_t *ppid)
{
	size_t pos;
	pid_t v;

	if (!after_command (text, len, &pos))
		return -EINVAL;
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

int
ns_stat_start_time (const char *text, size_t len, guint64 *ticks)
{
	guint64 v = 0;
	size_t pos;

	if (!after_command (text, len, &pos))
		return -EINVAL;
	/* Fields 3 to 21 (state to itrealvalue), each after one space; some
	 * are negative, none is empty. */
	for (int field = 3; field < 22; field++) {
		if (pos >= len || text[pos] != ' ')
			return -EINVAL;
		pos++;
		if (pos >= len || text[pos] == ' ')
			return -EINVAL;
		while (pos < len && text[pos] != ' ')
			pos++;
	}
	if (pos >= len || text[pos] != ' ')
		return -EINVAL;
	pos++;
	if (pos >= len || !g_ascii_isdigit (text[pos]))
		return -EINVAL;
	for (; pos < len && g_ascii_isdigit (text[pos]); pos++) {
		guint64 digit = (guint64) (text[pos] - '0');
		if (v > (G_MAXUINT64 - digit) / 10)
			return -EINVAL;
		v = v * 10 + digit;
	}
	if (pos < len && text[pos] != ' ' && text[pos] != '\n')
		return -EINVAL;
	*ticks = v;
	return 0;
}
