// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Randomized differential test of the range tree.
 *
 * A seeded stream of operations runs against the tree and the reference
 * model (vt_model.c): stores, erases, transactions of several operations
 * that commit or abort, loads, next/prev and both free-area searches with
 * and without alignment. Every result is compared with the model.
 *
 * Keys mostly fall in a bounded window (so overlaps and stores spanning
 * many entries and nodes are frequent), plus ranges touching 0 and
 * UINT64_MAX. The "short" runs compare the full iteration and call
 * vt_validate() after every mutation; the "long" runs do so at checkpoints.
 *
 * Environment: VT_TEST_SEED runs that one seed only (both run kinds),
 * VT_TEST_OPS sets the operations per seed. A failure prints the seed and
 * the last operations.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <check.h>
#include <urcu/urcu-memb.h>

#include "vma/err.h"
#include "vma/vt.h"
#include "vt_model.h"
#include "vt_test_util.h"

#ifndef VT_TEST_SCALE_DIV
#define VT_TEST_SCALE_DIV 1 /* the sanitizer build divides the op counts */
#endif

#define NR_LONG_SEEDS  8
#define LONG_OPS       (140000 / VT_TEST_SCALE_DIV)
#define NR_SHORT_SEEDS 12
#define SHORT_OPS      (6000 / VT_TEST_SCALE_DIV)
#define LOG_LEN	       48

struct rnd {
	struct test_rng rng;
	uint64_t seed;
	uint64_t base, window; /* keys mostly in [base, base + window - 1] */
	struct vt *vt;
	struct model m;
	uint64_t tag;	     /* next fake pointer */
	int check_all;	     /* compare + validate after every mutation */
	uint64_t op;	     /* current operation number */
	unsigned max_height; /* highest tree seen at checkpoints */
	size_t max_entries;
	int dense;	    /* few spanning stores: bigger trees */
	uint64_t nr_enomem; /* operations failed by injection */
	uint64_t nr_deferred, nr_deferred_committed;
	char log[LOG_LEN][112]; /* ring of the last operations */
};

static uint64_t nr_freed; /* vt_txn_defer_free() callbacks run */

static void count_free(void *ptr)
{
	(void)ptr;
	nr_freed++;
}

static void rnd_log(struct rnd *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->log[r->op % LOG_LEN], sizeof(r->log[0]), fmt, ap);
	va_end(ap);
}

static void rnd_dump(struct rnd *r)
{
	uint64_t from = r->op >= LOG_LEN - 1 ? r->op - (LOG_LEN - 1) : 0;

	fprintf(stderr,
		"vt random test failed: VT_TEST_SEED=%" PRIu64 " (op %" PRIu64
		"), last operations:\n",
		r->seed, r->op);
	for (uint64_t i = from; i <= r->op; i++)
		fprintf(stderr, "  %" PRIu64 ": %s\n", i, r->log[i % LOG_LEN]);
}

#define RCHECK(r, cond, fmt, ...)                                              \
	do {                                                                   \
		if (!(cond)) {                                                 \
			rnd_dump(r);                                           \
			ck_abort_msg("seed %" PRIu64 " op %" PRIu64 ": " fmt,  \
				     (r)->seed, (r)->op, ##__VA_ARGS__);       \
		}                                                              \
	} while (0)

/*
 * A range to store or erase. Mostly small ones in the window, so that the
 * tree stays large (hundreds to thousands of entries) and overlaps are
 * frequent; now and then one spanning thousands of keys or the whole
 * window, and ranges touching 0 and UINT64_MAX.
 */
static void rnd_range(struct rnd *r, uint64_t *first, uint64_t *last)
{
	uint64_t p = test_below(&r->rng, 10000), len = 1;
	uint64_t in = r->base + test_below(&r->rng, r->window);
	uint64_t small = test_below(&r->rng, 64);

	if (r->dense && p >= 7500 && p < 9850 && test_below(&r->rng, 10))
		p = 0;

	if (p < 7500) {
		len = 1 + test_below(&r->rng, 32);
	} else if (p < 9300) {
		len = 1 + test_below(&r->rng, 256);
	} else if (p < 9700) {
		len = 1 + test_below(&r->rng, 4096);
	} else if (p < 9730) {
		len = 1 + test_below(&r->rng, r->window);
	} else if (p < 9830) {
		int low = test_below(&r->rng, 2);
		*first = low ? 0 : UINT64_MAX - small;
		*last = low ? small : UINT64_MAX;
		return;
	} else if (p < 9850) {
		int low = test_below(&r->rng, 2);
		*first = low ? 0 : in;
		*last = low ? in : UINT64_MAX;
		return;
	} else if (p < 9990) {
		uint64_t k = test_below(&r->rng, 3);
		*first = *last = k == 0 ? 0 : k == 1 ? UINT64_MAX : in;
		return;
	} else if (test_below(&r->rng, 10) == 0) {
		*first = 0;
		*last = UINT64_MAX;
		return;
	}
	*first = in;
	*last = in + (len - 1) < in ? UINT64_MAX : in + (len - 1);
}

/* An index to look up: in the window, at an entry's edge, or extreme. */
static uint64_t rnd_index(struct rnd *r)
{
	uint64_t p = test_below(&r->rng, 100);

	if (p < 50)
		return r->base + test_below(&r->rng, r->window);
	if (p < 85 && r->m.nr) {
		const struct model_ent *e =
			&r->m.ents[test_below(&r->rng, r->m.nr)];
		switch (test_below(&r->rng, 4)) {
		case 0:
			return e->first;
		case 1:
			return e->last;
		case 2:
			return e->first - 1; /* wraps at 0: fine */
		default:
			return e->last + 1;
		}
	}
	if (p < 90)
		return 0;
	if (p < 95)
		return UINT64_MAX;
	return test_rand(&r->rng);
}

/*
 * vt_txn_collect() over a random range with a random small limit, and
 * vt_txn_around() at a random index, against the model's array.
 */
static void rnd_check_collect(struct rnd *r, const struct vt_txn *txn,
			      const struct model *m)
{
	uint64_t first, last, index = rnd_index(r);
	void *got[8], *prev = (void *)1, *next;
	size_t max = 1 + test_below(&r->rng, 8), n, k = 0, i;

	rnd_range(r, &first, &last);
	rnd_log(r, "txn_collect [%#" PRIx64 ", %#" PRIx64 "] max %zu", first,
		last, max);
	n = vt_txn_collect(txn, first, last, got, max);
	while (k < m->nr && m->ents[k].last < first)
		k++;
	for (i = 0; i < max && k + i < m->nr && m->ents[k + i].first <= last;
	     i++)
		RCHECK(r, i < n && got[i] == m->ents[k + i].ptr,
		       "txn_collect entry %zu: %p, model %p", i,
		       i < n ? got[i] : NULL, m->ents[k + i].ptr);
	RCHECK(r, n == i, "txn_collect returned %zu, model %zu", n, i);

	rnd_log(r, "txn_around %#" PRIx64, index);
	next = vt_txn_around(txn, index, &prev);
	for (k = 0; k < m->nr && m->ents[k].last < index; k++)
		;
	RCHECK(r, next == (k < m->nr ? m->ents[k].ptr : NULL),
	       "txn_around(%#" PRIx64 ") next %p", index, next);
	RCHECK(r, prev == (k > 0 ? m->ents[k - 1].ptr : NULL),
	       "txn_around(%#" PRIx64 ") prev %p", index, prev);
}

static void rnd_check_lookup(struct rnd *r, const struct vt_txn *txn,
			     const struct model *m)
{
	uint64_t index = rnd_index(r);
	uint64_t f1 = 1, l1 = 2, f2 = 3, l2 = 4;
	void *got, *want;
	unsigned kind = test_below(&r->rng, 3);
	static const char *const names[] = {"load", "next", "prev"};

	rnd_log(r, "%s%s %#" PRIx64, txn ? "txn_" : "", names[kind], index);
	if (!txn)
		rcu_read_lock();
	switch (kind) {
	case 0:
		got = txn ? vt_txn_load(txn, index, &f1, &l1)
			  : vt_load(r->vt, index, &f1, &l1);
		want = model_load(m, index, &f2, &l2);
		break;
	case 1:
		got = txn ? vt_txn_next(txn, index, &f1, &l1)
			  : vt_next(r->vt, index, &f1, &l1);
		want = model_next(m, index, &f2, &l2);
		break;
	default:
		got = txn ? vt_txn_prev(txn, index, &f1, &l1)
			  : vt_prev(r->vt, index, &f1, &l1);
		want = model_prev(m, index, &f2, &l2);
		break;
	}
	if (!txn)
		rcu_read_unlock();
	RCHECK(r, got == want, "%s%s(%#" PRIx64 ") returned %p, model %p",
	       txn ? "txn_" : "", names[kind], index, got, want);
	if (want)
		RCHECK(r, f1 == f2 && l1 == l2,
		       "%s(%#" PRIx64 ") range [%#" PRIx64 ", %#" PRIx64
		       "], model [%#" PRIx64 ", %#" PRIx64 "]",
		       names[kind], index, f1, l1, f2, l2);
}

static void rnd_check_find_free(struct rnd *r)
{
	uint64_t lo, hi, size, align = 1, out1 = 0, out2 = 0;
	enum vt_dir dir = test_below(&r->rng, 2) ? VT_LOWEST : VT_HIGHEST;
	uint64_t p = test_below(&r->rng, 100);

	if (p < 70) {
		lo = r->base + test_below(&r->rng, r->window);
		hi = lo + test_below(&r->rng, r->window);
		if (hi < lo)
			hi = UINT64_MAX;
	} else if (p < 80) {
		lo = 0;
		hi = UINT64_MAX;
	} else if (p < 85) {
		lo = 0;
		hi = rnd_index(r);
	} else if (p < 90) {
		lo = rnd_index(r);
		hi = UINT64_MAX;
	} else {
		lo = rnd_index(r);
		hi = rnd_index(r);
		if (lo > hi && test_below(&r->rng, 4)) {
			uint64_t t = lo;
			lo = hi;
			hi = t;
		}
	}
	p = test_below(&r->rng, 100);
	if (p < 60)
		size = 1 + test_below(&r->rng, 64);
	else if (p < 85)
		size = 1 + test_below(&r->rng, 2048);
	else if (p < 95)
		size = 1 + test_below(&r->rng, r->window);
	else if (p < 98)
		size = UINT64_MAX - test_below(&r->rng, 4);
	else
		size = test_below(&r->rng, 2); /* 0 is invalid */
	p = test_below(&r->rng, 100);
	if (p < 50)
		align = 1;
	else if (p < 85)
		align = 1ULL << test_below(&r->rng, 12);
	else if (p < 97)
		align = 1ULL << test_below(&r->rng, 64);
	else
		align = test_below(&r->rng, 2) ? 0 : 3 + test_below(&r->rng, 5);

	rnd_log(r,
		"find_free [%#" PRIx64 ", %#" PRIx64 "] size %#" PRIx64
		" align %#" PRIx64 " %s",
		lo, hi, size, align, dir == VT_LOWEST ? "lowest" : "highest");
	rcu_read_lock();
	int e1 = vt_find_free(r->vt, lo, hi, size, align, dir, &out1);
	rcu_read_unlock();
	int e2 = model_find_free(&r->m, lo, hi, size, align, dir, &out2);
	RCHECK(r, e1 == e2 && (e1 || out1 == out2),
	       "find_free([%#" PRIx64 ", %#" PRIx64 "], size %#" PRIx64
	       ", align %#" PRIx64 ", %s) = %d/%#" PRIx64
	       ", model %d/%#" PRIx64,
	       lo, hi, size, align, dir == VT_LOWEST ? "lowest" : "highest", e1,
	       out1, e2, out2);
}

static void rnd_checkpoint(struct rnd *r)
{
	char what[64];
	struct vt_stats st;

	snprintf(what, sizeof(what), "seed %" PRIu64 " op %" PRIu64, r->seed,
		 r->op);
	test_check_tree(r->vt, NULL, &r->m, what);
	vt_stats(r->vt, &st);
	if (st.height > r->max_height)
		r->max_height = st.height;
	if (r->m.nr > r->max_entries)
		r->max_entries = r->m.nr;
}

static void rnd_mutated(struct rnd *r)
{
	if (r->check_all || r->op % 4096 == 0)
		rnd_checkpoint(r);
}

/*
 * Now and then let the next few allocations succeed and fail the rest;
 * the operation must then succeed or fail with -ENOMEM, changing nothing.
 */
static int rnd_inject(struct rnd *r)
{
	if (test_below(&r->rng, 64))
		return 0;
	vma_alloc_fail_after((long)test_below(&r->rng, 12));
	return 1;
}

static void rnd_store(struct rnd *r, int erase)
{
	uint64_t first, last;
	void *ptr = erase ? NULL : test_ptr(r->tag++);
	int err;

	rnd_range(r, &first, &last);
	if (test_below(&r->rng, 200) == 0) { /* bad input changes nothing */
		uint64_t t = first;
		first = last;
		last = t;
	}
	int inject = rnd_inject(r);
	rnd_log(r, "%s [%#" PRIx64 ", %#" PRIx64 "] %p%s",
		erase ? "erase" : "store", first, last, ptr,
		inject ? " (failing allocations)" : "");
	err = erase ? vt_erase(r->vt, first, last)
		    : vt_store(r->vt, first, last, ptr);
	vma_alloc_fail_after(-1);
	if (inject && err == -ENOMEM) {
		r->nr_enomem++;
		rnd_checkpoint(r); /* the failure changed nothing */
		return;
	}
	int want = model_store(&r->m, first, last, ptr);
	RCHECK(r, err == want, "%s returned %d, expected %d",
	       erase ? "vt_erase" : "vt_store", err, want);
	rnd_mutated(r);
}

static void rnd_txn(struct rnd *r)
{
	struct model work;
	unsigned nr = 1 + test_below(&r->rng, 8);
	int commit = test_below(&r->rng, 10) < 7;
	int inject = rnd_inject(r);
	uint64_t nr_def = 0;
	int failed = 0;

	model_init(&work);
	model_copy(&work, &r->m);
	rnd_log(r, "txn begin (%u ops, %s)", nr, commit ? "commit" : "abort");
	VT_TXN(txn, r->vt);
	for (unsigned i = 0; i < nr; i++) {
		uint64_t first, last;
		int erase = test_below(&r->rng, 4) == 0;
		void *ptr = erase ? NULL : test_ptr(r->tag++);

		rnd_range(r, &first, &last);
		rnd_log(r, "  txn_%s [%#" PRIx64 ", %#" PRIx64 "] %p",
			erase ? "erase" : "store", first, last, ptr);
		int err = erase ? vt_txn_erase(&txn, first, last)
				: vt_txn_store(&txn, first, last, ptr);
		if (inject && err == -ENOMEM) {
			failed = 1;
		} else {
			RCHECK(r, err == (failed ? -ENOMEM : 0),
			       "txn op returned %d%s", err,
			       failed ? " in a poisoned transaction" : "");
		}
		if (!failed)
			model_store(&work, first, last, ptr);
		if (test_below(&r->rng, 4) == 0) {
			err = vt_txn_defer_free(&txn, test_ptr(r->tag++),
						count_free);
			if (inject && err == -ENOMEM)
				failed = 1;
			RCHECK(r, err == (failed ? -ENOMEM : 0),
			       "vt_txn_defer_free returned %d", err);
			nr_def += !failed;
		}
		if (failed)
			continue; /* only abort or commit are valid now */
		/* The transaction sees its stores; readers do not. */
		rnd_check_lookup(r, &txn, &work);
		rnd_check_collect(r, &txn, &work);
		rnd_check_lookup(r, NULL, &r->m);
		if (r->check_all) {
			char what[80];
			snprintf(what, sizeof(what),
				 "seed %" PRIu64 " op %" PRIu64 " in txn",
				 r->seed, r->op);
			test_check_tree(r->vt, &txn, &work, what);
		}
	}
	if (commit) {
		int err = vt_txn_commit(&txn);
		if (inject && err == -ENOMEM)
			failed = 1;
		RCHECK(r, err == (failed ? -ENOMEM : 0),
		       "vt_txn_commit returned %d", err);
		if (!failed) {
			model_copy(&r->m, &work);
			r->nr_deferred_committed += nr_def;
		}
	} else {
		vt_txn_abort(&txn);
	}
	vma_alloc_fail_after(-1);
	r->nr_deferred += nr_def;
	rnd_log(r, "txn %s%s", commit ? "commit" : "abort",
		failed ? " (-ENOMEM)" : "");
	model_fini(&work);
	if (failed) {
		r->nr_enomem++;
		rnd_checkpoint(r); /* the failure changed nothing */
	}
	rnd_mutated(r);
}

static void rnd_run(uint64_t seed, uint64_t nr_ops, int check_all)
{
	struct rnd *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	r->seed = seed;
	r->rng.s = seed;
	r->check_all = check_all;
	r->window = 1ULL << (15 + test_below(&r->rng, 3));
	r->dense = seed % 4 == 3;
	if (r->dense)
		r->window <<= 2;
	switch (seed % 3) {
	case 0:
		r->base = 0;
		break;
	case 1:
		r->base = UINT64_MAX - r->window + 1;
		break;
	default:
		r->base = test_rand(&r->rng) >> 1;
		break;
	}
	model_init(&r->m);
	rcu_register_thread();
	nr_freed = 0;
	r->vt = vt_new();
	ck_assert_ptr_nonnull(r->vt);

	for (r->op = 0; r->op < nr_ops; r->op++) {
		uint64_t p = test_below(&r->rng, 100);
		if (p < 30)
			rnd_store(r, 0);
		else if (p < 42)
			rnd_store(r, 1);
		else if (p < 50)
			rnd_txn(r);
		else if (p < 88)
			rnd_check_lookup(r, NULL, &r->m);
		else
			rnd_check_find_free(r);
	}
	rnd_checkpoint(r);
	printf("seed %" PRIu64 ": %" PRIu64 " ops (%" PRIu64
	       " failed by injection), %zu entries at the end, max %zu, "
	       "max height %u\n",
	       seed, nr_ops, r->nr_enomem, r->m.nr, r->max_entries,
	       r->max_height);

	vt_free(r->vt);
	/* Deferred callbacks ran for committed transactions only. */
	RCHECK(r, nr_freed == r->nr_deferred_committed,
	       "%" PRIu64 " deferred frees ran, %" PRIu64
	       " were committed (%" PRIu64 " deferred in all)",
	       nr_freed, r->nr_deferred_committed, r->nr_deferred);
	/* Long runs must reach the multi-level shapes they are meant for. */
	if (!check_all && nr_ops >= 50000)
		RCHECK(r, r->max_height >= 3, "tree never reached height 3");
	rcu_unregister_thread();
	model_fini(&r->m);
	free(r);
}

static uint64_t seed_for(uint64_t base, int i)
{
	if (test_env_set("VT_TEST_SEED"))
		return test_env_u64("VT_TEST_SEED", 0);
	return base + (uint64_t)i;
}

START_TEST(test_random_long)
{
	rnd_run(seed_for(1, _i), test_env_u64("VT_TEST_OPS", LONG_OPS), 0);
}
END_TEST

START_TEST(test_random_short)
{
	rnd_run(seed_for(1001, _i), test_env_u64("VT_TEST_OPS", SHORT_OPS), 1);
}
END_TEST

static Suite *vt_random_suite(void)
{
	Suite *s = suite_create("vt_random");
	TCase *tc = tcase_create("long");
	int one = test_env_set("VT_TEST_SEED");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_random_long, 0, one ? 1 : NR_LONG_SEEDS);
	suite_add_tcase(s, tc);
	tc = tcase_create("short");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_random_short, 0, one ? 1 : NR_SHORT_SEEDS);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vt_random_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
