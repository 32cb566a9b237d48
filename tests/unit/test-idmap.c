/* Unit tests for common/idmap.c: uid_map/gid_map text, subuid ranges and
 * delegation checks. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "idmap.h"
#include "test-util.h"

/* Parse NUL-terminated TEXT as a uid_map; the map is heap-allocated
 * because an NsIdMap is about 4 KiB. */
static int
parse (const char *text, NsIdMap *map, NsError *err)
{
	return ns_idmap_parse (text, strlen (text), "uid_map", map, err);
}

static NsIdMap *
map_new_poisoned (void)
{
	NsIdMap *m = g_new (NsIdMap, 1);
	memset (m, 0xa5, sizeof *m);
	return m;
}

static void
assert_map_poisoned (const NsIdMap *m)
{
	g_autofree NsIdMap *ref = map_new_poisoned ();
	g_assert_cmpmem (m, sizeof *m, ref, sizeof *ref);
}

static void
assert_extent (const NsIdMap *m, size_t i, uint32_t inside, uint32_t outside, uint32_t count)
{
	g_assert_cmpuint (i, <, m->n);
	g_assert_cmpuint (m->extent[i].inside, ==, inside);
	g_assert_cmpuint (m->extent[i].outside, ==, outside);
	g_assert_cmpuint (m->extent[i].count, ==, count);
}

/* Expect TEXT (LEN bytes, or up to its NUL when LEN is -1) to fail with
 * EINVAL, the map untouched and WANT in the message. */
static void
assert_invalid (const char *text, gssize len, const char *want)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	NsError err;
	int r;

	ns_error_poison (&err);
	if (len < 0)
		len = (gssize) strlen (text);
	g_test_message ("input: '%s'", text);
	r = ns_idmap_parse (text, (size_t) len, "uid_map", m, &err);
	assert_ns_error (r, &err, EINVAL, want);
	g_assert_true (g_str_has_prefix (err.msg, "uid_map: "));
	assert_map_poisoned (m);
}

static void
test_single_line (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	NsError err = { 0 };

	g_assert_cmpint (parse ("0 1000 1", m, &err), ==, 0);
	g_assert_cmpuint (m->n, ==, 1);
	assert_extent (m, 0, 0, 1000, 1);
	g_assert_cmpint (err.code, ==, 0);
}

static void
test_trailing_newline (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();

	g_assert_cmpint (parse ("0 1000 1\n", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 1);
	assert_extent (m, 0, 0, 1000, 1);

	g_assert_cmpint (parse ("0 1000 1\n1 100000 65536\n", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 2);
	assert_extent (m, 1, 1, 100000, 65536);

	/* Only one newline may end the text: a second one is an empty line. */
	assert_invalid ("0 1000 1\n\n", -1, "line 2");
	assert_invalid ("\n", -1, "empty");
	assert_invalid ("\n\n", -1, "line 1");
	assert_invalid ("\n0 1000 1", -1, "line 1");
	assert_invalid ("0 1000 1\n\n1 2000 1", -1, "line 2");
}

static void
test_blanks (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();

	g_assert_cmpint (parse ("   0\t1000  \t 1 \t", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 1);
	assert_extent (m, 0, 0, 1000, 1);

	/* The kernel's own output pads with spaces. */
	g_assert_cmpint (parse ("         0       1000          1\n         1     100000      65536\n", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 2);
	assert_extent (m, 0, 0, 1000, 1);
	assert_extent (m, 1, 1, 100000, 65536);
}

static void
test_multi_line_order (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();

	g_assert_cmpint (parse ("1000 0 10\n0 10 1000\n2000 5000 1", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 3);
	assert_extent (m, 0, 1000, 0, 10);
	assert_extent (m, 1, 0, 10, 1000);
	assert_extent (m, 2, 2000, 5000, 1);
}

static GString *
lines (size_t n, bool trailing_newline)
{
	GString *s = g_string_new (NULL);
	for (size_t i = 0; i < n; i++)
		g_string_append_printf (s, "%zu %zu 1%s", i, 1000 + i, i + 1 < n || trailing_newline ? "\n" : "");
	return s;
}

static void
test_line_limit (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	g_autoptr (GString) s340 = lines (340, false);
	g_autoptr (GString) s340n = lines (340, true);
	g_autoptr (GString) s341 = lines (341, false);
	g_autoptr (GString) s341n = lines (341, true);

	g_assert_cmpint (ns_idmap_parse (s340->str, s340->len, "uid_map", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 340);
	assert_extent (m, 339, 339, 1339, 1);

	memset (m, 0xa5, sizeof *m);
	g_assert_cmpint (ns_idmap_parse (s340n->str, s340n->len, "uid_map", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 340);

	assert_invalid (s341->str, (gssize) s341->len, "more than 340 lines");
	assert_invalid (s341n->str, (gssize) s341n->len, "more than 340 lines");

	/* 340 lines of large ids are more than the kernel takes in one
	 * write, unless adjacent ones join into fewer. */
	{
		g_autoptr (GString) wide = g_string_new (NULL);
		g_autoptr (GString) gappy = g_string_new (NULL);
		NsIdMap joined;

		for (size_t i = 0; i < 340; i++) {
			g_string_append_printf (wide, "%zu %zu 1\n", i, 300000 + i);
			g_string_append_printf (gappy, "%zu %zu 1\n", 2 * i, 300000 + 2 * i);
		}
		g_assert_cmpuint (wide->len, >=, NS_IDMAP_MAX_BYTES);
		g_assert_cmpint (ns_idmap_parse (wide->str, wide->len, "uid_map", m, NULL), ==, 0);
		g_assert_cmpuint (m->n, ==, 340);
		ns_idmap_joined (m, &joined);
		g_assert_cmpuint (joined.n, ==, 1);
		assert_extent (&joined, 0, 0, 300000, 340);
		assert_invalid (gappy->str, (gssize) gappy->len, "the kernel takes at most 4095");
	}
}

/* Joined for the kernel: sorted by inside id, an extent that continues
 * the one before it in both ranges becomes part of it, nothing else. */
static void
test_joined (void)
{
	static const char text[] = "5 1005 5\n0 1000 5\n10 2000 1\n11 2001 2\n20 2003 1\n13 3000 1\n";
	static const char whole[] = "0 0 4294967294\n";
	g_autofree NsIdMap *m = map_new_poisoned ();
	NsIdMap j;

	g_assert_cmpint (ns_idmap_parse (text, strlen (text), "uid_map", m, NULL), ==, 0);
	ns_idmap_joined (m, &j);
	g_assert_cmpuint (j.n, ==, 4);
	assert_extent (&j, 0, 0, 1000, 10);   /* out of order, joined */
	assert_extent (&j, 1, 10, 2000, 3);
	assert_extent (&j, 2, 13, 3000, 1);   /* continues inside only */
	assert_extent (&j, 3, 20, 2003, 1);   /* continues outside only */
	ns_idmap_single (m, 0, 1000);
	ns_idmap_joined (m, &j);
	g_assert_cmpuint (j.n, ==, 1);
	assert_extent (&j, 0, 0, 1000, 1);
	/* Up to 4294967294, where no range may pass. */
	g_assert_cmpint (ns_idmap_parse (whole, strlen (whole), "uid_map", m, NULL), ==, 0);
	ns_idmap_joined (m, &j);
	assert_extent (&j, 0, 0, 0, 4294967294u);
}

static void
test_zero_count (void)
{
	assert_invalid ("0 1000 0", -1, "line 1: count must be at least 1");
	assert_invalid ("0 1000 1\n1 2000 0\n", -1, "line 2: count must be at least 1");
	assert_invalid ("0 1000 00", -1, "count");
}

static void
test_u32_boundaries (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();

	/* The largest range: ids 0..4294967294 ((uid_t) -1 is reserved). */
	g_assert_cmpint (parse ("0 0 4294967295", m, NULL), ==, 0);
	assert_extent (m, 0, 0, 0, 4294967295u);

	g_assert_cmpint (parse ("4294967294 4294967294 1", m, NULL), ==, 0);
	assert_extent (m, 0, 4294967294u, 4294967294u, 1);

	g_assert_cmpint (parse ("4294967290 0 5\n", m, NULL), ==, 0);
	assert_extent (m, 0, 4294967290u, 0, 5);

	assert_invalid ("1 0 4294967295", -1, "line 1: inside range 1+4294967295 runs past 4294967294");
	assert_invalid ("0 1 4294967295", -1, "line 1: outside range 1+4294967295 runs past 4294967294");
	assert_invalid ("4294967295 0 1", -1, "inside range");
	assert_invalid ("0 4294967295 1", -1, "outside range");
	assert_invalid ("4294967290 0 6", -1, "inside range");
	assert_invalid ("0 0 4294967296", -1, "line 1: count is not a number from 0 to 4294967295");
	assert_invalid ("4294967296 0 1", -1, "line 1: inside is not a number");
	assert_invalid ("0 4294967296 1", -1, "line 1: outside is not a number");
	assert_invalid ("0 0 99999999999999999999", -1, "count is not a number");
	assert_invalid ("18446744073709551617 0 1", -1, "inside is not a number");
}

static void
test_overlap (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();

	assert_invalid ("0 1000 10\n5 2000 10", -1, "line 2: inside range overlaps line 1");
	assert_invalid ("5 1000 10\n0 2000 6", -1, "line 2: inside range overlaps line 1");
	assert_invalid ("0 1000 10\n100 1009 1", -1, "line 2: outside range overlaps line 1");
	assert_invalid ("0 1009 1\n100 1000 10", -1, "line 2: outside range overlaps line 1");
	assert_invalid ("0 1000 1\n0 1000 1", -1, "line 2: inside range overlaps line 1");
	assert_invalid ("0 0 4294967295\n4294967294 4294967294 1", -1, "line 2: inside range overlaps line 1");
	assert_invalid ("0 1000 1\n1 2000 1\n5 3000 10\n10 4000 1", -1, "line 4: inside range overlaps line 3");
	assert_invalid ("0 1000 1\n1 2000 1\n2 3000 1\n3 2000 1", -1, "line 4: outside range overlaps line 2");

	/* Adjacent ranges touch but do not overlap. */
	g_assert_cmpint (parse ("0 1000 10\n10 1010 10\n20 990 10", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 3);
	g_assert_cmpint (parse ("0 4294967293 1\n1 4294967294 1\n4294967294 0 1", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 3);
	/* Inside and outside may be the same numbers (an identity map). */
	g_assert_cmpint (parse ("0 0 1000\n1000 1000 1000", m, NULL), ==, 0);
}

static void
test_malformed (void)
{
	static const char *const bad[] = {
		"0", "0 1000", "0 1000 1 2", "a b c", "0 a 1", "0 1000 b", "0,1000,1", "0:1000:1",
		"-1 0 1", "+1 0 1", "0 -1000 1", "0 1000 -1", "0 1000 +1", "0x1 0 1", "0 0x10 1", "0 1000 1x",
		"1e3 0 1", "0 1000 1.0", "0 1000 1 #", "# 0 1000 1", "0 1000 1\r", "0\v1000 1", "0\f1000 1",
		"0 1000 1\n0 1000", "0 1000 1\n\t", " ", "\t\t", "0 1000 1;1 2000 1", "0 1000 \xc2\xb9",
		"\xef\xbb\xbf\x30 1000 1", /* a UTF-8 byte order mark */
	};
	for (size_t i = 0; i < G_N_ELEMENTS (bad); i++) {
		assert_invalid (bad[i], -1, "uid_map: ");
	}
	assert_invalid ("0 1000", -1, "line 1: count is not a number");
	assert_invalid ("0", -1, "line 1: outside is not a number");
	assert_invalid ("x 0 1", -1, "line 1: inside is not a number");
	assert_invalid ("0x 1000 1", -1, "line 1: unexpected character after inside");
	assert_invalid ("0 1000x 1", -1, "line 1: unexpected character after outside");
	assert_invalid ("0 1000 1 2", -1, "line 1: unexpected text after count");
	assert_invalid ("0 1000 1x", -1, "line 1: unexpected text after count");
	assert_invalid ("0 1000 1\n1 2000 1\n2 3000", -1, "line 3: count is not a number");
	/* Exactly 10 digits with a leading zero is still a number. */
	{
		g_autofree NsIdMap *m = map_new_poisoned ();
		g_assert_cmpint (parse ("0000000000 0000001000 0000000001", m, NULL), ==, 0);
		assert_extent (m, 0, 0, 1000, 1);
	}
}

static void
test_empty (void)
{
	assert_invalid ("", -1, "uid_map: empty");
	assert_invalid ("\n", -1, "uid_map: empty");
	assert_invalid ("0 1000 1", 0, "uid_map: empty"); /* LEN, not strlen, counts */
}

static void
test_nul_bytes (void)
{
	assert_invalid ("0 1000 1\0", 9, "NUL");
	assert_invalid ("\0", 1, "NUL");
	assert_invalid ("0 10\0" "00 1", 9, "NUL");
	assert_invalid ("0 1000 1\n\0\n", 11, "NUL");
	/* A NUL after the last newline is not hidden by the newline rule. */
	assert_invalid ("0 1000 1\0\n", 10, "NUL");
}

static void
test_len_not_nul_terminated (void)
{
	/* Parse a prefix of a longer buffer: nothing past LEN may be read. */
	static const char buf[] = "0 1000 1\n1 2000 1 garbage";
	g_autofree NsIdMap *m = map_new_poisoned ();
	g_autofree char *exact = g_memdup2 (buf, 17);

	g_assert_cmpint (ns_idmap_parse (exact, 17, "uid_map", m, NULL), ==, 0);
	g_assert_cmpuint (m->n, ==, 2);
	assert_extent (m, 1, 1, 2000, 1);
}

static void
test_what_prefix (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	NsError err;
	int r;

	r = ns_idmap_parse ("0 0 0", 5, "gid_map", m, &err);
	assert_ns_error (r, &err, EINVAL, "gid_map: line 1: count must be at least 1");
	/* NULL ERR is allowed. */
	g_assert_cmpint (ns_idmap_parse ("x", 1, "uid_map", m, NULL), ==, -EINVAL);
	assert_map_poisoned (m);
}

static void
test_format_roundtrip (void)
{
	static const char *const texts[] = {
		"0 1000 1\n",
		"0 1000 1\n1 100000 65536\n",
		"0 0 4294967295\n",
		"4294967294 4294967294 1\n",
		"5 6 7\n1 2 3\n100 200 1\n",
	};
	for (size_t i = 0; i < G_N_ELEMENTS (texts); i++) {
		g_autofree NsIdMap *a = map_new_poisoned ();
		g_autofree NsIdMap *b = map_new_poisoned ();
		g_autofree char *f = NULL;

		g_assert_cmpint (parse (texts[i], a, NULL), ==, 0);
		f = ns_idmap_format (a);
		g_assert_cmpstr (f, ==, texts[i]);
		g_assert_cmpint (parse (f, b, NULL), ==, 0);
		g_assert_cmpuint (a->n, ==, b->n);
		g_assert_cmpmem (a->extent, a->n * sizeof a->extent[0], b->extent, b->n * sizeof b->extent[0]);
	}
	{
		g_autoptr (GString) s = lines (340, true);
		g_autofree NsIdMap *a = map_new_poisoned ();
		g_autofree char *f = NULL;
		g_assert_cmpint (ns_idmap_parse (s->str, s->len, "uid_map", a, NULL), ==, 0);
		f = ns_idmap_format (a);
		g_assert_cmpstr (f, ==, s->str);
	}
	{
		NsIdMap empty = { 0 };
		g_autofree char *f = ns_idmap_format (&empty);
		g_assert_cmpstr (f, ==, "");
	}
	{
		g_autofree NsIdMap *a = map_new_poisoned ();
		g_autofree char *f = NULL;
		g_assert_cmpint (parse ("  7\t8   9  ", a, NULL), ==, 0);
		f = ns_idmap_format (a);
		g_assert_cmpstr (f, ==, "7 8 9\n");
	}
}

static void
test_single (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	g_autofree char *f = NULL;

	ns_idmap_single (m, 0, 1000);
	g_assert_cmpuint (m->n, ==, 1);
	assert_extent (m, 0, 0, 1000, 1);
	f = ns_idmap_format (m);
	g_assert_cmpstr (f, ==, "0 1000 1\n");
	ns_idmap_single (m, 4294967294u, 0);
	assert_extent (m, 0, 4294967294u, 0, 1);
}

static void
test_to_inside (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	uint32_t in = 777;

	g_assert_cmpint (parse ("0 1000 1\n1 100000 65536\n70000 4294967290 5", m, NULL), ==, 0);
	g_assert_true (ns_idmap_to_inside (m, 1000, &in));
	g_assert_cmpuint (in, ==, 0);
	g_assert_true (ns_idmap_to_inside (m, 100000, &in));
	g_assert_cmpuint (in, ==, 1);
	g_assert_true (ns_idmap_to_inside (m, 165535, &in));
	g_assert_cmpuint (in, ==, 65536);
	g_assert_true (ns_idmap_to_inside (m, 4294967294u, &in));
	g_assert_cmpuint (in, ==, 70004);

	in = 777;
	g_assert_false (ns_idmap_to_inside (m, 165536, &in));
	g_assert_false (ns_idmap_to_inside (m, 99999, &in));
	g_assert_false (ns_idmap_to_inside (m, 999, &in));
	g_assert_false (ns_idmap_to_inside (m, 1001, &in));
	g_assert_false (ns_idmap_to_inside (m, 0, &in));
	g_assert_false (ns_idmap_to_inside (m, 4294967295u, &in));
	g_assert_false (ns_idmap_to_inside (m, 4294967289u, &in));
	g_assert_cmpuint (in, ==, 777);

	{
		NsIdMap empty = { 0 };
		g_assert_false (ns_idmap_to_inside (&empty, 0, &in));
	}
}

static const char subuid[] =
	"# comment\n"
	"alice:100000:65536\n"
	"bob:165536:65536\n"
	"1000:231072:10\n"
	"alice:bad:1\n"
	"alice:1:0\n"
	"alice:1\n"
	"alice:1:2:3\n"
	"alice: 300000:1\n"
	"alice:300000:1 \n"
	"alice:-5:1\n"
	"alice:4294967296:1\n"
	"alice:4294967295:1\n"
	"alice:4294967290:5\n"
	"alicex:400000:1\n"
	"Alice:400000:1\n"
	"10000:500000:1\n"
	"\n"
	"alice:600000:100";

static void
test_to_outside (void)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	uint32_t out = 777;

	g_assert_cmpint (parse ("0 1000 1\n1 100000 65536\n70000 4294967290 5", m, NULL), ==, 0);
	g_assert_true (ns_idmap_to_outside (m, 0, &out));
	g_assert_cmpuint (out, ==, 1000);
	g_assert_true (ns_idmap_to_outside (m, 65536, &out));
	g_assert_cmpuint (out, ==, 165535);
	g_assert_true (ns_idmap_to_outside (m, 70004, &out));
	g_assert_cmpuint (out, ==, 4294967294u);
	out = 777;
	g_assert_false (ns_idmap_to_outside (m, 65537, &out));
	g_assert_false (ns_idmap_to_outside (m, 70005, &out));
	g_assert_cmpuint (out, ==, 777);
}

static void
test_subid_parse (void)
{
	NsIdDelegation d;

	memset (&d, 0xa5, sizeof d);
	ns_subid_parse (subuid, "alice", 1000, &d);
	g_assert_cmpuint (d.n, ==, 4);
	g_assert_cmpuint (d.range[0].outside, ==, 100000);
	g_assert_cmpuint (d.range[0].count, ==, 65536);
	g_assert_cmpuint (d.range[1].outside, ==, 231072);
	g_assert_cmpuint (d.range[1].count, ==, 10);
	g_assert_cmpuint (d.range[2].outside, ==, 4294967290u);
	g_assert_cmpuint (d.range[2].count, ==, 5);
	g_assert_cmpuint (d.range[3].outside, ==, 600000);
	g_assert_cmpuint (d.range[3].count, ==, 100);

	/* By id only (no passwd entry). */
	ns_subid_parse (subuid, NULL, 1000, &d);
	g_assert_cmpuint (d.n, ==, 1);
	g_assert_cmpuint (d.range[0].outside, ==, 231072);

	ns_subid_parse (subuid, "bob", 1001, &d);
	g_assert_cmpuint (d.n, ==, 1);
	g_assert_cmpuint (d.range[0].outside, ==, 165536);

	ns_subid_parse (subuid, "carol", 1002, &d);
	g_assert_cmpuint (d.n, ==, 0);

	ns_subid_parse ("", "alice", 1000, &d);
	g_assert_cmpuint (d.n, ==, 0);

	ns_subid_parse ("alice:100000:65536\r\n", "alice", 1000, &d);
	g_assert_cmpuint (d.n, ==, 0); /* "65536\r" is not a number */
}

static void
test_subid_many (void)
{
	g_autoptr (GString) s = g_string_new (NULL);
	NsIdDelegation d;

	for (int i = 0; i < 100; i++)
		g_string_append_printf (s, "alice:%d:10\n", 100000 + i * 10);
	ns_subid_parse (s->str, "alice", 1000, &d);
	g_assert_cmpuint (d.n, ==, G_N_ELEMENTS (d.range));
	g_assert_cmpuint (d.range[63].outside, ==, 100630);
}

static void
check_deleg (const char *what, const char *text, uint32_t own, const NsIdDelegation *d, int want_code, const char *want_msg)
{
	g_autofree NsIdMap *m = map_new_poisoned ();
	NsError err;
	int r;

	g_assert_cmpint (ns_idmap_parse (text, strlen (text), what, m, NULL), ==, 0);
	ns_error_poison (&err);
	r = ns_idmap_check_delegation (m, what, own, d, &err);
	if (want_code == 0) {
		g_assert_cmpint (r, ==, 0);
		g_assert_cmpint (err.code, ==, 12345);
	} else {
		assert_ns_error (r, &err, want_code, want_msg);
		g_assert_cmpstr (err.msg, ==, want_msg);
	}
}

static void
test_delegation (void)
{
	NsIdDelegation d;

	ns_subid_parse (subuid, "alice", 1000, &d);

	check_deleg ("uid_map", "0 1000 1", 1000, NULL, 0, NULL);
	check_deleg ("uid_map", "0 1000 1", 1000, &d, 0, NULL);
	check_deleg ("uid_map", "0 1000 1\n1 100000 65536", 1000, &d, 0, NULL);
	check_deleg ("uid_map", "0 100000 1\n1 165535 1", 1000, &d, 0, NULL);
	check_deleg ("uid_map", "0 231072 10\n10 4294967290 5\n100 600000 100\n1000 1000 1", 1000, &d, 0, NULL);

	check_deleg ("uid_map", "0 1000 1\n1 0 1", 1000, &d, EPERM,
	             "uid_map: line 2: outside uid 0 is not delegated to uid 1000");
	check_deleg ("gid_map", "0 1000 1\n1 0 1", 1000, &d, EPERM,
	             "gid_map: line 2: outside gid 0 is not delegated to gid 1000");
	check_deleg ("uid_map", "0 1000 2", 1000, &d, EPERM,
	             "uid_map: line 1: outside uids 1000-1001 are not delegated to uid 1000");
	check_deleg ("uid_map", "0 999 2", 1000, &d, EPERM,
	             "uid_map: line 1: outside uids 999-1000 are not delegated to uid 1000");
	check_deleg ("uid_map", "0 1000 1\n1 100000 65537", 1000, &d, EPERM,
	             "uid_map: line 2: outside uids 100000-165536 are not delegated to uid 1000");
	check_deleg ("uid_map", "0 99999 2", 1000, &d, EPERM,
	             "uid_map: line 1: outside uids 99999-100000 are not delegated to uid 1000");
	check_deleg ("uid_map", "0 1 4294967294", 1000, &d, EPERM,
	             "uid_map: line 1: outside uids 1-4294967294 are not delegated to uid 1000");
	check_deleg ("uid_map", "0 100000 1", 1000, NULL, EPERM,
	             "uid_map: line 1: outside uid 100000 is not delegated to uid 1000");
	/* bob's range is not alice's. */
	check_deleg ("uid_map", "0 165536 1", 1000, &d, EPERM,
	             "uid_map: line 1: outside uid 165536 is not delegated to uid 1000");
	/* A range must lie within one delegated range, as newuidmap wants. */
	{
		NsIdDelegation two;
		ns_subid_parse ("alice:100000:10\nalice:100010:10\n", "alice", 1000, &two);
		g_assert_cmpuint (two.n, ==, 2);
		check_deleg ("uid_map", "0 100000 10\n10 100010 10", 1000, &two, 0, NULL);
		check_deleg ("uid_map", "0 100005 10", 1000, &two, EPERM,
		             "uid_map: line 1: outside uids 100005-100014 are not delegated to uid 1000");
	}
	/* The first offending line is named. */
	check_deleg ("uid_map", "0 1000 1\n1 5 1\n2 6 1", 1000, &d, EPERM,
	             "uid_map: line 2: outside uid 5 is not delegated to uid 1000");
}

static void
test_delegation_empty_deleg (void)
{
	NsIdDelegation none = { 0 };
	check_deleg ("uid_map", "5 1000 1", 1000, &none, 0, NULL);
	check_deleg ("uid_map", "0 0 1", 0, &none, 0, NULL);
	check_deleg ("uid_map", "0 4294967294 1", 4294967294u, &none, 0, NULL);
	check_deleg ("uid_map", "0 0 2", 0, &none, EPERM, "uid_map: line 1: outside uids 0-1 are not delegated to uid 0");
}

int
main (int argc, char **argv)
{
	g_test_init (&argc, &argv, NULL);
	g_test_add_func ("/idmap/parse/single-line", test_single_line);
	g_test_add_func ("/idmap/parse/trailing-newline", test_trailing_newline);
	g_test_add_func ("/idmap/parse/blanks", test_blanks);
	g_test_add_func ("/idmap/parse/multi-line-order", test_multi_line_order);
	g_test_add_func ("/idmap/parse/340-vs-341-lines", test_line_limit);
	g_test_add_func ("/idmap/parse/zero-count", test_zero_count);
	g_test_add_func ("/idmap/parse/u32-boundaries", test_u32_boundaries);
	g_test_add_func ("/idmap/parse/overlap", test_overlap);
	g_test_add_func ("/idmap/parse/malformed", test_malformed);
	g_test_add_func ("/idmap/parse/empty", test_empty);
	g_test_add_func ("/idmap/parse/nul-bytes", test_nul_bytes);
	g_test_add_func ("/idmap/parse/len-bounded", test_len_not_nul_terminated);
	g_test_add_func ("/idmap/parse/what-prefix", test_what_prefix);
	g_test_add_func ("/idmap/format/roundtrip", test_format_roundtrip);
	g_test_add_func ("/idmap/joined", test_joined);
	g_test_add_func ("/idmap/single", test_single);
	g_test_add_func ("/idmap/to-inside", test_to_inside);
	g_test_add_func ("/idmap/to-outside", test_to_outside);
	g_test_add_func ("/idmap/subid/parse", test_subid_parse);
	g_test_add_func ("/idmap/subid/at-most-64", test_subid_many);
	g_test_add_func ("/idmap/delegation/check", test_delegation);
	g_test_add_func ("/idmap/delegation/own-id-only", test_delegation_empty_deleg);
	return g_test_run ();
}
