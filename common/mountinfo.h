/* /proc/PID/mountinfo's text: its fields escape space, tab, newline and
 * backslash as octal (\040 ...). */
#pragma once

/* Undo that escaping in S, in place. */
void ns_mountinfo_unescape (char *s);
