// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Concurrency stress tests of the address space (no daemon)
 *
 * One program, one hazard per mode; each mode runs reader threads
 * (registered urcu-memb threads calling vas_fault() and vas_lookup()) while
 * a writer mutates the same space, and checks the guarantees of PROTOCOL.md,
 * "Ordering and concurrency", from the readers' side:
 *
 *   stack       A growsdown stack with guard gap 0 grows by faults (from a
 *               grower thread) until it abuts the VMA below, again and
 *               again: the writer cuts the grown part off (munmap) or
 *               recreates the stack with MAP_FIXED. Readers fault inside
 *               the VMA below and inside the stack's original extent:
 *               never SEGV_MAPERR, never a VMA that does not contain the
 *               address, and the VMA below is always exactly itself.
 *   map_fixed   MAP_FIXED over a range covering 8 VMAs and the gaps between
 *               them (amid a few hundred other VMAs, so the store spans
 *               tree nodes), then the 8 VMAs are rebuilt by mprotect and
 *               munmap of the gaps. Stable addresses inside the 8 VMAs are
 *               always mapped.
 *   neighbours  munmap and MAP_FIXED of the neighbours of a stable range,
 *               and mprotect splits and merges inside it. Stable addresses
 *               always mapped; the permissions a reader sees are always
 *               ones the writer has set.
 *   retry       The vas_test_before_commit pause point holds the writer
 *               between marking VMAs and committing; a reader faults an
 *               address of a marked VMA inside that window; then the
 *               writer is released. The reader must count a retry
 *               (vas_stats().fault_retries grows) and return the new VMA
 *               (the walk restarted from the root). The tree is a few
 *               hundred VMAs deep, and the mutation (MAP_FIXED over many
 *               VMAs, or an mprotect) reshapes it.
 *
 *   rss         Readers populate pages of a range by faults while the
 *               writer splits, merges, unmaps and maps over it; between
 *               rounds vas_validate() checks every VMA's resident count
 *               against the page table (the writer must wait for faults
 *               still populating a VMA it replaces).
 *   maperr      The page just below a growsdown stack (guard gap 0) is,
 *               in turn, mapped by a MAP_FIXED VMA of its own, unmapped,
 *               and covered by the stack grown down into it (then cut
 *               back). In every state a read fault there succeeds: it
 *               finds the VMA or grows the stack. Readers fault it and
 *               must never get SEGV_MAPERR, which a fault deciding from
 *               a lookup in one state and the neighbour above in another
 *               would return (vas_fault() validates the three walks).
 *   maps        Readers list the space with vas_maps() (under RCU,
 *               validated against the tree's commit count) while the
 *               writer moves "token" VMAs around with mremap, maps scratch
 *               VMAs with MAP_FIXED and unmaps them, between "stable" VMAs
 *               it never touches. Every listing is sorted and
 *               non-overlapping, holds every stable VMA exactly once, as
 *               itself, and every token exactly once (a move seen half
 *               would show it twice or not at all). Most listings must
 *               have been read without the lock.
 *
 * In every mode readers also check that a successful fault or lookup
 * returns a VMA containing the address. Memory safety (no reader touches a
 * freed VMA or node) is checked by running these under ASan, and leaks by
 * LeakSanitizer at exit (every space is freed).
 *
 * Duration: VMAD_STRESS_SECONDS (default 2) or --seconds N; readers:
 * --readers N (default 2). --skip-grace-period breaks the reclaimer on
 * purpose (nodes and areas are recycled without a grace period): the
 * sanitizer build must then report a reader's access to recycled memory,
 * which shows that the poisoning of libvma/vma_asan.h works.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define PG	   VAS_PAGE_SIZE
#define BASE	   0x100000000000ULL
#define MAX_STABLE 128
#define MAX_REPORT 10

#define P_R    VAS_PROT_READ
#define P_RW   (VAS_PROT_READ | VAS_PROT_WRITE)
#define P_RX   (VAS_PROT_READ | VAS_PROT_EXEC)
#define F_ANON (VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS)

struct ctx {
	struct vas *vas;
	atomic_bool stop;
	atomic_ulong failures;
	atomic_ulong reads;
	atomic_uint prots_written; /* bit p: prot p was ever set */
	uint64_t stable[MAX_STABLE];
	int nr_stable;
	/* An exact VMA readers must always see as itself (0 if none). */
	uint64_t exact_start, exact_end;
	/* Other addresses readers probe: any result, but coherent. */
	uint64_t probe_lo, probe_hi;
};

static double seconds = 2;
static int nr_readers = 2;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fail(struct ctx *c, const char *fmt, ...)
{
	unsigned long n = atomic_fetch_add(&c->failures, 1);
	va_list ap;

	if (n >= MAX_REPORT)
		return;
	va_start(ap, fmt);
	fputs("FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void must(struct ctx *c, int err, const char *what)
{
	if (err)
		fail(c, "writer: %s returned %s", what, vma_errno_name(err));
}

static void use_prot(struct ctx *c, unsigned prot)
{
	atomic_fetch_or(&c->prots_written, 1u << prot);
}

static void check_vma(struct ctx *c, const char *who, uint64_t addr,
		      const struct vas_vma_info *v, bool stable)
{
	if (addr < v->start || addr >= v->end)
		fail(c,
		     "%s %#" PRIx64 ": got VMA %#" PRIx64 "-%#" PRIx64
		     " that does not contain it",
		     who, addr, v->start, v->end);
	if (stable && !(atomic_load(&c->prots_written) & (1u << v->prot)))
		fail(c, "%s %#" PRIx64 ": prot %#x was never written", who,
		     addr, v->prot);
	if (c->exact_start && addr >= c->exact_start && addr < c->exact_end &&
	    (v->start != c->exact_start || v->end != c->exact_end))
		fail(c,
		     "%s %#" PRIx64 ": VMA %#" PRIx64 "-%#" PRIx64
		     ", expected the stable VMA %#" PRIx64 "-%#" PRIx64,
		     who, addr, v->start, v->end, c->exact_start, c->exact_end);
}

/* Fault (read) or look up a stable address: it must be mapped. */
static void read_stable(struct ctx *c, uint64_t addr, bool fault)
{
	if (fault) {
		struct vas_fault_result r;
		int err = vas_fault(c->vas, addr, VAS_ACCESS_READ, &r);

		if (err) {
			fail(c, "fault %#" PRIx64 ": error %s", addr,
			     vma_errno_name(err));
			return;
		}
		if (r.status != VAS_FAULT_OK) {
			fail(c, "fault %#" PRIx64 " (stable): %s", addr,
			     r.code == VAS_SEGV_MAPERR ? "SEGV_MAPERR"
						       : "SEGV_ACCERR");
			return;
		}
		check_vma(c, "fault", addr, &r.vma, true);
	} else {
		struct vas_vma_info v;

		if (!vas_lookup(c->vas, addr, &v)) {
			fail(c, "lookup %#" PRIx64 " (stable): not mapped",
			     addr);
			return;
		}
		check_vma(c, "lookup", addr, &v, true);
	}
}

/* Probe any address: whatever the answer, it must be coherent. */
static void read_probe(struct ctx *c, uint64_t addr, bool fault)
{
	if (fault) {
		struct vas_fault_result r;
		int err = vas_fault(c->vas, addr, VAS_ACCESS_READ, &r);

		if (err)
			fail(c, "fault %#" PRIx64 ": error %s", addr,
			     vma_errno_name(err));
		else if (r.status == VAS_FAULT_OK)
			check_vma(c, "fault", addr, &r.vma, false);
	} else {
		struct vas_vma_info v;

		if (vas_lookup(c->vas, addr, &v))
			check_vma(c, "lookup", addr, &v, false);
	}
}

static void *reader(void *arg)
{
	struct ctx *c = arg;
	uint64_t s = (uint64_t)(uintptr_t)&s | 1;
	unsigned long n = 0;

	urcu_memb_register_thread();
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		uint64_t r = rng(&s);
		bool fault = r & 1;

		if (c->nr_stable && (r >> 1) % 4 != 0) {
			read_stable(c, c->stable[(r >> 3) % c->nr_stable],
				    fault);
		} else if (c->probe_hi > c->probe_lo) {
			uint64_t a = c->probe_lo +
				     ((r >> 3) %
				      ((c->probe_hi - c->probe_lo) / PG)) *
					     PG;

			read_probe(c, a, fault);
		}
		n++;
	}
	atomic_fetch_add(&c->reads, n);
	urcu_memb_unregister_thread();
	return NULL;
}

static int new_space(uint64_t guard_gap, struct vas **vas)
{
	struct vas_layout lay;

	vas_layout_default(&lay);
	lay.stack_guard_gap = guard_gap;
	return vas_new(&lay, vas);
}

static void start_readers(struct ctx *c, pthread_t *t)
{
	for (int i = 0; i < nr_readers; i++)
		if (pthread_create(&t[i], NULL, reader, c))
			abort();
}

static void stop_readers(struct ctx *c, pthread_t *t)
{
	atomic_store(&c->stop, true);
	for (int i = 0; i < nr_readers; i++)
		pthread_join(t[i], NULL);
}

/* A few hundred single-page VMAs around [lo, hi) so the tree is deep. */
static void add_clutter(struct ctx *c, uint64_t lo, uint64_t hi, int n)
{
	uint64_t out;

	for (int i = 1; i <= n; i++) {
		uint64_t below = lo - (uint64_t)i * 2 * PG - 64 * PG;
		uint64_t above = hi + (uint64_t)i * 2 * PG + 64 * PG;

		must(c,
		     vas_mmap(c->vas, below, PG, P_R,
			      F_ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0, &out),
		     "mmap clutter");
		must(c,
		     vas_mmap(c->vas, above, PG, P_R,
			      F_ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0, &out),
		     "mmap clutter");
	}
}

/* ------------------------------------------------------------------ */
/* (i) stack growth with guard gap 0 until it abuts the VMA below       */

struct stack_state {
	struct ctx *c;
	uint64_t below_end, orig_start, top;
	atomic_ulong abuts, grower_faults;
};

static void *grower(void *arg)
{
	struct stack_state *st = arg;
	struct ctx *c = st->c;
	uint64_t s = 88172645463325252ULL;
	unsigned long n = 0;

	urcu_memb_register_thread();
	while (!atomic_load(&c->stop)) {
		uint64_t a = st->orig_start;

		while (a > st->below_end && !atomic_load(&c->stop)) {
			struct vas_fault_result r;
			uint64_t step = 1 + rng(&s) % 8;
			int err;

			a = a - step * PG < st->below_end ? st->below_end
							  : a - step * PG;
			err = vas_fault(c->vas, a, VAS_ACCESS_WRITE, &r);
			n++;
			if (err || r.status != VAS_FAULT_OK) {
				fail(c,
				     "grower: fault %#" PRIx64
				     " below the stack: %s",
				     a,
				     err ? vma_errno_name(err)
				     : r.code == VAS_SEGV_MAPERR
					     ? "SEGV_MAPERR"
					     : "SEGV_ACCERR");
				continue;
			}
			check_vma(c, "grower fault", a, &r.vma, false);
			if (!(r.vma.flags & VAS_VM_GROWSDOWN))
				fail(c,
				     "grower: fault %#" PRIx64
				     " got a VMA that is not the stack",
				     a);
			if (a == st->below_end && r.vma.start == st->below_end)
				atomic_fetch_add(&st->abuts, 1);
		}
	}
	atomic_fetch_add(&st->grower_faults, n);
	urcu_memb_unregister_thread();
	return NULL;
}

static int run_stack(void)
{
	struct ctx c = {0};
	struct stack_state st = {0};
	pthread_t t[16], g;
	struct vas_stats vs;
	uint64_t base = BASE, out, rounds = 0, cuts = 0;
	double end;
	int err;

	err = new_space(0, &c.vas);
	if (err) {
		fprintf(stderr, "vas_new: %s\n", vma_errno_name(err));
		return 1;
	}
	st.c = &c;
	st.below_end = base + 16 * PG;
	st.orig_start = st.below_end + 256 * PG;
	st.top = st.orig_start + 4 * PG;
	must(&c,
	     vas_mmap(c.vas, base, 16 * PG, P_RW,
		      F_ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0, &out),
	     "mmap below");
	must(&c,
	     vas_mmap(c.vas, st.orig_start, 4 * PG, P_RW,
		      F_ANON | VAS_MAP_GROWSDOWN | VAS_MAP_FIXED_NOREPLACE,
		      NULL, 0, &out),
	     "mmap stack");
	add_clutter(&c, base, st.top, 200);
	use_prot(&c, P_RW);
	for (int i = 0; i < 16; i++)
		c.stable[c.nr_stable++] = base + (uint64_t)i * PG + 8 * i;
	for (int i = 0; i < 4; i++)
		c.stable[c.nr_stable++] = st.orig_start + (uint64_t)i * PG;
	c.exact_start = base;
	c.exact_end = st.below_end;
	c.probe_lo = base;
	c.probe_hi = st.top;

	start_readers(&c, t);
	if (pthread_create(&g, NULL, grower, &st))
		abort();
	end = now() + seconds;
	while (now() < end && !atomic_load(&c.failures)) {
		struct vas_vma_info v;

		/* Wait for the stack to abut the VMA below. */
		if (!vas_lookup(c.vas, st.below_end, &v) ||
		    !(v.flags & VAS_VM_GROWSDOWN)) {
			sched_yield();
			continue;
		}
		if (rounds % 2 == 0) {
			/* Cut off the grown part. */
			must(&c,
			     vas_munmap(c.vas, st.below_end,
					st.orig_start - st.below_end),
			     "munmap grown stack");
		} else {
			/* Recreate the stack over its original extent. */
			must(&c,
			     vas_mmap(c.vas, st.orig_start, 4 * PG, P_RW,
				      F_ANON | VAS_MAP_GROWSDOWN |
					      VAS_MAP_FIXED,
				      NULL, 0, &out),
			     "MAP_FIXED stack");
			must(&c,
			     vas_munmap(c.vas, st.below_end,
					st.orig_start - st.below_end),
			     "munmap old stack part");
		}
		rounds++;
		/*
		 * Churn: cut the stack again as soon as it has grown a
		 * little, so cuts land while faults are expanding it.
		 */
		for (int k = 0; k < 20 && now() < end; k++) {
			while (!vas_lookup(c.vas, st.orig_start - PG, &v) &&
			       now() < end)
				sched_yield();
			must(&c,
			     vas_munmap(c.vas, st.below_end,
					st.orig_start - st.below_end),
			     "munmap grown stack (churn)");
			cuts++;
		}
	}
	stop_readers(&c, t);
	pthread_join(g, NULL);
	vas_stats(c.vas, &vs);
	printf("stack: %" PRIu64 " rounds, %" PRIu64
	       " churn cuts, %lu abuts, %lu grower faults, %" PRIu64
	       " expansions, %lu reader ops, %" PRIu64 " retries\n",
	       rounds, cuts, atomic_load(&st.abuts),
	       atomic_load(&st.grower_faults), vs.expansions,
	       atomic_load(&c.reads), vs.fault_retries);
	if (!rounds || !atomic_load(&st.abuts) || !vs.expansions)
		fail(&c, "stack: the stack never grew to abut the VMA below");
	vas_free(c.vas);
	return atomic_load(&c.failures) != 0;
}

/* ------------------------------------------------------------------ */
/* (ii) MAP_FIXED over 8 VMAs and the gaps between them                 */

static int run_map_fixed(void)
{
	struct ctx c = {0};
	pthread_t t[16];
	struct vas_stats vs;
	uint64_t base = BASE, out, ops = 0;
	const uint64_t span = 64 * PG;
	double end;
	int err;

	err = new_space(VAS_DEFAULT_STACK_GUARD_GAP, &c.vas);
	if (err) {
		fprintf(stderr, "vas_new: %s\n", vma_errno_name(err));
		return 1;
	}
	use_prot(&c, P_R);
	use_prot(&c, P_RW);
	use_prot(&c, P_RX);
	add_clutter(&c, base, base + span, 300);
	/* Layout A: 8 VMAs of 6 pages, gaps of 2 pages. */
	for (int i = 0; i < 8; i++) {
		must(&c,
		     vas_mmap(c.vas, base + (uint64_t)i * 8 * PG, 6 * PG,
			      (i & 1) ? P_R : P_RW,
			      F_ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0, &out),
		     "mmap layout");
		for (int k = 0; k < 6; k += 2)
			c.stable[c.nr_stable++] =
				base + ((uint64_t)i * 8 + k) * PG + 16 * k;
	}
	c.probe_lo = base - 16 * PG;
	c.probe_hi = base + span + 16 * PG;

	start_readers(&c, t);
	end = now() + seconds;
	while (now() < end && !atomic_load(&c.failures)) {
		/* One MAP_FIXED over the 8 VMAs and the 7 gaps between. */
		must(&c,
		     vas_mmap(c.vas, base, span - 2 * PG,
			      (ops & 1) ? P_RX : P_RW, F_ANON | VAS_MAP_FIXED,
			      NULL, 0, &out),
		     "MAP_FIXED over 8 VMAs");
		ops++;
		/* Rebuild 8 VMAs: split by mprotect, punch the gaps. */
		for (int i = 0; i < 8; i++) {
			uint64_t v = base + (uint64_t)i * 8 * PG;

			must(&c,
			     vas_mprotect(c.vas, v, 6 * PG,
					  (i & 1) ? P_R : P_RW),
			     "mprotect rebuild");
			if (i < 7)
				must(&c, vas_munmap(c.vas, v + 6 * PG, 2 * PG),
				     "munmap gap");
		}
	}
	stop_readers(&c, t);
	vas_stats(c.vas, &vs);
	printf("map_fixed: %" PRIu64
	       " MAP_FIXED over 8 VMAs, %lu reader ops, %" PRIu64
	       " retries, %" PRIu64 " VMAs, tree height %u\n",
	       ops, atomic_load(&c.reads), vs.fault_retries, vs.nr_vmas,
	       vs.tree.height);
	if (!ops)
		fail(&c, "map_fixed: no operation completed");
	vas_free(c.vas);
	return atomic_load(&c.failures) != 0;
}

/* ------------------------------------------------------------------ */
/* (iii) munmap of neighbours, mprotect splits around a stable range     */

static int run_neighbours(void)
{
	static const unsigned prots[] = {P_R, P_RW, P_RX};
	struct ctx c = {0};
	pthread_t t[16];
	struct vas_stats vs;
	uint64_t base = BASE, out, ops = 0, s = 0x2545f4914f6cdd1dULL;
	const uint64_t left = base, stab = base + 16 * PG,
		       right = base + 32 * PG;
	double end;
	int err;

	err = new_space(VAS_DEFAULT_STACK_GUARD_GAP, &c.vas);
	if (err) {
		fprintf(stderr, "vas_new: %s\n", vma_errno_name(err));
		return 1;
	}
	for (int i = 0; i < 3; i++)
		use_prot(&c, prots[i]);
	add_clutter(&c, base, base + 48 * PG, 200);
	must(&c,
	     vas_mmap(c.vas, stab, 16 * PG, P_RW,
		      F_ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0, &out),
	     "mmap stable");
	for (int i = 0; i < 16; i++)
		c.stable[c.nr_stable++] = stab + (uint64_t)i * PG + 24 * i;
	c.probe_lo = left;
	c.probe_hi = right + 16 * PG;

	start_readers(&c, t);
	end = now() + seconds;
	while (now() < end && !atomic_load(&c.failures)) {
		uint64_t r = rng(&s);
		uint64_t side = (r & 1) ? left : right;
		uint64_t a = (r >> 8) % 16, b = (r >> 16) % 16;
		unsigned prot = prots[(r >> 24) % 3];

		if (a > b) {
			uint64_t x = a;

			a = b;
			b = x;
		}
		switch ((r >> 4) % 9) {
		case 6: /* flag advice: split inside, merge back */
			err = vas_madvise(c.vas, stab + a * PG,
					  (b - a + 1) * PG,
					  (r >> 32) & 1 ? VAS_MADV_DONTFORK
							: VAS_MADV_DOFORK);
			if (err)
				fail(&c, "madvise: %s", vma_errno_name(err));
			break;
		case 7: /* lock or unlock a part (populates it) */
			err = (r >> 33) & 1 ? vas_mlock(c.vas, stab + a * PG,
							(b - a + 1) * PG, 0)
					    : vas_munlock(c.vas, stab - 4 * PG,
							  24 * PG);
			if (err && err != -ENOMEM)
				fail(&c, "mlock: %s", vma_errno_name(err));
			break;
		case 8: /* name a part */
			err = vas_set_anon_name(c.vas, stab + a * PG,
						(b - a + 1) * PG,
						(r >> 34) & 1 ? "x" : NULL);
			if (err)
				fail(&c, "name: %s", vma_errno_name(err));
			break;
		case 0: /* map a neighbour (may merge with the stable VMA) */
			must(&c,
			     vas_mmap(c.vas, side, 16 * PG, prot,
				      F_ANON | VAS_MAP_FIXED, NULL, 0, &out),
			     "MAP_FIXED neighbour");
			break;
		case 1: /* unmap a neighbour, whole or part */
			must(&c,
			     vas_munmap(c.vas, side + a * PG, (b - a + 1) * PG),
			     "munmap neighbour");
			break;
		case 2: /* unmap both neighbours */
			must(&c, vas_munmap(c.vas, left, 16 * PG),
			     "munmap left");
			must(&c, vas_munmap(c.vas, right, 16 * PG),
			     "munmap right");
			break;
		case 3: /* mprotect split inside the stable range */
		case 4:
			must(&c,
			     vas_mprotect(c.vas, stab + a * PG,
					  (b - a + 1) * PG, prot),
			     "mprotect stable");
			break;
		case 5: /* mprotect across the stable range and neighbours */
			err = vas_mprotect(c.vas, stab - 4 * PG, 24 * PG, prot);
			if (err && err != -ENOMEM)
				fail(&c, "mprotect across: %s",
				     vma_errno_name(err));
			break;
		}
		ops++;
	}
	stop_readers(&c, t);
	vas_stats(c.vas, &vs);
	printf("neighbours: %" PRIu64 " mutations, %lu reader ops, %" PRIu64
	       " retries\n",
	       ops, atomic_load(&c.reads), vs.fault_retries);
	vas_free(c.vas);
	return atomic_load(&c.failures) != 0;
}

/* ------------------------------------------------------------------ */
/* (iv) resident pages counted across concurrent populating faults      */

/*
 * Readers fault (and so populate) random pages of a 64-page range while
 * the writer splits and merges it (mprotect), unmaps parts of it and maps
 * over parts of it (MAP_FIXED). Every new VMA counts its resident pages
 * when it is built, so a fault still populating a page of a VMA being
 * replaced must be waited for; the VMAs no fault entered are replaced
 * without that wait. In rounds of 0.2 s the readers are stopped and
 * vas_validate() compares each VMA's count with the page table.
 */
#ifdef VMAD_TEST_HOOKS
/* Hold one fault in 16 inside its VMA for about a microsecond. */
static void hold_fault(struct vas *vas, uint64_t addr)
{
	static _Thread_local unsigned n;

	if (++n % 16 == 0) {
		double until = now() + 1e-6;

		while (now() < until)
			;
	}
}
#endif

/* ------------------------------------------------------------------ */
/* (vi) SEGV_MAPERR below a stack that could grow or is mapped over     */

struct maperr_state {
	struct ctx *c;
	uint64_t addr; /* the page below the stack */
	atomic_ulong faults, grown;
};

static void *maperr_reader(void *arg)
{
	struct maperr_state *ms = arg;
	struct ctx *c = ms->c;
	unsigned long n = 0, grown = 0;

	urcu_memb_register_thread();
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		struct vas_fault_result r;
		int err = vas_fault(c->vas, ms->addr, VAS_ACCESS_READ, &r);

		n++;
		if (err) {
			fail(c, "maperr: fault error %s", vma_errno_name(err));
		} else if (r.status != VAS_FAULT_OK) {
			fail(c,
			     "maperr: fault %#" PRIx64 ": %s, but the page is "
			     "mapped or the stack above can grow in every "
			     "state",
			     ms->addr,
			     r.code == VAS_SEGV_MAPERR ? "SEGV_MAPERR"
						       : "SEGV_ACCERR");
		} else {
			check_vma(c, "maperr fault", ms->addr, &r.vma, false);
			grown += r.expanded;
		}
	}
	atomic_fetch_add(&ms->faults, n);
	atomic_fetch_add(&ms->grown, grown);
	urcu_memb_unregister_thread();
	return NULL;
}

static int run_maperr(void)
{
	struct ctx c = {0};
	struct maperr_state ms = {.c = &c};
	uint64_t stack = BASE + 64 * PG, out, rounds = 0;
	pthread_t t[16];
	double end;
	int err;

	err = new_space(0, &c.vas);
	if (err) {
		fprintf(stderr, "vas_new: %s\n", vma_errno_name(err));
		return 1;
	}
	ms.addr = stack - PG;
	must(&c,
	     vas_mmap(c.vas, stack, 4 * PG, P_RW,
		      F_ANON | VAS_MAP_GROWSDOWN | VAS_MAP_FIXED_NOREPLACE,
		      NULL, 0, &out),
	     "mmap stack");
	add_clutter(&c, BASE, stack + 4 * PG, 200);
	for (int i = 0; i < nr_readers; i++)
		if (pthread_create(&t[i], NULL, maperr_reader, &ms))
			abort();
	end = now() + seconds;
	while (now() < end && !atomic_load(&c.failures)) {
		/* A VMA of its own over the page, then nothing (or the stack,
		 * when a fault grew it meanwhile); then back to the stack's
		 * own extent. */
		must(&c,
		     vas_mmap(c.vas, ms.addr, PG, P_R, F_ANON | VAS_MAP_FIXED,
			      NULL, 0, &out),
		     "MAP_FIXED below the stack");
		must(&c, vas_munmap(c.vas, ms.addr, PG), "munmap below");
		rounds++;
	}
	stop_readers(&c, t);
	printf("maperr: %" PRIu64 " rounds, %lu faults, %lu of them grew the "
	       "stack\n",
	       rounds, atomic_load(&ms.faults), atomic_load(&ms.grown));
	if (rounds < 100 || atomic_load(&ms.grown) == 0)
		fail(&c,
		     "maperr: the race hardly ran (%" PRIu64 " rounds, "
		     "%lu growths)",
		     rounds, atomic_load(&ms.grown));
	vas_free(c.vas);
	return atomic_load(&c.failures) != 0;
}

/* ------------------------------------------------------------------ */
/* (vii) maps listings under mremap moves, MAP_FIXED and munmap         */

#define MS_SLOTS     96
#define MS_SLOT	     (8 * PG)
#define MS_BASE	     (BASE + 0x1000000ULL)
#define MS_STABLE_AT 6 /* every 6th slot holds a stable VMA */
#define MS_TOKENS    8
#define MS_TOKEN_LEN (2 * PG)

enum ms_kind { MS_FREE, MS_STABLE, MS_TOKEN, MS_SCRATCH };

struct maps_state {
	struct ctx *c;
	atomic_ulong listings, vmas_seen;
};

static uint64_t ms_slot(int i)
{
	return MS_BASE + (uint64_t)i * MS_SLOT;
}

/* Check one listing. */
static void ms_check(struct ctx *c, const struct vas_vma_info *v, size_t nr)
{
	int stable_seen[MS_SLOTS] = {0}, token_seen[MS_TOKENS] = {0};
	int i, n;

	for (size_t k = 0; k < nr; k++) {
		if (v[k].start >= v[k].end ||
		    (k && v[k].start < v[k - 1].end)) {
			fail(c,
			     "maps: VMA %zu %#" PRIx64 "-%#" PRIx64
			     " overlaps or precedes the one before",
			     k, v[k].start, v[k].end);
			return;
		}
		if (sscanf(v[k].file, "stable%d", &i) == 1) {
			if (i < 0 || i >= MS_SLOTS ||
			    v[k].start != ms_slot(i) ||
			    v[k].end != ms_slot(i) + MS_SLOT) {
				fail(c,
				     "maps: stable VMA %s at %#" PRIx64
				     "-%#" PRIx64,
				     v[k].file, v[k].start, v[k].end);
				return;
			}
			stable_seen[i]++;
		} else if (sscanf(v[k].file, "token%d", &i) == 1) {
			if (i < 0 || i >= MS_TOKENS ||
			    v[k].end - v[k].start != MS_TOKEN_LEN ||
			    (v[k].start - MS_BASE) % MS_SLOT) {
				fail(c,
				     "maps: token VMA %s at %#" PRIx64
				     "-%#" PRIx64,
				     v[k].file, v[k].start, v[k].end);
				return;
			}
			token_seen[i]++;
		} else if (v[k].file[0] || v[k].start < MS_BASE ||
			   v[k].end > ms_slot(MS_SLOTS)) {
			fail(c, "maps: unexpected VMA %#" PRIx64 "-%#" PRIx64,
			     v[k].start, v[k].end);
			return;
		}
	}
	for (i = 0, n = 0; i < MS_SLOTS; i += MS_STABLE_AT, n++)
		if (stable_seen[i] != 1) {
			fail(c,
			     "maps: stable VMA %d (mapped throughout) listed "
			     "%d times in %zu VMAs",
			     i, stable_seen[i], nr);
			return;
		}
	for (i = 0; i < MS_TOKENS; i++)
		if (token_seen[i] != 1) {
			fail(c,
			     "maps: token %d (mapped throughout, moved by "
			     "mremap) listed %d times in %zu VMAs",
			     i, token_seen[i], nr);
			return;
		}
}

static void *maps_reader(void *arg)
{
	struct maps_state *ms = arg;
	struct ctx *c = ms->c;
	unsigned long n = 0, seen = 0;

	urcu_memb_register_thread();
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		struct vas_vma_info *v;
		size_t nr;
		int err = vas_maps(c->vas, &v, &nr);

		if (err) {
			fail(c, "maps: error %s", vma_errno_name(err));
			continue;
		}
		ms_check(c, v, nr);
		vma_free(v);
		n++;
		seen += nr;
	}
	atomic_fetch_add(&ms->listings, n);
	atomic_fetch_add(&ms->vmas_seen, seen);
	urcu_memb_unregister_thread();
	return NULL;
}

/* A random slot of @kind (-1 if none), starting the scan anywhere. */
static int ms_pick(const enum ms_kind *kind, enum ms_kind want, uint64_t r)
{
	for (int k = 0; k < MS_SLOTS; k++) {
		int i = (int)((r + (uint64_t)k) % MS_SLOTS);

		if (kind[i] == want)
			return i;
	}
	return -1;
}

/* Spin for @us microseconds (the writer's pauses; no syscall). */
static void spin_us(double us)
{
	double end = now() + us / 1e6;

	while (now() < end)
		;
}

static int run_maps(void)
{
	struct ctx c = {0};
	struct maps_state ms = {.c = &c};
	enum ms_kind kind[MS_SLOTS];
	int token_slot[MS_TOKENS];
	pthread_t t[16];
	uint64_t s = 0x9e3779b97f4a7c15ULL, out, ops = 0, moves = 0;
	char name[32];
	struct vas_stats vs;
	double t0;
	int err;

	err = new_space(VAS_DEFAULT_STACK_GUARD_GAP, &c.vas);
	if (err) {
		fprintf(stderr, "vas_new: %s\n", vma_errno_name(err));
		return 1;
	}
	for (int i = 0; i < MS_SLOTS; i++) {
		kind[i] = i % MS_STABLE_AT ? MS_FREE : MS_STABLE;
		if (kind[i] == MS_STABLE) {
			snprintf(name, sizeof(name), "stable%d", i);
			must(&c,
			     vas_mmap(c.vas, ms_slot(i), MS_SLOT, P_R,
				      VAS_MAP_PRIVATE | VAS_MAP_FIXED, name, 0,
				      &out),
			     "mmap stable");
		}
	}
	for (int k = 0; k < MS_TOKENS; k++) {
		int i = ms_pick(kind, MS_FREE, rng(&s));

		snprintf(name, sizeof(name), "token%d", k);
		must(&c,
		     vas_mmap(c.vas, ms_slot(i), MS_TOKEN_LEN, P_RW,
			      VAS_MAP_PRIVATE | VAS_MAP_FIXED, name, 0, &out),
		     "mmap token");
		kind[i] = MS_TOKEN;
		token_slot[k] = i;
	}
	if (atomic_load(&c.failures))
		return 1;
	for (int i = 0; i < nr_readers; i++)
		if (pthread_create(&t[i], NULL, maps_reader, &ms))
			abort();
	t0 = now();
	while (now() - t0 < seconds && !atomic_load(&c.failures)) {
		uint64_t r = rng(&s);
		unsigned p = (unsigned)(r % 100);

		if (p < 45) {
			/* Move a token to a free slot (above or below). */
			int k = (int)((r >> 8) % MS_TOKENS);
			int from = token_slot[k];
			int to = ms_pick(kind, MS_FREE, r >> 16);

			if (to >= 0) {
				must(&c,
				     vas_mremap(c.vas, ms_slot(from),
						MS_TOKEN_LEN, MS_TOKEN_LEN,
						VAS_MREMAP_MAYMOVE |
							VAS_MREMAP_FIXED,
						ms_slot(to), &out),
				     "mremap token");
				kind[from] = MS_FREE;
				kind[to] = MS_TOKEN;
				token_slot[k] = to;
				moves++;
			}
		} else if (p < 75) {
			/* MAP_FIXED over a run of free and scratch slots. */
			int a = (int)((r >> 8) % MS_SLOTS), b = a;

			while (b + 1 < MS_SLOTS && b - a < 3 &&
			       (kind[b + 1] == MS_FREE ||
				kind[b + 1] == MS_SCRATCH))
				b++;
			if (kind[a] == MS_FREE || kind[a] == MS_SCRATCH) {
				must(&c,
				     vas_mmap(c.vas, ms_slot(a),
					      (uint64_t)(b - a + 1) * MS_SLOT,
					      (r >> 20) & 1 ? P_R : P_RW,
					      F_ANON | VAS_MAP_FIXED, NULL, 0,
					      &out),
				     "MAP_FIXED scratch");
				for (int i = a; i <= b; i++)
					kind[i] = MS_SCRATCH;
			}
		} else {
			/* munmap a scratch slot. */
			int i = ms_pick(kind, MS_SCRATCH, r >> 8);

			if (i >= 0) {
				must(&c, vas_munmap(c.vas, ms_slot(i), MS_SLOT),
				     "munmap scratch");
				kind[i] = MS_FREE;
			}
		}
		ops++;
		/* Now and then a pause: listings that see no commit. */
		if ((r >> 32) % 16 == 0)
			spin_us((double)((r >> 40) % 200));
	}
	stop_readers(&c, t);
	vas_stats(c.vas, &vs);
	printf("maps: %" PRIu64 " writer operations (%" PRIu64
	       " token moves), %lu listings (%" PRIu64 " under RCU, %" PRIu64
	       " under the lock), %lu VMAs listed\n",
	       ops, moves, atomic_load(&ms.listings), vs.maps_rcu,
	       vs.maps_locked, atomic_load(&ms.vmas_seen));
	if (!atomic_load(&ms.listings))
		fail(&c, "maps: no listing completed");
	if (vs.maps_rcu < vs.maps_locked)
		fail(&c,
		     "maps: most listings took the lock (%" PRIu64
		     " of %" PRIu64 "): the RCU path was hardly tested",
		     vs.maps_locked, vs.maps_rcu + vs.maps_locked);
	if (moves < 100)
		fail(&c, "maps: only %" PRIu64 " token moves", moves);
	{
		char msg[256];

		if (vas_validate(c.vas, msg, sizeof(msg)))
			fail(&c, "maps: vas_validate: %s", msg);
	}
	vas_free(c.vas);
	return atomic_load(&c.failures) != 0;
}

static int run_rss(void)
{
	static const unsigned prots[] = {P_R, P_RW, P_RX};
	const uint64_t base = BASE, npg = 64;
	struct ctx c = {0};
	pthread_t t[16];
	struct vas_stats vs;
	uint64_t out, ops = 0, rounds = 0, s = 0x9e3779b97f4a7c15ULL;
	char msg[256];
	double end;
	int err;

	err = new_space(VAS_DEFAULT_STACK_GUARD_GAP, &c.vas);
	if (err) {
		fprintf(stderr, "vas_new: %s\n", vma_errno_name(err));
		return 1;
	}
	add_clutter(&c, base, base + npg * PG, 100);
	must(&c,
	     vas_mmap(c.vas, base, npg * PG, P_R, F_ANON | VAS_MAP_FIXED, NULL,
		      0, &out),
	     "mmap range");
	c.probe_lo = base;
	c.probe_hi = base + npg * PG;
#ifdef VMAD_TEST_HOOKS
	vas_test_fault_held = hold_fault;
#endif
	end = now() + seconds;
	while (now() < end && !atomic_load(&c.failures)) {
		double round_end = now() + 0.2;

		atomic_store(&c.stop, false);
		start_readers(&c, t);
		while (now() < round_end && !atomic_load(&c.failures)) {
			uint64_t r = rng(&s);
			uint64_t a = (r >> 8) % npg, b = (r >> 16) % npg;
			unsigned prot = prots[(r >> 24) % 3];

			if (a > b) {
				uint64_t x = a;

				a = b;
				b = x;
			}
			switch ((r >> 4) % 7) {
			case 4: /* drop pages (DONTNEED) */
				err = vas_madvise(c.vas, base + a * PG,
						  (b - a + 1) * PG,
						  VAS_MADV_DONTNEED);
				if (err && err != -ENOMEM && err != -EINVAL)
					fail(&c, "madvise: %s",
					     vma_errno_name(err));
				break;
			case 5: /* lock: populate under the faults */
				err = vas_mlock(c.vas, base + a * PG,
						(b - a + 1) * PG, 0);
				if (err && err != -ENOMEM && err != -EAGAIN)
					fail(&c, "mlock: %s",
					     vma_errno_name(err));
				err = vas_munlock(c.vas, base, npg * PG);
				if (err && err != -ENOMEM)
					fail(&c, "munlock: %s",
					     vma_errno_name(err));
				break;
			case 6: /* guard pages in and out */
				err = vas_madvise(
					c.vas, base + a * PG, (b - a + 1) * PG,
					(r >> 32) & 1 ? VAS_MADV_GUARD_INSTALL
						      : VAS_MADV_GUARD_REMOVE);
				if (err && err != -ENOMEM && err != -EINVAL)
					fail(&c, "guard: %s",
					     vma_errno_name(err));
				break;
			case 0:
			case 1: /* split or merge */
				err = vas_mprotect(c.vas, base + a * PG,
						   (b - a + 1) * PG, prot);
				if (err && err != -ENOMEM)
					fail(&c, "mprotect: %s",
					     vma_errno_name(err));
				break;
			case 2: /* release pages */
				must(&c,
				     vas_munmap(c.vas, base + a * PG,
						(b - a + 1) * PG),
				     "munmap");
				break;
			case 3: /* map over a part, keeping nothing */
				must(&c,
				     vas_mmap(c.vas, base + a * PG,
					      (b - a + 1) * PG, prot,
					      F_ANON | VAS_MAP_FIXED, NULL, 0,
					      &out),
				     "MAP_FIXED");
				break;
			}
			ops++;
		}
		stop_readers(&c, t);
		rounds++;
		if (vas_validate(c.vas, msg, sizeof(msg)))
			fail(&c, "round %" PRIu64 ": %s", rounds, msg);
	}
#ifdef VMAD_TEST_HOOKS
	vas_test_fault_held = NULL;
#endif
	vas_stats(c.vas, &vs);
	printf("rss: %" PRIu64 " mutations in %" PRIu64
	       " rounds, %lu reader ops, %" PRIu64 " resident pages\n",
	       ops, rounds, atomic_load(&c.reads), vs.rss_pages);
	if (!vs.faults)
		fail(&c, "no fault ran");
	vas_free(c.vas);
	return atomic_load(&c.failures) != 0;
}

/* ------------------------------------------------------------------ */
/* (iv) a reader forced to retry                                        */

#ifdef VMAD_TEST_HOOKS
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hook_cond = PTHREAD_COND_INITIALIZER;
static bool hook_paused, hook_release;
static struct vas *hook_vas;

/* Called by the writer between marking and committing. */
static void pause_hook(struct vas *vas)
{
	if (vas != hook_vas)
		return;
	pthread_mutex_lock(&hook_lock);
	hook_paused = true;
	pthread_cond_broadcast(&hook_cond);
	while (!hook_release)
		pthread_cond_wait(&hook_cond, &hook_lock);
	pthread_mutex_unlock(&hook_lock);
}

/* Wait (at most 5 s) for the writer to park in the pause point. */
static bool wait_paused(void)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&hook_lock);
	while (!hook_paused)
		if (pthread_cond_timedwait(&hook_cond, &hook_lock, &ts))
			break;
	ok = hook_paused;
	pthread_mutex_unlock(&hook_lock);
	return ok;
}

struct retry_job {
	struct vas *vas;
	int round;
	uint64_t addr;
	int err;
	atomic_bool started, done;
	struct vas_fault_result res;
};

static void *retry_writer(void *arg)
{
	struct retry_job *j = arg;
	uint64_t out;

	urcu_memb_register_thread();
	if (j->round % 2 == 0)
		/* MAP_FIXED over 10 VMAs around the target: a new VMA. */
		j->err = vas_mmap(j->vas, (j->addr & ~(PG - 1)) - 40 * PG,
				  80 * PG, P_RX, F_ANON | VAS_MAP_FIXED, NULL,
				  0, &out);
	else
		/* mprotect of the target VMA alone (it is r--). */
		j->err = vas_mprotect(j->vas, j->addr - j->addr % (8 * PG),
				      4 * PG, P_RX);
	urcu_memb_unregister_thread();
	return NULL;
}

static void *retry_reader(void *arg)
{
	struct retry_job *j = arg;

	urcu_memb_register_thread();
	atomic_store(&j->started, true);
	j->err = vas_fault(j->vas, j->addr, VAS_ACCESS_READ, &j->res);
	atomic_store(&j->done, true);
	urcu_memb_unregister_thread();
	return NULL;
}

/* Lay out 200 VMAs of 4 pages at an 8-page stride from BASE. */
static void retry_layout(struct ctx *c)
{
	uint64_t out;

	must(c, vas_munmap(c->vas, BASE, 1600 * PG), "munmap all");
	for (int i = 0; i < 200; i++)
		must(c,
		     vas_mmap(c->vas, BASE + (uint64_t)i * 8 * PG, 4 * PG,
			      (i & 1) ? P_R : P_RW,
			      F_ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0, &out),
		     "mmap retry layout");
}

static int run_retry(void)
{
	struct ctx c = {0};
	int rounds = 20, retried_rounds = 0;
	int err;

	err = new_space(VAS_DEFAULT_STACK_GUARD_GAP, &c.vas);
	if (err) {
		fprintf(stderr, "vas_new: %s\n", vma_errno_name(err));
		return 1;
	}
	hook_vas = c.vas;
	vas_test_before_commit = pause_hook;
	for (int round = 0; round < rounds && !atomic_load(&c.failures);
	     round++) {
		struct retry_job wj = {.vas = c.vas, .round = round};
		struct retry_job rj = {.vas = c.vas, .round = round};
		struct vas_stats before, after;
		pthread_t wt, rt;
		uint64_t target =
			BASE + (uint64_t)(100 + round) * 8 * PG + PG + 64;
		double deadline;

		vas_test_before_commit = NULL;
		retry_layout(&c);
		vas_test_before_commit = pause_hook;
		wj.addr = rj.addr = target;
		hook_paused = hook_release = false;
		vas_stats(c.vas, &before);

		if (pthread_create(&wt, NULL, retry_writer, &wj))
			abort();
		if (!wait_paused()) {
			fail(&c,
			     "retry round %d: the writer never reached "
			     "vas_test_before_commit",
			     round);
			pthread_mutex_lock(&hook_lock);
			hook_release = true;
			pthread_mutex_unlock(&hook_lock);
			pthread_join(wt, NULL);
			break;
		}

		/* The writer is parked with the target VMA marked. */
		if (pthread_create(&rt, NULL, retry_reader, &rj))
			abort();
		deadline = now() + 0.2;
		for (;;) {
			vas_stats(c.vas, &after);
			if (after.fault_retries > before.fault_retries ||
			    now() > deadline)
				break;
			usleep(1000);
		}
		if (atomic_load(&rj.done))
			fail(&c,
			     "retry round %d: the fault finished while the "
			     "writer was parked (it read a marked VMA)",
			     round);
		pthread_mutex_lock(&hook_lock);
		hook_release = true;
		pthread_cond_broadcast(&hook_cond);
		pthread_mutex_unlock(&hook_lock);
		pthread_join(wt, NULL);
		pthread_join(rt, NULL);
		vas_stats(c.vas, &after);

		if (wj.err)
			fail(&c, "retry round %d: writer: %s", round,
			     vma_errno_name(wj.err));
		if (rj.err || rj.res.status != VAS_FAULT_OK) {
			fail(&c, "retry round %d: fault %#" PRIx64 ": %s",
			     round, target,
			     rj.err ? vma_errno_name(rj.err) : "SEGV");
			continue;
		}
		if (after.fault_retries <= before.fault_retries)
			fail(&c,
			     "retry round %d: no retry counted (fault_retries "
			     "%" PRIu64 " -> %" PRIu64 ")",
			     round, before.fault_retries, after.fault_retries);
		else
			retried_rounds++;
		/* The new VMA, not the one the reader first walked to. */
		if (round % 2 == 0) {
			uint64_t tp = target & ~(PG - 1);

			if (rj.res.vma.prot != P_RX ||
			    rj.res.vma.start != tp - 40 * PG ||
			    rj.res.vma.end != tp + 40 * PG)
				fail(&c,
				     "retry round %d: got VMA %#" PRIx64
				     "-%#" PRIx64 " prot %#x, expected the "
				     "MAP_FIXED one %#" PRIx64 "-%#" PRIx64
				     " r-x",
				     round, rj.res.vma.start, rj.res.vma.end,
				     rj.res.vma.prot, tp - 40 * PG,
				     tp + 40 * PG);
		} else {
			uint64_t vs = target - target % (8 * PG);

			if (rj.res.vma.prot != P_RX || rj.res.vma.start != vs ||
			    rj.res.vma.end != vs + 4 * PG)
				fail(&c,
				     "retry round %d: got VMA %#" PRIx64
				     "-%#" PRIx64
				     " prot %#x, expected %#" PRIx64
				     "-%#" PRIx64 " r-x",
				     round, rj.res.vma.start, rj.res.vma.end,
				     rj.res.vma.prot, vs, vs + 4 * PG);
		}
	}
	vas_test_before_commit = NULL;
	printf("retry: %d rounds, %d with a counted retry and the new VMA\n",
	       rounds, retried_rounds);
	vas_free(c.vas);
	return atomic_load(&c.failures) != 0;
}
#else
static int run_retry(void)
{
	fprintf(stderr, "FAIL: built without VMAD_TEST_HOOKS: the retry test "
			"needs vas_test_before_commit\n");
	return 1;
}
#endif

int main(int argc, char **argv)
{
	const char *mode = NULL, *e;
	int ret;

	if ((e = getenv("VMAD_STRESS_SECONDS")))
		seconds = atof(e);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--readers") && i + 1 < argc)
			nr_readers = atoi(argv[++i]);
#ifdef VMAD_TEST_HOOKS
		else if (!strcmp(argv[i], "--skip-grace-period"))
			vt_test_skip_grace_period = true;
#endif
		else if (!mode)
			mode = argv[i];
		else
			mode = "";
	}
	if (nr_readers < 1 || nr_readers > 16)
		nr_readers = 2;
	if (!mode) {
		fprintf(stderr,
			"usage: stress_space "
			"stack|map_fixed|neighbours|retry|rss|maps|maperr "
			"[--seconds N] [--readers N]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	urcu_memb_register_thread();
	if (!strcmp(mode, "stack"))
		ret = run_stack();
	else if (!strcmp(mode, "map_fixed"))
		ret = run_map_fixed();
	else if (!strcmp(mode, "neighbours"))
		ret = run_neighbours();
	else if (!strcmp(mode, "retry"))
		ret = run_retry();
	else if (!strcmp(mode, "rss"))
		ret = run_rss();
	else if (!strcmp(mode, "maps"))
		ret = run_maps();
	else if (!strcmp(mode, "maperr"))
		ret = run_maperr();
	else {
		fprintf(stderr, "unknown mode %s\n", mode);
		ret = 2;
	}
	urcu_memb_unregister_thread();
	printf("%s %s\n", mode, ret ? "FAILED" : "PASSED");
	return ret;
}
