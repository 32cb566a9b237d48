/* Credentials of job processes: never more than the sandbox's owner had. */
#include "supervisor.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Called in the job child after it joined the sandbox's namespaces.  With
 * a user namespace the job becomes the inside id that the owner maps to
 * (0 if the owner is not mapped, which only a root owner can arrange);
 * without one it keeps the owner's host ids. */
int
sup_drop_to_owner (const NsSandboxConfig *cfg, bool in_userns, NsError *err)
{
	uint32_t uid = cfg->owner_uid, gid = cfg->owner_gid;

	if (in_userns) {
		NsIdMap scratch;
		if (!ns_idmap_to_inside (ns_config_uid_map (cfg, &scratch), cfg->owner_uid, &uid))
			uid = 0;
		if (!ns_idmap_to_inside (ns_config_gid_map (cfg, &scratch), cfg->owner_gid, &gid))
			gid = 0;
	}
	if (cfg->owner_uid != 0 && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return ns_error (err, errno, "no_new_privs: %s", strerror (errno));
	if (setresgid (gid, gid, gid) < 0)
		return ns_error (err, errno, "setresgid %u: %s", gid, strerror (errno));
	if (setresuid (uid, uid, uid) < 0)
		return ns_error (err, errno, "setresuid %u: %s", uid, strerror (errno));
	return 0;
}
