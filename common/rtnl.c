#include "rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* MNL_SOCKET_BUFFER_SIZE is the page size, known only at run time; a
 * request here is a few hundred bytes, an ack less.  Zeroed: the kernel
 * must not be sent stale stack bytes in padding. */
#define RTNL_BUFFER 8192

/* Send the request in BUF and read the kernel's ack: 0 or -errno. */
static int
talk (struct nlmsghdr *nlh)
{
	char buf[RTNL_BUFFER] = { 0 };
	struct mnl_socket *nl = mnl_socket_open2 (NETLINK_ROUTE, SOCK_CLOEXEC);
	unsigned portid;
	ssize_t n;
	int r = 0;

	if (!nl)
		return -errno;
	if (mnl_socket_bind (nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid (nl);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t) time (NULL);
	if (mnl_socket_sendto (nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	n = mnl_socket_recvfrom (nl, buf, sizeof buf);
	if (n < 0 || mnl_cb_run (buf, (size_t) n, nlh->nlmsg_seq, portid, NULL, NULL) < 0)
		r = -errno;
out:
	mnl_socket_close (nl);
	return r;
}

static struct nlmsghdr *
link_request (char *buf, uint16_t type, uint16_t flags, const char *name)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	ifm = mnl_nlmsg_put_extra_header (nlh, sizeof *ifm);
	ifm->ifi_family = AF_UNSPEC;
	if (name)
		mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
	return nlh;
}

static int
set_up (const char *name)
{
	char buf[RTNL_BUFFER] = { 0 };
	struct nlmsghdr *nlh = link_request (buf, RTM_NEWLINK, 0, name);
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload (nlh);

	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	return talk (nlh);
}

static int
add_address (const char *name, uint32_t addr, unsigned prefix)
{
	char buf[RTNL_BUFFER] = { 0 };
	struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
	struct ifaddrmsg *ifa;
	uint32_t be = htonl (addr);
	unsigned index = if_nametoindex (name);

	if (!index)
		return -errno;
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
	ifa = mnl_nlmsg_put_extra_header (nlh, sizeof *ifa);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char) prefix;
	ifa->ifa_index = index;
	mnl_attr_put (nlh, IFA_LOCAL, sizeof be, &be);
	mnl_attr_put (nlh, IFA_ADDRESS, sizeof be, &be);
	return talk (nlh);
}

int
ns_rtnl_ensure_bridge (const char *name, uint32_t gateway, unsigned prefix, NsError *err)
{
	char buf[RTNL_BUFFER] = { 0 };
	struct nlmsghdr *nlh;
	struct nlattr *info;
	int r;

	if (!if_nametoindex (name)) {
		nlh = link_request (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, name);
		info = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
		mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "bridge");
		mnl_attr_nest_end (nlh, info);
		/* Another nsfsd's, or a race with ourselves: either is a bridge. */
		if ((r = talk (nlh)) < 0 && r != -EEXIST)
			return ns_error (err, -r, "net: create the bridge %s: %s", name, strerror (-r));
	}
	if ((r = add_address (name, gateway, prefix)) < 0 && r != -EEXIST)
		return ns_error (err, -r, "net: address of the bridge %s: %s", name, strerror (-r));
	if ((r = set_up (name)) < 0)
		return ns_error (err, -r, "net: bring up the bridge %s: %s", name, strerror (-r));
	return 0;
}

int
ns_rtnl_delete_link (const char *name, NsError *err)
{
	char buf[RTNL_BUFFER] = { 0 };
	int r;

	if (!if_nametoindex (name))
		return 0;
	r = talk (link_request (buf, RTM_DELLINK, 0, name));
	if (r < 0 && r != -ENODEV)
		return ns_error (err, -r, "net: delete %s: %s", name, strerror (-r));
	return 0;
}

int
ns_rtnl_create_veth (const char *host_end, const char *bridge, const char *peer_name, pid_t peer_pid, NsError *err)
{
	char buf[RTNL_BUFFER] = { 0 };
	struct nlmsghdr *nlh = link_request (buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, host_end);
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload (nlh), *peer;
	struct nlattr *info, *data, *peer_attr;
	unsigned master = if_nametoindex (bridge);
	int r;

	if (!master)
		return ns_error (err, ENODEV, "net: the bridge %s is missing", bridge);
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	mnl_attr_put_u32 (nlh, IFLA_MASTER, master);
	info = mnl_attr_nest_start (nlh, IFLA_LINKINFO);
	mnl_attr_put_strz (nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start (nlh, IFLA_INFO_DATA);
	peer_attr = mnl_attr_nest_start (nlh, VETH_INFO_PEER);
	peer = mnl_nlmsg_put_extra_header (nlh, sizeof *peer);
	peer->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz (nlh, IFLA_IFNAME, peer_name);
	mnl_attr_put_u32 (nlh, IFLA_NET_NS_PID, (uint32_t) peer_pid);
	mnl_attr_nest_end (nlh, peer_attr);
	mnl_attr_nest_end (nlh, data);
	mnl_attr_nest_end (nlh, info);
	if ((r = talk (nlh)) < 0)
		return ns_error (err, -r, "net: create the veth pair %s: %s", host_end, strerror (-r));
	return 0;
}
