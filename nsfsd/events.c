#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>

#include "deferred.h"
#include "quota.h"

struct EventReader {
	uint32_t serial;            /* 0: every sandbox */
	uid_t uid;
	GQueue lines;               /* char *, each ending in a newline */
	size_t head_read;           /* bytes of the first line read already */
	/* The queue was full: an `overflow` line ends it, and lines are
	 * dropped until the reader has read that far. */
	bool overflowed;
	fuse_req_t waiting;         /* a blocked read, or NULL */
	size_t want;
	struct fuse_pollhandle *ph; /* the last poll's handle */
};

/* Guards every reader and the list of them. */
static GMutex events_lock;
static GPtrArray *readers;

EventReader *
events_open (uint32_t serial, uid_t uid)
{
	EventReader *r = g_new0 (EventReader, 1);

	r->serial = serial;
	r->uid = uid;
	g_queue_init (&r->lines);
	g_mutex_lock (&events_lock);
	if (!readers)
		readers = g_ptr_array_new ();
	g_ptr_array_add (readers, r);
	g_mutex_unlock (&events_lock);
	return r;
}

void
events_close (EventReader *r)
{
	if (!r)
		return;
	g_mutex_lock (&events_lock);
	g_ptr_array_remove (readers, r);
	g_mutex_unlock (&events_lock);
	/* No read is in flight on an open being released. */
	g_queue_clear_full (&r->lines, g_free);
	if (r->ph)
		fuse_pollhandle_destroy (r->ph);
	g_free (r);
}

/* Whole lines, as many as fit in SIZE; a line larger than SIZE alone is
 * given in pieces, the next read going on where this one stopped (a
 * shell's `read` asks for one byte at a time).  Under events_lock, R has
 * some. */
static GString *
take_lines (EventReader *r, size_t size)
{
	GString *out = g_string_new (NULL);

	while (!g_queue_is_empty (&r->lines)) {
		const char *rest = (const char *) g_queue_peek_head (&r->lines) + r->head_read;
		size_t len = strlen (rest);
		if (out->len && out->len + len > size)
			break;
		if (len > size - out->len) {
			size_t n = size - out->len;
			g_string_append_len (out, rest, (gssize) n);
			r->head_read += n;
			break;
		}
		g_string_append (out, rest);
		g_free (g_queue_pop_head (&r->lines));
		r->head_read = 0;
		/* Past the overflow line: lines are kept again. */
		if (g_queue_is_empty (&r->lines))
			r->overflowed = false;
	}
	return out;
}

static bool
has_lines (EventReader *r)
{
	return !g_queue_is_empty (&r->lines);
}

static void
on_read_interrupted (fuse_req_t req, void *data)
{
	uid_t uid = 0;
	bool mine = false;

	if (deferred_interrupted_now ())
		return;
	g_mutex_lock (&events_lock);
	for (guint i = 0; readers && i < readers->len && !mine; i++) {
		EventReader *r = readers->pdata[i];
		if (r->waiting == req) {
			r->waiting = NULL;
			uid = r->uid;
			mine = true;
		}
	}
	g_mutex_unlock (&events_lock);
	if (mine) {
		quota_give (QUOTA_READERS, uid);
		fuse_reply_err (req, EINTR);
	}
}

void
events_read (fuse_req_t req, EventReader *r, size_t size, int flags)
{
	g_autoptr (GString) out = NULL;
	NsError err;
	int q;

	g_mutex_lock (&events_lock);
	if (has_lines (r)) {
		out = take_lines (r, size);
		g_mutex_unlock (&events_lock);
		fuse_reply_buf (req, out->str, out->len);
		return;
	}
	if ((flags & O_NONBLOCK) || r->waiting) {
		g_mutex_unlock (&events_lock);
		fuse_reply_err (req, EAGAIN);
		return;
	}
	if ((q = quota_take (QUOTA_READERS, r->uid, &err)) < 0) {
		g_mutex_unlock (&events_lock);
		fuse_reply_err (req, -q);
		return;
	}
	r->waiting = req;
	r->want = size;
	g_mutex_unlock (&events_lock);
	/* Registered outside the lock: an interrupt already there calls
	 * on_read_interrupted from inside, which takes it. */
	if (!deferred_register (req, on_read_interrupted)) {
		bool mine;
		g_mutex_lock (&events_lock);
		mine = r->waiting == req;
		if (mine)
			r->waiting = NULL;
		g_mutex_unlock (&events_lock);
		if (mine) {
			quota_give (QUOTA_READERS, r->uid);
			fuse_reply_err (req, EINTR);
		}
	}
}

void
events_poll (fuse_req_t req, EventReader *r, struct fuse_pollhandle *ph)
{
	unsigned revents = 0;

	g_mutex_lock (&events_lock);
	if (has_lines (r))
		revents = POLLIN | POLLRDNORM;
	else if (ph) {
		if (r->ph)
			fuse_pollhandle_destroy (r->ph);
		r->ph = g_steal_pointer (&ph);
	}
	g_mutex_unlock (&events_lock);
	if (ph)
		fuse_pollhandle_destroy (ph);
	fuse_reply_poll (req, revents);
}

typedef struct {
	fuse_req_t req;
	GString *out;
	uid_t uid;
} Answer;

void
events_emit (uint32_t serial, const char *name, const char *fmt, ...)
{
	g_autoptr (GArray) answers = g_array_new (FALSE, FALSE, sizeof (Answer));
	g_autoptr (GPtrArray) wake = g_ptr_array_new ();
	g_autofree char *line = NULL, *prefixed = NULL;
	bool anyone;
	va_list ap;

	/* Every write and every job's end tells: nothing to format when
	 * nobody reads. */
	g_mutex_lock (&events_lock);
	anyone = readers && readers->len;
	g_mutex_unlock (&events_lock);
	if (!anyone)
		return;
	va_start (ap, fmt);
	line = g_strdup_vprintf (fmt, ap);
	va_end (ap);
	prefixed = g_strdup_printf ("%s %s\n", name, line);
	g_mutex_lock (&events_lock);
	for (guint i = 0; readers && i < readers->len; i++) {
		EventReader *r = readers->pdata[i];
		if (r->serial && r->serial != serial)
			continue;
		if (r->overflowed)
			continue;
		if (g_queue_get_length (&r->lines) >= EVENTS_QUEUE_MAX) {
			/* Behind by a full queue: this line and those after it until
			 * the reader catches up are lost, and it is told so once,
			 * where they were. */
			g_queue_push_tail (&r->lines, g_strdup ("overflow\n"));
			r->overflowed = true;
		} else {
			g_queue_push_tail (&r->lines, r->serial ? g_strdup_printf ("%s\n", line) : g_strdup (prefixed));
		}
		if (r->waiting) {
			Answer a = { r->waiting, take_lines (r, r->want), r->uid };
			r->waiting = NULL;
			g_array_append_val (answers, a);
		}
		if (r->ph)
			g_ptr_array_add (wake, g_steal_pointer (&r->ph));
	}
	g_mutex_unlock (&events_lock);
	for (guint i = 0; i < answers->len; i++) {
		Answer *a = &g_array_index (answers, Answer, i);
		quota_give (QUOTA_READERS, a->uid);
		fuse_reply_buf (a->req, a->out->str, a->out->len);
		g_string_free (a->out, TRUE);
	}
	for (guint i = 0; i < wake->len; i++) {
		fuse_lowlevel_notify_poll (wake->pdata[i]);
		fuse_pollhandle_destroy (wake->pdata[i]);
	}
}

void
events_cancel_all (void)
{
	g_autoptr (GPtrArray) cancel = g_ptr_array_new ();

	g_mutex_lock (&events_lock);
	for (guint i = 0; readers && i < readers->len; i++) {
		EventReader *r = readers->pdata[i];
		if (r->waiting) {
			quota_give (QUOTA_READERS, r->uid);
			g_ptr_array_add (cancel, r->waiting);
			r->waiting = NULL;
		}
	}
	g_mutex_unlock (&events_lock);
	for (guint i = 0; i < cancel->len; i++)
		fuse_reply_err (cancel->pdata[i], EINTR);
}
