/* ctl directives: a Cmdtab-style table and a parser that checks a whole
 * write before anything is applied. */
#pragma once

#include <stddef.h>

#include "error.h"

typedef enum {
	NS_CTL_NS,
	NS_CTL_START,
	NS_CTL_STOP,
	NS_CTL_KILL,
	NS_CTL_PIN,
	NS_CTL_UNPIN,
} NsCtlVerb;

typedef struct {
	NsCtlVerb verb;
	unsigned long ns_set; /* NS_CTL_NS */
	int signo;            /* NS_CTL_KILL */
	size_t line;          /* where it stood in the write, from 1 */
} NsCtlCmd;

#define NS_CTL_MAX_CMDS 16

typedef struct {
	size_t n;
	NsCtlCmd cmd[NS_CTL_MAX_CMDS];
} NsCtlScript;

/* Parse TEXT (LEN bytes): one directive per line, blank lines ignored,
 * at least one directive.  Everything is checked first; on error SCRIPT is
 * untouched and ERR says which line was wrong. */
int ns_ctl_parse (const char *text, size_t len, NsCtlScript *script, NsError *err);

/* Say in ERR that the directive on LINE of the write was the wrong one. */
void ns_ctl_error_at (NsError *err, size_t line);
