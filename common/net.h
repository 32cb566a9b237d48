/* `net` and `ports` (INTERFACE §9): pure parsers that check a whole
 * write before anything is applied, and their inverses for reading back.
 *
 *   net:    none | veth | veth A.B.C.D/PREFIX
 *   ports:  tcp|udp HOSTPORT [SANDBOXPORT], one per line
 *
 * Whether an address is in nsfsd's pool, or a port is free, is nsfsd's to
 * say (nsfsd/network.c); the same line may not forward one host port
 * twice. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define NS_PORTS_MAX 64

typedef enum {
	NS_NET_NONE,
	NS_NET_VETH,
} NsNetMode;

typedef struct {
	NsNetMode mode;
	uint32_t addr;      /* host byte order; 0: the next free one of the pool */
	unsigned prefix;    /* with addr */
} NsNetSpec;

typedef enum {
	NS_PROTO_TCP,
	NS_PROTO_UDP,
} NsPortProto;

typedef struct {
	NsPortProto proto;
	uint16_t host_port, sandbox_port;
	size_t line;
} NsPort;

typedef struct {
	size_t n;
	NsPort p[NS_PORTS_MAX];
} NsPortList;

/* EINVAL malformed (an address needs a prefix of 8 to 30 and must not be
 * the network's or broadcast address of it). */
int ns_net_parse (const char *text, size_t len, NsNetSpec *out, NsError *err);
/* "none", "veth" or "veth A.B.C.D/P", no newline. */
char *ns_net_format (const NsNetSpec *net);
/* A.B.C.D/P of ADDR and PREFIX. */
char *ns_ipv4_format (uint32_t addr, unsigned prefix);
/* Parse "A.B.C.D" (no prefix) into ADDR; false if it is not one. */
bool ns_ipv4_parse (const char *text, uint32_t *addr);

/* One forward per line, blank lines ignored: EINVAL naming the line for
 * a malformed one or a host port given twice, E2BIG past NS_PORTS_MAX
 * lines.  LIST is untouched on error. */
int ns_ports_parse (const char *text, size_t len, NsPortList *list, NsError *err);
/* One `proto hostport sandboxport` line each; "" for none. */
char *ns_ports_format (const NsPortList *list);
const char *ns_port_proto_name (NsPortProto proto);
