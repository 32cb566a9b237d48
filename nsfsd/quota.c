/* Per-uid counts of what each user holds, against the limits nsfsd was
 * given (--max-requests-per-user, --max-open-files-per-user,
 * --max-blocked-reads-per-user). */
#include "quota.h"

#include <errno.h>

#include <glib.h>

typedef struct {
	const char *what;
	const char *option;
	int code;
} QuotaInfo;

static const QuotaInfo info[QUOTA_KINDS] = {
	[QUOTA_REQUESTS] = { "writes waiting on their sandboxes", "--max-requests-per-user", EAGAIN },
	[QUOTA_HANDLES] = { "files open on nsfsd", "--max-open-files-per-user", EMFILE },
	[QUOTA_READERS] = { "reads blocked in wait", "--max-blocked-reads-per-user", EAGAIN },
};

static GMutex lock;
static unsigned limits[QUOTA_KINDS] = { 256, 4096, 1024 };
static GHashTable *held[QUOTA_KINDS]; /* uid -> count */

void
quota_set_limit (QuotaKind kind, unsigned limit)
{
	limits[kind] = limit;
}

unsigned
quota_held (QuotaKind kind, uid_t uid)
{
	unsigned n;

	g_mutex_lock (&lock);
	n = held[kind] ? GPOINTER_TO_UINT (g_hash_table_lookup (held[kind], GUINT_TO_POINTER (uid))) : 0;
	g_mutex_unlock (&lock);
	return n;
}

int
quota_take (QuotaKind kind, uid_t uid, NsError *err)
{
	unsigned n;

	if (uid == 0)
		return 0;
	g_mutex_lock (&lock);
	if (!held[kind])
		held[kind] = g_hash_table_new (g_direct_hash, g_direct_equal);
	n = GPOINTER_TO_UINT (g_hash_table_lookup (held[kind], GUINT_TO_POINTER (uid)));
	if (limits[kind] && n >= limits[kind]) {
		g_mutex_unlock (&lock);
		return ns_error (err, info[kind].code, "uid %u has %u %s already (%s)", (unsigned) uid, n, info[kind].what,
		                 info[kind].option);
	}
	g_hash_table_insert (held[kind], GUINT_TO_POINTER (uid), GUINT_TO_POINTER (n + 1));
	g_mutex_unlock (&lock);
	return 0;
}

void
quota_give (QuotaKind kind, uid_t uid)
{
	unsigned n;

	if (uid == 0)
		return;
	g_mutex_lock (&lock);
	n = held[kind] ? GPOINTER_TO_UINT (g_hash_table_lookup (held[kind], GUINT_TO_POINTER (uid))) : 0;
	if (n > 1)
		g_hash_table_insert (held[kind], GUINT_TO_POINTER (uid), GUINT_TO_POINTER (n - 1));
	else if (n == 1)
		g_hash_table_remove (held[kind], GUINT_TO_POINTER (uid));
	g_mutex_unlock (&lock);
}
