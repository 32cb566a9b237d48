/* Unit tests for backend/idle_memory.c: what a supervisor gives back once
 * a start has settled. */
#include <glib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "idle_memory.h"

#define DEEP_BYTES (96 * 1024)

/* Dirties DEEP_BYTES of stack below its caller, as a start's deep calls
 * do, and returns the lowest address it wrote. */
static uintptr_t __attribute__ ((noinline))
dirty_stack_deep (void)
{
	volatile char frame[DEEP_BYTES];

	for (size_t i = 0; i < sizeof frame; i += 512)
		frame[i] = 1;
	return (uintptr_t) &frame[0];
}

/* How many of the N pages from LOW up are resident. */
static size_t
resident_pages (uintptr_t low, size_t n)
{
	size_t page = (size_t) sysconf (_SC_PAGESIZE);
	g_autofree unsigned char *vec = g_malloc (n);
	size_t count = 0;

	g_assert_cmpint (mincore ((void *) low, n * page, vec), ==, 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	return count;
}

static void
test_stack_below_the_caller_goes (void)
{
	uintptr_t page = (uintptr_t) sysconf (_SC_PAGESIZE);
	uintptr_t deep = dirty_stack_deep ();
	uintptr_t here = (uintptr_t) __builtin_frame_address (0);
	/* The pages well below this frame, clear of the release's own frames
	 * and the page it keeps under them. */
	uintptr_t low = (deep + page - 1) & ~(page - 1);
	uintptr_t high = (here & ~(page - 1)) - 4 * page;
	size_t n = (high - low) / page;

	g_assert_cmpuint (high, >, low);
	g_assert_cmpuint (n, >=, 8);
	g_assert_cmpuint (resident_pages (low, n), ==, n);
	sup_idle_memory_release ();
	g_assert_cmpuint (resident_pages (low, n), ==, 0);
	/* What was released is the stack still: touched again, it is a page
	 * of zeros. */
	g_assert_cmpuint (dirty_stack_deep (), ==, deep);
}

static void
test_heap_stays_usable (void)
{
	g_autofree char *kept = g_strdup ("kept");
	GPtrArray *freed = g_ptr_array_new_with_free_func (g_free);

	for (int i = 0; i < 256; i++)
		g_ptr_array_add (freed, g_malloc0 (4096));
	g_ptr_array_unref (freed);
	sup_idle_memory_release ();
	g_assert_cmpstr (kept, ==, "kept");
	g_free (g_malloc0 (1 << 20));
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/idle-memory/stack-below-the-caller-goes", test_stack_below_the_caller_goes);
	g_test_add_func ("/idle-memory/heap-stays-usable", test_heap_stays_usable);
	return g_test_run ();
}
