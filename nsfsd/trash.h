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
/* Finish the deletion under way; what is still queued is left for the
 * next nsfsd. */
void trash_shutdown (void);
