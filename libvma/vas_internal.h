/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vas_internal.h - Private structures of the address space (vas*.c only).
 *
 * Locking:
 *   struct vas_area fields start..flags,    immutable once published
 *   name
 *   vas_area.anon                           set once (0 -> id) by a fault
 *                                           holding the area's read hazard,
 *                                           or by the writer before publish
 *   vas_area.state                          written by the writer (marking),
 *                                           read by faults
 *   vas_area.faulted                        set once (0 -> 1) by faults,
 *                                           read by the writer's drain
 *   struct vas writer fields                Writer (holds vas->write_lock)
 *   struct vas counters, page table         Any context (atomic)
 */
#ifndef VMA_VAS_INTERNAL_H
#define VMA_VAS_INTERNAL_H

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <urcu/urcu-memb.h>
#include <urcu/uatomic.h>

#include "vma/vas.h"
#include "vma/vt.h"

#define VAS_PAGE_MASK	  (~(VAS_PAGE_SIZE - 1))
#define VAS_MMAP_MIN_ADDR 65536ULL /* /proc/sys/vm/mmap_min_addr */
#define VAS_PMD_SIZE	  (2ULL << 20)
#define VAS_TASK_SIZE_MAX (1ULL << 48) /* what the page table covers */

/* Ordered atomic accesses (liburcu 0.13 has no uatomic_load/store). */
#define vas_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define vas_load_relaxed(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#define vas_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#define vas_page_align(x)     (((x) + VAS_PAGE_SIZE - 1) & VAS_PAGE_MASK)
#define vas_offset_in_page(x) ((x) & (VAS_PAGE_SIZE - 1))

/*
 * Internal vm_flags of an area: the prot bits are VAS_PROT_* so that
 * (flags & 7) is the protection.
 */
enum {
	VAS_F_READ = VAS_PROT_READ,
	VAS_F_WRITE = VAS_PROT_WRITE,
	VAS_F_EXEC = VAS_PROT_EXEC,
	VAS_F_SHARED = 1u << 3,
	VAS_F_GROWSDOWN = 1u << 4,
	VAS_F_GROWSUP = 1u << 5,
	VAS_F_NORESERVE = 1u << 6,
	VAS_F_ACCOUNT = 1u << 7,
	VAS_F_LOCKED = 1u << 8,	     /* VM_LOCKED */
	VAS_F_LOCKONFAULT = 1u << 9, /* VM_LOCKONFAULT */
	VAS_F_DONTCOPY = 1u << 10,   /* VM_DONTCOPY */
	VAS_F_WIPEONFORK = 1u << 11, /* VM_WIPEONFORK */
	VAS_F_DONTDUMP = 1u << 12,   /* VM_DONTDUMP */
	VAS_F_HUGEPAGE = 1u << 13,   /* VM_HUGEPAGE */
	VAS_F_NOHUGEPAGE = 1u << 14, /* VM_NOHUGEPAGE */
	VAS_F_SEQ_READ = 1u << 15,   /* VM_SEQ_READ */
	VAS_F_RAND_READ = 1u << 16,  /* VM_RAND_READ */
	VAS_F_MERGEABLE = 1u << 17,  /* VM_MERGEABLE */
	VAS_F_SEALED = 1u << 18,     /* VM_SEALED */
	/*
	 * VM_MAYBE_GUARD: guard markers were installed in the VMA once. A
	 * sticky flag: merges ignore it and the merged VMA keeps it.
	 */
	VAS_F_MAYBE_GUARD = 1u << 19,
};
#define VAS_F_STICKY	  (VAS_F_MAYBE_GUARD)
#define VAS_F_ACCESS	  (VAS_F_READ | VAS_F_WRITE | VAS_F_EXEC)
#define VAS_F_LOCKED_MASK (VAS_F_LOCKED | VAS_F_LOCKONFAULT)

/* vas_area.anon: anon_vma id in the low bits; set if inherited by fork. */
#define VAS_ANON_FORKED 0x80000000u
#define VAS_ANON_ID	0x7fffffffu

/* vas_area.state */
enum {
	VAS_AREA_LIVE = 0,    /* published, usable by faults */
	VAS_AREA_MARKED = 1,  /* a writer is replacing or detaching it */
	VAS_AREA_FRESH = 2,   /* built by an operation, not yet published */
	VAS_AREA_DROPPED = 3, /* fresh, then replaced in the same operation */
};

/* A simulated file, interned per space. */
struct vas_file {
	struct vas_file *hnext; /* hash chain (named files only) */
	uint64_t hash;
	uint64_t inode;
	long refs;	 /* areas referring to it; Writer */
	bool shmem;	 /* the file of a shared anonymous mapping */
	bool hashed;	 /* in vas->files (freed by vas__files_free()) */
	uint8_t special; /* VAS_SPECIAL_*: a kernel-made special mapping */
	/*
	 * An anonymous VMA name (struct anon_vma_name), not a file: interned
	 * in the same table, counted by the areas that carry it.
	 */
	bool is_name;
	/* Its filesystem places with thp_get_unmapped_area() (ext4). */
	bool thp_align;
	char name[];
};

/*
 * One VMA. Immutable in its range and properties once published; a change
 * builds a new object. 72 bytes.
 */
struct vas_area {
	uint64_t start;	       /* inclusive */
	uint64_t end;	       /* exclusive */
	uint64_t pgoff;	       /* vm_pgoff */
	struct vas_file *file; /* NULL: private anonymous */
	/*
	 * Resident pages in [start, end): counted from the page table by the
	 * writer before the area is published, then incremented (atomically)
	 * by each fault that populates a page while holding the area, so
	 * that reporting rss_pages costs a load, not a page-table scan.
	 */
	uint64_t rss;
	struct vas *vas; /* owner: where the object is recycled */
	/*
	 * anon_vma_name: the interned name (vas_file.is_name) given by
	 * prctl(PR_SET_VMA_ANON_NAME), NULL if none. Areas with different
	 * names never merge.
	 */
	struct vas_file *name;
	uint32_t anon;	/* anon_vma id (| VAS_ANON_FORKED), 0: none */
	uint32_t flags; /* VAS_F_* (vm_flags) */
	uint8_t state;	/* VAS_AREA_* */
	/*
	 * Set (0 -> 1, once) by the first fault that takes the area's read
	 * lock, before it publishes its hazard: an area no fault ever
	 * entered needs no wait for readers when it is replaced.
	 */
	uint8_t faulted;
};

/*
 * A retired area after its grace period, kept for reuse (it overlays the
 * area's first word).
 */
struct vas_area_free {
	struct vas_area_free *next;
};

/*
 * Most retired areas a space keeps for reuse (the rest are freed). Under
 * AddressSanitizer the kept ones are poisoned (vas.c), so that it still
 * catches any access to an area after its grace period.
 */
#define VAS_AREA_CACHE_MAX 4096

static inline uint64_t vas_area_pages(const struct vas_area *a)
{
	return (a->end - a->start) >> VAS_PAGE_SHIFT;
}

static inline uint64_t vas_area_last(const struct vas_area *a)
{
	return a->end - 1;
}

static inline uint32_t vas_area_anon(const struct vas_area *a)
{
	return uatomic_read(&a->anon);
}

static inline bool vas_area_is_anon_private(const struct vas_area *a)
{
	return !a->file;
}

/*
 * Special mappings ([vdso], [vvar], ...; _install_special_mapping()) are
 * areas whose "file" is an unhashed entry of this kind, one per area, so
 * they never merge (VM_DONTEXPAND is in VM_SPECIAL). None may be split
 * (special_mapping_split()) nor grown (VM_DONTEXPAND); a PFNMAP one
 * ([vvar]: VM_PFNMAP | VM_IO, only VM_MAYREAD) also refuses write and
 * exec permission.
 */
enum {
	VAS_SPECIAL_NONE = 0,
	VAS_SPECIAL_MAPPING = 1, /* VM_DONTEXPAND, VM_MAY{READ,WRITE,EXEC} */
	VAS_SPECIAL_PFNMAP = 2,	 /* + VM_PFNMAP | VM_IO, VM_MAYREAD only */
};

static inline bool vas_area_is_special(const struct vas_area *a)
{
	return a->file && a->file->special;
}

/*
 * Does a read fault of a page of @a that is not present map the shared
 * zero page (do_anonymous_page())? Private anonymous memory only, and not
 * on a space that models a kernel without the zero page.
 */
static inline bool vas_read_maps_zero_page(const struct vas_layout *l,
					   const struct vas_area *a)
{
	return !a->file && !l->no_zero_page;
}

/*
 * Does a fault of @access need @a to have an anon_vma first? A write to
 * private memory (vmf_anon_prepare() before the copy), and a read of
 * private anonymous memory that gets a page of its own instead of the zero
 * page.
 */
static inline bool vas_fault_needs_anon(const struct vas_layout *l,
					const struct vas_area *a, bool write)
{
	if (a->flags & VAS_F_SHARED)
		return false;
	return write || (!a->file && l->no_zero_page);
}

/*
 * Resident pages: a radix tree over page numbers with bitmap leaves.
 * Interior nodes have 512 slots, leaves hold 512 bits (one cache line),
 * four levels cover 2^36 pages (256 TiB). A slot covered whole by a range
 * holds the range's state instead of a child (an extent, as a huge page
 * entry). Nodes are allocated with a compare-and-swap by whoever needs
 * them first, and unlinked only by the writer (vas__pt_fold()), freed
 * after a grace period.
 */
#define VAS_PT_BITS   9
#define VAS_PT_SLOTS  (1u << VAS_PT_BITS)
#define VAS_PT_LEVELS 3 /* interior levels above the leaves */
#define VAS_PT_WORDS  (VAS_PT_SLOTS / 64)

/*
 * present: pages mapped (a fault on them is a protection fault; mincore()
 * calls them resident); bits: those with a page of their own, counted in
 * rss_pages as Linux's Rss counts them. A page present but not in bits is
 * mapped to the shared zero page. bits is a subset of present.
 */
struct vas_pt_leaf {
	uint64_t bits[VAS_PT_WORDS];
	uint64_t present[VAS_PT_WORDS];
	struct vas_pt_leaf *gnext; /* unlinked, waiting for a grace period */
};

/*
 * A slot holds a child, or the state of every page under it (vas_pt.c:
 * none, all on the zero page, all with pages of their own).
 */
struct vas_pt_node {
	void *slot[VAS_PT_SLOTS];
	struct vas_pt_node *gnext; /* unlinked, waiting for a grace period */
	uint8_t level;		   /* of its slots: 0 for the root */
};

struct vas_pt {
	struct vas_pt_node *root;
	uint64_t nr_nodes; /* interior nodes, atomic */
	uint64_t nr_leaves;
	uint64_t nr_lost; /* range changes dropped for want of a node */
};

/* vas__pt_for_each_run() callback: a run of present pages. */
typedef int (*vas_pt_run_fn)(uint64_t pfn, uint64_t nr, bool own, void *arg);
struct vas_pt_garbage;

/* Guard marker ranges: [r[i].start, r[i].end), sorted, disjoint. */
struct vas_guards {
	size_t nr;
	struct vas_range {
		uint64_t start, end;
	} r[];
};

/* Per-thread-ish counters, one cache line each. */
#define VAS_NR_STRIPES 16
struct vas_stripe {
	uint64_t faults;
	uint64_t retries;
	uint64_t expansions;
	uint64_t maperr;
	uint64_t accerr;
} __attribute__((aligned(64)));

/*
 * The space. Fields are grouped by who writes them so that faults, which
 * read the first group on every call, never share a cache line with what
 * every mutation writes (the lock, the counters) or with what the
 * reclaimer writes (the recycled areas).
 */
struct vas {
	/* Read by faults; written only by rare operations (brk, exec-like
	 * setup). */
	struct vt *vt;
	/*
	 * Guard markers (MADV_GUARD_INSTALL), NULL if none: a sorted array
	 * of disjoint ranges, replaced whole by the writer (published with
	 * rcu_assign_pointer() while the areas it changes are drained, freed
	 * after a grace period), read by faults under RCU.
	 */
	struct vas_guards *guards;
	struct vas_pt pt;     /* its counters change only when it grows */
	uint64_t guard_gap;   /* bytes */
	uint64_t start_stack; /* an address in the initial stack */
	uint64_t start_brk;
	uint64_t brk;
	/*
	 * Odd while vas_brk() changes the break and the tree: a maps listing
	 * read without the lock names the [heap] from a brk that goes with
	 * the tree it read (vas_maps()).
	 */
	unsigned long brk_seq;
	struct vas_layout layout;
	/*
	 * The gate area ([vsyscall] above task_size, get_gate_vma()): not in
	 * the tree, never found by lookups, shown last by vas_maps(). Set
	 * only by vas_import().
	 */
	struct vas_vma_info *gate;

	/* Writer: written by every mutation. */
	pthread_mutex_t write_lock __attribute__((aligned(64)));
	int write_held;		/* for vas_assert_write_locked() */
	uint64_t unmapped_base; /* bottom-up search start */

	/* Writer state (read racily by vas_stats()). */
	uint64_t map_count;
	uint64_t mapped_bytes;
	uint64_t mutations;
	uint64_t next_shmem_ino;
	bool merge_check_off; /* vas_validate(): see should_have_merged */
	uint64_t locked_vm;   /* mm->locked_vm, in pages */
	bool has_sealed;      /* an mseal() ever ran: munmap checks seals */
	bool locked_drift;    /* locked_vm no longer sums VM_LOCKED areas */
	uint32_t def_flags;   /* mm->def_flags: VAS_F_LOCKED_MASK bits */

	/* Recycled areas the writer takes from (Writer only). */
	struct vas_area_free *area_local;
	uint64_t area_pops; /* areas taken for reuse, ever */

	/* anon_vma ids, also allocated by faults. */
	uint32_t next_anon;

	/* Interned files: Writer. */
	struct vas_file **files;
	size_t nr_buckets;
	size_t nr_files;
	uint64_t file_bytes;

	/* Written by the reclaimer thread: retired areas after their grace
	 * period (pushed by any thread, taken whole by the writer). */
	struct vas_area_free *area_reclaimed __attribute__((aligned(64)));
	uint64_t area_pushes; /* areas pushed for reuse, ever */

	struct vas_stripe stripes[VAS_NR_STRIPES];

	/* maps listings: read under RCU, and those that took the lock. */
	uint64_t maps_rcu __attribute__((aligned(64)));
	uint64_t maps_locked;
};

static inline void vas_assert_write_locked(const struct vas *vas)
{
	assert(vas->write_held);
	(void)vas;
}

static inline void vas_assert_rcu_reader(void)
{
	assert(urcu_memb_read_ongoing());
}

/* vas.c */
void vas__lock(struct vas *vas);
void vas__unlock(struct vas *vas);
/*
 * The flags of madvise, mlock and mseal: each internal VAS_F_* bit and
 * the VAS_VM_* bit that reports it (vas__fill_info(), vas_import()).
 */
#define VAS_NR_F_TO_VM 12
extern const uint32_t vas__f_to_vm[VAS_NR_F_TO_VM][2];
void vas__fill_info(struct vas *vas, const struct vas_area *a,
		    struct vas_vma_info *info);
/*
 * Would Linux have merged adjacent areas @a and @b (vas_validate())?
 * Context: Writer.
 */
bool vas__should_have_merged(const struct vas *vas, const struct vas_area *a,
			     const struct vas_area *b);
void vas__area_free_rcu(void *ptr);
struct vas_area *vas__area_get(struct vas *vas);
void vas__area_put(struct vas *vas, struct vas_area *a);
uint64_t vas__start_gap(const struct vas *vas, const struct vas_area *a);
uint64_t vas__end_gap(const struct vas *vas, const struct vas_area *a);
uint32_t vas__new_anon(struct vas *vas);
bool vas__anon_compatible(const struct vas_area *a, const struct vas_area *b);
uint32_t vas__find_mergeable_anon(struct vas *vas, const struct vas_area *a,
				  const struct vas_area *prev,
				  const struct vas_area *next);

/* vas_file.c */
struct vas_file *vas__file_get(struct vas *vas, const char *name);
struct vas_file *vas__file_new_shmem(struct vas *vas);
struct vas_file *vas__file_new_special(struct vas *vas, const char *name,
				       uint8_t kind);
struct vas_file *vas__name_get(struct vas *vas, const char *name);
void vas__file_unlink(struct vas *vas, struct vas_file *f);
void vas__files_free(struct vas *vas);
int vas__files_copy(struct vas *dst, const struct vas *src);
struct vas_file *vas__file_lookup_copy(struct vas *dst,
				       const struct vas_file *f);
uint64_t vas__file_inode(const char *name);

/* vas_pt.c */
struct vas_pt_leaf *vas__pt_leaf(struct vas_pt *pt, uint64_t pfn, bool alloc);
int vas__pt_prepare(struct vas_pt *pt, uint64_t pfn, uint64_t nr);
/* The changes an operation makes (vas__pt_prepare_kinds()). */
enum {
	VAS_PT_CH_CLEAR = 1u << 0,
	VAS_PT_CH_ZERO = 1u << 1, /* populate with the zero page */
	VAS_PT_CH_OWN = 1u << 2,  /* populate with pages of their own */
	VAS_PT_CH_ALL = 7,
};
int vas__pt_prepare_kinds(struct vas_pt *pt, uint64_t pfn, uint64_t nr,
			  unsigned kinds);
int vas__pt_prepare_like(struct vas_pt *dst, const struct vas_pt *src,
			 uint64_t src_pfn, uint64_t dst_pfn, uint64_t nr);
bool vas__pt_test_set(struct vas_pt *pt, uint64_t pfn, bool zero,
		      bool *populated, bool *counted);
bool vas__pt_test(const struct vas_pt *pt, uint64_t pfn);
void vas__pt_set_range(struct vas_pt *pt, uint64_t pfn, uint64_t nr, bool zero);
void vas__pt_clear_range(struct vas_pt *pt, uint64_t pfn, uint64_t nr);
void vas__pt_move(struct vas_pt *pt, uint64_t src, uint64_t dst, uint64_t nr);
void vas__pt_copy(struct vas_pt *dst, const struct vas_pt *src, uint64_t pfn,
		  uint64_t nr);
uint64_t vas__pt_count(const struct vas_pt *pt, uint64_t pfn, uint64_t nr);
uint64_t vas__pt_count_present(const struct vas_pt *pt, uint64_t pfn,
			       uint64_t nr);
int vas__pt_for_each_run(const struct vas_pt *pt, uint64_t pfn, uint64_t nr,
			 vas_pt_run_fn fn, void *arg);
struct vas_pt_garbage *vas__pt_garbage_new(void);
void vas__pt_garbage_free(void *ptr);
void vas__pt_fold(struct vas_pt *pt, uint64_t pfn, uint64_t nr,
		  struct vas_pt_garbage *g);
void vas__pt_free(struct vas_pt *pt);
uint64_t vas__pt_bytes(const struct vas_pt *pt);

/* vas_guard.c */
bool vas__guard_test(const struct vas_guards *g, uint64_t addr);
bool vas__guard_any(const struct vas_guards *g, uint64_t start, uint64_t end);
uint64_t vas__guard_first(const struct vas_guards *g, uint64_t start,
			  uint64_t end);
struct vas_guards *vas__guards_edit(const struct vas_guards *g, uint64_t start,
				    uint64_t end, bool set);
struct vas_guards *vas__guards_move(const struct vas_guards *g, uint64_t src,
				    uint64_t dst, uint64_t len);
struct vas_guards *vas__guards_copy_range(struct vas_guards *dst,
					  const struct vas_guards *src,
					  uint64_t start, uint64_t end);
void vas__guards_free(struct vas_guards *g);

/* vas_fault.c: read hazards */
struct vas_reader;
void vas__mark(struct vas_area *a);
void vas__unmark(struct vas_area *a);
void vas__drain(struct vas_area *a);
void vas__drain_all(struct vas_area *const *v, size_t n);
unsigned vas__stripe(void);

#endif /* VMA_VAS_INTERNAL_H */
