/* hangfs: a FUSE file system that never answers.  It answers INIT (the
 * kernel would not mount it otherwise), GETATTR of its root, a directory
 * of mode 0755, and OPENDIR of it, so the mount stands and its root can
 * be walked through and opened (a rootfs check of the root passes, and
 * the start that follows hangs inside it); every other request -- a LOOKUP of anything in it
 * first of all -- is taken and never replied to.  So whoever opens or
 * executes a path under it waits until it is unmounted, which is what an
 * owner can do to a program path or a rootfs: the integration tests use
 * it to check that the supervisor never waits with them.
 *
 *   hangfs MOUNTPOINT [-o allow_other]     (stays in the foreground)
 *
 * The requests it holds are freed at exit, unanswered. */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void
hang_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st = { .st_ino = FUSE_ROOT_ID, .st_mode = S_IFDIR | 0755, .st_nlink = 2 };

	if (ino != FUSE_ROOT_ID)
		return; /* never answered */
	clock_gettime (CLOCK_REALTIME, &st.st_mtim);
	st.st_atim = st.st_ctim = st.st_mtim;
	/* Not cached: every walk through the root asks, and is answered. */
	fuse_reply_attr (req, &st, 0);
}

/* Taken and never answered.  The request stays allocated until the
 * session ends; a test mounts it for a few seconds. */
static void
hang_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
}

static void
hang_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
}

/* Answered: see the top.  RELEASEDIR then gets libfuse's default. */
static void
hang_opendir (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_open (req, fi);
}

static void
hang_access (fuse_req_t req, fuse_ino_t ino, int mask)
{
}

static void
hang_statfs (fuse_req_t req, fuse_ino_t ino)
{
}

static void
hang_getxattr (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
}

static const struct fuse_lowlevel_ops ops = {
	.getattr = hang_getattr,
	.lookup = hang_lookup,
	.open = hang_open,
	.opendir = hang_opendir,
	.access = hang_access,
	.statfs = hang_statfs,
	.getxattr = hang_getxattr,
};

int
main (int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT (argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline (&args, &opts) != 0)
		return 1;
	if (!opts.mountpoint) {
		fprintf (stderr, "usage: %s MOUNTPOINT [-o allow_other]\n", argv[0]);
		goto out;
	}
	se = fuse_session_new (&args, &ops, sizeof ops, NULL);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers (se) == 0) {
		if (fuse_session_mount (se, opts.mountpoint) == 0) {
			/* Single-threaded: one request held is no thread held. */
			ret = fuse_session_loop (se) ? 1 : 0;
			fuse_session_unmount (se);
		}
		fuse_remove_signal_handlers (se);
	}
	fuse_session_destroy (se);
out:
	free (opts.mountpoint);
	fuse_opt_free_args (&args);
	return ret;
}
