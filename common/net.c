#include "net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "names.h"
#include "words.h"

/* Decimal digits only, no sign, no leading zero but "0" itself, at most
 * MAX. */
static bool
parse_decimal (const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (!g_ascii_isdigit (*s))
			return false;
		v = v * 10 + (unsigned long) (*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

bool
ns_ipv4_parse (const char *text, uint32_t *addr)
{
	g_auto (GStrv) parts = g_strsplit (text, ".", -1);
	uint32_t v = 0;

	if (g_strv_length (parts) != 4)
		return false;
	for (int i = 0; i < 4; i++) {
		unsigned long octet;
		if (!parse_decimal (parts[i], 255, &octet))
			return false;
		v = v << 8 | (uint32_t) octet;
	}
	*addr = v;
	return true;
}

char *
ns_ipv4_format (uint32_t a, unsigned prefix)
{
	return g_strdup_printf ("%u.%u.%u.%u/%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, prefix);
}

static int
parse_address (const char *text, NsNetSpec *out, NsError *err)
{
	const char *slash = strchr (text, '/');
	g_autofree char *addr_text = NULL;
	unsigned long prefix;
	uint32_t addr, host;

	if (!slash)
		return ns_error (err, EINVAL, "net: '%.64s' needs a prefix (veth ADDR/PREFIX)", text);
	addr_text = g_strndup (text, (size_t) (slash - text));
	if (!ns_ipv4_parse (addr_text, &addr))
		return ns_error (err, EINVAL, "net: '%.64s' is not an IPv4 address", addr_text);
	if (!parse_decimal (slash + 1, 32, &prefix) || prefix < 8 || prefix > 30)
		return ns_error (err, EINVAL, "net: prefix '%.16s' is not a number from 8 to 30", slash + 1);
	host = addr & ~(0xffffffffu << (32 - prefix));
	if (host == 0 || host == ~(0xffffffffu << (32 - prefix)))
		return ns_error (err, EINVAL, "net: %.64s is the network's or broadcast address of /%lu", addr_text, prefix);
	out->addr = addr;
	out->prefix = (unsigned) prefix;
	return 0;
}

int
ns_net_parse (const char *text, size_t len, NsNetSpec *out, NsError *err)
{
	g_autofree char *copy = NULL;
	g_auto (GStrv) words = NULL;
	NsNetSpec spec = { NS_NET_NONE, 0, 0 };
	size_t n;
	int r;

	if ((r = ns_value_line (text, len, "net", &copy, err)) < 0)
		return r;
	words = ns_words_split (copy, &n);
	if (n == 1 && strcmp (words[0], "none") == 0) {
		*out = spec;
		return 0;
	}
	if (n < 1 || n > 2 || strcmp (words[0], "veth") != 0)
		return ns_error (err, EINVAL, "net: '%.64s' is not none, veth or veth ADDR/PREFIX", copy);
	spec.mode = NS_NET_VETH;
	if (n == 2 && (r = parse_address (words[1], &spec, err)) < 0)
		return r;
	*out = spec;
	return 0;
}

char *
ns_net_format (const NsNetSpec *net)
{
	g_autofree char *addr = NULL;

	if (net->mode == NS_NET_NONE)
		return g_strdup ("none");
	if (!net->addr)
		return g_strdup ("veth");
	addr = ns_ipv4_format (net->addr, net->prefix);
	return g_strdup_printf ("veth %s", addr);
}

const char *
ns_port_proto_name (NsPortProto proto)
{
	return proto == NS_PROTO_UDP ? "udp" : "tcp";
}

static int
parse_port (const char *what, const char *text, uint16_t *out, NsError *err)
{
	unsigned long v;

	if (!parse_decimal (text, 65535, &v) || v == 0)
		return ns_error (err, EINVAL, "%s '%.16s' is not a port from 1 to 65535", what, text);
	*out = (uint16_t) v;
	return 0;
}

static int
parse_port_line (char **words, size_t n, NsPort *p, NsError *err)
{
	int r;

	if (n < 2 || n > 3)
		return ns_error (err, EINVAL, "wrong number of words (usage: tcp|udp HOSTPORT [SANDBOXPORT])");
	if (strcmp (words[0], "tcp") == 0)
		p->proto = NS_PROTO_TCP;
	else if (strcmp (words[0], "udp") == 0)
		p->proto = NS_PROTO_UDP;
	else
		return ns_error (err, EINVAL, "unknown protocol '%.16s' (known: tcp, udp)", words[0]);
	if ((r = parse_port ("host port", words[1], &p->host_port, err)) < 0)
		return r;
	p->sandbox_port = p->host_port;
	if (n == 3 && (r = parse_port ("sandbox port", words[2], &p->sandbox_port, err)) < 0)
		return r;
	return 0;
}

int
ns_ports_parse (const char *text, size_t len, NsPortList *list, NsError *err)
{
	g_autofree char *copy = NULL;
	g_auto (GStrv) lines = NULL;
	g_autofree NsPortList *tmp = g_new0 (NsPortList, 1);
	size_t lineno = 0;

	if (memchr (text, '\0', len))
		return ns_error (err, EINVAL, "ports: contains a NUL byte");
	copy = g_strndup (text, len);
	lines = g_strsplit (copy, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_auto (GStrv) words = NULL;
		NsPort p = { 0 };
		char where[32];
		size_t n;
		int r;

		lineno++;
		words = ns_words_split (*l, &n);
		if (n == 0)
			continue;
		if (tmp->n == NS_PORTS_MAX)
			return ns_error (err, E2BIG, "ports: more than %d lines", NS_PORTS_MAX);
		r = parse_port_line (words, n, &p, err);
		for (size_t i = 0; r == 0 && i < tmp->n; i++)
			if (tmp->p[i].proto == p.proto && tmp->p[i].host_port == p.host_port)
				r = ns_error (err, EINVAL, "%s port %u is forwarded by line %zu already",
				              ns_port_proto_name (p.proto), p.host_port, tmp->p[i].line);
		if (r < 0) {
			snprintf (where, sizeof where, "ports: line %zu", lineno);
			ns_error_prefix (err, where);
			return r;
		}
		p.line = lineno;
		tmp->p[tmp->n++] = p;
	}
	*list = *tmp;
	return 0;
}

char *
ns_ports_format (const NsPortList *list)
{
	GString *t = g_string_new (NULL);

	for (size_t i = 0; i < list->n; i++)
		g_string_append_printf (t, "%s %u %u\n", ns_port_proto_name (list->p[i].proto), list->p[i].host_port,
		                        list->p[i].sandbox_port);
	return g_string_free (t, FALSE);
}
