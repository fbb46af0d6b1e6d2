// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_test.c - The resident-page table (vas_pt.c) against a model of
 * extents, and faults racing range changes that share its edge nodes.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vas_internal.h"

/* Check records every passing assertion; these only report failures. */
#define EXPECT(c)                                                              \
	do {                                                                   \
		if (!(c))                                                      \
			ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);     \
	} while (0)
#define EXPECT_EQ(a, b)                                                        \
	do {                                                                   \
		uint64_t a_ = (a), b_ = (b);                                   \
		if (a_ != b_)                                                  \
			ck_abort_msg("%s:%d: %s == %" PRIu64                   \
				     ", %s == %" PRIu64,                       \
				     __FILE__, __LINE__, #a, a_, #b, b_);      \
	} while (0)

/* ---------------------------------------------------------------- */
/* The model: sorted segments [start, next start) of one state each.  */

#define MAXSEG 4096
static struct seg {
	uint64_t start;
	int st; /* 0 none, 1 zero page, 3 own */
} segs[MAXSEG];
static size_t nseg;

static void model_reset(void)
{
	segs[0].start = 0;
	segs[0].st = 0;
	nseg = 1;
}

static size_t model_find(uint64_t p)
{
	size_t i = nseg - 1;

	while (segs[i].start > p)
		i--;
	return i;
}

static void model_split(uint64_t p)
{
	size_t i = model_find(p);

	if (segs[i].start == p)
		return;
	EXPECT(nseg < MAXSEG);
	memmove(&segs[i + 2], &segs[i + 1], (nseg - i - 1) * sizeof(segs[0]));
	segs[i + 1].start = p;
	segs[i + 1].st = segs[i].st;
	nseg++;
}

static void model_merge(void)
{
	size_t i, k = 0;

	for (i = 1; i < nseg; i++)
		if (segs[i].st != segs[k].st)
			segs[++k] = segs[i];
	nseg = k + 1;
}

static void model_change(uint64_t lo, uint64_t hi, int to)
{
	size_t i;

	model_split(lo);
	model_split(hi);
	for (i = model_find(lo); i < nseg && segs[i].start < hi; i++)
		segs[i].st = to ? (segs[i].st | to) : 0;
	model_merge();
}

static int model_at(uint64_t p)
{
	return segs[model_find(p)].st;
}

static uint64_t model_count(uint64_t lo, uint64_t hi, bool present)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < nseg; i++) {
		uint64_t s = segs[i].start;
		uint64_t e = i + 1 < nseg ? segs[i + 1].start : UINT64_MAX;

		if (s < lo)
			s = lo;
		if (e > hi)
			e = hi;
		if (s >= e)
			continue;
		if (segs[i].st == 3 || (present && segs[i].st == 1))
			n += e - s;
	}
	return n;
}

static void model_move(uint64_t src, uint64_t dst, uint64_t n)
{
	struct seg copy[MAXSEG];
	size_t i, nc = nseg;

	memcpy(copy, segs, sizeof(copy[0]) * nseg);
	for (i = 0; i < nc; i++) {
		uint64_t s = copy[i].start;
		uint64_t e = i + 1 < nc ? copy[i + 1].start : UINT64_MAX;

		if (s < src)
			s = src;
		if (e > src + n)
			e = src + n;
		if (s < e && copy[i].st)
			model_change(s - src + dst, e - src + dst, copy[i].st);
	}
	model_change(src, src + n, 0);
}

/* ---------------------------------------------------------------- */
/* The table under test                                              */

static struct vas_pt pt;

static void pt_setup(void)
{
	urcu_memb_register_thread();
	memset(&pt, 0, sizeof(pt));
	pt.root = vma_calloc(sizeof(struct vas_pt_node));
	ck_assert_ptr_nonnull(pt.root);
	model_reset();
}

static void pt_teardown(void)
{
	vas__pt_free(&pt);
	urcu_memb_unregister_thread();
}

/* A page number near the edges of every level (four top-level slots). */
static uint64_t rnd_pfn(unsigned *seed)
{
	static const uint64_t small[] = {0, 1, 2, 63, 64, 65, 255, 511};
	uint64_t p = (uint64_t)(rand_r(seed) % 4) << 27;

	p += (uint64_t)(rand_r(seed) % 3) << 18;
	p += (uint64_t)(rand_r(seed) % 3) << 9;
	p += small[rand_r(seed) % 8];
	if (rand_r(seed) % 4 == 0)
		p += rand_r(seed) % 2048;
	return p;
}

static void fold_now(uint64_t pfn, uint64_t nr)
{
	struct vas_pt_garbage *g = vas__pt_garbage_new();

	ck_assert_ptr_nonnull(g);
	vas__pt_fold(&pt, pfn, nr, g);
	urcu_memb_synchronize_rcu();
	vas__pt_garbage_free(g);
}

struct runs_ck {
	uint64_t next; /* pages below it checked */
};

static int run_check(uint64_t pfn, uint64_t nr, bool own, void *arg)
{
	struct runs_ck *rc = arg;
	uint64_t p;

	EXPECT(pfn >= rc->next);
	EXPECT_EQ(model_count(rc->next, pfn, true), 0);
	for (p = pfn; p<pfn + nr; p += nr> 64 ? nr / 7 + 1 : 1)
		EXPECT_EQ(model_at(p), own ? 3 : 1);
	EXPECT_EQ(model_count(pfn, pfn + nr, !own), own ? nr : nr);
	if (!own)
		EXPECT_EQ(model_count(pfn, pfn + nr, false), 0);
	rc->next = pfn + nr;
	return 0;
}

static void check_all(unsigned *seed)
{
	const uint64_t top = 5ULL << 27;
	struct runs_ck rc = {0};
	int i;

	EXPECT_EQ(vas__pt_count(&pt, 0, top), model_count(0, top, false));
	EXPECT_EQ(vas__pt_count_present(&pt, 0, top),
		  model_count(0, top, true));
	EXPECT_EQ(vas__pt_for_each_run(&pt, 0, top, run_check, &rc), 0);
	EXPECT_EQ(model_count(rc.next, top, true), 0);
	for (i = 0; i < 8; i++) {
		uint64_t a = rnd_pfn(seed), b = rnd_pfn(seed);

		if (a > b) {
			uint64_t t = a;
			a = b;
			b = t;
		}
		EXPECT_EQ(vas__pt_count(&pt, a, b - a),
			  model_count(a, b, false));
		EXPECT_EQ(vas__pt_count_present(&pt, a, b - a),
			  model_count(a, b, true));
		EXPECT_EQ(vas__pt_test(&pt, a), model_at(a) != 0);
	}
	EXPECT_EQ(pt.nr_lost, 0);
}

/*
 * Random range changes, moves and faults, as operations apply them
 * (prepare, change, fold), checked against the model after each step.
 */
START_TEST(test_pt_model)
{
	unsigned seed = 1000 + _i;
	int step;

	for (step = 0; step < 400; step++) {
		uint64_t a = rnd_pfn(&seed), b = rnd_pfn(&seed);
		int op = rand_r(&seed) % 6;

		if (a > b) {
			uint64_t t = a;
			a = b;
			b = t;
		}
		if (a == b)
			b++;
		if (op <= 2) {
			int to = op == 0 ? 0 : op == 1 ? 1 : 3;

			EXPECT_EQ(vas__pt_prepare(&pt, a, b - a), 0);
			if (to)
				vas__pt_set_range(&pt, a, b - a, to == 1);
			else
				vas__pt_clear_range(&pt, a, b - a);
			fold_now(a, b - a);
			model_change(a, b, to);
		} else if (op == 3) {
			/* Move [a, b) to a non-overlapping place. */
			uint64_t n = b - a, d = rnd_pfn(&seed);

			if (d < b && d + n > a)
				d = b + (rand_r(&seed) % 600);
			EXPECT_EQ(vas__pt_prepare(&pt, a, n), 0);
			EXPECT_EQ(vas__pt_prepare(&pt, d, n), 0);
			EXPECT_EQ(vas__pt_prepare_like(&pt, &pt, a, d, n), 0);
			vas__pt_move(&pt, a, d, n);
			fold_now(a, n);
			fold_now(d, n);
			model_move(a, d, n);
		} else {
			/* A few faults. */
			int k;

			for (k = 0; k < 4; k++) {
				uint64_t p = a + rand_r(&seed) % (b - a);
				bool zero = rand_r(&seed) % 2, pop, cnt;
				int was = model_at(p);

				EXPECT(vas__pt_test_set(&pt, p, zero, &pop,
							&cnt));
				EXPECT_EQ(pop, was == 0);
				EXPECT_EQ(cnt, !zero && was != 3);
				model_change(p, p + 1, zero ? 1 : 3);
			}
		}
		check_all(&seed);
	}
	/* Clearing everything leaves the root alone. */
	EXPECT_EQ(vas__pt_prepare(&pt, 0, 1ULL << 36), 0);
	vas__pt_clear_range(&pt, 0, 1ULL << 36);
	fold_now(0, 1ULL << 36);
	EXPECT_EQ(pt.nr_nodes, 0);
	EXPECT_EQ(pt.nr_leaves, 0);
}
END_TEST

/* A copy into a second table (fork), from a table of every shape. */
START_TEST(test_pt_copy)
{
	unsigned seed = 7;
	struct vas_pt dst = {0};
	int i;

	dst.root = vma_calloc(sizeof(struct vas_pt_node));
	ck_assert_ptr_nonnull(dst.root);
	for (i = 0; i < 60; i++) {
		uint64_t a = rnd_pfn(&seed), n = 1 + rand_r(&seed) % 3000;
		bool zero = rand_r(&seed) % 2;

		EXPECT_EQ(vas__pt_prepare(&pt, a, n), 0);
		vas__pt_set_range(&pt, a, n, zero);
	}
	EXPECT_EQ(vas__pt_prepare_like(&dst, &pt, 0, 0, 1ULL << 36), 0);
	vas__pt_copy(&dst, &pt, 0, 1ULL << 36);
	EXPECT_EQ(vas__pt_count(&dst, 0, 1ULL << 36),
		  vas__pt_count(&pt, 0, 1ULL << 36));
	EXPECT_EQ(vas__pt_count_present(&dst, 0, 1ULL << 36),
		  vas__pt_count_present(&pt, 0, 1ULL << 36));
	for (i = 0; i < 2000; i++) {
		uint64_t p = rnd_pfn(&seed);

		EXPECT_EQ(vas__pt_test(&dst, p), vas__pt_test(&pt, p));
	}
	vas__pt_free(&dst);
}
END_TEST

/*
 * Faults in [A, A + N) race a writer that sets, clears and folds the range
 * right above it, over and over: the two share their edge nodes (one leaf,
 * and the interior nodes above it). Every page gets exactly one populate
 * and one count however the threads interleave, and the writer's changes
 * never touch the faulted pages.
 */
#define RACE_A	((3ULL << 27) - 700) /* crosses a top-level slot */
#define RACE_N	1400
#define RACE_B	(RACE_A + RACE_N)
#define THREADS 2

static uint64_t counted_total;

static void *race_fault(void *arg)
{
	uint64_t p, cnt_n = 0;

	(void)arg;
	urcu_memb_register_thread();
	for (p = RACE_A; p < RACE_A + RACE_N; p++) {
		bool pop, cnt;

		urcu_memb_read_lock();
		EXPECT(vas__pt_test_set(&pt, p, p % 3 == 0, &pop, &cnt));
		if (p % 3 == 0) /* then written: the zero page is copied */
			EXPECT(vas__pt_test_set(&pt, p, false, &pop, &cnt));
		urcu_memb_read_unlock();
		cnt_n += cnt;
	}
	uatomic_add(&counted_total, cnt_n);
	urcu_memb_unregister_thread();
	return NULL;
}

START_TEST(test_pt_race)
{
	pthread_t t[THREADS];
	int i, round;

	for (round = 0; round < 10; round++) {
		counted_total = 0;
		for (i = 0; i < THREADS; i++)
			EXPECT_EQ(pthread_create(&t[i], NULL, race_fault, NULL),
				  0);
		for (i = 0; i < 200; i++) {
			uint64_t n = 1 + (i * 7919) % (1ULL << 20);

			EXPECT_EQ(vas__pt_prepare(&pt, RACE_B, n), 0);
			if (i % 2)
				vas__pt_clear_range(&pt, RACE_B, n);
			else
				vas__pt_set_range(&pt, RACE_B, n, i % 4 == 0);
			fold_now(RACE_B, n);
		}
		for (i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		/* Each page counted once, by one of the threads. */
		EXPECT_EQ(counted_total, RACE_N);
		EXPECT_EQ(vas__pt_count(&pt, RACE_A, RACE_N), RACE_N);
		EXPECT_EQ(vas__pt_count_present(&pt, RACE_A - 1, 1), 0);
		/* Reset for the next round. */
		EXPECT_EQ(vas__pt_prepare(&pt, RACE_A, RACE_N), 0);
		vas__pt_clear_range(&pt, RACE_A, RACE_N);
		vas__pt_clear_range(&pt, RACE_B, 1ULL << 20);
		fold_now(RACE_A, RACE_N + (1ULL << 20));
		EXPECT_EQ(vas__pt_count_present(&pt, 0, 1ULL << 36), 0);
	}
}
END_TEST

static Suite *pt_suite(void)
{
	Suite *s = suite_create("pt");
	TCase *tc = tcase_create("pt");

	tcase_add_checked_fixture(tc, pt_setup, pt_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_pt_model, 0, 10);
	tcase_add_test(tc, test_pt_copy);
	tcase_add_test(tc, test_pt_race);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
