/* common/net.c: the `net` and `ports` parsers. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "net.h"
#include "test-util.h"

static void
net_ok (const char *text, NsNetMode mode, const char *addr, unsigned prefix, const char *back)
{
	NsNetSpec spec;
	NsError err;
	uint32_t want = 0;
	g_autofree char *formatted = NULL;

	g_assert_cmpint (ns_net_parse (text, strlen (text), &spec, &err), ==, 0);
	g_assert_cmpint (spec.mode, ==, mode);
	if (addr)
		g_assert_true (ns_ipv4_parse (addr, &want));
	g_assert_cmpuint (spec.addr, ==, want);
	g_assert_cmpuint (spec.prefix, ==, prefix);
	formatted = ns_net_format (&spec);
	g_assert_cmpstr (formatted, ==, back);
}

static void
net_bad (const char *text, const char *want)
{
	NsNetSpec spec = { NS_NET_VETH, 7, 7 }, ref = spec;
	NsError err;

	ns_error_poison (&err);
	assert_ns_error (ns_net_parse (text, strlen (text), &spec, &err), &err, EINVAL, want);
	g_assert_true (memcmp (&spec, &ref, sizeof spec) == 0);
}

static void
test_net (void)
{
	net_ok ("none", NS_NET_NONE, NULL, 0, "none");
	net_ok ("none\n", NS_NET_NONE, NULL, 0, "none");
	net_ok (" veth \n", NS_NET_VETH, NULL, 0, "veth");
	net_ok ("veth 10.213.0.5/16\n", NS_NET_VETH, "10.213.0.5", 16, "veth 10.213.0.5/16");
	net_ok ("veth\t192.168.7.254/24", NS_NET_VETH, "192.168.7.254", 24, "veth 192.168.7.254/24");
	net_bad ("", "is not none, veth");
	net_bad ("\n", "is not none, veth");
	net_bad ("bridge", "is not none, veth");
	net_bad ("none x", "is not none, veth");
	net_bad ("veth 10.0.0.1", "needs a prefix");
	net_bad ("veth 10.0.0.1/16 x", "is not none, veth");
	net_bad ("veth 10.0.0/16", "not an IPv4 address");
	net_bad ("veth 10.0.0.256/16", "not an IPv4 address");
	net_bad ("veth 10.0.0.01/16", "not an IPv4 address");
	net_bad ("veth 10.0.0.-1/16", "not an IPv4 address");
	net_bad ("veth 10.0.0.1/31", "from 8 to 30");
	net_bad ("veth 10.0.0.1/7", "from 8 to 30");
	net_bad ("veth 10.0.0.1/", "from 8 to 30");
	net_bad ("veth 10.0.0.1/016", "from 8 to 30");
	net_bad ("veth 10.0.0.0/24", "network's or broadcast");
	net_bad ("veth 10.0.0.255/24", "network's or broadcast");
	net_bad ("veth\nveth", "must be a single line");
	{
		NsNetSpec spec;
		NsError err;
		assert_ns_error (ns_net_parse ("veth\0", 5, &spec, &err), &err, EINVAL, "NUL");
	}
}

static void
test_ipv4_format (void)
{
	g_autofree char *a = ns_ipv4_format (0x0ad50001, 16);
	g_autofree char *b = ns_ipv4_format (0xffffffff, 32);

	g_assert_cmpstr (a, ==, "10.213.0.1/16");
	g_assert_cmpstr (b, ==, "255.255.255.255/32");
}

static void
ports_bad (const char *text, int code, const char *want)
{
	NsPortList list, ref;
	NsError err;

	memset (&list, 0x5a, sizeof list);
	ref = list;
	ns_error_poison (&err);
	assert_ns_error (ns_ports_parse (text, strlen (text), &list, &err), &err, code, want);
	g_assert_true (memcmp (&list, &ref, sizeof list) == 0);
}

static void
test_ports (void)
{
	NsPortList list;
	NsError err;
	g_autofree char *back = NULL;
	g_autoptr (GString) many = g_string_new (NULL);
	const char *text = "tcp 8080 80\n\n  udp 5353\ntcp 443 8443\n";

	g_assert_cmpint (ns_ports_parse (text, strlen (text), &list, &err), ==, 0);
	g_assert_cmpuint (list.n, ==, 3);
	g_assert_cmpint (list.p[0].proto, ==, NS_PROTO_TCP);
	g_assert_cmpuint (list.p[0].host_port, ==, 8080);
	g_assert_cmpuint (list.p[0].sandbox_port, ==, 80);
	g_assert_cmpint (list.p[1].proto, ==, NS_PROTO_UDP);
	g_assert_cmpuint (list.p[1].sandbox_port, ==, 5353);
	g_assert_cmpuint (list.p[1].line, ==, 3);
	back = ns_ports_format (&list);
	g_assert_cmpstr (back, ==, "tcp 8080 80\nudp 5353 5353\ntcp 443 8443\n");
	g_assert_cmpint (ns_ports_parse ("", 0, &list, &err), ==, 0);
	g_assert_cmpuint (list.n, ==, 0);
	/* tcp and udp of one port are two forwards. */
	g_assert_cmpint (ns_ports_parse ("tcp 53\nudp 53\n", 14, &list, &err), ==, 0);

	ports_bad ("tcp 80\nsctp 9", EINVAL, "ports: line 2: unknown protocol 'sctp'");
	ports_bad ("tcp", EINVAL, "wrong number of words");
	ports_bad ("tcp 1 2 3", EINVAL, "wrong number of words");
	ports_bad ("tcp 0", EINVAL, "not a port from 1 to 65535");
	ports_bad ("tcp 65536", EINVAL, "not a port");
	ports_bad ("tcp 80 0", EINVAL, "sandbox port '0'");
	ports_bad ("tcp 080", EINVAL, "not a port");
	ports_bad ("tcp +80", EINVAL, "not a port");
	ports_bad ("tcp 8080 80\ntcp 8080 81", EINVAL, "ports: line 2: tcp port 8080 is forwarded by line 1 already");
	for (int i = 0; i <= NS_PORTS_MAX; i++)
		g_string_append_printf (many, "tcp %d\n", 1000 + i);
	ports_bad (many->str, E2BIG, "more than 64 lines");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/net/net", test_net);
	g_test_add_func ("/net/ipv4-format", test_ipv4_format);
	g_test_add_func ("/net/ports", test_ports);
	return g_test_run ();
}
