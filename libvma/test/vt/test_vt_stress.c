// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Concurrent stress test of the range tree.
 *
 * The tree holds NR_STABLE "stable" ranges, always present with the same
 * extent, and between them "unstable" entries that come and go. Every
 * stored pointer is a struct sobj recording its range and a magic value;
 * the writer hands replaced objects to vt_txn_defer_free(), whose callback
 * poisons the magic before freeing.
 *
 *   key  ..[S0]uu.u..uuu.u[S1]..uuu.uu.u[S2]u.u..  (S stable, u unstable)
 *
 * The writer (the test's thread) runs transactions without pause:
 * - replace one stable range by a new object of the same extent;
 * - rewrite a window covering several stable ranges and the unstable
 *   entries around them (many leaves): erase or overwrite the whole window
 *   with one spanning store, store new stable objects, re-populate the
 *   unstable space, all in one transaction (sometimes aborted instead);
 * - rewrite a part of one unstable gap.
 *
 * Readers (registered urcu-memb threads) check, in the "lookup" variant,
 * that every stable address is found, inside the returned range, with a
 * live object whose recorded range equals the entry's; any entry found by
 * a random lookup or vt_find_free() result must be coherent too, a found
 * run never overlaps a stable range, and -ENOMEM is wrong whenever the
 * window holds a run that is free throughout (below and above the span).
 * A search that gives up (-EAGAIN) is repeated under the writer's lock,
 * where it must succeed at once. In the "iterate" variant they walk the
 * tree with vt_next()/vt_prev() and check order, object coherence, that
 * every stable range is met in every pass, and non-overlap of neighbours
 * that vt_read_retry() says were read from one state of the tree.
 *
 * The "free" variant (test_stress_free, below) checks free-area searches
 * against a writer that keeps at least one fitting run free at every
 * instant.
 *
 * The tree publishes as vt_new() chooses (in place unless
 * VMA_TREE_IN_PLACE=0); the suite runs both.
 *
 * Environment: VT_STRESS_SECONDS per variant (default 4), VT_STRESS_READERS
 * (default 2), VT_TEST_SEED for the writer's choices;
 * VT_TEST_SKIP_GRACE_PERIOD=1 breaks the reclaimer on purpose (nodes are
 * recycled without a grace period), which sanitizer builds must report.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <urcu/uatomic.h>
#include <urcu/urcu-memb.h>

#include "vma/vt.h"
#include "vt_test_util.h"

#define NR_STABLE   64
#define STRIDE	    (1ULL << 16)
#define BASE	    (1ULL << 44)
#define SPAN_END    (BASE + (NR_STABLE + 1) * STRIDE)
#define SOBJ_MAGIC  0x5eb1e0b1ec7a11feULL
#define SOBJ_POISON 0xdeadde1e7edf00dULL
#define MAX_READERS 16

struct sobj {
	uint64_t magic;
	uint64_t first, last;
};

struct stress {
	struct vt *vt;
	uint64_t stable_first[NR_STABLE], stable_last[NR_STABLE];
	struct sobj *stable_obj[NR_STABLE]; /* writer's view */
	int stop;
	int failed;
	char msg[512];
	unsigned long nr_lookups, nr_passes, nr_pairs_checked, nr_free_found;
	unsigned long nr_freed, nr_free_locked, nr_nomem_checked;
	int iterate;	       /* reader variant */
	pthread_mutex_t wlock; /* the writer's lock: held for each step */
};

static struct stress *G;
static struct fstress *G_fs;

static struct sobj *sobj_new(uint64_t first, uint64_t last)
{
	struct sobj *o = malloc(sizeof(*o));

	if (!o)
		abort();
	o->magic = SOBJ_MAGIC;
	o->first = first;
	o->last = last;
	return o;
}

static void sobj_free(void *ptr)
{
	struct sobj *o = ptr;

	/* Poison first: a reader still holding it would see the magic go. */
	CMM_STORE_SHARED(o->magic, SOBJ_POISON);
	uatomic_inc(&G->nr_freed);
	free(o);
}

static void stress_fail(struct stress *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void stress_fail(struct stress *s, const char *fmt, ...)
{
	va_list ap;

	if (uatomic_cmpxchg(&s->failed, 0, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	CMM_STORE_SHARED(s->stop, 1);
}

/* Check one returned entry; @index must lie in it if @contains. */
static int check_entry(struct stress *s, const char *what, uint64_t index,
		       const struct sobj *o, uint64_t first, uint64_t last,
		       int contains)
{
	uint64_t magic = CMM_LOAD_SHARED(o->magic);

	if (magic != SOBJ_MAGIC) {
		stress_fail(s,
			    "%s(%#" PRIx64 "): object %p [%#" PRIx64
			    ", %#" PRIx64 "] has magic %#" PRIx64
			    " (freed too early)",
			    what, index, (const void *)o, first, last, magic);
		return -1;
	}
	if (o->first != first || o->last != last) {
		stress_fail(s,
			    "%s(%#" PRIx64 "): entry [%#" PRIx64 ", %#" PRIx64
			    "] holds object of [%#" PRIx64 ", %#" PRIx64 "]",
			    what, index, first, last, o->first, o->last);
		return -1;
	}
	if (first > last || (contains && (index < first || index > last))) {
		stress_fail(s,
			    "%s(%#" PRIx64 "): bad range [%#" PRIx64
			    ", %#" PRIx64 "]",
			    what, index, first, last);
		return -1;
	}
	return 0;
}

/* Gap g is the unstable space after stable g. */
static uint64_t gap_first(const struct stress *s, int g)
{
	return s->stable_last[g] + 1;
}

static uint64_t gap_last(int g)
{
	return BASE + (uint64_t)(g + 1) * STRIDE + 999;
}

static int stable_at(const struct stress *s, uint64_t index)
{
	if (index < BASE)
		return -1;
	uint64_t i = (index - BASE) / STRIDE;
	if (i >= NR_STABLE || index < s->stable_first[i] ||
	    index > s->stable_last[i])
		return -1;
	return (int)i;
}

/*
 * Is there a run of @size keys at a multiple of @align inside [lo, hi]
 * and [a, b]?
 */
static int fits(uint64_t lo, uint64_t hi, uint64_t a, uint64_t b, uint64_t size,
		uint64_t align)
{
	uint64_t x;

	if (a < lo)
		a = lo;
	if (b > hi)
		b = hi;
	if (a > b)
		return 0;
	x = (a + align - 1) & ~(align - 1);
	return x >= a && x <= b && b - x >= size - 1;
}

/*
 * One free-area search (inside the caller's read-side section): the run
 * found never overlaps a stable range, and -ENOMEM is wrong if the window
 * holds a fitting run in what nothing is ever stored in (below BASE + 1000,
 * above the last gap). -EAGAIN: again under the writer's lock, where it
 * must succeed.
 */
static void reader_find_free(struct stress *s, struct test_rng *r,
			     uint64_t index)
{
	uint64_t size = 1 + test_below(r, 1024), out = 0;
	uint64_t hi = index + test_below(r, 8 * STRIDE);
	uint64_t align = 1ULL << test_below(r, 6);
	enum vt_dir d = test_below(r, 2) ? VT_LOWEST : VT_HIGHEST;
	int err = vt_find_free(s->vt, index, hi, size, align, d, &out);

	if (err == -EAGAIN) {
		rcu_read_unlock();
		pthread_mutex_lock(&s->wlock);
		err = vt_find_free(s->vt, index, hi, size, align, d, &out);
		pthread_mutex_unlock(&s->wlock);
		rcu_read_lock();
		uatomic_inc(&s->nr_free_locked);
		if (err == -EAGAIN) {
			stress_fail(s, "find_free under the writer's lock "
				       "returned -EAGAIN");
			return;
		}
	}
	if (err == -ENOMEM) {
		uatomic_inc(&s->nr_nomem_checked);
		if (fits(index, hi, 0, BASE + 999, size, align) ||
		    fits(index, hi, gap_last(NR_STABLE - 1) + 1, UINT64_MAX,
			 size, align))
			stress_fail(s,
				    "find_free([%#" PRIx64 ", %#" PRIx64
				    "], %#" PRIx64 ", align %#" PRIx64
				    ") = -ENOMEM beside a run free throughout",
				    index, hi, size, align);
		return;
	}
	if (err) {
		stress_fail(s, "find_free returned %d", err);
		return;
	}
	uatomic_inc(&s->nr_free_found);
	if (out < index || out + size - 1 > hi || (out & (align - 1))) {
		stress_fail(s, "find_free out of bounds or unaligned");
		return;
	}
	for (uint64_t j = 0; j < NR_STABLE; j++) {
		if (out <= s->stable_last[j] &&
		    out + size - 1 >= s->stable_first[j]) {
			stress_fail(s,
				    "find_free returned [%#" PRIx64
				    ", +%#" PRIx64 "] over stable %" PRIu64,
				    out, size, j);
			return;
		}
	}
}

static void reader_lookups(struct stress *s, struct test_rng *r,
			   unsigned long *nr)
{
	uint64_t first, last;

	rcu_read_lock();
	for (int k = 0; k < 16; k++) {
		uint64_t p = test_below(r, 100), index;
		int i;

		if (p < 75) {
			i = (int)test_below(r, NR_STABLE);
			index = test_between(r, s->stable_first[i],
					     s->stable_last[i]);
		} else {
			index = BASE - 64 + test_below(r, SPAN_END - BASE);
			i = stable_at(s, index);
		}
		if (p >= 95) {
			reader_find_free(s, r, index);
			continue;
		}
		struct sobj *o;
		if (p >= 90) {
			o = vt_prev(s->vt, index, &first, &last);
			if (o &&
			    (last < BASE ||
			     check_entry(s, "prev", index, o, first, last, 0) ||
			     first > index)) {
				stress_fail(s, "prev(%#" PRIx64 ") bad", index);
				break;
			}
			continue;
		}
		o = vt_load(s->vt, index, &first, &last);
		(*nr)++;
		if (i >= 0 && !o) {
			stress_fail(s,
				    "load(%#" PRIx64 ") missed stable range %d "
				    "[%#" PRIx64 ", %#" PRIx64 "]",
				    index, i, s->stable_first[i],
				    s->stable_last[i]);
			break;
		}
		if (o && check_entry(s, "load", index, o, first, last, 1))
			break;
		if (i >= 0 && (first != s->stable_first[i] ||
			       last != s->stable_last[i])) {
			stress_fail(s,
				    "load(%#" PRIx64 ") of stable %d returned "
				    "[%#" PRIx64 ", %#" PRIx64 "]",
				    index, i, first, last);
			break;
		}
	}
	rcu_read_unlock();
}

/* One full pass over the tree, forward or backward. */
static void reader_pass(struct stress *s, int backward, unsigned long *pairs)
{
	uint64_t index = backward ? UINT64_MAX : 0, first, last;
	uint64_t prev_first = 0, prev_last = 0;
	unsigned long prev_seq = 0;
	int nr_stable = 0, have_prev = 0;

	rcu_read_lock();
	for (;;) {
		unsigned long before = vt_read_begin(s->vt);
		struct sobj *o = backward
					 ? vt_prev(s->vt, index, &first, &last)
					 : vt_next(s->vt, index, &first, &last);
		if (!o)
			break;
		if (check_entry(s, backward ? "prev" : "next", index, o, first,
				last, 0))
			break;
		if (backward ? first > index : last < index) {
			stress_fail(s,
				    "%s(%#" PRIx64 ") returned [%#" PRIx64
				    ", %#" PRIx64 "]",
				    backward ? "prev" : "next", index, first,
				    last);
			break;
		}
		/* One state of the tree for both neighbours: no overlap. */
		if (have_prev && !vt_read_retry(s->vt, prev_seq)) {
			(*pairs)++;
			if (backward ? last >= prev_first
				     : first <= prev_last) {
				stress_fail(s,
					    "neighbours [%#" PRIx64
					    ", %#" PRIx64 "] and [%#" PRIx64
					    ", %#" PRIx64
					    "] overlap or are out of order",
					    prev_first, prev_last, first, last);
				break;
			}
		}
		int i = stable_at(s, first);
		if (i >= 0 && first == s->stable_first[i] &&
		    last == s->stable_last[i])
			nr_stable++;
		prev_first = first;
		prev_last = last;
		prev_seq = before;
		have_prev = 1;
		if (backward ? first == 0 : last == UINT64_MAX)
			break;
		index = backward ? first - 1 : last + 1;
	}
	rcu_read_unlock();
	if (!CMM_LOAD_SHARED(s->failed) && nr_stable != NR_STABLE)
		stress_fail(s, "a %s pass met %d of %d stable ranges",
			    backward ? "backward" : "forward", nr_stable,
			    NR_STABLE);
}

static void *reader(void *arg)
{
	struct stress *s = G;
	struct test_rng r = {(uintptr_t)arg * 7919 + 1};
	unsigned long nr = 0, passes = 0, pairs = 0;

	rcu_register_thread();
	while (!CMM_LOAD_SHARED(s->stop)) {
		if (s->iterate) {
			reader_pass(s, passes & 1, &pairs);
			passes++;
		} else {
			reader_lookups(s, &r, &nr);
		}
	}
	rcu_unregister_thread();
	uatomic_add(&s->nr_lookups, nr);
	uatomic_add(&s->nr_passes, passes);
	uatomic_add(&s->nr_pairs_checked, pairs);
	return NULL;
}

static void txn_ok(int err, const char *what)
{
	if (err)
		ck_abort_msg("writer: %s returned %d", what, err);
}

/* Populate [a, b] with unstable objects, leaving holes or tiling it. */
static void populate(struct vt_txn *txn, struct test_rng *r, uint64_t a,
		     uint64_t b, int tile, struct sobj **fresh, size_t *nr)
{
	uint64_t x = a;

	while (x <= b) {
		if (!tile)
			x += test_below(r, 2048);
		if (x > b)
			break;
		uint64_t len = 1 + test_below(r, tile ? 4096 : 2048);
		uint64_t last = x + len - 1 > b ? b : x + len - 1;
		struct sobj *o = sobj_new(x, last);
		txn_ok(vt_txn_store(txn, x, last, o), "populate store");
		if (fresh)
			fresh[(*nr)++] = o;
		x = last + 1;
	}
}

/* Defer-free every object stored in [a, b] (all lie inside it). */
static void retire_window(struct vt_txn *txn, uint64_t a, uint64_t b)
{
	uint64_t index = a, first, last;
	struct sobj *o;

	while ((o = vt_txn_next(txn, index, &first, &last)) && first <= b) {
		if (first < a || last > b)
			ck_abort_msg("writer: entry [%#" PRIx64 ", %#" PRIx64
				     "] sticks out of [%#" PRIx64 ", %#" PRIx64
				     "]",
				     first, last, a, b);
		txn_ok(vt_txn_defer_free(txn, o, sobj_free), "defer_free");
		index = last + 1;
	}
}

static void commit(struct stress *s, struct vt_txn *txn)
{
	(void)s;
	txn_ok(vt_txn_commit(txn), "commit");
}

#define MAX_FRESH 8192

#ifdef VMAD_TEST_HOOKS
static unsigned long nr_publish;

/*
 * Hold every 16th commit open just before its publish, so that readers
 * run while the transaction's new nodes exist but are not yet reachable.
 */
static void stress_before_publish(struct vt *vt)
{
	(void)vt;
	if (++nr_publish % 16 == 0)
		usleep(20);
}
#endif

static void writer_step(struct stress *s, struct test_rng *r,
			struct sobj **fresh)
{
	uint64_t p = test_below(r, 100);
	VT_TXN(txn, s->vt);

	if (p < 40) {
		int i = (int)test_below(r, NR_STABLE);
		struct sobj *o =
			sobj_new(s->stable_first[i], s->stable_last[i]);
		txn_ok(vt_txn_store(&txn, o->first, o->last, o), "stable");
		txn_ok(vt_txn_defer_free(&txn, s->stable_obj[i], sobj_free),
		       "defer_free stable");
		commit(s, &txn);
		s->stable_obj[i] = o;
		return;
	}
	if (p < 75) {
		/* A window over stable i..j-1 and their gaps. */
		int i = (int)test_below(r, NR_STABLE - 2);
		int j = i + 2 + (int)test_below(r, 9);
		j = j > NR_STABLE ? NR_STABLE : j;
		uint64_t a = s->stable_first[i], b = gap_last(j - 1);
		int abort_it = p >= 70, tile = p & 1;
		struct sobj *stable_new[NR_STABLE];
		size_t nr_fresh = 0;

		if (!abort_it)
			retire_window(&txn, a, b);
		if (tile) {
			/* One spanning store, overwritten piece by piece. */
			struct sobj *filler = sobj_new(a, b);
			txn_ok(vt_txn_store(&txn, a, b, filler), "filler");
			fresh[nr_fresh++] = filler;
		} else {
			txn_ok(vt_txn_erase(&txn, a, b), "window erase");
		}
		for (int k = i; k < j; k++) {
			stable_new[k] =
				sobj_new(s->stable_first[k], s->stable_last[k]);
			fresh[nr_fresh++] = stable_new[k];
			txn_ok(vt_txn_store(&txn, s->stable_first[k],
					    s->stable_last[k], stable_new[k]),
			       "window stable");
			populate(&txn, r, gap_first(s, k), gap_last(k), tile,
				 fresh, &nr_fresh);
		}
		if (abort_it) {
			vt_txn_abort(&txn);
			for (size_t k = 0; k < nr_fresh; k++)
				free(fresh[k]); /* never published */
			return;
		}
		if (tile) /* the filler is fully overwritten, never seen */
			txn_ok(vt_txn_defer_free(&txn, fresh[0], sobj_free),
			       "defer filler");
		commit(s, &txn);
		for (int k = i; k < j; k++)
			s->stable_obj[k] = stable_new[k];
		return;
	}
	/* Rewrite a part of one gap. */
	int g = (int)test_below(r, NR_STABLE);
	uint64_t a = test_between(r, gap_first(s, g), gap_last(g));
	uint64_t b = a + test_below(r, 8192);
	uint64_t first, last;
	struct sobj *o;
	b = b > gap_last(g) ? gap_last(g) : b;
	o = vt_txn_next(&txn, a, &first, &last);
	if (o && first < a && last >= a)
		a = first;
	o = vt_txn_prev(&txn, b, &first, &last);
	if (o && last > b && first <= b)
		b = last;
	retire_window(&txn, a, b);
	txn_ok(vt_txn_erase(&txn, a, b), "gap erase");
	populate(&txn, r, a, b, (int)test_below(r, 2), NULL, NULL);
	commit(s, &txn);
}

static void stress_run(int iterate)
{
	struct stress *s = calloc(1, sizeof(*s));
	unsigned secs = (unsigned)test_env_u64("VT_STRESS_SECONDS", 4);
	unsigned nr_readers = (unsigned)test_env_u64("VT_STRESS_READERS", 2);
	struct test_rng r = {test_env_u64("VT_TEST_SEED", 12345) + iterate};
	pthread_t th[MAX_READERS];
	struct sobj **fresh = malloc(MAX_FRESH * sizeof(*fresh));
	unsigned long nr_commits = 0;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(fresh);
	if (nr_readers > MAX_READERS)
		nr_readers = MAX_READERS;
	G = s;
	s->iterate = iterate;
	pthread_mutex_init(&s->wlock, NULL);
	rcu_register_thread();
	s->vt = vt_new();
	ck_assert_ptr_nonnull(s->vt);

	/* Initial layout: stable ranges of varied length, gaps populated. */
	VT_TXN(txn, s->vt);
	for (int i = 0; i < NR_STABLE; i++) {
		s->stable_first[i] = BASE + (uint64_t)i * STRIDE + 1000;
		s->stable_last[i] = s->stable_first[i] + (uint64_t)i * 37 % 500;
		s->stable_obj[i] =
			sobj_new(s->stable_first[i], s->stable_last[i]);
		txn_ok(vt_txn_store(&txn, s->stable_first[i], s->stable_last[i],
				    s->stable_obj[i]),
		       "initial stable");
	}
	for (int g = 0; g < NR_STABLE; g++)
		populate(&txn, &r, gap_first(s, g), gap_last(g), 0, NULL, NULL);
	txn_ok(vt_txn_commit(&txn), "initial commit");
	struct vt_stats st;
	vt_stats(s->vt, &st);
	ck_assert_uint_ge(st.height, 3);

#ifdef VMAD_TEST_HOOKS
	vt_test_before_publish = stress_before_publish;
#endif
	for (unsigned k = 0; k < nr_readers; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, reader,
						(void *)(uintptr_t)k),
				 0);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pthread_mutex_lock(&s->wlock);
		writer_step(s, &r, fresh);
		pthread_mutex_unlock(&s->wlock);
		nr_commits++;
		if (CMM_LOAD_SHARED(s->stop))
			break;
		if (nr_commits % 64 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= (time_t)secs)
				break;
		}
	}
	CMM_STORE_SHARED(s->stop, 1);
	for (unsigned k = 0; k < nr_readers; k++)
		pthread_join(th[k], NULL);
#ifdef VMAD_TEST_HOOKS
	vt_test_before_publish = NULL;
#endif
	ck_assert_msg(!s->failed, "%s", s->msg);

	/* The final tree is valid and every stable range is intact. */
	char msg[256];
	ck_assert_msg(vt_validate(s->vt, msg, sizeof(msg)) == 0, "%s", msg);
	for (int i = 0; i < NR_STABLE; i++) {
		uint64_t first, last;
		void *o = vt_load(s->vt, s->stable_first[i], &first, &last);
		ck_assert_ptr_eq(o, s->stable_obj[i]);
	}
	vt_stats(s->vt, &st);
	printf("stress %s (%s): %u readers, %lu commits, %lu lookups, "
	       "%lu passes, %lu same-version pairs, %lu free areas (%lu under "
	       "the lock), %lu -ENOMEM checked, %lu objects freed, "
	       "%" PRIu64 " entries, height %u\n",
	       iterate ? "iterate" : "lookup",
	       st.nr_kept ? "in place" : "at the root", nr_readers, nr_commits,
	       s->nr_lookups, s->nr_passes, s->nr_pairs_checked,
	       s->nr_free_found, s->nr_free_locked, s->nr_nomem_checked,
	       s->nr_freed, st.nr_entries, st.height);
	if (iterate)
		ck_assert_uint_gt(s->nr_pairs_checked, 0);
	else if (nr_readers)
		ck_assert_uint_gt(s->nr_lookups, 0);
	ck_assert_uint_gt(nr_commits, 100);

	/* Collect the live objects, destroy the tree, then free them. */
	size_t nr_live = 0, cap = 4096;
	struct sobj **live = malloc(cap * sizeof(*live));
	uint64_t index = 0, first, last;
	struct sobj *o;
	while ((o = vt_next(s->vt, index, &first, &last))) {
		if (nr_live == cap) {
			cap *= 2;
			live = realloc(live, cap * sizeof(*live));
			ck_assert_ptr_nonnull(live);
		}
		live[nr_live++] = o;
		index = last + 1;
	}
	vt_free(s->vt);
	for (size_t k = 0; k < nr_live; k++) {
		ck_assert_uint_eq(live[k]->magic, SOBJ_MAGIC);
		free(live[k]);
	}
	free(live);
	free(fresh);
	rcu_unregister_thread();
	G = NULL;
	pthread_mutex_destroy(&s->wlock);
	free(s);
}

START_TEST(test_stress_lookup)
{
	stress_run(0);
}
END_TEST

START_TEST(test_stress_iterate)
{
	stress_run(1);
}
END_TEST

/*
 * The top of the tree. A commit that only adds or removes the highest
 * entry stores the new leaf into the published parent and changes the
 * highest key (top) of every node on the rightmost spine in place, where
 * lookups do not read it (vt.c, "Publishing below the root"). The writer
 * alternates two transactions on the last leaf: (odd k) store X, the new
 * highest entry, with value k and rewrite Y just below it with value k;
 * (even k) erase X and rewrite Y with k. A reader that read version a of
 * Y and then looks X up must see a state no older than a, and a later look
 * at Y no older than what X showed: no lookup may go back in time or see X
 * without its Y. (Writing the spine's keys where lookups read them, in the
 * wrong order around the leaf, fails this within a second.)
 */
#define SPINE_BELOW 3000 /* entries under Y: a tree of height 3 */
#define SPINE_Y	    (BASE + SPINE_BELOW * 16)
#define SPINE_X	    (SPINE_Y + 64)

struct spine {
	struct vt *vt;
	int stop, failed;
	char msg[256];
	unsigned long nr_checks;
};

static void *spine_val(unsigned long k)
{
	return (void *)(uintptr_t)((k << 4) | 8);
}

static unsigned long spine_ver(const void *v)
{
	return (unsigned long)((uintptr_t)v >> 4);
}

static int spine_fail(struct spine *sp, const char *what, unsigned long a,
		      unsigned long b, unsigned long c)
{
	if (uatomic_cmpxchg(&sp->failed, 0, 1) == 0)
		snprintf(sp->msg, sizeof(sp->msg),
			 "%s: Y read %lu, then %lu, then Y %lu", what, a, b, c);
	return -1;
}

/* One check: Y, then @what at X (-1 absent), then Y again. */
static int spine_check(struct spine *sp, const char *what, unsigned long a,
		       long b, unsigned long c)
{
	sp->nr_checks++;
	if (c < a)
		return spine_fail(sp, "Y went back", a, (unsigned long)b, c);
	if (b >= 0 &&
	    (!(b & 1) || (unsigned long)b < a || c < (unsigned long)b))
		return spine_fail(sp, what, a, (unsigned long)b, c);
	if (b < 0 && (a & 1) && c == a)
		return spine_fail(sp, what, a, 0, c);
	return 0;
}

static void *spine_reader(void *arg)
{
	struct spine *sp = arg;
	unsigned long checks = 0;

	rcu_register_thread();
	while (!CMM_LOAD_SHARED(sp->stop) && !CMM_LOAD_SHARED(sp->failed)) {
		uint64_t first, last;
		unsigned long a, c;
		void *y, *x, *n, *p;

		rcu_read_lock();
		y = vt_load(sp->vt, SPINE_Y, NULL, NULL);
		x = vt_load(sp->vt, SPINE_X + 5, NULL, NULL);
		n = vt_next(sp->vt, SPINE_X + 5, &first, &last);
		p = vt_prev(sp->vt, SPINE_X + 5, &first, &last);
		c = spine_ver(vt_load(sp->vt, SPINE_Y, NULL, NULL));
		rcu_read_unlock();
		if (!y) {
			spine_fail(sp, "Y missing", 0, 0, c);
			break;
		}
		a = spine_ver(y);
		if (spine_check(sp, "load X", a, x ? (long)spine_ver(x) : -1,
				c) ||
		    spine_check(sp, "next X", a, n ? (long)spine_ver(n) : -1,
				c))
			break;
		/*
		 * prev finds X if present, else Y, from one leaf: then Y's
		 * version is even (X is absent only in even states).
		 */
		if (!p) {
			spine_fail(sp, "prev found nothing", a, 0, c);
			break;
		}
		if (first == SPINE_X) {
			if (spine_check(sp, "prev X", a, (long)spine_ver(p), c))
				break;
		} else if ((spine_ver(p) & 1) || spine_ver(p) < a ||
			   spine_ver(p) > c) {
			spine_fail(sp, "prev Y", a, spine_ver(p), c);
			break;
		}
		checks++;
	}
	rcu_unregister_thread();
	uatomic_add(&sp->nr_checks, checks);
	return NULL;
}

/* _i: 0 publishes every commit at the root, 1 in place. */
START_TEST(test_stress_spine)
{
	unsigned secs = (unsigned)test_env_u64("VT_STRESS_SECONDS", 4) / 2;
	struct spine sp = {0};
	struct vt_stats st, st0;
	struct timespec t0, t;
	pthread_t th[2];
	unsigned long k;

	rcu_register_thread();
	sp.vt = vt_new();
	ck_assert_ptr_nonnull(sp.vt);
	vt_set_in_place(sp.vt, _i);
	for (k = 0; k < SPINE_BELOW; k++)
		ck_assert_int_eq(vt_store(sp.vt, BASE + k * 16,
					  BASE + k * 16 + 9, spine_val(0)),
				 0);
	ck_assert_int_eq(vt_store(sp.vt, SPINE_Y, SPINE_Y + 9, spine_val(0)),
			 0);
	vt_stats(sp.vt, &st0);
	ck_assert_uint_ge(st0.height, 3);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, spine_reader, &sp), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (k = 1; !CMM_LOAD_SHARED(sp.failed); k++) {
		VT_TXN(txn, sp.vt);

		if (k & 1)
			txn_ok(vt_txn_store(&txn, SPINE_X, SPINE_X + 9,
					    spine_val(k)),
			       "store X");
		else
			txn_ok(vt_txn_erase(&txn, SPINE_X, SPINE_X + 9),
			       "erase X");
		txn_ok(vt_txn_store(&txn, SPINE_Y, SPINE_Y + 9, spine_val(k)),
		       "store Y");
		txn_ok(vt_txn_commit(&txn), "commit");
		if (k % 1024 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= (time_t)(secs + 1))
				break;
		}
	}
	CMM_STORE_SHARED(sp.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	ck_assert_msg(!sp.failed, "%s", sp.msg);
	vt_stats(sp.vt, &st);
	printf("stress spine (%s): %lu commits, %lu checks, %" PRIu64
	       " ancestors kept\n",
	       _i ? "in place" : "at the root", k, sp.nr_checks,
	       st.nr_kept - st0.nr_kept);
	/* In place, every commit published below the root: the case ran. */
	if (_i)
		ck_assert_uint_ge(st.nr_kept - st0.nr_kept, 2 * (k - 1));
	else
		ck_assert_uint_eq(st.nr_kept, 0);
	ck_assert_uint_gt(sp.nr_checks, 0);
	char msg[256];
	ck_assert_msg(vt_validate(sp.vt, msg, sizeof(msg)) == 0, "%s", msg);
	vt_free(sp.vt);
	rcu_unregister_thread();
}
END_TEST

/*
 * Free-area search under RCU (issue 15). The tree holds background entries
 * 32 keys long every 64 keys (no free run of FS_SIZE keys between them)
 * and FS_SLOTS slots of FS_SLOT keys, each either free or filled by one
 * entry covering it exactly:
 *
 *   [slot 0][bg bg bg .. [slot 1] .. bg bg [slot 2] .. bg bg][slot 5]
 *
 * Slot 0 lies below every background entry (filling or freeing it changes
 * the tree's lowest key: a new root), slot FS_SLOTS - 1 above all of them
 * (the highest key, which in place changes on the rightmost spine), the
 * others inside leaves (in place: a new leaf below kept ancestors whose
 * gap[] changes). The writer keeps at least one slot free at every
 * instant: it frees a slot and fills another in two commits or in one,
 * or gives a filled slot a new object. Each slot has a version, odd while
 * it changes.
 *
 * Readers search [slot 0, end of the last slot] for FS_SIZE keys at a
 * random alignment, both directions, and check: never -ENOMEM (a fit
 * existed at every instant); the run lies in one slot, and not in a slot
 * that was filled throughout the search (same even version before and
 * after); a lookup of the run in the same read-side section finds nothing
 * unless the slot changed since the search began. A search that gives up
 * (-EAGAIN) runs again under the writer's lock. Unvalidated searches fail
 * this in place within a second (a fit missed: the new gaps or top of a
 * kept node read with the old leaf, or an old root's subtree read with a
 * later commit's).
 */
#define FS_SLOTS    6
#define FS_SIZE	    256
#define FS_SLOT	    (FS_SIZE + 64) /* an aligned run fits when free */
#define FS_BG	    4000	   /* background entries */
#define FS_BASE	    (BASE + FS_SLOT + 32)
#define FS_BG_AT(i) (FS_BASE + 64 * (uint64_t)(i))

struct fstress {
	struct vt *vt;
	pthread_mutex_t wlock;
	uint64_t slot_first[FS_SLOTS];
	unsigned long ver[FS_SLOTS]; /* odd while the slot changes */
	int filled[FS_SLOTS];	     /* valid while ver is even */
	void *obj[FS_SLOTS];	     /* writer's */
	int stop, failed;
	char msg[512];
	unsigned long nr_search, nr_locked;
};

static void fs_fail(struct fstress *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fs_fail(struct fstress *f, const char *fmt, ...)
{
	va_list ap;

	if (uatomic_cmpxchg(&f->failed, 0, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	CMM_STORE_SHARED(f->stop, 1);
}

/*
 * The slot whose free run (the slot and the 32 free keys beside it) holds
 * [a, b], or -1.
 */
static int fs_slot_of(const struct fstress *f, uint64_t a, uint64_t b)
{
	for (int k = 0; k < FS_SLOTS; k++)
		if (a >= f->slot_first[k] - 32 &&
		    b <= f->slot_first[k] + FS_SLOT + 31)
			return k;
	return -1;
}

/* Check one search; 0 if it is sound. */
static int fs_check(struct fstress *f, int err, uint64_t out, uint64_t align,
		    const unsigned long *v0, const int *filled0)
{
	unsigned long v1[FS_SLOTS], v2;
	uint64_t last = out + FS_SIZE - 1;
	int k;

	cmm_smp_rmb();
	for (k = 0; k < FS_SLOTS; k++)
		v1[k] = CMM_LOAD_SHARED(f->ver[k]);
	if (err == -ENOMEM) {
		fs_fail(f, "find_free missed every slot although one was "
			   "free at every instant");
		return -1;
	}
	if (err) {
		fs_fail(f, "find_free returned %d", err);
		return -1;
	}
	k = fs_slot_of(f, out, last);
	if (k < 0 || (out & (align - 1))) {
		fs_fail(f,
			"find_free returned [%#" PRIx64 ", %#" PRIx64
			"] (align %#" PRIx64 "): not inside a slot",
			out, last, align);
		return -1;
	}
	if (v0[k] == v1[k] && !(v0[k] & 1) && filled0[k]) {
		fs_fail(f,
			"find_free returned slot %d, filled throughout the "
			"search (version %lu)",
			k, v0[k]);
		return -1;
	}
	/* Later in the same section: free, unless the slot changed. */
	if (vt_load(f->vt, out, NULL, NULL) ||
	    vt_load(f->vt, last, NULL, NULL)) {
		cmm_smp_rmb();
		v2 = CMM_LOAD_SHARED(f->ver[k]);
		if (v2 == v0[k] && !(v2 & 1)) {
			fs_fail(f,
				"find_free returned slot %d free, then a "
				"lookup found it filled, version %lu "
				"throughout",
				k, v2);
			return -1;
		}
	}
	return 0;
}

static void *fs_reader(void *arg)
{
	struct fstress *f = G_fs;
	struct test_rng r = {(uintptr_t)arg * 104729 + 7};
	const uint64_t lo = f->slot_first[0];
	const uint64_t hi = f->slot_first[FS_SLOTS - 1] + FS_SLOT - 1;
	unsigned long n = 0, locked = 0;

	rcu_register_thread();
	while (!CMM_LOAD_SHARED(f->stop)) {
		unsigned long v0[FS_SLOTS];
		int filled0[FS_SLOTS];
		uint64_t align = 1ULL << test_below(&r, 7), out = 0;
		enum vt_dir d = test_below(&r, 2) ? VT_LOWEST : VT_HIGHEST;
		int err, k;

		for (k = 0; k < FS_SLOTS; k++) {
			v0[k] = CMM_LOAD_SHARED(f->ver[k]);
			cmm_smp_rmb();
			filled0[k] = CMM_LOAD_SHARED(f->filled[k]);
		}
		cmm_smp_rmb();
		rcu_read_lock();
		err = vt_find_free(f->vt, lo, hi, FS_SIZE, align, d, &out);
		if (err == -EAGAIN) {
			/* Bounded retries spent: under the writer's lock. */
			rcu_read_unlock();
			pthread_mutex_lock(&f->wlock);
			err = vt_find_free(f->vt, lo, hi, FS_SIZE, align, d,
					   &out);
			pthread_mutex_unlock(&f->wlock);
			rcu_read_lock();
			locked++;
		}
		fs_check(f, err, out, align, v0, filled0);
		rcu_read_unlock();
		n++;
	}
	rcu_unregister_thread();
	uatomic_add(&f->nr_search, n);
	uatomic_add(&f->nr_locked, locked);
	return NULL;
}

/* Fill (@obj non-NULL) or free slot @k in @txn. Context: writer. */
static void fs_set(struct fstress *f, struct vt_txn *txn, int k, void *obj)
{
	uint64_t a = f->slot_first[k];

	CMM_STORE_SHARED(f->ver[k], f->ver[k] + 1);
	cmm_smp_wmb();
	if (obj)
		txn_ok(vt_txn_store(txn, a, a + FS_SLOT - 1, obj), "fill");
	else
		txn_ok(vt_txn_erase(txn, a, a + FS_SLOT - 1), "free");
	f->obj[k] = obj;
}

/* After the commit: publish the slots' new states. */
static void fs_done(struct fstress *f, const int *ks, int nr)
{
	cmm_smp_wmb();
	for (int j = 0; j < nr; j++) {
		int k = ks[j];

		CMM_STORE_SHARED(f->filled[k], f->obj[k] != NULL);
		cmm_smp_wmb();
		CMM_STORE_SHARED(f->ver[k], f->ver[k] + 1);
	}
}

/* One commit changing the slots @ks (filling those given an object). */
static void fs_commit(struct fstress *f, const int *ks, void *const *objs,
		      int nr)
{
	VT_TXN(txn, f->vt);

	for (int j = 0; j < nr; j++)
		fs_set(f, &txn, ks[j], objs[j]);
	txn_ok(vt_txn_commit(&txn), "commit");
	fs_done(f, ks, nr);
}

/*
 * Free a slot, fill one, or both (in one commit or two), or give a filled
 * slot a new object; never leave every slot filled.
 */
static void fs_writer_step(struct fstress *f, struct test_rng *r,
			   unsigned long *tag)
{
	int full = (int)test_below(r, FS_SLOTS), empty, nfree = 0, ks[2];
	unsigned p = (unsigned)test_below(r, 100);
	void *objs[2];

	for (int j = 0; j < FS_SLOTS; j++)
		nfree += !f->obj[j];
	while (!f->obj[full] && nfree < FS_SLOTS)
		full = (full + 1) % FS_SLOTS;
	empty = (int)test_below(r, FS_SLOTS);
	while (f->obj[empty])
		empty = (empty + 1) % FS_SLOTS;
	if (nfree >= 2 && (p < 15 || nfree == FS_SLOTS)) {
		ks[0] = empty;
		objs[0] = test_ptr(++*tag);
		fs_commit(f, ks, objs, 1); /* fill */
	} else if (nfree < FS_SLOTS - 2 && p < 30) {
		ks[0] = full;
		objs[0] = NULL;
		fs_commit(f, ks, objs, 1); /* free */
	} else if (p < 45) {
		ks[0] = full;
		objs[0] = test_ptr(++*tag);
		fs_commit(f, ks, objs, 1); /* the same extent, a new object */
	} else if (p < 70) {
		ks[0] = full;
		ks[1] = empty;
		objs[0] = NULL;
		objs[1] = test_ptr(++*tag);
		fs_commit(f, ks, objs, 2); /* free and fill at once */
	} else {
		ks[0] = full;
		objs[0] = NULL;
		fs_commit(f, ks, objs, 1); /* free, */
		ks[0] = empty;
		objs[0] = test_ptr(++*tag);
		fs_commit(f, ks, objs, 1); /* then fill */
	}
}

START_TEST(test_stress_free)
{
	unsigned secs = (unsigned)test_env_u64("VT_STRESS_SECONDS", 4) / 2;
	unsigned nr_readers = (unsigned)test_env_u64("VT_STRESS_READERS", 2);
	struct test_rng r = {test_env_u64("VT_TEST_SEED", 12345) + 77};
	struct fstress *f = calloc(1, sizeof(*f));
	unsigned long tag = 1, nr_commits0, nr_steps = 0;
	pthread_t th[MAX_READERS];
	struct timespec t0, t;
	struct vt_stats st;
	char msg[256];

	ck_assert_ptr_nonnull(f);
	if (nr_readers > MAX_READERS)
		nr_readers = MAX_READERS;
	if (!nr_readers)
		nr_readers = 1;
	rcu_register_thread();
	pthread_mutex_init(&f->wlock, NULL);
	f->vt = vt_new();
	ck_assert_ptr_nonnull(f->vt);
	G_fs = f;
	{
		VT_TXN(txn, f->vt);
		for (int i = 0; i < FS_BG; i++)
			txn_ok(vt_txn_store(&txn, FS_BG_AT(i), FS_BG_AT(i) + 31,
					    test_ptr(1000000 + i)),
			       "background");
		f->slot_first[0] = BASE;
		f->slot_first[FS_SLOTS - 1] = FS_BG_AT(FS_BG - 1) + 64;
		for (int k = 1; k < FS_SLOTS - 1; k++) {
			/* Clear background for the slot (6 entries). */
			int at = FS_BG * k / (FS_SLOTS - 1);

			f->slot_first[k] = FS_BG_AT(at) + 32;
			txn_ok(vt_txn_erase(&txn, FS_BG_AT(at) + 32,
					    FS_BG_AT(at + 6) - 1),
			       "slot");
		}
		/* Every slot filled but one. */
		for (int k = 1; k < FS_SLOTS; k++)
			fs_set(f, &txn, k, test_ptr(++tag));
		txn_ok(vt_txn_commit(&txn), "initial commit");
		for (int k = 1; k < FS_SLOTS; k++) {
			f->filled[k] = 1;
			f->ver[k]++;
		}
	}
	ck_assert_int_eq(vt_validate(f->vt, msg, sizeof(msg)), 0);
	vt_stats(f->vt, &st);
	ck_assert_uint_ge(st.height, 3);
	nr_commits0 = st.nr_commits;
	for (unsigned k = 0; k < nr_readers; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, fs_reader,
						(void *)(uintptr_t)k),
				 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!CMM_LOAD_SHARED(f->stop)) {
		pthread_mutex_lock(&f->wlock);
		fs_writer_step(f, &r, &tag);
		pthread_mutex_unlock(&f->wlock);
		if (++nr_steps % 256 == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec >= (time_t)(secs + 1))
				break;
		}
	}
	CMM_STORE_SHARED(f->stop, 1);
	for (unsigned k = 0; k < nr_readers; k++)
		pthread_join(th[k], NULL);
	ck_assert_msg(!f->failed, "%s", f->msg);
	ck_assert_int_eq(vt_validate(f->vt, msg, sizeof(msg)), 0);
	vt_stats(f->vt, &st);
	printf("stress free (%s): %u readers, %" PRIu64 " commits, %lu "
	       "searches, %lu of them under the lock, %" PRIu64
	       " ancestors kept\n",
	       st.nr_kept ? "in place" : "at the root", nr_readers,
	       st.nr_commits - nr_commits0, f->nr_search, f->nr_locked,
	       st.nr_kept);
	ck_assert_uint_gt(f->nr_search, 1000);
	ck_assert_uint_gt(st.nr_commits - nr_commits0, 1000);
	/* Most searches validated under RCU. */
	ck_assert_uint_lt(f->nr_locked, f->nr_search / 2);
	vt_free(f->vt);
	rcu_unregister_thread();
	pthread_mutex_destroy(&f->wlock);
	G_fs = NULL;
	free(f);
}
END_TEST

static Suite *vt_stress_suite(void)
{
	Suite *s = suite_create("vt_stress");
	TCase *tc = tcase_create("stress");
	unsigned secs = (unsigned)test_env_u64("VT_STRESS_SECONDS", 4);

	tcase_set_timeout(tc, secs + 60);
	tcase_add_test(tc, test_stress_lookup);
	tcase_add_test(tc, test_stress_iterate);
	tcase_add_loop_test(tc, test_stress_spine, 0, 2);
	tcase_add_test(tc, test_stress_free);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;

#ifdef VMAD_TEST_HOOKS
	/* A broken reclaimer, for the test that ASan reports it. */
	if (getenv("VT_TEST_SKIP_GRACE_PERIOD"))
		vt_test_skip_grace_period = true;
#endif
	sr = srunner_create(vt_stress_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
