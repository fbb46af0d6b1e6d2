// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Resident pages of a space.
 *
 * A four-level radix tree keyed by page number, like a page table: three
 * levels of 512-slot interior nodes and leaves of two 512-bit maps (one
 * cache line each per 2 MiB of address space): pages present, and pages
 * with a page of their own (counted in Rss); a page present without one
 * maps the shared zero page (a read fault of private anonymous memory, as
 * do_anonymous_page() does). A fault sets its page's bits with one atomic
 * fetch-or per map, in that order, so two threads
 * faulting different pages never write the same cache line unless the
 * pages share a 2 MiB region, and a fault on a page that is already
 * resident only reads. Missing nodes are installed with a
 * compare-and-swap; the loser frees its copy. Nodes live as long as the
 * space (a node is never unlinked while readers run), so readers need no
 * RCU protection for the page table itself.
 *
 * The writer clears, moves and copies bits only in ranges whose VMAs it
 * has marked and drained, so no fault races with those updates; the
 * atomics are needed because a leaf word is shared by neighbouring VMAs.
 */
#include "vas_internal.h"

#include <errno.h>
#include <string.h>

static unsigned pt_index(uint64_t pfn, int level)
{
	return (pfn >> (VAS_PT_BITS * (VAS_PT_LEVELS - level))) &
	       (VAS_PT_SLOTS - 1);
}

/**
 * vas__pt_leaf() - Find (and with @alloc create) the leaf holding @pfn.
 * Context: Any context (lock-free).
 * Return: the leaf; NULL if absent, or if @alloc and allocation failed.
 */
struct vas_pt_leaf *vas__pt_leaf(struct vas_pt *pt, uint64_t pfn, bool alloc)
{
	struct vas_pt_node *node = pt->root;
	int level;

	for (level = 0; level < VAS_PT_LEVELS; level++) {
		void **slot = &node->slot[pt_index(pfn, level)];
		void *next = vas_load_acquire(slot);

		if (!next) {
			void *fresh, *old;
			bool leaf = level == VAS_PT_LEVELS - 1;

			if (!alloc)
				return NULL;
			fresh = vma_calloc(leaf ? sizeof(struct vas_pt_leaf)
						: sizeof(struct vas_pt_node));
			if (!fresh)
				return NULL;
			old = uatomic_cmpxchg(slot, NULL, fresh);
			if (old) {
				vma_free(fresh);
				next = old;
			} else {
				next = fresh;
				if (leaf)
					uatomic_inc(&pt->nr_leaves);
				else
					uatomic_inc(&pt->nr_nodes);
			}
		}
		node = next;
	}
	return (struct vas_pt_leaf *)node;
}

/**
 * vas__pt_prepare() - Create every leaf of [@pfn, @pfn + @nr).
 * Context: Any context.
 * Return: 0; -ENOMEM (leaves created so far stay, empty).
 */
int vas__pt_prepare(struct vas_pt *pt, uint64_t pfn, uint64_t nr)
{
	uint64_t end = pfn + nr;

	while (pfn < end) {
		if (!vas__pt_leaf(pt, pfn, true))
			return -ENOMEM;
		pfn = (pfn | (VAS_PT_SLOTS - 1)) + 1;
	}
	return 0;
}

/* Call @fn on every existing leaf overlapping [pfn, pfn + nr). */
typedef void (*pt_leaf_fn)(struct vas_pt_leaf *leaf, uint64_t base, uint64_t lo,
			   uint64_t hi, void *arg);

static void pt_walk(const struct vas_pt_node *node, int level, uint64_t base,
		    uint64_t lo, uint64_t hi, pt_leaf_fn fn, void *arg)
{
	unsigned shift = VAS_PT_BITS * (VAS_PT_LEVELS - level);
	uint64_t span = 1ULL << shift; /* pages under one slot */
	unsigned i = (lo - base) >> shift;
	unsigned last = (hi - 1 - base) >> shift;

	for (; i <= last; i++) {
		void *child = vas_load_acquire(&node->slot[i]);
		uint64_t cbase = base + i * span;
		uint64_t clo = lo > cbase ? lo : cbase;
		uint64_t chi = hi < cbase + span ? hi : cbase + span;

		if (!child)
			continue;
		if (level == VAS_PT_LEVELS - 1)
			fn(child, cbase, clo, chi, arg);
		else
			pt_walk(child, level + 1, cbase, clo, chi, fn, arg);
	}
}

static void pt_for_each_leaf(const struct vas_pt *pt, uint64_t pfn, uint64_t nr,
			     pt_leaf_fn fn, void *arg)
{
	if (!nr || !pt->root)
		return;
	pt_walk(pt->root, 0, 0, pfn, pfn + nr, fn, arg);
}

/* Mask of bits [lo, hi) of the 64-bit word starting at page @wbase. */
static uint64_t word_mask(uint64_t wbase, uint64_t lo, uint64_t hi)
{
	uint64_t a = lo > wbase ? lo - wbase : 0;
	uint64_t b = hi < wbase + 64 ? hi - wbase : 64;
	uint64_t m = b == 64 ? ~0ULL : (1ULL << b) - 1;

	return m & ~((1ULL << a) - 1);
}

#define for_each_word(w, wbase, base, lo, hi)                                  \
	for (w = ((lo) - (base)) / 64, wbase = (base) + w * 64; wbase < (hi);  \
	     w++, wbase += 64)

struct pt_count {
	uint64_t count;
	bool present; /* count every present page, not only counted ones */
};

static void leaf_count(struct vas_pt_leaf *leaf, uint64_t base, uint64_t lo,
		       uint64_t hi, void *arg)
{
	struct pt_count *pc = arg;
	uint64_t wbase;
	unsigned w;

	for_each_word(w, wbase, base, lo, hi)
	{
		uint64_t v = vas_load_relaxed(pc->present ? &leaf->present[w]
							  : &leaf->bits[w]);

		pc->count += __builtin_popcountll(v & word_mask(wbase, lo, hi));
	}
}

/**
 * vas__pt_count() - Number of resident pages (of their own, as Rss counts
 * them) in [@pfn, @pfn + @nr).
 * Context: Any context (a racy snapshot while faults run).
 */
uint64_t vas__pt_count(const struct vas_pt *pt, uint64_t pfn, uint64_t nr)
{
	struct pt_count pc = {0, false};

	pt_for_each_leaf(pt, pfn, nr, leaf_count, &pc);
	return pc.count;
}

/**
 * vas__pt_count_present() - Number of present pages in [@pfn, @pfn + @nr),
 * zero page mappings included.
 * Context: Any context (a racy snapshot while faults run).
 */
uint64_t vas__pt_count_present(const struct vas_pt *pt, uint64_t pfn,
			       uint64_t nr)
{
	struct pt_count pc = {0, true};

	pt_for_each_leaf(pt, pfn, nr, leaf_count, &pc);
	return pc.count;
}

static void leaf_clear(struct vas_pt_leaf *leaf, uint64_t base, uint64_t lo,
		       uint64_t hi, void *arg)
{
	uint64_t wbase;
	unsigned w;

	for_each_word(w, wbase, base, lo, hi)
	{
		uint64_t m = word_mask(wbase, lo, hi);

		if (vas_load_relaxed(&leaf->bits[w]) & m)
			uatomic_and(&leaf->bits[w], ~m);
		if (vas_load_relaxed(&leaf->present[w]) & m)
			uatomic_and(&leaf->present[w], ~m);
	}
}

/**
 * vas__pt_clear_range() - Release the pages of [@pfn, @pfn + @nr).
 * Context: Writer, with the VMAs of the range marked and drained.
 */
void vas__pt_clear_range(struct vas_pt *pt, uint64_t pfn, uint64_t nr)
{
	pt_for_each_leaf(pt, pfn, nr, leaf_clear, NULL);
}

/**
 * vas__pt_set_range() - Make [@pfn, @pfn + @nr) present; the leaves must
 * exist (vas__pt_prepare()). With @zero, pages not yet present map the zero
 * page; without, every page gets one of its own.
 * Context: Writer, on a range no fault can reach.
 */
void vas__pt_set_range(struct vas_pt *pt, uint64_t pfn, uint64_t nr, bool zero)
{
	uint64_t end = pfn + nr;

	while (pfn < end) {
		uint64_t base = pfn & ~(uint64_t)(VAS_PT_SLOTS - 1);
		uint64_t hi =
			base + VAS_PT_SLOTS < end ? base + VAS_PT_SLOTS : end;
		struct vas_pt_leaf *leaf = vas__pt_leaf(pt, pfn, false);
		uint64_t wbase;
		unsigned w;

		assert(leaf);
		for_each_word(w, wbase, base, pfn, hi)
		{
			uint64_t m = word_mask(wbase, pfn, hi);

			uatomic_or(&leaf->present[w], m);
			if (!zero)
				uatomic_or(&leaf->bits[w], m);
		}
		pfn = hi;
	}
}

/**
 * vas__pt_test_set() - Make @pfn present: with @zero, map the zero page if
 * nothing is mapped there; without, give it a page of its own (replacing a
 * zero page, as a write fault copies it).
 * @populated: set to true if the page was not present before.
 * @counted: set to true if the page got a page of its own (rss grows).
 * Context: Any context. Each map changes by one fetch-or, present first, so
 * of racing faults exactly one populates and exactly one counts.
 * Return: false if a node could not be allocated.
 */
bool vas__pt_test_set(struct vas_pt *pt, uint64_t pfn, bool zero,
		      bool *populated, bool *counted)
{
	struct vas_pt_leaf *leaf = vas__pt_leaf(pt, pfn, true);
	unsigned bit = pfn & (VAS_PT_SLOTS - 1);
	uint64_t *present, *own, m = 1ULL << (bit & 63);

	if (!leaf)
		return false;
	present = &leaf->present[bit / 64];
	own = &leaf->bits[bit / 64];
	*populated = false;
	*counted = false;
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
 * Context: Any context.
 */
bool vas__pt_test(const struct vas_pt *pt, uint64_t pfn)
{
	const struct vas_pt_leaf *leaf =
		vas__pt_leaf((struct vas_pt *)pt, pfn, false);
	unsigned bit = pfn & (VAS_PT_SLOTS - 1);

	return leaf &&
	       (vas_load_relaxed(&leaf->present[bit / 64]) >> (bit & 63)) & 1;
}

struct pt_like {
	struct vas_pt *dst;
	int64_t delta; /* dst pfn - src pfn */
	int err;
};

static void leaf_prepare_like(struct vas_pt_leaf *leaf, uint64_t base,
			      uint64_t lo, uint64_t hi, void *arg)
{
	struct pt_like *pl = arg;
	uint64_t wbase;
	unsigned w;

	if (pl->err)
		return;
	for_each_word(w, wbase, base, lo, hi)
	{
		uint64_t v = vas_load_relaxed(&leaf->present[w]) &
			     word_mask(wbase, lo, hi);

		while (v) {
			uint64_t pfn = wbase + __builtin_ctzll(v);

			if (!vas__pt_leaf(pl->dst, pfn + pl->delta, true)) {
				pl->err = -ENOMEM;
				return;
			}
			/* Skip to the next destination leaf. */
			v &= v - 1;
		}
	}
}

/**
 * vas__pt_prepare_like() - Create the leaves of @dst that a copy or move
 * of the resident pages of [@src_pfn, +@nr) in @src to @dst_pfn needs.
 * Context: Writer.
 * Return: 0; -ENOMEM.
 */
int vas__pt_prepare_like(struct vas_pt *dst, const struct vas_pt *src,
			 uint64_t src_pfn, uint64_t dst_pfn, uint64_t nr)
{
	struct pt_like pl = {dst, (int64_t)(dst_pfn - src_pfn), 0};

	pt_for_each_leaf(src, src_pfn, nr, leaf_prepare_like, &pl);
	return pl.err;
}

struct pt_move {
	struct vas_pt *dst;
	int64_t delta;
	bool clear_src;
};

/* Move (or copy) the bits of *@word under @mask to the same map of @pm->dst. */
static void move_word(struct pt_move *pm, uint64_t *word, uint64_t wbase,
		      uint64_t mask, bool present)
{
	uint64_t v = vas_load_relaxed(word) & mask;

	if (!v)
		return;
	if (pm->clear_src)
		uatomic_and(word, ~v);
	while (v) {
		uint64_t pfn = wbase + __builtin_ctzll(v) + pm->delta;
		struct vas_pt_leaf *dl = vas__pt_leaf(pm->dst, pfn, false);
		unsigned bit = pfn & (VAS_PT_SLOTS - 1);

		assert(dl);
		uatomic_or(present ? &dl->present[bit / 64]
				   : &dl->bits[bit / 64],
			   1ULL << (bit & 63));
		v &= v - 1;
	}
}

static void leaf_move(struct vas_pt_leaf *leaf, uint64_t base, uint64_t lo,
		      uint64_t hi, void *arg)
{
	struct pt_move *pm = arg;
	uint64_t wbase;
	unsigned w;

	for_each_word(w, wbase, base, lo, hi)
	{
		uint64_t m = word_mask(wbase, lo, hi);

		move_word(pm, &leaf->bits[w], wbase, m, false);
		move_word(pm, &leaf->present[w], wbase, m, true);
	}
}

/**
 * vas__pt_move() - Move the present pages (zero page mappings too) of
 * [@src, @src + @nr) to @dst
 * (ranges do not overlap; destination leaves prepared).
 * Context: Writer, both ranges unreachable by faults.
 */
void vas__pt_move(struct vas_pt *pt, uint64_t src, uint64_t dst, uint64_t nr)
{
	struct pt_move pm = {pt, (int64_t)(dst - src), true};

	pt_for_each_leaf(pt, src, nr, leaf_move, &pm);
}

/**
 * vas__pt_copy() - Copy the resident pages of [@pfn, @pfn + @nr) of @src
 * into @dst at the same page numbers (leaves prepared).
 * Context: Writer of @src (fork).
 */
void vas__pt_copy(struct vas_pt *dst, const struct vas_pt *src, uint64_t pfn,
		  uint64_t nr)
{
	struct pt_move pm = {dst, 0, false};

	pt_for_each_leaf(src, pfn, nr, leaf_move, &pm);
}

static void pt_free_node(struct vas_pt_node *node, int level)
{
	unsigned i;

	for (i = 0; i < VAS_PT_SLOTS; i++) {
		if (!node->slot[i])
			continue;
		if (level == VAS_PT_LEVELS - 1)
			vma_free(node->slot[i]);
		else
			pt_free_node(node->slot[i], level + 1);
	}
	vma_free(node);
}

/**
 * vas__pt_free() - Free every node.
 * Context: Init only.
 */
void vas__pt_free(struct vas_pt *pt)
{
	if (pt->root)
		pt_free_node(pt->root, 0);
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
