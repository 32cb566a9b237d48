/* memory.max, pids.max, cpu.max and stats on nsfsd's side (INTERFACE §8):
 * which controllers this host lets nsfs use, the defaults and ceilings
 * for non-root owners (options), and `stats` read from the sandbox's
 * groups.  The groups themselves are the supervisor's (backend/cgroups.c). */
#pragma once

#include <stdbool.h>

#include <glib.h>

#include "error.h"
#include "resource_limits.h"
#include "sandbox.h"

typedef struct {
	NsLimits user_default;  /* a non-root owner's new sandbox */
	NsLimits user_ceiling;  /* what a non-root owner may set; NS_LIMIT_MAX: no ceiling */
	bool offered[NS_LIMIT_CPU + 1];  /* the controllers nsfs may use for limits */
} ResourceOptions;

/* --cgroup-controllers: a comma list of memory, pids and cpu. */
bool resources_parse_controllers (const char *text, ResourceOptions *o);

/* Look at the host's hierarchies (and make nsfs's own group in each). */
void resources_init (const ResourceOptions *o);
/* At clean exit: nsfs's groups that are empty go. */
void resources_shutdown (void);
const ResourceOptions *resources_options (void);
/* The limits a non-root owner's new sandbox starts with: the
 * --user-*-max defaults, for the controllers nsfs has. */
void resources_user_default (NsLimits *out);

/* Whether KIND can be limited here: EOPNOTSUPP (and ERR) if not. */
int resources_check_supported (NsLimitKind kind, const NsLimits *l, NsError *err);
/* Whether OWNER may set L: EPERM over a ceiling (root has none). */
int resources_check_ceiling (uid_t owner, NsLimitKind kind, const NsLimits *l, NsError *err);

/* The groups recorded in SANDBOX_DIR (a sandbox whose supervisor was
 * killed left them): what is in them is killed, and they go.  May wait
 * (up to 2 s): for the trash thread. */
void resources_remove_recorded_groups (const char *sandbox_dir);

/* A job of SB ended: an `oom` event for each kill its cgroup counted
 * since the last look. */
void resources_note_oom (Sandbox *sb);

/* `stats`: the five keys, zeros while SB is not running. */
void resources_show_stats (Sandbox *sb, GString *out);
