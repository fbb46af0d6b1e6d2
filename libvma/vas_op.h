/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vas_op.h - One mutating operation on a space: a tree transaction plus
 * the bookkeeping that makes it all-or-nothing (vas_op.c, vas_ops.c,
 * vas_fault.c).
 *
 * Locking: every function here is Writer (holds vas->write_lock).
 */
#ifndef VMA_VAS_OP_H
#define VMA_VAS_OP_H

#include "vas_internal.h"

/* A proposed VMA, before it becomes an object. */
struct vas_proto {
	uint64_t start, end, pgoff;
	struct vas_file *file;
	struct vas_file *name; /* anon_vma_name, NULL if none */
	uint32_t flags;
	uint32_t anon;
};

enum vas_pg_kind {
	VAS_PG_CLEAR,	    /* release [a, a + n) */
	VAS_PG_MOVE,	    /* move [a, a + n) to b */
	VAS_PG_SET,	    /* make [a, a + n) resident */
	VAS_PG_SET_ZERO,    /* map the zero page where [a, a + n) has none */
	VAS_PG_ZAP,	    /* release pages, keep guard markers (DONTNEED) */
	VAS_PG_GUARD_SET,   /* zap [a, a + n) and install guard markers */
	VAS_PG_GUARD_CLEAR, /* remove the guard markers of [a, a + n) */
};

struct vas_pg_action {
	enum vas_pg_kind kind;
	uint64_t a, b, n; /* page numbers */
};

#define VAS_OP_INLINE 8
#define VAS_OP_ACTS   8

/*
 * struct vas_op - State of one operation.
 * Every area the operation builds is "fresh" until commit; every published
 * area it replaces is marked (faults retry on it), drained of readers and
 * handed to the transaction for deferred freeing. Page-table changes are
 * recorded and applied only after every step that can fail, just before
 * the commit. An allocation failure (@err) aborts everything; a semantic
 * error found after earlier steps changed something commits those steps
 * (as Linux leaves them done) and is returned by the caller.
 */
struct vas_op {
	struct vas *vas;
	struct vt_txn txn;
	int err;	/* sticky allocation failure */
	int64_t dcount; /* map_count delta */
	int64_t dbytes; /* mapped bytes delta */
	unsigned nr_changes;
	bool marked;	    /* the old areas are marked (vas_op_finish()) */
	bool anon_prepared; /* a live area got its anon_vma in place */
	struct vas_area **fresh;
	size_t nr_fresh, cap_fresh;
	struct vas_area **old;
	size_t nr_old, cap_old;
	struct vas_area *fresh_inline[VAS_OP_INLINE];
	struct vas_area *old_inline[VAS_OP_INLINE];
	struct vas_pg_action *acts; /* acts_inline, or grown */
	size_t nr_acts, cap_acts;
	struct vas_pg_action acts_inline[VAS_OP_ACTS];
	struct vas_pt_garbage *pt_garbage; /* folded nodes, freed after the
					    * commit's grace period */
	/*
	 * Guard markers after the operation (private until the commit), if
	 * it changes them; the published array is deferred for freeing
	 * when the first change is recorded.
	 */
	struct vas_guards *guards;
	bool guards_changed;
	int64_t dlocked; /* locked_vm delta, pages */
};

void vas_op_begin(struct vas_op *op, struct vas *vas);
int vas_op_finish(struct vas_op *op);
void vas_op_abort(struct vas_op *op);
int vas_op_end(struct vas_op *op, int err);

struct vas_area *vas_op_new_area(struct vas_op *op, const struct vas_proto *p);
struct vas_area *vas_op_clone(struct vas_op *op, const struct vas_area *a,
			      uint64_t start, uint64_t end);
void vas_op_retire(struct vas_op *op, struct vas_area *a);
void vas_op_store(struct vas_op *op, struct vas_area *a);
void vas_op_erase(struct vas_op *op, uint64_t start, uint64_t end);
void vas_op_pages(struct vas_op *op, enum vas_pg_kind kind, uint64_t a,
		  uint64_t b, uint64_t n);

static inline uint64_t vas_op_map_count(const struct vas_op *op)
{
	return op->vas->map_count + op->dcount;
}

static inline struct vas_area *vas_op_load(struct vas_op *op, uint64_t addr)
{
	return vt_txn_load(&op->txn, addr, NULL, NULL);
}

/* First area ending above @addr. */
static inline struct vas_area *vas_op_next(struct vas_op *op, uint64_t addr)
{
	return vt_txn_next(&op->txn, addr, NULL, NULL);
}

/* Last area starting at or below @addr. */
static inline struct vas_area *vas_op_prev(struct vas_op *op, uint64_t addr)
{
	return vt_txn_prev(&op->txn, addr, NULL, NULL);
}

/* The guard markers as the operation sees them so far. */
static inline const struct vas_guards *vas_op_guards(const struct vas_op *op)
{
	return op->guards_changed ? op->guards : op->vas->guards;
}

/* vas_ops.c, used by the fault path and vas_madvise.c */
int vas__grow_stack(struct vas *vas, uint64_t addr, bool *expanded,
		    bool *changed);
struct vas_area *vas__modify_range(struct vas_op *op, struct vas_area *v,
				   struct vas_area **prev, uint64_t start,
				   uint64_t end, uint32_t newflags,
				   struct vas_file *name, int *err);
int vas__populate_locked(struct vas_op *op, uint64_t start, uint64_t end,
			 bool ignore_errors);
int vas__faultin_locked(struct vas_op *op, uint64_t start, uint64_t end,
			bool write);
bool vas__mlock_future_ok(const struct vas_op *op, uint32_t flags,
			  uint64_t bytes);
struct vas_area *vas__refresh(struct vas_op *op, struct vas_area *v);

#endif /* VMA_VAS_OP_H */
