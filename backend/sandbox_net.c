/* A sandbox's own part of `net veth` and `ports` (INTERFACE §9); nsfsd
 * made the bridge and the table before the start (nsfsd/network.c).
 *
 * Outside, before the init is let go: the veth pair in one rtnetlink
 * request, its host end on the bridge and its peer made as `eth0` right
 * in the init's network namespace; then the sandbox's forwards, added to
 * the table's maps in one nftables transaction.  Inside, the init gives
 * `eth0` its address and the default route.  At the end the host end is
 * deleted (its peer goes with it, also from a pinned namespace) and the
 * forwards are taken out again. */
#include "supervisor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "nft.h"
#include "rtnl.h"

/* nsfsd/network.h's NETWORK_NFT_TABLE: one name, two programs. */
#define NFT_TABLE "nsfs"

/* The forwards' nftables commands: VERB is "add" or "delete". */
static char *
forward_commands (const NsSandboxConfig *cfg, const NsPortList *ports, const char *verb)
{
	GString *cmds = g_string_new (NULL);
	g_autofree char *addr = ns_ipv4_format (cfg->net_addr, 32);

	/* ns_ipv4_format adds a prefix; the elements take the bare address. */
	*strchr (addr, '/') = '\0';
	for (size_t i = 0; i < ports->n; i++) {
		const NsPort *p = &ports->p[i];
		const char *map = p->proto == NS_PROTO_UDP ? "udp_forwards" : "tcp_forwards";
		if (strcmp (verb, "add") == 0)
			g_string_append_printf (cmds, "add element ip %s %s { %u : %s . %u }\n", NFT_TABLE, map, p->host_port,
			                        addr, p->sandbox_port);
		else
			g_string_append_printf (cmds, "delete element ip %s %s { %u }\n", NFT_TABLE, map, p->host_port);
	}
	return g_string_free (cmds, FALSE);
}

static void
forwards_remove (const NsSandboxConfig *cfg)
{
	NsPortList ports;

	if (!cfg->ports[0] || ns_ports_parse (cfg->ports, strlen (cfg->ports), &ports, NULL) < 0)
		return;
	/* One element at a time: one that is gone already (a predecessor's
	 * cleanup) must not keep the others. */
	for (size_t i = 0; i < ports.n; i++) {
		NsPortList one = { 1, { ports.p[i] } };
		g_autofree char *cmds = forward_commands (cfg, &one, "delete");
		ns_nft_run (cmds, NULL);
	}
}

static int
forwards_add (const NsSandboxConfig *cfg, NsError *err)
{
	g_autofree char *cmds = NULL;
	NsPortList ports;
	int r;

	if (!cfg->ports[0])
		return 0;
	if ((r = ns_ports_parse (cfg->ports, strlen (cfg->ports), &ports, err)) < 0)
		return r;
	cmds = forward_commands (cfg, &ports, "add");
	if (ns_nft_run (cmds, NULL) == 0)
		return 0;
	/* What an earlier run of this sandbox left (a supervisor that was
	 * killed) makes the add fail: out with it, and again. */
	forwards_remove (cfg);
	return ns_nft_run (cmds, err);
}

int
sup_net_attach (Supervisor *s, const NsSandboxConfig *cfg, pid_t init_pid, NsError *err)
{
	int r;

	if (cfg->net.mode != NS_NET_VETH)
		return 0;
	snprintf (s->veth_host, sizeof s->veth_host, "nsv%d", (int) init_pid);
	/* One of an init whose pid the kernel gave out again. */
	ns_rtnl_delete_link (s->veth_host, NULL);
	if ((r = ns_rtnl_create_veth (s->veth_host, cfg->net_bridge, "eth0", init_pid, err)) < 0) {
		s->veth_host[0] = '\0';
		return r;
	}
	if ((r = forwards_add (cfg, err)) < 0) {
		sup_net_detach (s, cfg);
		return r;
	}
	return 0;
}

void
sup_net_detach (Supervisor *s, const NsSandboxConfig *cfg)
{
	NsError err;

	if (!s->veth_host[0])
		return;
	forwards_remove (cfg);
	/* The pair goes with the sandbox's network namespace, which the
	 * kernel takes down on its own time once the init and the jobs are
	 * gone: deleting it here cost every stop 15-20 ms of waiting for
	 * RCU.  A pinned namespace outlives them, and its eth0 must not stay
	 * on the bridge. */
	if ((s->pinned & CLONE_NEWNET) && ns_rtnl_delete_link (s->veth_host, &err) < 0)
		g_warning ("%s", err.msg);
	s->veth_host[0] = '\0';
}

static void
set_sockaddr (struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in *in = (struct sockaddr_in *) sa;

	memset (in, 0, sizeof *in);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl (addr);
}

int
sup_eth0_up (const NsSandboxConfig *cfg, NsError *err)
{
	_cleanup_close_ int fd = -1;
	struct ifreq ifr = { 0 };
	struct rtentry rt = { 0 };

	if (cfg->net.mode != NS_NET_VETH)
		return 0;
	fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ns_error (err, errno, "eth0: socket: %s", strerror (errno));
	g_strlcpy (ifr.ifr_name, "eth0", IFNAMSIZ);
	set_sockaddr (&ifr.ifr_addr, cfg->net_addr);
	if (ioctl (fd, SIOCSIFADDR, &ifr) < 0)
		return ns_error (err, errno, "eth0: set the address: %s", strerror (errno));
	set_sockaddr (&ifr.ifr_netmask, 0xffffffffu << (32 - cfg->net_prefix));
	if (ioctl (fd, SIOCSIFNETMASK, &ifr) < 0)
		return ns_error (err, errno, "eth0: set the netmask: %s", strerror (errno));
	if (ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
		return ns_error (err, errno, "eth0: get flags: %s", strerror (errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
		return ns_error (err, errno, "eth0: bring up: %s", strerror (errno));
	set_sockaddr (&rt.rt_dst, 0);
	set_sockaddr (&rt.rt_genmask, 0);
	set_sockaddr (&rt.rt_gateway, cfg->net_gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *) "eth0";
	if (ioctl (fd, SIOCADDRT, &rt) < 0)
		return ns_error (err, errno, "eth0: default route: %s", strerror (errno));
	return 0;
}
