// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: space-bench - throughput and memory of a simulated address space
 *
 * Prints one JSON line per figure (ARCHITECTURE.md "Performance"):
 *
 *   {"bench": "space-bench", "figure": F, "impl": I, "value": V,
 *    "unit": U, ...parameters}
 *
 * Figures:
 *   mmap_munmap    anonymous non-fixed mmap of 4 pages then its munmap,
 *                  one thread, in a space holding 1,000 other VMAs
 *                  (pairs/s).
 *   map_fixed_8    MAP_FIXED over a range covering 8 VMAs and the 7 gaps
 *                  between them, one thread (ops/s). The space holds 1,000
 *                  groups of 8 VMAs; each op replaces one group by one
 *                  VMA. When every group has been replaced, the groups are
 *                  rebuilt with the clock stopped: only the MAP_FIXED
 *                  operations are timed and counted ("counted":
 *                  "map_fixed_only").
 *   fault          read faults at random pages of 1,000 VMAs of 16 pages
 *                  (already populated), with "threads" 1 or 2 faulting
 *                  threads and "mutators" 0 or 1 (a thread doing
 *                  mmap/mprotect/munmap in the same space, far from the
 *                  faulted range); faults/s summed over the faulting
 *                  threads. With a mutator the line also gives the
 *                  mutator's operations/s ("mutations_per_s"): every one
 *                  commits a new tree root that the faults must fetch.
 *                  "tree" says how commits publish: "in_place" (the
 *                  default, vt_set_in_place()) or "at_root"
 *                  (VMA_TREE_IN_PLACE=0: published nodes are never
 *                  modified). Unless the environment already asks for
 *                  at_root, the vmad fault figures and their mutator
 *                  ratios are printed a second time for at_root. Runs
 *                  without and with the mutator alternate; every fault
 *                  line gives the spread of its runs ("min", "max"), and
 *                  the ratio lines "vmad mutators=1 / mutators=0" (and
 *                  rwlock's) are the median of the runs' ratios, with
 *                  their spread and the mutator's rate.
 *                  impl "kernel": the same figure for the real kernel, one
 *                  thread read-faulting fresh pages of an anonymous region
 *                  (huge pages off; "zero_page" says whether the kernel
 *                  mapped its zero page) with and without one thread
 *                  doing mmap/mprotect/munmap in the same mm, and the
 *                  ratio "kernel mutators=1 / mutators=0": the anchor for
 *                  what a mutator may cost faults.
 *   bytes_per_vma  vas_stats().bytes / nr_vmas with n VMAs (n = 100,000)
 *                  adjacent single-page VMAs that never merge. bytes
 *                  already counts the tree's nodes (vt_stats().bytes), the
 *                  VMA objects, files and the resident-page table; it is
 *                  the model's own accounting (no allocator overhead).
 *
 * Implementations ("impl"):
 *   vmad     the libvma calls as they are (faults under RCU, no lock);
 *   rwlock   the same calls, each under one pthread_rwlock_t around the
 *            space (faults take it for read, mutations for write), the
 *            classic mmap_lock design. The lock prefers writers, as the
 *            kernel's rwsem makes new readers wait behind a writer. With
 *            a mutator its fault rate swings from run to run by orders of
 *            magnitude (a mutator that re-takes the lock at once starves
 *            the faulting threads, which sleep on the lock's futex, or
 *            not), so its fault lines give their spread: compare with
 *            the min and max, not only the median;
 *   kernel   the same operations as real syscalls of this process, for
 *            reference (mmap_munmap and map_fixed_8 only);
 *   ratio    vmad / rwlock for each figure, and the scaling ratios
 *            (fault 2 threads / 1 thread, with / without a mutator), with
 *            "of" naming the quotient.
 *
 * Each value is the median of 3 runs (--runs N). --quick shortens every
 * run and uses n = 10,000 for bytes_per_vma, for a smoke test. The
 * default run takes about a minute. --mutator-only prints only what a
 * mutator costs one faulting thread (vmad in place and at the root, and
 * the kernel), the figures of issue 15. Fault lines also give the rate
 * per CPU second of the faulting threads ("per_cpu_second"), and each
 * mutator ratio comes a second time computed from those: on a shared
 * machine a mutator also takes CPU time away from the faulting threads,
 * which that ratio leaves out.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define PG	VAS_PAGE_SIZE
#define MAXRUNS 15

#define P_R    VAS_PROT_READ
#define P_RW   (VAS_PROT_READ | VAS_PROT_WRITE)
#define P_RX   (VAS_PROT_READ | VAS_PROT_EXEC)
#define F_ANON (VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS)

enum impl {
	IMPL_VMAD,
	IMPL_RWLOCK,
	IMPL_KERNEL,
};

static const char *impl_name[] = {"vmad", "rwlock", "kernel"};

/* A space and, for the rwlock variant, the lock around it. */
struct space {
	struct vas *vas;
	enum impl impl;
	pthread_rwlock_t lock;
};

static double run_seconds = 0.5;
static int nr_runs = 3;
static bool quick;
static bool mutator_only; /* --mutator-only */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "space-bench: %s: %s\n", what, vma_strerror(err));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void emit(const char *figure, const char *impl, double value,
		 const char *unit, const char *params)
{
	printf("{\"bench\": \"space-bench\", \"figure\": \"%s\", \"impl\": "
	       "\"%s\", \"value\": %.1f, \"unit\": \"%s\"%s%s}\n",
	       figure, impl, value, unit, params && *params ? ", " : "",
	       params ? params : "");
	fflush(stdout);
}

static void emit_ratio(const char *figure, double num, double den,
		       const char *of, const char *params)
{
	char p[640];

	snprintf(p, sizeof(p), "\"of\": \"%s\"%s%s", of,
		 params && *params ? ", " : "", params ? params : "");
	printf("{\"bench\": \"space-bench\", \"figure\": \"%s\", \"impl\": "
	       "\"ratio\", \"value\": %.3f, \"unit\": \"x\", %s}\n",
	       figure, den > 0 ? num / den : 0.0, p);
	fflush(stdout);
}

static void space_init(struct space *s, enum impl impl)
{
	struct vas_layout lay;
	pthread_rwlockattr_t attr;
	int err;

	memset(s, 0, sizeof(*s));
	s->impl = impl;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
		&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (impl == IMPL_KERNEL)
		return;
	vas_layout_default(&lay);
	lay.max_map_count = 1u << 20;
	err = vas_new(&lay, &s->vas);
	if (err)
		die("vas_new", err);
}

static void space_fini(struct space *s)
{
	if (s->vas)
		vas_free(s->vas);
	pthread_rwlock_destroy(&s->lock);
}

static inline void wlock(struct space *s)
{
	if (s->impl == IMPL_RWLOCK)
		pthread_rwlock_wrlock(&s->lock);
}

static inline void rlock(struct space *s)
{
	if (s->impl == IMPL_RWLOCK)
		pthread_rwlock_rdlock(&s->lock);
}

static inline void unlock(struct space *s)
{
	if (s->impl == IMPL_RWLOCK)
		pthread_rwlock_unlock(&s->lock);
}

static int sp_mmap(struct space *s, uint64_t addr, uint64_t len, unsigned prot,
		   unsigned flags, uint64_t *out)
{
	int err;

	if (s->impl == IMPL_KERNEL) {
		int kp = ((prot & P_R) ? PROT_READ : 0) |
			 ((prot & VAS_PROT_WRITE) ? PROT_WRITE : 0) |
			 ((prot & VAS_PROT_EXEC) ? PROT_EXEC : 0);
		int kf =
			MAP_PRIVATE | MAP_ANONYMOUS |
			((flags & VAS_MAP_FIXED) ? MAP_FIXED : 0) |
			((flags & VAS_MAP_FIXED_NOREPLACE) ? MAP_FIXED_NOREPLACE
							   : 0);
		void *p = mmap((void *)(uintptr_t)addr, len, kp, kf, -1, 0);

		if (p == MAP_FAILED)
			return -errno;
		*out = (uintptr_t)p;
		return 0;
	}
	wlock(s);
	err = vas_mmap(s->vas, addr, len, prot, flags, NULL, 0, out);
	unlock(s);
	return err;
}

static int sp_munmap(struct space *s, uint64_t addr, uint64_t len)
{
	int err;

	if (s->impl == IMPL_KERNEL)
		return munmap((void *)(uintptr_t)addr, len) ? -errno : 0;
	wlock(s);
	err = vas_munmap(s->vas, addr, len);
	unlock(s);
	return err;
}

static int sp_mprotect(struct space *s, uint64_t addr, uint64_t len,
		       unsigned prot)
{
	int err;

	wlock(s);
	err = vas_mprotect(s->vas, addr, len, prot);
	unlock(s);
	return err;
}

static int sp_fault(struct space *s, uint64_t addr, struct vas_fault_result *r)
{
	int err;

	rlock(s);
	err = vas_fault(s->vas, addr, VAS_ACCESS_READ, r);
	unlock(s);
	return err;
}

/* ------------------------------------------------------------------ */
/* mmap_munmap                                                          */

/* 1,000 single-page VMAs low in the space (kernel: none, it has its own). */
static void add_background(struct space *s, uint64_t base, int n)
{
	uint64_t out;
	int err;

	if (s->impl == IMPL_KERNEL)
		return;
	for (int i = 0; i < n; i++) {
		err = sp_mmap(s, base + (uint64_t)i * 2 * PG, PG,
			      (i & 1) ? P_R : P_RW,
			      F_ANON | VAS_MAP_FIXED_NOREPLACE, &out);
		if (err)
			die("mmap background", err);
	}
}

static double run_mmap_munmap(enum impl impl)
{
	struct space s;
	uint64_t n = 0, out;
	double t0, t;
	int err;

	space_init(&s, impl);
	add_background(&s, 0x10000000ULL, 1000);
	t0 = now();
	do {
		for (int i = 0; i < 256; i++) {
			err = sp_mmap(&s, 0, 4 * PG, P_RW, F_ANON, &out);
			if (err)
				die("mmap", err);
			err = sp_munmap(&s, out, 4 * PG);
			if (err)
				die("munmap", err);
		}
		n += 256;
		t = now() - t0;
	} while (t < run_seconds);
	space_fini(&s);
	return n / t;
}

/* ------------------------------------------------------------------ */
/* map_fixed_8                                                          */

#define MF_GROUPS     1000
#define MF_VMA_PAGES  4
#define MF_GROUP_SPAN (8 * (MF_VMA_PAGES + 1)) /* pages, with a gap after */

/* Build group g: 8 VMAs of 4 pages, alternating prot, 1-page gaps. */
static void mf_build(struct space *s, uint64_t base, int g)
{
	uint64_t gs = base + (uint64_t)g * MF_GROUP_SPAN * PG, out;
	int err;

	for (int i = 0; i < 8; i++) {
		uint64_t a = gs + (uint64_t)i * (MF_VMA_PAGES + 1) * PG;

		err = sp_mmap(s, a, MF_VMA_PAGES * PG, (i & 1) ? P_R : P_RX,
			      F_ANON | VAS_MAP_FIXED, &out);
		if (err)
			die("mmap group", err);
		/* Punch the gap after it (the replacement filled it). */
		err = sp_munmap(s, a + MF_VMA_PAGES * PG, PG);
		if (err)
			die("munmap gap", err);
	}
}

static double run_map_fixed_8(enum impl impl)
{
	const uint64_t span = (uint64_t)MF_GROUPS * MF_GROUP_SPAN * PG;
	struct space s;
	uint64_t base = 0x200000000000ULL, n = 0, out;
	double timed = 0;
	void *res = NULL;
	int err;

	space_init(&s, impl);
	if (impl == IMPL_KERNEL) {
		/* Our own reservation to work in. */
		res = mmap(NULL, span + PG, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (res == MAP_FAILED)
			die("reserve", -errno);
		base = (uintptr_t)res;
	}
	do {
		double t0;

		for (int g = 0; g < MF_GROUPS; g++)
			mf_build(&s, base, g);
		t0 = now();
		for (int g = 0; g < MF_GROUPS; g++) {
			uint64_t gs = base + (uint64_t)g * MF_GROUP_SPAN * PG;

			/* 8 VMAs and the 7 gaps between them. */
			err = sp_mmap(&s, gs, (MF_GROUP_SPAN - 1) * PG, P_RW,
				      F_ANON | VAS_MAP_FIXED, &out);
			if (err)
				die("MAP_FIXED over 8", err);
		}
		timed += now() - t0;
		n += MF_GROUPS;
	} while (timed < run_seconds);
	if (res)
		munmap(res, span + PG);
	space_fini(&s);
	return n / timed;
}

/* ------------------------------------------------------------------ */
/* fault                                                                */

#define FT_VMAS	     1000
#define FT_VMA_PAGES 16
#define FT_BASE	     0x300000000000ULL

/*
 * What a faulting thread saw, batch by batch: how long each batch of
 * FT_BATCH faults took, and how many operations the mutator finished
 * meanwhile. batches_slope() turns that into the faults' time lost per
 * mutation made while both ran, which a machine shared with other work
 * does not blur: a batch during which the faulting thread was preempted
 * is left out, and one during which the mutator was, counts no mutation.
 */
#define FT_BATCH    64
#define MAX_BATCHES (1u << 18)

struct batches {
	unsigned nr;
	float t[MAX_BATCHES];	 /* seconds */
	uint16_t m[MAX_BATCHES]; /* mutations during the batch */
};

static void batch_add(struct batches *b, double t, unsigned long m)
{
	if (b->nr < MAX_BATCHES) {
		b->t[b->nr] = (float)t;
		b->m[b->nr++] = (uint16_t)(m > 65535 ? 65535 : m);
	}
}

/*
 * Least-squares slope of batch time over mutations, in s per mutation,
 * over the batches shorter than 4x the fastest (the others were
 * preempted); NAN if fewer than 100 mutations happened during them (on a
 * busy machine the two threads may seldom run at the same time).
 */
static double batches_slope(const struct batches *b)
{
	double min = 1e9, n = 0, x = 0, y = 0, xx = 0, xy = 0, den;

	for (unsigned i = 0; i < b->nr; i++)
		if (b->t[i] < min)
			min = b->t[i];
	for (unsigned i = 0; i < b->nr; i++) {
		if (b->t[i] >= 4 * min)
			continue;
		n++;
		x += b->m[i];
		y += b->t[i];
		xx += (double)b->m[i] * b->m[i];
		xy += (double)b->m[i] * b->t[i];
	}
	den = n * xx - x * x;
	/* Too few batches ran beside a mutation: nothing to fit. */
	if (x < 100 || !(den > 0))
		return NAN;
	return (n * xy - x * y) / den;
}

static struct batches *batch_buf[2]; /* one per faulting thread */

struct fault_run {
	struct space *s;
	pthread_barrier_t start;
	atomic_bool stop;
	atomic_ulong faults;
	atomic_ulong cpu_ns; /* the faulting threads' CPU time */
	atomic_ulong mutations;
	atomic_ulong mut_cpu_ns; /* the mutator's CPU time */
	atomic_int error;
	atomic_int next_buf;
	/* Operations the mutator finished so far, on a line of its own. */
	_Alignas(64) atomic_ulong mut_live;
};

/* The calling thread's CPU time in ns. */
static uint64_t thread_cpu_ns(void);

/* The calling thread's CPU time in ns. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void *fault_thread(void *arg)
{
	struct fault_run *fr = arg;
	const uint64_t npages = (uint64_t)FT_VMAS * FT_VMA_PAGES;
	uint64_t x = (uint64_t)(uintptr_t)&x | 1, n = 0, cpu0;
	struct batches *b = batch_buf[atomic_fetch_add(&fr->next_buf, 1)];

	b->nr = 0;
	urcu_memb_register_thread();
	pthread_barrier_wait(&fr->start);
	cpu0 = thread_cpu_ns();
	while (!atomic_load_explicit(&fr->stop, memory_order_relaxed)) {
		unsigned long m0 = atomic_load_explicit(&fr->mut_live,
							memory_order_relaxed);
		double b0 = now();

		for (int i = 0; i < FT_BATCH; i++) {
			struct vas_fault_result r;
			int err;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			err = sp_fault(fr->s, FT_BASE + (x % npages) * PG, &r);
			if (err || r.status != VAS_FAULT_OK)
				atomic_store(&fr->error, err ? err : -EFAULT);
		}
		batch_add(b, now() - b0,
			  atomic_load_explicit(&fr->mut_live,
					       memory_order_relaxed) -
				  m0);
		n += FT_BATCH;
	}
	atomic_fetch_add(&fr->cpu_ns, thread_cpu_ns() - cpu0);
	atomic_fetch_add(&fr->faults, n);
	urcu_memb_unregister_thread();
	return NULL;
}

/* mmap, mprotect of the middle page, munmap: far above the faulted range. */
static void *mutator_thread(void *arg)
{
	struct fault_run *fr = arg;
	uint64_t n = 0, out, cpu0;

	urcu_memb_register_thread();
	pthread_barrier_wait(&fr->start);
	cpu0 = thread_cpu_ns();
	while (!atomic_load_explicit(&fr->stop, memory_order_relaxed)) {
		int err = sp_mmap(fr->s, 0, 4 * PG, P_RW, F_ANON, &out);

		if (!err)
			err = sp_mprotect(fr->s, out + PG, PG, P_R);
		if (!err)
			err = sp_munmap(fr->s, out, 4 * PG);
		if (err)
			atomic_store(&fr->error, err);
		n += 3;
		atomic_store_explicit(&fr->mut_live, n, memory_order_relaxed);
	}
	atomic_fetch_add(&fr->mut_cpu_ns, thread_cpu_ns() - cpu0);
	atomic_fetch_add(&fr->mutations, n);
	urcu_memb_unregister_thread();
	return NULL;
}

/* The mutator's operations/s in each run of the current measurement. */
static double mut_rates[MAXRUNS];
static int nr_mut_rates;
/* The last run's faults per CPU second of the faulting threads. */
static double last_cpu_rate;
/*
 * The last run's faults' time lost per mutation made while they ran (s,
 * averaged over the faulting threads), and the mutator's operations per
 * second of its own CPU time.
 */
static double last_lost, last_mut_cpu_rate;

static double run_fault(enum impl impl, int threads, int mutators)
{
	struct fault_run fr;
	struct space s;
	pthread_t t[4];
	uint64_t out;
	double t0, t1;
	int nt = threads + mutators, err;

	space_init(&s, impl);
	for (int i = 0; i < FT_VMAS; i++) {
		uint64_t a = FT_BASE + (uint64_t)i * FT_VMA_PAGES * PG;

		err = sp_mmap(&s, a, FT_VMA_PAGES * PG, (i & 1) ? P_R : P_RW,
			      F_ANON | VAS_MAP_FIXED_NOREPLACE, &out);
		if (err)
			die("mmap fault range", err);
		for (int p = 0; p < FT_VMA_PAGES; p++) {
			struct vas_fault_result r;

			err = sp_fault(&s, a + (uint64_t)p * PG, &r);
			if (err || r.status != VAS_FAULT_OK)
				die("populate", err ? err : -EFAULT);
		}
	}
	memset(&fr, 0, sizeof(fr));
	fr.s = &s;
	pthread_barrier_init(&fr.start, NULL, nt + 1);
	for (int i = 0; i < nt; i++)
		if (pthread_create(&t[i], NULL,
				   i < threads ? fault_thread : mutator_thread,
				   &fr))
			abort();
	pthread_barrier_wait(&fr.start);
	t0 = now();
	usleep((useconds_t)(run_seconds * 1e6));
	atomic_store(&fr.stop, true);
	for (int i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	t1 = now();
	pthread_barrier_destroy(&fr.start);
	if (atomic_load(&fr.error))
		die("fault run", atomic_load(&fr.error));
	if (mutators && !atomic_load(&fr.mutations))
		die("fault run: the mutator made no progress", -EAGAIN);
	space_fini(&s);
	if (mutators && nr_mut_rates < MAXRUNS)
		mut_rates[nr_mut_rates++] =
			atomic_load(&fr.mutations) / (t1 - t0);
	last_cpu_rate = atomic_load(&fr.cpu_ns)
				? atomic_load(&fr.faults) * 1e9 /
					  atomic_load(&fr.cpu_ns)
				: 0;
	last_lost = 0;
	for (int i = 0; i < threads; i++)
		last_lost += batches_slope(batch_buf[i]) / threads;
	if (!mutators)
		last_lost = NAN;
	last_mut_cpu_rate = atomic_load(&fr.mut_cpu_ns)
				    ? atomic_load(&fr.mutations) * 1e9 /
					      atomic_load(&fr.mut_cpu_ns)
				    : 0;
	return atomic_load(&fr.faults) / (t1 - t0);
}

/* ------------------------------------------------------------------ */
/* bytes_per_vma                                                        */

static double run_bytes_per_vma(uint64_t n)
{
	struct space s;
	struct vas_stats st;
	uint64_t out;
	int err;

	space_init(&s, IMPL_VMAD);
	for (uint64_t i = 0; i < n; i++) {
		/* Adjacent single pages of alternating prot: never merged. */
		err = sp_mmap(&s, 0x100000000ULL + i * PG, PG,
			      (i & 1) ? P_R : P_RW,
			      F_ANON | VAS_MAP_FIXED_NOREPLACE, &out);
		if (err)
			die("mmap", err);
	}
	vas_stats(s.vas, &st);
	if (st.nr_vmas != n) {
		fprintf(stderr,
			"space-bench: %" PRIu64 " VMAs, expected %" PRIu64 "\n",
			st.nr_vmas, n);
		exit(1);
	}
	space_fini(&s);
	return (double)st.bytes / (double)st.nr_vmas;
}

/* ------------------------------------------------------------------ */

typedef double (*run_fn)(enum impl impl, int a, int b);

static double fig_mmap_munmap(enum impl impl, int a, int b)
{
	return run_mmap_munmap(impl);
}

static double fig_map_fixed_8(enum impl impl, int a, int b)
{
	return run_map_fixed_8(impl);
}

static double measure(run_fn fn, enum impl impl, int a, int b)
{
	double v[MAXRUNS];

	for (int i = 0; i < nr_runs; i++)
		v[i] = fn(impl, a, b);
	return median(v, nr_runs);
}

/* The lowest and highest of @n values. */
static void spread(const double *v, int n, double *lo, double *hi)
{
	*lo = *hi = v[0];
	for (int i = 1; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

/* Trees publish in place unless VMA_TREE_IN_PLACE=0 (vt_set_in_place()). */
static bool in_place_env(void)
{
	const char *e = getenv("VMA_TREE_IN_PLACE");

	return !(e && !strcmp(e, "0"));
}

static const char *tree_mode(void)
{
	return in_place_env() ? "in_place" : "at_root";
}

/* The parameters of a fault line with @t threads and @m mutators. */
static void fault_params(char *buf, size_t len, int t, int m)
{
	snprintf(buf, len,
		 "\"threads\": %d, \"mutators\": %d, \"vmas\": %d, "
		 "\"runs\": %d, \"tree\": \"%s\"",
		 t, m, FT_VMAS, nr_runs, tree_mode());
}

/* What alternated runs without (m = 0) and with (m = 1) a mutator saw. */
struct pair {
	double v[2][MAXRUNS]; /* faults/s */
	double c[2]
		[MAXRUNS];   /* faults per CPU second of the faulting threads */
	double mut[MAXRUNS]; /* the mutator's operations/s */
	double lost[MAXRUNS]; /* s lost per mutation made beside a batch */
	double mcpu[MAXRUNS]; /* the mutator's operations per CPU second */
};

/*
 * Print what @p measured: the two fault lines (parameters @base[m]), each
 * with the spread of its runs, the rate per CPU second and, with the
 * mutator, its rate; then three lines of "@who mutators=1 / mutators=0":
 * - the median of the runs' ratios of faults/s, with their spread;
 * - the same per CPU second of the faulting threads: on a shared machine
 *   the mutator also takes CPU time from them, which this leaves out;
 * - the fraction kept while the two run together: 1 - (time lost per
 *   mutation) x (the mutator's operations per second of its running
 *   time), from each run's batches (struct batches). On an idle machine
 *   it is the plain ratio; on a shared one it leaves out the time either
 *   thread waited for a core. Runs in which the two hardly ran at the
 *   same time are left out; with none left, there is no line.
 * @tree: the "tree" member of the ratio lines, or NULL for none.
 * Return: the medians of the fault lines in @f.
 */
static void emit_pair(const char *impl, const char *who, int t,
		      const char *tree, char base[2][192], const struct pair *p,
		      double f[2])
{
	double r[MAXRUNS], rc[MAXRUNS], fr[MAXRUNS], l[MAXRUNS], mc[MAXRUNS];
	double lo, hi;
	char params[512], common[160], of[96];
	int n = 0;
	size_t len;

	for (int m = 0; m < 2; m++) {
		spread(p->v[m], nr_runs, &lo, &hi);
		len = (size_t)snprintf(params, sizeof(params),
				       "%s, \"min\": %.0f, \"max\": %.0f, "
				       "\"per_cpu_second\": %.0f",
				       base[m], lo, hi,
				       median((double *)p->c[m], nr_runs));
		if (m)
			snprintf(params + len, sizeof(params) - len,
				 ", \"mutations_per_s\": %.0f",
				 median((double *)p->mut, nr_runs));
		f[m] = median((double *)p->v[m], nr_runs);
		emit("fault", impl, f[m], "faults/s", params);
	}
	for (int k = 0; k < nr_runs; k++) {
		r[k] = p->v[1][k] / p->v[0][k];
		rc[k] = p->c[1][k] / p->c[0][k];
		if (isnan(p->lost[k]))
			continue; /* the threads hardly ran together */
		fr[n] = 1 - p->lost[k] * p->mcpu[k];
		l[n] = p->lost[k];
		mc[n++] = p->mcpu[k];
	}
	len = (size_t)snprintf(common, sizeof(common), "\"threads\": %d", t);
	if (tree)
		snprintf(common + len, sizeof(common) - len,
			 ", \"tree\": \"%s\"", tree);
	spread(r, nr_runs, &lo, &hi);
	snprintf(params, sizeof(params),
		 "%s, \"runs\": %d, \"min\": %.3f, \"max\": %.3f, "
		 "\"mutations_per_s\": %.0f, \"alternated\": true",
		 common, nr_runs, lo, hi, median((double *)p->mut, nr_runs));
	snprintf(of, sizeof(of), "%s mutators=1 / mutators=0", who);
	emit_ratio("fault", median(r, nr_runs), 1.0, of, params);
	spread(rc, nr_runs, &lo, &hi);
	snprintf(params, sizeof(params),
		 "%s, \"runs\": %d, \"min\": %.3f, \"max\": %.3f, "
		 "\"mutations_per_s\": %.0f, \"alternated\": true, "
		 "\"per\": \"cpu_second\"",
		 common, nr_runs, lo, hi, median((double *)p->mut, nr_runs));
	snprintf(of, sizeof(of), "%s mutators=1 / mutators=0, per CPU second",
		 who);
	emit_ratio("fault", median(rc, nr_runs), 1.0, of, params);
	snprintf(of, sizeof(of), "%s mutators=1 / mutators=0, running together",
		 who);
	if (!n) {
		fprintf(stderr,
			"space-bench: %s: no run had the faulting thread and "
			"the mutator running at the same time often enough; "
			"no line\n",
			of);
		return;
	}
	if (median(fr, n) <= 0) {
		/*
		 * The fit says the faults lost more than all their time to
		 * the mutator: noise (preemption inside the batches) swamped
		 * it. A fraction cannot be negative; print none.
		 */
		fprintf(stderr,
			"space-bench: %s: the fitted loss per mutation (%.0f ns) "
			"exceeds the time between mutations; too noisy, no "
			"line\n",
			of, median(l, n) * 1e9);
		return;
	}
	spread(fr, n, &lo, &hi);
	snprintf(params, sizeof(params),
		 "%s, \"runs\": %d, \"min\": %.3f, \"max\": %.3f, "
		 "\"lost_per_mutation_ns\": %.1f, \"mutations_per_cpu_s\": "
		 "%.0f, \"alternated\": true, \"per\": \"batch\"",
		 common, n, lo, hi, median(l, n) * 1e9, median(mc, n));
	emit_ratio("fault", median(fr, n), 1.0, of, params);
}

/*
 * Faults with @t faulting threads, without and with a mutator, the two
 * alternated run by run (the machine's noise then hits both alike), and
 * the lines of emit_pair(). @f[m] receives the medians.
 */
static void fault_pair(enum impl impl, int t, double f[2])
{
	struct pair p;
	char base[2][192];

	for (int k = 0; k < nr_runs; k++) {
		for (int j = 0; j < 2; j++) {
			int m = (k + j) % 2;

			nr_mut_rates = 0;
			p.v[m][k] = run_fault(impl, t, m);
			p.c[m][k] = last_cpu_rate;
			if (m) {
				p.mut[k] = mut_rates[0];
				p.lost[k] = last_lost;
				p.mcpu[k] = last_mut_cpu_rate;
			}
		}
	}
	for (int m = 0; m < 2; m++)
		fault_params(base[m], sizeof(base[m]), t, m);
	emit_pair(impl_name[impl], impl_name[impl], t, tree_mode(), base, &p,
		  f);
}

/*
 * The vmad fault figures again with trees that publish every commit at the
 * root (no reachable node ever modified): what publishing in place buys
 * the faults beside a mutator.
 */
static void fault_at_root(int max_threads)
{
	double f[2];

	setenv("VMA_TREE_IN_PLACE", "0", 1);
	for (int t = 1; t <= max_threads; t++)
		fault_pair(IMPL_VMAD, t, f);
	unsetenv("VMA_TREE_IN_PLACE");
}

/* ------------------------------------------------------------------ */
/* The kernel's own faults, with and without a mutator in the same mm.  */

#define KF_REGION (8ULL << 30) /* virtual bytes a fault thread walks */

struct kfault_run {
	pthread_barrier_t start;
	atomic_bool stop;
	double seconds; /* the fault thread's time in its touch loops */
	double cpu;	/* and its CPU time there */
	uint64_t faults;
	atomic_ulong mutations;
	atomic_ulong mut_cpu_ns;
	atomic_int error;
	_Alignas(64) atomic_ulong mut_live; /* as struct fault_run */
};

/*
 * Read-touch fresh pages of a private anonymous region, one fault each
 * (transparent huge pages off, so no fault maps more than a page): the
 * kernel maps the shared zero page, or a new page where it has none.
 * Only the touch loops are timed; a new region is mapped when one runs
 * out.
 */
static void *kfault_thread(void *arg)
{
	struct kfault_run *kr = arg;
	const uint64_t pages = KF_REGION / PG;
	uint64_t n = 0, sum = 0, cpu = 0;
	struct batches *b = batch_buf[0];
	double busy = 0;

	b->nr = 0;
	pthread_barrier_wait(&kr->start);
	while (!atomic_load_explicit(&kr->stop, memory_order_relaxed)) {
		volatile char *p = mmap(
			NULL, KF_REGION, PROT_READ,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		uint64_t i = 0;
		double t0;

		if (p == MAP_FAILED) {
			atomic_store(&kr->error, -errno);
			break;
		}
		madvise((void *)p, KF_REGION, MADV_NOHUGEPAGE);
		cpu -= thread_cpu_ns();
		t0 = now();
		while (i + FT_BATCH <= pages &&
		       !atomic_load_explicit(&kr->stop, memory_order_relaxed)) {
			unsigned long m0 = atomic_load_explicit(
				&kr->mut_live, memory_order_relaxed);
			double b0 = now();

			for (int k = 0; k < FT_BATCH; k++, i++)
				sum += p[i * PG];
			batch_add(b, now() - b0,
				  atomic_load_explicit(&kr->mut_live,
						       memory_order_relaxed) -
					  m0);
		}
		busy += now() - t0;
		cpu += thread_cpu_ns();
		n += i;
		munmap((void *)p, KF_REGION);
	}
	(void)sum;
	kr->seconds = busy;
	kr->cpu = cpu / 1e9;
	kr->faults = n;
	return NULL;
}

/* mmap, mprotect of the middle page, munmap, as the vmad mutator does. */
static void *kmutator_thread(void *arg)
{
	struct kfault_run *kr = arg;
	uint64_t n = 0, cpu0;

	pthread_barrier_wait(&kr->start);
	cpu0 = thread_cpu_ns();
	while (!atomic_load_explicit(&kr->stop, memory_order_relaxed)) {
		char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || mprotect(p + PG, PG, PROT_READ) ||
		    munmap(p, 4 * PG)) {
			atomic_store(&kr->error, -errno);
			break;
		}
		n += 3;
		atomic_store_explicit(&kr->mut_live, n, memory_order_relaxed);
	}
	atomic_fetch_add(&kr->mut_cpu_ns, thread_cpu_ns() - cpu0);
	atomic_fetch_add(&kr->mutations, n);
	return NULL;
}

/*
 * One run: the kernel's faults/s, *@cpu_rate per CPU second of the fault
 * thread, *@mut the mutator's operations/s.
 */
static double run_kernel_fault(int mutators, double *mut, double *cpu_rate,
			       double *lost, double *mut_cpu_rate)
{
	struct kfault_run kr;
	pthread_t t[2];
	double t0, t1;

	memset(&kr, 0, sizeof(kr));
	pthread_barrier_init(&kr.start, NULL, 2 + mutators);
	if (pthread_create(&t[0], NULL, kfault_thread, &kr) ||
	    (mutators && pthread_create(&t[1], NULL, kmutator_thread, &kr)))
		abort();
	pthread_barrier_wait(&kr.start);
	t0 = now();
	usleep((useconds_t)(run_seconds * 1e6));
	atomic_store(&kr.stop, true);
	for (int i = 0; i < 1 + mutators; i++)
		pthread_join(t[i], NULL);
	t1 = now();
	pthread_barrier_destroy(&kr.start);
	if (atomic_load(&kr.error))
		die("kernel fault run", atomic_load(&kr.error));
	*mut = atomic_load(&kr.mutations) / (t1 - t0);
	*cpu_rate = kr.cpu > 0 ? kr.faults / kr.cpu : 0;
	*lost = batches_slope(batch_buf[0]);
	*mut_cpu_rate = atomic_load(&kr.mut_cpu_ns)
				? atomic_load(&kr.mutations) * 1e9 /
					  atomic_load(&kr.mut_cpu_ns)
				: 0;
	return kr.seconds > 0 ? kr.faults / kr.seconds : 0;
}

/* This process's resident pages (/proc/self/statm), or -1. */
static long resident_pages(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, res = -1;

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = -1;
		fclose(f);
	}
	return res;
}

/*
 * Does a read fault of private anonymous memory map the shared zero page
 * here (resident memory does not grow), or a new page (some platforms
 * forbid the zero page)?
 */
static bool kernel_zero_page(void)
{
	char *p = mmap(NULL, 1024 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	volatile char sink = 0;
	long before, after;

	if (p == MAP_FAILED)
		return false;
	madvise(p, 1024 * PG, MADV_NOHUGEPAGE);
	before = resident_pages();
	for (int i = 0; i < 1024; i++)
		sink += p[(size_t)i * PG];
	(void)sink;
	after = resident_pages();
	munmap(p, 1024 * PG);
	return before >= 0 && after >= 0 && after - before < 512;
}

/*
 * The anchor: the real kernel's fault rate (one thread read-faulting
 * fresh pages) with one thread doing mmap/mprotect/munmap in the same mm,
 * over the rate without it. Alternated runs, as fault_pair().
 */
static void kernel_fault_pair(void)
{
	bool zp = kernel_zero_page();
	char base[2][192];
	struct pair p;
	double m_rate, lost, mcpu, f[2];

	for (int k = 0; k < nr_runs; k++) {
		for (int j = 0; j < 2; j++) {
			int m = (k + j) % 2;

			p.v[m][k] = run_kernel_fault(m, &m_rate, &p.c[m][k],
						     &lost, &mcpu);
			if (m) {
				p.mut[k] = m_rate;
				p.lost[k] = lost;
				p.mcpu[k] = mcpu;
			}
		}
	}
	for (int m = 0; m < 2; m++)
		snprintf(base[m], sizeof(base[m]),
			 "\"threads\": 1, \"mutators\": %d, \"runs\": %d, "
			 "\"access\": \"read, fresh pages\", \"zero_page\": %s",
			 m, nr_runs, zp ? "true" : "false");
	emit_pair("kernel", "kernel", 1, NULL, base, &p, f);
}

int main(int argc, char **argv)
{
	char params[160];
	double v[2], k, f[2][2][2]; /* [impl][threads-1][mutators] */
	uint64_t n = 100000;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			nr_runs = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			run_seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--mutator-only")) {
			mutator_only = true;
		} else {
			fprintf(stderr, "usage: space-bench [--quick] [--runs "
					"N] [--seconds S] [--mutator-only]\n");
			return 2;
		}
	}
	if (quick) {
		run_seconds = 0.05;
		n = 10000;
	}
	if (nr_runs < 3)
		nr_runs = 3;
	if (nr_runs > MAXRUNS)
		nr_runs = MAXRUNS;
	for (int i = 0; i < 2; i++) {
		batch_buf[i] = malloc(sizeof(*batch_buf[i]));
		if (!batch_buf[i])
			die("malloc", -ENOMEM);
	}
	urcu_memb_register_thread();
	if (mutator_only) {
		/* What a mutator costs one faulting thread, and the anchor. */
		fault_pair(IMPL_VMAD, 1, f[0][0]);
		if (in_place_env())
			fault_at_root(1);
		kernel_fault_pair();
		urcu_memb_unregister_thread();
		return 0;
	}

	snprintf(params, sizeof(params),
		 "\"pages\": 4, \"vmas\": 1000, \"runs\": %d", nr_runs);
	for (int i = 0; i < 2; i++) {
		v[i] = measure(fig_mmap_munmap, (enum impl)i, 0, 0);
		emit("mmap_munmap", impl_name[i], v[i], "pairs/s", params);
	}
	k = measure(fig_mmap_munmap, IMPL_KERNEL, 0, 0);
	emit("mmap_munmap", "kernel", k, "pairs/s", params);
	emit_ratio("mmap_munmap", v[0], v[1], "vmad/rwlock", params);

	snprintf(params, sizeof(params),
		 "\"vmas_covered\": 8, \"counted\": \"map_fixed_only\", "
		 "\"runs\": %d",
		 nr_runs);
	for (int i = 0; i < 2; i++) {
		v[i] = measure(fig_map_fixed_8, (enum impl)i, 0, 0);
		emit("map_fixed_8", impl_name[i], v[i], "ops/s", params);
	}
	k = measure(fig_map_fixed_8, IMPL_KERNEL, 0, 0);
	emit("map_fixed_8", "kernel", k, "ops/s", params);
	emit_ratio("map_fixed_8", v[0], v[1], "vmad/rwlock", params);

	for (int t = 1; t <= 2; t++)
		for (int i = 0; i < 2; i++)
			fault_pair((enum impl)i, t, f[i][t - 1]);
	for (int m = 0; m < 2; m++) {
		for (int t = 1; t <= 2; t++) {
			fault_params(params, sizeof(params), t, m);
			emit_ratio("fault", f[0][t - 1][m], f[1][t - 1][m],
				   "vmad/rwlock", params);
		}
	}
	for (int m = 0; m < 2; m++) {
		snprintf(params, sizeof(params), "\"mutators\": %d", m);
		emit_ratio("fault", f[0][1][m], f[0][0][m],
			   "vmad threads=2 / threads=1", params);
	}
	if (in_place_env())
		fault_at_root(2);
	kernel_fault_pair();

	{
		double b[MAXRUNS];

		for (int i = 0; i < nr_runs; i++)
			b[i] = run_bytes_per_vma(n);
		snprintf(params, sizeof(params),
			 "\"n\": %" PRIu64
			 ", \"runs\": %d, \"from\": \"vas_stats.bytes\"",
			 n, nr_runs);
		emit("bytes_per_vma", "vmad", median(b, nr_runs), "bytes",
		     params);
	}
	urcu_memb_unregister_thread();
	return 0;
}
