/* What an idle supervisor gives back once a start has settled. */
#pragma once

/* Once the loop is idle (an idle source of low priority): free heap
 * goes back to the kernel, and so do the stack's pages below the loop's
 * frames.  Calls while one is pending are one. */
void sup_idle_memory_release_soon (void);
