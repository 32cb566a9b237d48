/* What an idle supervisor gives back once a start has settled. */
#pragma once

/* Free heap goes back to the kernel, and so do the stack's pages below
 * the caller's frame (the caller's page and the one under it stay). */
void sup_idle_memory_release (void);

/* The same, once the loop is idle (an idle source of low priority);
 * calls while one is pending are one. */
void sup_idle_memory_release_soon (void);
