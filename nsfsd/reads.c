/* Reads of generated files: a snapshot per pass (seq_file's model) and
 * exec's job id. */
#include "reads.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

void
reply_slice (fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	if ((size_t) off >= len)
		fuse_reply_buf (req, NULL, 0);
	else
		fuse_reply_buf (req, data + off, MIN (size, len - (size_t) off));
}

/* After a reply the kernel may release the file at once, so nothing may
 * touch FH (its lock included) once the reply is sent: copy, unlock,
 * then reply. */
void
read_snapshot (fuse_req_t req, FileHandle *fh, size_t size, off_t off)
{
	g_autofree char *slice = NULL;
	size_t len = 0;

	g_mutex_lock (&fh->lock);
	/* One snapshot per pass: regenerated when a reader starts over. */
	if (!fh->snapshot || off == 0) {
		Job *job = NULL;
		if (fh->snapshot)
			g_string_truncate (fh->snapshot, 0);
		else
			fh->snapshot = g_string_new (NULL);
		g_mutex_lock (&fh->sb->lock);
		if (fh->job_id)
			job = sandbox_job_locked (fh->sb, fh->job_id);
		if (!fh->job_id || job)
			fh->spec->show (fh->sb, job, fh->snapshot);
		g_mutex_unlock (&fh->sb->lock);
	}
	if ((size_t) off < fh->snapshot->len) {
		len = MIN (size, fh->snapshot->len - (size_t) off);
		slice = g_memdup2 (fh->snapshot->str + off, len);
	}
	g_mutex_unlock (&fh->lock);
	fuse_reply_buf (req, slice, len);
}

void
read_job_id (fuse_req_t req, FileHandle *fh, size_t size)
{
	char text[16] = "";
	size_t len = 0, start;

	/* The file offset is past what was written; our own position counts. */
	g_mutex_lock (&fh->lock);
	if (fh->started_job)
		len = (size_t) snprintf (text, sizeof text, "%u\n", fh->started_job);
	start = MIN (fh->id_read_pos, len);
	size = MIN (size, len - start);
	fh->id_read_pos = start + size;
	g_mutex_unlock (&fh->lock);
	fuse_reply_buf (req, text + start, size);
}

/* Output goes to the kernel by splice where it fits (OUTPUT_SPLICE_MAX): file
 * to pipe to /dev/fuse moves page references, so the only copy is the
 * kernel's into the reader's buffer or page cache.  libfuse keeps the
 * pipe (one per worker thread, freed with the thread).  Bigger direct
 * reads (cat asks for st_blksize, a megabyte) are copied. */
