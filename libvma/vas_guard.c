// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Guard markers.
 *
 * MADV_GUARD_INSTALL puts a marker in the page-table entry of each page of
 * a range (a PTE marker in Linux, mm/madvise.c): a fault there raises
 * SIGSEGV (SEGV_MAPERR), MADV_DONTNEED and MADV_FREE keep it, munmap drops
 * it, mremap moves it, fork copies it with the page tables. The model
 * keeps the markers of a space apart from its resident pages: a sorted
 * array of disjoint ranges, published whole. Faults read it under RCU;
 * the writer builds a new array inside an operation (vas_op.c) and
 * publishes it while the areas the change covers are drained, so a fault
 * never sees the markers of one state with the areas of another. Guard
 * regions are few in real programs (one per thread stack at most), so a
 * change copies the array.
 */
#include "vas_internal.h"
#include "vma_alloc_internal.h"

#include <string.h>

static struct vas_guards *guards_alloc(size_t nr)
{
	struct vas_guards *g =
		vma_alloc(sizeof(*g) + (nr ? nr : 1) * sizeof(g->r[0]));

	if (g)
		g->nr = 0;
	return g;
}

/**
 * vas__guards_free() - Free an array never published (or after its grace
 * period).
 * Context: Any context.
 */
void vas__guards_free(struct vas_guards *g)
{
	vma_free(g);
}

/* Index of the first range ending above @addr (binary search). */
static size_t first_above(const struct vas_guards *g, uint64_t addr)
{
	size_t lo = 0, hi = g->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (g->r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/**
 * vas__guard_test() - Is the page at @addr a guard page?
 * Context: RCU reader (on the published array), or Writer.
 */
bool vas__guard_test(const struct vas_guards *g, uint64_t addr)
{
	size_t i;

	if (!g)
		return false;
	i = first_above(g, addr);
	return i < g->nr && g->r[i].start <= addr;
}

/**
 * vas__guard_any() - Does [@start, @end) hold a guard page?
 * Context: RCU reader, or Writer.
 */
bool vas__guard_any(const struct vas_guards *g, uint64_t start, uint64_t end)
{
	size_t i;

	if (!g || start >= end)
		return false;
	i = first_above(g, start);
	return i < g->nr && g->r[i].start < end;
}

/**
 * vas__guard_first() - The first guard page in [@start, @end), or @end.
 * Context: RCU reader, or Writer.
 */
uint64_t vas__guard_first(const struct vas_guards *g, uint64_t start,
			  uint64_t end)
{
	size_t i;

	if (!g || start >= end)
		return end;
	i = first_above(g, start);
	if (i == g->nr || g->r[i].start >= end)
		return end;
	return g->r[i].start > start ? g->r[i].start : start;
}

/*
 * Append [start, end) to @g (which has room), merging with the last range
 * when they touch.
 */
static void push(struct vas_guards *g, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	if (g->nr && g->r[g->nr - 1].end >= start) {
		if (g->r[g->nr - 1].end < end)
			g->r[g->nr - 1].end = end;
		return;
	}
	g->r[g->nr].start = start;
	g->r[g->nr].end = end;
	g->nr++;
}

/**
 * vas__guards_edit() - A new array: @g with [@start, @end) added (@set) or
 * removed.
 * Context: Writer.
 * Return: the new array (never published yet; it may be empty), or NULL.
 */
struct vas_guards *vas__guards_edit(const struct vas_guards *g, uint64_t start,
				    uint64_t end, bool set)
{
	size_t nr = g ? g->nr : 0, i;
	struct vas_guards *n = guards_alloc(nr + 2);
	bool placed = false;

	if (!n)
		return NULL;
	for (i = 0; i < nr; i++) {
		const struct vas_range *r = &g->r[i];

		if (set) {
			if (!placed && start <= r->start) {
				push(n, start, end);
				placed = true;
			}
			push(n, r->start, r->end);
			continue;
		}
		/* Remove: keep the parts outside [start, end). */
		push(n, r->start, r->end < start ? r->end : start);
		push(n, r->start > end ? r->start : end, r->end);
	}
	if (set && !placed)
		push(n, start, end);
	return n;
}

/**
 * vas__guards_move() - A new array: the markers of [@src, @src + @len)
 * moved to @dst (whatever lay at the destination is dropped, as the
 * destination was unmapped first).
 * Context: Writer.
 * Return: the new array, or NULL.
 */
struct vas_guards *vas__guards_move(const struct vas_guards *g, uint64_t src,
				    uint64_t dst, uint64_t len)
{
	struct vas_guards *a, *b;
	size_t i;

	a = vas__guards_edit(g, src, src + len, false);
	if (!a)
		return NULL;
	b = vas__guards_edit(a, dst, dst + len, false);
	vas__guards_free(a);
	if (!b || !g)
		return b;
	for (i = 0; i < g->nr; i++) {
		uint64_t s = g->r[i].start > src ? g->r[i].start : src;
		uint64_t e = g->r[i].end < src + len ? g->r[i].end : src + len;
		struct vas_guards *c;

		if (s >= e)
			continue;
		c = vas__guards_edit(b, s - src + dst, e - src + dst, true);
		vas__guards_free(b);
		if (!c)
			return NULL;
		b = c;
	}
	return b;
}

/**
 * vas__guards_copy_range() - For fork: add the markers of @src within
 * [@start, @end) to @dst (which is private to the caller and replaced).
 * Context: Writer of the destination space (not yet published).
 * Return: the new array (@dst is freed), or NULL (@dst kept).
 */
struct vas_guards *vas__guards_copy_range(struct vas_guards *dst,
					  const struct vas_guards *src,
					  uint64_t start, uint64_t end)
{
	struct vas_guards *cur = dst;
	size_t i;

	if (!vas__guard_any(src, start, end))
		return dst;
	for (i = first_above(src, start); i < src->nr && src->r[i].start < end;
	     i++) {
		uint64_t s = src->r[i].start > start ? src->r[i].start : start;
		uint64_t e = src->r[i].end < end ? src->r[i].end : end;
		struct vas_guards *n = vas__guards_edit(cur, s, e, true);

		if (!n) {
			if (cur != dst)
				vas__guards_free(cur);
			return NULL;
		}
		if (cur != dst)
			vas__guards_free(cur);
		cur = n;
	}
	vas__guards_free(dst);
	return cur;
}
