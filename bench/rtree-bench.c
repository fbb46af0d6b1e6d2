// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: rtree-bench - the RCU range tree against a sorted array under a
 * reader-writer lock.
 *
 * For each N it builds N ranges [first, last] spread over a span (about
 * half of the span is covered, so lookups hit and miss), then measures:
 *
 * - store: stores/s building the structure in random order;
 * - erase: erases/s removing every range in random order;
 * - bytes_per_entry: vt_stats().bytes / N after the random-order build
 *   (array: allocated capacity / N);
 * - lookup (writers 0): one reader's lookups/s at addresses drawn
 *   uniformly over the span, pre-generated in an array so that the
 *   random-number generator is not measured;
 * - lookup (writers 1) and commit (readers 1): the same reader while one
 *   writer thread replaces entries (a new pointer over an existing entry's
 *   exact range, one transaction each), and the writer's commits/s.
 *
 * The "array" implementation is what a user would write first: a sorted
 * array with binary search, readers under pthread_rwlock_rdlock(), the
 * writer under the write lock (replace = binary search + pointer swap,
 * insert/erase = memmove). A random-order build of a sorted array costs
 * O(N^2) moves, so above ARRAY_SAMPLE entries the array's store and erase
 * are timed on ARRAY_SAMPLE random entries inserted into (then erased
 * from) an array already holding the other N - ARRAY_SAMPLE; the lines
 * say so with "sample".
 *
 * Two more lines per N put the writer's cost in one number: the ratio of
 * the rtree reader's rate with the writer to its rate without ("of":
 * "rtree writers=1 / writers=0"), and the same reader against a writer
 * held to --paced commits/s (default 430,000/s, the rate a userspace port
 * of the kernel's maple tree reaches at N = 1,000), with "writer_pace" and
 * the rate it reached. A commit costs the reader a roughly fixed time (it
 * must fetch the new root and path), so the reader's loss grows with the
 * writer's rate; the paced line shows it at a comparable rate.
 *
 * The rtree lookup and commit figures are measured twice, with the trees
 * publishing commits in place (the default) and at the root
 * (vt_set_in_place(vt, false)), the two alternated within every run; their
 * lines say which with "tree". Per mode, "lost_per_commit" gives the
 * reader's time lost per commit of the full-speed writer, in ns: the
 * slope of the time each batch of 1,024 lookups took over the number of
 * commits the writer made meanwhile, fitted over the batches that were
 * not preempted (shorter than 4x the fastest batch without the writer),
 * so that only commits made while the reader ran count, also on a machine
 * shared with other work. "from_rates_ns" gives the plain estimate
 * (1 - rate with / rate without) / commits per second, which on a shared
 * machine mostly measures how the scheduler shares the cores. Beside it:
 * the time one cache line takes to move between the two cores, measured
 * in the same run by a two-thread ping-pong (figure "line_transfer", impl
 * "cpu": the fastest of many rounds, as a shared machine preempts most of
 * them); the quotient ("line_transfers": what a commit costs the reader,
 * in line transfers; the physical floor is about one on the reader's
 * path); and the same slope for the writer on a tree of its own
 * ("separate_tree_ns": what a busy writer costs without a shared line).
 * A run in which fewer than 100 commits fell in unpreempted batches (the
 * two threads hardly ran at the same time) gives no slope: "runs_fitted"
 * says how many runs did, and with none the value is 0.
 *
 * rtree readers take rcu_read_lock() around every single lookup ("batch":
 * 1), as array readers take the read lock around every lookup; --batch B
 * makes both take it once per B lookups (printed as "batch": B). Every
 * figure is the median of "runs" runs; after each rtree/array pair a line
 * with "impl": "ratio" gives rtree / array.
 *
 * Usage: rtree-bench [--quick] [--seconds S] [--runs R] [--batch B]
 *                    [--paced C] [--n N1,N2,...]
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/uatomic.h>
#include <urcu/urcu-memb.h>

#include "vma/vt.h"

#define BENCH	     "rtree-bench"
#define STRIDE	     (1ULL << 16)
#define BASE	     (1ULL << 40)
#define NR_ADDR	     (1u << 20) /* pre-generated lookup addresses */
#define ARRAY_SAMPLE 1000
#define MAX_RUNS     15

struct range {
	uint64_t first, last;
};

struct opts {
	double seconds;
	int runs;
	int batch;    /* lookups per read-side critical section */
	double paced; /* commits/s of the paced writer run; 0 = none */
	uint64_t n[16];
	int nr_n;
};

/* splitmix64 */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p) {
		fprintf(stderr, BENCH ": out of memory\n");
		exit(1);
	}
	return p;
}

static void *fake_ptr(uint64_t tag)
{
	return (void *)(uintptr_t)((tag << 4) | 8);
}

static void shuffle(uint64_t *v, uint64_t n, uint64_t *seed)
{
	for (uint64_t i = 0; i < n; i++)
		v[i] = i;
	for (uint64_t i = n - 1; i > 0 && n; i--) {
		uint64_t j = rng_next(seed) % (i + 1), t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The obvious alternative: a sorted array under a reader-writer lock. */
struct arr_ent {
	uint64_t first, last;
	void *ptr;
};

struct arr {
	struct arr_ent *e;
	size_t nr, cap;
	pthread_rwlock_t lock;
};

static void arr_init(struct arr *a)
{
	memset(a, 0, sizeof(*a));
	pthread_rwlock_init(&a->lock, NULL);
}

static void arr_fini(struct arr *a)
{
	free(a->e);
	pthread_rwlock_destroy(&a->lock);
}

/* First entry whose last >= index. */
static size_t arr_lower(const struct arr *a, uint64_t index)
{
	size_t lo = 0, hi = a->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->e[mid].last < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void *arr_load_locked(struct arr *a, uint64_t index)
{
	size_t i = arr_lower(a, index);

	if (i < a->nr && a->e[i].first <= index)
		return a->e[i].ptr;
	return NULL;
}

static void *arr_load(struct arr *a, uint64_t index)
{
	pthread_rwlock_rdlock(&a->lock);
	void *p = arr_load_locked(a, index);
	pthread_rwlock_unlock(&a->lock);
	return p;
}

/* Insert a range that overlaps nothing. */
static void arr_insert(struct arr *a, uint64_t first, uint64_t last, void *p)
{
	pthread_rwlock_wrlock(&a->lock);
	if (a->nr == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->e = realloc(a->e, a->cap * sizeof(*a->e));
		if (!a->e)
			abort();
	}
	size_t i = arr_lower(a, first);
	memmove(&a->e[i + 1], &a->e[i], (a->nr - i) * sizeof(*a->e));
	a->e[i] = (struct arr_ent){first, last, p};
	a->nr++;
	pthread_rwlock_unlock(&a->lock);
}

static void arr_erase(struct arr *a, uint64_t first)
{
	pthread_rwlock_wrlock(&a->lock);
	size_t i = arr_lower(a, first);
	if (i < a->nr && a->e[i].first == first) {
		memmove(&a->e[i], &a->e[i + 1],
			(a->nr - i - 1) * sizeof(*a->e));
		a->nr--;
	}
	pthread_rwlock_unlock(&a->lock);
}

static void arr_replace(struct arr *a, uint64_t first, void *p)
{
	pthread_rwlock_wrlock(&a->lock);
	size_t i = arr_lower(a, first);
	if (i < a->nr && a->e[i].first == first)
		a->e[i].ptr = p;
	pthread_rwlock_unlock(&a->lock);
}

/* One data set: N ranges, lookup addresses, writer targets. */
struct data {
	uint64_t n;
	struct range *r;
	uint64_t *addr;	  /* NR_ADDR lookup addresses */
	uint64_t *target; /* NR_ADDR entry indexes for the writer */
	uint64_t *order;  /* a permutation of 0..n-1 */
	uint64_t seed;
};

static void data_init(struct data *d, uint64_t n)
{
	d->n = n;
	d->seed = 0x5eed0000 + n;
	d->r = xmalloc(n * sizeof(*d->r));
	d->addr = xmalloc(NR_ADDR * sizeof(*d->addr));
	d->target = xmalloc(NR_ADDR * sizeof(*d->target));
	d->order = xmalloc(n * sizeof(*d->order));
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = STRIDE / 4 + rng_next(&d->seed) % (STRIDE / 2);
		d->r[i].first =
			BASE + i * STRIDE + rng_next(&d->seed) % (STRIDE - len);
		d->r[i].last = d->r[i].first + len - 1;
	}
	uint64_t lo = d->r[0].first, span = d->r[n - 1].last - lo + 1;
	for (uint32_t k = 0; k < NR_ADDR; k++) {
		d->addr[k] = lo + rng_next(&d->seed) % span;
		d->target[k] = rng_next(&d->seed) % n;
	}
}

static void data_fini(struct data *d)
{
	free(d->r);
	free(d->addr);
	free(d->target);
	free(d->order);
}

enum impl { RTREE, ARRAY };

struct run {
	enum impl impl;
	struct vt *vt;
	struct vt *wvt; /* the writer's tree: vt, or a private copy */
	struct arr *arr;
	const struct data *d;
	pthread_barrier_t start;
	int batch;
	int stop;
	double pace; /* writer's commits/s, 0 = as fast as it can */
	double reader_rate, writer_rate;
	unsigned long sink;
	/*
	 * The reader times every batch of 1,024 lookups and counts the
	 * commits made meanwhile (the writer counts them, on a line of
	 * their own): batch_min is the fastest batch of the run, and over
	 * the batches shorter than batch_cutoff (not preempted) it fits
	 * time = a + b * commits. lost_ns is b: the reader's time lost per
	 * commit made while it ran.
	 */
	double batch_min, batch_cutoff, lost_ns;
	unsigned long commits __attribute__((aligned(64)));
};

/* Least-squares slope of y over x, from running sums. */
struct fit {
	double n, x, y, xx, xy;
};

static void fit_add(struct fit *f, double x, double y)
{
	f->n++;
	f->x += x;
	f->y += y;
	f->xx += x * x;
	f->xy += x * y;
}

/* NAN if fewer than 100 commits fell in the batches (no data). */
static double fit_slope(const struct fit *f)
{
	double den = f->n * f->xx - f->x * f->x;

	if (f->x < 100 || !(den > 0))
		return NAN;
	return (f->n * f->xy - f->x * f->y) / den;
}

/*
 * The median of the values of @v that are numbers (0 if none), and in
 * *@nr how many there were.
 */
static double median_finite(const double *v, int n, int *nr)
{
	double w[MAX_RUNS];
	int k = 0;

	for (int i = 0; i < n; i++)
		if (!isnan(v[i]))
			w[k++] = v[i];
	*nr = k;
	return k ? median(w, k) : 0;
}

static void *reader_main(void *arg)
{
	struct run *run = arg;
	const uint64_t *addr = run->d->addr;
	unsigned long nr = 0, hits = 0;
	uint32_t pos = 0;

	if (run->impl == RTREE)
		rcu_register_thread();
	struct fit fit = {0};

	pthread_barrier_wait(&run->start);
	double t0 = now();
	run->batch_min = 1e9;
	while (!CMM_LOAD_SHARED(run->stop)) {
		if (run->impl == RTREE && run->batch == 1) {
			unsigned long c0 = CMM_LOAD_SHARED(run->commits);
			double b0 = now(), bt;

			for (int k = 0; k < 1024; k++) {
				uint64_t index = addr[pos++ & (NR_ADDR - 1)];
				rcu_read_lock();
				hits += vt_load(run->vt, index, NULL, NULL) !=
					NULL;
				rcu_read_unlock();
			}
			bt = now() - b0;
			if (bt < run->batch_min)
				run->batch_min = bt;
			if (bt < run->batch_cutoff)
				fit_add(&fit,
					(double)(CMM_LOAD_SHARED(run->commits) -
						 c0),
					bt);
		} else if (run->impl == RTREE) {
			for (int k = 0; k < 1024; k += run->batch) {
				rcu_read_lock();
				for (int b = 0; b < run->batch; b++) {
					uint64_t index =
						addr[pos++ & (NR_ADDR - 1)];
					hits += vt_load(run->vt, index, NULL,
							NULL) != NULL;
				}
				rcu_read_unlock();
			}
		} else if (run->batch == 1) {
			for (int k = 0; k < 1024; k++) {
				uint64_t index = addr[pos++ & (NR_ADDR - 1)];
				hits += arr_load(run->arr, index) != NULL;
			}
		} else {
			for (int k = 0; k < 1024; k += run->batch) {
				pthread_rwlock_rdlock(&run->arr->lock);
				for (int b = 0; b < run->batch; b++) {
					uint64_t index =
						addr[pos++ & (NR_ADDR - 1)];
					hits += arr_load_locked(run->arr,
								index) != NULL;
				}
				pthread_rwlock_unlock(&run->arr->lock);
			}
		}
		nr += 1024;
	}
	run->reader_rate = (double)nr / (now() - t0);
	run->lost_ns = fit_slope(&fit) * 1e9;
	run->sink += hits;
	if (run->impl == RTREE)
		rcu_unregister_thread();
	return NULL;
}

static void *writer_main(void *arg)
{
	struct run *run = arg;
	const struct data *d = run->d;
	unsigned long nr = 0;
	uint64_t tag = 1;
	uint32_t pos = 0;

	if (run->impl == RTREE)
		rcu_register_thread();
	pthread_barrier_wait(&run->start);
	double t0 = now();
	while (!CMM_LOAD_SHARED(run->stop)) {
		for (int k = 0; k < 64; k++) {
			const struct range *r =
				&d->r[d->target[pos++ & (NR_ADDR - 1)]];
			if (run->impl == RTREE) {
				if (vt_store(run->wvt, r->first, r->last,
					     fake_ptr(tag++))) {
					fprintf(stderr,
						BENCH ": store failed\n");
					exit(1);
				}
				CMM_STORE_SHARED(run->commits,
						 run->commits + 1);
			} else {
				arr_replace(run->arr, r->first,
					    fake_ptr(tag++));
			}
		}
		nr += 64;
		/* Paced: spin until the schedule catches up (no shared lines).
		 */
		while (run->pace > 0 && !CMM_LOAD_SHARED(run->stop) &&
		       now() - t0 < (double)nr / run->pace)
			caa_cpu_relax();
	}
	run->writer_rate = (double)nr / (now() - t0);
	if (run->impl == RTREE)
		rcu_unregister_thread();
	return NULL;
}

/* Tree modes the lookup figures are measured in ("tree"). */
enum { MODE_IN_PLACE, MODE_AT_ROOT, NR_MODES };
static const char *const mode_name[NR_MODES] = {"in_place", "at_root"};

/*
 * The reader's time lost per commit, in ns: it ran at @alone lookups/s
 * without the writer and at @with beside a writer committing @commits
 * times a second, so each second it lost (1 - with / alone) s.
 */
static double lost_ns(double alone, double with, double commits)
{
	return commits > 0 ? 1e9 * (1.0 - with / alone) / commits : 0;
}

/*
 * Time to move one cache line between two cores: two threads hand a
 * counter back and forth, each waiting (without pause instructions) for
 * the other's store; a handoff is one transfer of the line. Timed over
 * PP_ROUNDS rounds of PP_HANDOFFS handoffs; the fastest round counts, the
 * one in which neither thread was preempted (on a shared machine most
 * rounds include a time slice of someone else). In ns per handoff.
 */
#define PP_HANDOFFS 2000
#define PP_ROUNDS   101

static struct {
	unsigned long v __attribute__((aligned(64)));
	char pad[64 - sizeof(unsigned long)];
} pp_line;

static void *pp_partner(void *arg)
{
	(void)arg;
	for (unsigned long i = 1; i < PP_HANDOFFS * PP_ROUNDS; i += 2) {
		while (CMM_LOAD_SHARED(pp_line.v) != i)
			;
		CMM_STORE_SHARED(pp_line.v, i + 1);
	}
	return NULL;
}

static double line_transfer_ns(void)
{
	double best = 0, t0 = 0, t;
	pthread_t th;

	CMM_STORE_SHARED(pp_line.v, 0);
	pthread_create(&th, NULL, pp_partner, NULL);
	for (unsigned long i = 0; i < PP_HANDOFFS * PP_ROUNDS; i += 2) {
		if (i % PP_HANDOFFS == 0) {
			t = now();
			if (i && (best == 0 || t - t0 < best))
				best = t - t0;
			t0 = t;
		}
		CMM_STORE_SHARED(pp_line.v, i + 1);
		while (CMM_LOAD_SHARED(pp_line.v) != i + 2)
			;
	}
	pthread_join(th, NULL);
	return best * 1e9 / PP_HANDOFFS;
}

/* One timed lookup run, with or without a writer. */
static void lookup_run(struct run *run, int writers, double seconds)
{
	pthread_t rt, wt;
	struct timespec ts = {
		(time_t)seconds,
		(long)((seconds - (double)(time_t)seconds) * 1e9)};

	run->stop = 0;
	pthread_barrier_init(&run->start, NULL, writers ? 3 : 2);
	pthread_create(&rt, NULL, reader_main, run);
	if (writers)
		pthread_create(&wt, NULL, writer_main, run);
	pthread_barrier_wait(&run->start);
	nanosleep(&ts, NULL);
	CMM_STORE_SHARED(run->stop, 1);
	pthread_join(rt, NULL);
	if (writers)
		pthread_join(wt, NULL);
	pthread_barrier_destroy(&run->start);
}

static void emit(const char *figure, const char *impl, uint64_t n,
		 const char *param, double value, const char *unit,
		 const struct opts *o, const char *extra)
{
	printf("{\"bench\": \"" BENCH "\", \"figure\": \"%s\", \"impl\": "
	       "\"%s\", \"n\": %" PRIu64 "%s, \"value\": %.2f, \"unit\": "
	       "\"%s\", \"runs\": %d%s}\n",
	       figure, impl, n, param, value, unit, o->runs, extra);
	fflush(stdout);
}

static void emit_pair(const char *figure, uint64_t n, const char *param,
		      double rtree, double array, const char *unit,
		      const struct opts *o, const char *rx, const char *ax)
{
	emit(figure, "rtree", n, param, rtree, unit, o, rx);
	emit(figure, "array", n, param, array, unit, o, ax);
	emit(figure, "ratio", n, param, array > 0 ? rtree / array : 0.0, "x", o,
	     "");
}

static struct vt *rtree_build(const struct data *d, uint64_t *order,
			      uint64_t *seed, double *secs)
{
	struct vt *vt = vt_new();

	if (!vt)
		abort();
	shuffle(order, d->n, seed);
	double t0 = now();
	for (uint64_t k = 0; k < d->n; k++) {
		const struct range *r = &d->r[order[k]];
		if (vt_store(vt, r->first, r->last, fake_ptr(order[k] + 1))) {
			fprintf(stderr, BENCH ": vt_store failed\n");
			exit(1);
		}
	}
	*secs = now() - t0;
	return vt;
}

/* Build an array with every entry but the sample, in order (not timed). */
static uint64_t array_prefill(struct arr *a, const struct data *d,
			      uint64_t *sample_mask_order, uint8_t *in_sample,
			      uint64_t *seed)
{
	uint64_t k = d->n < ARRAY_SAMPLE ? d->n : ARRAY_SAMPLE;

	shuffle(sample_mask_order, d->n, seed);
	memset(in_sample, 0, d->n);
	for (uint64_t i = 0; i < k; i++)
		in_sample[sample_mask_order[i]] = 1;
	for (uint64_t i = 0; i < d->n; i++)
		if (!in_sample[i])
			arr_insert(a, d->r[i].first, d->r[i].last,
				   fake_ptr(i + 1));
	return k;
}

static void bench_n(uint64_t n, const struct opts *o)
{
	struct data d;
	double st_r[MAX_RUNS], er_r[MAX_RUNS], by_r[MAX_RUNS];
	double st_a[MAX_RUNS], er_a[MAX_RUNS], by_a[MAX_RUNS];
	double l0_a[MAX_RUNS], l1_a[MAX_RUNS], c_a[MAX_RUNS];
	uint8_t *in_sample = xmalloc(n);
	uint64_t sample = 0;
	char param[96], ax[96], rx[96];

	data_init(&d, n);
	for (int k = 0; k < o->runs; k++) {
		double secs;
		struct vt_stats vs;
		struct vt *vt = rtree_build(&d, d.order, &d.seed, &secs);
		st_r[k] = (double)n / secs;
		vt_stats(vt, &vs);
		by_r[k] = (double)vs.bytes / (double)n;
		shuffle(d.order, n, &d.seed);
		double t0 = now();
		for (uint64_t i = 0; i < n; i++) {
			const struct range *r = &d.r[d.order[i]];
			if (vt_erase(vt, r->first, r->last))
				abort();
		}
		er_r[k] = (double)n / (now() - t0);
		vt_free(vt);

		struct arr a;
		arr_init(&a);
		sample = array_prefill(&a, &d, d.order, in_sample, &d.seed);
		/* d.order[0..sample) is the sample, in random order. */
		t0 = now();
		for (uint64_t i = 0; i < sample; i++) {
			const struct range *r = &d.r[d.order[i]];
			arr_insert(&a, r->first, r->last,
				   fake_ptr(d.order[i] + 1));
		}
		st_a[k] = (double)sample / (now() - t0);
		by_a[k] =
			(double)(a.cap * sizeof(*a.e) + sizeof(a)) / (double)n;
		for (uint64_t i = sample; i > 1; i--) { /* erase order */
			uint64_t j = rng_next(&d.seed) % i, t = d.order[i - 1];
			d.order[i - 1] = d.order[j];
			d.order[j] = t;
		}
		t0 = now();
		for (uint64_t i = 0; i < sample; i++)
			arr_erase(&a, d.r[d.order[i]].first);
		er_a[k] = (double)sample / (now() - t0);
		arr_fini(&a);
	}
	snprintf(rx, sizeof(rx), ", \"sample\": %" PRIu64, n);
	snprintf(ax, sizeof(ax), ", \"sample\": %" PRIu64, sample);
	emit_pair("store", n, "", median(st_r, o->runs), median(st_a, o->runs),
		  "ops/s", o, rx, ax);
	emit_pair("erase", n, "", median(er_r, o->runs), median(er_a, o->runs),
		  "ops/s", o, rx, ax);
	emit_pair("bytes_per_entry", n, "", median(by_r, o->runs),
		  median(by_a, o->runs), "bytes", o, "", "");

	/*
	 * Lookups: one structure of each kind, built once. The rtree runs
	 * are made with the trees publishing in place and at the root, the
	 * two alternated within every run; a cache-line ping-pong is timed
	 * in every run too.
	 */
	double secs;
	struct run run = {.d = &d, .batch = o->batch};
	struct vt *vt = rtree_build(&d, d.order, &d.seed, &secs);
	/* A second tree of the same shape that only the writer touches. */
	struct vt *wvt = rtree_build(&d, d.order, &d.seed, &secs);
	double l0_r[NR_MODES][MAX_RUNS], l1_r[NR_MODES][MAX_RUNS];
	double c_r[NR_MODES][MAX_RUNS], lp_r[NR_MODES][MAX_RUNS];
	double cp_r[NR_MODES][MAX_RUNS], ls_r[NR_MODES][MAX_RUNS];
	double cs_r[NR_MODES][MAX_RUNS], lost[NR_MODES][MAX_RUNS];
	double lost_sep[NR_MODES][MAX_RUNS], xfer[MAX_RUNS];
	double lost_rates[NR_MODES][MAX_RUNS];
	struct arr a;
	arr_init(&a);
	for (uint64_t i = 0; i < n; i++)
		arr_insert(&a, d.r[i].first, d.r[i].last, fake_ptr(i + 1));
	for (int k = 0; k < o->runs; k++) {
		for (int j = 0; j < NR_MODES; j++) {
			int m = (k + j) % NR_MODES;

			vt_set_in_place(vt, m == MODE_IN_PLACE);
			vt_set_in_place(wvt, m == MODE_IN_PLACE);
			run.impl = RTREE;
			run.vt = vt;
			run.wvt = vt;
			run.batch_cutoff = 0;
			lookup_run(&run, 0, o->seconds);
			l0_r[m][k] = run.reader_rate;
			/* Batches slower than this were preempted. */
			run.batch_cutoff = 4 * run.batch_min;
			lookup_run(&run, 1, o->seconds);
			l1_r[m][k] = run.reader_rate;
			c_r[m][k] = run.writer_rate;
			lost[m][k] = run.lost_ns;
			if (o->paced > 0) {
				run.pace = o->paced;
				lookup_run(&run, 1, o->seconds);
				lp_r[m][k] = run.reader_rate;
				cp_r[m][k] = run.writer_rate;
				run.pace = 0;
			}
			/* Same writer, but on its own tree: what a busy
			 * neighbour core costs the reader when they share no
			 * node. */
			run.wvt = wvt;
			lookup_run(&run, 1, o->seconds);
			ls_r[m][k] = run.reader_rate;
			cs_r[m][k] = run.writer_rate;
			lost_sep[m][k] = run.lost_ns;
			run.wvt = vt;
			lost_rates[m][k] =
				lost_ns(l0_r[m][k], l1_r[m][k], c_r[m][k]);
		}
		run.impl = ARRAY;
		run.arr = &a;
		lookup_run(&run, 0, o->seconds);
		l0_a[k] = run.reader_rate;
		lookup_run(&run, 1, o->seconds);
		l1_a[k] = run.reader_rate;
		c_a[k] = run.writer_rate;
		xfer[k] = line_transfer_ns();
	}
	double xfer_ns = median(xfer, o->runs);
	char xx[160];

	snprintf(xx, sizeof(xx),
		 ", \"method\": \"two-thread ping-pong, fastest of %d rounds\"",
		 PP_ROUNDS);
	emit("line_transfer", "cpu", n, "", xfer_ns, "ns", o, xx);
	snprintf(rx, sizeof(rx), ", \"batch\": %d, \"seconds\": %.3f", o->batch,
		 o->seconds);
	snprintf(param, sizeof(param), ", \"writers\": 0");
	emit("lookup", "array", n, param, median(l0_a, o->runs), "ops/s", o,
	     rx);
	snprintf(param, sizeof(param), ", \"writers\": 1");
	emit("lookup", "array", n, param, median(l1_a, o->runs), "ops/s", o,
	     rx);
	for (int m = 0; m < NR_MODES; m++) {
		const char *tree = mode_name[m];
		char tx[64], px[224];

		snprintf(tx, sizeof(tx), ", \"tree\": \"%s\"", tree);
		snprintf(rx, sizeof(rx),
			 ", \"batch\": %d, \"seconds\": %.3f, \"tree\": \"%s\"",
			 o->batch, o->seconds, tree);
		for (int w = 0; w < 2; w++) {
			double *lr = w ? l1_r[m] : l0_r[m],
			       *la = w ? l1_a : l0_a;

			snprintf(param, sizeof(param), ", \"writers\": %d", w);
			emit("lookup", "rtree", n, param, median(lr, o->runs),
			     "ops/s", o, rx);
			emit("lookup", "ratio", n, param,
			     median(lr, o->runs) / median(la, o->runs), "x", o,
			     tx);
		}
		/* What the writer costs the reader: writers=1 / writers=0. */
		snprintf(px, sizeof(px),
			 ", \"of\": \"rtree writers=1 / writers=0\", "
			 "\"tree\": \"%s\", \"writer_rate\": %.0f",
			 tree, median(c_r[m], o->runs));
		emit("lookup", "ratio", n, param,
		     median(l1_r[m], o->runs) / median(l0_r[m], o->runs), "x",
		     o, px);
		if (o->paced > 0) {
			snprintf(
				px, sizeof(px),
				", \"batch\": %d, \"seconds\": %.3f, "
				"\"writer_pace\": %.0f, \"writer_rate\": %.0f, "
				"\"tree\": \"%s\"",
				o->batch, o->seconds, o->paced,
				median(cp_r[m], o->runs), tree);
			emit("lookup", "rtree", n, param,
			     median(lp_r[m], o->runs), "ops/s", o, px);
			snprintf(px, sizeof(px),
				 ", \"writer_pace\": %.0f, \"of\": \"rtree "
				 "writers=1 (paced) / writers=0\", \"tree\": "
				 "\"%s\"",
				 o->paced, tree);
			emit("lookup", "ratio", n, param,
			     median(lp_r[m], o->runs) /
				     median(l0_r[m], o->runs),
			     "x", o, px);
		}
		snprintf(
			px, sizeof(px),
			", \"batch\": %d, \"seconds\": %.3f, "
			"\"writer_tree\": \"separate\", \"writer_rate\": %.0f, "
			"\"tree\": \"%s\"",
			o->batch, o->seconds, median(cs_r[m], o->runs), tree);
		emit("lookup", "rtree", n, param, median(ls_r[m], o->runs),
		     "ops/s", o, px);
		snprintf(px, sizeof(px),
			 ", \"writer_tree\": \"separate\", \"of\": \"rtree "
			 "writers=1 (separate tree) / writers=0\", \"tree\": "
			 "\"%s\"",
			 tree);
		emit("lookup", "ratio", n, param,
		     median(ls_r[m], o->runs) / median(l0_r[m], o->runs), "x",
		     o, px);
		/*
		 * The reader's time lost per commit of the full-speed
		 * writer, in line transfers of this run's ping-pong; and
		 * what the same writer costs from a tree of its own (no
		 * shared line: the reclaimer, interrupts, the core's
		 * neighbour), per commit.
		 */
		{
			int fitted, fitted_sep;
			double l = median_finite(lost[m], o->runs, &fitted);
			double ls = median_finite(lost_sep[m], o->runs,
						  &fitted_sep);
			char big[480];

			snprintf(
				big, sizeof(big),
				", \"writers\": 1, \"tree\": \"%s\", "
				"\"writer_rate\": %.0f, \"line_transfer_ns\": "
				"%.1f, \"line_transfers\": %.2f, "
				"\"separate_tree_ns\": %.1f, "
				"\"line_transfers_beyond_separate\": %.2f, "
				"\"from_rates_ns\": %.1f, \"runs_fitted\": %d, "
				"\"separate_runs_fitted\": %d",
				tree, median(c_r[m], o->runs), xfer_ns,
				l / xfer_ns, ls, (l - ls) / xfer_ns,
				median(lost_rates[m], o->runs), fitted,
				fitted_sep);
			emit("lost_per_commit", "rtree", n, "", l, "ns", o,
			     big);
		}
		snprintf(param, sizeof(param), ", \"readers\": 1");
		snprintf(rx, sizeof(rx),
			 ", \"ops_per_txn\": 1, \"seconds\": %.3f, \"tree\": "
			 "\"%s\"",
			 o->seconds, tree);
		emit("commit", "rtree", n, param, median(c_r[m], o->runs),
		     "ops/s", o, rx);
		emit("commit", "ratio", n, param,
		     median(c_r[m], o->runs) / median(c_a, o->runs), "x", o,
		     tx);
	}
	snprintf(param, sizeof(param), ", \"readers\": 1");
	snprintf(rx, sizeof(rx), ", \"ops_per_txn\": 1, \"seconds\": %.3f",
		 o->seconds);
	emit("commit", "array", n, param, median(c_a, o->runs), "ops/s", o, rx);
	if (run.sink == 42) /* keep the lookups' results alive */
		fputc('\n', stderr);
	vt_free(vt);
	vt_free(wvt);
	arr_fini(&a);
	free(in_sample);
	data_fini(&d);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: " BENCH " [--quick] [--seconds S] [--runs R] "
		   "[--batch B] [--paced C] [--n N1,N2,...]\n"
		   "  --batch B  lookups per read-side section (rcu_read_lock "
		   "or rdlock),\n"
		   "             a power of two up to 1024; default 1\n"
		   "  --paced C  also time the rtree reader against a writer "
		   "held to C\n"
		   "             commits/s; default 430000, 0 to skip\n"
		   "Prints one JSON line per figure (members bench, figure, "
		   "impl, value, unit).\n");
}

static int parse_n(struct opts *o, const char *s)
{
	char *end;

	o->nr_n = 0;
	while (*s) {
		unsigned long long v = strtoull(s, &end, 10);
		if (end == s || v < 2 || v > (1ULL << 26) || o->nr_n == 16)
			return -EINVAL;
		o->n[o->nr_n++] = v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -EINVAL;
	}
	return o->nr_n ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	struct opts o = {.seconds = 1.0,
			 .runs = 3,
			 .batch = 1,
			 .paced = 430000,
			 .n = {1000, 100000, 1000000},
			 .nr_n = 3};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			o.seconds = 0.05;
			o.n[0] = 1000;
			o.n[1] = 20000;
			o.nr_n = 2;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			o.seconds = strtod(argv[++i], NULL);
			if (!(o.seconds > 0 && o.seconds < 3600)) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			o.runs = atoi(argv[++i]);
			if (o.runs < 1 || o.runs > MAX_RUNS) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
			o.batch = atoi(argv[++i]);
			if (o.batch < 1 || 1024 % o.batch) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--paced") && i + 1 < argc) {
			o.paced = strtod(argv[++i], NULL);
			if (!(o.paced >= 0 && o.paced < 1e9)) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			if (parse_n(&o, argv[++i])) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	rcu_register_thread();
	for (int k = 0; k < o.nr_n; k++)
		bench_n(o.n[k], &o);
	rcu_unregister_thread();
	return 0;
}
