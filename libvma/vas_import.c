// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Importing a real process's layout.
 *
 * vas_import() builds a space from a list of VMAs exactly as a real
 * process has them (what /proc/PID/maps and smaps show), so that the
 * recorded system calls of that process can be replayed from the point
 * where it was looked at. Nothing is merged or placed: the kernel kept
 * these VMAs apart for reasons the list may not show (two open()s of one
 * file, different VM_ACCOUNT, a VMA that once had an anon_vma), and the
 * import keeps them apart too. The whole layout is one transaction on a
 * space no one else can see yet.
 *
 * What the list cannot say is decided as Linux would have decided it:
 *
 * - anon_vma: a private VMA with anonymous pages has one. It shares the
 *   one of the VMA just below when find_mergeable_anon_vma() would have
 *   reused it (adjacent, same file, flags differing only in access bits,
 *   contiguous page offsets: a VMA split in two by mprotect keeps one
 *   anon_vma in both halves), or when the two differ otherwise only in
 *   flags that madvise, mlock or mseal split VMAs by; else a new one.
 * - Shared anonymous VMAs ("/dev/zero (deleted)") with the same inode are
 *   pieces of one shmem file, so they share one simulated file.
 * - Flags of madvise, mlock and mseal are kept as given, and the pages
 *   of VM_LOCKED areas count into locked_vm as mlock_fixup() counts them.
 *   Anonymous VMA names are interned as prctl(PR_SET_VMA_ANON_NAME) does.
 * - Special mappings ([vdso], [vvar], [vvar_vclock], [uprobes], ...) are
 *   installed as _install_special_mapping() makes them (see
 *   vas_internal.h); the gate area ([vsyscall]) sits above task_size and
 *   is not part of the tree, as get_gate_vma() is not in the maple tree.
 * - Guard markers (smaps shows only VM_MAYBE_GUARD; /proc/PID/pagemap's
 *   PM_GUARD_REGION shows where they are) come as a separate sorted list
 *   of ranges. Each must lie wholly inside VMAs that
 *   madvise_guard_install() accepts (is_valid_guard_vma() without
 *   allow_locked: neither VM_LOCKED nor VM_SPECIAL, which covers every
 *   special mapping and the gate); they are installed as that call
 *   installs them: VM_MAYBE_GUARD on the VMAs they touch, an anon_vma for
 *   private anonymous ones, and the markers in the same transaction.
 */
#include "vas_op.h"
#include "vma_alloc_internal.h"

#include <errno.h>
#include <string.h>

/* Flags of a VMA that the caller may give (VAS_VM_*). */
#define IMPORT_VM_FLAGS                                                        \
	(VAS_VM_SHARED | VAS_VM_GROWSDOWN | VAS_VM_GROWSUP |                   \
	 VAS_VM_NORESERVE | VAS_VM_ACCOUNT | VAS_VM_LOCKED |                   \
	 VAS_VM_LOCKONFAULT | VAS_VM_DONTCOPY | VAS_VM_WIPEONFORK |            \
	 VAS_VM_DONTDUMP | VAS_VM_HUGEPAGE | VAS_VM_NOHUGEPAGE |               \
	 VAS_VM_SEQ_READ | VAS_VM_RAND_READ | VAS_VM_MERGEABLE |               \
	 VAS_VM_SEALED | VAS_VM_MAYBE_GUARD)

static uint32_t import_vm_flags(const struct vas_import_area *ia)
{
	uint32_t f = ia->prot & VAS_F_ACCESS;
	size_t i;

	for (i = 0; i < VAS_NR_F_TO_VM; i++)
		if (ia->flags & vas__f_to_vm[i][1])
			f |= vas__f_to_vm[i][0];

	if (ia->flags & VAS_VM_SHARED)
		f |= VAS_F_SHARED;
	if (ia->flags & VAS_VM_GROWSDOWN)
		f |= VAS_F_GROWSDOWN;
	if (ia->flags & VAS_VM_GROWSUP)
		f |= VAS_F_GROWSUP;
	if (ia->flags & VAS_VM_NORESERVE)
		f |= VAS_F_NORESERVE;
	if (ia->flags & VAS_VM_ACCOUNT)
		f |= VAS_F_ACCOUNT;
	return f;
}

/*
 * Flags that no sequence of calls leaves on a VMA: mlock2(MLOCK_ONFAULT)
 * sets VM_LOCKONFAULT only with VM_LOCKED, hugepage_madvise() and
 * madvise_update_vma() clear the opposite hint, MADV_WIPEONFORK is only
 * for memory without a vm_file (private anonymous, special mappings), and
 * mlock_fixup() skips VM_SPECIAL.
 */
static int import_check_flags(const struct vas_import_area *ia)
{
	unsigned f = ia->flags;
	bool special = ia->kind == VAS_IMPORT_SPECIAL ||
		       ia->kind == VAS_IMPORT_SPECIAL_PFNMAP;

	if ((f & VAS_VM_LOCKONFAULT) && !(f & VAS_VM_LOCKED))
		return -EINVAL;
	if ((f & VAS_VM_HUGEPAGE) && (f & VAS_VM_NOHUGEPAGE))
		return -EINVAL;
	if ((f & VAS_VM_SEQ_READ) && (f & VAS_VM_RAND_READ))
		return -EINVAL;
	/* A special mapping has no vm_file: it takes MADV_WIPEONFORK too. */
	if ((f & VAS_VM_WIPEONFORK) &&
	    ((ia->kind != VAS_IMPORT_ANON && !special) || (f & VAS_VM_SHARED)))
		return -EINVAL;
	if ((f & VAS_VM_LOCKED) && special)
		return -EINVAL;
	return 0;
}

/* Check one area against the layout and its predecessor. */
static int import_check(const struct vas_layout *l,
			const struct vas_import_area *ia, uint64_t prev_end,
			bool last)
{
	if (vas_offset_in_page(ia->start) || vas_offset_in_page(ia->end) ||
	    ia->start >= ia->end || vas_offset_in_page(ia->offset))
		return -EINVAL;
	if ((ia->prot & ~(unsigned)VAS_F_ACCESS) ||
	    (ia->flags & ~(unsigned)IMPORT_VM_FLAGS))
		return -EINVAL;
	if (ia->start < prev_end)
		return -EINVAL; /* unsorted or overlapping */
	/* madvise_set_anon_name(): anonymous memory and shmem only. */
	if (ia->anon_name &&
	    ((ia->kind != VAS_IMPORT_ANON && ia->kind != VAS_IMPORT_SHMEM) ||
	     l->no_anon_vma_name || !vas_anon_name_valid(ia->anon_name)))
		return -EINVAL;
	if (ia->kind == VAS_IMPORT_GATE)
		return last && ia->start >= l->task_size && ia->name &&
				       *ia->name
			       ? 0
			       : -EINVAL;
	if (ia->start < VAS_MMAP_MIN_ADDR || ia->end > l->task_size)
		return -EINVAL;
	switch (ia->kind) {
	case VAS_IMPORT_ANON:
		break;
	case VAS_IMPORT_FILE:
		if (!ia->name || !*ia->name || strlen(ia->name) >= VAS_FILE_MAX)
			return -EINVAL;
		/* file_mmap_ok() */
		if ((ia->offset >> VAS_PAGE_SHIFT) +
			    ((ia->end - ia->start) >> VAS_PAGE_SHIFT) <
		    (ia->offset >> VAS_PAGE_SHIFT))
			return -EINVAL;
		break;
	case VAS_IMPORT_SHMEM:
		if (!(ia->flags & VAS_VM_SHARED))
			return -EINVAL;
		break;
	case VAS_IMPORT_SPECIAL:
	case VAS_IMPORT_SPECIAL_PFNMAP:
		if (!ia->name || !*ia->name || strlen(ia->name) >= VAS_FILE_MAX)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if ((ia->flags & (VAS_VM_GROWSDOWN | VAS_VM_GROWSUP)) &&
	    (ia->kind != VAS_IMPORT_ANON || (ia->flags & VAS_VM_SHARED)))
		return -EINVAL;
	return import_check_flags(ia);
}

/*
 * Check the guard ranges of @imp (whose areas are already checked): each
 * aligned, non-empty, above the one before, and covered page by page by
 * areas that can hold guard markers. Both lists are sorted, so one walk
 * of the areas serves them all.
 * Return: 0; -EINVAL with *@bad_guard the index of the first bad range.
 */
static int import_check_guards(const struct vas_import *imp, size_t *bad_guard)
{
	uint64_t prev_end = 0;
	size_t j, k = 0;

	for (j = 0; j < imp->nr_guards; j++) {
		const struct vas_import_guard *g = &imp->guards[j];
		uint64_t cur = g->start;

		*bad_guard = j;
		if (vas_offset_in_page(g->start) ||
		    vas_offset_in_page(g->end) || g->start >= g->end ||
		    g->start < prev_end)
			return -EINVAL;
		prev_end = g->end;
		while (cur < g->end) {
			const struct vas_import_area *ia;

			while (k < imp->nr && imp->areas[k].end <= cur)
				k++;
			if (k == imp->nr)
				return -EINVAL;
			ia = &imp->areas[k];
			/* is_valid_guard_vma(vma, false) */
			if (ia->start > cur || ia->kind == VAS_IMPORT_GATE ||
			    ia->kind == VAS_IMPORT_SPECIAL ||
			    ia->kind == VAS_IMPORT_SPECIAL_PFNMAP ||
			    (ia->flags & VAS_VM_LOCKED))
				return -EINVAL;
			cur = ia->end;
		}
	}
	return 0;
}

/*
 * The shmem file of @inode among the files made so far, or a new one
 * (added to @made).
 */
static struct vas_file *import_shmem(struct vas *vas, struct vas_file **made,
				     size_t *nr_made, uint64_t inode)
{
	struct vas_file *f;
	size_t i;

	for (i = 0; i < *nr_made; i++)
		if (made[i]->shmem && made[i]->inode == inode)
			return made[i];
	f = vas__file_new_shmem(vas);
	if (!f)
		return NULL;
	if (inode)
		f->inode = inode;
	made[(*nr_made)++] = f;
	return f;
}

/*
 * Flags by which madvise, mlock, mseal split a VMA whose pieces keep its
 * one anon_vma (__split_vma()). VM_HUGEPAGE and VM_NOHUGEPAGE are left
 * out: MAP_STACK sets VM_NOHUGEPAGE on thread stacks that are faulted
 * apart from the anonymous memory beside them.
 */
#define IMPORT_SPLIT_FLAGS                                                     \
	(VAS_F_LOCKED_MASK | VAS_F_DONTCOPY | VAS_F_WIPEONFORK |               \
	 VAS_F_DONTDUMP | VAS_F_SEQ_READ | VAS_F_RAND_READ | VAS_F_MERGEABLE | \
	 VAS_F_SEALED)

/*
 * The anon_vma of @p, a private VMA with anonymous pages just above @prev:
 * @prev's when find_mergeable_anon_vma() would reuse it, or when the two
 * look like pieces of one VMA split by madvise, mlock or mseal (they
 * differ only in those calls' flags), else a new one.
 */
static uint32_t import_anon(struct vas *vas, const struct vas_area *prev,
			    const struct vas_proto *p)
{
	struct vas_area a = {
		.start = p->start,
		.end = p->end,
		.pgoff = p->pgoff,
		.file = p->file,
		.flags = p->flags,
	};

	if (!prev || !prev->anon)
		return vas__new_anon(vas);
	if (vas__anon_compatible(prev, &a))
		return prev->anon;
	a.flags = (a.flags & ~IMPORT_SPLIT_FLAGS) |
		  (prev->flags & IMPORT_SPLIT_FLAGS);
	if (vas__anon_compatible(prev, &a))
		return prev->anon;
	return vas__new_anon(vas);
}

int vas_import(const struct vas_layout *layout, const struct vas_import *imp,
	       struct vas **out, size_t *bad)
{
	struct vas_file **made = NULL; /* unhashed files created here */
	const struct vas_area *prev = NULL;
	size_t i, g = 0, nr_made = 0, nr_tree = 0;
	uint64_t prev_end = 0;
	struct vas_op op;
	struct vas *vas;
	int err;

	if (bad)
		*bad = imp->nr;
	if (layout->stack || imp->brk < layout->brk_base ||
	    imp->brk > layout->task_size)
		return -EINVAL;
	for (i = 0; i < imp->nr; i++) {
		const struct vas_import_area *ia = &imp->areas[i];

		err = import_check(layout, ia, prev_end, i + 1 == imp->nr);
		if (err) {
			if (bad)
				*bad = i;
			return err;
		}
		prev_end = ia->end;
		nr_tree += ia->kind != VAS_IMPORT_GATE;
	}
	if (nr_tree > layout->max_map_count)
		return -EINVAL;
	if (imp->nr_guards && (!imp->guards || import_check_guards(imp, &i))) {
		if (bad)
			*bad = imp->nr + 1 + (imp->guards ? i : 0);
		return -EINVAL;
	}
	err = vas_new(layout, &vas);
	if (err)
		return err;
	if (bad)
		*bad = imp->nr;
	if (imp->nr) {
		made = vma_alloc(imp->nr * sizeof(*made));
		if (!made) {
			vas_free(vas);
			return -ENOMEM;
		}
	}
	vas->brk = imp->brk;
	vas->start_stack = imp->start_stack;

	vas__lock(vas);
	vas_op_begin(&op, vas);
	for (i = 0; i < imp->nr && !op.err; i++) {
		const struct vas_import_area *ia = &imp->areas[i];
		struct vas_proto p = {
			.start = ia->start,
			.end = ia->end,
			.pgoff = ia->offset >> VAS_PAGE_SHIFT,
			.flags = import_vm_flags(ia),
		};
		struct vas_file *f = NULL;
		struct vas_area *a;

		switch (ia->kind) {
		case VAS_IMPORT_GATE:
			vas->gate = vma_alloc(sizeof(*vas->gate));
			if (!vas->gate) {
				op.err = -ENOMEM;
				break;
			}
			memset(vas->gate, 0, sizeof(*vas->gate));
			vas->gate->start = ia->start;
			vas->gate->end = ia->end;
			vas->gate->prot = ia->prot;
			vas->gate->flags = VAS_VM_SPECIAL;
			vas->gate->pgoff = ia->start >> VAS_PAGE_SHIFT;
			/* A name that outlives the call: the known one. */
			vas->gate->name = "[vsyscall]";
			continue;
		case VAS_IMPORT_ANON:
			/* do_mmap() of anonymous private memory */
			p.pgoff = ia->start >> VAS_PAGE_SHIFT;
			break;
		case VAS_IMPORT_FILE:
			f = vas__file_get(vas, ia->name);
			break;
		case VAS_IMPORT_SHMEM:
			f = import_shmem(vas, made, &nr_made, ia->inode);
			break;
		case VAS_IMPORT_SPECIAL:
		case VAS_IMPORT_SPECIAL_PFNMAP:
			f = vas__file_new_special(vas, ia->name,
						  ia->kind == VAS_IMPORT_SPECIAL
							  ? VAS_SPECIAL_MAPPING
							  : VAS_SPECIAL_PFNMAP);
			if (f)
				made[nr_made++] = f;
			/* A special mapping has no file offset to show. */
			p.pgoff = ia->start >> VAS_PAGE_SHIFT;
			break;
		}
		if (ia->kind != VAS_IMPORT_ANON && !f) {
			op.err = -ENOMEM;
			break;
		}
		p.file = f;
		/* madvise_guard_install(): VM_MAYBE_GUARD, no split. */
		while (g < imp->nr_guards && imp->guards[g].end <= ia->start)
			g++;
		if (g < imp->nr_guards && imp->guards[g].start < ia->end)
			p.flags |= VAS_F_MAYBE_GUARD;
		if (ia->anon_name) {
			p.name = vas__name_get(vas, ia->anon_name);
			if (!p.name) {
				op.err = -ENOMEM;
				break;
			}
		}
		/* madvise_guard_install() gives anonymous memory one. */
		if (!(p.flags & VAS_F_SHARED) &&
		    (ia->anon_pages || (!f && (p.flags & VAS_F_MAYBE_GUARD))))
			p.anon = import_anon(vas, prev, &p);
		/* munmap checks seals only in spaces that have some. */
		if (p.flags & VAS_F_SEALED)
			vas->has_sealed = true;
		/* mlock_fixup() counts a locked VMA into locked_vm. */
		if (p.flags & VAS_F_LOCKED)
			op.dlocked +=
				(int64_t)((p.end - p.start) >> VAS_PAGE_SHIFT);
		a = vas_op_new_area(&op, &p);
		vas_op_store(&op, a);
		if (prev && a && vas__should_have_merged(vas, prev, a))
			vas->merge_check_off = true; /* kept apart as given */
		prev = a;
	}
	for (i = 0; i < imp->nr_guards && !op.err; i++)
		vas_op_pages(&op, VAS_PG_GUARD_SET,
			     imp->guards[i].start >> VAS_PAGE_SHIFT, 0,
			     (imp->guards[i].end - imp->guards[i].start) >>
				     VAS_PAGE_SHIFT);
	if (op.err) {
		err = op.err;
		vas_op_abort(&op);
	} else {
		op.nr_changes++;
		err = vas_op_finish(&op);
	}
	vas__unlock(vas);
	if (err) {
		/* The aborted areas no longer hold the unhashed files. */
		for (i = 0; i < nr_made; i++)
			if (!made[i]->refs)
				vma_free(made[i]);
		vma_free(made);
		vas_free(vas);
		return err;
	}
	vma_free(made);
	*out = vas;
	return 0;
}
