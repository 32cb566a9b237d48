/* A sandbox's configuration and its on-disk form (<sandbox dir>/config),
 * read by nsfsd and by the supervisor. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "idmap.h"
#include "job_settings.h"
#include "resource_limits.h"
#include "net.h"

#include <glib.h>

/* Output kept per job and stream unless nsfsd is told otherwise. */
#define NS_DEFAULT_MAX_OUTPUT ((uint64_t) 8 << 30)

/* Bumped when a key changes meaning; a build refuses newer files. */
#define NS_CONFIG_FORMAT 1

typedef struct {
	char *name;
	uint32_t owner_uid, owner_gid;
	unsigned long ns;          /* CLONE_NEW* set */
	/* As written; NULL until one is (ns_config_uid_map gives the map
	 * that applies).  Held apart: an NsIdMap has room for the kernel's
	 * 340 lines, 4 KiB, and most sandboxes never write one (PSS per idle
	 * sandbox, docs/performance.md). */
	NsIdMap *uid_map, *gid_map;
	char *hostname;            /* NULL: derived from the name */
	char *rootfs;              /* "" : the host's / */
	char *mounts;              /* `mounts` as it reads back (ns_mounts_format); "" : none */
	NsNetSpec net;             /* `net` as written */
	/* With veth: what nsfsd leased for it (the written address, or one of
	 * its pool), the bridge's address and name.  0 / NULL: none yet. */
	uint32_t net_addr, net_gateway;
	unsigned net_prefix;
	char *net_bridge;
	char *ports;               /* `ports` as it reads back (ns_ports_format); "" : none */
	NsLimits limits;           /* memory.max, pids.max, cpu.max */
	char *env;                 /* `env` normalized: KEY=VALUE lines; "" : none */
	char *cwd;                 /* "" : / */
	NsJobUser user;
	NsStdin stdin_mode;        /* `stdin` */
	uint64_t caps;             /* capabilities jobs keep (bit per CAP_*) */
	uint64_t max_output;       /* bytes of output kept per job and stream */
} NsSandboxConfig;

NsSandboxConfig *ns_config_new (const char *name, uint32_t uid, uint32_t gid);
void ns_config_free (NsSandboxConfig *c);
NsSandboxConfig *ns_config_copy (const NsSandboxConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NsSandboxConfig, ns_config_free)

/* The map that is or will be applied: the written one, or "0 <owner> 1". */
const NsIdMap *ns_config_uid_map (const NsSandboxConfig *c, NsIdMap *scratch);
const NsIdMap *ns_config_gid_map (const NsSandboxConfig *c, NsIdMap *scratch);

/* The hostname: as written, or the name with '_' turned into '-'. */
char *ns_config_hostname (const NsSandboxConfig *c);

/* Atomic save (temp file, fsync, rename) and load of PATH. */
int ns_config_save (const NsSandboxConfig *c, const char *path, NsError *err);
int ns_config_load (const char *path, NsSandboxConfig **out, NsError *err);

/* Job exit records: "running", "exited N", "signaled N". */
char *ns_wait_status_format (int wstatus);
