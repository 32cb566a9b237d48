#include "network.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "nft.h"
#include "rtnl.h"
#include "threads.h"

static NetworkOptions opts;
static GMutex net_mutex;
/* Serializes making and removing the bridge and the table, and guards
 * what follows. */
static GMutex setup_mutex;
/* The table and the sysctls are set: a start then only checks that the
 * bridge is still there (a table listing cost 1-2 ms a start). */
static bool made;
/* The janitor removes the bridge and the table a while after the last
 * sandbox with veth is gone (deleting them waits for RCU, 60-80 ms, which
 * no rmdir should wait for, and a sandbox made again at once is spared
 * making them again). */
static GThread *janitor;
static GCond janitor_cond;
static gint64 release_at;      /* monotonic µs; 0: nothing to do */
static bool janitor_quit;
#define RELEASE_LINGER_US (G_USEC_PER_SEC)

void
network_lock (void)
{
	g_mutex_lock (&net_mutex);
}

void
network_unlock (void)
{
	g_mutex_unlock (&net_mutex);
}

bool
network_parse_subnet (const char *text, uint32_t *subnet, unsigned *prefix)
{
	const char *slash = strchr (text, '/');
	g_autofree char *addr_text = slash ? g_strndup (text, (size_t) (slash - text)) : NULL;
	uint32_t addr, mask;
	unsigned p;

	/* The network's own address: ns_net_parse refuses that, so parse
	 * the parts. */
	if (!slash || !ns_ipv4_parse (addr_text, &addr) || sscanf (slash + 1, "%u", &p) != 1 || p < 8 || p > 28)
		return false;
	mask = 0xffffffffu << (32 - p);
	if (addr & ~mask)
		return false;
	*subnet = addr;
	*prefix = p;
	return true;
}

void
network_init (const NetworkOptions *o)
{
	opts = *o;
}

static uint32_t
gateway (void)
{
	return opts.subnet + 1;
}

static bool
in_pool (uint32_t addr)
{
	uint32_t mask = 0xffffffffu << (32 - opts.prefix);
	return (addr & mask) == opts.subnet && addr != gateway () && (addr & ~mask) != ~mask && (addr & ~mask) != 0;
}

/* Whether a sandbox other than SB holds ADDR. */
static bool
address_taken (Sandbox *sb, GPtrArray *all, uint32_t addr)
{
	for (guint i = 0; i < all->len; i++) {
		Sandbox *o = all->pdata[i];
		bool taken;
		if (o == sb)
			continue;
		g_mutex_lock (&o->lock);
		taken = o->cfg->net.mode == NS_NET_VETH && o->cfg->net_addr == addr;
		g_mutex_unlock (&o->lock);
		if (taken)
			return true;
	}
	return false;
}

static guint
count_veth_of (Sandbox *sb, GPtrArray *all)
{
	guint n = 0;

	for (guint i = 0; i < all->len; i++) {
		Sandbox *o = all->pdata[i];
		if (o == sb || o->owner != sb->owner)
			continue;
		g_mutex_lock (&o->lock);
		n += o->cfg->net.mode == NS_NET_VETH;
		g_mutex_unlock (&o->lock);
	}
	return n;
}

int
network_lease (Sandbox *sb, const NsNetSpec *spec, NsSandboxConfig **out, NsError *err)
{
	g_autoptr (GPtrArray) all = sandbox_list ();
	g_autoptr (NsSandboxConfig) c = sandbox_copy_config (sb);
	uint32_t addr = 0;

	c->net = *spec;
	if (spec->mode == NS_NET_NONE) {
		c->net_addr = c->net_gateway = 0;
		c->net_prefix = 0;
		g_clear_pointer (&c->net_bridge, g_free);
		*out = g_steal_pointer (&c);
		return 0;
	}
	if (sb->owner != 0 && count_veth_of (sb, all) >= opts.veth_per_user)
		return ns_error (err, EDQUOT, "net: uid %u has %u sandboxes with veth, the most nsfsd allows (--max-veth-per-user)",
		                 (unsigned) sb->owner, opts.veth_per_user);
	if (spec->addr) {
		g_autofree char *pool = ns_ipv4_format (opts.subnet, opts.prefix);
		g_autofree char *want = ns_ipv4_format (spec->addr, spec->prefix);
		if (spec->prefix != opts.prefix || !in_pool (spec->addr))
			return ns_error (err, spec->addr == gateway () ? EADDRINUSE : EINVAL,
			                 "net: %s is not an address of nsfsd's pool %s%s", want, pool,
			                 spec->addr == gateway () ? " (it is the bridge's)" : "");
		if (address_taken (sb, all, spec->addr))
			return ns_error (err, EADDRINUSE, "net: %s is another sandbox's address", want);
		addr = spec->addr;
	} else if (c->net_addr && in_pool (c->net_addr) && c->net_prefix == opts.prefix &&
	           !address_taken (sb, all, c->net_addr)) {
		/* It keeps the address it has. */
		addr = c->net_addr;
	} else {
		uint32_t size = 1u << (32 - opts.prefix);
		for (uint32_t a = gateway () + 1; a < opts.subnet + size - 1; a++)
			if (!address_taken (sb, all, a)) {
				addr = a;
				break;
			}
		if (!addr)
			return ns_error (err, EADDRINUSE, "net: no address of nsfsd's pool is free");
	}
	c->net_addr = addr;
	c->net_prefix = opts.prefix;
	c->net_gateway = gateway ();
	g_free (c->net_bridge);
	c->net_bridge = g_strdup (opts.bridge);
	*out = g_steal_pointer (&c);
	return 0;
}

int
network_check_ports (Sandbox *sb, const NsPortList *ports, NsError *err)
{
	g_autoptr (GPtrArray) all = sandbox_list ();
	guint theirs = 0;

	for (size_t i = 0; i < ports->n; i++)
		if (sb->owner != 0 && ports->p[i].host_port < 1024)
			return ns_error (err, EACCES, "ports: line %zu: host ports below 1024 are root's", ports->p[i].line);
	for (guint i = 0; i < all->len; i++) {
		Sandbox *o = all->pdata[i];
		g_autofree char *text = NULL;
		NsPortList other;

		if (o == sb)
			continue;
		g_mutex_lock (&o->lock);
		text = g_strdup (o->cfg->ports);
		g_mutex_unlock (&o->lock);
		if (!text[0] || ns_ports_parse (text, strlen (text), &other, NULL) < 0)
			continue;
		if (o->owner == sb->owner)
			theirs += (guint) other.n;
		for (size_t j = 0; j < ports->n; j++)
			for (size_t k = 0; k < other.n; k++)
				if (ports->p[j].proto == other.p[k].proto && ports->p[j].host_port == other.p[k].host_port)
					return ns_error (err, EADDRINUSE, "ports: line %zu: %s port %u is forwarded to the sandbox %s",
					                 ports->p[j].line, ns_port_proto_name (ports->p[j].proto),
					                 ports->p[j].host_port, o->name);
	}
	if (sb->owner != 0 && theirs + ports->n > opts.ports_per_user)
		return ns_error (err, EDQUOT, "ports: uid %u would have %zu forwards, more than nsfsd allows (--max-ports-per-user %u)",
		                 (unsigned) sb->owner, theirs + ports->n, opts.ports_per_user);
	return 0;
}

/* --- the bridge and the table --------------------------------------------- */

static bool
table_exists (void)
{
	g_autofree char *cmd = g_strdup_printf ("list table ip %s", NETWORK_NFT_TABLE);

	/* ns_nft_run keeps the listing to itself. */
	return ns_nft_run (cmd, NULL) == 0;
}

/* The table: masquerade for the pool, the forwards (maps a supervisor
 * adds its sandbox's elements to, so a start costs the same however many
 * sandboxes there are), and traffic to sandbox addresses from anywhere
 * but the bridge dropped unless it is a forward or an answer. */
static int
make_table (NsError *err)
{
	g_autofree char *pool = ns_ipv4_format (opts.subnet, opts.prefix);
	const char *t = NETWORK_NFT_TABLE, *br = opts.bridge;
	g_autofree char *cmds = g_strdup_printf (
		"add table ip %1$s\n"
		"add map ip %1$s tcp_forwards { type inet_service : ipv4_addr . inet_service; }\n"
		"add map ip %1$s udp_forwards { type inet_service : ipv4_addr . inet_service; }\n"
		"add chain ip %1$s prerouting { type nat hook prerouting priority dstnat; policy accept; }\n"
		"add chain ip %1$s output { type nat hook output priority -100; policy accept; }\n"
		"add chain ip %1$s postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
		"add chain ip %1$s forward { type filter hook forward priority filter; policy accept; }\n"
		"add rule ip %1$s prerouting fib daddr type local dnat ip to tcp dport map @tcp_forwards\n"
		"add rule ip %1$s prerouting fib daddr type local dnat ip to udp dport map @udp_forwards\n"
		"add rule ip %1$s output fib daddr type local dnat ip to tcp dport map @tcp_forwards\n"
		"add rule ip %1$s output fib daddr type local dnat ip to udp dport map @udp_forwards\n"
		"add rule ip %1$s postrouting ip saddr %2$s ip daddr != %2$s masquerade\n"
		"add rule ip %1$s postrouting oifname \"%3$s\" ip saddr 127.0.0.0/8 masquerade\n"
		"add rule ip %1$s postrouting oifname \"%3$s\" ct status dnat ip saddr %2$s masquerade\n"
		"add rule ip %1$s forward oifname \"%3$s\" iifname != \"%3$s\" ct state established,related accept\n"
		"add rule ip %1$s forward oifname \"%3$s\" iifname != \"%3$s\" ct status dnat accept\n"
		"add rule ip %1$s forward oifname \"%3$s\" iifname != \"%3$s\" drop\n",
		t, pool, br);

	return ns_nft_run (cmds, err);
}

static int
write_sysctl (const char *path, const char *value, NsError *err)
{
	int fd = open (path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return ns_error (err, errno, "net: open %s: %s", path, strerror (errno));
	n = write (fd, value, strlen (value));
	close (fd);
	if (n < 0)
		return ns_error (err, errno, "net: write %s: %s", path, strerror (errno));
	return 0;
}

int
network_prepare_start (Sandbox *sb, NsError *err)
{
	g_autofree char *localnet = NULL;
	bool veth;
	int r = 0;

	g_mutex_lock (&sb->lock);
	veth = sb->cfg->net.mode == NS_NET_VETH;
	g_mutex_unlock (&sb->lock);
	if (!veth)
		return 0;
	g_mutex_lock (&setup_mutex);
	release_at = 0;
	if (made && if_nametoindex (opts.bridge))
		goto out;
	made = false;
	if ((r = ns_rtnl_ensure_bridge (opts.bridge, gateway (), opts.prefix, err)) < 0)
		goto out;
	/* Forwards from the host itself to 127.0.0.1 leave through the bridge
	 * with a loopback source, which only route_localnet lets out (and the
	 * table masquerades). */
	localnet = g_strdup_printf ("/proc/sys/net/ipv4/conf/%s/route_localnet", opts.bridge);
	if ((r = write_sysctl (localnet, "1", err)) < 0)
		goto out;
	if (!table_exists () && (r = make_table (err)) < 0)
		goto out;
	r = write_sysctl ("/proc/sys/net/ipv4/ip_forward", "1", err);
	made = r == 0;
out:
	g_mutex_unlock (&setup_mutex);
	return r;
}

static bool
any_veth (void)
{
	g_autoptr (GPtrArray) all = sandbox_list ();

	for (guint i = 0; i < all->len; i++) {
		Sandbox *o = all->pdata[i];
		bool veth;
		g_mutex_lock (&o->lock);
		veth = o->cfg->net.mode == NS_NET_VETH && !o->removed;
		g_mutex_unlock (&o->lock);
		if (veth)
			return true;
	}
	return false;
}

/* Under setup_mutex. */
static void
release_now (void)
{
	g_autofree char *del = g_strdup_printf ("delete table ip %s", NETWORK_NFT_TABLE);
	NsError err;

	made = false;
	if (ns_rtnl_delete_link (opts.bridge, &err) < 0)
		g_warning ("%s", err.msg);
	if (table_exists () && ns_nft_run (del, &err) < 0)
		g_warning ("%s", err.msg);
}

static gpointer
janitor_main (gpointer unused)
{
	g_mutex_lock (&setup_mutex);
	while (!janitor_quit) {
		if (!release_at) {
			g_cond_wait (&janitor_cond, &setup_mutex);
			continue;
		}
		if (g_get_monotonic_time () < release_at) {
			g_cond_wait_until (&janitor_cond, &setup_mutex, release_at);
			continue;
		}
		release_at = 0;
		/* Looked at again now: one may have been made meanwhile. */
		if (!any_veth ())
			release_now ();
	}
	g_mutex_unlock (&setup_mutex);
	return NULL;
}

void
network_release_if_unused (void)
{
	if (any_veth ())
		return;
	g_mutex_lock (&setup_mutex);
	if (!janitor)
		janitor = nsfs_thread_new ("nsfs-net", janitor_main, NULL);
	release_at = g_get_monotonic_time () + RELEASE_LINGER_US;
	g_cond_signal (&janitor_cond);
	g_mutex_unlock (&setup_mutex);
}

void
network_shutdown (void)
{
	g_mutex_lock (&setup_mutex);
	janitor_quit = true;
	g_cond_signal (&janitor_cond);
	g_mutex_unlock (&setup_mutex);
	if (janitor)
		g_thread_join (janitor);
	janitor = NULL;
	/* What was due goes now; what a running sandbox needs stays. */
	g_mutex_lock (&setup_mutex);
	if (release_at && !any_veth ())
		release_now ();
	g_mutex_unlock (&setup_mutex);
}
