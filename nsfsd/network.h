/* `net veth` and `ports` on the host's side (INTERFACE §9): nsfsd's pool
 * of addresses, its bridge and its nftables table, which all of its
 * sandboxes share.  The supervisor does each sandbox's own part (its veth
 * pair, its forwards); this is what no one sandbox owns.
 *
 * Leases and forwards live in the sandboxes' configurations: a restarted
 * nsfsd knows every address and port in use from them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "net.h"
#include "sandbox.h"

#define NETWORK_DEFAULT_BRIDGE "nsfs0"
#define NETWORK_DEFAULT_SUBNET "10.213.0.0/16"
/* The nftables table nsfsd owns (ip family), and its maps of forwards,
 * which supervisors add their sandboxes' elements to. */
#define NETWORK_NFT_TABLE "nsfs"

typedef struct {
	const char *bridge;
	uint32_t subnet;        /* host byte order, the network's address */
	unsigned prefix;
	unsigned veth_per_user; /* non-root owners' sandboxes with veth */
	unsigned ports_per_user;/* non-root owners' forwards, all sandboxes */
} NetworkOptions;

/* Parse --subnet's CIDR: false if it is not one nsfsd can use. */
bool network_parse_subnet (const char *text, uint32_t *subnet, unsigned *prefix);
void network_init (const NetworkOptions *o);

/* A `net` write's value SPEC for SB: the new configuration (with its
 * lease) in *CFG, or EINVAL (not in the pool), EADDRINUSE, EDQUOT.  The
 * caller commits it holding network_lock. */
int network_lease (Sandbox *sb, const NsNetSpec *spec, NsSandboxConfig **cfg, NsError *err);
/* A `ports` write's forwards for SB: EACCES below 1024 for a non-root
 * owner, EADDRINUSE for a host port another sandbox forwards, EDQUOT. */
int network_check_ports (Sandbox *sb, const NsPortList *ports, NsError *err);
/* Held across a check and its commit, so two sandboxes cannot take one
 * address or port. */
void network_lock (void);
void network_unlock (void);

/* Before SB starts: with veth, the bridge, the table and IP forwarding. */
int network_prepare_start (Sandbox *sb, NsError *err);
/* No sandbox has veth any more (one was removed or set to none, or
 * nsfsd just started): the bridge and the table go, a second later
 * unless a sandbox with veth starts meanwhile. */
void network_release_if_unused (void);
/* At exit: what is due to go goes now. */
void network_shutdown (void);
