/* The job-start floor: what any tool must do to run a program inside an
 * existing sandbox, in a tight loop with no file system in between:
 * fork, setns into each of the init's namespaces (opened once), fork
 * again so the program lands in the pid namespace, exec, wait.
 *
 *   floor PID N PROGRAM   prints N per-iteration times in nanoseconds */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const types[] = { "user", "cgroup", "ipc", "mnt", "net", "pid", "time", "uts" };
#define NTYPES (sizeof types / sizeof types[0])

static long long
now_ns (void)
{
	struct timespec ts;
	clock_gettime (CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
main (int argc, char **argv)
{
	int fds[NTYPES];
	char path[64];
	long n;

	if (argc != 4) {
		fprintf (stderr, "usage: floor PID N PROGRAM\n");
		return 2;
	}
	n = strtol (argv[2], NULL, 10);
	for (size_t i = 0; i < NTYPES; i++) {
		snprintf (path, sizeof path, "/proc/%s/ns/%s", argv[1], types[i]);
		fds[i] = open (path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0) {
			perror (path);
			return 1;
		}
	}
	for (long k = 0; k < n; k++) {
		long long t0 = now_ns ();
		int status;
		pid_t pid = fork ();

		if (pid == 0) {
			for (size_t i = 0; i < NTYPES; i++)
				if (setns (fds[i], 0) < 0)
					_exit (100 + (int) i);
			pid_t child = fork ();
			if (child == 0) {
				execl (argv[3], argv[3], (char *) NULL);
				_exit (127);
			}
			waitpid (child, &status, 0);
			_exit (WIFEXITED (status) ? WEXITSTATUS (status) : 1);
		}
		waitpid (pid, &status, 0);
		if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
			fprintf (stderr, "floor: iteration failed (status %d)\n", status);
			return 1;
		}
		printf ("%lld\n", now_ns () - t0);
	}
	return 0;
}
