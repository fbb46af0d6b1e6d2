// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Operations as single transactions.
 *
 * A mutation gathers the areas it affects, builds new area objects and
 * stores them into one tree transaction, then commits it: readers see the
 * whole operation or nothing of it. Published areas are never changed in
 * place. Before the commit every area about to be replaced or detached is
 * marked (faults that find it retry) and drained (the writer waits until
 * no fault still works on it), then the page-table nodes the recorded
 * changes need are made (the last step that can fail: it undoes the marks),
 * then the changes are applied and the nodes they left uniform folded,
 * then vas_test_before_commit() runs, then the commit publishes.
 * Replaced areas are freed after a grace period (vt_txn_defer_free()).
 *
 * Everything that can fail happens before the first visible change, so an
 * allocation failure aborts with the space exactly as before.
 */
#include "vas_op.h"

#include <errno.h>
#include <string.h>

#ifdef VMAD_TEST_HOOKS
void (*vas_test_before_commit)(struct vas *vas);
#endif

/**
 * vas_op_begin() - Start an operation on @vas.
 * Context: Writer (holds vas->write_lock).
 */
void vas_op_begin(struct vas_op *op, struct vas *vas)
{
	vas_assert_write_locked(vas);
	memset(op, 0, offsetof(struct vas_op, fresh_inline));
	op->vas = vas;
	op->acts = op->acts_inline;
	op->nr_acts = 0;
	op->cap_acts = VAS_OP_ACTS;
	op->fresh = op->fresh_inline;
	op->cap_fresh = VAS_OP_INLINE;
	op->old = op->old_inline;
	op->cap_old = VAS_OP_INLINE;
	op->pt_garbage = NULL;
	op->guards = NULL;
	op->guards_changed = false;
	op->dlocked = 0;
	vt_txn_begin(&op->txn, vas->vt);
}

static int op_push(struct vas_op *op, struct vas_area ***arr, size_t *nr,
		   size_t *cap, struct vas_area **inl, struct vas_area *a)
{
	if (*nr == *cap) {
		size_t ncap = *cap * 2;
		struct vas_area **n = vma_alloc(ncap * sizeof(*n));

		if (!n) {
			op->err = -ENOMEM;
			return -ENOMEM;
		}
		memcpy(n, *arr, *nr * sizeof(*n));
		if (*arr != inl)
			vma_free(*arr);
		*arr = n;
		*cap = ncap;
	}
	(*arr)[(*nr)++] = a;
	return 0;
}

/**
 * vas_op_new_area() - Build a fresh area from @p (not yet in the tree).
 * Context: Writer.
 * Return: the area, or NULL (allocation failure recorded in @op).
 */
struct vas_area *vas_op_new_area(struct vas_op *op, const struct vas_proto *p)
{
	struct vas_area *a;

	if (op->err)
		return NULL;
	a = vas__area_get(op->vas);
	if (!a) {
		op->err = -ENOMEM;
		return NULL;
	}
	a->start = p->start;
	a->end = p->end;
	a->pgoff = p->pgoff;
	a->file = p->file;
	a->name = p->name;
	a->anon = p->anon;
	a->state = VAS_AREA_FRESH;
	a->faulted = 0;
	a->flags = p->flags;
	a->rss = 0;
	if (op_push(op, &op->fresh, &op->nr_fresh, &op->cap_fresh,
		    op->fresh_inline, a)) {
		vas__area_put(op->vas, a);
		return NULL;
	}
	if (a->file)
		a->file->refs++;
	if (a->name)
		a->name->refs++;
	return a;
}

/**
 * vas_op_clone() - A fresh copy of @a restricted to [@start, @end) (a
 * piece of a split), with the page offset adjusted.
 * Context: Writer.
 */
struct vas_area *vas_op_clone(struct vas_op *op, const struct vas_area *a,
			      uint64_t start, uint64_t end)
{
	struct vas_proto p = {
		.start = start,
		.end = end,
		.pgoff = a->pgoff + ((start - a->start) >> VAS_PAGE_SHIFT),
		.file = a->file,
		.name = a->name,
		.flags = a->flags,
		.anon = vas_area_anon(a),
	};

	return vas_op_new_area(op, &p);
}

/**
 * vas_op_retire() - @a leaves the tree with this operation: a published
 * area is marked, drained and queued for freeing after the commit's grace
 * period; a fresh one is dropped. The caller overwrites or erases its range.
 * Context: Writer.
 */
void vas_op_retire(struct vas_op *op, struct vas_area *a)
{
	if (op->err)
		return;
	op->dcount--;
	op->dbytes -= a->end - a->start;
	op->nr_changes++;
	if (a->state == VAS_AREA_FRESH) {
		a->state = VAS_AREA_DROPPED;
		if (a->file)
			a->file->refs--;
		if (a->name)
			a->name->refs--;
		return;
	}
	assert(a->state == VAS_AREA_LIVE);
	if (op_push(op, &op->old, &op->nr_old, &op->cap_old, op->old_inline, a))
		return;
	if (vt_txn_defer_free(&op->txn, a, vas__area_free_rcu)) {
		op->nr_old--;
		op->err = -ENOMEM;
		return;
	}
	if (a->file)
		a->file->refs--;
	if (a->name)
		a->name->refs--;
}

/**
 * vas_op_store() - Put fresh area @a into the transaction over its range.
 * Context: Writer.
 */
void vas_op_store(struct vas_op *op, struct vas_area *a)
{
	if (op->err || !a)
		return;
	if (vt_txn_store(&op->txn, a->start, vas_area_last(a), a)) {
		op->err = -ENOMEM;
		return;
	}
	op->dcount++;
	op->dbytes += a->end - a->start;
	op->nr_changes++;
}

/**
 * vas_op_erase() - Remove [@start, @end) from the transaction's tree.
 * Context: Writer.
 */
void vas_op_erase(struct vas_op *op, uint64_t start, uint64_t end)
{
	if (op->err)
		return;
	if (vt_txn_erase(&op->txn, start, end - 1))
		op->err = -ENOMEM;
	op->nr_changes++;
}

/*
 * The guard markers of a recorded page-table change: computed now into
 * the operation's private copy (this can fail), published before the
 * commit. munmap-like clears drop the markers (unmap_vmas() with
 * ZAP_FLAG_DROP_MARKER), moves carry them (move_page_tables()); a zap
 * (MADV_DONTNEED) keeps them.
 * Return: 0; -ENOMEM (recorded in @op).
 */
static int op_guards_record(struct vas_op *op, enum vas_pg_kind kind,
			    uint64_t a, uint64_t b, uint64_t n)
{
	const struct vas_guards *g = vas_op_guards(op);
	uint64_t start = a << VAS_PAGE_SHIFT, len = n << VAS_PAGE_SHIFT;
	struct vas_guards *ng;

	switch (kind) {
	case VAS_PG_CLEAR:
	case VAS_PG_GUARD_CLEAR:
		if (!vas__guard_any(g, start, start + len))
			return 0;
		ng = vas__guards_edit(g, start, start + len, false);
		break;
	case VAS_PG_MOVE:
		if (!vas__guard_any(g, start, start + len))
			return 0;
		ng = vas__guards_move(g, start, b << VAS_PAGE_SHIFT, len);
		break;
	case VAS_PG_GUARD_SET:
		ng = vas__guards_edit(g, start, start + len, true);
		break;
	default:
		return 0;
	}
	if (!ng)
		goto nomem;
	if (!op->guards_changed && op->vas->guards &&
	    vt_txn_defer_free(&op->txn, op->vas->guards, vma_free)) {
		vas__guards_free(ng);
		goto nomem;
	}
	if (op->guards_changed)
		vas__guards_free(op->guards);
	op->guards = ng;
	op->guards_changed = true;
	return 0;
nomem:
	op->err = -ENOMEM;
	return -ENOMEM;
}

/**
 * vas_op_pages() - Record a page-table change, applied before the commit.
 * The nodes it needs are made in vas_op_finish(), once the ranges are
 * drained of faults (a move's source may still gain pages until then).
 * Context: Writer.
 */
void vas_op_pages(struct vas_op *op, enum vas_pg_kind kind, uint64_t a,
		  uint64_t b, uint64_t n)
{
	if (op->err || !n)
		return;
	if (op->nr_acts == op->cap_acts) {
		size_t cap = op->cap_acts * 2;
		struct vas_pg_action *na = vma_alloc(cap * sizeof(*na));

		if (!na) {
			op->err = -ENOMEM;
			return;
		}
		memcpy(na, op->acts, op->nr_acts * sizeof(*na));
		if (op->acts != op->acts_inline)
			vma_free(op->acts);
		op->acts = na;
		op->cap_acts = cap;
	}
	if (op_guards_record(op, kind, a, b, n))
		return;
	op->acts[op->nr_acts++] = (struct vas_pg_action){kind, a, b, n};
}

/*
 * Make every node the recorded page-table changes need, so that applying
 * them does not allocate. The nodes made hold the states they replace.
 */
static int op_prepare_pages(struct vas_op *op)
{
	struct vas_pt *pt = &op->vas->pt;
	unsigned kinds = 0;
	size_t i;

	/* What the operation may do to any slot, in any order. */
	for (i = 0; i < op->nr_acts; i++) {
		struct vas_pg_action *act = &op->acts[i];

		switch (act->kind) {
		case VAS_PG_SET:
			kinds |= VAS_PT_CH_OWN;
			break;
		case VAS_PG_SET_ZERO:
			kinds |= VAS_PT_CH_ZERO;
			break;
		case VAS_PG_MOVE: /* the source is cleared */
			if (vas__pt_count_present(pt, act->a, act->n))
				kinds |= VAS_PT_CH_ZERO | VAS_PT_CH_OWN;
			kinds |= VAS_PT_CH_CLEAR;
			break;
		case VAS_PG_GUARD_CLEAR: /* markers only */
			break;
		default: /* CLEAR, ZAP, GUARD_SET */
			kinds |= VAS_PT_CH_CLEAR;
			break;
		}
	}
	for (i = 0; i < op->nr_acts; i++) {
		struct vas_pg_action *act = &op->acts[i];

		if (act->kind == VAS_PG_GUARD_CLEAR)
			continue;
		if (vas__pt_prepare_kinds(pt, act->a, act->n, kinds))
			return -ENOMEM;
		if (act->kind == VAS_PG_MOVE &&
		    (vas__pt_prepare_kinds(pt, act->b, act->n, kinds) ||
		     vas__pt_prepare_like(pt, pt, act->a, act->b, act->n)))
			return -ENOMEM;
	}
	return 0;
}

/* Can the recorded changes leave a node to fold (one wholly inside)? */
static bool op_may_fold(const struct vas_op *op)
{
	size_t i;

	for (i = 0; i < op->nr_acts; i++)
		if (op->acts[i].n >= VAS_PT_SLOTS)
			return true;
	return false;
}

/*
 * Apply the recorded changes, then fold the nodes left uniform inside
 * their ranges (none is unlinked before every change is applied, so the
 * nodes op_prepare_pages() made stay until then).
 */
static void op_apply_pages(struct vas_op *op)
{
	struct vas_pt *pt = &op->vas->pt;
	size_t i;

	for (i = 0; i < op->nr_acts; i++) {
		struct vas_pg_action *act = &op->acts[i];

		switch (act->kind) {
		case VAS_PG_CLEAR:
		case VAS_PG_ZAP:
		case VAS_PG_GUARD_SET:
			vas__pt_clear_range(pt, act->a, act->n);
			break;
		case VAS_PG_GUARD_CLEAR:
			break;
		case VAS_PG_MOVE:
			vas__pt_move(pt, act->a, act->b, act->n);
			break;
		case VAS_PG_SET:
		case VAS_PG_SET_ZERO:
			vas__pt_set_range(pt, act->a, act->n,
					  act->kind == VAS_PG_SET_ZERO);
			break;
		}
	}
	for (i = 0; i < op->nr_acts; i++) {
		struct vas_pg_action *act = &op->acts[i];

		if (act->kind == VAS_PG_GUARD_CLEAR)
			continue; /* markers only: no page-table change */
		vas__pt_fold(pt, act->a, act->n, op->pt_garbage);
		if (act->kind == VAS_PG_MOVE)
			vas__pt_fold(pt, act->b, act->n, op->pt_garbage);
	}
	if (op->guards_changed) {
		struct vas_guards *g = op->guards;

		/* The old array was deferred when the first change came. */
		if (g && !g->nr) {
			vas__guards_free(g);
			g = NULL;
		}
		rcu_assign_pointer(op->vas->guards, g);
		op->guards = NULL;
		op->guards_changed = false;
	}
}

static void op_free_lists(struct vas_op *op)
{
	if (op->fresh != op->fresh_inline)
		vma_free(op->fresh);
	if (op->old != op->old_inline)
		vma_free(op->old);
	if (op->acts != op->acts_inline)
		vma_free(op->acts);
}

/**
 * vas_op_abort() - Undo everything: the tree, the marks, the references.
 * A file entry the caller created for the operation stays with the caller.
 * Context: Writer.
 */
void vas_op_abort(struct vas_op *op)
{
	size_t i;

	vt_txn_abort(&op->txn);
	/* The transaction drops its deferred frees: nothing was folded. */
	vma_free(op->pt_garbage);
	if (op->guards_changed)
		vas__guards_free(op->guards);
	op->guards = NULL;
	op->guards_changed = false;
	for (i = 0; i < op->nr_old; i++) {
		struct vas_area *a = op->old[i];

		if (a->file)
			a->file->refs++;
		if (a->name)
			a->name->refs++;
		if (op->marked)
			vas__unmark(a);
	}
	for (i = 0; i < op->nr_fresh; i++) {
		struct vas_area *a = op->fresh[i];

		if (a->state == VAS_AREA_FRESH && a->file)
			a->file->refs--;
		if (a->state == VAS_AREA_FRESH && a->name)
			a->name->refs--;
	}
	for (i = 0; i < op->nr_fresh; i++)
		vas__area_put(op->vas, op->fresh[i]);
	op_free_lists(op);
}

static void file_free_rcu(void *ptr)
{
	vma_free(ptr);
}

static struct vas_area *op_area(struct vas_op *op, size_t i)
{
	return i < op->nr_old ? op->old[i] : op->fresh[i - op->nr_old];
}

/*
 * Hand the files that lost their last area to the transaction's grace
 * period, then unlink them. Queued files are tagged with refs == -1 so
 * that each is queued once; on failure the tags are undone.
 */
static int op_retire_files(struct vas_op *op)
{
	size_t i, k, n = op->nr_old + op->nr_fresh;
	int err = 0;

	for (i = 0; i < 2 * n && !err; i++) {
		struct vas_area *a = op_area(op, i % n);
		struct vas_file *f = i < n ? a->file : a->name;

		if (!f || f->refs != 0)
			continue;
		if (vt_txn_defer_free(&op->txn, f, file_free_rcu))
			err = -ENOMEM;
		else
			f->refs = -1;
	}
	for (k = 0; k < 2 * n; k++) {
		struct vas_area *a = op_area(op, k % n);
		struct vas_file *f = k < n ? a->file : a->name;

		if (!f || f->refs != -1)
			continue;
		f->refs = 0;
		if (!err)
			vas__file_unlink(op->vas, f);
	}
	return err;
}

/**
 * vas_op_finish() - Commit the operation, or abort it after an allocation
 * failure, or if it changed nothing.
 * Context: Writer.
 * Return: 0 if committed (or nothing to do); -ENOMEM (space unchanged).
 */
int vas_op_finish(struct vas_op *op)
{
	struct vas *vas = op->vas;
	size_t i;
	int err;

	if (op->err || op->txn.err || !op->nr_changes) {
		err = op->err ? op->err : op->txn.err;
		vas_op_abort(op);
		return err;
	}
	if (op_retire_files(op)) {
		vas_op_abort(op);
		return -ENOMEM;
	}
	if (op_may_fold(op)) {
		/* Where the page table's folded nodes go. */
		op->pt_garbage = vas__pt_garbage_new();
		if (!op->pt_garbage ||
		    vt_txn_defer_free(&op->txn, op->pt_garbage,
				      vas__pt_garbage_free)) {
			vas_op_abort(op);
			return -ENOMEM;
		}
	}
	/*
	 * Nothing can fail from here. Mark every area leaving the tree
	 * (faults that find one now retry), then wait once until no fault
	 * still holds any of them. Until now faults could keep using them:
	 * the operation changed nothing they see, and a fault cannot give
	 * one an anon_vma while we hold the write lock.
	 */
	for (i = 0; i < op->nr_old; i++)
		vas__mark(op->old[i]);
	op->marked = true;
	vas__drain_all(op->old, op->nr_old);
	/*
	 * The last step that can fail: the page table's nodes, made now
	 * that no fault adds pages to the ranges. On failure the marks are
	 * undone and the nodes made stay (they change nothing).
	 */
	if (op_prepare_pages(op)) {
		vas_op_abort(op);
		return -ENOMEM;
	}
	for (i = 0; i < op->nr_fresh; i++)
		if (op->fresh[i]->state == VAS_AREA_FRESH)
			uatomic_set(&op->fresh[i]->state, VAS_AREA_LIVE);
	op_apply_pages(op);
	/* Faults cannot touch these ranges now: old areas are drained. */
	for (i = 0; i < op->nr_fresh; i++) {
		struct vas_area *a = op->fresh[i];

		if (a->state == VAS_AREA_LIVE)
			a->rss = vas__pt_count(&vas->pt,
					       a->start >> VAS_PAGE_SHIFT,
					       vas_area_pages(a));
	}
#ifdef VMAD_TEST_HOOKS
	if (vas_test_before_commit)
		vas_test_before_commit(vas);
#endif
	err = vt_txn_commit(&op->txn);
	assert(!err);
	for (i = 0; i < op->nr_fresh; i++)
		if (op->fresh[i]->state == VAS_AREA_DROPPED)
			vas__area_put(vas, op->fresh[i]);
	uatomic_set(&vas->map_count, vas->map_count + op->dcount);
	uatomic_set(&vas->locked_vm, vas->locked_vm + op->dlocked);
	uatomic_set(&vas->mapped_bytes, vas->mapped_bytes + op->dbytes);
	uatomic_set(&vas->mutations, vas->mutations + 1);
	op_free_lists(op);
	return err;
}

/**
 * vas_op_end() - End an operation whose steps Linux keeps when a later
 * step fails (mprotect over a hole, mremap): commit what it changed, or
 * abort everything after an allocation failure.
 * @err: the operation's own (semantic) error, or 0.
 * Context: Writer.
 * Return: the allocation failure, else the commit's error, else @err.
 */
int vas_op_end(struct vas_op *op, int err)
{
	int ferr;

	if (op->err) {
		err = op->err;
		vas_op_abort(op);
		return err;
	}
	ferr = vas_op_finish(op);
	return ferr ? ferr : err;
}
