#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
ns_write_atomic (int dirfd, const char *name, const char *text, bool durable)
{
	char tmp[256];
	size_t len = strlen (text), off = 0;
	int fd, r = 0;

	if ((size_t) snprintf (tmp, sizeof tmp, ".%s.tmp", name) >= sizeof tmp)
		return -ENAMETOOLONG;
	fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write (fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		off += (size_t) w;
	}
	if (r == 0 && durable && fsync (fd) < 0)
		r = -errno;
	if (close (fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat (dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0)
		unlinkat (dirfd, tmp, 0);
	return r;
}
