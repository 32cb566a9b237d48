/* The `caps` file: which capabilities jobs keep, in libcap's text form
 * ("cap_net_bind_service=ep"), or "all" / "none". */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Every capability this build knows (bits 0..CAP_LAST_CAP). */
uint64_t ns_caps_all (void);

/* Parse a written value (one optional trailing newline).  The kept set
 * is the permitted set of the text; an effective capability that is not
 * permitted, or anything libcap cannot read, is EINVAL. */
int ns_caps_parse (const char *text, size_t len, uint64_t *keep, NsError *err);

/* "all", "none", or libcap's text for KEEP as "=ep"; caller frees. */
char *ns_caps_format (uint64_t keep);
