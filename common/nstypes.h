/* The eight namespace types: names, CLONE_* flags, and sets of them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define NS_TYPE_COUNT 8

typedef struct {
	const char *name;   /* as in /proc/PID/ns/<name> and in `ns` directives */
	unsigned long flag; /* CLONE_NEW* */
} NsType;

/* Sorted by name, the order `ns` lines and ns/ listings use. */
extern const NsType ns_types[NS_TYPE_COUNT];

#define NS_ALL_FLAGS ns_all_flags ()
unsigned long ns_all_flags (void);

const NsType *ns_type_by_name (const char *name);

/* Parse the words of an `ns` directive into a CLONE_* set.  Empty,
 * unknown or repeated names are EINVAL. */
int ns_set_parse (char *const *words, size_t n, unsigned long *out, NsError *err);

/* "cgroup ipc mnt ..." for SET; caller frees. */
char *ns_set_format (unsigned long set);
