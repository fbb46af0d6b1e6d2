// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Address spaces.
 *
 * A space is a tree of VMAs (struct vas_area, immutable once published),
 * a writer lock (the simulated mmap_lock), the layout, the program break,
 * the interned files and the resident-page table. This file holds the
 * life cycle (new, fork, free), the read side that needs no lock (lookup,
 * stats), the snapshot and the validator (under the lock), and the
 * /proc/PID/maps formatter. The mutations are in vas_ops.c, the
 * transaction machinery in vas_op.c, the fault path in vas_fault.c.
 */
#include "vas_op.h"
#include "vma_alloc_internal.h"
#include "vma_asan.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Devices shown in maps: simulated files, shmem, anonymous. */
#define VAS_FILE_DEV_MAJOR  0xfe
#define VAS_FILE_DEV_MINOR  0x01
#define VAS_SHMEM_DEV_MINOR 0x01

/**
 * vas__lock() - Take the writer lock.
 * Context: Takes vas->write_lock; not in an RCU read-side section.
 */
void vas__lock(struct vas *vas)
{
	pthread_mutex_lock(&vas->write_lock);
	vas->write_held = 1;
}

/**
 * vas__unlock() - Release the writer lock.
 * Context: Writer.
 */
void vas__unlock(struct vas *vas)
{
	vas_assert_write_locked(vas);
	vas->write_held = 0;
	pthread_mutex_unlock(&vas->write_lock);
}

/*
 * Recycling of area objects. A retired area, after its grace period, is
 * pushed by the reclaimer on vas->area_reclaimed (a Treiber stack: any
 * thread pushes); the writer takes the whole stack at once into its
 * private vas->area_local and reuses from there, so areas are allocated
 * and freed by the writer's thread, not freed across threads. At most
 * VAS_AREA_CACHE_MAX areas are kept (pushes minus pops, both counted by
 * their only writer); the rest are freed. In sanitizer builds a kept area
 * is poisoned but for its link word until it is handed out again
 * (vma_asan.h), so an access after its grace period is reported.
 */

/* Link @f onto a recycling list (done by the caller) and poison the rest. */
static void area_poison(struct vas_area_free *f)
{
	vma_poison((char *)f + sizeof(*f),
		   sizeof(struct vas_area) - sizeof(*f));
}

/**
 * vas__area_free_rcu() - Recycle a retired area (after a grace period).
 * Context: RCU callback (the reclaimer thread), or the writer.
 */
void vas__area_free_rcu(void *ptr)
{
	struct vas_area *a = ptr;
	struct vas *vas = a->vas;
	struct vas_area_free *f = ptr, *old, *seen;
	uint64_t pushes = vas_load_relaxed(&vas->area_pushes);

	if (pushes - vas_load_relaxed(&vas->area_pops) + 1 >
	    VAS_AREA_CACHE_MAX) {
		vma_free(a);
		return;
	}
	vas_store_release(&vas->area_pushes, pushes + 1);
	area_poison(f);
	old = uatomic_read(&vas->area_reclaimed);
	for (;;) {
		f->next = old;
		seen = uatomic_cmpxchg(&vas->area_reclaimed, old, f);
		if (seen == old)
			return;
		old = seen;
	}
}

/**
 * vas__area_get() - A new area object of @vas: recycled, else allocated.
 * Counts against the allocation-failure test hook either way.
 * Context: Writer.
 * Return: the object (uninitialized but for ->vas), or NULL.
 */
struct vas_area *vas__area_get(struct vas *vas)
{
	struct vas_area_free *f = vas->area_local;
	struct vas_area *a;

	if (!f && vas_load_relaxed(&vas->area_reclaimed))
		f = uatomic_xchg(&vas->area_reclaimed, NULL);
	if (f) {
		if (vma__alloc_fails()) {
			vas->area_local = f;
			return NULL;
		}
		vas->area_local = f->next;
		/* The next one is cold too: fetch it while this one is used. */
		if (f->next)
			__builtin_prefetch(f->next, 1);
		vas_store_release(&vas->area_pops, vas->area_pops + 1);
		vma_unpoison(f, sizeof(*a));
		a = (struct vas_area *)f;
	} else {
		a = vma_alloc(sizeof(*a));
		if (!a)
			return NULL;
	}
	a->vas = vas;
	return a;
}

/**
 * vas__area_put() - Take back an area that was never published.
 * Context: Writer.
 */
void vas__area_put(struct vas *vas, struct vas_area *a)
{
	struct vas_area_free *f = (struct vas_area_free *)a;

	if (vas_load_relaxed(&vas->area_pushes) - vas->area_pops + 1 >
	    VAS_AREA_CACHE_MAX) {
		vma_free(a);
		return;
	}
	/* Counted as pushed and taken again at once. */
	f->next = vas->area_local;
	vas->area_local = f;
	area_poison(f);
	vas_store_release(&vas->area_pops, vas->area_pops - 1);
}

/* Free every recycled area. Context: Init only (after vt_free()). */
static void vas_areas_free(struct vas *vas)
{
	struct vas_area_free *f, *next;

	for (f = vas->area_local; f; f = next) {
		next = f->next;
		vma_unpoison(f, sizeof(struct vas_area));
		vma_free(f);
	}
	for (f = vas->area_reclaimed; f; f = next) {
		next = f->next;
		vma_unpoison(f, sizeof(struct vas_area));
		vma_free(f);
	}
	vas->area_local = vas->area_reclaimed = NULL;
}

/**
 * vas__new_anon() - A new anon_vma id.
 * Context: Writer (also a fault holding the write lock).
 */
uint32_t vas__new_anon(struct vas *vas)
{
	uint32_t id = uatomic_add_return(&vas->next_anon, 1) & VAS_ANON_ID;

	return id ? id : uatomic_add_return(&vas->next_anon, 1) & VAS_ANON_ID;
}

/**
 * vas__anon_compatible() - anon_vma_compatible(): may @b share the
 * anon_vma of @a (adjacent, same file, flags differing only in access
 * bits, contiguous page offsets)?
 * Context: Any context.
 */
bool vas__anon_compatible(const struct vas_area *a, const struct vas_area *b)
{
	return a->end == b->start && a->file == b->file &&
	       !((a->flags ^ b->flags) & ~(VAS_F_ACCESS | VAS_F_STICKY)) &&
	       b->pgoff == a->pgoff + vas_area_pages(a);
}

/**
 * vas__find_mergeable_anon() - find_mergeable_anon_vma(), else a new id:
 * the anon_vma @a gets on its first write fault. A compatible neighbour's
 * anon_vma is reused (next first), unless it came through fork.
 * Context: Writer (or a fault holding the write lock).
 */
uint32_t vas__find_mergeable_anon(struct vas *vas, const struct vas_area *a,
				  const struct vas_area *prev,
				  const struct vas_area *next)
{
	uint32_t x;

	if (next && vas__anon_compatible(a, next)) {
		x = vas_area_anon(next);
		if (x && !(x & VAS_ANON_FORKED))
			return x;
	}
	if (prev && vas__anon_compatible(prev, a)) {
		x = vas_area_anon(prev);
		if (x && !(x & VAS_ANON_FORKED))
			return x;
	}
	return vas__new_anon(vas);
}

void vas_layout_default(struct vas_layout *layout)
{
	memset(layout, 0, sizeof(*layout));
	layout->task_size = VAS_DEFAULT_TASK_SIZE;
	layout->mmap_base = VAS_DEFAULT_MMAP_BASE;
	layout->stack_guard_gap = VAS_DEFAULT_STACK_GUARD_GAP;
	layout->max_map_count = VAS_DEFAULT_MAX_MAP_COUNT;
	layout->stack_rlimit = VAS_DEFAULT_STACK_RLIMIT;
	layout->brk_base = VAS_DEFAULT_BRK_BASE;
	layout->stack = false;
	layout->tree_in_place = true;
	layout->memlock_rlimit = VAS_DEFAULT_MEMLOCK_RLIMIT;
}

void vas_get_layout(const struct vas *vas, struct vas_layout *layout)
{
	*layout = vas->layout;
}

static int layout_check(const struct vas_layout *l)
{
	uint64_t ts = l->task_size;

	if (!ts || vas_offset_in_page(ts) || ts > VAS_TASK_SIZE_MAX ||
	    ts < VAS_MMAP_MIN_ADDR + VAS_INITIAL_STACK_SIZE)
		return -EINVAL;
	if (vas_offset_in_page(l->mmap_base) || l->mmap_base > ts ||
	    l->mmap_base < VAS_MMAP_MIN_ADDR)
		return -EINVAL;
	if (vas_offset_in_page(l->brk_base) || l->brk_base > ts)
		return -EINVAL;
	if (l->stack_guard_gap > (ts >> VAS_PAGE_SHIFT))
		return -EINVAL;
	return 0;
}

static struct vas *vas_alloc(const struct vas_layout *layout)
{
	/* Aligned, so that its cache-line groups are cache lines. */
	struct vas *vas = vma_alloc_aligned(sizeof(*vas), 64);

	if (!vas)
		return NULL;
	memset(vas, 0, sizeof(*vas));
	vas->vt = vt_new();
	if (!vas->vt)
		goto out_free;
	if (!layout->tree_in_place)
		vt_set_in_place(vas->vt, false);
	vas->pt.root = vma_calloc(sizeof(struct vas_pt_node));
	if (!vas->pt.root)
		goto out_vt;
	pthread_mutex_init(&vas->write_lock, NULL);
	vas->layout = *layout;
	vas->guard_gap = layout->stack_guard_gap << VAS_PAGE_SHIFT;
	vas->unmapped_base = vas_page_align(layout->task_size / 3);
	vas->start_brk = vas->brk = layout->brk_base;
	return vas;

out_vt:
	vt_free(vas->vt);
out_free:
	vma_free(vas);
	return NULL;
}

/* The initial [stack]: growsdown, just below task_size, with an anon_vma. */
static int vas_setup_stack(struct vas *vas)
{
	uint64_t top = vas->layout.task_size;
	struct vas_proto p = {
		.start = top - VAS_INITIAL_STACK_SIZE,
		.end = top,
		.pgoff = (top - VAS_INITIAL_STACK_SIZE) >> VAS_PAGE_SHIFT,
		.file = NULL,
		.flags = VAS_F_READ | VAS_F_WRITE | VAS_F_GROWSDOWN |
			 VAS_F_ACCOUNT,
		.anon = vas__new_anon(vas),
	};
	struct vas_op op;
	int err;

	vas->start_stack = top - sizeof(uint64_t);
	vas__lock(vas);
	vas_op_begin(&op, vas);
	vas_op_store(&op, vas_op_new_area(&op, &p));
	err = vas_op_finish(&op);
	vas__unlock(vas);
	return err;
}

int vas_new(const struct vas_layout *layout, struct vas **out)
{
	struct vas_layout def;
	struct vas *vas;
	int err;

	if (!layout) {
		vas_layout_default(&def);
		layout = &def;
	}
	err = layout_check(layout);
	if (err)
		return err;
	vas = vas_alloc(layout);
	if (!vas)
		return -ENOMEM;
	if (layout->stack) {
		err = vas_setup_stack(vas);
		if (err) {
			vas_free(vas);
			return err;
		}
	}
	*out = vas;
	return 0;
}

void vas_free(struct vas *vas)
{
	uint64_t idx = 0, first, last;
	struct vas_area *a;

	if (!vas)
		return;
	while ((a = vt_next(vas->vt, idx, &first, &last)) != NULL) {
		struct vas_file *f = a->file;

		if (f && --f->refs == 0 && !f->hashed)
			vma_free(f);
		if (a->name)
			a->name->refs--;
		vma_free(a);
		if (last == UINT64_MAX)
			break;
		idx = last + 1;
	}
	/* Waits for the deferred frees of earlier operations. */
	vt_free(vas->vt);
	vas_areas_free(vas);
	vas__files_free(vas);
	vas__pt_free(&vas->pt);
	vma_free(vas->gate);
	vas__guards_free(vas->guards);
	pthread_mutex_destroy(&vas->write_lock);
	vma_free(vas);
}

/* Iterate the committed tree under the lock (or RCU). */
#define vas_for_each_area(vas, a, idx)                                         \
	for (idx = 0; (a = vt_next((vas)->vt, idx, NULL, NULL)) != NULL &&     \
		      (idx = a->end, 1);)

int vas_fork(struct vas *vas, struct vas **out)
{
	struct vas_layout l = vas->layout;
	struct vas *child;
	struct vas_area *a;
	struct vas_op op;
	uint64_t idx;
	int err = -ENOMEM;

	l.stack = false;
	child = vas_alloc(&l);
	if (!child)
		return -ENOMEM;
	vas__lock(vas);
	/* As dup_mmap() write-locks every VMA: faults wait for the copy. */
	vas_for_each_area(vas, a, idx) {
		vas__mark(a);
		vas__drain(a);
	}
	child->start_stack = vas->start_stack;
	child->start_brk = vas->start_brk;
	child->brk = vas->brk;
	child->next_anon = vas->next_anon;
	child->next_shmem_ino = vas->next_shmem_ino;
	/* The pairs Linux left unmerged are copied as they are. */
	child->merge_check_off = vas->merge_check_off;
	if (vas->gate) {
		child->gate = vma_alloc(sizeof(*child->gate));
		if (!child->gate) {
			vas_for_each_area(vas, a, idx)
				vas__unmark(a);
			vas__unlock(vas);
			vas_free(child);
			return -ENOMEM;
		}
		*child->gate = *vas->gate;
	}
	child->has_sealed = vas->has_sealed;
	/* mm_init(): def_flags keep only VM_NOHUGEPAGE; no MCL_FUTURE. */

	vas__lock(child);
	vas_op_begin(&op, child);
	vas_for_each_area(vas, a, idx) {
		uint32_t anon = vas_area_anon(a);
		bool wipe = a->flags & VAS_F_WIPEONFORK;
		struct vas_proto p = {
			.start = a->start,
			.end = a->end,
			.pgoff = a->pgoff,
			.file = NULL,
			/* dup_mmap(): VM_LOCKED_MASK is not inherited. */
			.flags = a->flags & ~VAS_F_LOCKED_MASK,
			/*
			 * anon_vma_fork(): a new anon_vma chained to ours;
			 * VM_WIPEONFORK: none, a clean slate.
			 */
			.anon = anon && !wipe
					? vas__new_anon(child) | VAS_ANON_FORKED
					: 0,
		};

		/* dup_mmap(): VM_DONTCOPY areas are left out. */
		if (a->flags & VAS_F_DONTCOPY)
			continue;
		/* Areas told apart only by VM_LOCKED stay apart. */
		if (a->flags & VAS_F_LOCKED_MASK)
			child->merge_check_off = true;
		if (a->file) {
			p.file = vas__file_lookup_copy(child, a->file);
			if (!p.file) {
				op.err = -ENOMEM;
				break;
			}
		}
		if (a->name) {
			p.name = vas__file_lookup_copy(child, a->name);
			if (!p.name) {
				op.err = -ENOMEM;
				break;
			}
		}
		vas_op_store(&op, vas_op_new_area(&op, &p));
		if (op.err)
			break;
		/*
		 * vma_needs_copy(): page tables (and guard markers) are
		 * copied only for VMAs with an anon_vma, and never for
		 * VM_WIPEONFORK ones; the child faults the others in again.
		 */
		if ((!anon && !(a->flags & VAS_F_MAYBE_GUARD)) || wipe)
			continue;
		if (vas__guard_any(vas->guards, a->start, a->end)) {
			struct vas_guards *g = vas__guards_copy_range(
				child->guards, vas->guards, a->start, a->end);

			if (!g) {
				op.err = -ENOMEM;
				break;
			}
			child->guards = g;
		}
		if (vas__pt_prepare_like(
			    &child->pt, &vas->pt, a->start >> VAS_PAGE_SHIFT,
			    a->start >> VAS_PAGE_SHIFT, vas_area_pages(a)))
			op.err = -ENOMEM;
		else
			vas__pt_copy(&child->pt, &vas->pt,
				     a->start >> VAS_PAGE_SHIFT,
				     vas_area_pages(a));
		if (op.err)
			break;
	}
	if (op.err) {
		vas_op_abort(&op);
	} else {
		op.nr_changes++;
		err = vas_op_finish(&op);
	}
	vas__unlock(child);
	vas_for_each_area(vas, a, idx)
		vas__unmark(a);
	vas__unlock(vas);
	if (err) {
		vas_free(child);
		return err;
	}
	*out = child;
	return 0;
}

/* The internal flags reported one for one (VAS_F_*, VAS_VM_*). */
const uint32_t vas__f_to_vm[VAS_NR_F_TO_VM][2] = {
	{VAS_F_LOCKED, VAS_VM_LOCKED},
	{VAS_F_LOCKONFAULT, VAS_VM_LOCKONFAULT},
	{VAS_F_DONTCOPY, VAS_VM_DONTCOPY},
	{VAS_F_WIPEONFORK, VAS_VM_WIPEONFORK},
	{VAS_F_DONTDUMP, VAS_VM_DONTDUMP},
	{VAS_F_HUGEPAGE, VAS_VM_HUGEPAGE},
	{VAS_F_NOHUGEPAGE, VAS_VM_NOHUGEPAGE},
	{VAS_F_SEQ_READ, VAS_VM_SEQ_READ},
	{VAS_F_RAND_READ, VAS_VM_RAND_READ},
	{VAS_F_MERGEABLE, VAS_VM_MERGEABLE},
	{VAS_F_SEALED, VAS_VM_SEALED},
	{VAS_F_MAYBE_GUARD, VAS_VM_MAYBE_GUARD},
};

/**
 * vas__fill_info() - Copy what the API reports of @a.
 * Context: RCU reader holding @a, or Writer.
 */
void vas__fill_info(struct vas *vas, const struct vas_area *a,
		    struct vas_vma_info *info)
{
	uint32_t anon = vas_area_anon(a);
	unsigned flags = 0;
	size_t i;

	info->start = a->start;
	info->end = a->end;
	info->pgoff = a->pgoff;
	info->offset = a->file ? a->pgoff << VAS_PAGE_SHIFT : 0;
	info->prot = a->flags & VAS_F_ACCESS;
	info->anon_vma = anon & VAS_ANON_ID;
	if (a->flags & VAS_F_SHARED)
		flags |= VAS_VM_SHARED;
	if (!a->file || a->file->shmem)
		flags |= VAS_VM_ANON;
	if (a->flags & VAS_F_GROWSDOWN)
		flags |= VAS_VM_GROWSDOWN;
	if (a->flags & VAS_F_GROWSUP)
		flags |= VAS_VM_GROWSUP;
	if (a->flags & VAS_F_NORESERVE)
		flags |= VAS_VM_NORESERVE;
	if (a->flags & VAS_F_ACCOUNT)
		flags |= VAS_VM_ACCOUNT;
	if (anon)
		flags |= VAS_VM_ANON_VMA;
	if (anon & VAS_ANON_FORKED)
		flags |= VAS_VM_FORKED;
	for (i = 0; i < VAS_NR_F_TO_VM; i++)
		if (a->flags & vas__f_to_vm[i][0])
			flags |= vas__f_to_vm[i][1];
	info->anon_name[0] = '\0';
	if (a->name)
		snprintf(info->anon_name, sizeof(info->anon_name), "%s",
			 a->name->name);
	info->name = NULL;
	info->file[0] = '\0';
	info->inode = 0;
	if (a->file && a->file->special) {
		/* A special mapping: no vm_file, a name from its vm_ops. */
		info->offset = 0;
		info->name = a->file->name;
		flags |= VAS_VM_SPECIAL | VAS_VM_DONTEXPAND;
		if (a->file->special == VAS_SPECIAL_PFNMAP)
			flags |= VAS_VM_PFNMAP;
	} else if (a->file) {
		info->inode = a->file->inode;
		/* get_vma_name(): a named shmem shows its name instead. */
		if (a->file->shmem)
			info->name = a->name ? NULL : "/dev/zero (deleted)";
		else
			snprintf(info->file, sizeof(info->file), "%s",
				 a->file->name);
	} else {
		uint64_t brk = uatomic_read(&vas->brk);

		/*
		 * show_map_vma(): vma_is_initial_heap() is strict since 6.7
		 * (a VMA ending at start_brk or starting at brk is not the
		 * heap); vma_is_initial_stack() is not.
		 */
		if (a->start < brk && a->end > vas->start_brk) {
			info->name = "[heap]";
			flags |= VAS_VM_HEAP;
		} else if (a->start <= vas->start_stack &&
			   a->end >= vas->start_stack) {
			info->name = "[stack]";
			flags |= VAS_VM_STACK;
		}
	}
	info->flags = flags;
	info->rss_pages = uatomic_read(&a->rss);
}

bool vas_lookup(struct vas *vas, uint64_t addr, struct vas_vma_info *info)
{
	struct vas_area *a;

	urcu_memb_read_lock();
	a = vt_load(vas->vt, addr, NULL, NULL);
	if (a)
		vas__fill_info(vas, a, info);
	urcu_memb_read_unlock();
	return a != NULL;
}

/*
 * Attempts of a maps listing under RCU before it takes the writer lock. A
 * listing of a few hundred VMAs takes microseconds; a space whose writer
 * commits more often than that is listed under the lock.
 */
#define VAS_MAPS_TRIES 4

/*
 * One listing of @vas under RCU into @arr (room for @cap). Every area it
 * visits is one the walk from the root found; the tree's commit count and
 * vas->brk_seq tell whether all of them, and the brk that names the
 * [heap], belong to one state.
 * Context: RCU reader.
 * Return: the number of VMAs, or -EAGAIN if a mutation intervened, or
 * -ENOSPC if @cap was too small.
 */
static long maps_rcu(struct vas *vas, struct vas_vma_info *arr, size_t cap)
{
	unsigned long seq, bseq;
	struct vas_area *a;
	bool full = false;
	size_t i = 0;
	uint64_t idx;
	long ret;

	urcu_memb_read_lock();
	bseq = uatomic_read(&vas->brk_seq);
	cmm_smp_rmb();
	seq = vt_read_begin(vas->vt);
	vas_for_each_area(vas, a, idx) {
		if (i == cap) {
			full = true;
			break;
		}
		vas__fill_info(vas, a, &arr[i++]);
	}
	/* show_map(): the gate VMA last (set before the space is shared). */
	if (!full && vas->gate) {
		if (i < cap)
			arr[i++] = *vas->gate;
		else
			full = true;
	}
	ret = full ? -ENOSPC : (long)i;
	if (vt_read_retry(vas->vt, seq) || (bseq & 1) ||
	    uatomic_read(&vas->brk_seq) != bseq)
		ret = -EAGAIN;
	urcu_memb_read_unlock();
	return ret;
}

int vas_maps(struct vas *vas, struct vas_vma_info **out, size_t *nr)
{
	struct vas_vma_info *arr = NULL;
	struct vas_area *a;
	size_t cap = 0, n, i = 0;
	uint64_t idx;
	long got;

	for (unsigned tries = 0; tries < VAS_MAPS_TRIES; tries++) {
		/* Room for the VMAs now, and a few more. */
		n = uatomic_read(&vas->map_count) + (vas->gate != NULL) + 16;
		if (n > cap) {
			vma_free(arr);
			/* A read: counted, never refused by the memory limit.
			 */
			arr = vma__alloc_unlimited(n * sizeof(*arr));
			if (!arr)
				return -ENOMEM;
			cap = n;
		}
		got = maps_rcu(vas, arr, cap);
		if (got >= 0) {
			uatomic_inc(&vas->maps_rcu);
			i = (size_t)got;
			goto out;
		}
	}
	vas__lock(vas);
	n = vas->map_count + (vas->gate != NULL);
	if (n > cap) {
		vma_free(arr);
		arr = vma__alloc_unlimited(n * sizeof(*arr));
		if (!arr) {
			vas__unlock(vas);
			return -ENOMEM;
		}
	}
	vas_for_each_area(vas, a, idx) {
		assert(i < n);
		vas__fill_info(vas, a, &arr[i++]);
	}
	/* show_map(): the gate VMA comes after the last VMA. */
	if (vas->gate)
		arr[i++] = *vas->gate;
	vas__unlock(vas);
	uatomic_inc(&vas->maps_locked);
out:
	if (!i) {
		vma_free(arr);
		arr = NULL;
	}
	*out = arr;
	*nr = i;
	return 0;
}

void vas_vma_dev(const struct vas_vma_info *info, unsigned *major,
		 unsigned *minor)
{
	*major = 0;
	*minor = 0;
	if (info->file[0]) {
		*major = VAS_FILE_DEV_MAJOR;
		*minor = VAS_FILE_DEV_MINOR;
	} else if (info->inode) {
		*minor = VAS_SHMEM_DEV_MINOR; /* shmem of a shared anon map */
	}
}

int vas_format_maps_line(const struct vas_vma_info *info, char *buf, size_t len)
{
	const char *name = info->file[0] ? info->file : info->name;
	unsigned major, minor;
	char line[128 + VAS_FILE_MAX], named[VAS_ANON_NAME_MAX + 16];
	int n;

	vas_vma_dev(info, &major, &minor);
	/* get_vma_name(): [anon:NAME] after [heap] and [stack]. */
	if (!name && info->anon_name[0]) {
		snprintf(named, sizeof(named),
			 info->inode ? "[anon_shmem:%s]" : "[anon:%s]",
			 info->anon_name);
		name = named;
	}
	/* show_vma_header_prefix() */
	n = snprintf(line, sizeof(line),
		     "%08" PRIx64 "-%08" PRIx64 " %c%c%c%c %08" PRIx64
		     " %02x:%02x %" PRIu64 " ",
		     info->start, info->end,
		     info->prot & VAS_PROT_READ ? 'r' : '-',
		     info->prot & VAS_PROT_WRITE ? 'w' : '-',
		     info->prot & VAS_PROT_EXEC ? 'x' : '-',
		     info->flags & VAS_VM_SHARED ? 's' : 'p', info->offset,
		     major, minor, info->inode);
	if (name) {
		/* seq_pad(): spaces up to column 72, then one more. */
		while (n < 72)
			line[n++] = ' ';
		n += snprintf(line + n, sizeof(line) - n, " %s", name);
	}
	line[n++] = '\n';
	line[n] = '\0';
	if (len)
		snprintf(buf, len, "%s", line);
	return n;
}

int vas_format_vmflags(const struct vas_vma_info *info, char *buf, size_t len)
{
	/*
	 * show_smap_vma_flags(): codes in vm_flags bit order. VM_MAY* follow
	 * do_mmap() for a file opened read-write on an exec-mounted
	 * filesystem ([vvar]: VM_MAYREAD only); VM_GROWSUP has no code on
	 * x86.
	 */
	const struct {
		bool on;
		char code[3];
	} f[] = {
		{info->prot & VAS_PROT_READ, "rd"},
		{info->prot & VAS_PROT_WRITE, "wr"},
		{info->prot & VAS_PROT_EXEC, "ex"},
		{info->flags & VAS_VM_SHARED, "sh"},
		{true, "mr"},
		{!(info->flags & VAS_VM_PFNMAP), "mw"},
		{!(info->flags & VAS_VM_PFNMAP), "me"},
		{info->flags & VAS_VM_SHARED, "ms"},
		{info->flags & VAS_VM_GROWSDOWN, "gd"},
		{info->flags & VAS_VM_MAYBE_GUARD, "gu"},
		{info->flags & VAS_VM_PFNMAP, "pf"},
		{info->flags & VAS_VM_LOCKED, "lo"},
		{info->flags & VAS_VM_PFNMAP, "io"},
		{info->flags & VAS_VM_SEQ_READ, "sr"},
		{info->flags & VAS_VM_RAND_READ, "rr"},
		{info->flags & VAS_VM_DONTCOPY, "dc"},
		{info->flags & VAS_VM_DONTEXPAND, "de"},
		{info->flags & VAS_VM_LOCKONFAULT, "lf"},
		{info->flags & VAS_VM_ACCOUNT, "ac"},
		{info->flags & VAS_VM_NORESERVE, "nr"},
		{info->flags & VAS_VM_WIPEONFORK, "wf"},
		{info->flags & VAS_VM_DONTDUMP, "dd"},
		{info->flags & VAS_VM_HUGEPAGE, "hg"},
		{info->flags & VAS_VM_NOHUGEPAGE, "nh"},
		{info->flags & VAS_VM_MERGEABLE, "mg"},
		{info->flags & VAS_VM_SEALED, "sl"},
	};
	char out[VAS_VMFLAGS_MAX];
	size_t i, n = 0;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!f[i].on)
			continue;
		out[n++] = f[i].code[0];
		out[n++] = f[i].code[1];
		out[n++] = ' ';
	}
	out[n] = '\0';
	if (len)
		snprintf(buf, len, "%s", out);
	return (int)n;
}

void vas_stats(struct vas *vas, struct vas_stats *st)
{
	unsigned i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < VAS_NR_STRIPES; i++) {
		struct vas_stripe *s = &vas->stripes[i];

		st->faults += uatomic_read(&s->faults);
		st->fault_retries += uatomic_read(&s->retries);
		st->expansions += uatomic_read(&s->expansions);
		st->segv_maperr += uatomic_read(&s->maperr);
		st->segv_accerr += uatomic_read(&s->accerr);
	}
	st->nr_vmas = uatomic_read(&vas->map_count);
	st->mapped_bytes = uatomic_read(&vas->mapped_bytes);
	st->mutations = uatomic_read(&vas->mutations);
	st->maps_rcu = uatomic_read(&vas->maps_rcu);
	st->maps_locked = uatomic_read(&vas->maps_locked);
	st->brk = uatomic_read(&vas->brk);
	st->start_brk = uatomic_read(&vas->start_brk);
	st->locked_vm = uatomic_read(&vas->locked_vm);
	urcu_memb_read_lock(); /* the writer frees folded page-table nodes */
	st->rss_pages =
		vas__pt_count(&vas->pt, 0, VAS_TASK_SIZE_MAX >> VAS_PAGE_SHIFT);
	vt_stats(vas->vt, &st->tree);
	urcu_memb_read_unlock();
	st->bytes = sizeof(*vas) + st->tree.bytes +
		    st->nr_vmas * sizeof(struct vas_area) +
		    vas->nr_buckets * sizeof(struct vas_file *) +
		    uatomic_read(&vas->file_bytes) + vas__pt_bytes(&vas->pt);
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */

static int fail(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg && len) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/*
 * Would Linux have merged @a and @b (adjacent)? Only pairs that no Linux
 * path leaves unmerged are checked: stacks that grew into a neighbour and
 * areas that lost their anon_vma to MREMAP_DONTUNMAP are exempt.
 */
bool vas__should_have_merged(const struct vas *vas, const struct vas_area *a,
			     const struct vas_area *b)
{
	uint32_t x = vas_area_anon(a), y = vas_area_anon(b);

	if (vas->merge_check_off || a->end != b->start ||
	    a->flags != b->flags || a->file != b->file || a->name != b->name ||
	    (a->flags & (VAS_F_GROWSDOWN | VAS_F_GROWSUP)) ||
	    b->pgoff != a->pgoff + vas_area_pages(a))
		return false;
	if (x && y)
		return x == y;
	if (x)
		return !(x & VAS_ANON_FORKED);
	if (y)
		return !(y & VAS_ANON_FORKED);
	return true;
}

/*
 * A failure found while walking the areas: the walk stops there, and only
 * the file and name counts of the areas walked so far are restored.
 */
#define FAIL_AREA(...)                                                         \
	do {                                                                   \
		err = fail(__VA_ARGS__);                                       \
		walked_below = a->start;                                       \
		goto walked;                                                   \
	} while (0)

static int validate_locked(struct vas *vas, char *msg, size_t len)
{
	uint64_t idx = 0, first, last, count = 0, bytes = 0, prev_end = 0;
	uint64_t locked = 0, walked_below = UINT64_MAX;
	const struct vas_guards *g = vas->guards;
	const struct vas_area *a, *prev = NULL;
	size_t i;
	int err;

	err = vt_validate(vas->vt, msg, len);
	if (err)
		return err;
	while ((a = vt_next(vas->vt, idx, &first, &last)) != NULL) {
		if (first != a->start || last != a->end - 1)
			FAIL_AREA(msg, len,
				  "area %#" PRIx64 "-%#" PRIx64
				  " stored at %#" PRIx64 "-%#" PRIx64,
				  a->start, a->end, first, last);
		if (vas_offset_in_page(a->start) ||
		    vas_offset_in_page(a->end) || a->start >= a->end)
			FAIL_AREA(msg, len, "bad range %#" PRIx64 "-%#" PRIx64,
				  a->start, a->end);
		if (a->start < VAS_MMAP_MIN_ADDR ||
		    a->end > vas->layout.task_size)
			FAIL_AREA(msg, len,
				  "area %#" PRIx64 " outside the space",
				  a->start);
		if (uatomic_read(&a->state) != VAS_AREA_LIVE)
			FAIL_AREA(msg, len, "area %#" PRIx64 " in state %u",
				  a->start, a->state);
		if (prev && prev->end > a->start)
			FAIL_AREA(msg, len, "overlap at %#" PRIx64, a->start);
		if (prev && vas__should_have_merged(vas, prev, a))
			FAIL_AREA(msg, len,
				  "areas at %#" PRIx64 " and %#" PRIx64
				  " should have merged",
				  prev->start, a->start);
		if (vas__pt_count_present(&vas->pt, prev_end >> VAS_PAGE_SHIFT,
					  (a->start - prev_end) >>
						  VAS_PAGE_SHIFT))
			FAIL_AREA(msg, len,
				  "resident pages in the gap below %#" PRIx64,
				  a->start);
		if (uatomic_read(&a->rss) !=
		    vas__pt_count(&vas->pt, a->start >> VAS_PAGE_SHIFT,
				  vas_area_pages(a)))
			FAIL_AREA(msg, len,
				  "area %#" PRIx64 " counts %" PRIu64
				  " resident pages, the page table %" PRIu64,
				  a->start, a->rss,
				  vas__pt_count(&vas->pt,
						a->start >> VAS_PAGE_SHIFT,
						vas_area_pages(a)));
		if (a->file)
			a->file->refs--;
		if (a->name)
			a->name->refs--;
		if (a->flags & VAS_F_LOCKED)
			locked += vas_area_pages(a);
		count++;
		bytes += a->end - a->start;
		prev = a;
		prev_end = a->end;
		idx = a->end;
	}
	if (vas__pt_count_present(&vas->pt, prev_end >> VAS_PAGE_SHIFT,
				  (VAS_TASK_SIZE_MAX - prev_end) >>
					  VAS_PAGE_SHIFT))
		err = fail(msg, len, "resident pages above the last area");
walked:
	/* Every file count must be back to zero; then restore them. */
	for (i = 0; i < vas->nr_buckets; i++) {
		const struct vas_file *f;

		for (f = vas->files[i]; f; f = f->hnext)
			if (f->refs != 0 && !err)
				err = fail(msg, len,
					   "file %s counted %ld areas too many",
					   f->name, f->refs);
	}
	idx = 0;
	while ((a = vt_next(vas->vt, idx, NULL, NULL)) != NULL &&
	       a->start < walked_below) {
		if (a->file) {
			if (a->file->refs < 0 && !err)
				err = fail(msg, len,
					   "file %s counted too few areas",
					   a->file->name);
			a->file->refs++;
		}
		if (a->name) {
			if (a->name->refs < 0 && !err)
				err = fail(msg, len,
					   "name %s counted too few areas",
					   a->name->name);
			a->name->refs++;
		}
		idx = a->end;
	}
	/* Guard markers: sorted, disjoint, only inside areas with
	 * VM_MAYBE_GUARD (a sticky flag: merges and splits keep it). */
	for (i = 0; g && i < g->nr && !err; i++) {
		const struct vas_range *r = &g->r[i];

		a = vt_load(vas->vt, r->start, NULL, NULL);
		if (r->start >= r->end || vas_offset_in_page(r->start) ||
		    vas_offset_in_page(r->end) ||
		    (i && g->r[i - 1].end >= r->start))
			err = fail(msg, len, "bad guard range %#" PRIx64,
				   r->start);
		else if (vas__pt_count_present(
				 &vas->pt, r->start >> VAS_PAGE_SHIFT,
				 (r->end - r->start) >> VAS_PAGE_SHIFT))
			err = fail(msg, len, "pages under guard %#" PRIx64,
				   r->start);
		for (idx = r->start; idx < r->end && !err; idx = a->end) {
			a = vt_load(vas->vt, idx, NULL, NULL);
			if (!a)
				err = fail(msg, len,
					   "guard marker %#" PRIx64
					   " outside every area",
					   idx);
			else if (!(a->flags & VAS_F_MAYBE_GUARD))
				err = fail(msg, len,
					   "guard marker %#" PRIx64
					   " in an area without VM_MAYBE_GUARD",
					   idx);
		}
	}
	if (!err && g && !g->nr)
		err = fail(msg, len, "empty guard array published");
	if (err)
		return err;
	if (count != vas->map_count)
		return fail(msg, len,
			    "map_count %" PRIu64 ", %" PRIu64 " areas",
			    vas->map_count, count);
	if (bytes != vas->mapped_bytes)
		return fail(msg, len,
			    "mapped bytes %" PRIu64 ", counted %" PRIu64,
			    vas->mapped_bytes, bytes);
	if (vas->brk < vas->start_brk)
		return fail(msg, len, "brk below start_brk");
	/* locked_vm drifts from the VMAs only through MREMAP_DONTUNMAP. */
	if (!vas->locked_drift && locked != vas->locked_vm)
		return fail(msg, len,
			    "locked_vm %" PRIu64 ", locked areas %" PRIu64,
			    vas->locked_vm, locked);
	return 0;
}
#undef FAIL_AREA

int vas_validate(struct vas *vas, char *msg, size_t len)
{
	int err;

	vas__lock(vas);
	err = validate_locked(vas, msg, len);
	vas__unlock(vas);
	return err;
}
