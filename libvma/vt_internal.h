/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vt_internal.h - Node layout of the RCU range tree. Private to libvma and
 * its white-box tests.
 *
 * Both node kinds are 512 bytes (eight cache lines), 64-byte aligned, from
 * the huge-page pool of vt_node_mem.c. A leaf holds up to 21 ranges; an
 * internal node up to 15 children. The arrays a reader searches (last[] in a
 * leaf, pivot[] in an internal node) come first so that a lookup touches as few
 * lines as possible.
 *
 *   leaf:      hdr | last[21] | {first, slot}[21]
 *   internal:  hdr | pivot[15] | child[15] | min[15] | gap[15] | top
 *
 * A lookup scans last[] (or pivot[]) and then reads one {first, slot} pair
 * (or one child pointer); min[] and gap[] serve writers and free-area
 * search.
 *
 * For an internal node, pivot[i] is the highest key stored under child i
 * (for the last child of a published node: top, see struct vtn_int) and
 * min[i] the lowest; gap[i] is the longest free run strictly between
 * two entries of child i's subtree. Runs between two children, and the
 * runs below the lowest and above the highest entry of the tree, are
 * computed from pivot[] and min[] of the level above, so gap values never
 * depend on a neighbour's contents.
 */
#ifndef VMA_VT_INTERNAL_H
#define VMA_VT_INTERNAL_H

#include <stdint.h>

#include <urcu/urcu-memb.h>
#include <urcu/wfcqueue.h>

#include "vma/vt.h"

#define VTN_SIZE     512
#define VTN_ALIGN    64
#define VT_LEAF_CAP  21
#define VT_INT_CAP   15
#define VT_LEAF_MIN  7 /* non-root leaves hold at least this many */
#define VT_INT_MIN   5 /* non-root internal nodes hold at least this */
#define VT_MAX_DEPTH 32

struct vtn_hdr {
	uint8_t nr;    /* entries or children in use */
	uint8_t leaf;  /* 1 for a leaf */
	uint8_t fresh; /* allocated by the open transaction: writable */
	uint8_t pad;
	uint32_t fresh_idx; /* index in txn->fresh while fresh */
};

struct vtn_kv {
	uint64_t first;
	void *slot;
};

struct vtn_leaf {
	struct vtn_hdr h;
	uint64_t last[VT_LEAF_CAP];
	struct vtn_kv kv[VT_LEAF_CAP];
};

struct vtn_int {
	struct vtn_hdr h;
	uint64_t pivot[VT_INT_CAP];
	struct vtn *child[VT_INT_CAP];
	uint64_t min[VT_INT_CAP];
	uint64_t gap[VT_INT_CAP];
	/*
	 * The highest key under the node, for writers. Lookups never read
	 * pivot[nr - 1] (a key above pivot[nr - 2] can only be under the last
	 * child), so a commit that changes only the highest key of published
	 * nodes (an mmap or munmap at the top of the tree) updates top here,
	 * on a line lookups do not read, and leaves pivot[nr - 1] stale; a
	 * copy restores it (vtn_cow()). Exact in every published node.
	 */
	uint64_t top;
};

struct vtn {
	union {
		struct vtn_hdr h;
		struct vtn_leaf l;
		struct vtn_int i;
	};
};

_Static_assert(sizeof(struct vtn_leaf) == VTN_SIZE, "leaf is 512 bytes");
_Static_assert(sizeof(struct vtn_int) <= VTN_SIZE, "internal fits 512");

/* One object to free after a grace period; fn NULL means a tree node. */
struct vt_retired {
	void *ptr;
	vt_free_fn fn;
};

/*
 * A node of a free list: many pushers (RCU callbacks, the writer), one
 * popper (the writer). liburcu's lfstack does the same job but its push
 * forms a member pointer from NULL, which UBSan rejects; this is the
 * plain Treiber stack it implements.
 */
struct vt_free_node {
	struct vt_free_node *next;
};

/* What a commit hands to call_rcu(). */
struct vt_batch {
	union {
		struct cds_wfcq_node qnode; /* queued for a grace period */
		struct vt_free_node free;   /* on vt->reclaimed or vt->empty */
	};
	struct vt *vt;
	size_t nr, cap;
	struct vt_retired item[];
};

/*
 * Batches of this capacity are recycled. A MAP_FIXED over 8 VMAs retires
 * about ten items (the VMAs and a node or two): with 32 slots and room for
 * 8, a third of its commits overflowed the open batch and copied their own
 * items to a new one (64 and 16: about +5% of those operations/s).
 */
#define VT_BATCH_CAP 64
/*
 * A commit leaves its batch open for the next one only if this many more
 * items still fit (a commit usually retires one to ten).
 */
#define VT_BATCH_ROOM 16
/*
 * Most nodes kept for reuse per tree (16 MiB). Retired nodes come back only
 * after a grace period, so a busy writer needs about (commit rate x grace
 * period latency) nodes in circulation; below this bound none hit malloc.
 */
#define VT_FREE_LIMIT 32768

/*
 * Attempts a multi-path reader of the tree itself (vt_find_free() under
 * RCU) makes before it gives up with -EAGAIN, and how long vt_read_begin()
 * waits for a commit in the middle of its publish (pause instructions).
 * A search takes well under a microsecond: against a writer committing
 * about a million times a second most attempts succeed, and eight failed
 * ones in a row mean the reader keeps losing the race (or was preempted).
 */
#define VT_READ_TRIES 8
#define VT_READ_SPIN  256

/*
 * The tree head. Readers touch only @root, so it has a cache line of its
 * own: the writer's counters and the reclaimer's list change on every
 * commit, and sharing a line with them would cost every lookup a miss
 * while a writer runs. Allocated VTN_ALIGN-aligned (vt_new()).
 */
struct vt {
	/* Read by every lookup; written once per commit. */
	struct vtn *root; /* RCU-protected: rcu_dereference() to read */
	char pad0[VTN_ALIGN - sizeof(struct vtn *)];

	/*
	 * The commit sequence count: odd while a commit stores into nodes
	 * readers can reach, bumped to the next even value once it has
	 * published. Readers that walk more than one path read it before
	 * and after (vt_read_begin(), vt_read_retry()); lookups never read
	 * it. It shares the writer's line, which every commit writes anyway.
	 */
	unsigned long seq;

	/* Writer-only state (serialized by the caller). */
	unsigned height;
	uint64_t nr_entries;
	uint64_t nr_nodes;
	uint64_t nr_leaves;
	uint64_t nr_commits;
	uint64_t nr_retired;
	uint64_t nr_batches;
	uint64_t nr_kept;
	bool in_place;		/* vt_set_in_place() */
	struct vtn **fresh_buf; /* reused by every transaction */
	size_t fresh_cap;
	/*
	 * Recycling (see vt.c): the writer's caches of batches taken back
	 * from the reclaimer and of nodes it allocated and dropped before
	 * publishing them.
	 */
	unsigned long nr_reused;    /* nodes taken back (writer writes) */
	struct vt_free_node *ready; /* batches taken, to drain */
	struct vt_batch *spare;	    /* batch being drained */
	struct vt_free_node *empty; /* emptied batches */
	struct vt_free_node *local; /* never-published nodes */
	/*
	 * The batch that commits add their retired items to until it is
	 * nearly full (then it goes to the reclaimer): one hand-over per
	 * several commits instead of one per commit.
	 */
	struct vt_batch *open;

	/*
	 * Batches back from their grace period, with the nodes they carry:
	 * pushed by the reclaimer, taken all at once by the writer.
	 */
	struct vt_free_node *reclaimed
		__attribute__((aligned(VTN_ALIGN))); /* uatomic */
	unsigned long nr_recycled; /* nodes pushed (reclaimer writes) */
} __attribute__((aligned(VTN_ALIGN)));

/* vt_node_mem.c: 512-byte, line-aligned node memory (any thread). */
void *vtn_mem_alloc(void);
void vtn_mem_free(void *n);

/* vt_reclaim.c: the grace-period reclaimer shared by all trees. */
int vt__reclaim_prepare(void);
void vt__reclaim_enqueue(struct vt_batch *b);
void vt__reclaim_wait(void);
/* vt.c: called by the reclaimer once readers are done with @b. */
void vt__batch_reclaim(struct vt_batch *b);

#endif /* VMA_VT_INTERNAL_H */
