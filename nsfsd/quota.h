/* Per-uid bounds on what one local user can hold in nsfsd at once, so
 * that one user's load never starves another's (docs/security.md). */
#pragma once

#include <sys/types.h>

#include "error.h"

typedef enum {
	QUOTA_REQUESTS,  /* writes waiting on or queued for supervisors (EAGAIN) */
	QUOTA_HANDLES,   /* open files of the mount (EMFILE) */
	QUOTA_READERS,   /* reads blocked in `wait` (EAGAIN) */
	QUOTA_KINDS,
} QuotaKind;

/* 0: no limit.  Root (uid 0) is never limited. */
void quota_set_limit (QuotaKind kind, unsigned limit);
/* Take one KIND for UID: 0, or -errno with ERR saying which limit. */
int quota_take (QuotaKind kind, uid_t uid, NsError *err);
void quota_give (QuotaKind kind, uid_t uid);
/* What UID holds of KIND now (tests, logs). */
unsigned quota_held (QuotaKind kind, uid_t uid);
