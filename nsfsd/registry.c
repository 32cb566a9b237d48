/* The registry of sandboxes: by name and by serial, listed in creation
 * order, and mkdir's reservation of a name while its supervisor starts. */
#include "resources.h"
#include "sandbox_private.h"

#include "events.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "supervisor_client.h"

static GMutex registry_lock;
static GHashTable *by_name;    /* name -> Sandbox* (the registry's reference) */
static GHashTable *by_serial;  /* serial -> Sandbox* (borrowed) */
/* Sandbox* (borrowed) in serial order: serials only grow, so a new one
 * goes at the end, and a listing from an offset starts by bisection. */
static GPtrArray *in_order;
static struct timespec changed_at; /* the root's mtime: last mkdir or rmdir */
static GHashTable *reserved;   /* names being created -> owner uid */
static uint32_t next_serial = 1;
static SandboxLimits limits = SANDBOX_DEFAULT_LIMITS;

void
sandbox_set_limits (const SandboxLimits *l)
{
	limits = *l;
}

const SandboxLimits *
sandbox_limits (void)
{
	return &limits;
}

/* Call with registry_lock held. */
static guint
count_owned_by (uid_t uid)
{
	GHashTableIter it;
	gpointer value;
	guint n = 0;

	g_hash_table_iter_init (&it, by_name);
	while (g_hash_table_iter_next (&it, NULL, &value))
		n += ((Sandbox *) value)->owner == uid;
	g_hash_table_iter_init (&it, reserved);
	while (g_hash_table_iter_next (&it, NULL, &value))
		n += GPOINTER_TO_UINT (value) == uid;
	return n;
}

void
sandbox_registry_init (void)
{
	by_name = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) sandbox_unref);
	by_serial = g_hash_table_new (g_direct_hash, g_direct_equal);
	in_order = g_ptr_array_new ();
	reserved = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
	clock_gettime (CLOCK_REALTIME, &changed_at);
}

void
sandbox_registry_shutdown (void)
{
	g_autoptr (GPtrArray) list = sandbox_list ();

	for (guint i = 0; i < list->len; i++) {
		Sandbox *sb = list->pdata[i];
		g_mutex_lock (&sb->lock);
		sb->removed = true;
		g_mutex_unlock (&sb->lock);
		sandbox_let_go_of_supervisors (sb);
	}
	g_mutex_lock (&registry_lock);
	g_hash_table_destroy (by_serial);
	g_ptr_array_unref (in_order);
	in_order = NULL;
	g_hash_table_destroy (by_name);
	g_hash_table_destroy (reserved);
	by_serial = by_name = reserved = NULL;
	g_mutex_unlock (&registry_lock);
}

/* The index in in_order of the first sandbox whose serial is above
 * SERIAL; registry_lock held. */
static guint
first_after_locked (uint32_t serial)
{
	guint lo = 0, hi = in_order->len;

	while (lo < hi) {
		guint mid = lo + (hi - lo) / 2;
		if (((Sandbox *) in_order->pdata[mid])->serial <= serial)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
register_locked (Sandbox *sb)
{
	sb->serial = next_serial++;
	g_hash_table_insert (by_name, sb->name, sb);
	g_hash_table_insert (by_serial, GUINT_TO_POINTER (sb->serial), sb);
	g_ptr_array_add (in_order, sb);
	clock_gettime (CLOCK_REALTIME, &changed_at);
}

void
sandbox_register (Sandbox *sb)
{
	g_mutex_lock (&registry_lock);
	register_locked (sb);
	g_mutex_unlock (&registry_lock);
}

void
sandbox_unregister (Sandbox *sb)
{
	g_mutex_lock (&registry_lock);
	if (by_name && g_hash_table_lookup (by_name, sb->name) == sb) {
		guint i = first_after_locked (sb->serial - 1);
		if (i < in_order->len && in_order->pdata[i] == sb)
			g_ptr_array_remove_index (in_order, i);
		else
			g_ptr_array_remove (in_order, sb);  /* never left behind, freed */
		g_hash_table_remove (by_serial, GUINT_TO_POINTER (sb->serial));
		g_hash_table_remove (by_name, sb->name);
		clock_gettime (CLOCK_REALTIME, &changed_at);
	}
	g_mutex_unlock (&registry_lock);
}

void
sandbox_registry_changed_at (struct timespec *when)
{
	g_mutex_lock (&registry_lock);
	*when = changed_at;
	g_mutex_unlock (&registry_lock);
}

Sandbox *
sandbox_lookup (const char *name)
{
	Sandbox *sb;

	g_mutex_lock (&registry_lock);
	sb = g_hash_table_lookup (by_name, name);
	if (sb)
		sandbox_ref (sb);
	g_mutex_unlock (&registry_lock);
	return sb;
}

Sandbox *
sandbox_by_serial (uint32_t serial)
{
	Sandbox *sb;

	g_mutex_lock (&registry_lock);
	sb = g_hash_table_lookup (by_serial, GUINT_TO_POINTER (serial));
	if (sb)
		sandbox_ref (sb);
	g_mutex_unlock (&registry_lock);
	return sb;
}

guint
sandbox_count (void)
{
	guint n;
	g_mutex_lock (&registry_lock);
	n = by_name ? g_hash_table_size (by_name) : 0;
	g_mutex_unlock (&registry_lock);
	return n;
}

GPtrArray *
sandbox_list_after (uint32_t serial, guint max)
{
	GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) sandbox_unref);

	g_mutex_lock (&registry_lock);
	for (guint i = first_after_locked (serial); i < in_order->len && list->len < max; i++)
		g_ptr_array_add (list, sandbox_ref (in_order->pdata[i]));
	g_mutex_unlock (&registry_lock);
	return list;
}

GPtrArray *
sandbox_list (void)
{
	return sandbox_list_after (0, G_MAXUINT);
}

/* A new sandbox with its own fresh supervisor, not yet registered. */
static Sandbox *
create_fresh (const char *name, uid_t uid, gid_t gid, NsError *err)
{
	g_autofree char *cfg_path = NULL;
	Sandbox *sb = sandbox_new (name, ns_config_new (name, uid, gid));

	sb->cfg->max_output = limits.job_output;
	/* A non-root owner's jobs would escape its own login limits through
	 * root's daemon: they start from nsfsd's defaults (a finite pids.max). */
	if (uid != 0)
		resources_user_default (&sb->cfg->limits);
	if (mkdir (sb->dir, 0700) < 0) {
		ns_error (err, errno == EEXIST ? EEXIST : errno, "cannot create %s: %s", sb->dir, strerror (errno));
		sandbox_unref (sb);
		return NULL;
	}
	cfg_path = g_build_filename (sb->dir, "config", NULL);
	/* The supervisor comes from our own zygote, which answers at once:
	 * nothing of the owner's is in its way. */
	if (ns_config_save (sb->cfg, cfg_path, err) < 0 || supclient_spawn (sb, &sb->conn, err) < 0) {
		sandbox_remove_tree (sb->dir);
		sandbox_unref (sb);
		return NULL;
	}
	return sb;
}

int
sandbox_create (const char *name, uid_t uid, gid_t gid, Sandbox **out, NsError *err)
{
	Sandbox *sb = NULL;

	g_mutex_lock (&registry_lock);
	if (g_hash_table_lookup (by_name, name) || g_hash_table_contains (reserved, name)) {
		g_mutex_unlock (&registry_lock);
		return ns_error (err, EEXIST, "sandbox %s exists", name);
	}
	if (uid != 0 && limits.sandboxes_per_uid && count_owned_by (uid) >= limits.sandboxes_per_uid) {
		g_mutex_unlock (&registry_lock);
		return ns_error (err, EDQUOT, "uid %u already has %u sandboxes (--max-sandboxes-per-user)", uid,
		                 limits.sandboxes_per_uid);
	}
	/* The name is ours while the supervisor comes up, without holding
	 * the registry lock (every lookup takes it). */
	g_hash_table_insert (reserved, g_strdup (name), GUINT_TO_POINTER (uid));
	g_mutex_unlock (&registry_lock);

	sb = create_fresh (name, uid, gid, err);
	if (sb)
		events_emit (sb->serial, name, "created");

	g_mutex_lock (&registry_lock);
	g_hash_table_remove (reserved, name);
	if (sb) {
		register_locked (sb);
		sandbox_ref (sb);
	}
	g_mutex_unlock (&registry_lock);
	if (sb)
		supclient_watch (sb->conn);
	if (!sb)
		return -err->code;
	*out = sb;
	return 0;
}
