// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Resident pages of a space.
 *
 * A four-level radix tree keyed by page number, like a page table: three
 * levels of 512-slot interior nodes and leaves of two 512-bit maps (one
 * cache line each per 2 MiB of address space): pages present, and pages
 * with a page of their own (counted in Rss); a page present without one
 * maps the shared zero page (a read fault of private anonymous memory, as
 * do_anonymous_page() does).
 *
 * Extents. Like a page table with huge entries, a slot at any level holds
 * either a child or one of three states of every page under it: none
 * present (NULL), all present on the zero page (PT_ZERO), all present with
 * pages of their own (PT_OWN). A range operation (populate, clear, move,
 * copy) stores states into the slots its range covers whole and descends
 * only at its two edges, so populating or clearing a range of any size
 * costs at most two paths of nodes and 2 x 512 slots per level, not memory
 * in proportion to the range; the nodes that already exist inside the
 * range are visited (each was paid for by the fault or edge that made it)
 * and, once uniform, folded back into a state and freed.
 *
 * Faults. A fault sets its page's bits with one atomic fetch-or per map, in
 * that order, so two threads faulting different pages never write the same
 * cache line unless the pages share a 2 MiB region, and a fault on a page
 * that is already resident only reads. A fault that meets a state it must
 * refine (a write fault in PT_ZERO, any fault in NULL) installs a child
 * filled with that state with a compare-and-swap; the loser frees its copy
 * and descends into the winner's. Faults never fold and never free, and
 * they take no lock: the page table is read under rcu_read_lock().
 *
 * The writer. The writer stores states, clears, moves and copies only in
 * ranges whose VMAs it has marked and drained (or has not yet published),
 * so no fault works inside such a range; the nodes on the edges of a range
 * may be shared with live neighbouring VMAs, so the writer changes leaf
 * words there only with atomics, and never folds a node that reaches
 * outside the range. Folded nodes are unlinked with one release store of
 * the state into their parent's slot and freed after a grace period (a
 * reader that still walks them, vas_stats() for instance, is done by then):
 * vas__pt_garbage_new() makes the container, vas__pt_fold() fills it,
 * vas__pt_garbage_free() runs after the grace period. Every node a range
 * change needs is created by vas__pt_prepare() before the operation's
 * point of no return, so applying the change does not allocate.
 */
#include "vas_internal.h"

#include <errno.h>
#include <string.h>

#define PT_NONE ((uintptr_t)0)
#define PT_ZERO ((uintptr_t)1) /* bit 0: present */
#define PT_OWN	((uintptr_t)3) /* bit 1: a page of its own */

static bool pt_is_state(const void *p)
{
	return (uintptr_t)p <= PT_OWN;
}

static unsigned pt_shift(int level)
{
	return VAS_PT_BITS * (VAS_PT_LEVELS - level);
}

static unsigned pt_index(uint64_t pfn, int level)
{
	return (pfn >> pt_shift(level)) & (VAS_PT_SLOTS - 1);
}

/* A child for a slot of @level, every page of it in @state. */
static void *pt_child_new(int level, uintptr_t state)
{
	unsigned i;

	if (level == VAS_PT_LEVELS - 1) {
		struct vas_pt_leaf *leaf = vma_calloc(sizeof(*leaf));

		if (!leaf)
			return NULL;
		for (i = 0; i < VAS_PT_WORDS; i++) {
			leaf->present[i] = state & 1 ? ~0ULL : 0;
			leaf->bits[i] = state & 2 ? ~0ULL : 0;
		}
		return leaf;
	} else {
		struct vas_pt_node *node = vma_calloc(sizeof(*node));

		if (!node)
			return NULL;
		node->level = level + 1;
		for (i = 0; state && i < VAS_PT_SLOTS; i++)
			node->slot[i] = (void *)state;
		return node;
	}
}

static void pt_child_free(void *child, int level)
{
	unsigned i;

	if (level < VAS_PT_LEVELS - 1) {
		struct vas_pt_node *node = child;

		for (i = 0; i < VAS_PT_SLOTS; i++)
			if (!pt_is_state(node->slot[i]))
				pt_child_free(node->slot[i], level + 1);
	}
	vma_free(child);
}

static void pt_account(struct vas_pt *pt, int level, long d)
{
	if (level == VAS_PT_LEVELS - 1)
		uatomic_add(&pt->nr_leaves, d);
	else
		uatomic_add(&pt->nr_nodes, d);
}

/*
 * Make *@slot (a slot of @level) a child: install one filled with the
 * state it holds, with a compare-and-swap. Return: the child; NULL if
 * allocation failed.
 * Context: Any context.
 */
static void *pt_refine(struct vas_pt *pt, void **slot, int level)
{
	void *cur = vas_load_acquire(slot);

	while (pt_is_state(cur)) {
		void *fresh = pt_child_new(level, (uintptr_t)cur);
		void *old;

		if (!fresh)
			return NULL;
		old = uatomic_cmpxchg(slot, cur, fresh);
		if (old == cur) {
			pt_account(pt, level, 1);
			return fresh;
		}
		pt_child_free(fresh, level);
		cur = old;
	}
	return cur;
}

/*
 * The slots of a node of @level (covering pages from @base) that [lo, hi)
 * overlaps, one at a time: pt_slots_next() sets @idx, the slot's first
 * page @cbase, its part of the range [@clo, @chi), and @whole if the range
 * covers it all.
 */
struct pt_slots {
	uint64_t base, span, lo, hi;
	unsigned next, last;
	unsigned idx;
	uint64_t cbase, clo, chi;
	bool whole;
};

static void pt_slots_init(struct pt_slots *s, int level, uint64_t base,
			  uint64_t lo, uint64_t hi)
{
	unsigned shift = pt_shift(level);

	s->base = base;
	s->span = 1ULL << shift;
	s->lo = lo;
	s->hi = hi;
	s->next = (lo - base) >> shift;
	s->last = (hi - 1 - base) >> shift;
}

static bool pt_slots_next(struct pt_slots *s)
{
	if (s->next > s->last)
		return false;
	s->idx = s->next++;
	s->cbase = s->base + s->idx * s->span;
	s->clo = s->lo > s->cbase ? s->lo : s->cbase;
	s->chi = s->hi < s->cbase + s->span ? s->hi : s->cbase + s->span;
	s->whole = s->clo == s->cbase && s->chi == s->cbase + s->span;
	return true;
}

/**
 * vas__pt_leaf() - Find (and with @alloc create) the leaf holding @pfn. A
 * page in a range held as one state has no leaf until one is made.
 * Context: Any context (lock-free); the caller holds rcu_read_lock(), the
 *          writer lock, or a read hazard on a VMA covering @pfn.
 * Return: the leaf; NULL if absent, or if @alloc and allocation failed.
 */
struct vas_pt_leaf *vas__pt_leaf(struct vas_pt *pt, uint64_t pfn, bool alloc)
{
	struct vas_pt_node *node = pt->root;
	int level;

	for (level = 0; level < VAS_PT_LEVELS; level++) {
		void **slot = &node->slot[pt_index(pfn, level)];
		void *next = vas_load_acquire(slot);

		if (pt_is_state(next)) {
			if (!alloc)
				return NULL;
			next = pt_refine(pt, slot, level);
			if (!next)
				return NULL;
		}
		node = next;
	}
	return (struct vas_pt_leaf *)node;
}

/*
 * Would a slot in @state need a child to take a change of part of it by
 * one of @kinds (VAS_PT_CH_*)? If none of them changes the state, no
 * sequence of them does either, whatever the order of the operation's
 * changes: the slot stays as it is.
 */
static bool pt_may_change(uintptr_t state, unsigned kinds)
{
	return ((kinds & VAS_PT_CH_CLEAR) && state != PT_NONE) ||
	       ((kinds & VAS_PT_CH_ZERO) && state == PT_NONE) ||
	       ((kinds & VAS_PT_CH_OWN) && state != PT_OWN);
}

/*
 * Make the path to @pfn children down to the first slot inside [lo, hi),
 * where a change of @kinds may need them.
 */
static int pt_prepare_edge(struct vas_pt *pt, uint64_t pfn, uint64_t lo,
			   uint64_t hi, unsigned kinds)
{
	struct vas_pt_node *node = pt->root;
	int level;

	for (level = 0; level < VAS_PT_LEVELS; level++) {
		unsigned shift = pt_shift(level);
		uint64_t cbase = pfn >> shift << shift;
		void **slot = &node->slot[pt_index(pfn, level)];

		void *cur = vas_load_acquire(slot);

		if (cbase >= lo && cbase + (1ULL << shift) <= hi)
			return 0; /* covered whole: a state will do */
		if (pt_is_state(cur) && !pt_may_change((uintptr_t)cur, kinds))
			return 0; /* no change of @kinds touches it */
		node = pt_refine(pt, slot, level);
		if (!node)
			return -ENOMEM;
	}
	return 0;
}

/**
 * vas__pt_prepare() - Create the nodes that a change of [@pfn, @pfn + @nr)
 * (set, clear, or the destination of a move or copy) needs: the paths to
 * its two edges, down to the slots the range covers whole. Without it,
 * applying the change would have to allocate.
 * Context: Any context; the nodes it makes hold the states they replace, so
 *          nothing changes for a reader.
 * Return: 0; -ENOMEM (nodes created so far stay; they change nothing).
 */
int vas__pt_prepare(struct vas_pt *pt, uint64_t pfn, uint64_t nr)
{
	return vas__pt_prepare_kinds(pt, pfn, nr, VAS_PT_CH_ALL);
}

/**
 * vas__pt_prepare_kinds() - vas__pt_prepare() for an operation whose
 * changes are all of @kinds (VAS_PT_CH_*): a state that none of them can
 * change is left as it is (an munmap in an empty region allocates nothing).
 * Context: as vas__pt_prepare().
 * Return: 0; -ENOMEM.
 */
int vas__pt_prepare_kinds(struct vas_pt *pt, uint64_t pfn, uint64_t nr,
			  unsigned kinds)
{
	if (!nr)
		return 0;
	if (pt_prepare_edge(pt, pfn, pfn, pfn + nr, kinds) ||
	    pt_prepare_edge(pt, pfn + nr - 1, pfn, pfn + nr, kinds))
		return -ENOMEM;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Walking: runs of present pages                                      */

/*
 * Call @fn(@lo, @n, @own, @arg) for runs of present pages in [lo, hi):
 * adjacent runs may be reported separately. Stops at the first non-zero
 * return.
 */
static int pt_walk_runs(const struct vas_pt_node *node, int level,
			uint64_t base, uint64_t lo, uint64_t hi,
			vas_pt_run_fn fn, void *arg)
{
	struct pt_slots sl;
	int err;

	pt_slots_init(&sl, level, base, lo, hi);
	while (pt_slots_next(&sl)) {
		void *child = vas_load_acquire(&node->slot[sl.idx]);
		uint64_t cbase = sl.cbase, clo = sl.clo, chi = sl.chi;

		if (pt_is_state(child)) {
			if ((uintptr_t)child == PT_NONE)
				continue;
			err = fn(clo, chi - clo, (uintptr_t)child == PT_OWN,
				 arg);
		} else if (level == VAS_PT_LEVELS - 1) {
			const struct vas_pt_leaf *leaf = child;
			uint64_t p = clo;

			err = 0;
			while (p < chi && !err) {
				unsigned b = p - cbase;
				uint64_t w = b / 64, m = 1ULL << (b % 64);
				bool pr =
					vas_load_relaxed(&leaf->present[w]) & m;
				bool own = vas_load_relaxed(&leaf->bits[w]) & m;
				uint64_t start = p;

				if (!pr && !own) {
					p++;
					continue;
				}
				/* Extend the run while the state stays. */
				for (p++; p < chi; p++) {
					b = p - cbase;
					w = b / 64;
					m = 1ULL << (b % 64);
					if (!(vas_load_relaxed(
						      &leaf->present[w]) &
					      m) != !pr ||
					    !(vas_load_relaxed(&leaf->bits[w]) &
					      m) != !own)
						break;
				}
				err = fn(start, p - start, own, arg);
			}
		} else {
			err = pt_walk_runs(child, level + 1, cbase, clo, chi,
					   fn, arg);
		}
		if (err)
			return err;
	}
	return 0;
}

/**
 * vas__pt_for_each_run() - Call @fn for the runs of present pages of
 * [@pfn, @pfn + @nr), in ascending order: @own says whether the run's
 * pages have pages of their own (else they map the zero page). Adjacent
 * runs of the same kind may be reported separately. A non-zero return of
 * @fn stops the walk and is returned.
 * Context: Writer, or any context for a racy snapshot under
 *          rcu_read_lock().
 */
int vas__pt_for_each_run(const struct vas_pt *pt, uint64_t pfn, uint64_t nr,
			 vas_pt_run_fn fn, void *arg)
{
	if (!nr || !pt->root)
		return 0;
	return pt_walk_runs(pt->root, 0, 0, pfn, pfn + nr, fn, arg);
}

struct pt_count {
	uint64_t count;
	bool present; /* count every present page, not only counted ones */
};

static uint64_t popcount_range(const uint64_t *map, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0, w;

	for (w = lo / 64; w * 64 < hi; w++) {
		uint64_t a = lo > w * 64 ? lo - w * 64 : 0;
		uint64_t b = hi < w * 64 + 64 ? hi - w * 64 : 64;
		uint64_t m = (b == 64 ? ~0ULL : (1ULL << b) - 1) &
			     ~((1ULL << a) - 1);

		n += __builtin_popcountll(vas_load_relaxed(&map[w]) & m);
	}
	return n;
}

static uint64_t pt_count_walk(const struct vas_pt_node *node, int level,
			      uint64_t base, uint64_t lo, uint64_t hi,
			      bool present)
{
	struct pt_slots sl;
	uint64_t count = 0;

	pt_slots_init(&sl, level, base, lo, hi);
	while (pt_slots_next(&sl)) {
		void *child = vas_load_acquire(&node->slot[sl.idx]);
		uint64_t cbase = sl.cbase, clo = sl.clo, chi = sl.chi;

		if (pt_is_state(child)) {
			if ((uintptr_t)child == PT_OWN ||
			    ((uintptr_t)child == PT_ZERO && present))
				count += chi - clo;
		} else if (level == VAS_PT_LEVELS - 1) {
			const struct vas_pt_leaf *leaf = child;

			count += popcount_range(present ? leaf->present
							: leaf->bits,
						clo - cbase, chi - cbase);
		} else {
			count += pt_count_walk(child, level + 1, cbase, clo,
					       chi, present);
		}
	}
	return count;
}

/**
 * vas__pt_count() - Number of resident pages (of their own, as Rss counts
 * them) in [@pfn, @pfn + @nr).
 * Context: Writer, or a racy snapshot under rcu_read_lock().
 */
uint64_t vas__pt_count(const struct vas_pt *pt, uint64_t pfn, uint64_t nr)
{
	if (!nr || !pt->root)
		return 0;
	return pt_count_walk(pt->root, 0, 0, pfn, pfn + nr, false);
}

/**
 * vas__pt_count_present() - Number of present pages in [@pfn, @pfn + @nr),
 * zero page mappings included.
 * Context: Writer, or a racy snapshot under rcu_read_lock().
 */
uint64_t vas__pt_count_present(const struct vas_pt *pt, uint64_t pfn,
			       uint64_t nr)
{
	if (!nr || !pt->root)
		return 0;
	return pt_count_walk(pt->root, 0, 0, pfn, pfn + nr, true);
}

/* ------------------------------------------------------------------ */
/* Range changes (the writer)                                          */

/*
 * How a range change treats each page: PT_NONE clears it; PT_ZERO makes a
 * page that is not present map the zero page; PT_OWN gives every page one
 * of its own. A change raises a page to at least @to, or clears it.
 */
static uintptr_t pt_apply_state(uintptr_t cur, uintptr_t to)
{
	return to == PT_NONE ? PT_NONE : (cur | to);
}

static void pt_leaf_apply(struct vas_pt_leaf *leaf, uint64_t lo, uint64_t hi,
			  uintptr_t to)
{
	uint64_t w;

	for (w = lo / 64; w * 64 < hi; w++) {
		uint64_t a = lo > w * 64 ? lo - w * 64 : 0;
		uint64_t b = hi < w * 64 + 64 ? hi - w * 64 : 64;
		uint64_t m = (b == 64 ? ~0ULL : (1ULL << b) - 1) &
			     ~((1ULL << a) - 1);

		if (to == PT_NONE) {
			if (vas_load_relaxed(&leaf->bits[w]) & m)
				uatomic_and(&leaf->bits[w], ~m);
			if (vas_load_relaxed(&leaf->present[w]) & m)
				uatomic_and(&leaf->present[w], ~m);
			continue;
		}
		/* Present first, as a fault sets them. */
		if ((vas_load_relaxed(&leaf->present[w]) & m) != m)
			uatomic_or(&leaf->present[w], m);
		if (to == PT_OWN && (vas_load_relaxed(&leaf->bits[w]) & m) != m)
			uatomic_or(&leaf->bits[w], m);
	}
}

static void pt_apply(struct vas_pt *pt, struct vas_pt_node *node, int level,
		     uint64_t base, uint64_t lo, uint64_t hi, uintptr_t to)
{
	struct pt_slots sl;

	pt_slots_init(&sl, level, base, lo, hi);
	while (pt_slots_next(&sl)) {
		void **slot = &node->slot[sl.idx];
		void *child = vas_load_acquire(slot);
		uint64_t cbase = sl.cbase, clo = sl.clo, chi = sl.chi;
		bool whole = sl.whole;

		if (pt_is_state(child)) {
			uintptr_t st = pt_apply_state((uintptr_t)child, to);

			if (st == (uintptr_t)child)
				continue;
			if (whole) {
				/* No fault reaches a slot the range covers. */
				vas_store_release(slot, (void *)st);
				continue;
			}
			/*
			 * An edge vas__pt_prepare() did not make (the state
			 * changed since): make it now, or, without memory,
			 * leave these pages as they were.
			 */
			child = pt_refine(pt, slot, level);
			if (!child) {
				uatomic_inc(&pt->nr_lost);
				continue;
			}
		}
		if (level == VAS_PT_LEVELS - 1)
			pt_leaf_apply(child, clo - cbase, chi - cbase, to);
		else
			pt_apply(pt, child, level + 1, cbase, clo, chi, to);
	}
}

static void pt_change(struct vas_pt *pt, uint64_t pfn, uint64_t nr,
		      uintptr_t to)
{
	if (!nr || !pt->root)
		return;
	pt_apply(pt, pt->root, 0, 0, pfn, pfn + nr, to);
}

/**
 * vas__pt_clear_range() - Release the pages of [@pfn, @pfn + @nr). The
 * range's edges should be prepared (vas__pt_prepare()); nodes inside it
 * stay until vas__pt_fold().
 * Context: Writer, with the VMAs of the range marked and drained.
 */
void vas__pt_clear_range(struct vas_pt *pt, uint64_t pfn, uint64_t nr)
{
	pt_change(pt, pfn, nr, PT_NONE);
}

/**
 * vas__pt_set_range() - Make [@pfn, @pfn + @nr) present; its edges must be
 * prepared (vas__pt_prepare()). With @zero, pages not yet present map the
 * zero page; without, every page gets one of its own.
 * Context: Writer, on a range no fault can reach.
 */
void vas__pt_set_range(struct vas_pt *pt, uint64_t pfn, uint64_t nr, bool zero)
{
	pt_change(pt, pfn, nr, zero ? PT_ZERO : PT_OWN);
}

/**
 * vas__pt_test_set() - Make @pfn present: with @zero, map the zero page if
 * nothing is mapped there; without, give it a page of its own (replacing a
 * zero page, as a write fault copies it).
 * @populated: set to true if the page was not present before.
 * @counted: set to true if the page got a page of its own (rss grows).
 * Context: Any context, under rcu_read_lock() or a read hazard on a VMA
 * covering @pfn. Each map changes by one fetch-or, present first, so of
 * racing faults exactly one populates and exactly one counts.
 * Return: false if a node could not be allocated.
 */
bool vas__pt_test_set(struct vas_pt *pt, uint64_t pfn, bool zero,
		      bool *populated, bool *counted)
{
	struct vas_pt_node *node = pt->root;
	struct vas_pt_leaf *leaf;
	unsigned bit = pfn & (VAS_PT_SLOTS - 1);
	uint64_t *present, *own, m = 1ULL << (bit & 63);
	int level;

	*populated = false;
	*counted = false;
	for (level = 0; level < VAS_PT_LEVELS; level++) {
		void **slot = &node->slot[pt_index(pfn, level)];
		void *next = vas_load_acquire(slot);

		/* Already as wanted: a resident page only reads. */
		if ((uintptr_t)next == PT_OWN ||
		    ((uintptr_t)next == PT_ZERO && zero))
			return true;
		if (pt_is_state(next)) {
			next = pt_refine(pt, slot, level);
			if (!next)
				return false;
		}
		node = next;
	}
	leaf = (struct vas_pt_leaf *)node;
	present = &leaf->present[bit / 64];
	own = &leaf->bits[bit / 64];
	if (!(vas_load_relaxed(present) & m))
		*populated =
			!(__atomic_fetch_or(present, m, __ATOMIC_RELEASE) & m);
	if (zero || (vas_load_relaxed(own) & m))
		return true;
	*counted = !(__atomic_fetch_or(own, m, __ATOMIC_RELEASE) & m);
	return true;
}

/**
 * vas__pt_test() - Is @pfn present (a page of its own or the zero page)?
 * Context: Any context, as vas__pt_test_set().
 */
bool vas__pt_test(const struct vas_pt *pt, uint64_t pfn)
{
	const struct vas_pt_node *node = pt->root;
	const struct vas_pt_leaf *leaf;
	unsigned bit = pfn & (VAS_PT_SLOTS - 1);
	int level;

	for (level = 0; level < VAS_PT_LEVELS; level++) {
		void *next =
			vas_load_acquire(&node->slot[pt_index(pfn, level)]);

		if (pt_is_state(next))
			return (uintptr_t)next != PT_NONE;
		node = next;
	}
	leaf = (const struct vas_pt_leaf *)node;
	return (vas_load_relaxed(&leaf->present[bit / 64]) >> (bit & 63)) & 1;
}

struct pt_like {
	struct vas_pt *dst;
	int64_t delta; /* dst pfn - src pfn */
};

static int run_prepare(uint64_t lo, uint64_t n, bool own, void *arg)
{
	struct pt_like *pl = arg;

	(void)own;
	return vas__pt_prepare(pl->dst, lo + pl->delta, n);
}

/**
 * vas__pt_prepare_like() - Create the nodes of @dst that a copy or move
 * of the resident pages of [@src_pfn, +@nr) in @src to @dst_pfn needs: the
 * edges of each run of present pages, moved.
 * Context: Writer, with the source range unreachable by faults (else a
 *          page faulted in afterwards may need a node made when applied).
 * Return: 0; -ENOMEM.
 */
int vas__pt_prepare_like(struct vas_pt *dst, const struct vas_pt *src,
			 uint64_t src_pfn, uint64_t dst_pfn, uint64_t nr)
{
	struct pt_like pl = {dst, (int64_t)(dst_pfn - src_pfn)};

	return vas__pt_for_each_run(src, src_pfn, nr, run_prepare, &pl);
}

static int run_copy(uint64_t lo, uint64_t n, bool own, void *arg)
{
	struct pt_like *pl = arg;

	pt_change(pl->dst, lo + pl->delta, n, own ? PT_OWN : PT_ZERO);
	return 0;
}

/**
 * vas__pt_move() - Move the present pages (zero page mappings too) of
 * [@src, @src + @nr) to @dst
 * (ranges do not overlap; destination prepared with vas__pt_prepare_like(),
 * the source with vas__pt_prepare()).
 * Context: Writer, both ranges unreachable by faults.
 */
void vas__pt_move(struct vas_pt *pt, uint64_t src, uint64_t dst, uint64_t nr)
{
	struct pt_like pl = {pt, (int64_t)(dst - src)};

	/*
	 * Raising the destination never unlinks a node, and the nodes on the
	 * walk's path all reach into the source, which the destination does
	 * not overlap: the walk stays valid while it copies.
	 */
	vas__pt_for_each_run(pt, src, nr, run_copy, &pl);
	pt_change(pt, src, nr, PT_NONE);
}

/**
 * vas__pt_copy() - Copy the resident pages of [@pfn, @pfn + @nr) of @src
 * into @dst at the same page numbers (prepared with vas__pt_prepare_like()).
 * Context: Writer of @src (fork).
 */
void vas__pt_copy(struct vas_pt *dst, const struct vas_pt *src, uint64_t pfn,
		  uint64_t nr)
{
	struct pt_like pl = {dst, 0};

	vas__pt_for_each_run(src, pfn, nr, run_copy, &pl);
}

/* ------------------------------------------------------------------ */
/* Folding and freeing                                                 */

/*
 * Detached subtrees waiting for a grace period, chained through their
 * roots' gnext (nodes) or through a leaf's gnext.
 */
struct vas_pt_garbage {
	struct vas_pt_node *nodes;
	struct vas_pt_leaf *leaves;
};

/**
 * vas__pt_garbage_new() - A container for what vas__pt_fold() unlinks.
 * Context: Any context.
 * Return: new; NULL if allocation failed.
 */
struct vas_pt_garbage *vas__pt_garbage_new(void)
{
	return vma_calloc(sizeof(struct vas_pt_garbage));
}

/**
 * vas__pt_garbage_free() - Free @ptr (a struct vas_pt_garbage) and every
 * subtree in it; called after a grace period (a vt_free_fn).
 * Context: Any context, once no reader can reach what it holds.
 */
void vas__pt_garbage_free(void *ptr)
{
	struct vas_pt_garbage *g = ptr;

	while (g->nodes) {
		struct vas_pt_node *n = g->nodes;

		g->nodes = n->gnext;
		pt_child_free(n, n->level - 1);
	}
	while (g->leaves) {
		struct vas_pt_leaf *l = g->leaves;

		g->leaves = l->gnext;
		vma_free(l);
	}
	vma_free(g);
}

static uintptr_t leaf_uniform(const struct vas_pt_leaf *leaf)
{
	uint64_t p = vas_load_relaxed(&leaf->present[0]);
	uint64_t b = vas_load_relaxed(&leaf->bits[0]);
	unsigned w;

	if ((p != 0 && p != ~0ULL) || (b != 0 && b != ~0ULL))
		return UINTPTR_MAX;
	for (w = 1; w < VAS_PT_WORDS; w++)
		if (vas_load_relaxed(&leaf->present[w]) != p ||
		    vas_load_relaxed(&leaf->bits[w]) != b)
			return UINTPTR_MAX;
	return (p ? PT_ZERO : PT_NONE) | (b ? PT_OWN : PT_NONE);
}

static void pt_unlink(struct vas_pt *pt, void *child, int level,
		      struct vas_pt_garbage *g)
{
	if (level == VAS_PT_LEVELS - 1) {
		struct vas_pt_leaf *leaf = child;

		leaf->gnext = g->leaves;
		g->leaves = leaf;
	} else {
		struct vas_pt_node *node = child;

		node->gnext = g->nodes;
		g->nodes = node;
	}
	pt_account(pt, level, -1);
}

/*
 * Fold the children of @node inside [lo, hi) whose subtrees are uniform
 * and lie wholly inside the range. Return: the state every slot of @node
 * holds if all of its slots are inside the range and hold one state, else
 * UINTPTR_MAX.
 */
static uintptr_t pt_fold_walk(struct vas_pt *pt, struct vas_pt_node *node,
			      int level, uint64_t base, uint64_t lo,
			      uint64_t hi, struct vas_pt_garbage *g)
{
	struct pt_slots sl;
	uintptr_t all;
	bool first = true;

	pt_slots_init(&sl, level, base, lo, hi);
	all = (sl.next == 0 && sl.last == VAS_PT_SLOTS - 1) ? 0 : UINTPTR_MAX;
	while (pt_slots_next(&sl)) {
		void **slot = &node->slot[sl.idx];
		void *child = vas_load_acquire(slot);
		uint64_t cbase = sl.cbase, clo = sl.clo, chi = sl.chi;
		bool whole = sl.whole;
		uintptr_t st = whole ? (uintptr_t)child : UINTPTR_MAX;

		if (!pt_is_state(child)) {
			if (level == VAS_PT_LEVELS - 1)
				st = whole ? leaf_uniform(child) : UINTPTR_MAX;
			else
				st = pt_fold_walk(pt, child, level + 1, cbase,
						  clo, chi, g);
			if (st != UINTPTR_MAX) {
				/*
				 * Wholly inside (a partly covered child is
				 * never found uniform), and every node below
				 * it was folded already: it goes alone.
				 */
				vas_store_release(slot, (void *)st);
				pt_unlink(pt, child, level, g);
			}
		}
		if (all == UINTPTR_MAX)
			continue;
		if (first)
			all = st;
		else if (all != st)
			all = UINTPTR_MAX;
		first = false;
	}
	return all;
}

/**
 * vas__pt_fold() - Unlink the nodes wholly inside [@pfn, @pfn + @nr) whose
 * pages are all in one state, storing the state in their place, into @g,
 * to be freed after a grace period (vas__pt_garbage_free()).
 * Context: Writer, on a range no fault can reach (nodes reaching outside
 *          the range are kept).
 */
void vas__pt_fold(struct vas_pt *pt, uint64_t pfn, uint64_t nr,
		  struct vas_pt_garbage *g)
{
	if (nr < VAS_PT_SLOTS || !pt->root || !g)
		return; /* no node fits inside */
	pt_fold_walk(pt, pt->root, 0, 0, pfn, pfn + nr, g);
}

/**
 * vas__pt_free() - Free every node.
 * Context: Init only.
 */
void vas__pt_free(struct vas_pt *pt)
{
	if (pt->root)
		pt_child_free(pt->root, -1);
	pt->root = NULL;
}

/**
 * vas__pt_bytes() - Memory used by the page table.
 * Context: Any context.
 */
uint64_t vas__pt_bytes(const struct vas_pt *pt)
{
	return (uatomic_read(&pt->nr_nodes) + (pt->root ? 1 : 0)) *
		       sizeof(struct vas_pt_node) +
	       uatomic_read(&pt->nr_leaves) * sizeof(struct vas_pt_leaf);
}
