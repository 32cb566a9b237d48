/* Removing a sandbox's state directory without making anyone wait for
 * it: an overlay's upper layer may hold a whole system's worth of files.
 * The directory is renamed into <state dir>/trash at once (its name is
 * free again) and deleted by a thread of its own. */
#pragma once

/* Make <STATE_DIR>/trash and start deleting what a predecessor left in
 * it. */
void trash_init (const char *state_dir);
/* Take DIR out of the tree now and delete it soon; deleted here and now
 * if it cannot be renamed. */
void trash_dispose (const char *dir);
/* Finish what is queued (a sandbox's cgroups among it) before exit; what
 * an nsfsd that was killed left, the next one deletes. */
void trash_shutdown (void);
