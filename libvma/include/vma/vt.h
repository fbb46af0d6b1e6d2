/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vma/vt.h - The RCU range tree: a B+tree of non-overlapping inclusive
 * ranges [first, last] -> pointer, covering the full 64-bit key space.
 *
 * Readers never block and never see a half-done write. A writer copies
 * what it changes into a transaction; a commit publishes it with one
 * rcu_assign_pointer(): of the new root, or (by default, "in place") of
 * one new subtree into the child slot of a node readers can reach. A node
 * readers can reach changes only by single aligned word stores, each of
 * which leaves the tree in a state every reader reads as wholly before or
 * wholly after the transaction: that child pointer, and fields lookups
 * never read. Replaced nodes (and objects the caller hands to
 * vt_txn_defer_free()) are freed after a grace period.
 *
 * What a reader is guaranteed:
 * - A single walk (vt_load(), vt_next(), vt_prev()) reads one state of
 *   the tree, the one before or the one after each commit, current at
 *   some instant of the call. It costs nothing beyond the walk. Two walks
 *   may read two different states.
 * - Anything that reads more than one path, and wants the paths to agree
 *   (an iteration across leaves, a lookup then its neighbours), brackets
 *   its reads with vt_read_begin() and vt_read_retry() and starts again if
 *   a commit intervened; after a few failed attempts it takes the
 *   writer's lock. vt_find_free() does this itself.
 *
 * Ranges are inclusive here ("first/last"); the address-space layer converts
 * from half-open [start, end) in one place.
 *
 * Locking:
 *   vt_new, vt_free                        Init only (no readers, no writer)
 *   vt_barrier                             Writer, outside RCU sections
 *   vt_load, vt_next, vt_prev,             RCU reader (or the writer)
 *   vt_find_free, vt_stats,
 *   vt_read_begin, vt_read_retry
 *   vt_txn_*, vt_store, vt_erase,          Writer (serialized by the caller)
 *   vt_set_in_place
 *   vt_validate                            Writer, or no writer running
 *
 * Readers must be registered urcu-memb threads (rcu_register_thread()) and
 * call these inside rcu_read_lock(); a returned pointer and range are valid
 * only until rcu_read_unlock(). The tree never dereferences or frees the
 * stored pointers. NULL cannot be stored (storing NULL erases).
 */
#ifndef VMA_VT_H
#define VMA_VT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vma/err.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vt;
struct vtn;

/* Free-area search direction. */
enum vt_dir {
	VT_LOWEST,  /* lowest fitting address first (bottom-up) */
	VT_HIGHEST, /* highest fitting address first (top-down) */
};

/* Called with a deferred object after a grace period. */
typedef void (*vt_free_fn)(void *ptr);

struct vt_stats {
	uint64_t nr_entries; /* ranges stored */
	uint64_t nr_nodes;   /* leaf + internal nodes reachable from the root */
	uint64_t nr_leaves;
	unsigned height; /* 0 for an empty tree, 1 for a single leaf */
	uint64_t bytes;	 /* bytes of all reachable nodes and the tree head */
	uint64_t nr_commits; /* transactions committed over the tree's life */
	uint64_t nr_retired; /* nodes handed to RCU reclamation so far */
	uint64_t nr_batches; /* reclaim batches handed to the reclaimer */
	uint64_t nr_kept;    /* published ancestors a commit kept instead of
				copying (it published below the root) */
};

/*
 * A write transaction. Lives on the writer's stack: VT_TXN(txn, vt) or
 * vt_txn_begin(). Every store or erase goes to private copies of the nodes
 * it touches; vt_txn_commit() publishes all of them at once and
 * vt_txn_abort() discards them. If an operation fails (-ENOMEM), the
 * transaction is poisoned: later operations return the same error and only
 * vt_txn_abort() is valid. Fields are private.
 */
struct vt_txn {
	struct vt *vt;
	struct vtn *root; /* private working root (may be shared) */
	int err;	  /* first error, sticky */
	unsigned nr_ops;
	int64_t delta_entries; /* entries added minus removed */
	int64_t delta_nodes;   /* nodes allocated minus retired/freed */
	int64_t delta_leaves;  /* the same, leaves only */
	int delta_height;      /* root splits minus root collapses */
	/* Nodes allocated by this transaction (freed on abort). */
	struct vtn **fresh;
	size_t nr_fresh, cap_fresh;
	/* Published nodes replaced, and caller objects deferred, added to
	 * the tree's open batch (items below batch_base belong to earlier
	 * commits); the batch goes to the reclaimer when it is nearly full. */
	struct vt_batch *batch;
	size_t batch_base;
};

/**
 * vt_new() - Create an empty tree.
 * Context: Any context.
 * Return: new tree, or NULL on allocation failure.
 */
VMA_API struct vt *vt_new(void);

/**
 * vt_set_in_place() - Choose how commits publish. With @on (the default),
 * a commit whose new nodes differ from the published ones only below one
 * child pointer stores that pointer into the published parent (one
 * rcu_assign_pointer(), as the maple tree's slot store does) and also
 * updates, in place, the kept ancestors' fields that lookups never read
 * (gaps and highest keys); readers' cached paths stay valid, which is
 * what lets lookups keep their rate beside a busy writer. With @on false,
 * no node a reader can reach is ever modified: every commit publishes a
 * new root. Readers see every transaction at one instant either way.
 * vt_new() starts in place unless VMA_TREE_IN_PLACE=0 is in the
 * environment.
 * Context: Writer (takes effect at the next commit).
 */
VMA_API void vt_set_in_place(struct vt *vt, bool on);

/**
 * vt_free() - Destroy the tree and every node, first waiting until
 * everything its commits retired has been reclaimed (vt_barrier()).
 * Stored pointers are not freed. NULL is ignored.
 * Context: Init only: no reader may still hold references into the tree,
 *          and the caller must not be inside an RCU read-side section.
 */
VMA_API void vt_free(struct vt *vt);

/**
 * vt_barrier() - Wait until everything that commits of @vt retired before
 * this call, and everything other trees have handed to the reclaimer, has
 * been reclaimed: replaced nodes recycled, deferred free functions called.
 * A tree gathers the retired items of several commits into one batch
 * before handing it over; this hands @vt's over at once. (Reclamation runs
 * on its own thread after a grace period; rcu_barrier() does not wait for
 * it.) @vt may be NULL.
 * Context: Writer of @vt; not inside an RCU read-side section, not from a
 *          deferred free function.
 */
VMA_API void vt_barrier(struct vt *vt);

/**
 * vt_load() - Find the entry whose range contains @index.
 * @first, @last: set to its range when found (either may be NULL).
 * Context: RCU reader (or the writer).
 * Return: the stored pointer, or NULL if @index is in a gap.
 */
VMA_API void *vt_load(const struct vt *vt, uint64_t index, uint64_t *first,
		      uint64_t *last);

/**
 * vt_next() - Find the first entry whose range ends at or after @index
 * (the entry containing @index, else the next one above it).
 * Context: RCU reader (or the writer).
 * Return: the stored pointer and its range, or NULL if there is none.
 */
VMA_API void *vt_next(const struct vt *vt, uint64_t index, uint64_t *first,
		      uint64_t *last);

/**
 * vt_prev() - Find the last entry whose range starts at or before @index
 * (the entry containing @index, else the next one below it).
 * Context: RCU reader (or the writer).
 * Return: the stored pointer and its range, or NULL if there is none.
 */
VMA_API void *vt_prev(const struct vt *vt, uint64_t index, uint64_t *first,
		      uint64_t *last);

/**
 * vt_find_free() - Find a free (unstored) run of @size keys inside
 * [@lo, @hi] whose first key is a multiple of @align.
 * @align: a power of two, 1 for no alignment.
 * @dir: VT_LOWEST returns the lowest such first key, VT_HIGHEST the highest.
 * @out: set to the first key of the run.
 *
 * Uses the largest-gap values kept in internal nodes: O(log n) without
 * alignment. The search reads many paths; it answers from one state of
 * the tree (validated with the commit sequence count, see
 * vt_read_begin()), so under RCU a run is never missed if some run fitted
 * at every instant of the call, and a run returned was free at some
 * instant of it. If commits keep invalidating the search it gives up
 * after a few attempts (VT_READ_TRIES) with -EAGAIN: call it again
 * holding the writer's lock, where it succeeds at once.
 * Context: RCU reader (or the writer).
 * Return: 0; -EINVAL for @size 0, @lo > @hi, or a bad @align; -ENOMEM if no
 *         run fits (named after mmap's errno for a full address space);
 *         -EAGAIN (RCU readers only) as above.
 */
VMA_API int vt_find_free(const struct vt *vt, uint64_t lo, uint64_t hi,
			 uint64_t size, uint64_t align, enum vt_dir dir,
			 uint64_t *out) VMA_MUST_CHECK;

/**
 * vt_read_begin() - Start a read of @vt that walks more than one path and
 * needs them to agree, e.g. an iteration with vt_next() across leaves.
 * Return: the commit sequence count, for vt_read_retry(). Waits briefly
 * if a commit is publishing right now.
 * Context: RCU reader (or the writer); single walks do not need it.
 */
VMA_API unsigned long vt_read_begin(const struct vt *vt);

/**
 * vt_read_retry() - End a read started with vt_read_begin().
 * Return: false if no commit published (or was publishing) since @seq was
 * read: then everything read from @vt in between, in the same RCU
 * read-side section, is one state of the tree, the one current during the
 * whole read. True if the reader must discard what it read and start
 * again; a reader that keeps failing should take the writer's lock after
 * a bounded number of attempts (a writer's reads always validate).
 * Context: RCU reader (or the writer).
 */
VMA_API bool vt_read_retry(const struct vt *vt, unsigned long seq);

/**
 * vt_stats() - Fill @st with the tree's current size figures.
 * Context: RCU reader (or the writer); exact only without a concurrent
 *          writer.
 */
VMA_API void vt_stats(const struct vt *vt, struct vt_stats *st);

/**
 * vt_validate() - Check every invariant: key order, no overlap, equal leaf
 * depth, node fill, pivots, minimum keys and gap values, entry counts.
 * @msg: receives a description of the first violation (may be NULL).
 * Context: Writer, or no writer running.
 * Return: 0 if valid, -EINVAL otherwise.
 */
VMA_API int vt_validate(const struct vt *vt, char *msg, size_t len);

/**
 * vt_txn_begin() - Start a write transaction on @vt.
 * Context: Writer. One transaction per tree at a time.
 */
VMA_API void vt_txn_begin(struct vt_txn *txn, struct vt *vt);

#define VT_TXN(name, tree)                                                     \
	struct vt_txn name;                                                    \
	vt_txn_begin(&name, (tree))

/**
 * vt_txn_store() - Store @ptr over [@first, @last], overwriting whatever it
 * overlaps: entries inside are removed, entries that stick out keep their
 * pointer on the part outside (a range inside one entry splits it in two).
 * @ptr: NULL erases the range.
 * Context: Writer.
 * Return: 0; -EINVAL if @first > @last; -ENOMEM (transaction poisoned).
 */
VMA_API int vt_txn_store(struct vt_txn *txn, uint64_t first, uint64_t last,
			 void *ptr) VMA_MUST_CHECK;

/**
 * vt_txn_erase() - Remove everything in [@first, @last] (see vt_txn_store).
 */
VMA_API int vt_txn_erase(struct vt_txn *txn, uint64_t first,
			 uint64_t last) VMA_MUST_CHECK;

/**
 * vt_txn_load() - vt_load() on the transaction's working state, which
 * includes its uncommitted stores.
 * Context: Writer.
 */
VMA_API void *vt_txn_load(const struct vt_txn *txn, uint64_t index,
			  uint64_t *first, uint64_t *last);

/**
 * vt_txn_next() - vt_next() on the transaction's working state.
 */
VMA_API void *vt_txn_next(const struct vt_txn *txn, uint64_t index,
			  uint64_t *first, uint64_t *last);

/**
 * vt_txn_prev() - vt_prev() on the transaction's working state.
 */
VMA_API void *vt_txn_prev(const struct vt_txn *txn, uint64_t index,
			  uint64_t *first, uint64_t *last);

/**
 * vt_txn_collect() - The pointers of the entries overlapping [@first,
 * @last] in the transaction's working state, in address order, at most
 * @max of them into @out: one walk per leaf instead of one per entry.
 * Context: Writer.
 * Return: how many were stored. If that is @max, more may follow: collect
 * again from just past the last one.
 */
VMA_API size_t vt_txn_collect(const struct vt_txn *txn, uint64_t first,
			      uint64_t last, void **out, size_t max);

/**
 * vt_txn_collect_next() - vt_txn_collect(), and the neighbours of what it
 * collects: in *@prev (unless @prev is NULL) the entry before the first
 * entry ending at or above @first, as vt_txn_around() gives it; in *@next
 * the entry that follows the ones collected when the walk met it in the
 * same leaf: the first one starting above @last, or NULL if the tree has
 * none.
 * Context: Writer.
 * Return: as vt_txn_collect(); *@next_known is false if the walk ended
 * without finding out (the caller looks it up). It is always true when
 * nothing was collected.
 */
VMA_API size_t vt_txn_collect_next(const struct vt_txn *txn, uint64_t first,
				   uint64_t last, void **out, size_t max,
				   void **prev, void **next, bool *next_known);

/**
 * vt_txn_around() - vt_txn_next() of @index and, in *@prev, the entry
 * before that one (the last entry of the tree if there is none at or above
 * @index; NULL if there is none before): the neighbours of a free range
 * in one walk.
 * Context: Writer.
 * Return: the first entry ending at or above @index, or NULL.
 */
VMA_API void *vt_txn_around(const struct vt_txn *txn, uint64_t index,
			    void **prev);

/**
 * vt_txn_defer_free() - Have @fn(@ptr) called after a grace period that
 * follows this transaction's commit. If the transaction aborts, nothing is
 * called and @ptr stays the caller's.
 * Context: Writer.
 * Return: 0; -ENOMEM (transaction poisoned).
 */
VMA_API int vt_txn_defer_free(struct vt_txn *txn, void *ptr,
			      vt_free_fn fn) VMA_MUST_CHECK;

/**
 * vt_txn_commit() - Publish every store of the transaction at one instant
 * and hand what it replaced to RCU reclamation. On error the transaction
 * is aborted and the tree is unchanged.
 * Context: Writer.
 * Return: 0; the transaction's sticky error (after aborting it).
 */
VMA_API int vt_txn_commit(struct vt_txn *txn) VMA_MUST_CHECK;

/**
 * vt_txn_abort() - Discard the transaction; the tree is unchanged.
 * Context: Writer.
 */
VMA_API void vt_txn_abort(struct vt_txn *txn);

/**
 * vt_store() - One-operation transaction: vt_txn_store() and commit.
 * Context: Writer.
 * Return: 0; -EINVAL; -ENOMEM (tree unchanged).
 */
VMA_API int vt_store(struct vt *vt, uint64_t first, uint64_t last,
		     void *ptr) VMA_MUST_CHECK;

/**
 * vt_erase() - One-operation transaction: vt_txn_erase() and commit.
 */
VMA_API int vt_erase(struct vt *vt, uint64_t first,
		     uint64_t last) VMA_MUST_CHECK;

#ifdef VMAD_TEST_HOOKS
/*
 * Test pause point: if set, called by vt_txn_commit() just before the new
 * root is published, with the tree. Lets tests hold a race window open.
 */
VMA_API extern void (*vt_test_before_publish)(struct vt *vt);
/*
 * Test hook: a deliberately broken reclaimer that recycles what commits
 * replaced without waiting for a grace period. Sanitizer builds must
 * then report a reader's access to recycled memory (the tests that show
 * that the poisoning of vma_asan.h works set it). Never set otherwise.
 */
VMA_API extern bool vt_test_skip_grace_period;
/*
 * Test pause point: if set, called by vt_find_free() after each attempt
 * has read the commit sequence count and loaded the root, before it
 * searches. Lets tests run commits inside a search deterministically.
 */
VMA_API extern void (*vt_test_read_root)(const struct vt *vt);
#endif

#ifdef __cplusplus
}
#endif

#endif /* VMA_VT_H */
