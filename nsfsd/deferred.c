/* libfuse calls an interrupt callback at once, from inside
 * fuse_req_interrupt_func and holding the request's lock, when the
 * request was interrupted already; a reply from in there would free that
 * lock under libfuse's feet.  So the callback only marks it then, and
 * the registering thread replies. */
#include "deferred.h"

#include <stddef.h>

static __thread bool registering;
static __thread bool interrupted_while_registering;

bool
deferred_interrupted_now (void)
{
	if (registering)
		interrupted_while_registering = true;
	return registering;
}

bool
deferred_register (fuse_req_t req, fuse_interrupt_func_t fn)
{
	registering = true;
	interrupted_while_registering = false;
	fuse_req_interrupt_func (req, fn, NULL);
	registering = false;
	return !interrupted_while_registering;
}
