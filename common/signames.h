/* Signal names and numbers, as kill(1) spells them. */
#pragma once

#include "error.h"

/* "KILL", "SIGKILL", "kill", "9", "RTMIN+3": the signal number, or EINVAL. */
int ns_signal_parse (const char *text, int *signo, NsError *err);
