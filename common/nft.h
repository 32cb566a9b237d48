/* nftables commands through libnftables, in nft's own syntax; one call is
 * one transaction.  Shared by nsfsd (its table) and the supervisor (its
 * sandbox's forwards). */
#pragma once

#include <stdbool.h>

#include "error.h"

/* Run CMDS; on failure EIO with nft's own message in ERR (may be NULL). */
int ns_nft_run (const char *cmds, NsError *err);
