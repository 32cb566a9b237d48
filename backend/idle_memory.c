/* An idle sandbox costs the pages its supervisor wrote (PSS per idle
 * sandbox: docs/performance.md).  Setting a sandbox up writes more than
 * an idle supervisor keeps: the heap holds freed blocks, and the deep
 * calls of the start left their frames' pages dirty below the main loop's.
 * Neither holds anything now; both go back to the kernel, which gives a
 * zeroed page the next time one is touched. */
#include "idle_memory.h"

#include <errno.h>
#include <glib.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* How far below the loop this looks for the stack's end; a start's
 * deepest calls use some tens of KiB. */
#define STACK_SEARCH_BYTES (1024 * 1024)

static guint pending_release;

/* The lowest address of the stack's mapping at or below TOP, found by
 * asking mincore() page by page (it fails with ENOMEM where nothing is
 * mapped).  The kernel keeps a guard gap below a stack, so the first
 * unmapped page is its end, not a hole before another mapping. */
static uintptr_t
stack_low_end (uintptr_t top, uintptr_t page)
{
	unsigned char resident;
	uintptr_t low = top;

	while (top - low < STACK_SEARCH_BYTES && mincore ((void *) (low - page), page, &resident) == 0)
		low -= page;
	return low;
}

/* Nothing lives below the stack pointer (x86-64's red zone is the 128
 * bytes under it): keeping this frame's page and the one under it keeps
 * the red zone and the calls made from here.  Not inlined, so that "here"
 * is a frame below every caller's. */
static void __attribute__ ((noinline))
release_stack_below_here (void)
{
	uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
	uintptr_t here = (uintptr_t) __builtin_frame_address (0);
	uintptr_t keep_from = (here & ~(page - 1)) - page;
	uintptr_t low = stack_low_end (keep_from, page);

	if (low < keep_from && madvise ((void *) low, keep_from - low, MADV_DONTNEED) < 0)
		g_debug ("releasing the stack's unused pages: %s", g_strerror (errno));
}

void
sup_idle_memory_release (void)
{
	malloc_trim (0);
	release_stack_below_here ();
}

static gboolean
release_when_idle (gpointer data)
{
	pending_release = 0;
	sup_idle_memory_release ();
	return G_SOURCE_REMOVE;
}

void
sup_idle_memory_release_soon (void)
{
	if (!pending_release)
		pending_release = g_idle_add_full (G_PRIORITY_LOW, release_when_idle, NULL, NULL);
}
