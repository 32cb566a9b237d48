/* What a job's child process needs to become the job: prepared by the
 * supervisor (or the spawner, from the supervisor's request) before the
 * child exists, so the child allocates nothing and looks nothing up. */
#pragma once

#include <sys/types.h>

#include "supervisor.h"

typedef struct {
	Supervisor *s;
	char *const *argv;
	int null_fd, out_fd, err_fd, report_fd;
	gid_t groups[SUP_MAX_GROUPS];
	size_t n_groups;
	char *const *envp;      /* the job's environment (defaults and `env`) */
	const char *cwd;        /* `cwd`, "" for / */
	NsJobUser user;         /* `user` */
	bool tty;               /* fds 0-2 are a terminal to make the controlling one */
	bool in_groups;         /* made by the spawner, born in the sandbox's cgroups */
	bool born_in_v2;        /* made by the supervisor, born in the cgroup2 group */
} JobStart;

/* The child's side: join the sandbox, take the owner's ids, execvp; on
 * failure a report on js->report_fd and exit 127.  Runs in a fork or in
 * a child sharing its parent's memory (CLONE_VM | CLONE_VFORK). */
int sup_job_child (void *js);
