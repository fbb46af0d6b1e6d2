/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vma/vas.h - A simulated process address space with Linux 6.x x86-64
 * semantics: mmap, munmap, mprotect, mremap, brk, fork, stacks, faults.
 *
 * VMAs live in an RCU range tree (vma/vt.h). Each mutation validates its
 * arguments, gathers what it affects, builds new VMA objects and commits
 * one tree transaction, so concurrent readers see it before or after,
 * never half-done. Faults and lookups run as RCU readers and take no lock
 * unless a stack has to grow.
 *
 * Ranges here are half-open [start, end), as in mmap and /proc/PID/maps.
 * Every function returns 0 or a negative errno, the one Linux would return.
 *
 * Locking:
 *   vas_new, vas_import, vas_free           Init only (no other user)
 *   vas_mmap, vas_munmap, vas_mprotect,     Takes vas->write_lock
 *   vas_mremap, vas_brk, vas_fork,
 *   vas_madvise, vas_mlock, vas_munlock,
 *   vas_mlockall, vas_munlockall, vas_mseal,
 *   vas_set_anon_name, vas_validate, vas_snapshot
 *   vas_restore                             Init only (builds a new space)
 *   vas_fault                               RCU reader; takes
 *                                           vas->write_lock to grow a stack
 *   vas_maps                                RCU reader; takes
 *                                           vas->write_lock if writers keep
 *                                           invalidating its reads
 *   vas_lookup, vas_stats                   RCU reader
 *   vas_mutation_count                      Any context
 *
 * Every thread calling into a vas must be a registered urcu-memb thread
 * (rcu_register_thread()). The functions enter RCU read-side sections
 * themselves; callers need not (nested sections are fine).
 */
#ifndef VMA_VAS_H
#define VMA_VAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vma/err.h"
#include "vma/vt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VAS_PAGE_SIZE  4096ULL
#define VAS_PAGE_SHIFT 12
#define VAS_FILE_MAX   256 /* bytes of a file name, NUL included */

/* Defaults: Linux x86-64 with randomization off. */
#define VAS_DEFAULT_TASK_SIZE	    0x7ffffffff000ULL
#define VAS_DEFAULT_MMAP_BASE	    0x7ffff7fff000ULL
#define VAS_DEFAULT_STACK_GUARD_GAP 256 /* pages */
#define VAS_DEFAULT_MAX_MAP_COUNT   65530
#define VAS_DEFAULT_STACK_RLIMIT    (8ULL << 20)
#define VAS_DEFAULT_BRK_BASE	    0x555555559000ULL
#define VAS_INITIAL_STACK_SIZE	    (132ULL << 10)

/* Protection bits (PROT_*). */
enum {
	VAS_PROT_READ = 1u << 0,
	VAS_PROT_WRITE = 1u << 1,
	VAS_PROT_EXEC = 1u << 2,
};

/* mmap flags (MAP_*). */
enum {
	VAS_MAP_PRIVATE = 1u << 0,
	VAS_MAP_SHARED = 1u << 1,
	VAS_MAP_ANONYMOUS = 1u << 2,
	VAS_MAP_FIXED = 1u << 3,
	VAS_MAP_FIXED_NOREPLACE = 1u << 4,
	VAS_MAP_GROWSDOWN = 1u << 5,
	VAS_MAP_GROWSUP = 1u << 6,
	VAS_MAP_POPULATE = 1u << 7,
	VAS_MAP_NORESERVE = 1u << 8,
	VAS_MAP_STACK = 1u << 9,	  /* MAP_STACK: VM_NOHUGEPAGE (6.7+) */
	VAS_MAP_LOCKED = 1u << 10,	  /* MAP_LOCKED: VM_LOCKED, populate */
	VAS_MAP_DENYWRITE = 1u << 11,	  /* ignored, as Linux */
	VAS_MAP_EXECUTABLE = 1u << 12,	  /* ignored, as Linux */
	VAS_MAP_NONBLOCK = 1u << 13,	  /* MAP_POPULATE does nothing */
	VAS_MAP_UNINITIALIZED = 1u << 14, /* ignored (MMU kernels) */
};
/* MAP_SHARED_VALIDATE is MAP_SHARED | MAP_PRIVATE, as in Linux. */
#define VAS_MAP_SHARED_VALIDATE (VAS_MAP_SHARED | VAS_MAP_PRIVATE)

/* Properties of a VMA as reported (a subset of vm_flags). */
enum {
	VAS_VM_SHARED = 1u << 0,    /* VM_SHARED (else private) */
	VAS_VM_ANON = 1u << 1,	    /* anonymous (no file) */
	VAS_VM_GROWSDOWN = 1u << 2, /* VM_GROWSDOWN */
	VAS_VM_GROWSUP = 1u << 3,   /* VM_GROWSUP */
	VAS_VM_NORESERVE = 1u << 4, /* VM_NORESERVE */
	VAS_VM_ACCOUNT = 1u << 5,   /* VM_ACCOUNT: private writable, charged */
	VAS_VM_ANON_VMA = 1u << 6,  /* has an anon_vma (written or COWed) */
	VAS_VM_STACK = 1u << 7,	    /* the [stack] */
	VAS_VM_HEAP = 1u << 8,	    /* the [heap] (brk area) */
	VAS_VM_FORKED = 1u << 9,    /* anon_vma inherited through fork */
	/*
	 * A kernel-made special mapping ([vdso], [vvar], [vsyscall]; see
	 * vas_import()): never merged, split or grown.
	 */
	VAS_VM_SPECIAL = 1u << 24,
	/*
	 * Of a special mapping in the tree: VM_DONTEXPAND (all of them), and
	 * VM_PFNMAP | VM_IO with only VM_MAYREAD ([vvar], [vvar_vclock]).
	 */
	VAS_VM_DONTEXPAND = 1u << 25,
	VAS_VM_PFNMAP = 1u << 26,
	VAS_VM_LOCKED = 1u << 10,      /* VM_LOCKED (mlock) */
	VAS_VM_LOCKONFAULT = 1u << 11, /* VM_LOCKONFAULT (mlock2 ONFAULT) */
	VAS_VM_DONTCOPY = 1u << 12,    /* VM_DONTCOPY (MADV_DONTFORK) */
	VAS_VM_WIPEONFORK = 1u << 13,  /* VM_WIPEONFORK */
	VAS_VM_DONTDUMP = 1u << 14,    /* VM_DONTDUMP (MADV_DONTDUMP) */
	VAS_VM_HUGEPAGE = 1u << 15,    /* VM_HUGEPAGE (MADV_HUGEPAGE) */
	VAS_VM_NOHUGEPAGE = 1u << 16,  /* VM_NOHUGEPAGE (or MAP_STACK) */
	VAS_VM_SEQ_READ = 1u << 17,    /* VM_SEQ_READ (MADV_SEQUENTIAL) */
	VAS_VM_RAND_READ = 1u << 18,   /* VM_RAND_READ (MADV_RANDOM) */
	VAS_VM_MERGEABLE = 1u << 19,   /* VM_MERGEABLE (KSM) */
	VAS_VM_SEALED = 1u << 20,      /* VM_SEALED (mseal) */
	VAS_VM_MAYBE_GUARD = 1u << 21, /* VM_MAYBE_GUARD: guard markers were
					  installed once (sticky) */
};

/* madvise() advice values: Linux's numbers (uapi/asm-generic/mman-common.h). */
enum {
	VAS_MADV_NORMAL = 0,
	VAS_MADV_RANDOM = 1,
	VAS_MADV_SEQUENTIAL = 2,
	VAS_MADV_WILLNEED = 3,
	VAS_MADV_DONTNEED = 4,
	VAS_MADV_FREE = 8,
	VAS_MADV_REMOVE = 9,
	VAS_MADV_DONTFORK = 10,
	VAS_MADV_DOFORK = 11,
	VAS_MADV_MERGEABLE = 12,
	VAS_MADV_UNMERGEABLE = 13,
	VAS_MADV_HUGEPAGE = 14,
	VAS_MADV_NOHUGEPAGE = 15,
	VAS_MADV_DONTDUMP = 16,
	VAS_MADV_DODUMP = 17,
	VAS_MADV_WIPEONFORK = 18,
	VAS_MADV_KEEPONFORK = 19,
	VAS_MADV_COLD = 20,
	VAS_MADV_PAGEOUT = 21,
	VAS_MADV_POPULATE_READ = 22,
	VAS_MADV_POPULATE_WRITE = 23,
	VAS_MADV_DONTNEED_LOCKED = 24,
	VAS_MADV_COLLAPSE = 25,
	VAS_MADV_HWPOISON = 100,
	VAS_MADV_SOFT_OFFLINE = 101,
	VAS_MADV_GUARD_INSTALL = 102,
	VAS_MADV_GUARD_REMOVE = 103,
};

/* mlock2() and mlockall() flags (Linux's values). */
#define VAS_MLOCK_ONFAULT 0x01
enum {
	VAS_MCL_CURRENT = 1,
	VAS_MCL_FUTURE = 2,
	VAS_MCL_ONFAULT = 4,
};

/* Longest anonymous VMA name, NUL excluded (ANON_VMA_NAME_MAX_LEN - 1). */
#define VAS_ANON_NAME_MAX 79
/* Bytes vas_format_vmflags() may write, NUL included. */
#define VAS_VMFLAGS_MAX 96

/* mremap flags (MREMAP_*). */
enum {
	VAS_MREMAP_MAYMOVE = 1u << 0,
	VAS_MREMAP_FIXED = 1u << 1,
	VAS_MREMAP_DONTUNMAP = 1u << 2,
};

enum vas_access {
	VAS_ACCESS_READ,
	VAS_ACCESS_WRITE,
	VAS_ACCESS_EXEC,
};

enum vas_fault_status {
	VAS_FAULT_OK,
	VAS_FAULT_SEGV,
};

enum vas_segv_code {
	VAS_SEGV_NONE,
	VAS_SEGV_MAPERR, /* no VMA covers the address */
	VAS_SEGV_ACCERR, /* a VMA covers it but forbids the access */
};

/* Layout of a new space; vas_layout_default() fills the Linux defaults. */
struct vas_layout {
	uint64_t task_size;	  /* highest user address + 1 */
	uint64_t mmap_base;	  /* top-down placement starts below this */
	uint64_t stack_guard_gap; /* in pages; 0 allowed */
	uint64_t max_map_count;	  /* most VMAs a space may hold */
	uint64_t stack_rlimit;	  /* RLIMIT_STACK in bytes */
	uint64_t brk_base;	  /* start_brk: where the heap begins */
	bool stack;		  /* create an initial [stack] VMA */
	/*
	 * The VMA tree publishes commits in place (vt_set_in_place()): faults
	 * beside a busy writer keep more of their rate. On in
	 * vas_layout_default(); false, or VMA_TREE_IN_PLACE=0 in the
	 * environment, publishes every commit at the root (no tree node a
	 * fault can reach is ever modified), for comparison.
	 */
	bool tree_in_place;
	/*
	 * Model a kernel without the shared zero page: a read fault of
	 * private anonymous memory then allocates a page (and an anon_vma)
	 * as a write fault does. Off (upstream: the zero page is mapped, not
	 * counted in rss_pages) in vas_layout_default().
	 */
	bool no_zero_page;
	/*
	 * RLIMIT_MEMLOCK in bytes (UINT64_MAX: RLIM_INFINITY); the model is
	 * a process without CAP_IPC_LOCK. VAS_DEFAULT_MEMLOCK_RLIMIT in
	 * vas_layout_default(), Linux's default since 5.16.
	 */
	uint64_t memlock_rlimit;
	/*
	 * Platform switches, all off in vas_layout_default() (a 6.18 x86-64
	 * kernel with THP, KSM and anonymous VMA names built in): model a
	 * kernel built without CONFIG_TRANSPARENT_HUGEPAGE (no 2 MiB
	 * placement, MAP_STACK sets nothing, MADV_(NO)HUGEPAGE EINVAL),
	 * without CONFIG_KSM (MADV_(UN)MERGEABLE EINVAL), without
	 * CONFIG_ANON_VMA_NAME (PR_SET_VMA EINVAL), or older than 6.7
	 * (MAP_STACK sets no VM_NOHUGEPAGE).
	 */
	bool no_thp;
	bool no_ksm;
	bool no_anon_vma_name;
	bool no_map_stack_nohugepage;
};

#define VAS_DEFAULT_MEMLOCK_RLIMIT (8ULL << 20)
#define VAS_RLIM_INFINITY	   UINT64_MAX

/* A copy of one VMA's state, safe to keep after the call. */
struct vas_vma_info {
	uint64_t start;		 /* inclusive */
	uint64_t end;		 /* exclusive */
	uint64_t offset;	 /* file offset in bytes (pgoff << 12) */
	unsigned prot;		 /* VAS_PROT_* */
	unsigned flags;		 /* VAS_VM_* */
	uint64_t rss_pages;	 /* resident pages in [start, end) */
	uint64_t inode;		 /* simulated inode of the file, 0 if anon */
	char file[VAS_FILE_MAX]; /* file name, "" if anonymous */
	const char *name;	 /* "[stack]", "[heap]", "/dev/zero (deleted)"
				    (shared anonymous) or NULL (static) */
	uint64_t pgoff;		 /* vm_pgoff as Linux keeps it (anonymous
				    private: addr >> 12 at creation) */
	uint32_t anon_vma;	 /* anon_vma id, 0 if none (model state) */
	/*
	 * The prctl(PR_SET_VMA_ANON_NAME) name, "" if none. /proc/PID/maps
	 * shows it as "[anon:NAME]" ("[anon_shmem:NAME]" for shared
	 * anonymous memory) where @name is NULL or "/dev/zero (deleted)":
	 * [heap] and [stack] win (get_vma_name()).
	 */
	char anon_name[VAS_ANON_NAME_MAX + 1];
};

struct vas_fault_result {
	enum vas_fault_status status;
	enum vas_segv_code code; /* when status is VAS_FAULT_SEGV */
	bool populated;		 /* this fault made the page resident (mapped
				    it, the zero page included) */
	bool expanded;		 /* a stack VMA grew to cover the address */
	bool changed;		 /* the fault changed the space: it mapped a
				    page, gave one a page of its own, gave
				    the VMA an anon_vma or grew a stack
				    (set even with -ENOMEM or a SEGV: a
				    refused growth keeps its anon_vma) */
	struct vas_vma_info vma; /* the VMA, when status is VAS_FAULT_OK */
};

struct vas_stats {
	uint64_t nr_vmas;
	uint64_t mapped_bytes;	/* sum of VMA sizes */
	uint64_t rss_pages;	/* resident pages */
	uint64_t faults;	/* vas_fault() calls */
	uint64_t fault_retries; /* walks restarted from the root */
	uint64_t expansions;	/* stack expansions by faults */
	uint64_t segv_maperr;
	uint64_t segv_accerr;
	uint64_t mutations;   /* committed mutating operations */
	uint64_t maps_rcu;    /* vas_maps() listings read under RCU alone */
	uint64_t maps_locked; /* vas_maps() listings that took the lock */
	uint64_t brk;	      /* current program break */
	uint64_t start_brk;   /* where the heap begins (brk's floor) */
	uint64_t locked_vm;   /* mm->locked_vm: pages counted as locked */
	struct vt_stats tree; /* the VMA tree */
	uint64_t bytes;	      /* memory of the space: tree, VMAs, pages */
};

/* The arguments of vas_mmap_ex(). */
struct vas_mmap_args {
	uint64_t addr; /* hint, or the address with VAS_MAP_FIXED */
	uint64_t length;
	uint64_t offset;  /* byte offset in the file */
	unsigned prot;	  /* VAS_PROT_* */
	unsigned flags;	  /* VAS_MAP_* */
	const char *file; /* simulated file, NULL/"" for anonymous */
	/*
	 * Whether the file's filesystem places mappings with
	 * thp_get_unmapped_area() (ext4, xfs, ...): -1 keeps what the file
	 * was given before (a new file: yes), 0 no, 1 yes. The file keeps
	 * the value for later placements while it stays mapped.
	 */
	int thp_align;
};

struct vas;

/**
 * vas_layout_default() - Fill @layout with the Linux defaults above
 * (no initial stack).
 * Context: Any context.
 */
VMA_API void vas_layout_default(struct vas_layout *layout);

/**
 * vas_new() - Create an address space.
 * @layout: its layout (NULL for the defaults).
 * Context: Any context (registered RCU thread).
 * Return: 0 and *@out; -EINVAL for an inconsistent layout (unaligned,
 *         mmap_base above task_size, ...); -ENOMEM.
 */
VMA_API int vas_new(const struct vas_layout *layout,
		    struct vas **out) VMA_MUST_CHECK;

/* What an imported VMA is (struct vas_import_area.kind). */
enum vas_import_kind {
	VAS_IMPORT_ANON,    /* anonymous memory ([heap], [stack], ...) */
	VAS_IMPORT_FILE,    /* a file mapping: @name is the file */
	VAS_IMPORT_SHMEM,   /* shared anonymous memory ("/dev/zero
			       (deleted)"): areas of one @inode share
			       one shmem file */
	VAS_IMPORT_SPECIAL, /* a special mapping ([vdso], [uprobes], ...):
			       VM_DONTEXPAND, may not be split */
	VAS_IMPORT_SPECIAL_PFNMAP, /* the same with VM_PFNMAP | VM_IO and
				      only VM_MAYREAD ([vvar]) */
	VAS_IMPORT_GATE, /* the gate area above task_size ([vsyscall]) */
};

/**
 * struct vas_import_area - One VMA exactly as a real process has it
 * (one line of /proc/PID/maps, plus what smaps adds).
 * @start, @end: page-aligned, half-open.
 * @offset: file offset in bytes (VAS_IMPORT_FILE and _SHMEM), page-aligned.
 * @prot: VAS_PROT_*.
 * @flags: VAS_VM_SHARED, _GROWSDOWN, _GROWSUP, _NORESERVE, _ACCOUNT and
 *         the flags of madvise, mlock and mseal (_LOCKED, _LOCKONFAULT,
 *         _DONTCOPY, _WIPEONFORK, _DONTDUMP, _HUGEPAGE, _NOHUGEPAGE,
 *         _SEQ_READ, _RAND_READ, _MERGEABLE, _SEALED, _MAYBE_GUARD); the
 *         caller decides them (smaps VmFlags, or what Linux sets by
 *         default). Combinations Linux never makes are refused: LOCKONFAULT
 *         without LOCKED, HUGEPAGE with NOHUGEPAGE, SEQ_READ with
 *         RAND_READ, WIPEONFORK on anything but private anonymous memory,
 *         LOCKED on a special mapping (mlock_fixup() skips VM_SPECIAL).
 * @kind: enum vas_import_kind.
 * @name: the file (FILE), the special mapping's name (SPECIAL*, GATE);
 *        ignored otherwise.
 * @inode: SHMEM: which shmem file (areas with equal inodes share one).
 * @anon_pages: pages of anonymous memory (smaps Anonymous); non-zero
 *              gives a private VMA an anon_vma (as does VM_MAYBE_GUARD on
 *              private anonymous memory: madvise_guard_install() prepares
 *              one).
 * @anon_name: the anonymous VMA name (the NAME of "[anon:NAME]" or
 *             "[anon_shmem:NAME]"), or NULL; ANON and SHMEM only, and
 *             valid as vas_anon_name_valid() says.
 */
struct vas_import_area {
	uint64_t start, end, offset;
	unsigned prot;
	unsigned flags;
	enum vas_import_kind kind;
	const char *name;
	uint64_t inode;
	uint64_t anon_pages;
	const char *anon_name;
};

/**
 * struct vas_import_guard - Pages holding guard markers in an imported
 * layout (what MADV_GUARD_INSTALL leaves, /proc/PID/pagemap's
 * PM_GUARD_REGION): [@start, @end), page-aligned, non-empty.
 */
struct vas_import_guard {
	uint64_t start, end;
};

/**
 * struct vas_import - A whole layout for vas_import().
 * @areas, @nr: the VMAs in address order (the gate, if any, last).
 * @brk: mm->brk (start_brk is @layout->brk_base); below start_brk is
 *       refused.
 * @start_stack: mm->start_stack, an address inside the initial stack (0:
 *               none, no VMA is named [stack]).
 * @guards, @nr_guards: guard marker ranges in address order, disjoint
 *                      (they may touch), each wholly inside VMAs that
 *                      madvise_guard_install() accepts (is_valid_guard_vma():
 *                      not VM_LOCKED, not a special mapping, not the gate);
 *                      may be NULL and 0.
 */
struct vas_import {
	const struct vas_import_area *areas;
	size_t nr;
	uint64_t brk;
	uint64_t start_stack;
	const struct vas_import_guard *guards;
	size_t nr_guards;
};

/**
 * vas_import() - Create *@out holding exactly the VMAs of @imp: nothing is
 * merged that is given apart, nothing is placed. A private VMA with
 * anonymous pages gets an anon_vma, shared with its predecessor where
 * Linux's find_mergeable_anon_vma() would have shared it (adjacent,
 * anon_vma_compatible(), and the predecessor has one); resident pages are
 * not imported (rss_pages starts at 0). Special mappings behave as
 * _install_special_mapping() makes them: never merged, never split
 * (-EINVAL), never grown by mremap (-EFAULT); the gate is shown by
 * vas_maps() but is not in the tree (lookups and faults do not find it;
 * munmap and mprotect see an address beyond task_size), as get_gate_vma().
 * @layout: task size, mmap_base, brk_base (start_brk), ...; layout->stack
 *          must be false.
 * @bad: on -EINVAL, the index of the first area at fault (or @imp->nr
 *       for a layout or brk problem, or @imp->nr + 1 + j for guard range
 *       j); may be NULL.
 * Guard ranges are installed as MADV_GUARD_INSTALL installs them: the
 * markers, VM_MAYBE_GUARD on each VMA they touch, and an anon_vma for a
 * private anonymous one.
 * VM_LOCKED areas count into locked_vm as mlock() counts them
 * (mlock_fixup()), whatever RLIMIT_MEMLOCK says (a process with
 * CAP_IPC_LOCK may hold more); named areas carry their anon_vma_name.
 * Context: Any context (registered RCU thread).
 * Return: 0 and *@out; -EINVAL for areas unaligned, empty, unsorted,
 *         overlapping, outside [mmap_min_addr, task_size) (but for one
 *         gate above it), more than max_map_count, growsdown/up on a file
 *         or shared VMA, flags or an anonymous name the area cannot have
 *         (see struct vas_import_area; a name on a layout with
 *         no_anon_vma_name), an inconsistent layout, or guard ranges
 *         unaligned, empty, unsorted, overlapping or not wholly inside
 *         VMAs that can hold them; -ENOMEM (nothing created).
 */
VMA_API int vas_import(const struct vas_layout *layout,
		       const struct vas_import *imp, struct vas **out,
		       size_t *bad) VMA_MUST_CHECK;

/**
 * vas_free() - Destroy a space and every VMA (waits for RCU readers).
 * Context: Init only: no other thread may use @vas any more.
 */
VMA_API void vas_free(struct vas *vas);

/**
 * vas_fork() - Create *@out as a copy of every VMA of @vas, as fork(2):
 * same ranges, properties and resident pages (private pages are copied,
 * shared stay shared in the model's bookkeeping).
 * Context: Takes @vas->write_lock (held for the copy, as fork holds
 *          mmap_lock).
 * Return: 0; -ENOMEM (nothing created).
 */
VMA_API int vas_fork(struct vas *vas, struct vas **out) VMA_MUST_CHECK;

/**
 * vas_mmap() - mmap(2).
 * @addr: hint, or the exact address with VAS_MAP_FIXED(_NOREPLACE).
 * @file: simulated file name, or NULL/"" for an anonymous mapping.
 * @offset: byte offset in the file (page-aligned).
 * @out: the mapped address.
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL, -ENOMEM, -EEXIST, -EPERM, -EOVERFLOW, ... as Linux.
 */
VMA_API int vas_mmap(struct vas *vas, uint64_t addr, uint64_t length,
		     unsigned prot, unsigned flags, const char *file,
		     uint64_t offset, uint64_t *out) VMA_MUST_CHECK;

/**
 * vas_mmap_ex() - mmap(2) with the file attributes of struct vas_mmap_args.
 * Context: Takes vas->write_lock.
 * Return: as vas_mmap(); -EAGAIN (RLIMIT_MEMLOCK), -EOPNOTSUPP
 *         (MAP_SHARED_VALIDATE with a flag it does not allow).
 */
VMA_API int vas_mmap_ex(struct vas *vas, const struct vas_mmap_args *args,
			uint64_t *out) VMA_MUST_CHECK;

/**
 * vas_madvise() - madvise(2) with advice @advice (VAS_MADV_*, or any
 * number: Linux's answer to one it does not know is -EINVAL).
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL, -ENOMEM (a hole in the range, after advising the
 *         VMAs around it), -EAGAIN (a split beyond max_map_count), -EPERM
 *         (sealed, or MADV_HWPOISON), -EACCES, -EBADF, as Linux;
 *         MADV_POPULATE_READ/WRITE fault the range in and stop at the
 *         first error, keeping the pages populated before it: -ENOMEM (an
 *         unmapped address), -EINVAL (a VMA without the permission, or
 *         [vvar]), -EFAULT (a guard marker);
 *         -ENOSYS for advice Linux knows but the model does not
 *         (MADV_PAGEOUT, MADV_COLLAPSE).
 */
VMA_API int vas_madvise(struct vas *vas, uint64_t addr, uint64_t length,
			int advice) VMA_MUST_CHECK;

/**
 * vas_mlock() - mlock2(2) (@flags 0 is mlock(2)): VM_LOCKED, with
 * VAS_MLOCK_ONFAULT VM_LOCKONFAULT; populates the range as Linux does.
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL, -ENOMEM, -EPERM, -EAGAIN as Linux.
 */
VMA_API int vas_mlock(struct vas *vas, uint64_t addr, uint64_t length,
		      unsigned flags) VMA_MUST_CHECK;

/**
 * vas_munlock() - munlock(2).
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL, -ENOMEM as Linux.
 */
VMA_API int vas_munlock(struct vas *vas, uint64_t addr,
			uint64_t length) VMA_MUST_CHECK;

/**
 * vas_mlockall() - mlockall(2) with VAS_MCL_* @flags.
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL, -EPERM, -ENOMEM as Linux.
 */
VMA_API int vas_mlockall(struct vas *vas, unsigned flags) VMA_MUST_CHECK;

/**
 * vas_munlockall() - munlockall(2).
 * Context: Takes vas->write_lock.
 * Return: 0; -ENOMEM (allocation).
 */
VMA_API int vas_munlockall(struct vas *vas) VMA_MUST_CHECK;

/**
 * vas_mseal() - mseal(2): seal every VMA of the range.
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL, -ENOMEM as Linux.
 */
VMA_API int vas_mseal(struct vas *vas, uint64_t addr, uint64_t length,
		      uint64_t flags) VMA_MUST_CHECK;

/**
 * vas_set_anon_name() - prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, @addr,
 * @length, @name): name the anonymous VMAs of the range, or clear their
 * names (@name NULL).
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL (a bad name or range), -EBADF (a file VMA),
 *         -ENOMEM (a hole), -EAGAIN as Linux.
 */
VMA_API int vas_set_anon_name(struct vas *vas, uint64_t addr, uint64_t length,
			      const char *name) VMA_MUST_CHECK;

/**
 * vas_anon_name_valid() - May @name be an anonymous VMA name
 * (prctl_set_vma()): at most VAS_ANON_NAME_MAX bytes, each printable ASCII
 * but none of \ ` $ [ ] (is_valid_name_char())? vas_set_anon_name() and
 * vas_import() refuse other names with -EINVAL.
 * Context: Any context.
 */
VMA_API bool vas_anon_name_valid(const char *name);

/**
 * vas_format_vmflags() - The "VmFlags:" field of /proc/PID/smaps for
 * @info: the two-letter codes of show_smap_vma_flags(), each followed by
 * a space, in the kernel's order.
 * Context: Any context.
 * Return: the length written (as snprintf).
 */
VMA_API int vas_format_vmflags(const struct vas_vma_info *info, char *buf,
			       size_t len);

/**
 * vas_munmap() - munmap(2).
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL; -ENOMEM (a split would exceed max_map_count).
 */
VMA_API int vas_munmap(struct vas *vas, uint64_t addr,
		       uint64_t length) VMA_MUST_CHECK;

/**
 * vas_mprotect() - mprotect(2).
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL; -ENOMEM (unmapped hole, or too many VMAs); -EACCES.
 */
VMA_API int vas_mprotect(struct vas *vas, uint64_t addr, uint64_t length,
			 unsigned prot) VMA_MUST_CHECK;

/**
 * vas_mremap() - mremap(2).
 * @flags: VAS_MREMAP_*.
 * @new_addr: with VAS_MREMAP_FIXED, the destination.
 * @out: the (possibly new) address of the mapping.
 * Context: Takes vas->write_lock.
 * Return: 0; -EINVAL, -ENOMEM, -EFAULT, ... as Linux.
 */
VMA_API int vas_mremap(struct vas *vas, uint64_t old_addr, uint64_t old_length,
		       uint64_t new_length, unsigned flags, uint64_t new_addr,
		       uint64_t *out) VMA_MUST_CHECK;

/**
 * vas_brk() - brk(2): move the program break to @addr (0 or any value the
 * kernel refuses leaves it unchanged).
 * @out: the program break after the call (as the syscall returns it).
 * Context: Takes vas->write_lock.
 * Return: 0 (brk reports a refusal by returning the old break, as Linux);
 *         -ENOMEM only if the simulator could not allocate (space and
 *         break unchanged, *@out the old break).
 */
VMA_API int vas_brk(struct vas *vas, uint64_t addr,
		    uint64_t *out) VMA_MUST_CHECK;

/**
 * vas_fault() - A page fault at @addr for @access: the page-fault path of
 * lock_vma_under_rcu(). Populates the page on success and grows a stack
 * when Linux would.
 * Context: RCU reader; takes vas->write_lock only to grow a stack.
 * Return: 0 with *@res filled (a SEGV is a result, not an error);
 *         -ENOMEM if a stack expansion could not allocate.
 */
VMA_API int vas_fault(struct vas *vas, uint64_t addr, enum vas_access access,
		      struct vas_fault_result *res) VMA_MUST_CHECK;

/**
 * vas_lookup() - Copy the VMA containing @addr into *@info.
 * Context: RCU reader.
 * Return: true if a VMA contains @addr.
 */
VMA_API bool vas_lookup(struct vas *vas, uint64_t addr,
			struct vas_vma_info *info);

/**
 * vas_maps() - Snapshot every VMA in address order.
 * @out: new array of *@nr entries (free with vma_free()); NULL if empty.
 *
 * The snapshot is one state of the space: every VMA present throughout
 * the call appears exactly once, a VMA moved (mremap) during it appears
 * once, at its old or its new place, and no range appears that was
 * unmapped throughout. It reads without the writer lock, as an RCU reader
 * that validates against the tree's commit count (vt_read_begin()) and
 * reads again if a mutation committed meanwhile; after VAS_MAPS_TRIES
 * failed attempts it takes the lock (as /proc/PID/maps under mmap_lock).
 * rss_pages and the anon_vma flag of each VMA are read at some instant of
 * the call.
 * Context: RCU reader; may take vas->write_lock (not while holding it).
 * Return: 0; -ENOMEM.
 */
VMA_API int vas_maps(struct vas *vas, struct vas_vma_info **out,
		     size_t *nr) VMA_MUST_CHECK;

/**
 * vas_vma_dev() - The device numbers /proc/PID/maps shows for @info: those
 * of the simulated file system for a file, 00:01 for the shmem file of a
 * shared anonymous mapping, 00:00 otherwise.
 * Context: Any context.
 */
VMA_API void vas_vma_dev(const struct vas_vma_info *info, unsigned *major,
			 unsigned *minor);

/**
 * vas_format_maps_line() - Format one /proc/PID/maps line for @info into
 * @buf, byte for byte as the kernel prints it, with the final newline.
 * Context: Any context.
 * Return: the length the line needs (as snprintf).
 */
VMA_API int vas_format_maps_line(const struct vas_vma_info *info, char *buf,
				 size_t len);

/**
 * vas_stats() - Fill @st with the space's counters and sizes.
 * Context: RCU reader.
 */
VMA_API void vas_stats(struct vas *vas, struct vas_stats *st);

/**
 * vas_layout() - Copy the layout the space was created with.
 * Context: Any context.
 */
VMA_API void vas_get_layout(const struct vas *vas, struct vas_layout *layout);

/**
 * vas_validate() - Check every invariant of the space and its tree
 * (VMAs sorted, non-overlapping, page-aligned, within task_size, no two
 * adjacent VMAs that Linux would have merged, counts, resident pages).
 * @msg: receives the first violation (may be NULL).
 * Context: Takes vas->write_lock.
 * Return: 0 if valid, -EINVAL otherwise.
 */
VMA_API int vas_validate(struct vas *vas, char *msg, size_t len);

/**
 * vas_mutation_count() - How many mutating operations the space has
 * committed (the "mutations" of vas_stats(), read in one load): a caller
 * that holds every mutation of the space off meanwhile can tell whether a
 * call changed the VMAs by comparing it before and after.
 * Context: Any context.
 */
VMA_API uint64_t vas_mutation_count(const struct vas *vas);

/* ---- Snapshots (vas_snap.c) ------------------------------------------- */

/* The format vas_snapshot() writes and the only one vas_restore() reads. */
#define VAS_SNAP_VERSION 1

/**
 * vas_snapshot() - Encode the complete state of @vas: the layout, the
 * break, every VMA with every property (flags, file identity and offset,
 * anon_vma identity, resident pages), the id counters and the counters of
 * vas_stats() (not the tree figures or memory sizes, which depend on how
 * the space was built). The format is described in vas_snap.c.
 * @out: new buffer of *@len bytes (free with vma_free()).
 * Context: Takes vas->write_lock; faults wait for the copy, as for
 *          vas_fork().
 * Return: 0; -ENOMEM; -EINVAL if a VMA holds a flag the format cannot
 *         express (a libvma bug).
 */
VMA_API int vas_snapshot(struct vas *vas, void **out,
			 size_t *len) VMA_MUST_CHECK;

/**
 * vas_restore() - Create *@out from a snapshot made by vas_snapshot():
 * every later answer of the new space equals the original's. The input
 * may come from anywhere: it is checked completely (lengths, indexes,
 * ranges, flag combinations, counters, then vas_validate()).
 * @msg: receives what is wrong and at which byte, when refused.
 * Context: Any context (registered RCU thread).
 * Return: 0; -EINVAL (malformed, truncated, another version, or an
 *         inconsistent state: @msg says which); -ENOMEM.
 */
VMA_API int vas_restore(const void *buf, size_t len, struct vas **out,
			char *msg, size_t msglen) VMA_MUST_CHECK;

#ifdef VMAD_TEST_HOOKS
/*
 * Test pause point: if set, called by every mutation after it has marked
 * the VMAs it will change or detach and before it commits. Lets stress
 * tests hold a writer in the race window deterministically.
 */
VMA_API extern void (*vas_test_before_commit)(struct vas *vas);
/*
 * Test pause point: if set, called by vas_fault() while it holds a VMA's
 * read lock (after checking the VMA, before populating the page). Lets
 * stress tests widen the window in which a writer must wait for faults.
 */
VMA_API extern void (*vas_test_fault_held)(struct vas *vas, uint64_t addr);
#endif

#ifdef __cplusplus
}
#endif

#endif /* VMA_VAS_H */
