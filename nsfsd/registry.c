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
	g_hash_table_destroy (by_name);
	g_hash_table_destroy (reserved);
	by_serial = by_name = reserved = NULL;
	g_mutex_unlock (&registry_lock);
}

static void
register_locked (Sandbox *sb)
{
	sb->serial = next_serial++;
	g_hash_table_insert (by_name, sb->name, sb);
	g_hash_table_insert (by_serial, GUINT_TO_POINTER (sb->serial), sb);
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

static gint
by_serial_order (gconstpointer a, gconstpointer b)
{
	const Sandbox *x = *(Sandbox *const *) a, *y = *(Sandbox *const *) b;
	return x->serial < y->serial ? -1 : x->serial > y->serial;
}

GPtrArray *
sandbox_list (void)
{
	GPtrArray *list = g_ptr_array_new_with_free_func ((GDestroyNotify) sandbox_unref);
	GHashTableIter it;
	gpointer value;

	g_mutex_lock (&registry_lock);
	g_hash_table_iter_init (&it, by_name);
	while (g_hash_table_iter_next (&it, NULL, &value))
		g_ptr_array_add (list, sandbox_ref (value));
	g_mutex_unlock (&registry_lock);
	g_ptr_array_sort (list, by_serial_order);
	return list;
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
