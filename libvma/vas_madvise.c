// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: madvise, mlock, mseal and anonymous VMA names.
 *
 * The system calls that change vm_flags (or the anon_vma_name) of a range,
 * each on one transaction (vas_op.c), with Linux 6.18's checks in Linux's
 * order:
 *
 * - madvise() walks the VMAs of the range as madvise_walk_vmas() does: a
 *   hole is skipped and reported as -ENOMEM at the end, an error of one
 *   VMA stops the walk (VMAs advised before it keep the advice). Flag
 *   advice goes through vas__modify_range() (vma_modify_flags(): merge or
 *   split), and a split beyond max_map_count is -EAGAIN. Advice that drops
 *   pages or installs guard markers replaces the areas it touches by
 *   copies, so that their resident pages change with the commit.
 *   MADV_POPULATE_READ/WRITE do not walk: madvise_populate() faults the
 *   range in page by page (faultin_page_range()), see
 *   vas__faultin_locked(), on the same one transaction.
 *   The special mappings (vas_area_is_special()) have no vm_file and are
 *   not anonymous (they have vm_ops); [vvar] is VM_PFNMAP | VM_IO. Each
 *   check below says which of these it reads; flag advice that would
 *   change part of one fails in its split (special_mapping_split()).
 * - mlock()/mlock2()/munlock()/mlockall()/munlockall() (mm/mlock.c): the
 *   walk of apply_vma_lock_flags() (a hole is -ENOMEM where it is met),
 *   RLIMIT_MEMLOCK against mm->locked_vm, then __mm_populate() of the range
 *   in the same transaction.
 * - mseal() (mm/mseal.c): the range must be mapped without holes; each VMA
 *   gets VM_SEALED. munmap, mmap(MAP_FIXED), mprotect and mremap refuse
 *   sealed VMAs (vas_ops.c), and so does discarding advice on anonymous
 *   VMAs that are not writable (can_madvise_modify()).
 * - prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME) (kernel/sys.c,
 *   madvise_set_anon_name()): the name is checked first, then the range is
 *   walked as madvise() walks it; file VMAs are -EBADF.
 */
#include "vas_op.h"

#include <errno.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* madvise                                                             */

/* The madvise state of one walk (struct madvise_behavior). */
struct madv {
	struct vas_op *op;
	int behavior;	       /* VAS_MADV_*, or -1 for a name change */
	struct vas_file *name; /* the new anon_vma_name (names only) */
};

/* madvise_behavior_valid() */
static bool behavior_valid(const struct vas_layout *l, int behavior)
{
	switch (behavior) {
	case VAS_MADV_DOFORK:
	case VAS_MADV_DONTFORK:
	case VAS_MADV_NORMAL:
	case VAS_MADV_SEQUENTIAL:
	case VAS_MADV_RANDOM:
	case VAS_MADV_REMOVE:
	case VAS_MADV_WILLNEED:
	case VAS_MADV_DONTNEED:
	case VAS_MADV_DONTNEED_LOCKED:
	case VAS_MADV_FREE:
	case VAS_MADV_COLD:
	case VAS_MADV_PAGEOUT:
	case VAS_MADV_POPULATE_READ:
	case VAS_MADV_POPULATE_WRITE:
	case VAS_MADV_DONTDUMP:
	case VAS_MADV_DODUMP:
	case VAS_MADV_WIPEONFORK:
	case VAS_MADV_KEEPONFORK:
	case VAS_MADV_GUARD_INSTALL:
	case VAS_MADV_GUARD_REMOVE:
	case VAS_MADV_SOFT_OFFLINE:
	case VAS_MADV_HWPOISON:
		return true;
	case VAS_MADV_MERGEABLE:
	case VAS_MADV_UNMERGEABLE:
		return !l->no_ksm;
	case VAS_MADV_HUGEPAGE:
	case VAS_MADV_NOHUGEPAGE:
	case VAS_MADV_COLLAPSE:
		return !l->no_thp;
	default:
		return false;
	}
}

/* is_discard(): advice that may throw data away. */
static bool is_discard(int behavior)
{
	switch (behavior) {
	case VAS_MADV_FREE:
	case VAS_MADV_DONTNEED:
	case VAS_MADV_DONTNEED_LOCKED:
	case VAS_MADV_REMOVE:
	case VAS_MADV_DONTFORK:
	case VAS_MADV_WIPEONFORK:
	case VAS_MADV_GUARD_INSTALL:
		return true;
	}
	return false;
}

/*
 * Has @v a vm_file? A special mapping (_install_special_mapping()) has
 * none: its entry here only names it and keeps it apart.
 */
static bool has_vm_file(const struct vas_area *v)
{
	return v->file && !vas_area_is_special(v);
}

/* VM_PFNMAP | VM_IO: a special mapping of kind VAS_SPECIAL_PFNMAP. */
static bool is_pfnmap(const struct vas_area *v)
{
	return v->file && v->file->special == VAS_SPECIAL_PFNMAP;
}

/*
 * can_madvise_modify(): a sealed VMA refuses discarding advice unless it
 * is file-backed (shmem included) or writable.
 */
static bool can_madvise_modify(const struct vas_area *v, int behavior)
{
	if (!(v->flags & VAS_F_SEALED) || !is_discard(behavior))
		return true;
	if (has_vm_file(v))
		return true;
	return v->flags & VAS_F_WRITE;
}

/*
 * Replace @v by a copy and record @kind over [start, end): its pages
 * change with the commit.
 */
static struct vas_area *madv_pages(struct vas_op *op, struct vas_area *v,
				   uint64_t start, uint64_t end,
				   enum vas_pg_kind kind)
{
	struct vas_area *n = vas__refresh(op, v);

	if (n)
		vas_op_pages(op, kind, start >> VAS_PAGE_SHIFT, 0,
			     (end - start) >> VAS_PAGE_SHIFT);
	return n;
}

/* Are pages present in [start, end)? */
static bool has_pages(struct vas_op *op, uint64_t start, uint64_t end)
{
	return vas__pt_count_present(&op->vas->pt, start >> VAS_PAGE_SHIFT,
				     (end - start) >> VAS_PAGE_SHIFT) != 0;
}

/*
 * The flags of flag advice that needs no check: what it clears, what it
 * sets (madvise_vma_behavior(), hugepage_madvise(), ksm_madvise()).
 */
static uint32_t flag_advice(int behavior, uint32_t flags)
{
	static const struct {
		int behavior;
		uint32_t clear, set;
	} t[] = {
		{VAS_MADV_NORMAL, VAS_F_RAND_READ | VAS_F_SEQ_READ, 0},
		{VAS_MADV_SEQUENTIAL, VAS_F_RAND_READ, VAS_F_SEQ_READ},
		{VAS_MADV_RANDOM, VAS_F_SEQ_READ, VAS_F_RAND_READ},
		{VAS_MADV_DONTFORK, 0, VAS_F_DONTCOPY},
		{VAS_MADV_DOFORK, VAS_F_DONTCOPY, 0},
		{VAS_MADV_KEEPONFORK, VAS_F_WIPEONFORK, 0},
		{VAS_MADV_DONTDUMP, 0, VAS_F_DONTDUMP},
		{VAS_MADV_DODUMP, VAS_F_DONTDUMP, 0},
		{VAS_MADV_UNMERGEABLE, VAS_F_MERGEABLE, 0},
		{VAS_MADV_HUGEPAGE, VAS_F_NOHUGEPAGE, VAS_F_HUGEPAGE},
		{VAS_MADV_NOHUGEPAGE, VAS_F_HUGEPAGE, VAS_F_NOHUGEPAGE},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].behavior == behavior)
			return (flags & ~t[i].clear) | t[i].set;
	return flags;
}

/*
 * madvise_vma_behavior(): apply the advice to [start, end) of @v.
 * *@cur receives the area covering @start afterwards.
 * Return: 0 or the advice's error for this VMA.
 */
static int madvise_vma(struct madv *m, struct vas_area *v,
		       struct vas_area **prev, uint64_t start, uint64_t end,
		       struct vas_area **cur)
{
	struct vas_op *op = m->op;
	uint32_t newflags = v->flags;
	struct vas_file *name = v->name;
	struct vas_area *r;
	int err;

	*cur = v;
	if (m->behavior >= 0 && !can_madvise_modify(v, m->behavior))
		return -EPERM;
	switch (m->behavior) {
	case -1:
		/* __MADV_SET_ANON_VMA_NAME: anonymous memory only. */
		if (v->file && !v->file->shmem)
			return -EBADF;
		name = m->name;
		break;
	case VAS_MADV_REMOVE:
		/*
		 * madvise_remove(): a hole punched in a shared file; a
		 * special mapping has no vm_file.
		 */
		if (v->flags & VAS_F_LOCKED)
			return -EINVAL;
		if (!has_vm_file(v))
			return -EINVAL;
		if (!(v->flags & VAS_F_SHARED))
			return -EACCES;
		if (has_pages(op, start, end))
			*cur = madv_pages(op, v, start, end, VAS_PG_ZAP);
		return op->err;
	case VAS_MADV_WILLNEED:
		/* Readahead or swap-in: no page is mapped. */
		return 0;
	case VAS_MADV_COLD:
		/*
		 * can_madv_lru_vma(): not VM_LOCKED nor VM_PFNMAP;
		 * deactivating pages changes nothing.
		 */
		return (v->flags & VAS_F_LOCKED) || is_pfnmap(v) ? -EINVAL : 0;
	case VAS_MADV_FREE:
	case VAS_MADV_DONTNEED:
	case VAS_MADV_DONTNEED_LOCKED:
		/*
		 * madvise_dontneed_free_valid_vma(): VM_PFNMAP, and
		 * VM_LOCKED but for DONTNEED_LOCKED, are refused.
		 */
		if (is_pfnmap(v))
			return -EINVAL;
		if (m->behavior != VAS_MADV_DONTNEED_LOCKED &&
		    (v->flags & VAS_F_LOCKED))
			return -EINVAL;
		if (m->behavior == VAS_MADV_FREE) {
			/*
			 * madvise_free_single_vma(): vma_is_anonymous()
			 * only (a special mapping has vm_ops); the pages stay
			 * mapped (and counted) until reclaim.
			 */
			return v->file ? -EINVAL : 0;
		}
		/* zap_page_range_single(): guard markers stay. */
		if (has_pages(op, start, end))
			*cur = madv_pages(op, v, start, end, VAS_PG_ZAP);
		return op->err;
	case VAS_MADV_GUARD_INSTALL:
		/* is_valid_guard_vma(allow_locked = false): not VM_SPECIAL */
		if ((v->flags & VAS_F_LOCKED) || vas_area_is_special(v))
			return -EINVAL;
		r = vas__refresh(op, v);
		if (!r)
			return op->err;
		/* VM_MAYBE_GUARD on the whole VMA (no split). */
		r->flags |= VAS_F_MAYBE_GUARD;
		/*
		 * anon_vma_prepare() for anonymous VMAs only: the page tables
		 * are no longer empty (fork copies those of any VMA with
		 * VM_MAYBE_GUARD).
		 */
		if (!r->anon && !r->file) {
			struct vas_area *p =
				r->start ? vas_op_prev(op, r->start - 1) : NULL;

			r->anon = vas__find_mergeable_anon(
				op->vas, r, p, vas_op_next(op, r->end));
		}
		vas_op_pages(op, VAS_PG_GUARD_SET, start >> VAS_PAGE_SHIFT, 0,
			     (end - start) >> VAS_PAGE_SHIFT);
		*cur = r;
		return op->err;
	case VAS_MADV_GUARD_REMOVE:
		/* is_valid_guard_vma(allow_locked = true) */
		if (vas_area_is_special(v))
			return -EINVAL;
		if (vas__guard_any(vas_op_guards(op), start, end))
			*cur = madv_pages(op, v, start, end,
					  VAS_PG_GUARD_CLEAR);
		return op->err;
	case VAS_MADV_WIPEONFORK:
		/*
		 * Only supported on anonymous memory: no vm_file, which
		 * lets the special mappings through (whole, as they do
		 * not split).
		 */
		if (has_vm_file(v) || (newflags & VAS_F_SHARED))
			return -EINVAL;
		newflags |= VAS_F_WIPEONFORK;
		break;
	case VAS_MADV_MERGEABLE:
		/*
		 * ksm_madvise(): ignored unless vma_ksm_compatible(): not
		 * VM_SHARED, nor VM_SPECIAL (VM_PFNMAP | VM_IO |
		 * VM_DONTEXPAND, which every special mapping has).
		 */
		if (!(newflags & VAS_F_SHARED) && !vas_area_is_special(v))
			newflags |= VAS_F_MERGEABLE;
		break;
	case VAS_MADV_DOFORK:
		/* madvise_vma_behavior(): VM_IO keeps VM_DONTCOPY. */
		if (is_pfnmap(v))
			return -EINVAL;
		newflags = flag_advice(m->behavior, newflags);
		break;
	case VAS_MADV_DODUMP:
		/* madvise_vma_behavior(): VM_SPECIAL keeps VM_DONTDUMP. */
		if (vas_area_is_special(v))
			return -EINVAL;
		newflags = flag_advice(m->behavior, newflags);
		break;
	case VAS_MADV_NORMAL:
	case VAS_MADV_SEQUENTIAL:
	case VAS_MADV_RANDOM:
	case VAS_MADV_DONTFORK:
	case VAS_MADV_KEEPONFORK:
	case VAS_MADV_DONTDUMP:
	case VAS_MADV_UNMERGEABLE:
	case VAS_MADV_HUGEPAGE:
	case VAS_MADV_NOHUGEPAGE:
		newflags = flag_advice(m->behavior, newflags);
		break;
	default:
		/* MADV_PAGEOUT, MADV_COLLAPSE: not modelled. */
		return -ENOSYS;
	}
	/* madvise_update_vma() */
	r = vas__modify_range(op, v, prev, start, end, newflags, name, &err);
	if (!r)
		return err == -ENOMEM ? -EAGAIN : err;
	*cur = r;
	return 0;
}

/*
 * madvise_walk_vmas(): apply @m to every VMA of [start, end); a hole is
 * -ENOMEM at the end, an error of a VMA ends the walk.
 */
static int madvise_walk(struct madv *m, uint64_t start, uint64_t end)
{
	struct vas_op *op = m->op;
	struct vas_area *v, *prev, *cur;
	int unmapped = 0, err;

	/* find_vma_prev() */
	v = vas_op_next(op, start);
	if (v && start > v->start)
		prev = v;
	else
		prev = v && v->start ? vas_op_prev(op, v->start - 1) : NULL;
	for (;;) {
		uint64_t e;

		if (!v)
			return -ENOMEM;
		if (start < v->start) {
			unmapped = -ENOMEM;
			start = v->start;
			if (start >= end)
				break;
		}
		e = v->end < end ? v->end : end;
		err = madvise_vma(m, v, &prev, start, e, &cur);
		if (err)
			return err;
		if (op->err)
			return op->err;
		prev = cur;
		if (e < cur->end)
			e = cur->end;
		if (e >= end)
			break;
		v = vas_op_next(op, cur->end);
		start = e;
	}
	return unmapped;
}

/* madvise_should_skip(): Return: 1 to return *@err at once, else 0. */
static int madvise_check(const struct vas_layout *l, uint64_t start,
			 uint64_t len_in, int behavior, int *err)
{
	uint64_t len;

	*err = -EINVAL;
	if (!behavior_valid(l, behavior))
		return 1;
	if (vas_offset_in_page(start))
		return 1;
	len = vas_page_align(len_in);
	if (len_in && !len)
		return 1;
	if (start + len < start)
		return 1;
	*err = 0;
	return start + len == start;
}

int vas_madvise(struct vas *vas, uint64_t addr, uint64_t length, int advice)
{
	struct vas_op op;
	struct madv m = {.op = &op, .behavior = advice};
	int err;

	if (madvise_check(&vas->layout, addr, length, advice, &err))
		return err;
	switch (advice) {
	case VAS_MADV_HWPOISON:
	case VAS_MADV_SOFT_OFFLINE:
		return -EPERM; /* madvise_inject_error(): CAP_SYS_ADMIN */
	case VAS_MADV_PAGEOUT:
	case VAS_MADV_COLLAPSE:
		return -ENOSYS; /* known to Linux, not modelled */
	}
	vas__lock(vas);
	vas_op_begin(&op, vas);
	if (advice == VAS_MADV_POPULATE_READ ||
	    advice == VAS_MADV_POPULATE_WRITE)
		/* madvise_do_behavior(): madvise_populate(), no VMA walk. */
		err = vas__faultin_locked(&op, addr,
					  addr + vas_page_align(length),
					  advice == VAS_MADV_POPULATE_WRITE);
	else
		err = madvise_walk(&m, addr, addr + vas_page_align(length));
	err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}

/* ------------------------------------------------------------------ */
/* Anonymous VMA names                                                 */

/* is_valid_name_char(): printable ASCII but \ ` $ [ ] */
bool vas_anon_name_valid(const char *name)
{
	size_t n = 0;

	for (; *name; name++, n++) {
		unsigned char c = (unsigned char)*name;

		if (c <= 0x1f || c >= 0x7f || strchr("\\`$[]", c))
			return false;
	}
	/* strndup_user(uname, ANON_VMA_NAME_MAX_LEN) */
	return n <= VAS_ANON_NAME_MAX;
}

int vas_set_anon_name(struct vas *vas, uint64_t addr, uint64_t length,
		      const char *name)
{
	struct vas_op op;
	struct madv m = {.op = &op, .behavior = -1};
	uint64_t len;
	int err;

	/* prctl_set_vma(): no CONFIG_ANON_VMA_NAME, no PR_SET_VMA. */
	if (vas->layout.no_anon_vma_name)
		return -EINVAL;
	if (name && !vas_anon_name_valid(name))
		return -EINVAL;
	/* madvise_set_anon_name() */
	if (vas_offset_in_page(addr))
		return -EINVAL;
	len = vas_page_align(length);
	if (length && !len)
		return -EINVAL;
	if (addr + len < addr)
		return -EINVAL;
	if (addr + len == addr)
		return 0;
	vas__lock(vas);
	vas_op_begin(&op, vas);
	if (name) {
		m.name = vas__name_get(vas, name);
		if (!m.name) {
			vas_op_abort(&op);
			vas__unlock(vas);
			return -ENOMEM;
		}
	}
	err = madvise_walk(&m, addr, addr + len);
	err = vas_op_end(&op, err);
	if (m.name && m.name->refs == 0) {
		/* Nothing carries a name interned for a failed call. */
		vas__file_unlink(vas, m.name);
		vma_free(m.name);
	}
	vas__unlock(vas);
	return err;
}

/* ------------------------------------------------------------------ */
/* mlock                                                               */

/*
 * mlock_fixup(): [start, end) of @v gets @newflags, and locked_vm follows.
 */
static struct vas_area *mlock_fixup(struct vas_op *op, struct vas_area *v,
				    struct vas_area **prev, uint64_t start,
				    uint64_t end, uint32_t newflags, int *err)
{
	uint32_t oldflags = v->flags;
	int64_t nr = (int64_t)((end - start) >> VAS_PAGE_SHIFT);
	struct vas_area *r;

	*err = 0;
	if (newflags == oldflags) {
		*prev = v;
		return v;
	}
	r = vas__modify_range(op, v, prev, start, end, newflags, v->name, err);
	if (!r)
		return NULL;
	if (!(newflags & VAS_F_LOCKED))
		op->dlocked -= nr;
	else if (!(oldflags & VAS_F_LOCKED))
		op->dlocked += nr;
	return r;
}

/* apply_vma_lock_flags() */
static int apply_lock_flags(struct vas_op *op, uint64_t start, uint64_t len,
			    uint32_t flags)
{
	uint64_t end = start + len, nstart, tmp;
	struct vas_area *v, *prev, *r;
	int err;

	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	v = vas_op_load(op, start);
	if (!v)
		return -ENOMEM;
	prev = start > v->start
		       ? v
		       : (v->start ? vas_op_prev(op, v->start - 1) : NULL);
	nstart = start;
	tmp = v->start;
	while (v && v->start < end) {
		uint32_t newflags = (v->flags & ~VAS_F_LOCKED_MASK) | flags;

		if (v->start != tmp)
			return -ENOMEM;
		tmp = v->end < end ? v->end : end;
		r = mlock_fixup(op, v, &prev, nstart, tmp, newflags, &err);
		if (!r)
			return err;
		tmp = r->end;
		nstart = tmp;
		v = tmp < end ? vas_op_next(op, tmp) : NULL;
	}
	return tmp < end ? -ENOMEM : 0;
}

/* count_mm_mlocked_page_nr(), with its arithmetic. */
static uint64_t count_mlocked(struct vas_op *op, uint64_t start, uint64_t len)
{
	uint64_t end = UINT64_MAX - len < start ? UINT64_MAX : start + len;
	uint64_t count = 0;
	struct vas_area *v = vas_op_next(op, start);

	for (; v && v->start < end; v = vas_op_next(op, v->end)) {
		if (!(v->flags & VAS_F_LOCKED))
			continue;
		if (start > v->start)
			count -= start - v->start;
		if (end < v->end) {
			count += end - v->start;
			break;
		}
		count += v->end - v->start;
	}
	return count >> VAS_PAGE_SHIFT;
}

/* __mlock_posix_error_return() */
static int posix_error(int err)
{
	if (err == -EFAULT)
		return -ENOMEM;
	if (err == -ENOMEM)
		return -EAGAIN;
	return err;
}

int vas_mlock(struct vas *vas, uint64_t addr, uint64_t length, unsigned flags)
{
	uint64_t limit = vas->layout.memlock_rlimit, locked, start, len;
	uint32_t vmf = VAS_F_LOCKED;
	struct vas_op op;
	int err;

	/* SYSCALL(mlock2) */
	if (flags & ~(unsigned)VAS_MLOCK_ONFAULT)
		return -EINVAL;
	if (flags & VAS_MLOCK_ONFAULT)
		vmf |= VAS_F_LOCKONFAULT;
	/* do_mlock(): can_do_mlock() */
	if (!limit)
		return -EPERM;
	len = vas_page_align(length + vas_offset_in_page(addr));
	start = addr & VAS_PAGE_MASK;
	vas__lock(vas);
	vas_op_begin(&op, vas);
	err = 0;
	if (limit != VAS_RLIM_INFINITY) {
		locked = (len >> VAS_PAGE_SHIFT) + vas->locked_vm;
		if (locked > limit >> VAS_PAGE_SHIFT)
			locked -= count_mlocked(&op, start, len);
		if (locked > limit >> VAS_PAGE_SHIFT)
			err = -ENOMEM;
	}
	if (!err)
		err = apply_lock_flags(&op, start, len, vmf);
	/* __mm_populate(start, len, 0), only after the flags took. */
	if (!err && !op.err)
		err = posix_error(
			vas__populate_locked(&op, start, start + len, false));
	err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}

int vas_munlock(struct vas *vas, uint64_t addr, uint64_t length)
{
	uint64_t len = vas_page_align(length + vas_offset_in_page(addr));
	struct vas_op op;
	int err;

	vas__lock(vas);
	vas_op_begin(&op, vas);
	err = apply_lock_flags(&op, addr & VAS_PAGE_MASK, len, 0);
	err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}

/* apply_mlockall_flags(): every VMA, errors ignored. */
static void apply_mlockall(struct vas_op *op, unsigned flags)
{
	struct vas *vas = op->vas;
	struct vas_area *v, *prev = NULL, *r;
	uint32_t to_add = 0;
	uint64_t idx = 0;
	int err;

	vas->def_flags &= ~(uint32_t)VAS_F_LOCKED_MASK;
	if (flags & VAS_MCL_FUTURE) {
		vas->def_flags |= VAS_F_LOCKED;
		if (flags & VAS_MCL_ONFAULT)
			vas->def_flags |= VAS_F_LOCKONFAULT;
		if (!(flags & VAS_MCL_CURRENT))
			return;
	}
	if (flags & VAS_MCL_CURRENT) {
		to_add |= VAS_F_LOCKED;
		if (flags & VAS_MCL_ONFAULT)
			to_add |= VAS_F_LOCKONFAULT;
	}
	while ((v = vas_op_next(op, idx)) != NULL && !op->err) {
		uint32_t newflags = (v->flags & ~VAS_F_LOCKED_MASK) | to_add;

		r = mlock_fixup(op, v, &prev, v->start, v->end, newflags, &err);
		if (!r) {
			prev = v;
			r = v;
		}
		idx = r->end;
	}
}

int vas_mlockall(struct vas *vas, unsigned flags)
{
	uint64_t limit = vas->layout.memlock_rlimit;
	uint32_t old_def = vas->def_flags;
	struct vas_op op;
	int err;

	if (!flags ||
	    (flags &
	     ~(unsigned)(VAS_MCL_CURRENT | VAS_MCL_FUTURE | VAS_MCL_ONFAULT)) ||
	    flags == VAS_MCL_ONFAULT)
		return -EINVAL;
	if (!limit)
		return -EPERM;
	vas__lock(vas);
	vas_op_begin(&op, vas);
	err = -ENOMEM;
	if (!(flags & VAS_MCL_CURRENT) || limit == VAS_RLIM_INFINITY ||
	    (vas->mapped_bytes >> VAS_PAGE_SHIFT) <= limit >> VAS_PAGE_SHIFT) {
		apply_mlockall(&op, flags);
		err = 0;
	}
	/* mm_populate(0, TASK_SIZE): errors ignored. */
	if (!err && (flags & VAS_MCL_CURRENT) && !op.err)
		vas__populate_locked(&op, 0, vas->layout.task_size, true);
	if (op.err)
		vas->def_flags = old_def;
	err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}

int vas_munlockall(struct vas *vas)
{
	uint32_t old_def = vas->def_flags;
	struct vas_op op;
	int err;

	vas__lock(vas);
	vas_op_begin(&op, vas);
	apply_mlockall(&op, 0);
	if (op.err)
		vas->def_flags = old_def;
	err = vas_op_end(&op, 0);
	vas__unlock(vas);
	return err;
}

/* ------------------------------------------------------------------ */
/* mseal                                                               */

/* range_contains_unmapped() */
static bool range_has_hole(struct vas_op *op, uint64_t start, uint64_t end)
{
	uint64_t prev_end = start;
	struct vas_area *v;

	for (v = vas_op_next(op, start); v && v->start < end;
	     v = vas_op_next(op, v->end)) {
		if (v->start > prev_end)
			return true;
		prev_end = v->end;
	}
	return prev_end < end;
}

int vas_mseal(struct vas *vas, uint64_t addr, uint64_t length, uint64_t flags)
{
	uint64_t len, end, nstart;
	struct vas_area *v, *prev, *r;
	struct vas_op op;
	int err = 0;

	if (flags)
		return -EINVAL;
	if (vas_offset_in_page(addr))
		return -EINVAL;
	len = vas_page_align(length);
	if (length && !len)
		return -EINVAL;
	end = addr + len;
	if (end < addr)
		return -EINVAL;
	if (end == addr)
		return 0;
	vas__lock(vas);
	vas_op_begin(&op, vas);
	if (range_has_hole(&op, addr, end)) {
		err = -ENOMEM;
		goto out;
	}
	/* mseal_apply() */
	v = vas_op_load(&op, addr);
	prev = addr > v->start
		       ? v
		       : (v->start ? vas_op_prev(&op, v->start - 1) : NULL);
	nstart = addr;
	while (v && v->start < end) {
		uint64_t e = v->end < end ? v->end : end;

		r = v;
		if (!(v->flags & VAS_F_SEALED)) {
			r = vas__modify_range(&op, v, &prev, nstart, e,
					      v->flags | VAS_F_SEALED, v->name,
					      &err);
			if (!r)
				break;
		}
		prev = r;
		nstart = r->end;
		v = nstart < end ? vas_op_next(&op, nstart) : NULL;
	}
	vas->has_sealed = true;
out:
	err = vas_op_end(&op, err);
	vas__unlock(vas);
	return err;
}
