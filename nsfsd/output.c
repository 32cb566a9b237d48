/* Reads of job output: spliced from the state-dir file where the reply
 * fits a pipe, copied otherwise. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

static bool splice_output;

void
output_use_splice (bool on)
{
	splice_output = on;
}

/* Without splice: a copy through a buffer kept per thread, since a fresh
 * megabyte per read would be an mmap, page faults and an munmap each time. */
static __thread char *output_buf;
static __thread size_t output_buf_size;

static void
free_output_buf (void *buf)
{
	g_free (buf);
}

static void
copy_output (fuse_req_t req, int fd, size_t size, off_t off)
{
	static GPrivate cleanup = G_PRIVATE_INIT (free_output_buf);
	ssize_t n;

	if (output_buf_size < size) {
		g_free (output_buf);
		output_buf = g_malloc (size);
		output_buf_size = size;
		/* Freed when the worker thread ends. */
		g_private_set (&cleanup, output_buf);
	}
	do
		n = pread (fd, output_buf, size, off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fuse_reply_err (req, errno);
	else
		fuse_reply_buf (req, output_buf, (size_t) n);
}

void
read_output (fuse_req_t req, FileHandle *fh, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT (0);
	struct stat st;

	if (!splice_output) {
		copy_output (req, fh->output_fd, size, off);
		return;
	}
	/* Ask for no more than there is: a short splice makes libfuse redo
	 * the whole request as a copy. */
	if (fstat (fh->output_fd, &st) < 0) {
		fuse_reply_err (req, errno);
		return;
	}
	if (off >= st.st_size) {
		fuse_reply_buf (req, NULL, 0);
		return;
	}
	size = MIN (size, (size_t) (st.st_size - off));
	if (size > OUTPUT_SPLICE_MAX) {
		copy_output (req, fh->output_fd, size, off);
		return;
	}
	bv.buf[0].size = size;
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fh->output_fd;
	bv.buf[0].pos = off;
	fuse_reply_data (req, &bv, 0);
}

