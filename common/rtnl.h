/* rtnetlink requests nsfsd and the supervisor make for `net veth`
 * (INTERFACE §9), through libmnl as crun and LXC do: no `ip` subprocess.
 * The one part of common/ that talks to the kernel; each call opens its
 * own socket, sends one request and waits for the kernel's answer. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* The bridge NAME, up, with GATEWAY/PREFIX (host byte order) as its
 * address; made if it is missing, kept as it is if it is there. */
int ns_rtnl_ensure_bridge (const char *name, uint32_t gateway, unsigned prefix, NsError *err);
/* Delete the link NAME (a bridge, or one end of a veth pair, which takes
 * the other along); 0 if there is none. */
int ns_rtnl_delete_link (const char *name, NsError *err);
/* A veth pair in one request: HOST_END, up, on BRIDGE in the caller's
 * network namespace, and its peer PEER_NAME made directly in the network
 * namespace of PEER_PID. */
int ns_rtnl_create_veth (const char *host_end, const char *bridge, const char *peer_name, pid_t peer_pid, NsError *err);
