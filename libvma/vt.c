// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: The RCU range tree.
 *
 * A B+tree of inclusive ranges [first, last] -> pointer. Readers walk it
 * under rcu_read_lock() with no other synchronization; writers are
 * serialized by the caller.
 *
 * Writes happen in transactions. The first time a transaction touches a
 * published node it copies it ("cow") and hands the original to the
 * transaction's reclaim batch; a node the transaction allocated itself is
 * "fresh" and is edited in place. Every operation works on a path from the
 * root that is entirely fresh, so a commit can be one rcu_assign_pointer()
 * of the new root, and the batch of replaced nodes goes to the reclaimer
 * (vt_reclaim.c), which recycles it after a grace period. By default a
 * commit stores one new subtree into a published parent instead ("in
 * place"): see "Publishing below the root".
 *
 * The tree's rule: a node a reader can reach changes only by single
 * aligned word stores, each of which leaves a state every reader reads as
 * wholly before or wholly after the transaction: the child pointer of the
 * publish, and fields no lookup reads. A single walk therefore reads one
 * state. A reader that walks several paths (vt_find_free(), an iteration)
 * could combine paths of different states, so every commit bumps the
 * tree's sequence count around its stores (odd while publishing) and such
 * readers validate against it (vt_read_begin(), vt_read_retry()).
 *
 * Operations are kept simple and local. A store whose range and the
 * entries it overlaps lie in one leaf, and whose result fits there (mmap,
 * munmap, MAP_FIXED over a few VMAs, the pieces of a split), is spliced
 * into that leaf: one copy-on-write walk and one fix-up. Any other store
 * is "erase the range, then insert one entry", and erasing removes or trims
 * the entries of one leaf at a time, each step followed by the usual
 * B+tree fix-ups (spill to a sibling or split on overflow; borrow or merge
 * on underflow). A store that spans many nodes is therefore many small
 * steps, all invisible until the commit: readers see the tree before or
 * after it, never a half-done spanning store.
 *
 * Free-space search uses, for every child of an internal node, the
 * subtree's lowest and highest key (min[], pivot[]) and its longest inner
 * free run (gap[]), so both directions of search skip full subtrees.
 */
#include "vma/vt.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vma_alloc_internal.h"
#include "vma_asan.h"
#include "vt_internal.h"

#ifdef VMAD_TEST_HOOKS
void (*vt_test_before_publish)(struct vt *vt);
void (*vt_test_read_root)(const struct vt *vt);
#endif

/* ------------------------------------------------------------------ */
/* Node helpers (any context; they read only what they are given).     */

static inline unsigned vtn_nr(const struct vtn *n)
{
	return n->h.nr;
}

static inline unsigned vtn_cap(const struct vtn *n)
{
	return n->h.leaf ? VT_LEAF_CAP : VT_INT_CAP;
}

static inline unsigned vtn_min_fill(const struct vtn *n)
{
	return n->h.leaf ? VT_LEAF_MIN : VT_INT_MIN;
}

/*
 * Highest key under child @i of internal node @n: for the last child of a
 * published node, top (pivot[nr - 1] may be stale there). Context: Writer,
 * or an RCU reader (vt_find_free()).
 */
static inline uint64_t vtn_pivot(const struct vtn *n, unsigned i)
{
	if (i + 1 == n->h.nr && !n->h.fresh)
		return CMM_LOAD_SHARED(n->i.top);
	return n->i.pivot[i];
}

/* Highest key stored under @n (n non-empty). */
static inline uint64_t vtn_max_key(const struct vtn *n)
{
	return n->h.leaf ? n->l.last[n->h.nr - 1] : vtn_pivot(n, n->h.nr - 1);
}

/* Lowest key stored under @n (n non-empty). */
static inline uint64_t vtn_min_key(const struct vtn *n)
{
	return n->h.leaf ? n->l.kv[0].first : n->i.min[0];
}

/*
 * Longest free run strictly between two entries under @n: the portable
 * loop, also what the validator checks against.
 */
static uint64_t vtn_inner_gap_generic(const struct vtn *n)
{
	uint64_t best = 0;
	unsigned i;

	if (n->h.leaf) {
		for (i = 1; i < n->h.nr; i++) {
			uint64_t g = n->l.kv[i].first - n->l.last[i - 1] - 1;
			if (g > best)
				best = g;
		}
		return best;
	}
	for (i = 0; i < n->h.nr; i++) {
		if (n->i.gap[i] > best)
			best = n->i.gap[i];
		if (i > 0) {
			uint64_t g = n->i.min[i] - n->i.pivot[i - 1] - 1;
			if (g > best)
				best = g;
		}
	}
	return best;
}

/*
 * First index i < nr with key[i] >= k, or nr. Nodes are small, so counting
 * the keys below k beats a binary search: the comparisons are independent
 * (no chain of dependent loads) and never mispredicted.
 */
static inline unsigned lower_bound(const uint64_t *key, unsigned nr, uint64_t k)
{
	unsigned i, cnt = 0;

	for (i = 0; i < nr; i++)
		cnt += key[i] < k;
	return cnt;
}

/* A node's header and key lines, and an internal node's child pointers. */
static inline void vtn_prefetch_keys(const struct vtn *n)
{
	const char *p = (const char *)n;

	__builtin_prefetch(p);
	__builtin_prefetch(p + 64);
	__builtin_prefetch(p + 128);
	__builtin_prefetch(p + 192);
}

/* The rest of a leaf: its {first, slot} pairs. */
static inline void vtn_prefetch_kv(const struct vtn *n)
{
	const char *p = (const char *)n;

	__builtin_prefetch(p + 256);
	__builtin_prefetch(p + 320);
	__builtin_prefetch(p + 384);
	__builtin_prefetch(p + 448);
}

/* Recycled nodes fetched ahead of their use (a commit copies ~3). */
#define VT_PREFETCH_AHEAD 3

/* Prefetch a whole node that is about to be overwritten. */
static inline void vtn_prefetch_write(const void *n)
{
	const char *p = n;
	unsigned off;

	for (off = 0; off < VTN_SIZE; off += 64)
		__builtin_prefetch(p + off, 1);
}

/* ------------------------------------------------------------------ */
/* Readers. Context: RCU reader, or the writer on its private state.  */

/*
 * Walk to the first entry whose range ends at or after @index: at every
 * level the first child whose highest key is >= @index, else the last
 * child (so the last pivot is never read: the key is either under the last
 * child or above every key of the tree, and then the leaf says so). Return
 * its leaf and set *@pos, or NULL if every key is below @index.
 *
 * With @back, walk instead to the last entry whose range starts at or
 * below @index: if the child (entry) found that way starts above @index,
 * or there is none, the one before it is the answer.
 *
 * The walk is written once (VT_WALK) and instantiated twice: with the
 * portable counting search, and with AVX-512 compares where the CPU has
 * them (a node's keys in two or three instructions instead of a loop of
 * up to 21). Readers use the second when vt_walk_simd is set at startup.
 *
 * Prefetch: a child's first four lines (header and keys, and for an
 * internal node the child pointers) as soon as its address is known; a
 * leaf's remaining lines (the {first, slot} pairs) once it is known to be
 * a leaf. Internal nodes' min[] and gap[] lines serve only writers (and
 * backward walks) and are not fetched.
 */
#define VT_WALK(name, search, attr)                                            \
	attr static const struct vtn *name(                                    \
		const struct vtn *n, uint64_t index, unsigned *pos, bool back) \
	{                                                                      \
		unsigned i;                                                    \
                                                                               \
		if (!n)                                                        \
			return NULL;                                           \
		while (!n->h.leaf) {                                           \
			i = search(n->i.pivot, n->h.nr - 1u, index);           \
			if (back && n->i.min[i] > index) {                     \
				if (i == 0)                                    \
					return NULL;                           \
				i--;                                           \
			}                                                      \
			n = rcu_dereference(n->i.child[i]);                    \
			vtn_prefetch_keys(n);                                  \
		}                                                              \
		vtn_prefetch_kv(n);                                            \
		i = search(n->l.last, n->h.nr, index);                         \
		if (i == n->h.nr || (back && n->l.kv[i].first > index)) {      \
			if (!back || i == 0)                                   \
				return NULL;                                   \
			i--;                                                   \
		}                                                              \
		*pos = i;                                                      \
		return n;                                                      \
	}

/*
 * Which of an internal node's first @nr slots differ between @a and @b: a
 * bit mask per array (vtn_keepable() and the in-place gap update).
 */
struct vtn_diff {
	uint32_t pivot, child, min, gap;
};

static inline uint32_t diff_mask_generic(const uint64_t *a, const uint64_t *b,
					 unsigned nr)
{
	uint32_t m = 0;

	for (unsigned k = 0; k < nr; k++)
		m |= (uint32_t)(a[k] != b[k]) << k;
	return m;
}

/* vtn_diff() written once, instantiated with each mask function. */
#define VT_DIFF(name, mask, attr)                                              \
	attr static void name(const struct vtn *a, const struct vtn *b,        \
			      struct vtn_diff *d)                              \
	{                                                                      \
		unsigned nr = a->h.nr;                                         \
                                                                               \
		d->pivot = mask(a->i.pivot, b->i.pivot, nr);                   \
		d->child = mask((const uint64_t *)a->i.child,                  \
				(const uint64_t *)b->i.child, nr);             \
		d->min = mask(a->i.min, b->i.min, nr);                         \
		d->gap = mask(a->i.gap, b->i.gap, nr);                         \
	}

VT_DIFF(vtn_diff_generic, diff_mask_generic, )

/* Copy a whole node, 16 aligned bytes at a time. */
static inline void vtn_copy_lines_generic(struct vtn *dst,
					  const struct vtn *src)
{
	typedef uint64_t word_t __attribute__((vector_size(16), aligned(16)));
	word_t *d = (word_t *)(void *)dst;
	const word_t *s = (const word_t *)(const void *)src;
	unsigned k;

	for (k = 0; k < VTN_SIZE / sizeof(word_t); k++)
		d[k] = s[k];
}

VT_WALK(walk_generic, lower_bound, inline)

#if defined(__x86_64__) && !defined(VMA_NO_SIMD)
#include <immintrin.h>

/*
 * lower_bound() for nr <= 24 with AVX-512: compare eight keys per
 * instruction and count the set bits below nr. Keys at nr and beyond are
 * read (they lie inside the 512-byte node) but masked out.
 */
__attribute__((target("avx512f,popcnt"))) static inline unsigned
lower_bound_avx512(const uint64_t *key, unsigned nr, uint64_t k)
{
	__m512i kk = _mm512_set1_epi64((long long)k);
	uint32_t m;

	m = _mm512_cmplt_epu64_mask(_mm512_loadu_si512(key), kk);
	m |= (uint32_t)_mm512_cmplt_epu64_mask(_mm512_loadu_si512(key + 8), kk)
	     << 8;
	if (nr > 16)
		m |= (uint32_t)_mm512_cmplt_epu64_mask(
			     _mm512_loadu_si512(key + 16), kk)
		     << 16;
	return (unsigned)__builtin_popcount(m & ((1u << nr) - 1));
}

_Static_assert(offsetof(struct vtn_leaf, last) + 24 * sizeof(uint64_t) <=
		       VTN_SIZE,
	       "a leaf's three key vectors lie inside the node");
_Static_assert(offsetof(struct vtn_int, pivot) + 16 * sizeof(uint64_t) <=
		       VTN_SIZE,
	       "an internal node's two key vectors lie inside the node");

VT_WALK(walk_avx512, lower_bound_avx512,
	__attribute__((target("avx512f,popcnt"), noinline)))

/*
 * vtn_inner_gap_generic() of an internal node with AVX-512: its gap[] and
 * the runs between its children (min[i] - pivot[i - 1] - 1) eight at a
 * time, keys past the count masked out. Writers refresh a gap at every
 * level of every step. Leaves keep the scalar loop: their first keys are
 * interleaved with the slots, and gathering them cost more than it saved
 * (measured with mmap+munmap and MAP_FIXED over 8).
 */
__attribute__((target("avx512f"))) static uint64_t
vtn_inner_gap_int_avx512(const struct vtn *n)
{
	const __m512i one = _mm512_set1_epi64(1);
	__m512i best = _mm512_setzero_si512();
	unsigned nr = n->h.nr, k;

	for (k = 0; k < nr; k += 8) {
		unsigned left = nr - k;
		__mmask8 m = (__mmask8)((1u << (left < 8 ? left : 8)) - 1);

		best = _mm512_mask_max_epu64(
			best, m, best,
			_mm512_maskz_loadu_epi64(m, n->i.gap + k));
	}
	for (k = 1; k < nr; k += 8) {
		unsigned left = nr - k;
		__mmask8 m = (__mmask8)((1u << (left < 8 ? left : 8)) - 1);
		__m512i g = _mm512_sub_epi64(
			_mm512_sub_epi64(
				_mm512_maskz_loadu_epi64(m, n->i.min + k),
				_mm512_maskz_loadu_epi64(m,
							 n->i.pivot + k - 1)),
			one);

		best = _mm512_mask_max_epu64(best, m, best, g);
	}
	return _mm512_reduce_max_epu64(best);
}

/*
 * vtn_copy_lines_generic() a line per instruction. Hot in L2 it is only 3%
 * faster per copy, but full-line stores spare the fetch of the destination
 * lines: mmap+munmap pairs 1.73-1.78M/s against 1.34-1.56M/s with the
 * 16-byte loop alone (space-bench --runs 3 --seconds 0.5, alternated).
 */
__attribute__((target("avx512f"))) static void
vtn_copy_lines_avx512(struct vtn *dst, const struct vtn *src)
{
	__m512i line[VTN_SIZE / 64];
	unsigned k;

	for (k = 0; k < VTN_SIZE / 64; k++)
		line[k] = _mm512_load_si512((const char *)src + 64 * k);
	for (k = 0; k < VTN_SIZE / 64; k++)
		_mm512_store_si512((char *)dst + 64 * k, line[k]);
}

/* vtn_diff_generic() two compares per array (15 slots, masked to @nr). */
__attribute__((target("avx512f"))) static inline uint32_t
diff_mask_avx512(const uint64_t *a, const uint64_t *b, unsigned nr)
{
	uint32_t m;

	m = _mm512_cmpneq_epu64_mask(_mm512_loadu_si512(a),
				     _mm512_loadu_si512(b));
	m |= (uint32_t)_mm512_cmpneq_epu64_mask(_mm512_loadu_si512(a + 8),
						_mm512_loadu_si512(b + 8))
	     << 8;
	return m & ((1u << nr) - 1);
}

_Static_assert(offsetof(struct vtn_int, gap) + 16 * sizeof(uint64_t) <=
		       VTN_SIZE,
	       "an internal node's last array, read 16 wide, lies inside it");

VT_DIFF(vtn_diff_avx512, diff_mask_avx512, __attribute__((target("avx512f"))))

/* Set once at load time; read-only afterwards. */
static bool vt_walk_simd;

__attribute__((constructor)) static void vt_walk_select(void)
{
	const char *env = getenv("VMA_NO_SIMD");

	__builtin_cpu_init();
	vt_walk_simd = __builtin_cpu_supports("avx512f") &&
		       !(env && *env && strcmp(env, "0"));
}

static inline const struct vtn *walk(const struct vtn *n, uint64_t index,
				     unsigned *pos, bool back)
{
	if (caa_likely(vt_walk_simd))
		return walk_avx512(n, index, pos, back);
	return walk_generic(n, index, pos, back);
}

static inline uint64_t vtn_inner_gap(const struct vtn *n)
{
	if (caa_likely(vt_walk_simd) && !n->h.leaf)
		return vtn_inner_gap_int_avx512(n);
	return vtn_inner_gap_generic(n);
}

static inline void vtn_copy_lines(struct vtn *dst, const struct vtn *src)
{
	if (caa_likely(vt_walk_simd))
		vtn_copy_lines_avx512(dst, src);
	else
		vtn_copy_lines_generic(dst, src);
}

static inline void vtn_diff(const struct vtn *a, const struct vtn *b,
			    struct vtn_diff *d)
{
	if (caa_likely(vt_walk_simd))
		vtn_diff_avx512(a, b, d);
	else
		vtn_diff_generic(a, b, d);
}
#else
#define walk	       walk_generic
#define vtn_inner_gap  vtn_inner_gap_generic
#define vtn_copy_lines vtn_copy_lines_generic
#define vtn_diff       vtn_diff_generic
#endif

static inline void *leaf_entry(const struct vtn *n, unsigned i, uint64_t *first,
			       uint64_t *last)
{
	if (first)
		*first = n->l.kv[i].first;
	if (last)
		*last = n->l.last[i];
	return n->l.kv[i].slot;
}

static void *walk_load(const struct vtn *n, uint64_t index, uint64_t *first,
		       uint64_t *last)
{
	unsigned i;

	n = walk(n, index, &i, false);
	if (!n || n->l.kv[i].first > index)
		return NULL;
	return leaf_entry(n, i, first, last);
}

static void *walk_next(const struct vtn *n, uint64_t index, uint64_t *first,
		       uint64_t *last)
{
	unsigned i;

	n = walk(n, index, &i, false);
	return n ? leaf_entry(n, i, first, last) : NULL;
}

static void *walk_prev(const struct vtn *n, uint64_t index, uint64_t *first,
		       uint64_t *last)
{
	unsigned i;

	n = walk(n, index, &i, true);
	return n ? leaf_entry(n, i, first, last) : NULL;
}

void *vt_load(const struct vt *vt, uint64_t index, uint64_t *first,
	      uint64_t *last)
{
	if (!vt)
		return NULL;
	return walk_load(rcu_dereference(vt->root), index, first, last);
}

void *vt_next(const struct vt *vt, uint64_t index, uint64_t *first,
	      uint64_t *last)
{
	if (!vt)
		return NULL;
	return walk_next(rcu_dereference(vt->root), index, first, last);
}

void *vt_prev(const struct vt *vt, uint64_t index, uint64_t *first,
	      uint64_t *last)
{
	if (!vt)
		return NULL;
	return walk_prev(rcu_dereference(vt->root), index, first, last);
}

void *vt_txn_load(const struct vt_txn *txn, uint64_t index, uint64_t *first,
		  uint64_t *last)
{
	return walk_load(txn->root, index, first, last);
}

void *vt_txn_next(const struct vt_txn *txn, uint64_t index, uint64_t *first,
		  uint64_t *last)
{
	return walk_next(txn->root, index, first, last);
}

void *vt_txn_prev(const struct vt_txn *txn, uint64_t index, uint64_t *first,
		  uint64_t *last)
{
	return walk_prev(txn->root, index, first, last);
}

/* The entry before entry @i of @leaf (NULL: leaf NULL, nothing ahead). */
static void *entry_before(const struct vt_txn *txn, const struct vtn *leaf,
			  unsigned i)
{
	if (!leaf)
		return walk_prev(txn->root, UINT64_MAX, NULL, NULL);
	if (i > 0)
		return leaf->l.kv[i - 1].slot;
	if (leaf->l.kv[0].first > 0)
		return walk_prev(txn->root, leaf->l.kv[0].first - 1, NULL,
				 NULL);
	return NULL;
}

size_t vt_txn_collect_next(const struct vt_txn *txn, uint64_t first,
			   uint64_t last, void **out, size_t max, void **prev,
			   void **next, bool *next_known)
{
	const struct vtn *leaf;
	size_t n = 0;
	unsigned i;

	*next = NULL;
	*next_known = false;
	if (prev)
		*prev = NULL;
	while (n < max && first <= last) {
		leaf = walk(txn->root, first, &i, false);
		if (prev && !n) {
			*prev = entry_before(txn, leaf, i);
			prev = NULL;
		}
		if (!leaf) {
			*next_known = true; /* nothing at or above @first */
			break;
		}
		for (; i < leaf->h.nr; i++) {
			if (leaf->l.kv[i].first > last) {
				*next = leaf->l.kv[i].slot;
				*next_known = true;
				return n;
			}
			if (n == max)
				return n;
			out[n++] = leaf->l.kv[i].slot;
		}
		/* The leaf is done: go on from just past its highest key. */
		first = leaf->l.last[leaf->h.nr - 1];
		if (first >= last)
			break;
		first++;
	}
	return n;
}

size_t vt_txn_collect(const struct vt_txn *txn, uint64_t first, uint64_t last,
		      void **out, size_t max)
{
	bool known;
	void *next;

	return vt_txn_collect_next(txn, first, last, out, max, NULL, &next,
				   &known);
}

void *vt_txn_around(const struct vt_txn *txn, uint64_t index, void **prev)
{
	const struct vtn *leaf;
	unsigned i;

	leaf = walk(txn->root, index, &i, false);
	*prev = entry_before(txn, leaf, i);
	return leaf ? leaf->l.kv[i].slot : NULL;
}

/* ------------------------------------------------------------------ */
/* Free-area search. Context: RCU reader (or the writer).             */

struct vt_fit {
	uint64_t lo, hi;  /* window, inclusive */
	uint64_t size_m1; /* size - 1 */
	uint64_t mask;	  /* align - 1 */
	enum vt_dir dir;
	uint64_t out;
};

/* Does a run of @size keys fit in the free run [a, b] and the window? */
static bool fit_run(struct vt_fit *f, uint64_t a, uint64_t b)
{
	uint64_t s;

	if (a > b || b < f->lo || a > f->hi)
		return false;
	if (a < f->lo)
		a = f->lo;
	if (b > f->hi)
		b = f->hi;
	if (b - a < f->size_m1)
		return false;
	if (f->dir == VT_LOWEST) {
		s = (a + f->mask) & ~f->mask;
		if (s < a || s > b || b - s < f->size_m1)
			return false;
	} else {
		s = (b - f->size_m1) & ~f->mask;
		if (s < a)
			return false;
	}
	f->out = s;
	return true;
}

/* Search the runs strictly inside @n's subtree. */
static bool vtn_find(const struct vtn *n, struct vt_fit *f)
{
	unsigned nr = n->h.nr, k;

	if (n->h.leaf) {
		for (k = 1; k < nr; k++) {
			unsigned i = f->dir == VT_LOWEST ? k : nr - k;
			if (fit_run(f, n->l.last[i - 1] + 1,
				    n->l.kv[i].first - 1))
				return true;
		}
		return false;
	}
	for (k = 0; k < nr; k++) {
		unsigned i = f->dir == VT_LOWEST ? k : nr - 1 - k;
		bool child_ok = n->i.gap[i] > f->size_m1 &&
				vtn_pivot(n, i) >= f->lo &&
				n->i.min[i] <= f->hi;

		if (f->dir == VT_LOWEST) {
			if (i > 0 &&
			    fit_run(f, n->i.pivot[i - 1] + 1, n->i.min[i] - 1))
				return true;
			if (child_ok &&
			    vtn_find(rcu_dereference(n->i.child[i]), f))
				return true;
		} else {
			if (child_ok &&
			    vtn_find(rcu_dereference(n->i.child[i]), f))
				return true;
			if (i > 0 &&
			    fit_run(f, n->i.pivot[i - 1] + 1, n->i.min[i] - 1))
				return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Readers of more than one path. Context: RCU reader (or the writer). */

unsigned long vt_read_begin(const struct vt *vt)
{
	unsigned long seq = CMM_LOAD_SHARED(vt->seq);
	unsigned k;

	/* A commit is publishing: its stores take a few nanoseconds. */
	for (k = 0; (seq & 1) && k < VT_READ_SPIN; k++) {
		caa_cpu_relax();
		seq = CMM_LOAD_SHARED(vt->seq);
	}
	cmm_smp_rmb(); /* the count before anything read after it */
	return seq;
}

bool vt_read_retry(const struct vt *vt, unsigned long seq)
{
	cmm_smp_rmb(); /* everything read before the count */
	return (seq & 1) || CMM_LOAD_SHARED(vt->seq) != seq;
}

/*
 * Commits bracket their stores into reachable nodes with these (a
 * seqcount's write side; the writer is the only one).
 * Context: Writer.
 */
static inline void vt_seq_write_begin(struct vt *vt)
{
	CMM_STORE_SHARED(vt->seq, vt->seq + 1);
	cmm_smp_wmb(); /* odd before any store a reader could see */
}

static inline void vt_seq_write_end(struct vt *vt)
{
	cmm_smp_wmb(); /* every store of the commit before the count */
	CMM_STORE_SHARED(vt->seq, vt->seq + 1);
}

/* One attempt of vt_find_free() on the tree under @root. */
static bool find_free_in(const struct vtn *root, struct vt_fit *f)
{
	uint64_t min, max;

	if (!root)
		return fit_run(f, 0, UINT64_MAX);
	min = vtn_min_key(root);
	max = vtn_max_key(root);
	if (f->dir == VT_LOWEST)
		return (min > 0 && fit_run(f, 0, min - 1)) ||
		       vtn_find(root, f) ||
		       (max < UINT64_MAX && fit_run(f, max + 1, UINT64_MAX));
	return (max < UINT64_MAX && fit_run(f, max + 1, UINT64_MAX)) ||
	       vtn_find(root, f) || (min > 0 && fit_run(f, 0, min - 1));
}

/*
 * The search reads many paths, and what it reads of them must be one
 * state: a kept ancestor's gap[] and top change in place before the child
 * pointer is stored, and a reader that loaded an old root shares internal
 * nodes with the new one, so it would see later commits below them. It
 * validates with the commit sequence count and searches again if a commit
 * intervened. (What an invalid attempt reads is still memory of the tree
 * that RCU keeps alive; a torn answer is only discarded.)
 */
int vt_find_free(const struct vt *vt, uint64_t lo, uint64_t hi, uint64_t size,
		 uint64_t align, enum vt_dir dir, uint64_t *out)
{
	struct vt_fit f;
	const struct vtn *root;
	unsigned long seq;
	unsigned tries;
	bool found;

	if (!vt || !out || size == 0 || lo > hi || align == 0 ||
	    (align & (align - 1)) || (dir != VT_LOWEST && dir != VT_HIGHEST))
		return -EINVAL;
	for (tries = 0; tries < VT_READ_TRIES; tries++) {
		f = (struct vt_fit){.lo = lo,
				    .hi = hi,
				    .size_m1 = size - 1,
				    .mask = align - 1,
				    .dir = dir};
		seq = vt_read_begin(vt);
		root = rcu_dereference(vt->root);
#ifdef VMAD_TEST_HOOKS
		if (vt_test_read_root)
			vt_test_read_root(vt);
#endif
		found = find_free_in(root, &f);
		if (vt_read_retry(vt, seq))
			continue;
		if (!found)
			return -ENOMEM;
		*out = f.out;
		return 0;
	}
	return -EAGAIN;
}

/* ------------------------------------------------------------------ */
/* Transaction bookkeeping. Context: Writer.                          */

static int txn_fail(struct vt_txn *txn, int err)
{
	if (!txn->err)
		txn->err = err;
	return txn->err;
}

/* ------------------------------------------------------------------ */
/* Recycling of nodes and batches.                                    */

/* Push @node on the free list at @head. Context: Any context. */
static void free_push(struct vt_free_node **head, struct vt_free_node *node)
{
	struct vt_free_node *old = uatomic_read(head), *seen;

	for (;;) {
		node->next = old;
		seen = uatomic_cmpxchg(head, old, node);
		if (seen == old)
			return;
		old = seen;
	}
}

/*
 * Pop from the free list at @head. Only one thread may pop at a time (the
 * writer), so a node cannot be popped and pushed back between our read of
 * it and the exchange (no ABA).
 * Context: Writer.
 */
static struct vt_free_node *free_pop(struct vt_free_node **head)
{
	struct vt_free_node *old = uatomic_read(head), *seen;

	while (old) {
		seen = uatomic_cmpxchg(head, old, CMM_LOAD_SHARED(old->next));
		if (seen == old)
			return old;
		old = seen;
	}
	return NULL;
}

/*
 * Recycling. A commit's batch carries the nodes it replaced through the
 * grace period; the RCU callback then pushes the whole batch (with the
 * node pointers in it) on vt->reclaimed, without touching the nodes. The
 * writer drains one such batch at a time (vt->spare) and keeps emptied
 * batches for its next commits (vt->empty). Nodes a transaction allocated
 * and dropped again never became visible and go to vt->local at once.
 *
 * In sanitizer builds a node is poisoned (vma_asan.h) while it waits for
 * reuse, from the end of its grace period until vt_reuse_node() hands it
 * out (a node on vt->local keeps only its link word readable), so a
 * reader that reaches a node after its grace period is reported.
 */

/* Keep a never-published node for reuse. Context: Writer. */
static void vt_recycle_node(struct vt *vt, struct vtn *n)
{
	struct vt_free_node *f = (struct vt_free_node *)n;

	f->next = vt->local;
	vt->local = f;
	vma_poison((char *)n + sizeof(*f), VTN_SIZE - sizeof(*f));
}

/* Keep an emptied batch for a later commit. Context: Writer. */
static void vt_recycle_batch(struct vt *vt, struct vt_batch *b)
{
	if (b->cap != VT_BATCH_CAP) {
		vma_free(b);
		return;
	}
	b->free.next = vt->empty;
	vt->empty = &b->free;
}

/* A node to reuse, or NULL. Context: Writer (the only thread that pops). */
static struct vtn *vt_reuse_node(struct vt *vt)
{
	struct vt_free_node *f = vt->local;
	struct vt_batch *b;

	if (f) {
		vt->local = f->next;
		vma_unpoison(f, VTN_SIZE);
		return (struct vtn *)f;
	}
	for (;;) {
		b = vt->spare;
		if (b && b->nr) {
			CMM_STORE_SHARED(vt->nr_reused, vt->nr_reused + 1);
			b->nr--;
			/*
			 * Recycled nodes are cold, and a commit takes a few
			 * in a row: fetch the one VT_PREFETCH_AHEAD further.
			 */
			if (b->nr >= VT_PREFETCH_AHEAD)
				vtn_prefetch_write(
					b->item[b->nr - VT_PREFETCH_AHEAD].ptr);
			vma_unpoison(b->item[b->nr].ptr, VTN_SIZE);
			return b->item[b->nr].ptr;
		}
		if (b)
			vt_recycle_batch(vt, b);
		f = vt->ready;
		if (!f) /* take everything reclaimed so far at once */
			f = uatomic_xchg(&vt->reclaimed, NULL);
		if (!f) {
			vt->spare = NULL;
			return NULL;
		}
		vt->ready = f->next;
		b = vt->spare = caa_container_of(f, struct vt_batch, free);
		/* The next batch's header, and this one's first nodes. */
		if (vt->ready)
			__builtin_prefetch(vt->ready, 1);
		for (unsigned k = 1; k <= VT_PREFETCH_AHEAD && k <= b->nr; k++)
			vtn_prefetch_write(b->item[b->nr - k].ptr);
	}
}

/*
 * Hand batch @b (items of committed transactions only) to the reclaimer.
 * Context: Writer, after vt__reclaim_prepare() succeeded for its items.
 */
static void vt_hand_over(struct vt *vt, struct vt_batch *b)
{
	vt->nr_batches++;
	vt__reclaim_enqueue(b);
}

/*
 * Make room for @more items in the transaction's reclaim batch. If the
 * batch is the tree's open one, earlier commits' items (below batch_base)
 * go to the reclaimer now and the transaction's own move to a new batch:
 * items of a transaction not yet committed may still be reachable and
 * must not be handed over before the commit.
 */
static int txn_batch_reserve(struct vt_txn *txn, size_t more)
{
	struct vt_batch *b = txn->batch, *nb = NULL;
	size_t cap, base = txn->batch_base, have = b ? b->nr - base : 0;

	if (b && b->nr + more <= b->cap)
		return 0;
	if (vma__alloc_fails())
		return txn_fail(txn, -ENOMEM);
	cap = VT_BATCH_CAP;
	while (cap < have + more)
		cap *= 2;
	if (cap == VT_BATCH_CAP && txn->vt->empty) {
		nb = caa_container_of(txn->vt->empty, struct vt_batch, free);
		txn->vt->empty = nb->free.next;
	}
	if (!nb) {
		nb = vma_alloc(sizeof(*nb) + cap * sizeof(nb->item[0]));
		if (!nb)
			return txn_fail(txn, -ENOMEM);
	}
	nb->vt = txn->vt;
	nb->cap = cap;
	nb->nr = have;
	if (b) {
		memcpy(nb->item, b->item + base, have * sizeof(b->item[0]));
		if (base) {
			/* Committed items: the reclaimer already runs. */
			b->nr = base;
			vt_hand_over(txn->vt, b);
		} else {
			vt_recycle_batch(txn->vt, b);
		}
	}
	txn->batch = nb;
	txn->batch_base = 0;
	return 0;
}

static struct vtn *vtn_alloc(struct vt_txn *txn, bool leaf)
{
	struct vt *vt = txn->vt;
	struct vtn *n;

	if (txn->nr_fresh == txn->cap_fresh) {
		size_t cap = txn->cap_fresh ? txn->cap_fresh * 2 : 64;
		struct vtn **buf = vma_alloc(cap * sizeof(*buf));

		if (!buf) {
			txn_fail(txn, -ENOMEM);
			return NULL;
		}
		if (txn->nr_fresh)
			memcpy(buf, txn->fresh, txn->nr_fresh * sizeof(*buf));
		vma_free(txn->fresh);
		txn->fresh = vt->fresh_buf = buf;
		txn->cap_fresh = vt->fresh_cap = cap;
	}
	if (vma__alloc_fails()) {
		txn_fail(txn, -ENOMEM);
		return NULL;
	}
	n = vt_reuse_node(vt);
	if (!n)
		n = vtn_mem_alloc();
	if (!n) {
		txn_fail(txn, -ENOMEM);
		return NULL;
	}
	n->h.nr = 0;
	n->h.leaf = leaf;
	n->h.fresh = 1;
	n->h.pad = 0;
	n->h.fresh_idx = (uint32_t)txn->nr_fresh;
	txn->fresh[txn->nr_fresh++] = n;
	txn->delta_nodes++;
	txn->delta_leaves += leaf;
	return n;
}

/*
 * Drop @n from the tree being built: free it now if only this transaction
 * ever saw it, else reclaim it after a grace period. The caller reserved
 * one batch slot beforehand (so this cannot fail).
 */
static void vtn_discard(struct vt_txn *txn, struct vtn *n)
{
	txn->delta_nodes--;
	txn->delta_leaves -= n->h.leaf;
	if (n->h.fresh) {
		struct vtn *moved = txn->fresh[--txn->nr_fresh];

		moved->h.fresh_idx = n->h.fresh_idx;
		txn->fresh[n->h.fresh_idx] = moved;
		vt_recycle_node(txn->vt, n);
		return;
	}
	txn->batch->item[txn->batch->nr++] = (struct vt_retired){n, NULL};
}

/*
 * Copy @src's keys and slots into @dst, which keeps its own header but for
 * the count. Whole aligned lines: the compiler turned the 504-byte copy
 * that skipped the header into rep movsq, with its start-up cost and
 * misaligned by 8, about 70% of a copy-on-write.
 */
static void vtn_copy(struct vtn *dst, const struct vtn *src)
{
	struct vtn_hdr h = dst->h;

	vtn_copy_lines(dst, src);
	h.nr = src->h.nr;
	dst->h = h;
}

/* Return a writable version of @n (itself if fresh). */
static struct vtn *vtn_cow(struct vt_txn *txn, struct vtn *n)
{
	struct vtn *c;

	if (n->h.fresh)
		return n;
	if (txn_batch_reserve(txn, 1))
		return NULL;
	c = vtn_alloc(txn, n->h.leaf);
	if (!c)
		return NULL;
	vtn_copy(c, n);
	if (!c->h.leaf) /* exact again in the copy (struct vtn_int) */
		c->i.pivot[c->h.nr - 1] = n->i.top;
	vtn_discard(txn, n);
	return c;
}

/* Refresh the keys parent @p keeps for its child @i. */
static inline void vtn_refresh(struct vtn *p, unsigned i)
{
	const struct vtn *c = p->i.child[i];

	p->i.pivot[i] = vtn_max_key(c);
	p->i.min[i] = vtn_min_key(c);
	p->i.gap[i] = vtn_inner_gap(c);
}

/* Move @cnt elements from @src[@si] to @dst[@di]; same kind, no overlap
 * between different nodes (memmove handles shifts within one node). */
static void vtn_move(struct vtn *dst, unsigned di, const struct vtn *src,
		     unsigned si, unsigned cnt)
{
	if (!cnt)
		return;
	if (dst->h.leaf) {
		memmove(&dst->l.last[di], &src->l.last[si], cnt * 8);
		memmove(&dst->l.kv[di], &src->l.kv[si], cnt * 16);
	} else {
		memmove(&dst->i.pivot[di], &src->i.pivot[si], cnt * 8);
		memmove(&dst->i.min[di], &src->i.min[si], cnt * 8);
		memmove(&dst->i.child[di], &src->i.child[si], cnt * 8);
		memmove(&dst->i.gap[di], &src->i.gap[si], cnt * 8);
	}
}

/* An element of either node kind, to insert into a node. */
struct vt_elem {
	uint64_t last, first; /* leaf: range; internal: pivot, min */
	void *ptr;	      /* leaf: slot; internal: child */
	uint64_t gap;	      /* internal only */
};

static void vtn_put(struct vtn *n, unsigned pos, const struct vt_elem *e)
{
	if (n->h.leaf) {
		n->l.last[pos] = e->last;
		n->l.kv[pos].first = e->first;
		n->l.kv[pos].slot = e->ptr;
	} else {
		n->i.pivot[pos] = e->last;
		n->i.min[pos] = e->first;
		n->i.child[pos] = e->ptr;
		n->i.gap[pos] = e->gap;
	}
}

/* Insert @e at @pos into @n, which has room. */
static void vtn_insert_at(struct vtn *n, unsigned pos, const struct vt_elem *e)
{
	vtn_move(n, pos + 1, n, pos, n->h.nr - pos);
	vtn_put(n, pos, e);
	n->h.nr++;
}

static void vtn_remove_at(struct vtn *n, unsigned pos)
{
	vtn_move(n, pos, n, pos + 1, n->h.nr - pos - 1);
	n->h.nr--;
}

/*
 * A path from the root to a leaf, all of it fresh (writable). node[0] is
 * the root; idx[d] is the index of node[d + 1] in node[d].
 */
struct vt_path {
	struct vtn *node[VT_MAX_DEPTH];
	unsigned idx[VT_MAX_DEPTH];
	unsigned depth; /* number of nodes on the path */
};

/*
 * Copy-on-write walk from the root to the leaf for @key, choosing at each
 * level the first child whose highest key is >= @key (else the last).
 */
static int path_cow(struct vt_txn *txn, uint64_t key, struct vt_path *path)
{
	struct vtn *n;
	unsigned d = 0;

	n = vtn_cow(txn, txn->root);
	if (!n)
		return txn->err;
	txn->root = n;
	for (;;) {
		unsigned i;
		struct vtn *c;

		path->node[d] = n;
		if (n->h.leaf)
			break;
		i = lower_bound(n->i.pivot, n->h.nr, key);
		if (i == n->h.nr)
			i = n->h.nr - 1;
		c = vtn_cow(txn, n->i.child[i]);
		if (!c)
			return txn->err;
		n->i.child[i] = c;
		path->idx[d] = i;
		n = c;
		if (++d >= VT_MAX_DEPTH)
			return txn_fail(txn, -EOVERFLOW);
	}
	path->depth = d + 1;
	return 0;
}

/* Copy elements [from, from + cnt) of @n to @tmp, with @e inserted at
 * position @pos of the result when @e is non-NULL. Return the count. */
static unsigned vtn_gather(struct vt_elem *tmp, const struct vtn *n,
			   unsigned from, unsigned cnt, unsigned pos,
			   const struct vt_elem *e)
{
	unsigned k, out = 0;

	for (k = from; k < from + cnt; k++) {
		if (e && out == pos)
			tmp[out++] = *e;
		if (n->h.leaf)
			tmp[out++] =
				(struct vt_elem){n->l.last[k], n->l.kv[k].first,
						 n->l.kv[k].slot, 0};
		else
			tmp[out++] =
				(struct vt_elem){n->i.pivot[k], n->i.min[k],
						 n->i.child[k], n->i.gap[k]};
	}
	if (e && out == pos)
		tmp[out++] = *e;
	return out;
}

/* Make @n hold exactly tmp[from, from + cnt). */
static void vtn_scatter(struct vtn *n, const struct vt_elem *tmp, unsigned from,
			unsigned cnt)
{
	unsigned k;

	for (k = 0; k < cnt; k++)
		vtn_put(n, k, &tmp[from + k]);
	n->h.nr = cnt;
}

/*
 * Two-into-three split (as in a B*-tree): @n (full, path level @d > 0) and
 * a full sibling share their elements and @e with a new node, each about
 * two thirds full. The new node always lands right after @n in the
 * parent, so it is the *carry that path_fixup links in.
 */
static int vtn_split3(struct vt_txn *txn, struct vt_path *path, unsigned d,
		      unsigned pos, const struct vt_elem *e, struct vtn **carry)
{
	struct vtn *n = path->node[d], *p = path->node[d - 1], *s, *t;
	unsigned i = path->idx[d - 1], si = i > 0 ? i - 1 : i + 1;
	struct vt_elem tmp[2 * VT_LEAF_CAP + 1];
	unsigned total, a, b;

	s = vtn_cow(txn, p->i.child[si]);
	if (!s)
		return txn->err;
	p->i.child[si] = s;
	t = vtn_alloc(txn, n->h.leaf);
	if (!t)
		return txn->err;
	if (si < i) {
		/* s | n | t */
		total = vtn_gather(tmp, s, 0, s->h.nr, 0, NULL);
		total += vtn_gather(tmp + total, n, 0, n->h.nr, pos, e);
		a = total / 3;
		b = (total - a) / 2;
		vtn_scatter(s, tmp, 0, a);
		vtn_scatter(n, tmp, a, b);
		vtn_scatter(t, tmp, a + b, total - a - b);
	} else {
		/* n | t | s */
		total = vtn_gather(tmp, n, 0, n->h.nr, pos, e);
		total += vtn_gather(tmp + total, s, 0, s->h.nr, 0, NULL);
		a = total / 3;
		b = (total - a) / 2;
		vtn_scatter(n, tmp, 0, a);
		vtn_scatter(t, tmp, a, b);
		vtn_scatter(s, tmp, a + b, total - a - b);
	}
	vtn_refresh(p, si);
	*carry = t;
	return 0;
}

/*
 * Insert @e at @pos into @n (path level @d) which is full. Prefer moving
 * one element to a sibling with room (keeps nodes dense); otherwise split
 * and return the new right sibling in *@carry.
 */
static int vtn_overflow(struct vt_txn *txn, struct vt_path *path, unsigned d,
			unsigned pos, const struct vt_elem *e,
			struct vtn **carry)
{
	struct vtn *n = path->node[d], *p, *s;
	unsigned cap = vtn_cap(n), i, total, left;
	struct vt_elem tmp[VT_LEAF_CAP + 1];

	*carry = NULL;
	if (d > 0) {
		p = path->node[d - 1];
		i = path->idx[d - 1];
		if (i > 0 && vtn_nr(p->i.child[i - 1]) < cap) {
			s = vtn_cow(txn, p->i.child[i - 1]);
			if (!s)
				return txn->err;
			p->i.child[i - 1] = s;
			if (pos == 0) {
				vtn_insert_at(s, s->h.nr, e);
			} else {
				vtn_move(s, s->h.nr, n, 0, 1);
				s->h.nr++;
				vtn_remove_at(n, 0);
				vtn_insert_at(n, pos - 1, e);
			}
			vtn_refresh(p, i - 1);
			return 0;
		}
		if (i + 1 < p->h.nr && vtn_nr(p->i.child[i + 1]) < cap) {
			s = vtn_cow(txn, p->i.child[i + 1]);
			if (!s)
				return txn->err;
			p->i.child[i + 1] = s;
			if (pos == n->h.nr) {
				vtn_insert_at(s, 0, e);
			} else {
				vtn_move(s, 1, s, 0, s->h.nr);
				vtn_move(s, 0, n, n->h.nr - 1, 1);
				s->h.nr++;
				n->h.nr--;
				vtn_insert_at(n, pos, e);
			}
			vtn_refresh(p, i + 1);
			return 0;
		}
	}

	if (d > 0)
		return vtn_split3(txn, path, d, pos, e, carry);

	/*
	 * The root splits in two. Appending at the end (or the front) keeps
	 * the old side nearly full and gives the new node its minimum.
	 */
	s = vtn_alloc(txn, n->h.leaf);
	if (!s)
		return txn->err;
	total = vtn_gather(tmp, n, 0, n->h.nr, pos, e);
	if (pos == cap)
		left = total - vtn_min_fill(n);
	else if (pos == 0)
		left = vtn_min_fill(n);
	else
		left = total / 2;
	vtn_scatter(n, tmp, 0, left);
	vtn_scatter(s, tmp, left, total - left);
	*carry = s;
	return 0;
}

/*
 * Fix @n (path level @d > 0) holding fewer than its minimum: borrow one
 * element from a sibling, or merge with it.
 */
static int vtn_underflow(struct vt_txn *txn, struct vt_path *path, unsigned d)
{
	struct vtn *n = path->node[d], *p = path->node[d - 1], *s, *l, *r;
	unsigned i = path->idx[d - 1], cap = vtn_cap(n), li, k;

	if (p->h.nr < 2)
		return 0; /* the parent's own fix-up handles it */
	li = i > 0 ? i - 1 : i + 1;
	s = vtn_cow(txn, p->i.child[li]);
	if (!s)
		return txn->err;
	p->i.child[li] = s;
	if (txn_batch_reserve(txn, 1))
		return txn->err;

	if (n->h.nr + s->h.nr <= cap) {
		/* Merge the right node of the pair into the left one. */
		if (li < i) {
			l = s;
			r = n;
		} else {
			l = n;
			r = s;
			li = i;
		}
		vtn_move(l, l->h.nr, r, 0, r->h.nr);
		l->h.nr += r->h.nr;
		r->h.nr = 0;
		vtn_discard(txn, r);
		vtn_remove_at(p, li + 1);
		vtn_refresh(p, li);
		return 0;
	}
	/*
	 * Borrow half the difference: both end with at least (cap + 1) / 2,
	 * however far below its minimum @n was (an erase can empty most of
	 * a leaf in one step).
	 */
	k = (s->h.nr - n->h.nr) / 2;
	if (li < i) {
		vtn_move(n, k, n, 0, n->h.nr);
		vtn_move(n, 0, s, s->h.nr - k, k);
	} else {
		vtn_move(n, n->h.nr, s, 0, k);
		vtn_move(s, 0, s, k, s->h.nr - k);
	}
	n->h.nr += k;
	s->h.nr -= k;
	vtn_refresh(p, li);
	vtn_refresh(p, i);
	return 0;
}

/*
 * After a change to the leaf at the end of @path, walk back to the root:
 * insert split siblings, fix underflows, refresh keys. @carry is a new
 * right sibling of the leaf to link in (or NULL).
 */
static int path_fixup(struct vt_txn *txn, struct vt_path *path,
		      struct vtn *carry)
{
	int d;

	for (d = (int)path->depth - 1; d > 0; d--) {
		struct vtn *n = path->node[d], *p = path->node[d - 1];
		unsigned i = path->idx[d - 1];

		if (n->h.nr == 0) {
			/* Only possible for a node emptied by erase. */
			if (txn_batch_reserve(txn, 1))
				return txn->err;
			vtn_discard(txn, n);
			vtn_remove_at(p, i);
			path->node[d] = NULL;
			continue;
		}
		vtn_refresh(p, i);
		if (carry) {
			struct vt_elem e = {vtn_max_key(carry),
					    vtn_min_key(carry), carry,
					    vtn_inner_gap(carry)};
			struct vtn *up = NULL;

			if (p->h.nr < VT_INT_CAP)
				vtn_insert_at(p, i + 1, &e);
			else if (vtn_overflow(txn, path, d - 1, i + 1, &e, &up))
				return txn->err;
			carry = up;
		} else if (n->h.nr < vtn_min_fill(n)) {
			if (vtn_underflow(txn, path, d))
				return txn->err;
		}
	}

	/* The root. */
	if (carry) {
		struct vtn *old = path->node[0], *root = vtn_alloc(txn, false);
		struct vt_elem e;

		if (!root)
			return txn->err;
		e = (struct vt_elem){vtn_max_key(old), vtn_min_key(old), old,
				     vtn_inner_gap(old)};
		vtn_insert_at(root, 0, &e);
		e = (struct vt_elem){vtn_max_key(carry), vtn_min_key(carry),
				     carry, vtn_inner_gap(carry)};
		vtn_insert_at(root, 1, &e);
		txn->root = root;
		txn->delta_height++;
		return 0;
	}
	for (;;) {
		struct vtn *root = txn->root;

		if (root->h.nr == 0) {
			if (txn_batch_reserve(txn, 1))
				return txn->err;
			vtn_discard(txn, root);
			txn->root = NULL;
			txn->delta_height--;
			break;
		}
		if (root->h.leaf || root->h.nr > 1)
			break;
		/* An internal root with one child: the child becomes root. */
		if (txn_batch_reserve(txn, 1))
			return txn->err;
		txn->root = root->i.child[0];
		vtn_discard(txn, root);
		txn->delta_height--;
	}
	return 0;
}

/* Insert [first, last] -> ptr into a free range. */
static int txn_insert(struct vt_txn *txn, uint64_t first, uint64_t last,
		      void *ptr)
{
	struct vt_path path;
	struct vt_elem e = {last, first, ptr, 0};
	struct vtn *leaf, *carry = NULL;
	unsigned pos;

	if (!txn->root) {
		leaf = vtn_alloc(txn, true);
		if (!leaf)
			return txn->err;
		vtn_insert_at(leaf, 0, &e);
		txn->root = leaf;
		txn->delta_entries++;
		txn->delta_height++;
		return 0;
	}
	if (path_cow(txn, first, &path))
		return txn->err;
	leaf = path.node[path.depth - 1];
	pos = lower_bound(leaf->l.last, leaf->h.nr, first);
	if (leaf->h.nr < VT_LEAF_CAP)
		vtn_insert_at(leaf, pos, &e);
	else if (vtn_overflow(txn, &path, path.depth - 1, pos, &e, &carry))
		return txn->err;
	txn->delta_entries++;
	return path_fixup(txn, &path, carry);
}

/*
 * Apply one step of erasing [first, last] to the entry [a, b] it overlaps
 * (found at key @a): trim the part outside the range, or remove it
 * together with every following entry of the same leaf that lies inside
 * the range (one fix-up for all of them). *@done is set to the highest
 * key handled.
 */
static int txn_erase_one(struct vt_txn *txn, uint64_t a, uint64_t b,
			 uint64_t first, uint64_t last, uint64_t *done)
{
	struct vt_path path;
	struct vtn *leaf;
	unsigned pos, end;

	if (path_cow(txn, a, &path))
		return txn->err;
	leaf = path.node[path.depth - 1];
	pos = lower_bound(leaf->l.last, leaf->h.nr, a);
	*done = b;
	if (a < first) {
		leaf->l.last[pos] = first - 1;
	} else if (b > last) {
		leaf->l.kv[pos].first = last + 1;
	} else {
		for (end = pos + 1;
		     end < leaf->h.nr && leaf->l.last[end] <= last; end++)
			;
		*done = leaf->l.last[end - 1];
		vtn_move(leaf, pos, leaf, end, leaf->h.nr - end);
		leaf->h.nr -= end - pos;
		txn->delta_entries -= end - pos;
	}
	return path_fixup(txn, &path, NULL);
}

static int txn_erase_range(struct vt_txn *txn, uint64_t first, uint64_t last)
{
	uint64_t a, b, done;
	void *p;

	for (;;) {
		p = walk_next(txn->root, first, &a, &b);
		if (!p || a > last)
			return 0;
		if (a < first && b > last) {
			/* Inside one entry: keep both ends. */
			if (txn_erase_one(txn, a, b, first, last, &done))
				return txn->err;
			return txn_insert(txn, last + 1, b, p);
		}
		if (txn_erase_one(txn, a, b, first, last, &done))
			return txn->err;
		if (done >= last)
			return 0;
		first = done + 1;
	}
}

/*
 * Lowest key of the subtree after the leaf at the end of @path, or false
 * if that leaf is the last of the tree.
 */
static bool path_next_min(const struct vt_path *path, uint64_t *min)
{
	int d;

	for (d = (int)path->depth - 2; d >= 0; d--) {
		const struct vtn *p = path->node[d];

		if (path->idx[d] + 1 < p->h.nr) {
			*min = p->i.min[path->idx[d] + 1];
			return true;
		}
	}
	return false;
}

/*
 * Store @ptr (NULL: erase) over [first, last] in one leaf, if every entry
 * the range overlaps lies in the leaf that @first leads to and the result
 * fits in it: the usual case of mmap, munmap, MAP_FIXED over a few VMAs and
 * the pieces of a split. One copy-on-write walk and one fix-up, instead of
 * a walk and a fix-up per entry removed or trimmed and another for the
 * insert. Sets *@done if it handled the store.
 */
static int txn_store_local(struct vt_txn *txn, uint64_t first, uint64_t last,
			   void *ptr, bool *done, bool again)
{
	struct vt_path path;
	struct vt_elem put[3];
	struct vtn *leaf;
	unsigned pos, end, nr, cnt = 0;
	uint64_t next_min;

	if (path_cow(txn, first, &path))
		return txn->err;
	leaf = path.node[path.depth - 1];
	nr = leaf->h.nr;
	pos = lower_bound(leaf->l.last, nr, first);
	for (end = pos; end < nr && leaf->l.kv[end].first <= last; end++)
		;
	/*
	 * Entries of later leaves overlap too (a MAP_FIXED across a leaf
	 * boundary): erase that part first; then the rest is this leaf's.
	 */
	if (end == nr && path_next_min(&path, &next_min) && next_min <= last) {
		if (again)
			return 0;
		if (txn_erase_range(txn, leaf->l.last[nr - 1] + 1, last))
			return txn->err;
		return txn_store_local(txn, first, last, ptr, done, true);
	}
	if (end > pos && leaf->l.kv[pos].first < first)
		put[cnt++] = (struct vt_elem){first - 1, leaf->l.kv[pos].first,
					      leaf->l.kv[pos].slot, 0};
	if (ptr)
		put[cnt++] = (struct vt_elem){last, first, ptr, 0};
	if (end > pos && leaf->l.last[end - 1] > last)
		put[cnt++] = (struct vt_elem){leaf->l.last[end - 1], last + 1,
					      leaf->l.kv[end - 1].slot, 0};
	if (nr - (end - pos) + cnt > VT_LEAF_CAP)
		return 0; /* it would split the leaf: the general path */
	*done = true;
	if (end - pos == 1 && cnt == 1 && ptr &&
	    leaf->l.kv[pos].first == first && leaf->l.last[pos] == last) {
		/* The same extent: only the pointer changes. */
		leaf->l.kv[pos].slot = ptr;
		return 0;
	}
	if (end - pos == 0 && cnt == 0)
		return 0; /* erasing a free range */
	vtn_move(leaf, pos + cnt, leaf, end, nr - end);
	for (unsigned k = 0; k < cnt; k++)
		vtn_put(leaf, pos + k, &put[k]);
	leaf->h.nr = (uint8_t)(nr - (end - pos) + cnt);
	txn->delta_entries += (int64_t)cnt - (int64_t)(end - pos);
	return path_fixup(txn, &path, NULL);
}

/* ------------------------------------------------------------------ */
/* Public writer API. Context: Writer.                                */

void vt_txn_begin(struct vt_txn *txn, struct vt *vt)
{
	memset(txn, 0, sizeof(*txn));
	txn->vt = vt;
	if (!vt) {
		txn->err = -EINVAL;
		return;
	}
	txn->root = vt->root;
	txn->fresh = vt->fresh_buf;
	txn->cap_fresh = vt->fresh_cap;
	txn->batch = vt->open;
	txn->batch_base = vt->open ? vt->open->nr : 0;
	vt->open = NULL;
}

int vt_txn_store(struct vt_txn *txn, uint64_t first, uint64_t last, void *ptr)
{
	bool done = false;

	if (!txn)
		return -EINVAL;
	if (txn->err)
		return txn->err;
	if (first > last)
		return -EINVAL;
	txn->nr_ops++;
	if (txn->root && txn_store_local(txn, first, last, ptr, &done, false))
		return txn->err;
	if (done)
		return 0;
	if (txn_erase_range(txn, first, last))
		return txn->err;
	if (ptr)
		return txn_insert(txn, first, last, ptr);
	return 0;
}

int vt_txn_erase(struct vt_txn *txn, uint64_t first, uint64_t last)
{
	return vt_txn_store(txn, first, last, NULL);
}

int vt_txn_defer_free(struct vt_txn *txn, void *ptr, vt_free_fn fn)
{
	if (!txn || !fn)
		return -EINVAL;
	if (txn->err)
		return txn->err;
	if (txn_batch_reserve(txn, 1))
		return txn->err;
	txn->batch->item[txn->batch->nr++] = (struct vt_retired){ptr, fn};
	return 0;
}

/* Readers are done with everything in the batch. Context: reclaimer. */
void vt__batch_reclaim(struct vt_batch *b)
{
	struct vt *vt = b->vt;
	size_t k, nodes = 0;

	for (k = 0; k < b->nr; k++) {
		if (b->item[k].fn) {
			b->item[k].fn(b->item[k].ptr);
		} else {
			vma_poison(b->item[k].ptr, VTN_SIZE);
			b->item[nodes++].ptr = b->item[k].ptr;
		}
	}
	b->nr = nodes;
	if (vt->nr_recycled - CMM_LOAD_SHARED(vt->nr_reused) + nodes >
	    VT_FREE_LIMIT) {
		for (k = 0; k < nodes; k++)
			vtn_mem_free(b->item[k].ptr);
		b->nr = nodes = 0;
	}
	/* Even an empty batch goes back: the writer reuses it. */
	CMM_STORE_SHARED(vt->nr_recycled, vt->nr_recycled + nodes);
	free_push(&vt->reclaimed, &b->free);
}

void vt_txn_abort(struct vt_txn *txn)
{
	size_t k;

	if (!txn || !txn->vt)
		return;
	for (k = 0; k < txn->nr_fresh; k++)
		vt_recycle_node(txn->vt, txn->fresh[k]);
	txn->nr_fresh = 0;
	if (txn->batch) {
		/*
		 * What this transaction added is still published: drop it.
		 * Earlier commits' items stay in the open batch.
		 */
		txn->batch->nr = txn->batch_base;
		if (txn->batch_base && !txn->vt->open)
			txn->vt->open = txn->batch;
		else if (txn->batch_base) /* another transaction left one */
			vt_hand_over(txn->vt, txn->batch);
		else
			vt_recycle_batch(txn->vt, txn->batch);
	}
	txn->batch = NULL;
	txn->root = txn->vt->root;
	txn->err = -ECANCELED;
}

/*
 * Publishing below the root (the default; vt_set_in_place(vt, false)
 * turns it off, and then no node a reader can reach is ever modified). A
 * transaction builds a fresh path from a new root, but often the new root and
 * the nodes below it differ from the published ones only in the one child
 * pointer that leads to the change (an mmap, munmap or mprotect inside one
 * leaf). Then the commit stores that child into the published parent instead,
 * with one rcu_assign_pointer(), keeps the published ancestors and drops their
 * never-published copies at once. Readers walking the kept ancestors keep
 * their lines cached, and the ancestors do not travel through a grace
 * period to come back cold.
 *
 * Besides the child pointer, a kept ancestor may change only in what
 * lookups never read:
 * - gap[], read only by vt_find_free();
 * - top, the highest key (struct vtn_int): an mmap or munmap at the top of
 *   the tree changes it on every node of the rightmost spine. pivot[nr - 1]
 *   stays as it was: walks never read it.
 * Everything else (the count, the other pivots, min[], which backward
 * walks read) must be equal, or the fresh node itself is published one
 * level up. These stores happen before the child pointer's, and a reader
 * on an older root shares the kept nodes with the new one: a reader of
 * several paths could combine states, which is why vt_find_free() (the
 * one reader of gap[] and top) validates against the sequence count that
 * vt_txn_commit() keeps odd around them.
 */
struct vt_pub {
	struct vtn *old[VT_MAX_DEPTH];	/* kept published ancestors */
	struct vtn *copy[VT_MAX_DEPTH]; /* their fresh copies, dropped */
	unsigned idx[VT_MAX_DEPTH];	/* the child that changes */
	uint32_t gaps[VT_MAX_DEPTH];	/* gap[] slots to store in place */
	unsigned depth;			/* ancestors kept */
};

/*
 * May @old stay published with only its child *@idx replaced by @copy's?
 * *@gaps receives the gap[] slots that differ. Context: Writer.
 */
static bool vtn_keepable(const struct vtn *old, const struct vtn *copy,
			 unsigned *idx, uint32_t *gaps)
{
	unsigned nr = old->h.nr, i;
	struct vtn_diff d;

	if (old->h.leaf || copy->h.leaf || !copy->h.fresh || copy->h.nr != nr)
		return false;
	vtn_diff(old, copy, &d);
	/* pivot[nr - 1] is the copy's top; the old one may be stale. */
	d.pivot &= ~(1u << (nr - 1));
	/* Exactly one child differs, and it is this transaction's. */
	if (d.pivot || d.min || !d.child || (d.child & (d.child - 1)))
		return false;
	i = (unsigned)__builtin_ctz(d.child);
	if (!copy->i.child[i]->h.fresh)
		return false;
	*idx = i;
	*gaps = d.gap;
	return true;
}

/* Remove @n from the transaction's own batch items. Context: Writer. */
static bool txn_unretire(struct vt_txn *txn, const struct vtn *n)
{
	struct vt_batch *b = txn->batch;
	size_t k;

	for (k = b ? txn->batch_base : 0; b && k < b->nr; k++) {
		if (b->item[k].ptr == n && !b->item[k].fn) {
			b->item[k] = b->item[--b->nr];
			return true;
		}
	}
	return false;
}

/*
 * Find how deep the commit can publish (fills @pub), take the kept
 * ancestors back from the batch and their copies out of the fresh list,
 * and store what changes in the kept ancestors' writer-only fields.
 * Context: Writer, before the fresh marks are cleared.
 */
static void txn_plan_publish(struct vt_txn *txn, struct vt_pub *pub)
{
	struct vtn *old = txn->vt->root, *copy = txn->root;
	uint32_t gaps;
	unsigned d, k;

	pub->depth = 0;
	while (txn->vt->in_place && old && copy &&
	       pub->depth < VT_MAX_DEPTH - 1) {
		unsigned i;

		if (!vtn_keepable(old, copy, &i, &pub->gaps[pub->depth]))
			break;
		pub->old[pub->depth] = old;
		pub->copy[pub->depth] = copy;
		pub->idx[pub->depth++] = i;
		old = old->i.child[i];
		copy = copy->i.child[i];
	}
	for (d = 0; d < pub->depth; d++) {
		if (!txn_unretire(txn, pub->old[d])) {
			/* Not retired: keep the plain publish of the root. */
			while (d--)
				txn->batch->item[txn->batch->nr++] =
					(struct vt_retired){pub->old[d], NULL};
			pub->depth = 0;
			return;
		}
	}
	for (d = 0; d < pub->depth; d++) {
		struct vtn *c = pub->copy[d], *o = pub->old[d];
		struct vtn *moved = txn->fresh[--txn->nr_fresh];
		uint64_t top = c->i.pivot[c->h.nr - 1];

		moved->h.fresh_idx = c->h.fresh_idx;
		txn->fresh[c->h.fresh_idx] = moved;
		for (gaps = pub->gaps[d]; gaps; gaps &= gaps - 1) {
			k = (unsigned)__builtin_ctz(gaps);
			CMM_STORE_SHARED(o->i.gap[k], c->i.gap[k]);
		}
		if (o->i.top != top)
			CMM_STORE_SHARED(o->i.top, top);
	}
}

/* Make the transaction's tree the published one. Context: Writer. */
static void txn_publish(struct vt_txn *txn, struct vt_pub *pub)
{
	struct vt *vt = txn->vt;
	unsigned d = pub->depth;

	if (!d) {
		if (txn->root != vt->root)
			rcu_assign_pointer(vt->root, txn->root);
		return;
	}
	rcu_assign_pointer(pub->old[d - 1]->i.child[pub->idx[d - 1]],
			   pub->copy[d - 1]->i.child[pub->idx[d - 1]]);
	CMM_STORE_SHARED(vt->nr_kept, vt->nr_kept + d);
	while (d--)
		vt_recycle_node(vt, pub->copy[d]);
	txn->root = vt->root;
}

int vt_txn_commit(struct vt_txn *txn)
{
	struct vt_pub pub;
	struct vt *vt;
	size_t k;
	int err;

	if (!txn || !txn->vt)
		return -EINVAL;
	vt = txn->vt;
	if (txn->err) {
		err = txn->err;
		vt_txn_abort(txn);
		return err;
	}
	if (txn->batch && txn->batch->nr) {
		err = vt__reclaim_prepare();
		if (err) {
			vt_txn_abort(txn);
			return err;
		}
	}
	vt_seq_write_begin(vt);
	txn_plan_publish(txn, &pub);
	for (k = 0; k < txn->nr_fresh; k++) {
		struct vtn *n = txn->fresh[k];

		if (!n->h.leaf && n->h.nr)
			n->i.top = n->i.pivot[n->h.nr - 1];
		n->h.fresh = 0;
	}
	txn->nr_fresh = 0;
#ifdef VMAD_TEST_HOOKS
	if (vt_test_before_publish)
		vt_test_before_publish(vt);
#endif
	txn_publish(txn, &pub);
	vt_seq_write_end(vt);
	vt->nr_entries += txn->delta_entries;
	vt->nr_nodes += txn->delta_nodes;
	vt->nr_leaves += txn->delta_leaves;
	vt->height += txn->delta_height;
	vt->nr_commits++;
	if (txn->batch && txn->batch->nr) {
		struct vt_batch *b = txn->batch;

		for (k = txn->batch_base; k < b->nr; k++)
			vt->nr_retired += b->item[k].fn == NULL;
		if (!vt->open && b->cap == VT_BATCH_CAP &&
		    b->nr + VT_BATCH_ROOM <= VT_BATCH_CAP) {
			vt->open = b; /* the next commit adds to it */
		} else {
			vt_hand_over(vt, b);
		}
	} else if (txn->batch) {
		vt_recycle_batch(vt, txn->batch);
	}
	txn->batch = NULL;
	txn->err = -ECANCELED; /* the transaction is over */
	return 0;
}

int vt_store(struct vt *vt, uint64_t first, uint64_t last, void *ptr)
{
	VT_TXN(txn, vt);
	int err;

	if (!vt)
		return -EINVAL;
	err = vt_txn_store(&txn, first, last, ptr);
	if (err) {
		vt_txn_abort(&txn);
		return err;
	}
	return vt_txn_commit(&txn);
}

int vt_erase(struct vt *vt, uint64_t first, uint64_t last)
{
	return vt_store(vt, first, last, NULL);
}

/* ------------------------------------------------------------------ */
/* Lifetime, statistics, validation.                                  */

struct vt *vt_new(void)
{
	struct vt *vt = vma_alloc_aligned(sizeof(struct vt), VTN_ALIGN);
	const char *env = getenv("VMA_TREE_IN_PLACE");

	if (!vt)
		return NULL;
	memset(vt, 0, sizeof(*vt));
	vt->in_place = !(env && !strcmp(env, "0"));
	return vt;
}

void vt_set_in_place(struct vt *vt, bool on)
{
	if (vt)
		vt->in_place = on;
}

static void vtn_free_all(struct vtn *n)
{
	unsigned i;

	if (!n)
		return;
	if (!n->h.leaf)
		for (i = 0; i < n->h.nr; i++)
			vtn_free_all(n->i.child[i]);
	vtn_mem_free(n);
}

/* Hand @vt's open batch to the reclaimer. Context: Writer. */
static void vt_flush_open(struct vt *vt)
{
	if (vt && vt->open) {
		vt_hand_over(vt, vt->open);
		vt->open = NULL;
	}
}

void vt_barrier(struct vt *vt)
{
	vt_flush_open(vt);
	vt__reclaim_wait();
}

static void free_batch_nodes(struct vt_batch *b)
{
	size_t k;

	for (k = 0; k < b->nr; k++)
		vtn_mem_free(b->item[k].ptr);
	vma_free(b);
}

void vt_free(struct vt *vt)
{
	struct vt_free_node *node;

	if (!vt)
		return;
	/* First let pending batches finish: they recycle into @vt. */
	vt_barrier(vt);
	vtn_free_all(vt->root);
	while ((node = vt->local)) {
		vt->local = node->next;
		vtn_mem_free(node);
	}
	if (vt->spare)
		free_batch_nodes(vt->spare);
	while ((node = vt->ready)) {
		vt->ready = node->next;
		free_batch_nodes(caa_container_of(node, struct vt_batch, free));
	}
	while ((node = free_pop(&vt->reclaimed)))
		free_batch_nodes(caa_container_of(node, struct vt_batch, free));
	while ((node = vt->empty)) {
		vt->empty = node->next;
		vma_free(caa_container_of(node, struct vt_batch, free));
	}
	vma_free(vt->fresh_buf);
	vma_free(vt);
}

void vt_stats(const struct vt *vt, struct vt_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!vt)
		return;
	st->nr_entries = CMM_LOAD_SHARED(vt->nr_entries);
	st->nr_nodes = CMM_LOAD_SHARED(vt->nr_nodes);
	st->nr_leaves = CMM_LOAD_SHARED(vt->nr_leaves);
	st->height = CMM_LOAD_SHARED(vt->height);
	st->bytes = st->nr_nodes * VTN_SIZE + sizeof(*vt);
	st->nr_commits = CMM_LOAD_SHARED(vt->nr_commits);
	st->nr_retired = CMM_LOAD_SHARED(vt->nr_retired);
	st->nr_batches = CMM_LOAD_SHARED(vt->nr_batches);
	st->nr_kept = CMM_LOAD_SHARED(vt->nr_kept);
}

struct vt_check {
	char *msg;
	size_t len;
	int leaf_depth;
	uint64_t entries, nodes, leaves;
};

static int check_fail(struct vt_check *c, const char *what, const void *n)
{
	if (c->msg && c->len)
		snprintf(c->msg, c->len, "node %p: %s", n, what);
	return -EINVAL;
}

/* Validate @n whose keys must lie in [lo, hi]. */
static int vtn_check(const struct vtn *n, int depth, uint64_t lo, uint64_t hi,
		     bool is_root, struct vt_check *c)
{
	unsigned i, nr = n->h.nr;

	c->nodes++;
	if (n->h.fresh)
		return check_fail(c, "published node still marked fresh", n);
	if (nr == 0 || nr > vtn_cap(n))
		return check_fail(c, "bad element count", n);
	if (!is_root && nr < vtn_min_fill(n))
		return check_fail(c, "underfull node", n);
	if (n->h.leaf) {
		c->leaves++;
		if (c->leaf_depth < 0)
			c->leaf_depth = depth;
		else if (c->leaf_depth != depth)
			return check_fail(c, "leaves at different depths", n);
		for (i = 0; i < nr; i++) {
			if (n->l.kv[i].first > n->l.last[i])
				return check_fail(c, "first > last", n);
			if (n->l.kv[i].first < lo || n->l.last[i] > hi)
				return check_fail(c, "entry out of bounds", n);
			if (i > 0 && n->l.kv[i].first <= n->l.last[i - 1])
				return check_fail(c, "entries overlap", n);
			if (!n->l.kv[i].slot)
				return check_fail(c, "NULL entry", n);
		}
		c->entries += nr;
		return 0;
	}
	for (i = 0; i < nr; i++) {
		const struct vtn *ch = n->i.child[i];
		uint64_t clo = i > 0 ? n->i.pivot[i - 1] + 1 : lo;
		int err;

		if (!ch)
			return check_fail(c, "NULL child", n);
		if (ch->h.nr == 0)
			return check_fail(c, "empty child", ch);
		if (i > 0 && vtn_pivot(n, i) <= n->i.pivot[i - 1])
			return check_fail(c, "pivots not increasing", n);
		if (vtn_pivot(n, i) != vtn_max_key(ch))
			return check_fail(c, "pivot != child max", n);
		if (n->i.min[i] != vtn_min_key(ch))
			return check_fail(c, "min != child min", n);
		if (n->i.gap[i] != vtn_inner_gap_generic(ch))
			return check_fail(c, "gap != child inner gap", n);
		if (n->i.min[i] > vtn_pivot(n, i))
			return check_fail(c, "min > pivot", n);
		err = vtn_check(ch, depth + 1, clo, vtn_pivot(n, i), false, c);
		if (err)
			return err;
	}
	if (n->i.min[0] < lo || vtn_pivot(n, nr - 1) > hi)
		return check_fail(c, "subtree out of bounds", n);
	return 0;
}

int vt_validate(const struct vt *vt, char *msg, size_t len)
{
	struct vt_check c = {msg, len, -1, 0, 0, 0};
	int err;

	if (msg && len)
		msg[0] = '\0';
	if (!vt)
		return -EINVAL;
	if (vt->root) {
		err = vtn_check(vt->root, 0, 0, UINT64_MAX, true, &c);
		if (err)
			return err;
		if (c.leaf_depth + 1 != (int)vt->height)
			return check_fail(&c, "height mismatch", vt->root);
	} else if (vt->height != 0) {
		return check_fail(&c, "empty tree with height", vt);
	}
	if (c.entries != vt->nr_entries)
		return check_fail(&c, "entry count mismatch", vt);
	if (c.nodes != vt->nr_nodes || c.leaves != vt->nr_leaves)
		return check_fail(&c, "node count mismatch", vt);
	return 0;
}
