/* Spare sandboxes: supervisors started ahead of time whose init already
 * holds a fresh set of namespaces with the default configuration of a
 * root-owned sandbox.  A root mkdir takes one, so its first job needs no
 * namespace creation on its path; the pool refills in the background.
 * Spares live under <state>/spares/ and never appear in the tree. */
#pragma once

#include "sandbox.h"

/* Clear what an earlier nsfsd left in <state>/spares and keep COUNT
 * spares from now on (0: none). */
void spares_init (unsigned count);

/* A spare (a reference; not registered), or NULL if none is ready. */
Sandbox *spares_take (void);

/* End every spare (nsfsd is exiting). */
void spares_shutdown (void);
