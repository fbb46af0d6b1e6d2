/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vt_internal.h - Node layout of the RCU range tree. Private to libvma and
 * its white-box tests.
 *
 * Both node kinds are 512 bytes (eight cache lines), allocated 64-byte
 * aligned. A leaf holds up to 21 ranges; an internal node up to 15
 * children. The arrays a reader searches (last[] in a leaf, pivot[] in an
 * internal node) come first so that a lookup touches as few lines as
 * possible.
 *
 *   leaf:      hdr | last[21] | first[21] | slot[21]
 *   internal:  hdr | pivot[15] | min[15] | child[15] | gap[15]
 *
 * For an internal node, pivot[i] is the highest key stored under child i
 * and min[i] the lowest; gap[i] is the longest free run strictly between
 * two entries of child i's subtree. Runs between two children, and the
 * runs below the lowest and above the highest entry of the tree, are
 * computed from pivot[] and min[] of the level above, so gap values never
 * depend on a neighbour's contents.
 */
#ifndef VMA_VT_INTERNAL_H
#define VMA_VT_INTERNAL_H

#include <stdint.h>

#include <urcu/urcu-memb.h>

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

struct vtn_leaf {
	struct vtn_hdr h;
	uint64_t last[VT_LEAF_CAP];
	uint64_t first[VT_LEAF_CAP];
	void *slot[VT_LEAF_CAP];
};

struct vtn_int {
	struct vtn_hdr h;
	uint64_t pivot[VT_INT_CAP];
	uint64_t min[VT_INT_CAP];
	struct vtn *child[VT_INT_CAP];
	uint64_t gap[VT_INT_CAP];
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

/* What a commit hands to call_rcu(). */
struct vt_batch {
	struct rcu_head rcu;
	size_t nr, cap;
	struct vt_retired item[];
};

struct vt {
	struct vtn *root; /* RCU-protected: rcu_dereference() to read */
	/* Writer-only state (serialized by the caller). */
	unsigned height;
	uint64_t nr_entries;
	uint64_t nr_nodes;
	uint64_t nr_leaves;
	uint64_t nr_commits;
	uint64_t nr_retired;
	uint64_t nr_batches;
	struct vtn **fresh_buf; /* reused by every transaction */
	size_t fresh_cap;
};

#endif /* VMA_VT_INTERNAL_H */
