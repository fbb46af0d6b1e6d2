// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Focused tests of the range tree.
 *
 * Each test drives the tree through one situation and checks it against
 * the reference model (vt_model.c) and vt_validate():
 *
 * - edges of the key space: 0, UINT64_MAX, [0, UINT64_MAX] as one entry;
 * - a store replacing entries spread over many leaves of a 3-level tree;
 * - growth to 1,000,000 entries and back to empty;
 * - free-area search at the edges, sizes that do not fit, bad arguments;
 * - transactions: abort leaves the tree identical, the transaction sees
 *   its own stores and readers do not, deferred frees run only after a
 *   committed transaction's grace period;
 * - bad input (first > last) changes nothing;
 * - allocation failure at every allocation of store, erase and commit
 *   leaves the tree unchanged.
 *
 * Check forks for every test; urcu state (thread registration, call_rcu)
 * is created in the checked fixture, which runs in the child.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <urcu/uatomic.h>
#include <urcu/urcu-memb.h>

#include "vma/err.h"
#include "vma/vt.h"
#include "vt_internal.h" /* VT_BATCH_CAP */
#include "vt_model.h"
#include "vt_test_util.h"

#ifndef VT_TEST_SCALE_DIV
#define VT_TEST_SCALE_DIV 1
#endif

#define KMAX UINT64_MAX

static void setup(void)
{
	rcu_register_thread();
}

static void teardown(void)
{
	rcu_unregister_thread();
}

/* Store on both the tree and the model, asserting success. */
static void put(struct vt *vt, struct model *m, uint64_t first, uint64_t last,
		void *ptr)
{
	int err = vt_store(vt, first, last, ptr);
	TEST_CHECK_MSG(err == 0, "vt_store [%#" PRIx64 ", %#" PRIx64 "] = %d",
		       first, last, err);
	model_store(m, first, last, ptr);
}

static void del(struct vt *vt, struct model *m, uint64_t first, uint64_t last)
{
	int err = vt_erase(vt, first, last);
	TEST_CHECK_MSG(err == 0, "vt_erase [%#" PRIx64 ", %#" PRIx64 "] = %d",
		       first, last, err);
	model_erase(m, first, last);
}

/* Load @index and check pointer and range. */
static void expect_load(const struct vt *vt, uint64_t index, void *want,
			uint64_t wfirst, uint64_t wlast)
{
	uint64_t first = 0, last = 0;

	rcu_read_lock();
	void *got = vt_load(vt, index, &first, &last);
	rcu_read_unlock();
	TEST_CHECK_MSG(got == want, "vt_load(%#" PRIx64 ") = %p, want %p",
		       index, got, want);
	if (want)
		TEST_CHECK_MSG(first == wfirst && last == wlast,
			       "vt_load(%#" PRIx64 ") range [%#" PRIx64
			       ", %#" PRIx64 "], want [%#" PRIx64 ", %#" PRIx64
			       "]",
			       index, first, last, wfirst, wlast);
}

/* Every lookup kind at @index agrees with the model. */
static void expect_lookups(const struct vt *vt, const struct model *m,
			   uint64_t index)
{
	uint64_t f1 = 0, l1 = 0, f2 = 0, l2 = 0;
	void *a, *b;

	rcu_read_lock();
	a = vt_load(vt, index, &f1, &l1);
	b = model_load(m, index, &f2, &l2);
	TEST_CHECK_MSG(a == b && (!a || (f1 == f2 && l1 == l2)),
		       "load(%#" PRIx64 ")", index);
	a = vt_next(vt, index, &f1, &l1);
	b = model_next(m, index, &f2, &l2);
	TEST_CHECK_MSG(a == b && (!a || (f1 == f2 && l1 == l2)),
		       "next(%#" PRIx64 ") = %p [%#" PRIx64 ", %#" PRIx64
		       "], want %p [%#" PRIx64 ", %#" PRIx64 "]",
		       index, a, f1, l1, b, f2, l2);
	a = vt_prev(vt, index, &f1, &l1);
	b = model_prev(m, index, &f2, &l2);
	TEST_CHECK_MSG(a == b && (!a || (f1 == f2 && l1 == l2)),
		       "prev(%#" PRIx64 ") = %p [%#" PRIx64 ", %#" PRIx64
		       "], want %p [%#" PRIx64 ", %#" PRIx64 "]",
		       index, a, f1, l1, b, f2, l2);
	rcu_read_unlock();
}

static void expect_free(const struct vt *vt, uint64_t lo, uint64_t hi,
			uint64_t size, uint64_t align, enum vt_dir dir,
			int want_err, uint64_t want)
{
	uint64_t out = 0xdeadbeef;

	rcu_read_lock();
	int err = vt_find_free(vt, lo, hi, size, align, dir, &out);
	rcu_read_unlock();
	TEST_CHECK_MSG(err == want_err && (err || out == want),
		       "find_free([%#" PRIx64 ", %#" PRIx64 "], size %#" PRIx64
		       ", align %#" PRIx64 ", %s) = %d/%#" PRIx64
		       ", want %d/%#" PRIx64,
		       lo, hi, size, align,
		       dir == VT_LOWEST ? "lowest" : "highest", err, out,
		       want_err, want);
}

/* As expect_free(), with the model's answer (both directions). */
static void expect_free_model(const struct vt *vt, const struct model *m,
			      uint64_t lo, uint64_t hi, uint64_t size,
			      uint64_t align)
{
	for (int d = 0; d < 2; d++) {
		uint64_t want = 0;
		enum vt_dir dir = d ? VT_HIGHEST : VT_LOWEST;
		int err = model_find_free(m, lo, hi, size, align, dir, &want);
		expect_free(vt, lo, hi, size, align, dir, err, want);
	}
}

static void check(const struct vt *vt, const struct model *m, const char *what)
{
	test_check_tree(vt, NULL, m, what);
}

static struct vt_stats stats(const struct vt *vt)
{
	struct vt_stats st;

	memset(&st, 0xa5, sizeof(st));
	vt_stats(vt, &st);
	return st;
}

START_TEST(test_empty)
{
	struct vt *vt = vt_new();
	struct vt_stats st;
	uint64_t f, l;

	ck_assert_ptr_nonnull(vt);
	expect_load(vt, 0, NULL, 0, 0);
	expect_load(vt, KMAX, NULL, 0, 0);
	ck_assert_ptr_null(vt_next(vt, 0, &f, &l));
	ck_assert_ptr_null(vt_prev(vt, KMAX, &f, &l));
	st = stats(vt);
	TEST_EQ(st.nr_entries, 0);
	TEST_EQ(st.nr_nodes, 0);
	TEST_EQ(st.nr_leaves, 0);
	TEST_EQ(st.height, 0);
	TEST_EQ(vt_validate(vt, NULL, 0), 0);
	expect_free(vt, 0, KMAX, 1, 1, VT_LOWEST, 0, 0);
	expect_free(vt, 0, KMAX, 1, 1, VT_HIGHEST, 0, KMAX);
	expect_free(vt, 0, KMAX, KMAX, 1, VT_LOWEST, 0, 0);
	expect_free(vt, 0, KMAX, KMAX, 1, VT_HIGHEST, 0, 1);
	expect_free(vt, 0, KMAX, KMAX, 2, VT_HIGHEST, 0, 0);
	expect_free(vt, 5, 5, 1, 1, VT_HIGHEST, 0, 5);
	expect_free(vt, 5, 5, 2, 1, VT_LOWEST, -ENOMEM, 0);
	vt_free(vt);
	vt_free(NULL); /* documented: NULL is ignored */
}
END_TEST

START_TEST(test_edges)
{
	struct vt *vt = vt_new();
	struct model m;
	void *A = test_ptr(1), *B = test_ptr(2), *C = test_ptr(3),
	     *D = test_ptr(4);
	uint64_t probes[] = {0, 1, 2,	     3,	       4,	 5,
			     7, 8, KMAX - 8, KMAX - 2, KMAX - 1, KMAX};

	model_init(&m);
	put(vt, &m, 0, 0, A);
	expect_load(vt, 0, A, 0, 0);
	expect_load(vt, 1, NULL, 0, 0);
	put(vt, &m, KMAX, KMAX, B);
	expect_load(vt, KMAX, B, KMAX, KMAX);
	expect_load(vt, KMAX - 1, NULL, 0, 0);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_lookups(vt, &m, probes[i]);
	expect_free(vt, 0, KMAX, KMAX - 1, 1, VT_LOWEST, 0, 1);
	expect_free(vt, 0, KMAX, KMAX - 1, 1, VT_HIGHEST, 0, 1);
	expect_free(vt, 0, KMAX, KMAX, 1, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 0, KMAX, 1, 1, VT_HIGHEST, 0, KMAX - 1);
	check(vt, &m, "0 and max");

	/* One entry over the whole key space. */
	put(vt, &m, 0, KMAX, C);
	check(vt, &m, "[0, max]");
	TEST_EQ(stats(vt).nr_entries, 1);
	expect_load(vt, 0, C, 0, KMAX);
	expect_load(vt, KMAX, C, 0, KMAX);
	expect_load(vt, 1ULL << 63, C, 0, KMAX);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_lookups(vt, &m, probes[i]);
	expect_free(vt, 0, KMAX, 1, 1, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 0, KMAX, 1, 1, VT_HIGHEST, -ENOMEM, 0);

	/* A store inside it splits it in two. */
	put(vt, &m, 1, KMAX - 1, D);
	check(vt, &m, "split [0, max]");
	TEST_EQ(stats(vt).nr_entries, 3);
	expect_load(vt, 0, C, 0, 0);
	expect_load(vt, KMAX, C, KMAX, KMAX);
	expect_load(vt, 2, D, 1, KMAX - 1);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_lookups(vt, &m, probes[i]);

	del(vt, &m, 0, 0);
	del(vt, &m, KMAX, KMAX);
	check(vt, &m, "erase 0 and max");
	expect_free(vt, 0, KMAX, 1, 1, VT_LOWEST, 0, 0);
	expect_free(vt, 0, KMAX, 1, 1, VT_HIGHEST, 0, KMAX);
	del(vt, &m, 0, KMAX);
	check(vt, &m, "erase all");
	TEST_EQ(stats(vt).nr_nodes, 0);

	put(vt, &m, 5, KMAX, A);
	put(vt, &m, 0, 4, B);
	del(vt, &m, 3, 7);
	check(vt, &m, "[5, max] [0, 4] - [3, 7]");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_lookups(vt, &m, probes[i]);

	/* Many entries crowded at both ends, then stores spanning them. */
	for (uint64_t i = 0; i < 3000; i++) {
		put(vt, &m, KMAX - 3 * i - 1, KMAX - 3 * i, test_ptr(100 + i));
		put(vt, &m, 3 * i, 3 * i + 1, test_ptr(10000 + i));
	}
	check(vt, &m, "crowded ends");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_lookups(vt, &m, probes[i]);
	expect_free_model(vt, &m, 0, KMAX, 1, 1);
	expect_free_model(vt, &m, 0, KMAX, 2, 1);
	expect_free_model(vt, &m, 0, 9000, 1, 1);
	expect_free_model(vt, &m, KMAX - 9000, KMAX, 1, 1);
	expect_free_model(vt, &m, KMAX - 9000, KMAX, 2, 1);
	put(vt, &m, KMAX - 5000, KMAX, C);
	put(vt, &m, 0, 4000, D);
	check(vt, &m, "spanning stores at the ends");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		expect_lookups(vt, &m, probes[i]);
	put(vt, &m, 4, KMAX - 4, A);
	check(vt, &m, "store over everything but the ends");
	TEST_EQ(stats(vt).nr_entries, 3);
	del(vt, &m, 0, KMAX);
	check(vt, &m, "erase everything");
	TEST_EQ(stats(vt).nr_nodes, 0);
	TEST_EQ(stats(vt).height, 0);
	vt_free(vt);
	model_fini(&m);
}
END_TEST

/* Build @n entries [4i + base, 4i + base + 1]. */
static void build_seq(struct vt *vt, struct model *m, uint64_t base, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		put(vt, m, base + 4 * i, base + 4 * i + 1, test_ptr(i + 1));
}

START_TEST(test_spanning_store)
{
	const uint64_t n = 20000, base = 1ULL << 40;
	/* Windows as fractions (per mille) of the entries. */
	static const unsigned win[][2] = {{100, 900}, {0, 50},	  {400, 470},
					  {930, 999}, {500, 501}, {1, 998}};
	struct model m;

	model_init(&m);
	for (size_t w = 0; w < sizeof(win) / sizeof(win[0]); w++) {
		struct vt *vt = vt_new();
		m.nr = 0;
		build_seq(vt, &m, base, n);
		struct vt_stats before = stats(vt);
		TEST_CHECK_MSG(before.height >= 3,
			       "%" PRIu64 " entries give height %u", n,
			       before.height);
		TEST_EQ(before.nr_entries, n);

		uint64_t a = n * win[w][0] / 1000, b = n * win[w][1] / 1000;
		uint64_t per_leaf = n / before.nr_leaves;
		/* Grow small windows to 16 average leaves. */
		if (b - a < 16 * per_leaf)
			b = a + 16 * per_leaf;
		if (b >= n)
			b = n - 1;
		/* Start inside entry a, end inside entry b. */
		uint64_t first = base + 4 * a + 1, last = base + 4 * b;
		void *X = test_ptr(n + 100);
		put(vt, &m, first, last, X);
		struct vt_stats after = stats(vt);
		char what[64];
		snprintf(what, sizeof(what), "spanning store %zu", w);
		check(vt, &m, what);
		TEST_CHECK_MSG(before.nr_leaves - after.nr_leaves >= 7,
			       "%s: store over entries %" PRIu64 "..%" PRIu64
			       " covered only %" PRIu64 " -> %" PRIu64
			       " leaves",
			       what, a, b, before.nr_leaves, after.nr_leaves);
		TEST_EQ(after.nr_entries, n - (b - a + 1) + 3);
		/* The edges were truncated, keeping their pointers. */
		expect_load(vt, first - 1, test_ptr(a + 1), first - 1,
			    first - 1);
		expect_load(vt, last + 1, test_ptr(b + 1), last + 1, last + 1);
		expect_load(vt, first, X, first, last);
		expect_load(vt, last, X, first, last);
		expect_load(vt, (first + last) / 2, X, first, last);
		expect_lookups(vt, &m, first - 2);
		expect_lookups(vt, &m, last + 2);

		/* Erase the same span and more: a spanning erase. */
		del(vt, &m, first - 100, last + 100);
		check(vt, &m, "spanning erase");
		/* Re-populate it densely inside one transaction. */
		VT_TXN(txn, vt);
		for (uint64_t k = first - 100; k <= last + 100; k += 3) {
			TEST_EQ(vt_txn_store(&txn, k, k + 1, test_ptr(k)), 0);
			model_store(&m, k, k + 1, test_ptr(k));
		}
		TEST_EQ(vt_txn_commit(&txn), 0);
		check(vt, &m, "re-populated");
		vt_free(vt);
	}
	model_fini(&m);
}
END_TEST

#define GROW_N	   (1000000 / VT_TEST_SCALE_DIV)
#define GROW_BATCH 256

/* Check the whole tree against "entry i is [3i, 3i + 1] iff present[i]". */
static void check_grid(const struct vt *vt, const uint8_t *present, uint64_t n,
		       uint64_t nr_present)
{
	uint64_t index = 0, first, last, count = 0;
	char msg[256];
	void *p;

	while ((p = vt_next(vt, index, &first, &last))) {
		uint64_t i = first / 3;
		TEST_CHECK_MSG(i < n && first == 3 * i && last == 3 * i + 1 &&
				       present[i] && p == test_ptr(i + 1),
			       "unexpected entry [%#" PRIx64 ", %#" PRIx64
			       "] %p",
			       first, last, p);
		count++;
		index = last + 1;
	}
	TEST_EQ(count, nr_present);
	TEST_CHECK_MSG(vt_validate(vt, msg, sizeof(msg)) == 0, "%s", msg);
	TEST_EQ(stats(vt).nr_entries, nr_present);
}

START_TEST(test_grow_shrink)
{
	const uint64_t n = GROW_N;
	struct test_rng rng = {42};
	uint64_t *order = malloc(n * sizeof(*order));
	uint8_t *present = calloc(n, 1);
	struct vt *vt = vt_new();
	uint64_t nr = 0;

	ck_assert_ptr_nonnull(order);
	ck_assert_ptr_nonnull(present);
	for (uint64_t i = 0; i < n; i++)
		order[i] = i;
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = test_below(&rng, i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/*
	 * Random order, in transactions of GROW_BATCH stores, every 16th
	 * batch as single vt_store() calls (a single-store commit copies a
	 * whole path, which makes 1,000,000 of them slow).
	 */
	for (uint64_t k = 0; k < n; k += GROW_BATCH) {
		uint64_t end = k + GROW_BATCH < n ? k + GROW_BATCH : n;
		int single = (k / GROW_BATCH) % 16 == 0;
		struct vt_txn txn;
		if (!single)
			vt_txn_begin(&txn, vt);
		for (uint64_t q = k; q < end; q++) {
			uint64_t i = order[q];
			void *p = test_ptr(i + 1);
			int err = single ? vt_store(vt, 3 * i, 3 * i + 1, p)
					 : vt_txn_store(&txn, 3 * i, 3 * i + 1,
							p);
			TEST_EQ(err, 0);
			present[i] = 1;
			nr++;
		}
		if (!single)
			TEST_EQ(vt_txn_commit(&txn), 0);
		if ((k / GROW_BATCH) % (n / GROW_BATCH / 2) == 0)
			check_grid(vt, present, n, nr);
	}
	struct vt_stats st = stats(vt);
	printf("grow: %" PRIu64 " entries, %" PRIu64 " nodes, %" PRIu64
	       " leaves, height %u, %.1f bytes/entry\n",
	       st.nr_entries, st.nr_nodes, st.nr_leaves, st.height,
	       (double)st.bytes / (double)st.nr_entries);
	TEST_EQ(st.nr_entries, n);
	ck_assert_uint_ge(st.height, 3);
	ck_assert_uint_le(st.nr_leaves, st.nr_nodes);
	for (int k = 0; k < 10000; k++) {
		uint64_t x = test_below(&rng, 3 * n + 10);
		uint64_t i = x / 3;
		if (x % 3 == 2 || i >= n)
			expect_load(vt, x, NULL, 0, 0);
		else
			expect_load(vt, x, test_ptr(i + 1), 3 * i, 3 * i + 1);
	}

	/*
	 * A store over all but the edges of the full tree (every level),
	 * aborted: nothing changed. Then an erase of the middle third,
	 * committed.
	 */
	VT_TXN(big, vt);
	TEST_EQ(vt_txn_store(&big, 3000, 3 * (n - 1000), test_ptr(n + 7)), 0);
	uint64_t f = 0, l = 0;
	TEST_EQ(vt_txn_load(&big, 3 * (n / 2), &f, &l), test_ptr(n + 7));
	TEST_CHECK(f == 3000 && l == 3 * (n - 1000));
	TEST_EQ(vt_txn_prev(&big, 2999, &f, &l), test_ptr(999 + 1));
	TEST_EQ(vt_txn_next(&big, 3 * (n - 1000) + 1, &f, &l),
		test_ptr(n - 1000 + 1));
	TEST_CHECK(f == 3 * (n - 1000) + 1 && l == 3 * (n - 1000) + 1);
	vt_txn_abort(&big);
	check_grid(vt, present, n, nr);
	TEST_EQ(stats(vt).nr_nodes, st.nr_nodes);
	TEST_EQ(vt_erase(vt, 3 * (n / 3), 3 * (2 * n / 3) + 1), 0);
	for (uint64_t i = n / 3; i <= 2 * n / 3; i++) {
		nr -= present[i];
		present[i] = 0;
	}
	check_grid(vt, present, n, nr);
	TEST_CHECK(stats(vt).nr_leaves < st.nr_leaves * 3 / 4);

	/* Shrink in another random order, with some range erases. */
	for (uint64_t i = n - 1; i > 0; i--) {
		uint64_t j = test_below(&rng, i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (uint64_t k = 0; k < n; k += GROW_BATCH) {
		uint64_t end = k + GROW_BATCH < n ? k + GROW_BATCH : n;
		int single = (k / GROW_BATCH) % 16 == 0;
		struct vt_txn txn;
		if (!single)
			vt_txn_begin(&txn, vt);
		for (uint64_t q = k; q < end; q++) {
			uint64_t i = order[q], j = i;
			if (!present[i])
				continue;
			if (q % 64 == 0) { /* a run of neighbours at once */
				j = i + test_below(&rng, 20);
				j = j < n ? j : n - 1;
			}
			int err = single ? vt_erase(vt, 3 * i, 3 * j + 1)
					 : vt_txn_erase(&txn, 3 * i, 3 * j + 1);
			TEST_EQ(err, 0);
			for (uint64_t x = i; x <= j; x++) {
				nr -= present[x];
				present[x] = 0;
			}
		}
		if (!single)
			TEST_EQ(vt_txn_commit(&txn), 0);
		if ((k / GROW_BATCH) % (n / GROW_BATCH / 2) == 0)
			check_grid(vt, present, n, nr);
	}
	check_grid(vt, present, n, 0);
	st = stats(vt);
	TEST_EQ(st.nr_entries, 0);
	TEST_EQ(st.nr_nodes, 0);
	TEST_EQ(st.nr_leaves, 0);
	TEST_EQ(st.height, 0);
	vt_free(vt);
	free(order);
	free(present);
}
END_TEST

START_TEST(test_find_free)
{
	struct vt *vt = vt_new();
	struct model m;
	const uint64_t top = 1ULL << 63;

	model_init(&m);
	/* Bad arguments, on an empty and on a full tree. */
	for (int full = 0; full < 2; full++) {
		for (int d = 0; d < 2; d++) {
			enum vt_dir dir = d ? VT_HIGHEST : VT_LOWEST;
			expect_free(vt, 0, KMAX, 0, 1, dir, -EINVAL, 0);
			expect_free(vt, 10, 9, 1, 1, dir, -EINVAL, 0);
			expect_free(vt, KMAX, 0, 1, 1, dir, -EINVAL, 0);
			expect_free(vt, 0, KMAX, 1, 3, dir, -EINVAL, 0);
			expect_free(vt, 0, KMAX, 1, 6, dir, -EINVAL, 0);
			expect_free(vt, 0, KMAX, 1, 0, dir, -EINVAL, 0);
			expect_free(vt, 0, KMAX, 1, top + 1, dir, -EINVAL, 0);
			expect_free(vt, 0, KMAX, 1, KMAX, dir, -EINVAL, 0);
		}
		if (!full)
			put(vt, &m, 0, KMAX, test_ptr(1));
	}
	del(vt, &m, 0, KMAX);

	/* Alignment at the top of the key space. */
	expect_free(vt, 0, KMAX, 1, top, VT_HIGHEST, 0, top);
	expect_free(vt, 1, KMAX, 1, top, VT_LOWEST, 0, top);
	expect_free(vt, top + 1, KMAX, 1, top, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, top + 1, KMAX, 1, top, VT_HIGHEST, -ENOMEM, 0);
	expect_free(vt, KMAX, KMAX, 1, 1, VT_LOWEST, 0, KMAX);
	expect_free(vt, KMAX, KMAX, 1, 2, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 0, 0, 1, top, VT_HIGHEST, 0, 0);

	/* A filled window: exact fits and one-too-big. */
	put(vt, &m, 100, 199, test_ptr(2));
	expect_free(vt, 100, 199, 1, 1, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 100, 199, 1, 1, VT_HIGHEST, -ENOMEM, 0);
	expect_free(vt, 100, 200, 1, 1, VT_LOWEST, 0, 200);
	expect_free(vt, 50, 199, 1, 1, VT_HIGHEST, 0, 99);
	expect_free(vt, 50, 199, 50, 1, VT_LOWEST, 0, 50);
	expect_free(vt, 50, 199, 50, 1, VT_HIGHEST, 0, 50);
	expect_free(vt, 50, 199, 51, 1, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 50, 199, 51, 1, VT_HIGHEST, -ENOMEM, 0);
	expect_free(vt, 0, KMAX, 100, 1, VT_LOWEST, 0, 0);
	expect_free(vt, 0, KMAX, 101, 1, VT_LOWEST, 0, 200);
	expect_free(vt, 0, KMAX, 101, 128, VT_LOWEST, 0, 256);
	expect_free(vt, 0, KMAX, 100, 128, VT_LOWEST, 0, 0);
	expect_free(vt, 0, KMAX, 100, 64, VT_LOWEST, 0, 0);
	expect_free(vt, 0, KMAX, 37, 64, VT_LOWEST, 0, 0);
	expect_free(vt, 1, KMAX, 37, 64, VT_LOWEST, 0, 256);
	expect_free(vt, 0, KMAX, KMAX - 199, 1, VT_LOWEST, 0, 200);
	expect_free(vt, 0, KMAX, KMAX - 198, 1, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 0, 299, 100, 1, VT_HIGHEST, 0, 200);
	expect_free(vt, 0, 298, 100, 1, VT_HIGHEST, 0, 0);
	expect_free(vt, 0, 298, 101, 1, VT_HIGHEST, -ENOMEM, 0);

	/*
	 * A big tree, every gap 2 keys wide but one: the gap tracking must
	 * find that one from both sides, and nothing one key larger.
	 */
	del(vt, &m, 0, KMAX);
	const uint64_t n = 30000, base = 1ULL << 32;
	for (uint64_t i = 0; i < n; i++)
		put(vt, &m, base + 4 * i, base + 4 * i + 1, test_ptr(i + 10));
	ck_assert_uint_ge(stats(vt).height, 3);
	/* Entries 17001..17005 go: 22 free keys from hole on. */
	const uint64_t hole = base + 4 * 17000 + 2, hole_len = 22;
	del(vt, &m, base + 4 * 17001, base + 4 * 17005 + 1);
	put(vt, &m, 0, base - 1, test_ptr(1));
	put(vt, &m, base + 4 * n, KMAX, test_ptr(2));
	check(vt, &m, "one big hole");
	expect_free(vt, 0, KMAX, hole_len, 1, VT_LOWEST, 0, hole);
	expect_free(vt, 0, KMAX, hole_len, 1, VT_HIGHEST, 0, hole);
	expect_free(vt, 0, KMAX, hole_len + 1, 1, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 0, KMAX, hole_len + 1, 1, VT_HIGHEST, -ENOMEM, 0);
	expect_free(vt, 0, KMAX, 3, 1, VT_LOWEST, 0, hole);
	expect_free(vt, 0, KMAX, 2, 1, VT_LOWEST, 0, base + 2);
	expect_free(vt, 0, KMAX, 2, 1, VT_HIGHEST, 0, base + 4 * (n - 1) + 2);
	expect_free(vt, 0, hole + hole_len - 2, hole_len - 1, 1, VT_HIGHEST, 0,
		    hole);
	expect_free(vt, hole + 1, KMAX, hole_len, 1, VT_LOWEST, -ENOMEM, 0);
	expect_free(vt, 0, hole + hole_len - 2, hole_len, 1, VT_HIGHEST,
		    -ENOMEM, 0);
	for (uint64_t a = 1; a <= 64; a *= 2) {
		expect_free_model(vt, &m, 0, KMAX, 2, a);
		expect_free_model(vt, &m, 0, KMAX, 3, a);
		expect_free_model(vt, &m, 0, KMAX, 16, a);
		expect_free_model(vt, &m, base + 7777, base + 4 * 20000, 2, a);
	}
	vt_free(vt);
	model_fini(&m);
}
END_TEST

/* Fill a tree with @n random small entries in [base, base + span). */
static void build_random(struct vt *vt, struct model *m, struct test_rng *r,
			 uint64_t n, uint64_t base, uint64_t span)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t first = base + test_below(r, span);
		uint64_t last = first + test_below(r, 8);
		put(vt, m, first, last, test_ptr(1000000 + i));
	}
}

START_TEST(test_txn_abort_identical)
{
	struct vt *vt = vt_new();
	struct model m, work;
	struct test_rng r = {7};

	model_init(&m);
	model_init(&work);
	build_random(vt, &m, &r, 8000, 1 << 20, 1 << 16);
	check(vt, &m, "built");
	struct vt_stats before = stats(vt);
	ck_assert_uint_ge(before.height, 3);

	for (int round = 0; round < 4; round++) {
		model_copy(&work, &m);
		VT_TXN(txn, vt);
		for (int i = 0; i < 60; i++) {
			uint64_t first = (1 << 20) + test_below(&r, 1 << 16);
			uint64_t len = i % 10 == 0 ? test_below(&r, 1 << 14)
						   : test_below(&r, 16);
			void *p = i % 3 ? test_ptr(5000000 + i) : NULL;
			TEST_EQ(vt_txn_store(&txn, first, first + len, p), 0);
			model_store(&work, first, first + len, p);
		}
		if (round == 1) { /* everything gone, then one entry */
			TEST_EQ(vt_txn_erase(&txn, 0, KMAX), 0);
			model_erase(&work, 0, KMAX);
		}
		if (round == 2) {
			TEST_EQ(vt_txn_store(&txn, 0, KMAX, test_ptr(9)), 0);
			model_store(&work, 0, KMAX, test_ptr(9));
		}
		test_check_tree(vt, &txn, &work, "txn working state");
		/* Readers still see the committed tree. */
		check(vt, &m, "committed tree during txn");
		vt_txn_abort(&txn);
		check(vt, &m, "after abort");
		struct vt_stats after = stats(vt);
		TEST_EQ(after.nr_entries, before.nr_entries);
		TEST_EQ(after.nr_nodes, before.nr_nodes);
		TEST_EQ(after.nr_leaves, before.nr_leaves);
		TEST_EQ(after.height, before.height);
		TEST_EQ(after.bytes, before.bytes);
		TEST_EQ(after.nr_commits, before.nr_commits);
	}
	/* An aborted empty transaction, and a commit after all that works. */
	VT_TXN(t2, vt);
	vt_txn_abort(&t2);
	put(vt, &m, 5, 5, test_ptr(77));
	check(vt, &m, "commit after aborts");
	TEST_EQ(stats(vt).nr_commits, before.nr_commits + 1);
	vt_free(vt);
	model_fini(&m);
	model_fini(&work);
}
END_TEST

START_TEST(test_txn_visibility)
{
	struct vt *vt = vt_new();
	void *A = test_ptr(1), *B = test_ptr(2), *C = test_ptr(3);
	uint64_t f = 0, l = 0;

	TEST_EQ(vt_store(vt, 100, 199, A), 0);
	uint64_t commits = stats(vt).nr_commits;

	VT_TXN(txn, vt);
	TEST_EQ(vt_txn_store(&txn, 10, 20, B), 0);
	TEST_EQ(vt_txn_load(&txn, 15, &f, &l), B);
	TEST_CHECK(f == 10 && l == 20);
	expect_load(vt, 15, NULL, 0, 0);
	TEST_EQ(vt_txn_next(&txn, 0, &f, &l), B);
	TEST_CHECK(f == 10 && l == 20);
	rcu_read_lock();
	TEST_EQ(vt_next(vt, 0, &f, &l), A);
	TEST_EQ(vt_prev(vt, 50, &f, &l), NULL);
	rcu_read_unlock();
	TEST_EQ(vt_txn_prev(&txn, 50, &f, &l), B);

	/* A second store in the same transaction splits the committed A. */
	TEST_EQ(vt_txn_store(&txn, 150, 159, C), 0);
	TEST_EQ(vt_txn_load(&txn, 149, &f, &l), A);
	TEST_CHECK(f == 100 && l == 149);
	TEST_EQ(vt_txn_load(&txn, 155, &f, &l), C);
	TEST_EQ(vt_txn_next(&txn, 160, &f, &l), A);
	TEST_CHECK(f == 160 && l == 199);
	expect_load(vt, 155, A, 100, 199);
	/* And a store over a store of this transaction. */
	TEST_EQ(vt_txn_store(&txn, 15, 152, B), 0);
	TEST_EQ(vt_txn_load(&txn, 100, &f, &l), B);
	TEST_CHECK(f == 15 && l == 152);
	TEST_EQ(vt_txn_load(&txn, 14, &f, &l), B);
	TEST_CHECK(f == 10 && l == 14); /* equal neighbours are not merged */
	TEST_EQ(vt_txn_load(&txn, 153, &f, &l), C);
	TEST_CHECK(f == 153 && l == 159);
	TEST_EQ(vt_txn_erase(&txn, 190, 300), 0);
	TEST_EQ(vt_txn_load(&txn, 195, &f, &l), NULL);
	TEST_EQ(vt_txn_prev(&txn, KMAX, &f, &l), A);
	TEST_CHECK(f == 160 && l == 189);
	expect_load(vt, 195, A, 100, 199);
	TEST_EQ(stats(vt).nr_commits, commits);

	TEST_EQ(vt_txn_commit(&txn), 0);
	TEST_EQ(stats(vt).nr_commits, commits + 1);
	expect_load(vt, 10, B, 10, 14);
	expect_load(vt, 100, B, 15, 152);
	expect_load(vt, 153, C, 153, 159);
	expect_load(vt, 189, A, 160, 189);
	expect_load(vt, 190, NULL, 0, 0);
	expect_load(vt, 9, NULL, 0, 0);
	TEST_EQ(vt_validate(vt, NULL, 0), 0);
	TEST_EQ(stats(vt).nr_entries, 4);
	vt_free(vt);
}
END_TEST

static unsigned long nr_freed;

static unsigned long nr_bad_freed;

static void count_free(void *ptr)
{
	if (ptr != test_ptr(4242))
		uatomic_inc(&nr_bad_freed);
	uatomic_inc(&nr_freed);
}

struct holder {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state; /* 0 start, 1 in read section, 2 release */
};

static void *hold_reader(void *arg)
{
	struct holder *h = arg;

	rcu_register_thread();
	rcu_read_lock();
	pthread_mutex_lock(&h->lock);
	h->state = 1;
	pthread_cond_broadcast(&h->cond);
	while (h->state != 2)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	rcu_read_unlock();
	rcu_unregister_thread();
	return NULL;
}

/* One transaction: a store and @k deferrals; commit or abort. */
static void defer_txn(struct vt *vt, uint64_t at, int k, bool commit)
{
	VT_TXN(t, vt);

	TEST_EQ(vt_txn_store(&t, at, at + 1, test_ptr(at + 1)), 0);
	for (int i = 0; i < k; i++)
		TEST_EQ(vt_txn_defer_free(&t, test_ptr(4242), count_free), 0);
	if (commit)
		TEST_EQ(vt_txn_commit(&t), 0);
	else
		vt_txn_abort(&t);
}

/*
 * Commits gather their retired items in the tree's open batch: the items
 * of committed transactions are all reclaimed, none of aborted ones, also
 * when an aborted or a large transaction overflows the open batch, and
 * without vt_barrier() at most one batch stays behind.
 */
START_TEST(test_defer_free_batched)
{
	struct vt *vt = vt_new();
	unsigned long want = 0;

	nr_freed = nr_bad_freed = 0;
	for (int i = 0; i < 50; i++, want += 3)
		defer_txn(vt, 10 * (uint64_t)i, 3, true);
	/* Overflows the open batch, then aborts: earlier items survive. */
	defer_txn(vt, 1000, VT_BATCH_CAP - 10, false);
	vt_barrier(vt);
	TEST_EQ(uatomic_read(&nr_freed), want);

	defer_txn(vt, 2000, 2, true);
	want += 2;
	defer_txn(vt, 2010, 1, false);
	/* One batch larger than the recycled ones. */
	defer_txn(vt, 2020, VT_BATCH_CAP + 8, true);
	want += VT_BATCH_CAP + 8;
	vt_barrier(vt);
	TEST_EQ(uatomic_read(&nr_freed), want);

	/* No barrier: everything but the open batch comes back. */
	for (int i = 0; i < 200; i++, want += 3)
		defer_txn(vt, 3000 + 10 * (uint64_t)i, 3, true);
	for (int tries = 0; tries < 500; tries++) {
		if (uatomic_read(&nr_freed) + VT_BATCH_CAP >= want)
			break;
		usleep(10 * 1000);
	}
	TEST_CHECK_MSG(uatomic_read(&nr_freed) + VT_BATCH_CAP >= want,
		       "%lu of %lu deferrals left behind",
		       want - uatomic_read(&nr_freed), want);
	vt_free(vt);
	TEST_EQ(uatomic_read(&nr_freed), want);
	TEST_EQ(uatomic_read(&nr_bad_freed), 0);
}
END_TEST

START_TEST(test_defer_free)
{
	struct vt *vt = vt_new();
	void *obj = test_ptr(4242);

	nr_freed = 0;
	/* Committed: runs after the grace period, not before the commit. */
	VT_TXN(t1, vt);
	TEST_EQ(vt_txn_store(&t1, 1, 2, test_ptr(1)), 0);
	TEST_EQ(vt_txn_defer_free(&t1, obj, count_free), 0);
	vt_barrier(vt);
	TEST_EQ(uatomic_read(&nr_freed), 0);
	TEST_EQ(vt_txn_commit(&t1), 0);
	vt_barrier(vt);
	TEST_EQ(uatomic_read(&nr_freed), 1);

	/* Aborted: never runs. */
	VT_TXN(t2, vt);
	TEST_EQ(vt_txn_store(&t2, 3, 4, test_ptr(2)), 0);
	TEST_EQ(vt_txn_defer_free(&t2, obj, count_free), 0);
	vt_txn_abort(&t2);
	vt_barrier(vt);
	TEST_EQ(uatomic_read(&nr_freed), 1);

	/* A transaction with only the deferral, no store. */
	VT_TXN(t3, vt);
	TEST_EQ(vt_txn_defer_free(&t3, obj, count_free), 0);
	TEST_EQ(vt_txn_commit(&t3), 0);
	vt_barrier(vt);
	TEST_EQ(uatomic_read(&nr_freed), 2);

	/* A reader inside a read section holds the callback back. */
	struct holder h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			   0};
	pthread_t th;
	TEST_EQ(pthread_create(&th, NULL, hold_reader, &h), 0);
	pthread_mutex_lock(&h.lock);
	while (h.state != 1)
		pthread_cond_wait(&h.cond, &h.lock);
	pthread_mutex_unlock(&h.lock);
	VT_TXN(t4, vt);
	TEST_EQ(vt_txn_store(&t4, 1, 10, test_ptr(3)), 0);
	TEST_EQ(vt_txn_defer_free(&t4, obj, count_free), 0);
	TEST_EQ(vt_txn_commit(&t4), 0);
	usleep(100 * 1000);
	TEST_EQ(uatomic_read(&nr_freed), 2);
	pthread_mutex_lock(&h.lock);
	h.state = 2;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.lock);
	pthread_join(th, NULL);
	vt_barrier(vt);
	TEST_EQ(uatomic_read(&nr_freed), 3);

	/* Committed but not flushed: vt_free() runs it. */
	VT_TXN(t5, vt);
	TEST_EQ(vt_txn_store(&t5, 20, 30, test_ptr(4)), 0);
	TEST_EQ(vt_txn_defer_free(&t5, obj, count_free), 0);
	TEST_EQ(vt_txn_commit(&t5), 0);
	/* And one aborted right before destruction. */
	VT_TXN(t6, vt);
	TEST_EQ(vt_txn_defer_free(&t6, obj, count_free), 0);
	vt_txn_abort(&t6);
	vt_free(vt);
	TEST_EQ(uatomic_read(&nr_freed), 4);
	TEST_EQ(uatomic_read(&nr_bad_freed), 0);
}
END_TEST

START_TEST(test_bad_input)
{
	struct vt *vt = vt_new();
	struct model m;
	struct test_rng r = {99};

	model_init(&m);
	build_random(vt, &m, &r, 3000, 0, 1 << 14);
	struct vt_stats before = stats(vt);

	TEST_EQ(vt_store(vt, 10, 9, test_ptr(1)), -EINVAL);
	TEST_EQ(vt_store(vt, KMAX, 0, test_ptr(1)), -EINVAL);
	TEST_EQ(vt_store(vt, 1, 0, NULL), -EINVAL);
	TEST_EQ(vt_erase(vt, 10, 9), -EINVAL);
	TEST_EQ(vt_erase(vt, KMAX, 0), -EINVAL);
	check(vt, &m, "after -EINVAL");
	TEST_EQ(stats(vt).nr_nodes, before.nr_nodes);
	TEST_EQ(stats(vt).bytes, before.bytes);

	VT_TXN(txn, vt);
	TEST_EQ(vt_txn_store(&txn, 10, 9, test_ptr(1)), -EINVAL);
	TEST_EQ(vt_txn_erase(&txn, KMAX, 1), -EINVAL);
	test_check_tree(vt, &txn, &m, "txn after -EINVAL");
	vt_txn_abort(&txn);
	check(vt, &m, "after aborted -EINVAL txn");

	/* Storing NULL erases. */
	put(vt, &m, 100, 5000, test_ptr(2));
	TEST_EQ(vt_store(vt, 200, 300, NULL), 0);
	model_store(&m, 200, 300, NULL);
	check(vt, &m, "store NULL");
	expect_load(vt, 250, NULL, 0, 0);
	expect_load(vt, 199, test_ptr(2), 100, 199);
	expect_load(vt, 301, test_ptr(2), 301, 5000);
	TEST_EQ(vt_store(vt, 0, KMAX, NULL), 0);
	TEST_EQ(stats(vt).nr_entries, 0);
	TEST_EQ(stats(vt).nr_nodes, 0);
	/* Erasing nothing is fine. */
	TEST_EQ(vt_erase(vt, 0, KMAX), 0);
	TEST_EQ(vt_erase(vt, 5, 5), 0);
	TEST_EQ(vt_validate(vt, NULL, 0), 0);
	vt_free(vt);
	model_fini(&m);
}
END_TEST

/*
 * Allocation failure. An operation is a short script of stores, erases
 * and deferrals run as one transaction (or as vt_store/vt_erase for a
 * single step). It is retried with the n-th allocation failing, n = 0, 1,
 * 2, ..., until it succeeds; after every failure the tree must be exactly
 * what it was.
 */
struct fop {
	uint64_t first, last;
	void *ptr; /* NULL: erase */
	int defer; /* vt_txn_defer_free() instead of a store */
};

static unsigned long nr_fault_freed;

static void fault_free(void *ptr)
{
	(void)ptr;
	uatomic_inc(&nr_fault_freed);
}

static int fop_run(struct vt *vt, const struct fop *ops, int nr, int as_txn,
		   int use_abort)
{
	if (!as_txn) {
		if (ops[0].ptr)
			return vt_store(vt, ops[0].first, ops[0].last,
					ops[0].ptr);
		return vt_erase(vt, ops[0].first, ops[0].last);
	}
	VT_TXN(txn, vt);
	int first_err = 0;
	for (int i = 0; i < nr; i++) {
		int err;
		if (ops[i].defer)
			err = vt_txn_defer_free(&txn, ops[i].ptr, fault_free);
		else if (ops[i].ptr)
			err = vt_txn_store(&txn, ops[i].first, ops[i].last,
					   ops[i].ptr);
		else
			err = vt_txn_erase(&txn, ops[i].first, ops[i].last);
		if (err) {
			TEST_EQ(err, -ENOMEM);
			if (!first_err)
				first_err = err;
		} else {
			/* A poisoned transaction keeps failing. */
			TEST_EQ(first_err, 0);
		}
	}
	if (first_err && use_abort) {
		vt_txn_abort(&txn);
		return first_err;
	}
	int err = vt_txn_commit(&txn);
	if (first_err)
		TEST_EQ(err, first_err);
	return err;
}

/*
 * Run @ops under failure injection until they succeed; apply them to @m.
 * Return: how many injected failures it took.
 */
static long fault_loop(struct vt *vt, struct model *m, const struct fop *ops,
		       int nr, int as_txn, const char *what,
		       unsigned long *nr_committed_defers)
{
	long n;
	char msg[160];

	for (n = 0;; n++) {
		TEST_CHECK_MSG(n < 100000, "%s: never succeeded", what);
		vma_alloc_fail_after(n);
		int err = fop_run(vt, ops, nr, as_txn, n & 1);
		long failed = vma_alloc_failures();
		vma_alloc_fail_after(-1);
		if (err == 0)
			break;
		TEST_CHECK_MSG(err == -ENOMEM, "%s: n=%ld returned %d", what, n,
			       err);
		TEST_CHECK_MSG(failed > 0, "%s: -ENOMEM with no failed alloc",
			       what);
		snprintf(msg, sizeof(msg), "%s: after -ENOMEM at n=%ld", what,
			 n);
		check(vt, m, msg);
	}
	for (int i = 0; i < nr; i++) {
		if (ops[i].defer)
			(*nr_committed_defers)++;
		else
			model_store(m, ops[i].first, ops[i].last, ops[i].ptr);
	}
	snprintf(msg, sizeof(msg), "%s: after success at n=%ld", what, n);
	check(vt, m, msg);
	return n;
}

START_TEST(test_alloc_fail)
{
	struct vt *vt = vt_new();
	struct model m;
	struct test_rng r = {2024};
	unsigned long defers = 0;
	uint64_t tag = 1;
	unsigned height = 0, nr_grown = 0, nr_shrunk = 0;
	long max_n = 0;

	model_init(&m);
	nr_fault_freed = 0;

	/* Growth from empty: every store injected, through root splits. */
	for (int i = 0; i < 20000 && nr_grown < 2; i++) {
		uint64_t first = test_below(&r, 1 << 20) * 4;
		struct fop op = {first, first + test_below(&r, 3),
				 test_ptr(tag++), 0};
		long n = fault_loop(vt, &m, &op, 1, i & 1, "grow", &defers);
		max_n = n > max_n ? n : max_n;
		unsigned h = stats(vt).height;
		if (h > height && height >= 1)
			nr_grown++; /* this store split up to the root */
		height = h;
	}
	TEST_CHECK_MSG(nr_grown >= 2, "only %u root splits seen (height %u)",
		       nr_grown, height);
	ck_assert_uint_ge(height, 3);

	/* Splitting stores and erases inside entries, spanning ones. */
	for (int i = 0; i < 40; i++) {
		const struct model_ent *e = &m.ents[test_below(&r, m.nr)];
		uint64_t len = e->last - e->first;
		struct fop op = {e->first + (len > 1), e->last - (len > 1),
				 i & 1 ? test_ptr(tag++) : NULL, 0};
		fault_loop(vt, &m, &op, 1, 0, "split", &defers);
	}
	for (int i = 0; i < 6; i++) {
		size_t a = test_below(&r, m.nr / 2);
		size_t b = a + m.nr / 3;
		struct fop op = {m.ents[a].first + 1, m.ents[b].last,
				 i & 1 ? test_ptr(tag++) : NULL, 0};
		fault_loop(vt, &m, &op, 1, i & 2, "spanning", &defers);
	}
	/* Multi-operation transactions with deferrals. */
	for (int i = 0; i < 20; i++) {
		struct fop ops[8];
		for (int k = 0; k < 8; k++) {
			uint64_t first = test_below(&r, 1 << 20) * 4;
			uint64_t len = k == 3 ? 1 << 16 : test_below(&r, 40);
			ops[k] = (struct fop){first, first + len,
					      k % 3 ? test_ptr(tag++) : NULL,
					      k == 5 || k == 7};
		}
		fault_loop(vt, &m, ops, 8, 1, "txn", &defers);
	}
	/* Shrink to empty, every erase injected, through root merges. */
	while (stats(vt).height < 3) {
		uint64_t first = test_below(&r, 1 << 20) * 4;
		put(vt, &m, first, first + 1, test_ptr(tag++));
	}
	height = stats(vt).height;
	while (m.nr) {
		size_t a = test_below(&r, m.nr);
		size_t b = a + test_below(&r, 3);
		b = b < m.nr ? b : m.nr - 1;
		struct fop op = {m.ents[a].first, m.ents[b].last, NULL, 0};
		fault_loop(vt, &m, &op, 1, a & 1, "shrink", &defers);
		unsigned h = stats(vt).height;
		if (h < height && h >= 1)
			nr_shrunk++; /* the root lost a level */
		height = h;
	}
	ck_assert_uint_ge(nr_shrunk, 2);
	TEST_EQ(stats(vt).nr_nodes, 0);
	printf("alloc_fail: up to %ld injected failures per store\n", max_n);
	vt_free(vt);
	TEST_EQ(uatomic_read(&nr_fault_freed), defers);
	model_fini(&m);
}
END_TEST

#ifdef VMAD_TEST_HOOKS
static unsigned nr_hook_calls;

static void hook_check_old(struct vt *vt)
{
	uint64_t f, l;

	nr_hook_calls++;
	/* Just before the publish, readers still see the old state. */
	rcu_read_lock();
	void *p = vt_load(vt, 150, &f, &l);
	rcu_read_unlock();
	TEST_EQ(p, test_ptr(1));
	TEST_CHECK(f == 100 && l == 199);
}

/*
 * With vt_set_in_place(), commits that change one leaf, or the tree's
 * highest key, store the new leaf into the published parent and keep the
 * ancestors (the root stays);
 * one that changes a key lookups read above the leaf publishes a new root.
 * Writers then see the highest key through top (free-area search, the
 * validator) although pivot[nr - 1] of the kept nodes is stale.
 */
START_TEST(test_publish_below_root)
{
	struct vt *vt = vt_new();
	struct vt_stats st0, st;
	const struct vtn *root;
	uint64_t out, top, f, l;
	char msg[256];
	int k;

	vt_set_in_place(vt, false);
	for (k = 0; k < 2000; k++)
		TEST_EQ(vt_store(vt, 1000 + 100 * (uint64_t)k,
				 1000 + 100 * (uint64_t)k + 9, test_ptr(k + 1)),
			0);
	top = 1000 + 100 * 1999 + 9;
	vt_stats(vt, &st0);
	TEST_CHECK(st0.height >= 3);
	TEST_EQ(st0.nr_kept, 0);

	/* At the root, every commit publishes a new root. */
	root = vt->root;
	TEST_EQ(vt_store(vt, 1000 + 100 * 777, 1000 + 100 * 777 + 9,
			 test_ptr(8888)),
		0);
	TEST_CHECK(vt->root != root);
	vt_stats(vt, &st0);
	TEST_EQ(st0.nr_kept, 0);

	vt_set_in_place(vt, true);
	root = vt->root;

	/* The same extent, a new pointer: only a leaf changes. */
	TEST_EQ(vt_store(vt, 1000 + 100 * 777, 1000 + 100 * 777 + 9,
			 test_ptr(9999)),
		0);
	TEST_CHECK(vt->root == root);
	vt_stats(vt, &st);
	TEST_EQ(st.nr_kept - st0.nr_kept, st0.height - 1);
	TEST_CHECK(vt_load(vt, 1000 + 100 * 777 + 5, NULL, NULL) ==
		   test_ptr(9999));

	/* A new highest entry: the spine's highest key changes in place. */
	TEST_EQ(vt_store(vt, top + 1000, top + 1009, test_ptr(5000)), 0);
	TEST_CHECK(vt->root == root);
	TEST_CHECK_MSG(vt_validate(vt, msg, sizeof(msg)) == 0, "%s", msg);
	TEST_CHECK(vt_load(vt, top + 1005, &f, &l) == test_ptr(5000));
	TEST_CHECK(f == top + 1000 && l == top + 1009);
	TEST_CHECK(vt_load(vt, top + 1010, NULL, NULL) == NULL);
	TEST_CHECK(vt_next(vt, top + 1010, NULL, NULL) == NULL);
	TEST_CHECK(vt_prev(vt, UINT64_MAX, NULL, NULL) == test_ptr(5000));
	/* The highest fit below top + 1100 lies just above the new entry. */
	TEST_EQ(vt_find_free(vt, top - 50, top + 1100, 91, 1, VT_HIGHEST, &out),
		0);
	TEST_EQ(out, top + 1010);
	TEST_EQ(vt_find_free(vt, top + 1, top + 1100, 50, 1, VT_LOWEST, &out),
		0);
	TEST_EQ(out, top + 1);
	/* Only 10 keys free below the entry: the fit is above it. */
	TEST_EQ(vt_find_free(vt, top + 990, top + 1100, 20, 1, VT_LOWEST, &out),
		0);
	TEST_EQ(out, top + 1010);

	/* Erased again: the highest key falls back, the root stays. */
	TEST_EQ(vt_erase(vt, top + 1000, top + 1009), 0);
	TEST_CHECK(vt->root == root);
	TEST_CHECK_MSG(vt_validate(vt, msg, sizeof(msg)) == 0, "%s", msg);
	TEST_CHECK(vt_load(vt, top + 1005, NULL, NULL) == NULL);
	TEST_CHECK(vt_prev(vt, UINT64_MAX, NULL, NULL) == test_ptr(2000));
	TEST_EQ(vt_find_free(vt, 0, top + 100, 100, 1, VT_HIGHEST, &out), 0);
	TEST_EQ(out, top + 1);

	/* Below the lowest key: the root's min[] changes, a new root. */
	TEST_EQ(vt_store(vt, 10, 19, test_ptr(6000)), 0);
	TEST_CHECK(vt->root != root);
	TEST_CHECK_MSG(vt_validate(vt, msg, sizeof(msg)) == 0, "%s", msg);
	TEST_CHECK(vt_prev(vt, 999, NULL, NULL) == test_ptr(6000));

	/* Grow at the top until the spine splits: copies restore pivots. */
	for (k = 0; k < 500; k++) {
		uint64_t a = top + 1000 + 100 * (uint64_t)k;

		TEST_EQ(vt_store(vt, a, a + 9, test_ptr(7000 + k)), 0);
		if (k % 3 == 2)
			TEST_EQ(vt_erase(vt, a - 100, a - 91), 0);
	}
	TEST_CHECK_MSG(vt_validate(vt, msg, sizeof(msg)) == 0, "%s", msg);
	TEST_CHECK(vt_load(vt, top + 1000 + 100 * 499, NULL, NULL) ==
		   test_ptr(7499));
	vt_free(vt);
}
END_TEST

/*
 * Readers of many paths (issue 15). A free-area search reads gap[] and
 * top of kept ancestors, which a commit published in place changes before
 * it stores the child pointer, and a search that loaded an old root shares
 * internal nodes with the new one. Both cases are held open with pause
 * points, in both publishing modes (_i: 0 at the root, 1 in place).
 *
 * Bug 1: the top of the tree. 2,000 entries [1000 + 100k, +9]; the commit
 * stores E = [T, T + 9] just above the highest. The highest 20-key run in
 * [T - 50, T + 5] starts at T - 14 before, at T - 20 after. A search
 * between the in-place store of top (new: T + 9) and the leaf pointer
 * (old leaf: no E) finds nothing at all. Validated, it never answers from
 * that mix: inside the commit it gives up (-EAGAIN, try under the lock).
 */
#define BUG1_T (1000 + 100 * 2000ULL)

static int bug1_err;
static uint64_t bug1_out;

static void hook_bug1(struct vt *vt)
{
	rcu_read_lock();
	bug1_err = vt_find_free(vt, BUG1_T - 50, BUG1_T + 5, 20, 1, VT_HIGHEST,
				&bug1_out);
	rcu_read_unlock();
}

START_TEST(test_find_free_during_publish)
{
	struct vt *vt = vt_new();
	unsigned long seq;

	vt_set_in_place(vt, _i);
	for (uint64_t k = 0; k < 2000; k++)
		TEST_EQ(vt_store(vt, 1000 + 100 * k, 1000 + 100 * k + 9,
				 test_ptr(k + 1)),
			0);
	TEST_CHECK(stats(vt).height >= 2);
	expect_free(vt, BUG1_T - 50, BUG1_T + 5, 20, 1, VT_HIGHEST, 0,
		    BUG1_T - 14);
	seq = vt_read_begin(vt);
	TEST_CHECK(!vt_read_retry(vt, seq));
	bug1_err = 1;
	vt_test_before_publish = hook_bug1;
	TEST_EQ(vt_store(vt, BUG1_T, BUG1_T + 9, test_ptr(5000)), 0);
	vt_test_before_publish = NULL;
	TEST_CHECK_MSG(bug1_err == -EAGAIN ||
			       (bug1_err == 0 && (bug1_out == BUG1_T - 14 ||
						  bug1_out == BUG1_T - 20)),
		       "find_free inside the publish: %d, %#" PRIx64, bug1_err,
		       bug1_out);
	/* A commit since vt_read_begin(): the read is invalid. */
	TEST_CHECK(vt_read_retry(vt, seq));
	expect_free(vt, BUG1_T - 50, BUG1_T + 5, 20, 1, VT_HIGHEST, 0,
		    BUG1_T - 20);
	if (_i)
		TEST_CHECK(stats(vt).nr_kept > 0);
	vt_free(vt);
}
END_TEST

/*
 * Bug 2: a search that loaded root R0 resumes after two commits: A erases
 * the lowest entry (a new root R1: the root's min[] changes) and frees a
 * fitting run at the bottom; B fills most of a hole inside a leaf under a
 * level-1 node that R0 and R1 share (in place: only the leaf pointer and
 * gaps of kept nodes change). A 300-key run fitted at every instant (the
 * hole, then both, then the bottom), but R0 still shows the lowest entry
 * and its stale gap leads into the shared node, where B's gaps say "no":
 * unvalidated, the search returns -ENOMEM. Validated, it searches again
 * after the commits and returns the bottom run.
 */
#define BUG2_HI (10000 + 100 * 2999ULL - 1) /* below the highest entry */

struct bug2 {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state; /* 0 start, 1 reader holds R0, 2 commits done */
	const struct vt *vt;
	int calls, err;
	uint64_t out;
};

static struct bug2 *bug2;

static void hook_bug2(const struct vt *vt)
{
	struct bug2 *b = bug2;

	if (vt != b->vt || b->calls++)
		return; /* only the first attempt waits */
	pthread_mutex_lock(&b->lock);
	b->state = 1;
	pthread_cond_broadcast(&b->cond);
	while (b->state != 2)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

static void *bug2_reader(void *arg)
{
	struct bug2 *b = arg;

	rcu_register_thread();
	rcu_read_lock();
	b->err = vt_find_free(b->vt, 1000, BUG2_HI, 300, 1, VT_LOWEST, &b->out);
	rcu_read_unlock();
	rcu_unregister_thread();
	return NULL;
}

START_TEST(test_find_free_old_root)
{
	struct vt *vt = vt_new();
	struct bug2 b = {.lock = PTHREAD_MUTEX_INITIALIZER,
			 .cond = PTHREAD_COND_INITIALIZER};
	const struct vtn *leaf, *root;
	uint64_t h0, h1, kept0;
	pthread_t th;

	vt_set_in_place(vt, _i);
	TEST_EQ(vt_store(vt, 1000, 9899, test_ptr(1)), 0);
	for (uint64_t k = 0; k < 3000; k++)
		TEST_EQ(vt_store(vt, 10000 + 100 * k, 10000 + 100 * k + 9,
				 test_ptr(k + 2)),
			0);
	TEST_CHECK(stats(vt).height >= 3);
	/* A leaf below the root's second child: open a hole inside it. */
	root = vt->root;
	for (leaf = root->i.child[1]; !leaf->h.leaf;)
		leaf = leaf->i.child[2];
	TEST_CHECK_MSG(leaf->h.nr >= 12, "leaf of %u entries", leaf->h.nr);
	h0 = leaf->l.last[5] + 1;
	h1 = leaf->l.kv[9].first - 1;
	TEST_EQ(vt_erase(vt, h0, h1), 0);
	TEST_CHECK(h1 - h0 + 1 >= 300);
	/* The hole is the only fit below the highest entry. */
	expect_free(vt, 1000, BUG2_HI, 300, 1, VT_LOWEST, 0, h0);

	b.vt = vt;
	bug2 = &b;
	vt_test_read_root = hook_bug2;
	TEST_EQ(pthread_create(&th, NULL, bug2_reader, &b), 0);
	pthread_mutex_lock(&b.lock);
	while (b.state != 1)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	/* The reader holds R0. A: a new root. B: below a shared node. */
	root = vt->root;
	TEST_EQ(vt_erase(vt, 1000, 9899), 0);
	TEST_CHECK(vt->root != root);
	kept0 = stats(vt).nr_kept;
	TEST_EQ(vt_store(vt, h0 + 50, h0 + 249, test_ptr(9999)), 0);
	if (_i)
		TEST_EQ(stats(vt).nr_kept - kept0, stats(vt).height - 1);
	pthread_mutex_lock(&b.lock);
	b.state = 2;
	pthread_cond_broadcast(&b.cond);
	pthread_mutex_unlock(&b.lock);
	pthread_join(th, NULL);
	vt_test_read_root = NULL;
	bug2 = NULL;
	TEST_CHECK_MSG(b.err == 0 && b.out == 1000,
		       "find_free from an old root: %d, %#" PRIx64
		       " (want 0, 0x3e8)",
		       b.err, b.out);
	TEST_CHECK(b.calls >= 2); /* it searched again */
	vt_free(vt);
}
END_TEST

START_TEST(test_publish_hook)
{
	struct vt *vt = vt_new();

	TEST_EQ(vt_store(vt, 100, 199, test_ptr(1)), 0);
	vt_test_before_publish = hook_check_old;
	VT_TXN(txn, vt);
	TEST_EQ(vt_txn_store(&txn, 140, 160, test_ptr(2)), 0);
	TEST_EQ(vt_txn_erase(&txn, 100, 120), 0);
	TEST_EQ(vt_txn_commit(&txn), 0);
	vt_test_before_publish = NULL;
	TEST_EQ(nr_hook_calls, 1);
	expect_load(vt, 150, test_ptr(2), 140, 160);
	expect_load(vt, 110, NULL, 0, 0);
	expect_load(vt, 130, test_ptr(1), 121, 139);
	vt_free(vt);
}
END_TEST
#endif

static Suite *vt_unit_suite(void)
{
	Suite *s = suite_create("vt");
	TCase *tc = tcase_create("focused");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_edges);
	tcase_add_test(tc, test_spanning_store);
	tcase_add_test(tc, test_grow_shrink);
	tcase_add_test(tc, test_find_free);
	tcase_add_test(tc, test_txn_abort_identical);
	tcase_add_test(tc, test_txn_visibility);
	tcase_add_test(tc, test_defer_free);
	tcase_add_test(tc, test_defer_free_batched);
	tcase_add_test(tc, test_publish_below_root);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_alloc_fail);
#ifdef VMAD_TEST_HOOKS
	tcase_add_test(tc, test_publish_hook);
	tcase_add_loop_test(tc, test_find_free_during_publish, 0, 2);
	tcase_add_loop_test(tc, test_find_free_old_root, 0, 2);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vt_unit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
