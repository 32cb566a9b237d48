/* The `overlay` line: the rootfs as the read-only lower layer of an
 * overlay whose upper and work directories live in the sandbox's state
 * directory (overlay/upper, overlay/work), kept across stop and start.
 *
 * The supervisor (root) mounts it, in a helper, and hands the detached
 * mount to the init, which attaches it as its root: an overlay mounted
 * inside the sandbox's user namespace needs a kernel and an upper file
 * system that support it (tmpfs has user xattrs only since 6.6), and
 * Debian 12's kernel is 6.1.  The rootfs is opened with the owner's
 * credentials and given to overlayfs as that descriptor, so the lower
 * layer is exactly what the owner can reach, whatever the path names by
 * the time the overlay is made. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "report.h"

typedef struct {
	const NsSandboxConfig *cfg;
	int dirfd;          /* the sandbox's state directory */
	int sock;           /* the helper's end: a report, and the mount */
	gid_t groups[SUP_MAX_GROUPS];   /* the owner's, looked up by the supervisor */
	size_t n_groups;
} OverlayCall;

typedef struct {
	int sock;           /* the supervisor's end */
	SupOverlayDone done;
	gpointer data;
} OverlayWait;

/* Send REP, with FD attached unless it is -1. */
static void
send_result (int sock, const SupReport *rep, int fd)
{
	char control[CMSG_SPACE (sizeof (int))] = { 0 };
	struct iovec iov = { .iov_base = (void *) rep, .iov_len = sizeof *rep };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		struct cmsghdr *c;
		msg.msg_control = control;
		msg.msg_controllen = sizeof control;
		c = CMSG_FIRSTHDR (&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN (sizeof (int));
		memcpy (CMSG_DATA (c), &fd, sizeof fd);
	}
	(void) !sendmsg (sock, &msg, MSG_NOSIGNAL);
}

static int
fail (int sock, int code, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static int
fail (int sock, int code, const char *fmt, ...)
{
	SupReport rep = { .code = code };
	va_list ap;

	va_start (ap, fmt);
	vsnprintf (rep.msg, sizeof rep.msg, fmt, ap);
	va_end (ap);
	send_result (sock, &rep, -1);
	return code;
}

/* DIR under PARENT, made if missing; an O_PATH descriptor, or -1. */
static int
ensure_dir (int parent, const char *dir, mode_t mode)
{
	if (mkdirat (parent, dir, mode) < 0 && errno != EEXIST)
		return -1;
	return openat (parent, dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* The ids the sandbox's root has on the host: the upper layer's root is
 * the sandbox's /, which its root must be able to write. */
static void
sandbox_root_ids (const NsSandboxConfig *cfg, uid_t *uid, gid_t *gid)
{
	NsIdMap scratch;
	uint32_t u = cfg->owner_uid, g = cfg->owner_gid;

	if (cfg->ns & CLONE_NEWUSER) {
		if (!ns_idmap_to_outside (ns_config_uid_map (cfg, &scratch), 0, &u))
			u = cfg->owner_uid;
		if (!ns_idmap_to_outside (ns_config_gid_map (cfg, &scratch), 0, &g))
			g = cfg->owner_gid;
	}
	*uid = u;
	*gid = g;
}

/* Open the rootfs as the owner would: its groups and ids for the walk,
 * then root again (effective ids only: the saved ones stay root). */
static int
open_rootfs_as_owner (const OverlayCall *call, NsError *err)
{
	const NsSandboxConfig *cfg = call->cfg;
	int fd, saved;

	if (cfg->owner_uid != 0) {
		if (setgroups (call->n_groups, call->groups) < 0) {
			ns_error (err, errno, "setgroups: %s", strerror (errno));
			return -1;
		}
		if (setresgid (-1, cfg->owner_gid, -1) < 0 || setresuid (-1, cfg->owner_uid, -1) < 0) {
			ns_error (err, errno, "take the owner's ids: %s", strerror (errno));
			return -1;
		}
	}
	fd = open (cfg->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	saved = errno;
	if (cfg->owner_uid != 0 && (setresuid (-1, 0, -1) < 0 || setresgid (-1, 0, -1) < 0 || setgroups (0, NULL) < 0)) {
		ns_error (err, errno, "return to root: %s", strerror (errno));
		return -1;
	}
	if (fd < 0)
		ns_error (err, saved == ENOENT ? ENOENT : saved == ENOTDIR ? EINVAL : EACCES,
		          "overlay: uid %u cannot read the rootfs %.200s: %s", cfg->owner_uid, cfg->rootfs,
		          strerror (saved));
	return fd;
}

static int
set_layer (int fs, const char *key, int fd)
{
	char path[32];

	snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
	return fsconfig (fs, FSCONFIG_SET_STRING, key, path, 0);
}

/* Why overlayfs refused: the messages it left on the context. */
static void
context_message (int fs, char *buf, size_t size)
{
	ssize_t n = read (fs, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	g_strchomp (buf);
}

static int
overlay_child (gpointer data)
{
	OverlayCall *call = data;
	const NsSandboxConfig *cfg = call->cfg;
	_cleanup_close_ int top = -1, upper = -1, work = -1, lower = -1, fs = -1, mnt = -1;
	SupReport ok = { 0 };
	NsError err = { 0 };
	uid_t uid;
	gid_t gid;

	top = ensure_dir (call->dirfd, "overlay", 0700);
	if (top >= 0) {
		upper = ensure_dir (top, "upper", 0755);
		work = ensure_dir (top, "work", 0700);
	}
	if (upper < 0 || work < 0)
		return fail (call->sock, errno, "overlay: make the upper layer in the state directory: %s", strerror (errno));
	sandbox_root_ids (cfg, &uid, &gid);
	/* Again at every start: the id maps may have changed since. */
	if (fchownat (upper, "", uid, gid, AT_EMPTY_PATH) < 0)
		return fail (call->sock, errno, "overlay: chown the upper layer: %s", strerror (errno));
	lower = open_rootfs_as_owner (call, &err);
	if (lower < 0)
		return fail (call->sock, err.code, "%s", err.msg);
	fs = fsopen ("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return fail (call->sock, errno == ENODEV ? EOPNOTSUPP : errno, "overlay: this kernel has no overlayfs: %s",
		             strerror (errno));
	if (set_layer (fs, "lowerdir", lower) < 0 || set_layer (fs, "upperdir", upper) < 0 ||
	    set_layer (fs, "workdir", work) < 0 || fsconfig (fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		int saved = errno;
		char why[256];
		context_message (fs, why, sizeof why);
		return fail (call->sock, saved, "overlay over %.200s: %s%s%s", cfg->rootfs, strerror (saved),
		             why[0] ? ": " : "", why);
	}
	/* No device nodes for a non-root owner, as in any mount its user
	 * namespace could make. */
	mnt = fsmount (fs, FSMOUNT_CLOEXEC, cfg->owner_uid != 0 ? MOUNT_ATTR_NODEV : 0);
	if (mnt < 0)
		return fail (call->sock, errno, "overlay: fsmount: %s", strerror (errno));
	send_result (call->sock, &ok, mnt);
	return 0;
}

/* The helper is gone: its report (and the mount) are in the socket. */
static void
overlay_helper_done (int code, gpointer data)
{
	OverlayWait *w = data;
	char control[CMSG_SPACE (sizeof (int))] = { 0 };
	SupReport rep = { .code = EIO };
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof rep };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	struct cmsghdr *c;
	NsError err = { 0 };
	int fd = -1;
	ssize_t n;

	n = recvmsg (w->sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	c = n > 0 ? CMSG_FIRSTHDR (&msg) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy (&fd, CMSG_DATA (c), sizeof fd);
	rep.msg[sizeof rep.msg - 1] = '\0';
	if (n == (ssize_t) sizeof rep && rep.code == 0 && fd >= 0)
		w->done (fd, NULL, w->data);
	else {
		if (n != (ssize_t) sizeof rep)
			ns_error (&err, code == ETIMEDOUT ? ETIMEDOUT : EIO, "overlay: the helper %s",
			          code == ETIMEDOUT ? "did not finish in time (is the rootfs on a file system that hangs?)"
			                            : "died");
		else
			ns_error (&err, rep.code ? rep.code : EIO, "%s", rep.msg);
		if (fd >= 0)
			close (fd);
		w->done (-1, &err, w->data);
	}
	close (w->sock);
	g_free (w);
}

int
sup_overlay_mount (Supervisor *s, const NsSandboxConfig *cfg, SupOverlayDone done, gpointer data, NsError *err)
{
	int sv[2];
	OverlayCall call = { .cfg = cfg, .dirfd = s->dirfd, .sock = -1 };
	OverlayWait *w;

	call.n_groups = sup_owner_group_list (cfg, call.groups, G_N_ELEMENTS (call.groups));
	if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return ns_error (err, errno, "overlay: socketpair: %s", strerror (errno));
	call.sock = sv[1];
	w = g_new0 (OverlayWait, 1);
	w->sock = sv[0];
	w->done = done;
	w->data = data;
	/* A helper: the rootfs is the owner's to name, maybe on a file
	 * system that never answers. */
	if (sup_helper_start (overlay_child, &call, SUP_HELPER_TIMEOUT_SECONDS, overlay_helper_done, w, err) < 0) {
		close (sv[0]);
		close (sv[1]);
		g_free (w);
		return -err->code;
	}
	close (sv[1]);
	return 0;
}
