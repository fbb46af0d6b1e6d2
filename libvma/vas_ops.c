// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: mmap, munmap, mprotect, mremap, brk and stack growth.
 *
 * Each system call follows the shape and the checks of Linux 6.x
 * (mm/mmap.c, mm/vma.c, mm/mprotect.c, mm/mremap.c) on one transaction
 * (vas_op.c):
 *
 * - argument checks return the errno Linux returns, in Linux's order;
 * - placement is top-down below mmap_base, then bottom-up from
 *   task_size / 3 (unmapped_area_topdown(), unmapped_area()), with the
 *   stack guard gap of growsdown/growsup neighbours and mmap_min_addr;
 * - unmapping splits the edge areas, failing with -ENOMEM when a split
 *   would exceed max_map_count (vms_gather_munmap_vmas());
 * - new ranges merge with their neighbours (vma_merge_new_range()),
 *   changed ranges with theirs (vma_merge_existing_range()), comparing
 *   flags (prot, shared, growsdown/up, noreserve, VM_ACCOUNT), file and
 *   contiguous page offset, and the anon_vma (is_mergeable_anon_vma()).
 *
 * Where Linux applies part of an operation and then fails (mprotect over
 * a hole, mremap after unmapping its destination), the parts Linux
 * completes are committed, in one transaction, and the error returned.
 * An allocation failure always leaves the space unchanged.
 */
#include "vas_op.h"

#include <errno.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Merging                                                             */

static bool is_fork_child(const struct vas_area *a)
{
	return a && (vas_area_anon(a) & VAS_ANON_FORKED);
}

/*
 * struct vas_merge - the merge question of mm/vma.c: may the proposed
 * range @p merge with @prev (on its left) and/or @next (on its right)?
 * @src is the area being changed (existing-range merge), @copied_from the
 * source of an mremap copy; both may be NULL.
 */
struct vas_merge {
	const struct vas_proto *p;
	struct vas_area *prev, *next;
	const struct vas_area *src;
	const struct vas_area *copied_from;
};

static bool is_mergeable_area(const struct vas_area *tgt,
			      const struct vas_proto *p)
{
	/* is_mergeable_vma(): sticky flags do not keep VMAs apart. */
	return !((tgt->flags ^ p->flags) & ~VAS_F_STICKY) &&
	       tgt->file == p->file && tgt->name == p->name;
}

static bool is_mergeable_anon(const struct vas_merge *m,
			      const struct vas_area *tgt)
{
	uint32_t tgt_anon = vas_area_anon(tgt);
	uint32_t src_anon = m->p->anon;

	if (!tgt_anon && src_anon)
		return !is_fork_child(m->src) && !is_fork_child(m->copied_from);
	if (tgt_anon && !src_anon)
		return !is_fork_child(tgt);
	return tgt_anon == src_anon;
}

static bool can_merge_left(const struct vas_merge *m)
{
	const struct vas_area *prev = m->prev;

	return prev && prev->end == m->p->start &&
	       is_mergeable_area(prev, m->p) && is_mergeable_anon(m, prev) &&
	       prev->pgoff + vas_area_pages(prev) == m->p->pgoff;
}

static bool can_merge_right(const struct vas_merge *m, bool left)
{
	const struct vas_area *next = m->next;
	uint64_t pglen = (m->p->end - m->p->start) >> VAS_PAGE_SHIFT;
	uint32_t pa, na;

	if (!next || m->p->end != next->start ||
	    !is_mergeable_area(next, m->p) || !is_mergeable_anon(m, next) ||
	    next->pgoff != m->p->pgoff + pglen)
		return false;
	if (!left)
		return true;
	pa = vas_area_anon(m->prev);
	na = vas_area_anon(next);
	return !pa || !na || pa == na;
}

/*
 * merge_new_range() - vma_merge_new_range(): expand @m->prev and/or
 * @m->next over the proposed range. @just_expand only tries prev (brk).
 * Return: the merged fresh area (stored), or NULL if no merge applies
 * (or on allocation failure, recorded in @op).
 */
static struct vas_area *
merge_new_range(struct vas_op *op, const struct vas_merge *m, bool just_expand)
{
	const struct vas_proto *p = m->p;
	struct vas_proto n = *p;
	struct vas_area *target, *a;
	bool left, right;

	if (!m->prev && !m->next)
		return NULL;
	left = can_merge_left(m);
	right = !just_expand && can_merge_right(m, left);
	if (!left && !right)
		return NULL;
	target = left ? m->prev : m->next;
	if (left) {
		n.start = m->prev->start;
		n.pgoff = m->prev->pgoff;
	}
	if (right)
		n.end = m->next->end;
	/* The merged VMA keeps the sticky flags of every VMA it covers. */
	if (left)
		n.flags |= m->prev->flags & VAS_F_STICKY;
	if (right)
		n.flags |= m->next->flags & VAS_F_STICKY;
	/* dup_anon_vma(): the target keeps its anon_vma or inherits one. */
	n.anon = vas_area_anon(target);
	if (!n.anon && left && right)
		n.anon = vas_area_anon(m->next);
	if (!n.anon && m->copied_from)
		n.anon = p->anon;
	a = vas_op_new_area(op, &n);
	if (!a)
		return NULL;
	if (left)
		vas_op_retire(op, m->prev);
	if (right)
		vas_op_retire(op, m->next);
	vas_op_store(op, a);
	return a;
}

/*
 * merge_existing_range() - vma_merge_existing_range(): [@start, @end) of
 * @middle gets @flags; merge it into @prev and/or the next area.
 * Return: the area now covering @start, or NULL if no merge applies.
 */
static struct vas_area *
merge_existing_range(struct vas_op *op, struct vas_area *prev,
		     struct vas_area *middle, uint64_t start, uint64_t end,
		     uint32_t flags, struct vas_file *name)
{
	bool left_side = start == middle->start,
	     right_side = end == middle->end;
	struct vas_proto p = {
		.start = start,
		.end = end,
		.pgoff = middle->pgoff +
			 ((start - middle->start) >> VAS_PAGE_SHIFT),
		.file = middle->file,
		.name = name,
		.flags = flags,
		.anon = vas_area_anon(middle),
	};
	struct vas_merge m = {.p = &p, .prev = prev, .src = middle};
	struct vas_proto n = p;
	bool left, right;
	struct vas_area *a, *rest = NULL, *next = NULL;

	if (!left_side && !right_side)
		return NULL;
	if (prev == middle)
		m.prev = NULL;
	left = left_side && can_merge_left(&m);
	if (right_side) {
		next = vas_op_next(op, middle->end);
		m.next = next;
		right = can_merge_right(&m, left);
	} else {
		right = false;
	}
	if (!left && !right)
		return NULL;

	/* Sticky flags survive the merge (middle's are in @flags). */
	if (left)
		n.flags |= prev->flags & VAS_F_STICKY;
	if (right)
		n.flags |= next->flags & VAS_F_STICKY;
	if (left && right) {
		/* prev extends over middle and next. */
		n.start = prev->start;
		n.end = next->end;
		n.pgoff = prev->pgoff;
		n.anon = vas_area_anon(prev);
		if (!n.anon)
			n.anon = vas_area_anon(next) ? vas_area_anon(next)
						     : vas_area_anon(middle);
	} else if (left) {
		/* prev extends to end; middle shrinks or goes. */
		n.start = prev->start;
		n.pgoff = prev->pgoff;
		n.anon = vas_area_anon(prev) ? vas_area_anon(prev) : p.anon;
		if (!right_side)
			rest = vas_op_clone(op, middle, end, middle->end);
	} else {
		/* next extends down to start; middle shrinks or goes. */
		n.end = next->end;
		n.pgoff =
			next->pgoff - ((next->start - start) >> VAS_PAGE_SHIFT);
		n.anon = vas_area_anon(next) ? vas_area_anon(next) : p.anon;
		if (!left_side)
			rest = vas_op_clone(op, middle, middle->start, start);
	}
	a = vas_op_new_area(op, &n);
	if (!a)
		return NULL;
	if (left)
		vas_op_retire(op, prev);
	vas_op_retire(op, middle);
	if (right)
		vas_op_retire(op, next);
	vas_op_store(op, a);
	vas_op_store(op, rest);
	return a;
}

/* ------------------------------------------------------------------ */
/* Placement                                                           */

/**
 * vas__start_gap() - vm_start_gap(): the lowest address a new mapping may
 * end at below @a (its start, less the guard gap if it grows down).
 * Context: Any context.
 */
uint64_t vas__start_gap(const struct vas *vas, const struct vas_area *a)
{
	uint64_t start = a->start;

	if (a->flags & VAS_F_GROWSDOWN) {
		start -= vas->guard_gap;
		if (start > a->start)
			start = 0;
	}
	return start;
}

/**
 * vas__end_gap() - vm_end_gap(): its end, plus the gap if it grows up.
 * Context: Any context.
 */
uint64_t vas__end_gap(const struct vas *vas, const struct vas_area *a)
{
	uint64_t end = a->end;

	if (a->flags & VAS_F_GROWSUP) {
		end += vas->guard_gap;
		if (end < a->end)
			end = -VAS_PAGE_SIZE;
	}
	return end;
}

/* unmapped_area_topdown() */
static int unmapped_area_topdown(struct vas *vas, uint64_t len, uint64_t low,
				 uint64_t high, uint64_t *out)
{
	uint64_t first, gap, gap_end;
	struct vas_area *tmp;

	if (low < VAS_MMAP_MIN_ADDR)
		low = VAS_MMAP_MIN_ADDR;
	for (;;) {
		if (high <= low || high - low < len ||
		    vt_find_free(vas->vt, low, high - 1, len, 1, VT_HIGHEST,
				 &first))
			return -ENOMEM;
		gap_end = first + len;
		gap = gap_end - len;
		tmp = vt_next(vas->vt, gap_end, NULL, NULL);
		if (tmp && (tmp->flags & VAS_F_GROWSDOWN)) {
			if (vas__start_gap(vas, tmp) < gap_end) {
				high = vas__start_gap(vas, tmp);
				continue;
			}
		} else {
			tmp = vt_prev(vas->vt, gap_end - 1, NULL, NULL);
			if (tmp && vas__end_gap(vas, tmp) > gap) {
				high = tmp->start;
				continue;
			}
		}
		*out = gap;
		return 0;
	}
}

/* unmapped_area() */
static int unmapped_area(struct vas *vas, uint64_t len, uint64_t low,
			 uint64_t high, uint64_t *out)
{
	uint64_t gap;
	struct vas_area *tmp;

	if (low < VAS_MMAP_MIN_ADDR)
		low = VAS_MMAP_MIN_ADDR;
	for (;;) {
		if (high <= low || high - low < len ||
		    vt_find_free(vas->vt, low, high - 1, len, 1, VT_LOWEST,
				 &gap))
			return -ENOMEM;
		tmp = vt_next(vas->vt, gap, NULL, NULL);
		if (tmp && (tmp->flags & VAS_F_GROWSDOWN)) {
			if (vas__start_gap(vas, tmp) < gap + len - 1) {
				low = tmp->end;
				continue;
			}
		} else {
			tmp = gap ? vt_prev(vas->vt, gap - 1, NULL, NULL)
				  : NULL;
			if (tmp && vas__end_gap(vas, tmp) > gap) {
				low = vas__end_gap(vas, tmp);
				continue;
			}
		}
		*out = gap;
		return 0;
	}
}

/*
 * A hint is honoured if [addr, addr + len) is free and clear of the guard
 * gaps of its neighbours (x86's arch_get_unmapped_area_topdown()). Unlike
 * the generic allocator, x86 does not compare a hint with mmap_min_addr:
 * mmap() raised it there already (round_hint_to_min()), but an mremap()
 * hint comes as it was given, and a free one below mmap_min_addr is
 * returned and then refused by security_mmap_addr() (-EPERM).
 */
static bool hint_ok(struct vas *vas, uint64_t addr, uint64_t len)
{
	struct vas_area *vma, *prev;

	if (!addr || vas->layout.task_size - len < addr)
		return false;
	vma = vt_next(vas->vt, addr, NULL, NULL);
	prev = vt_prev(vas->vt, addr - 1, NULL, NULL);
	if (vma && addr + len > vas__start_gap(vas, vma))
		return false;
	if (prev && prev != vma && addr < vas__end_gap(vas, prev))
		return false;
	return true;
}

/* mm_get_unmapped_area(): hint, top-down, then bottom-up. */
static int get_area_topdown(struct vas *vas, uint64_t addr, uint64_t len,
			    uint64_t *out)
{
	if (addr) {
		addr &= VAS_PAGE_MASK;
		if (hint_ok(vas, addr, len)) {
			*out = addr;
			return 0;
		}
	}
	if (!unmapped_area_topdown(vas, len, VAS_PAGE_SIZE,
				   vas->layout.mmap_base, out))
		return 0;
	return unmapped_area(vas, len, vas->unmapped_base,
			     vas->layout.task_size, out);
}

/*
 * __thp_get_unmapped_area(): place a mapping of @len bytes at file offset
 * @off so that whole 2 MiB pages of the file can be mapped by PMDs: only
 * when the range covers an aligned 2 MiB of the file; the search asks for
 * @len + 2 MiB, and the result is moved up to the first address congruent
 * to @off modulo 2 MiB (or 2 MiB up if the top-down search already gave
 * one). A hint that is free for the padded length is taken as it is.
 * Return: 0 and *@out; 1 if the rule does not apply (or the padded search
 * failed: the caller searches without the padding).
 */
static int thp_area(struct vas *vas, uint64_t addr, uint64_t len, uint64_t off,
		    uint64_t *out)
{
	uint64_t off_end = off + len, ret, off_sub, len_pad;
	uint64_t off_align = (off + VAS_PMD_SIZE - 1) & ~(VAS_PMD_SIZE - 1);

	if (off_align < off || off_end < off || off_end <= off_align ||
	    off_end - off_align < VAS_PMD_SIZE)
		return 1;
	len_pad = len + VAS_PMD_SIZE;
	if (len_pad < len || off + len_pad < off)
		return 1;
	if (len_pad > vas->layout.task_size ||
	    get_area_topdown(vas, addr, len_pad, &ret))
		return 1;
	if (ret == addr) {
		*out = addr;
		return 0;
	}
	off_sub = (off - ret) & (VAS_PMD_SIZE - 1);
	/* MMF_TOPDOWN: the model always lays out top-down. */
	*out = off_sub ? ret + off_sub : ret + VAS_PMD_SIZE;
	return 0;
}

/*
 * What places a mapping (__get_unmapped_area()): its file's
 * get_unmapped_area (thp_get_unmapped_area() on ext4, xfs, ...: a
 * vas_file with thp_align), the THP placement of anonymous private
 * mappings without a hint whose length is a multiple of 2 MiB, or the
 * plain top-down search. Shared anonymous mappings go through
 * shmem_get_unmapped_area(), which aligns nothing with shmem huge pages
 * off (the default), as here.
 */
struct vas_place {
	bool anon_private;
	struct vas_file *file; /* NULL for anonymous */
	uint64_t pgoff;
};

/*
 * get_unmapped_area() - __get_unmapped_area(): where a mapping of @len
 * bytes goes.
 */
static int get_unmapped_area(struct vas *vas, uint64_t addr, uint64_t len,
			     bool fixed, const struct vas_place *pl,
			     uint64_t *out)
{
	int err;

	if (len > vas->layout.task_size)
		return -ENOMEM;
	if (!fixed) {
		bool thp = !vas->layout.no_thp;

		if (thp && pl->file && pl->file->thp_align &&
		    !thp_area(vas, addr, len, pl->pgoff << VAS_PAGE_SHIFT,
			      &addr))
			err = 0;
		else if (thp && pl->anon_private && !addr &&
			 !(len & (VAS_PMD_SIZE - 1)) &&
			 !thp_area(vas, 0, len, 0, &addr))
			err = 0;
		else
			err = get_area_topdown(vas, addr, len, &addr);
		if (err)
			return err;
	}
	if (addr > vas->layout.task_size - len)
		return -ENOMEM;
	if (vas_offset_in_page(addr))
		return -EINVAL;
	if (addr < VAS_MMAP_MIN_ADDR)
		return -EPERM; /* security_mmap_addr(), unprivileged */
	*out = addr;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Unmapping                                                           */

/*
 * Fetch the areas of a collected batch at once: the loop below reads them
 * one after the other, and areas of a range not touched for a while are
 * cold, so their misses overlap instead of adding up. An area may straddle
 * two lines.
 */
static void prefetch_areas(void *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		__builtin_prefetch(v[i]);
		__builtin_prefetch((const char *)v[i] +
				   sizeof(struct vas_area) - 1);
	}
}

/*
 * special_would_split() - Would removing or changing [start, end) split a
 * special mapping? @first is the first area overlapping the range. Its
 * may_split() hook (special_mapping_split()) refuses with -EINVAL before
 * anything changes.
 */
static bool special_would_split(struct vas_op *op, struct vas_area *first,
				uint64_t start, uint64_t end)
{
	struct vas_area *last;

	if (vas_area_is_special(first) &&
	    (first->start < start || first->end > end))
		return true;
	last = vas_op_load(op, end - 1);
	return last && vas_area_is_special(last) && last->end > end;
}

/*
 * unmap_sealed() - The seal checks of vms_gather_munmap_vmas(): a sealed
 * area in [@start, @end) refuses the unmap with -EPERM. Linux checks the
 * first area before splitting it and each later one as it comes, so when
 * a later area is sealed the first one stays split at @start: that split
 * is done here (the caller commits it with the error).
 * Return: 0, or -EPERM.
 */
static int unmap_sealed(struct vas_op *op, uint64_t start, uint64_t end,
			struct vas_area *first)
{
	struct vas_area *v = first;

	while (v && v->start < end && !(v->flags & VAS_F_SEALED))
		v = vas_op_next(op, v->end);
	if (!v || v->start >= end)
		return 0;
	if (v != first && start > first->start) {
		struct vas_area *l =
			vas_op_clone(op, first, first->start, start);
		struct vas_area *r = vas_op_clone(op, first, start, first->end);

		vas_op_retire(op, first);
		vas_op_store(op, l);
		vas_op_store(op, r);
		/* Two mergeable neighbours that Linux leaves apart. */
		op->vas->merge_check_off = true;
	}
	return -EPERM;
}

/*
 * unmap_range() - vms_gather_munmap_vmas() + clear: remove [start, end)
 * from the transaction, splitting the edge areas, and release its pages.
 * @erase: false if the caller stores over all of [start, end) in the same
 * operation (mmap_region()): the store replaces what is left there, so a
 * separate erase would only cost another pass over the tree.
 * @batch, @n: the first areas overlapping the range, as
 * vt_txn_collect_next() gave them with *@after and *@after_known, which
 * this keeps up to date: the area at or above @end (the right piece of a
 * split, or the next area, or NULL) once a walk has met it.
 * Return: 0; -ENOMEM if the split of one area in three would exceed
 * max_map_count (nothing done).
 */
static int unmap_collected(struct vas_op *op, uint64_t start, uint64_t end,
			   bool erase, void **batch, size_t n, void **after,
			   bool *after_known)
{
	size_t i;

	if (!n)
		return 0;
	prefetch_areas(batch, n);
	if (start > ((struct vas_area *)batch[0])->start &&
	    end < ((struct vas_area *)batch[0])->end &&
	    vas_op_map_count(op) >= op->vas->layout.max_map_count)
		return -ENOMEM;
	if (op->vas->has_sealed && unmap_sealed(op, start, end, batch[0]))
		return -EPERM;
	if (special_would_split(op, batch[0], start, end))
		return -EINVAL;
	/*
	 * Collect, then retire: the pieces stored on the way lie outside
	 * [start, end), so the next batch is collected from the same tree.
	 */
	for (;;) {
		for (i = 0; i < n && !op->err; i++) {
			struct vas_area *v = batch[i], *left = NULL,
					*right = NULL;

			if (v->flags & VAS_F_LOCKED)
				op->dlocked -= ((v->end < end ? v->end : end) -
						(v->start > start ? v->start
								  : start)) >>
					       VAS_PAGE_SHIFT;
			if (v->start < start)
				left = vas_op_clone(op, v, v->start, start);
			if (v->end > end) {
				right = vas_op_clone(op, v, end, v->end);
				*after = right;
				*after_known = true;
			}
			vas_op_retire(op, v);
			vas_op_store(op, left);
			vas_op_store(op, right);
		}
		if (n < 16 || op->err)
			break;
		n = vt_txn_collect_next(
			&op->txn, ((struct vas_area *)batch[15])->end, end - 1,
			batch, 16, NULL, after, after_known);
		prefetch_areas(batch, n);
	}
	if (erase)
		vas_op_erase(op, start, end);
	vas_op_pages(op, VAS_PG_CLEAR, start >> VAS_PAGE_SHIFT, 0,
		     (end - start) >> VAS_PAGE_SHIFT);
	return 0;
}

/* unmap_collected() of what [start, end) overlaps. */
static int unmap_range(struct vas_op *op, uint64_t start, uint64_t end,
		       bool erase)
{
	void *batch[16], *after = NULL;
	bool after_known = false;
	size_t n;

	n = start < end ? vt_txn_collect_next(&op->txn, start, end - 1, batch,
					      16, NULL, &after, &after_known)
			: 0;
	return unmap_collected(op, start, end, erase, batch, n, &after,
			       &after_known);
}

/* do_vmi_munmap() argument checks. */
static int munmap_check(struct vas *vas, uint64_t start, uint64_t *len)
{
	uint64_t ts = vas->layout.task_size;

	if (vas_offset_in_page(start) || start > ts || *len > ts - start)
		return -EINVAL;
	*len = vas_page_align(*len);
	if (!*len)
		return -EINVAL;
	return 0;
}

/* do_munmap() inside an operation: checked, then unmapped. */
static int do_munmap(struct vas_op *op, uint64_t start, uint64_t len)
{
	int err = munmap_check(op->vas, start, &len);

	return err ? err : unmap_range(op, start, start + len, true);
}

int vas_munmap(struct vas *vas, uint64_t addr, uint64_t length)
{
	struct vas_op op;
	int err;

	err = munmap_check(vas, addr, &length);
	if (err)
		return err;
	vas__lock(vas);
	vas_op_begin(&op, vas);
	err = unmap_range(&op, addr, addr + length, true);
	if (err && err != -EPERM)
		vas_op_abort(&op);
	else
		err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}

/* ------------------------------------------------------------------ */
/* mmap                                                                */

/**
 * vas__refresh() - The fresh object standing for @v in this operation: @v
 * itself if the operation built it, else a copy that replaces it (same
 * range and properties), so that the operation may change its pages and
 * give it an anon_vma before publishing it.
 * Context: Writer.
 * Return: the fresh area, or NULL (allocation failure recorded in @op).
 */
struct vas_area *vas__refresh(struct vas_op *op, struct vas_area *v)
{
	struct vas_area *n;

	if (v->state == VAS_AREA_FRESH)
		return v;
	n = vas_op_clone(op, v, v->start, v->end);
	if (!n)
		return NULL;
	vas_op_retire(op, v);
	vas_op_store(op, n);
	return n;
}

/*
 * Fault in [start, end) of fresh area @a, as write faults (@write) or
 * read faults of each page (handle_mm_fault()): a write to private memory
 * gives the area an anon_vma first (vmf_anon_prepare()) and a page of its
 * own, a read of private anonymous memory maps the zero page where the
 * space has one (do_anonymous_page()), anything else maps a page.
 */
static void populate_area(struct vas_op *op, struct vas_area *a, uint64_t start,
			  uint64_t end, bool write)
{
	if (vas_fault_needs_anon(&op->vas->layout, a, write) && !a->anon) {
		/* The area is fresh: set its anon_vma before publishing. */
		struct vas_area *prev =
			a->start ? vas_op_prev(op, a->start - 1) : NULL;
		struct vas_area *next = vas_op_next(op, a->end);

		a->anon = vas__find_mergeable_anon(op->vas, a, prev, next);
	}
	vas_op_pages(op,
		     !write && vas_read_maps_zero_page(&op->vas->layout, a)
			     ? VAS_PG_SET_ZERO
			     : VAS_PG_SET,
		     start >> VAS_PAGE_SHIFT, 0,
		     (end - start) >> VAS_PAGE_SHIFT);
}

/*
 * Fault in [start, end) of area @a (in the range) up to its first guard
 * marker, which a fault answers with VM_FAULT_SIGSEGV.
 * Return: where it stopped: @end, or the guard marker (-EFAULT for the
 * caller); @end also after an allocation failure (recorded in @op).
 */
static uint64_t populate_to_guard(struct vas_op *op, struct vas_area *a,
				  uint64_t start, uint64_t end, bool write)
{
	uint64_t stop = vas__guard_first(vas_op_guards(op), start, end);

	if (stop > start) {
		a = vas__refresh(op, a);
		if (!a)
			return end;
		populate_area(op, a, start, stop, write);
	}
	return stop;
}

/**
 * vas__populate_locked() - __mm_populate(): fault in [start, end) area by
 * area, as mlock(), MAP_LOCKED and mlockall() do (populate_vma_page_range():
 * write faults for private writable areas, read faults for the others).
 * VM_LOCKONFAULT areas are skipped; an inaccessible area or a guard page
 * is -EFAULT (pages before it stay populated): the end with @ignore_errors
 * unset, else the next area is tried.
 * Context: Writer.
 * Return: 0; -EFAULT; -ENOMEM (allocation, recorded in @op).
 */
int vas__populate_locked(struct vas_op *op, uint64_t start, uint64_t end,
			 bool ignore_errors)
{
	uint64_t nstart = start;

	while (nstart < end && !op->err) {
		struct vas_area *a = vas_op_next(op, nstart);
		uint64_t nend, stop;
		bool write;

		if (!a || a->start >= end)
			break;
		if (nstart < a->start)
			nstart = a->start;
		nend = a->end < end ? a->end : end;
		if (a->flags & VAS_F_LOCKONFAULT) {
			nstart = nend;
			continue;
		}
		write = (a->flags & (VAS_F_WRITE | VAS_F_SHARED)) ==
			VAS_F_WRITE;
		stop = (a->flags & VAS_F_ACCESS)
			       ? populate_to_guard(op, a, nstart, nend, write)
			       : nstart;
		if (stop < nend && !ignore_errors)
			return -EFAULT;
		nstart = nend;
	}
	return op->err;
}

/*
 * check_vma_flags() without FOLL_FORCE: may @a be faulted in for a write
 * (@write) or a read? Not a VM_PFNMAP | VM_IO area ([vvar]), and the
 * area's own permission: VM_WRITE for a write, VM_READ for a read (a
 * PROT_WRITE-only or PROT_EXEC-only area has no VM_READ).
 */
static bool faultin_permitted(const struct vas_area *a, bool write)
{
	if (a->file && a->file->special == VAS_SPECIAL_PFNMAP)
		return false;
	return a->flags & (write ? VAS_F_WRITE : VAS_F_READ);
}

/**
 * vas__faultin_locked() - faultin_page_range() for madvise_populate()
 * (MADV_POPULATE_READ/WRITE): fault in every page of [start, end) as a
 * read or a write (@write) of it would, VMA by VMA, stopping at the first
 * error; the pages populated before it stay (the loop of
 * madvise_populate() over __get_user_pages() with FOLL_MADV_POPULATE).
 * Context: Writer.
 * Return: 0; -ENOMEM for an address no VMA holds (vma_lookup(): no stack
 * expansion); -EINVAL for a VMA that does not permit the access;
 * -EFAULT for a guard marker (VM_FAULT_SIGSEGV); -ENOMEM (allocation,
 * recorded in @op).
 */
int vas__faultin_locked(struct vas_op *op, uint64_t start, uint64_t end,
			bool write)
{
	uint64_t addr = start;

	vas_assert_write_locked(op->vas);
	while (addr < end && !op->err) {
		struct vas_area *a = vas_op_load(op, addr);
		uint64_t nend;

		if (!a)
			return -ENOMEM;
		if (!faultin_permitted(a, write))
			return -EINVAL;
		nend = a->end < end ? a->end : end;
		if (populate_to_guard(op, a, addr, nend, write) < nend)
			return op->err ? op->err : -EFAULT;
		addr = nend;
	}
	return op->err;
}

/**
 * vas__mlock_future_ok() - mlock_future_ok(): may @bytes more be locked
 * by a VMA with @flags under RLIMIT_MEMLOCK (no CAP_IPC_LOCK)?
 * Context: Writer.
 */
bool vas__mlock_future_ok(const struct vas_op *op, uint32_t flags,
			  uint64_t bytes)
{
	uint64_t limit = op->vas->layout.memlock_rlimit;

	if (!(flags & VAS_F_LOCKED) || limit == VAS_RLIM_INFINITY)
		return true;
	return (bytes >> VAS_PAGE_SHIFT) + op->vas->locked_vm + op->dlocked <=
	       limit >> VAS_PAGE_SHIFT;
}

/*
 * mmap_region() - map [addr, addr + len) with @flags (VAS_F_*), replacing
 * what it overlaps, merging with the neighbours.
 * Return: 0; -ENOMEM (max_map_count); -EPERM (a sealed area: the split of
 * the first area that Linux leaves is recorded in @op).
 */
static int mmap_region(struct vas_op *op, uint64_t addr, uint64_t len,
		       uint32_t flags, struct vas_file *file, uint64_t pgoff)
{
	struct vas_proto p = {
		.start = addr,
		.end = addr + len,
		.pgoff = pgoff,
		.file = file,
		.flags = flags,
		.anon = 0,
	};
	struct vas_merge m = {.p = &p};
	struct vas_area *a, *v;
	void *prev, *batch[16], *after;
	bool after_known;
	size_t n;
	int err;

	/* What the range overlaps, and its neighbours: one walk. */
	n = vt_txn_collect_next(&op->txn, addr, addr + len - 1, batch, 16,
				&prev, &after, &after_known);
	if (n) {
		bool left = ((struct vas_area *)batch[0])->start < addr;

		/* The new area (or a merge) is stored over all the range. */
		err = unmap_collected(op, addr, addr + len, false, batch, n,
				      &after, &after_known);
		if (err)
			return err;
		/* Without a left piece the first walk's area below stands. */
		if (left)
			prev = vas_op_prev(op, addr - 1);
	}
	/* The area above: the collecting walks met it, or look it up. */
	v = after_known ? after : vas_op_next(op, addr + len);
	/* v, prev: the areas above and below the (now free) range. */
	/* accountable_mapping(): private writable, not noreserve. */
	if ((flags & (VAS_F_NORESERVE | VAS_F_SHARED | VAS_F_WRITE)) ==
	    VAS_F_WRITE)
		p.flags |= VAS_F_ACCOUNT;
	m.prev = prev;
	m.next = v;
	a = merge_new_range(op, &m, false);
	if (!a && !op->err) {
		a = vas_op_new_area(op, &p);
		vas_op_store(op, a);
	}
	/* __mmap_complete() */
	if (flags & VAS_F_LOCKED)
		op->dlocked += len >> VAS_PAGE_SHIFT;
	return 0;
}

/* MAP_SHARED_VALIDATE accepts LEGACY_MAP_MASK only (file mappings). */
#define VAS_MAP_LEGACY                                                         \
	(VAS_MAP_SHARED | VAS_MAP_PRIVATE | VAS_MAP_FIXED |                    \
	 VAS_MAP_ANONYMOUS | VAS_MAP_DENYWRITE | VAS_MAP_EXECUTABLE |          \
	 VAS_MAP_UNINITIALIZED | VAS_MAP_GROWSDOWN | VAS_MAP_LOCKED |          \
	 VAS_MAP_NORESERVE | VAS_MAP_POPULATE | VAS_MAP_NONBLOCK |             \
	 VAS_MAP_STACK)

int vas_mmap(struct vas *vas, uint64_t addr, uint64_t length, unsigned prot,
	     unsigned flags, const char *file, uint64_t offset, uint64_t *out)
{
	struct vas_mmap_args a = {
		.addr = addr,
		.length = length,
		.offset = offset,
		.prot = prot,
		.flags = flags,
		.file = file,
		.thp_align = -1,
	};

	return vas_mmap_ex(vas, &a, out);
}

int vas_mmap_ex(struct vas *vas, const struct vas_mmap_args *args,
		uint64_t *out)
{
	unsigned flags = args->flags, prot = args->prot;
	uint64_t addr = args->addr, length = args->length;
	const char *file = args->file;
	bool anonymous = flags & VAS_MAP_ANONYMOUS;
	bool shared = flags & VAS_MAP_SHARED, priv = flags & VAS_MAP_PRIVATE;
	bool validate = shared && priv;
	bool fixed = flags & (VAS_MAP_FIXED | VAS_MAP_FIXED_NOREPLACE);
	struct vas_place pl = {.anon_private = anonymous && priv && !shared};
	struct vas_file *f = NULL;
	bool new_file = false, do_populate;
	uint64_t pgoff, len;
	uint32_t vmf;
	struct vas_op op;
	int err;

	/* sys_mmap(): the offset must be page-aligned. */
	if (vas_offset_in_page(args->offset))
		return -EINVAL;
	/* ksys_mmap_pgoff(): a file mapping needs a file. */
	if (!anonymous && (!file || !*file))
		return -EBADF;
	if (!length)
		return -EINVAL;
	if (!fixed && addr) {
		/* round_hint_to_min() */
		addr &= VAS_PAGE_MASK;
		if (addr < VAS_MMAP_MIN_ADDR)
			addr = vas_page_align(VAS_MMAP_MIN_ADDR);
	}
	len = vas_page_align(length);
	if (!len)
		return -ENOMEM;
	pgoff = args->offset >> VAS_PAGE_SHIFT;
	if (pgoff + (len >> VAS_PAGE_SHIFT) < pgoff)
		return -EOVERFLOW;

	vas__lock(vas);
	vas_op_begin(&op, vas);
	err = -ENOMEM;
	if (vas->map_count > vas->layout.max_map_count)
		goto out_unlock;
	/* calc_vm_prot_bits() | calc_vm_flag_bits() | mm->def_flags */
	vmf = (prot & VAS_F_ACCESS) | vas->def_flags;
	if (flags & VAS_MAP_GROWSDOWN)
		vmf |= VAS_F_GROWSDOWN;
	if (flags & VAS_MAP_GROWSUP)
		vmf |= VAS_F_GROWSUP;
	if (flags & VAS_MAP_LOCKED)
		vmf |= VAS_F_LOCKED;
	if ((flags & VAS_MAP_STACK) && !vas->layout.no_thp &&
	    !vas->layout.no_map_stack_nohugepage)
		vmf |= VAS_F_NOHUGEPAGE;
	if (!anonymous) {
		f = vas__file_get(vas, file);
		if (!f)
			goto out_unlock;
		new_file = f->refs == 0;
		if (args->thp_align >= 0)
			f->thp_align = args->thp_align;
		pl.file = f;
		pl.pgoff = pgoff;
	}
	err = get_unmapped_area(vas, addr, len, fixed, &pl, &addr);
	if (err)
		goto out_file;
	if (flags & VAS_MAP_FIXED_NOREPLACE) {
		struct vas_area *v = vt_next(vas->vt, addr, NULL, NULL);

		err = -EEXIST;
		if (v && v->start < addr + len)
			goto out_file;
	}
	/* can_do_mlock(), mlock_future_ok() */
	err = -EPERM;
	if ((flags & VAS_MAP_LOCKED) && !vas->layout.memlock_rlimit)
		goto out_file;
	err = -EAGAIN;
	if (!vas__mlock_future_ok(&op, vmf, len))
		goto out_file;
	/* file_mmap_ok(): offsets beyond the largest file size. */
	err = -EOVERFLOW;
	if (!anonymous && pgoff > ((uint64_t)INT64_MAX - len) >> VAS_PAGE_SHIFT)
		goto out_file;
	err = -EINVAL;
	if (!shared && !priv)
		goto out_file; /* neither MAP_SHARED nor MAP_PRIVATE */
	if (validate) {
		/* MAP_SHARED_VALIDATE: a map type of file mappings only. */
		if (anonymous)
			goto out_file;
		err = -EOPNOTSUPP;
		if (flags & ~(unsigned)VAS_MAP_LEGACY)
			goto out_file;
		err = -EINVAL;
		priv = false;
	}
	if ((vmf & (VAS_F_GROWSDOWN | VAS_F_GROWSUP)) && (!anonymous || shared))
		goto out_file;
	if (flags & VAS_MAP_NORESERVE)
		vmf |= VAS_F_NORESERVE;
	if (shared)
		vmf |= VAS_F_SHARED;

	err = -ENOMEM;
	if (anonymous && shared) {
		f = vas__file_new_shmem(vas);
		if (!f)
			goto out_unlock;
		new_file = true;
		pgoff = 0;
	} else if (anonymous) {
		pgoff = addr >> VAS_PAGE_SHIFT;
	}

	err = mmap_region(&op, addr, len, vmf, f, pgoff);
	do_populate = (vmf & VAS_F_LOCKED) ||
		      (flags & (VAS_MAP_POPULATE | VAS_MAP_NONBLOCK)) ==
			      VAS_MAP_POPULATE;
	/* vm_mmap_pgoff(): mm_populate() of the new range, errors ignored. */
	if (!err && do_populate && !op.err)
		vas__populate_locked(&op, addr, addr + len, true);
	if (err == -EPERM) {
		err = vas_op_end(&op, err);
	} else if (err) {
		vas_op_abort(&op);
	} else {
		err = vas_op_finish(&op);
	}
	if (!err)
		*out = addr;
	goto out_file_unlock;
out_file:
	vas_op_abort(&op);
out_file_unlock:
	if (f && f->refs == 0 && new_file) {
		/*
		 * Nothing refers to a file created for a failed mapping. A
		 * shmem file gives its inode number back (shmem_zero_setup()
		 * comes after every check that can fail): a failed mmap leaves
		 * the space as it was, so a journal need not record it.
		 */
		if (f->shmem && f->inode == vas->next_shmem_ino)
			vas->next_shmem_ino--;
		vas__file_unlink(vas, f);
		vma_free(f);
	}
	vas__unlock(vas);
	return err;
out_unlock:
	vas_op_abort(&op);
	vas__unlock(vas);
	return err;
}

/* ------------------------------------------------------------------ */
/* mprotect                                                            */

/**
 * vas__modify_range() - vma_modify_flags() / vma_modify_name(): give
 * [@start, @end) of @v the flags @newflags and the name @name: merge with
 * a neighbour, or split. *@prev is updated to the area now covering
 * @start.
 * Context: Writer.
 * Return: the area covering @start; NULL with *@err on failure (-ENOMEM:
 *         a split beyond max_map_count, or allocation).
 */
struct vas_area *vas__modify_range(struct vas_op *op, struct vas_area *v,
				   struct vas_area **prev, uint64_t start,
				   uint64_t end, uint32_t newflags,
				   struct vas_file *name, int *err)
{
	uint64_t max = op->vas->layout.max_map_count, count;
	struct vas_area *r, *left = NULL, *right = NULL;
	struct vas_proto p;

	*err = 0;
	if (newflags == v->flags && name == v->name) {
		*prev = v;
		return v;
	}
	r = merge_existing_range(op, *prev, v, start, end, newflags, name);
	if (op->err) {
		*err = op->err;
		return NULL;
	}
	if (r) {
		*prev = r;
		return r;
	}
	/* special_mapping_split() */
	if (vas_area_is_special(v) && (v->start < start || v->end > end)) {
		*err = -EINVAL;
		return NULL;
	}
	/* split_vma() refuses at max_map_count, for each split. */
	count = vas_op_map_count(op);
	if (v->start < start && count++ >= max) {
		*err = -ENOMEM;
		return NULL;
	}
	if (v->end > end && count >= max) {
		*err = -ENOMEM;
		return NULL;
	}
	if (v->start < start)
		left = vas_op_clone(op, v, v->start, start);
	if (v->end > end)
		right = vas_op_clone(op, v, end, v->end);
	p = (struct vas_proto){
		.start = start,
		.end = end,
		.pgoff = v->pgoff + ((start - v->start) >> VAS_PAGE_SHIFT),
		.file = v->file,
		.name = name,
		.flags = newflags,
		.anon = vas_area_anon(v),
	};
	r = vas_op_new_area(op, &p);
	if (!r) {
		*err = op->err;
		return NULL;
	}
	vas_op_retire(op, v);
	vas_op_store(op, left);
	vas_op_store(op, r);
	vas_op_store(op, right);
	*prev = r;
	return r;
}

/*
 * mprotect_fixup() - give [start, end) of @v the flags @newflags: merge,
 * or split. *@prev is updated to the area now covering @start.
 * Return: the area covering @start; NULL with *@err on failure.
 */
static struct vas_area *mprotect_fixup(struct vas_op *op, struct vas_area *v,
				       struct vas_area **prev, uint64_t start,
				       uint64_t end, uint32_t newflags,
				       int *err)
{
	if (v->flags & VAS_F_SEALED) {
		*err = -EPERM;
		return NULL;
	}
	if (newflags == v->flags) {
		*err = 0;
		*prev = v;
		return v;
	}
	if (newflags & VAS_F_WRITE) {
		if (!(v->flags & (VAS_F_ACCOUNT | VAS_F_WRITE | VAS_F_SHARED |
				  VAS_F_NORESERVE)))
			newflags |= VAS_F_ACCOUNT;
	} else if ((v->flags & VAS_F_ACCOUNT) && vas_area_is_anon_private(v) &&
		   !vas_area_anon(v)) {
		newflags &= ~VAS_F_ACCOUNT;
	}
	return vas__modify_range(op, v, prev, start, end, newflags, v->name,
				 err);
}

int vas_mprotect(struct vas *vas, uint64_t addr, uint64_t length, unsigned prot)
{
	uint64_t start = addr, end, nstart, tmp;
	struct vas_area *v, *prev;
	struct vas_op op;
	int err = 0, ferr;

	if (prot & ~(unsigned)VAS_F_ACCESS)
		return -EINVAL;
	if (vas_offset_in_page(start))
		return -EINVAL;
	if (!length)
		return 0;
	length = vas_page_align(length);
	end = start + length;
	if (end <= start)
		return -ENOMEM;

	vas__lock(vas);
	vas_op_begin(&op, vas);
	v = vas_op_next(&op, start);
	if (!v || v->start >= end || v->start > start) {
		err = -ENOMEM;
		goto out;
	}
	prev = start > v->start
		       ? v
		       : (v->start ? vas_op_prev(&op, v->start - 1) : NULL);
	nstart = start;
	tmp = v->start;
	while (v && v->start < end) {
		uint32_t newflags = (v->flags & ~VAS_F_ACCESS) | prot;
		struct vas_area *r;

		if (v->start != tmp) {
			err = -ENOMEM; /* a hole */
			break;
		}
		/* No VM_MAYWRITE/VM_MAYEXEC: [vvar] (VM_PFNMAP | VM_IO). */
		if (v->file && v->file->special == VAS_SPECIAL_PFNMAP &&
		    (prot & (VAS_F_WRITE | VAS_F_EXEC))) {
			err = -EACCES;
			break;
		}
		uint32_t oldflags = v->flags;
		uint64_t seg_end;

		tmp = v->end < end ? v->end : end;
		seg_end = tmp;
		r = mprotect_fixup(&op, v, &prev, nstart, tmp, newflags, &ferr);
		if (!r) {
			err = ferr;
			break;
		}
		/*
		 * mprotect_fixup(): a private VM_LOCKED VMA becoming writable
		 * is populated now (COW broken), errors ignored.
		 */
		if ((oldflags & (VAS_F_WRITE | VAS_F_SHARED | VAS_F_LOCKED)) ==
			    VAS_F_LOCKED &&
		    (newflags & VAS_F_WRITE)) {
			vas__populate_locked(&op, nstart, seg_end, true);
			r = vas_op_load(&op, nstart);
		}
		tmp = r->end;
		nstart = tmp;
		v = tmp < end ? vas_op_next(&op, tmp) : NULL;
	}
	if (!err && tmp < end)
		err = -ENOMEM;
out:
	err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}

/* ------------------------------------------------------------------ */
/* mremap                                                              */

/*
 * check_prep_vma(): the checks of the source VMA @v before anything
 * changes. Return: 0; -EFAULT, -EINVAL.
 */
static int check_prep_vma(struct vas_op *op, struct vas_area *v, uint64_t addr,
			  uint64_t old_len, uint64_t new_len, unsigned flags)
{
	bool new_addr = flags & (VAS_MREMAP_FIXED | VAS_MREMAP_DONTUNMAP);
	uint64_t pgoff;

	if (!v)
		return -EFAULT;
	/* If mseal()'d, mremap() is prohibited. */
	if (v->flags & VAS_F_SEALED)
		return -EPERM;
	if (new_len <= old_len && !new_addr)
		return 0; /* no new address space: nothing to check */
	if (!old_len && !(v->flags & VAS_F_SHARED))
		return -EINVAL;
	/* VM_DONTEXPAND | VM_PFNMAP: special mappings */
	if ((flags & VAS_MREMAP_DONTUNMAP) && vas_area_is_special(v))
		return -EINVAL;
	if (old_len > new_len)
		old_len = new_len; /* the shrunk tail may cross VMAs */
	if (old_len > v->end - addr)
		return -EFAULT;
	if (new_len == old_len)
		return 0;
	pgoff = v->pgoff + ((addr - v->start) >> VAS_PAGE_SHIFT);
	if (pgoff + (new_len >> VAS_PAGE_SHIFT) < pgoff)
		return -EINVAL;
	if (new_len > old_len && vas_area_is_special(v))
		return -EFAULT; /* VM_DONTEXPAND | VM_PFNMAP never grow */
	if (new_len > old_len &&
	    !vas__mlock_future_ok(op, v->flags & VAS_F_LOCKED,
				  new_len - old_len))
		return -EAGAIN;
	return 0;
}

/*
 * copy_vma() - the destination area of a move: a copy of @v at
 * [new_addr, new_addr + new_len), merged with its new neighbours if
 * possible. An unfaulted anonymous area takes the page offset of its new
 * address; a faulted one keeps its offset (and so rarely merges).
 */
static struct vas_area *copy_vma(struct vas_op *op, struct vas_area *v,
				 uint64_t old_addr, uint64_t new_addr,
				 uint64_t new_len)
{
	struct vas_proto p = {
		.start = new_addr,
		.end = new_addr + new_len,
		.pgoff = v->pgoff + ((old_addr - v->start) >> VAS_PAGE_SHIFT),
		.file = v->file,
		.name = v->name,
		.flags = v->flags,
		.anon = vas_area_anon(v),
	};
	struct vas_merge m = {.p = &p, .copied_from = v};
	struct vas_area *a;

	if (vas_area_is_anon_private(v) && !p.anon)
		p.pgoff = new_addr >> VAS_PAGE_SHIFT;
	m.prev = new_addr ? vas_op_prev(op, new_addr - 1) : NULL;
	m.next = vas_op_next(op, new_addr + new_len);
	a = merge_new_range(op, &m, false);
	if (!a && !op->err) {
		a = vas_op_new_area(op, &p);
		vas_op_store(op, a);
	}
	return a;
}

/* move_vma(): move [old_addr, +old_len) of @v to new_addr. */
static int move_vma(struct vas_op *op, struct vas_area *v, uint64_t old_addr,
		    uint64_t old_len, uint64_t new_len, uint64_t new_addr,
		    unsigned flags, uint64_t *out)
{
	struct vas *vas = op->vas;
	int err;

	if (vas_op_map_count(op) >= vas->layout.max_map_count - 3)
		return -ENOMEM;
	/* move_vma(): may_split() of the edges of a partial move */
	if (vas_area_is_special(v) &&
	    (v->start != old_addr || v->end != old_addr + old_len))
		return -EINVAL;
	if (!copy_vma(op, v, old_addr, new_addr, new_len))
		return op->err ? op->err : -ENOMEM;
	/* vrm_stat_account(): the new range counts as locked. */
	if (v->flags & VAS_F_LOCKED)
		op->dlocked += new_len >> VAS_PAGE_SHIFT;
	vas_op_pages(op, VAS_PG_MOVE, old_addr >> VAS_PAGE_SHIFT,
		     new_addr >> VAS_PAGE_SHIFT, old_len >> VAS_PAGE_SHIFT);
	if (flags & VAS_MREMAP_DONTUNMAP) {
		/*
		 * The old range stays mapped, empty. Its pages leave, so the
		 * area is replaced by a copy (published areas never change,
		 * and their resident count is fixed when they are published).
		 * If the whole area moved, the copy loses the anon_vma
		 * (unlink_anon_vmas()). If the new range merged with the
		 * source itself (copy_vma(): an unfaulted source next to its
		 * destination), the merged area already replaced it.
		 */
		struct vas_area *n =
			vas_op_load(op, old_addr) == v
				? vas_op_clone(op, v, v->start, v->end)
				: NULL;

		if (n) {
			/*
			 * dontunmap_complete(): the old VMA is no longer
			 * locked (locked_vm is left as it is).
			 */
			if (n->flags & VAS_F_LOCKED) {
				/* Unlocked neighbours Linux leaves apart. */
				vas->locked_drift = true;
				vas->merge_check_off = true;
			}
			n->flags &= ~VAS_F_LOCKED_MASK;
			if (v->start == old_addr &&
			    v->end == old_addr + old_len && vas_area_anon(v)) {
				n->anon = 0;
				vas->merge_check_off = true;
			}
			vas_op_retire(op, v);
			vas_op_store(op, n);
		}
		*out = new_addr;
		return op->err;
	}
	/*
	 * The old range goes; a split failure leaves it (Linux only fixes
	 * its accounting), and so does an old length of 0 (the "duplicate a
	 * shared mapping" case: do_munmap() of nothing fails with EINVAL).
	 */
	err = unmap_range(op, old_addr, old_addr + old_len, true);
	(void)err;
	*out = new_addr;
	return op->err;
}

/*
 * How a move of @v from @addr is placed (vrm_set_new_addr()): with the
 * file and page offset of the moved range, as get_unmapped_area() sees it.
 */
static const struct vas_place *remap_place(const struct vas_area *v,
					   uint64_t addr, struct vas_place *pl)
{
	pl->anon_private = vas_area_is_anon_private(v);
	pl->file = v->file && !v->file->shmem ? v->file : NULL;
	pl->pgoff = v->pgoff + ((addr - v->start) >> VAS_PAGE_SHIFT);
	return pl;
}

/* mremap_to(): MREMAP_FIXED or MREMAP_DONTUNMAP, source checked. */
static int mremap_to(struct vas_op *op, uint64_t addr, uint64_t old_len,
		     uint64_t new_addr, uint64_t new_len, unsigned flags,
		     uint64_t *out)
{
	struct vas *vas = op->vas;
	struct vas_place pl;
	struct vas_area *v;
	int err;

	if (flags & VAS_MREMAP_FIXED) {
		err = do_munmap(op, new_addr, new_len);
		if (err)
			return err;
	}
	if (old_len > new_len) {
		err = do_munmap(op, addr + new_len, old_len - new_len);
		if (err)
			return err;
		old_len = new_len;
	}
	v = vas_op_load(op, addr);
	if (!v)
		return -EFAULT;
	/*
	 * With MREMAP_FIXED this only checks the address (mmap_min_addr);
	 * a hint is looked up in the committed tree, still unchanged then.
	 */
	err = get_unmapped_area(vas, new_addr, new_len,
				flags & VAS_MREMAP_FIXED,
				remap_place(v, addr, &pl), &new_addr);
	if (err)
		return err;
	return move_vma(op, v, addr, old_len, new_len, new_addr, flags, out);
}

/*
 * remap_move(): MREMAP_FIXED with old_len == new_len moves every VMA of
 * [addr, addr + len), keeping the gaps between them (Linux 6.17+). A gap
 * at the start is -EFAULT.
 */
static int remap_move(struct vas_op *op, uint64_t addr, uint64_t len,
		      uint64_t new_addr, unsigned flags, uint64_t *out)
{
	uint64_t end = addr + len, target = new_addr, last_end = 0, res = 0;
	bool seen = false;
	struct vas_area *v;
	int err;

	while ((v = vas_op_next(op, seen ? last_end : addr)) != NULL &&
	       v->start < end) {
		uint64_t a = v->start > addr ? v->start : addr;
		uint64_t l = (end < v->end ? end : v->end) - a;
		uint64_t off = seen ? v->start - last_end : 0, got;

		if (!seen && addr < v->start)
			return -EFAULT;
		last_end = v->end;
		err = check_prep_vma(op, v, a, l, l, flags);
		if (!err)
			err = mremap_to(op, a, l, target + off, l, flags, &got);
		if (err)
			return err;
		if (!seen)
			res = got;
		seen = true;
		target = got + l;
		if (op->err)
			return op->err;
	}
	if (!seen)
		return -EFAULT;
	*out = res;
	return 0;
}

/* vma_expandable() */
static bool vma_expandable(struct vas_op *op, struct vas_area *v,
			   uint64_t delta)
{
	uint64_t end = v->end + delta;
	struct vas_area *n;

	if (end < v->end || end > op->vas->layout.task_size)
		return false;
	n = vas_op_next(op, v->end);
	return !n || n->start >= end;
}

static int mremap_locked(struct vas_op *op, uint64_t addr, uint64_t old_len,
			 uint64_t new_len, unsigned flags, uint64_t new_addr,
			 uint64_t *out, bool *populate)
{
	struct vas *vas = op->vas;
	struct vas_place pl;
	struct vas_area *v;
	int err;

	/* check_map_count_against_split_early() */
	if ((flags & (VAS_MREMAP_FIXED | VAS_MREMAP_DONTUNMAP)) &&
	    vas_op_map_count(op) + 6 > vas->layout.max_map_count)
		return -ENOMEM;
	if ((flags & VAS_MREMAP_FIXED) && old_len == new_len)
		return remap_move(op, addr, old_len, new_addr, flags, out);
	v = vas_op_load(op, addr);
	err = check_prep_vma(op, v, addr, old_len, new_len, flags);
	if (err)
		return err;
	/* An mlock()ed VMA that grows gets its new pages populated. */
	*populate = (v->flags & VAS_F_LOCKED) && new_len > old_len;
	if (flags & (VAS_MREMAP_FIXED | VAS_MREMAP_DONTUNMAP))
		return mremap_to(op, addr, old_len, new_addr, new_len, flags,
				 out);
	*out = addr;
	if (old_len == new_len)
		return 0;
	if (old_len > new_len)
		return do_munmap(op, addr + new_len, old_len - new_len);
	if (old_len == v->end - addr) {
		uint64_t delta = new_len - old_len;

		if (vma_expandable(op, v, delta)) {
			/* vma_merge_extend(): v grows, maybe into next. */
			struct vas_proto p = {
				.start = v->end,
				.end = v->end + delta,
				.pgoff = v->pgoff + vas_area_pages(v),
				.file = v->file,
				.name = v->name,
				.flags = v->flags,
				.anon = vas_area_anon(v),
			};
			struct vas_merge m = {.p = &p, .prev = v};

			m.next = vas_op_next(op, p.end);
			if (!merge_new_range(op, &m, false))
				return op->err ? op->err : -ENOMEM;
			if (v->flags & VAS_F_LOCKED)
				op->dlocked += delta >> VAS_PAGE_SHIFT;
			return 0;
		}
	}
	if (!(flags & VAS_MREMAP_MAYMOVE))
		return -ENOMEM;
	err = get_unmapped_area(vas, 0, new_len, false,
				remap_place(v, addr, &pl), &new_addr);
	if (err)
		return err;
	return move_vma(op, v, addr, old_len, new_len, new_addr, flags, out);
}

int vas_mremap(struct vas *vas, uint64_t old_addr, uint64_t old_length,
	       uint64_t new_length, unsigned flags, uint64_t new_addr,
	       uint64_t *out)
{
	uint64_t ts = vas->layout.task_size;
	bool populate = false;
	struct vas_op op;
	int err;

	/* check_mremap_params(), before the lock */
	if (flags & ~(unsigned)(VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED |
				VAS_MREMAP_DONTUNMAP))
		return -EINVAL;
	if (vas_offset_in_page(old_addr))
		return -EINVAL;
	old_length = vas_page_align(old_length);
	new_length = vas_page_align(new_length);
	if (!new_length || new_length > ts)
		return -EINVAL;
	if (flags & (VAS_MREMAP_FIXED | VAS_MREMAP_DONTUNMAP)) {
		if (new_addr > ts - new_length || vas_offset_in_page(new_addr))
			return -EINVAL;
		if (!(flags & VAS_MREMAP_MAYMOVE))
			return -EINVAL;
		if ((flags & VAS_MREMAP_DONTUNMAP) && old_length != new_length)
			return -EINVAL;
		if (old_addr + old_length > new_addr &&
		    new_addr + new_length > old_addr)
			return -EINVAL;
	}

	vas__lock(vas);
	vas_op_begin(&op, vas);
	err = mremap_locked(&op, old_addr, old_length, new_length, flags,
			    new_addr, out, &populate);
	/* mm_populate() of the grown part of a locked VMA, errors ignored. */
	if (!err && populate)
		vas__populate_locked(&op, *out + old_length, *out + new_length,
				     true);
	err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}

/* ------------------------------------------------------------------ */
/* brk                                                                 */

/* Return: 0; 1 if Linux refuses; -ENOMEM on allocation failure. */
static int brk_locked(struct vas *vas, uint64_t brk)
{
	uint64_t newbrk, oldbrk, limit;
	struct vas_area *next, *brkvma;
	struct vas_op op;
	int err;

	if (brk < vas->start_brk)
		return 1;
	newbrk = vas_page_align(brk);
	oldbrk = vas_page_align(vas->brk);
	if (oldbrk == newbrk) {
		vas->brk = brk;
		return 0;
	}
	if (brk <= vas->brk) {
		/* Always allow shrinking brk. */
		brkvma = vt_next(vas->vt, newbrk, NULL, NULL);
		if (!brkvma || brkvma->start >= oldbrk)
			return 1;
		vas_op_begin(&op, vas);
		err = unmap_range(&op, newbrk, oldbrk, true);
		if (err == -EPERM) {
			/* Sealed: refused, a split Linux made stays. */
			err = vas_op_end(&op, 0);
			return err ? err : 1;
		}
		if (err) {
			vas_op_abort(&op);
			return 1;
		}
		err = vas_op_finish(&op);
		if (!err)
			vas->brk = brk;
		return err;
	}
	/* check_brk_limits() */
	if (newbrk - oldbrk > vas->layout.task_size ||
	    oldbrk > vas->layout.task_size - (newbrk - oldbrk))
		return 1;
	vas_op_begin(&op, vas);
	if (!vas__mlock_future_ok(&op, vas->def_flags, newbrk - oldbrk)) {
		vas_op_abort(&op);
		return 1;
	}
	vas_op_abort(&op);
	/* The next area must stay a page (and its guard gap) away. */
	limit = newbrk + VAS_PAGE_SIZE + vas->guard_gap;
	next = vt_next(vas->vt, oldbrk, NULL, NULL);
	if (next && next->start < limit &&
	    newbrk + VAS_PAGE_SIZE > vas__start_gap(vas, next))
		return 1;
	/* do_brk_flags() */
	if (vas->map_count > vas->layout.max_map_count)
		return 1;
	brkvma = oldbrk ? vt_load(vas->vt, oldbrk - 1, NULL, NULL) : NULL;
	if (brkvma && brkvma->end <= vas->start_brk)
		brkvma = NULL;
	vas_op_begin(&op, vas);
	{
		struct vas_proto p = {
			.start = oldbrk,
			.end = newbrk,
			.pgoff = oldbrk >> VAS_PAGE_SHIFT,
			.file = NULL,
			.flags = VAS_F_READ | VAS_F_WRITE | VAS_F_ACCOUNT |
				 vas->def_flags,
			.anon = 0,
		};
		struct vas_merge m = {.p = &p, .prev = brkvma};
		struct vas_area *a = NULL;

		if (brkvma && brkvma->end == oldbrk)
			a = merge_new_range(&op, &m, true);
		if (!a && !op.err) {
			struct vas_area *below =
				oldbrk ? vt_load(vas->vt, oldbrk - 1, NULL,
						 NULL)
				       : NULL;

			a = vas_op_new_area(&op, &p);
			vas_op_store(&op, a);
			/*
			 * Linux expands only a VMA at or above start_brk
			 * (vma_prev_limit()): a new heap next to a compatible
			 * VMA below start_brk stays a VMA of its own.
			 */
			if (a && below && below != brkvma &&
			    vas__should_have_merged(vas, below, a))
				vas->merge_check_off = true;
		}
		if (p.flags & VAS_F_LOCKED) {
			/* mm_populate() of the new part, errors ignored. */
			op.dlocked += (newbrk - oldbrk) >> VAS_PAGE_SHIFT;
			if (!op.err)
				vas__populate_locked(&op, oldbrk, newbrk, true);
		}
	}
	err = vas_op_finish(&op);
	if (!err)
		vas->brk = brk;
	return err;
}

int vas_brk(struct vas *vas, uint64_t addr, uint64_t *out)
{
	int err;

	vas__lock(vas);
	/* Odd across the commit and the new brk: see maps_rcu(). */
	uatomic_set(&vas->brk_seq, vas->brk_seq + 1);
	cmm_smp_wmb();
	err = brk_locked(vas, addr);
	cmm_smp_wmb();
	uatomic_set(&vas->brk_seq, vas->brk_seq + 1);
	*out = vas->brk;
	vas__unlock(vas);
	/*
	 * brk() reports a refusal by returning the old break; only running
	 * out of the simulator's own memory is an error.
	 */
	return err < 0 ? err : 0;
}

/* ------------------------------------------------------------------ */
/* Stack growth                                                        */

/*
 * stack_anon_prepare() - anon_vma_prepare() of a stack about to grow: a
 * stack that has no anon_vma yet gets one, shared with a neighbour where
 * Linux would share it. expand_downwards() and expand_upwards() do this
 * before acct_stack_growth() checks the limits, so a growth that
 * RLIMIT_STACK (or the page offset) refuses still leaves the anon_vma,
 * and later merges show it. The guard-gap refusal comes before it.
 * Like a fault's anon_vma, it is set in place (vas_area.anon is the one
 * mutable property); an aborted growth does not undo it, as in Linux.
 * Context: Writer.
 */
static void stack_anon_prepare(struct vas_op *op, struct vas_area *v,
			       struct vas_area *prev, struct vas_area *next)
{
	if (vas_area_anon(v))
		return;
	uatomic_set(&v->anon, vas__find_mergeable_anon(op->vas, v, prev, next));
	op->anon_prepared = true;
}

/*
 * Replace stack @v (its anon_vma prepared) by a copy grown to
 * [@start, @end) with page offset @pgoff.
 * Context: Writer.
 */
static int stack_replace(struct vas_op *op, struct vas_area *v, uint64_t start,
			 uint64_t end, uint64_t pgoff)
{
	struct vas_proto p = {
		.start = start,
		.end = end,
		.pgoff = pgoff,
		.file = v->file,
		.name = v->name,
		.flags = v->flags,
		.anon = vas_area_anon(v),
	};
	struct vas_area *n;

	n = vas_op_new_area(op, &p);
	vas_op_retire(op, v);
	vas_op_store(op, n);
	return op->err;
}

/* expand_downwards() + acct_stack_growth() */
static int expand_downwards(struct vas_op *op, struct vas_area *v,
			    uint64_t addr)
{
	struct vas *vas = op->vas;
	uint64_t address = addr & VAS_PAGE_MASK, size, grow;
	struct vas_area *prev, *next;

	if (address < VAS_MMAP_MIN_ADDR)
		return -EPERM;
	prev = v->start ? vas_op_prev(op, v->start - 1) : NULL;
	if (prev && !(prev->flags & VAS_F_GROWSDOWN) &&
	    (prev->flags & VAS_F_ACCESS) &&
	    address - prev->end < vas->guard_gap)
		return -ENOMEM;
	next = vas_op_next(op, v->end);
	stack_anon_prepare(op, v, prev, next);
	if (address >= v->start)
		return 0;
	size = v->end - address;
	grow = (v->start - address) >> VAS_PAGE_SHIFT;
	if (grow > v->pgoff)
		return -ENOMEM;
	if (size > vas->layout.stack_rlimit)
		return -ENOMEM; /* acct_stack_growth() */
	if (!vas__mlock_future_ok(op, v->flags, grow << VAS_PAGE_SHIFT))
		return -ENOMEM;
	if (v->flags & VAS_F_LOCKED)
		op->dlocked += grow;
	return stack_replace(op, v, address, v->end, v->pgoff - grow);
}

/* expand_upwards() */
static int expand_upwards(struct vas_op *op, struct vas_area *v, uint64_t addr)
{
	struct vas *vas = op->vas;
	uint64_t ts = vas->layout.task_size, address, gap_addr, size;
	struct vas_area *next, *prev;

	address = addr & VAS_PAGE_MASK;
	if (address >= (ts & VAS_PAGE_MASK))
		return -ENOMEM;
	address += VAS_PAGE_SIZE;
	gap_addr = address + vas->guard_gap;
	if (gap_addr < address || gap_addr > ts)
		gap_addr = ts;
	next = vas_op_next(op, v->end);
	if (next && next->start < gap_addr && (next->flags & VAS_F_ACCESS) &&
	    !(next->flags & VAS_F_GROWSUP))
		return -ENOMEM;
	prev = v->start ? vas_op_prev(op, v->start - 1) : NULL;
	stack_anon_prepare(op, v, prev, next);
	if (address <= v->end)
		return 0;
	size = address - v->start;
	if (v->pgoff + (size >> VAS_PAGE_SHIFT) < v->pgoff)
		return -ENOMEM;
	if (size > vas->layout.stack_rlimit)
		return -ENOMEM; /* acct_stack_growth() */
	if (!vas__mlock_future_ok(op, v->flags, address - v->end))
		return -ENOMEM;
	if (v->flags & VAS_F_LOCKED)
		op->dlocked += (address - v->end) >> VAS_PAGE_SHIFT;
	return stack_replace(op, v, v->start, address, v->pgoff);
}

/**
 * vas__grow_stack() - The slow path of a fault at @addr that no area
 * covers: take the write lock, look again, and grow the growsdown area
 * above @addr (or the growsup area below it) as Linux would.
 * @expanded: set if a stack grew to cover @addr.
 * @changed: set if the space changed: the stack grew, or a refused growth
 *           still gave it an anon_vma (which a journal must record).
 * Context: Takes vas->write_lock; the caller holds no RCU read lock.
 * Return: 0 (look again: covered now, or a SEGV); 1 if the address was
 *         already covered when the lock was taken; -ENOMEM on allocation
 *         failure (space unchanged).
 */
int vas__grow_stack(struct vas *vas, uint64_t addr, bool *expanded,
		    bool *changed)
{
	struct vas_area *v, *prev;
	struct vas_op op;
	int err = 0;

	*expanded = false;
	*changed = false;
	vas__lock(vas);
	if (vt_load(vas->vt, addr, NULL, NULL)) {
		err = 1; /* somebody mapped or grew it meanwhile */
		goto out;
	}
	vas_op_begin(&op, vas);
	v = vas_op_next(&op, addr);
	if (v && (v->flags & VAS_F_GROWSDOWN)) {
		err = expand_downwards(&op, v, addr);
	} else {
		prev = vas_op_prev(&op, addr);
		if (prev && (prev->flags & VAS_F_GROWSUP))
			err = expand_upwards(&op, prev, addr);
	}
	/* The anon_vma stays when the growth is refused or aborted. */
	*changed = op.anon_prepared;
	if (op.err || err || !op.nr_changes) {
		vas_op_abort(&op);
		err = op.err;
		goto out;
	}
	err = vas_op_finish(&op);
	*expanded = !err;
	*changed = *changed || *expanded;
out:
	vas__unlock(vas);
	return err;
}
