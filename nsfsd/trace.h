/* nsfsd -d: one line on stderr per request, naming the path it asked for,
 * who asked, and how it ended (the reply's errno name or what it gave). */
#pragma once

#include <stdbool.h>

#include <fuse_lowlevel.h>

void trace_enable (void);
/* REQ asks OP of the node at INO, or of the entry NAME in it (NAME may be
 * NULL); its reply, whenever it comes, ends the line.  Does nothing
 * unless -d was given. */
void trace_request (fuse_req_t req, const char *op, fuse_ino_t ino, const char *name);
/* A second name of a request, for rename and link: "-> NEWPARENT/NEWNAME". */
void trace_request2 (fuse_req_t req, const char *op, fuse_ino_t ino, const char *name, fuse_ino_t ino2,
                     const char *name2);
