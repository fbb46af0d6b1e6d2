// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Differential test of the simulated address space against the kernel
 *
 * Every operation sequence runs twice: with real syscalls in a fresh child
 * process (fork per sequence, so its window starts empty), and on a fresh
 * simulated space (struct vas) in this process. After every step the test
 * compares the return value and errno of the call, the outcome of a fault
 * (ok, SEGV_MAPERR, SEGV_ACCERR), the value brk() returns, and the VMAs of
 * /proc/self/smaps of the child that fall in the window with the
 * simulator's vas_maps(): start, end, perms, offset, name (file path,
 * [heap]) and Rss against rss_pages; device and inode are not compared.
 * Operations: mmap, munmap, mprotect, mremap, faults, brk and fork (the
 * child forks and the sequence goes on in the new child, against the
 * space vas_fork() made).
 *
 * brk: the child moves start_brk and brk into the arena (W + BRK_START)
 * with prctl(PR_SET_MM_MAP), so its heap meets the other mappings; the
 * simulator's brk_base is the same. Where the prctl is refused, brk is not
 * compared and the test says so.
 *
 * Rss: exact for private anonymous VMAs. File pages (shmem included) may
 * also be mapped by fault-around from a page cache that other mappings
 * filled; the simulator has no page cache, so there the kernel's Rss must
 * be at least the simulator's, and equal in the hand-written cases when
 * the files are on tmpfs (no readahead; the files are truncated before
 * every sequence). The test files go to /dev/shm when TMPDIR is not set.
 * A SIGBUS past the end of a shmem object (see above) maps nothing, where
 * the simulator counts the page: after one, a sequence no longer compares
 * the Rss of shared VMAs (counted in the summary).
 * The child turns THP off (PR_SET_THP_DISABLE), so faults map base pages
 * whatever transparent_hugepage/enabled says.
 *
 * The window: a fixed high range (64 MiB, by default at 0x500000000000,
 * clear of the ASan allocator at 0x600000000000). Nothing in it is ever
 * reserved. Every mapping the child creates in it uses MAP_FIXED_NOREPLACE,
 * MAP_FIXED over addresses the window already owns, or a hint inside the
 * window. When the kernel does not honour a hint (or mremap moves a
 * mapping with MREMAP_MAYMOVE alone), the mapping lands outside the
 * window: the child unmaps it at once and reports "outside"; the
 * simulator does the same with its own placement, so both sides compare
 * equal exactly when both refused (or both honoured) the hint.
 *
 *	window  [W ........................................ W + 64 MiB)
 *	arena   [W ........ W + 8 MiB)   random operations stay in here
 *
 * Faults are real memory accesses in the child, with SIGSEGV caught
 * (sigsetjmp/siglongjmp) and si_code recorded. Exec faults jump into the
 * page with %rax = 0: the pages of the window only ever contain zero
 * bytes (writes store 0, files are sparse), which decode as
 * "add %al,(%rax)". If the instruction fetch faults, the page-fault error
 * code has the instruction-fetch bit and si_addr is the target: the exec
 * fault failed with si_code. Otherwise the fetch succeeded and the first
 * instruction faults on address 0: the exec fault succeeded.
 *
 * SIGBUS: the simulator has no file sizes, so it cannot model an access
 * past the end of the object behind a shared mapping. Real files are
 * made larger than anything the test maps, but a shared anonymous
 * mapping grown by mremap() has pages past the end of its shmem object:
 * the kernel raises SIGBUS (BUS_ADRERR) there. Such a fault compares
 * equal to a successful simulated fault and is counted ("sigbus"). x86
 * checks VM_EXEC only once the page is present: an instruction fetch from
 * a readable, non-executable page that is not present first faults the
 * page in (and only the retried fetch gets SEGV_ACCERR), so there a
 * SIGBUS also compares equal to a simulated SEGV_ACCERR.
 *
 * File mappings use real sparse files (128 MiB each, larger than any
 * offset plus length the test uses, so no access hits SIGBUS) in a
 * temporary directory; the simulator gets the same path names.
 *
 * Growsdown stacks live in the window too; the guard gap is the kernel's
 * (stack_guard_gap= on /proc/cmdline, else 256 pages), and the child's
 * RLIMIT_STACK soft limit is set to the simulator's stack_rlimit.
 *
 * Special mappings (special_cases()): madvise on [vvar], [vvar_vclock]
 * and [vdso], moved whole into the window between two anonymous VMAs in
 * a fresh child per case, against a space imported with the same layout;
 * one page, all of each, and ranges across them and their neighbours.
 *
 * Platform: what depends on the machine is detected at start, printed,
 * and followed. The zero page (upstream maps it on a read fault of private
 * anonymous memory, so no anon_vma and no Rss; a kernel without it
 * allocates both, which changes merging): two adjacent read-faulted
 * mappings given equal protections, do they merge? The simulator then
 * runs with or without no_zero_page. x86's fetch rule (a fetch from a page
 * not present is a read; mincore() after the SIGSEGV), NX, and whether
 * PROT_EXEC alone is execute-only (protection keys): where the kernel does
 * not behave as the simulator models x86, the faults concerned are not run
 * ("skipped") and the hand-written cases that need it are listed as not
 * run.
 *
 * A mismatch prints the sequence shortened to its first failing step and
 * then delta-reduced (operations removed one at a time while a mismatch
 * remains), as a listing of calls with both sides' results and maps.
 *
 * Hand-written cases (merging, anon_vma, file offsets, splits, MAP_FIXED
 * over several VMAs, mremap, NOREPLACE, stacks and guard gaps) run through
 * the same engine and also assert an expected number of VMAs or errno, so
 * they check the test's premise against the kernel too. max_map_count is
 * tested on the simulator only, with a small limit, after measuring at
 * which count the real kernel refuses a new mapping (in a throwaway child
 * at its real limit), so the expected boundary is the kernel's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define PG		 4096ULL
#define WINDOW_SIZE	 (64ULL << 20)
#define ARENA_PAGES	 2048ULL
#define FILE_SIZE	 (128ULL << 20)
#define NR_FILES	 3
#define MAX_OPS		 512
#define MAPS_BUF	 (1u << 20)
#define SMAPS_BUF	 (16u << 20)
#define BRK_START	 (1536 * PG) /* the child's start_brk, in the arena */
#define TMPFS_MAGIC_NR	 0x01021994
#define MAX_LINES	 4096
#define REL_OUTSIDE	 (~0ULL) /* result address outside the window */
#define X86_PF_INSTR	 0x10
#define STACK_RLIMIT_SET (8ULL << 20)
#define MEMLOCK_SET	 (96 * PG) /* the child's RLIMIT_MEMLOCK */
#define PMD		 (2ULL << 20)

/* Linux 6.x constants that an older libc may not define. */
#ifndef SYS_mlock2
#define SYS_mlock2 325
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA	     0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#define CAP_IPC_LOCK_BIT 14

#if defined(__SANITIZE_ADDRESS__)
#define DIFF_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIFF_SANITIZER 1
#endif
#endif
#ifndef DIFF_SANITIZER
#define DIFF_SANITIZER 0
#endif
static const bool sanitizer_build = DIFF_SANITIZER;

/* Candidate windows, tried in order: the first with room around it. */
static const uint64_t window_candidates[] = {
	0x500000000000ULL,
	0x480000000000ULL,
	0x680000000000ULL,
	0x700000000000ULL,
};

enum op_kind {
	OP_MMAP,
	OP_MUNMAP,
	OP_MPROTECT,
	OP_MREMAP,
	OP_FAULT,
	OP_BRK,	       /* brk(W + addr), or brk(0) with flags 1 */
	OP_FORK,       /* fork: the sequence goes on in the child */
	OP_MADVISE,    /* madvise(addr, len, flags) */
	OP_MLOCK,      /* mlock2(addr, len, flags) */
	OP_MUNLOCK,    /* munlock(addr, len) */
	OP_MLOCKALL,   /* mlockall(flags) */
	OP_MUNLOCKALL, /* munlockall() */
	OP_MSEAL,      /* mseal(addr, len, flags) */
	OP_ANON_NAME,  /* prctl(PR_SET_VMA_ANON_NAME, addr, len, names[prot]) */
	OP_NR,
};

/* Names given by OP_ANON_NAME (index 0: NULL, clear the names). */
static const char *const anon_names[] = {NULL, "a", "b", "bad$name", "a b:c"};

/*
 * One operation. Addresses are relative to the window base; the window is
 * added when the operation runs, so listings read "W+0x3000".
 */
struct op {
	enum op_kind kind;
	uint64_t addr;	   /* mmap hint/address, munmap/mprotect/mremap start */
	uint64_t len;	   /* mmap/munmap/mprotect length, mremap old length */
	uint64_t new_len;  /* mremap */
	uint64_t new_addr; /* mremap with VAS_MREMAP_FIXED */
	unsigned prot;	   /* VAS_PROT_* */
	unsigned flags;	   /* VAS_MAP_* or VAS_MREMAP_* */
	int file;	   /* -1: anonymous, else index in test_files */
	uint64_t off;	   /* file offset */
	enum vas_access access;
};

/* What one side observed for one operation. */
struct outcome {
	int err;	  /* 0 or -errno */
	uint64_t addr;	  /* relative result of mmap/mremap, or REL_OUTSIDE */
	int fstatus;	  /* fault: 0 ok, 1 SIGSEGV, 2 anything else,
			   * 3 SIGBUS past the end of the backing object */
	int fcode;	  /* fault: VAS_SEGV_* */
	bool skipped;	  /* not run (platform divergence, see DOC) */
	bool expanded;	  /* simulator: the fault grew a stack */
	bool exec_read;	  /* simulator: a fetch mapped its page, then failed */
	char detail[128]; /* unexpected events */
};

/* A parsed /proc/PID/maps line, with the VMA's Rss in pages. */
struct mline {
	uint64_t start, end, off, rss;
	char perms[5];
	char name[VAS_FILE_MAX + 64];
	char vmflags[VAS_VMFLAGS_MAX]; /* the codes the simulator models */
};

struct maps {
	struct mline *l;
	int n;
};

/*
 * Child reply header, followed by maps_len bytes of window maps lines and
 * nr_rss Rss values (pages, uint64_t), one per line.
 */
struct kreply {
	struct outcome out;
	uint32_t maps_len;
	uint32_t nr_rss;
};

/*
 * What the running kernel does where Linux depends on the platform,
 * detected at start and printed; the comparison follows it.
 */
static struct {
	bool zero_page;	     /* read faults map the shared zero page */
	bool exec_maps_page; /* a fetch from a page not present maps it */
	bool nx;	     /* fetches from non-exec present pages fault */
	bool exec_only_unreadable; /* PROT_EXEC alone is execute-only (pkeys) */
	bool pkeys;		   /* pkey_alloc() works */
	bool thp_disabled;	   /* PR_SET_THP_DISABLE took in the child */
	char thp[32];		   /* transparent_hugepage/enabled */
	int brk_err;	  /* PR_SET_MM_MAP into the window: 0 or -errno */
	bool files_tmpfs; /* test files on tmpfs: no readahead */
	/* The system calls of issue 16, and how the kernel is built. */
	bool mseal;	    /* mseal() exists */
	bool guard;	    /* MADV_GUARD_INSTALL is known */
	bool populate;	    /* MADV_POPULATE_READ/WRITE are known (5.14+) */
	bool maybe_guard;   /* it sets VM_MAYBE_GUARD ("gu") */
	bool madv_hugepage; /* MADV_HUGEPAGE is known (THP built in) */
	bool ksm;	    /* MADV_MERGEABLE is known */
	bool anon_name;	    /* PR_SET_VMA_ANON_NAME works */
	bool map_stack_nh;  /* MAP_STACK sets VM_NOHUGEPAGE (6.7+) */
	bool memlock;	    /* RLIMIT_MEMLOCK binds the child */
	bool files_thp;	    /* the test files' fs aligns (thp_get_...) */
	int thp_file_cwd;   /* same for a file in the current directory:
			       1 yes, 0 no, -1 not probed */
} plat;

static uint64_t win;		 /* window base */
static uint64_t guard_gap_pages; /* the kernel's stack_guard_gap */
static uint64_t stack_rlimit;	 /* child's RLIMIT_STACK */
static char tmpdir[PATH_MAX];
static char test_files[NR_FILES][PATH_MAX];
static int test_fds[NR_FILES];
static bool verbose;
static pid_t main_pid;		 /* die() cleans up only in the parent */
static uint64_t first_seq;	 /* index of the first random sequence */
static bool no_mremap;		 /* leave mremap out of random sequences */
static uint64_t max_reports = 5; /* failing sequences printed in full */
static bool kernel_only;	 /* check the hand-written premises only */
static bool files_rss_exact;	 /* file VMAs' Rss must equal (hand cases) */
static bool seq_sigbus;		 /* this sequence had a SIGBUS (see rss_eq) */

/* Totals over the run, to show what the random sequences exercised. */
static struct {
	uint64_t ops[OP_NR];
	uint64_t errors, fault_ok, fault_maperr, fault_accerr, expansions;
	uint64_t outside, skipped, max_vmas, sigbus;
	uint64_t rss_compared, rss_nonzero, rss_file_above, exec_as_read;
	uint64_t heap_lines, brk_moved, rss_after_sigbus;
	uint64_t vmflags_compared, vmflags_new; /* VMAs, with a new flag */
	uint64_t locked_lines, sealed_lines, guard_faults;
	uint64_t populate, populate_errors; /* MADV_POPULATE_* compared */
} tally;

static void reset_files(void);
static void child_signals(void);
static void filter_vmflags(const char *in, char *out, size_t len);

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("diff_kernel: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (getpid() == main_pid && tmpdir[0]) {
		for (int i = 0; i < NR_FILES; i++)
			if (test_files[i][0])
				unlink(test_files[i]);
		rmdir(tmpdir);
	}
	exit(2);
}

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? rng_next(s) % n : 0;
}

static bool chance(uint64_t *s, unsigned pct)
{
	return rnd(s, 100) < pct;
}

static int prot_to_sys(unsigned p)
{
	return ((p & VAS_PROT_READ) ? PROT_READ : 0) |
	       ((p & VAS_PROT_WRITE) ? PROT_WRITE : 0) |
	       ((p & VAS_PROT_EXEC) ? PROT_EXEC : 0);
}

static int mflags_to_sys(unsigned f)
{
	return ((f & VAS_MAP_PRIVATE) ? MAP_PRIVATE : 0) |
	       ((f & VAS_MAP_SHARED) ? MAP_SHARED : 0) |
	       ((f & VAS_MAP_ANONYMOUS) ? MAP_ANONYMOUS : 0) |
	       ((f & VAS_MAP_FIXED) ? MAP_FIXED : 0) |
	       ((f & VAS_MAP_FIXED_NOREPLACE) ? MAP_FIXED_NOREPLACE : 0) |
	       ((f & VAS_MAP_GROWSDOWN) ? MAP_GROWSDOWN : 0) |
	       ((f & VAS_MAP_POPULATE) ? MAP_POPULATE : 0) |
	       ((f & VAS_MAP_NORESERVE) ? MAP_NORESERVE : 0) |
	       ((f & VAS_MAP_STACK) ? MAP_STACK : 0) |
	       ((f & VAS_MAP_LOCKED) ? MAP_LOCKED : 0) |
	       ((f & VAS_MAP_DENYWRITE) ? MAP_DENYWRITE : 0) |
	       ((f & VAS_MAP_EXECUTABLE) ? MAP_EXECUTABLE : 0) |
	       ((f & VAS_MAP_NONBLOCK) ? MAP_NONBLOCK : 0);
}

static int rflags_to_sys(unsigned f)
{
	return ((f & VAS_MREMAP_MAYMOVE) ? MREMAP_MAYMOVE : 0) |
	       ((f & VAS_MREMAP_FIXED) ? MREMAP_FIXED : 0) |
	       ((f & VAS_MREMAP_DONTUNMAP) ? MREMAP_DONTUNMAP : 0);
}

static const char *prot_str(unsigned p, char *buf)
{
	buf[0] = (p & VAS_PROT_READ) ? 'r' : '-';
	buf[1] = (p & VAS_PROT_WRITE) ? 'w' : '-';
	buf[2] = (p & VAS_PROT_EXEC) ? 'x' : '-';
	buf[3] = 0;
	return buf;
}

static void mflags_str(unsigned f, char *buf, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{VAS_MAP_PRIVATE, "PRIVATE"},
		{VAS_MAP_SHARED, "SHARED"},
		{VAS_MAP_ANONYMOUS, "ANONYMOUS"},
		{VAS_MAP_FIXED, "FIXED"},
		{VAS_MAP_FIXED_NOREPLACE, "FIXED_NOREPLACE"},
		{VAS_MAP_GROWSDOWN, "GROWSDOWN"},
		{VAS_MAP_POPULATE, "POPULATE"},
		{VAS_MAP_NORESERVE, "NORESERVE"},
		{VAS_MAP_STACK, "STACK"},
		{VAS_MAP_LOCKED, "LOCKED"},
		{VAS_MAP_DENYWRITE, "DENYWRITE"},
		{VAS_MAP_EXECUTABLE, "EXECUTABLE"},
		{VAS_MAP_NONBLOCK, "NONBLOCK"},
	};
	size_t used = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(f & names[i].bit))
			continue;
		used += snprintf(buf + used, len - used, "%s%s",
				 used ? "|" : "", names[i].name);
		if (used >= len)
			break;
	}
	if (!used)
		snprintf(buf, len, "0");
}

static void rflags_str(unsigned f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s",
		 (f & VAS_MREMAP_MAYMOVE) ? "MAYMOVE" : "",
		 (f & VAS_MREMAP_FIXED) ? "|FIXED" : "",
		 (f & VAS_MREMAP_DONTUNMAP) ? "|DONTUNMAP" : "", f ? "" : "0");
}

static const char *access_str(enum vas_access a)
{
	return a == VAS_ACCESS_READ    ? "read"
	       : a == VAS_ACCESS_WRITE ? "write"
				       : "exec";
}

static void op_str(const struct op *op, char *buf, size_t len)
{
	char p[4], f[128];

	switch (op->kind) {
	case OP_MMAP:
		mflags_str(op->flags, f, sizeof(f));
		snprintf(buf, len,
			 "mmap(W+%#" PRIx64 ", %#" PRIx64
			 ", %s, %s, %s, %#" PRIx64 ")",
			 op->addr, op->len, prot_str(op->prot, p), f,
			 op->file < 0 ? "-"
				      : strrchr(test_files[op->file], '/') + 1,
			 op->off);
		break;
	case OP_MUNMAP:
		snprintf(buf, len, "munmap(W+%#" PRIx64 ", %#" PRIx64 ")",
			 op->addr, op->len);
		break;
	case OP_MPROTECT:
		snprintf(buf, len, "mprotect(W+%#" PRIx64 ", %#" PRIx64 ", %s)",
			 op->addr, op->len, prot_str(op->prot, p));
		break;
	case OP_MREMAP:
		rflags_str(op->flags, f, sizeof(f));
		snprintf(buf, len,
			 "mremap(W+%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64
			 ", %s, W+%#" PRIx64 ")",
			 op->addr, op->len, op->new_len, f, op->new_addr);
		break;
	case OP_FAULT:
		snprintf(buf, len, "fault(W+%#" PRIx64 ", %s)", op->addr,
			 access_str(op->access));
		break;
	case OP_BRK:
		if (op->flags)
			snprintf(buf, len, "brk(0)");
		else
			snprintf(buf, len, "brk(W+%#" PRIx64 ")", op->addr);
		break;
	case OP_FORK:
		snprintf(buf, len, "fork() (continue in the child)");
		break;
	case OP_MADVISE:
		snprintf(buf, len, "madvise(W+%#" PRIx64 ", %#" PRIx64 ", %u)",
			 op->addr, op->len, op->flags);
		break;
	case OP_MLOCK:
		snprintf(buf, len, "mlock2(W+%#" PRIx64 ", %#" PRIx64 ", %u)",
			 op->addr, op->len, op->flags);
		break;
	case OP_MUNLOCK:
		snprintf(buf, len, "munlock(W+%#" PRIx64 ", %#" PRIx64 ")",
			 op->addr, op->len);
		break;
	case OP_MLOCKALL:
		snprintf(buf, len, "mlockall(%u)", op->flags);
		break;
	case OP_MUNLOCKALL:
		snprintf(buf, len, "munlockall()");
		break;
	case OP_MSEAL:
		snprintf(buf, len, "mseal(W+%#" PRIx64 ", %#" PRIx64 ", %u)",
			 op->addr, op->len, op->flags);
		break;
	case OP_ANON_NAME:
		snprintf(buf, len,
			 "prctl(PR_SET_VMA_ANON_NAME, W+%#" PRIx64 ", %#" PRIx64
			 ", \"%s\")",
			 op->addr, op->len,
			 anon_names[op->prot] ? anon_names[op->prot]
					      : "(null)");
		break;
	case OP_NR:
		break;
	}
}

static void outcome_str(const struct op *op, const struct outcome *o, char *buf,
			size_t len)
{
	if (o->skipped) {
		snprintf(buf, len, "skipped");
	} else if (op->kind == OP_FAULT) {
		if (o->err)
			snprintf(buf, len, "error %s", vma_errno_name(o->err));
		else if (o->fstatus == 0)
			snprintf(buf, len, "ok");
		else if (o->fstatus == 3)
			snprintf(buf, len, "SIGBUS past the object's end");
		else if (o->fstatus == 1)
			snprintf(buf, len, "SIGSEGV %s",
				 o->fcode == VAS_SEGV_MAPERR   ? "SEGV_MAPERR"
				 : o->fcode == VAS_SEGV_ACCERR ? "SEGV_ACCERR"
							       : "other code");
		else
			snprintf(buf, len, "unexpected: %.100s", o->detail);
	} else if (o->err) {
		snprintf(buf, len, "-1 %s", vma_errno_name(o->err));
	} else if (op->kind == OP_BRK) {
		snprintf(buf, len, "W+%#" PRIx64, o->addr);
	} else if (op->kind == OP_MMAP || op->kind == OP_MREMAP) {
		if (o->addr == REL_OUTSIDE)
			snprintf(buf, len, "(outside the window)");
		else
			snprintf(buf, len, "W+%#" PRIx64, o->addr);
	} else {
		snprintf(buf, len, "0");
	}
}

/* ------------------------------------------------------------------ */
/* /proc/PID/maps lines                                                 */

/*
 * Parse one maps line (kernel's or vas_format_maps_line()'s). Returns
 * false if it is not a maps line.
 */
static bool parse_line(const char *s, struct mline *m)
{
	unsigned long long a, b, off;
	char perms[8];
	int n = 0;
	const char *name;
	size_t len;

	if (sscanf(s, "%llx-%llx %7s %llx %*s %*s%n", &a, &b, perms, &off,
		   &n) != 4 ||
	    !n)
		return false;
	m->start = a;
	m->end = b;
	m->off = off;
	perms[4] = 0;
	memcpy(m->perms, perms, sizeof(m->perms));
	name = s + n;
	while (*name == ' ')
		name++;
	len = strcspn(name, "\n");
	if (len >= sizeof(m->name))
		len = sizeof(m->name) - 1;
	memcpy(m->name, name, len);
	m->name[len] = 0;
	return true;
}

static bool in_window(uint64_t start, uint64_t end)
{
	return end > win && start < win + WINDOW_SIZE;
}

/* Parse the window's lines of a maps text into @m (appending). */
static void parse_maps_text(char *text, struct maps *m)
{
	char *line = text, *nl;

	while (line && *line) {
		struct mline ml;

		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (parse_line(line, &ml) && in_window(ml.start, ml.end)) {
			if (m->n >= MAX_LINES)
				die("too many maps lines");
			m->l[m->n++] = ml;
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* The simulator's window lines, through vas_format_maps_line(). */
static int sim_maps(struct vas *vas, struct maps *m)
{
	struct vas_vma_info *info = NULL;
	size_t nr = 0;
	int err;

	m->n = 0;
	err = vas_maps(vas, &info, &nr);
	if (err)
		return err;
	for (size_t i = 0; i < nr; i++) {
		char line[VAS_FILE_MAX + 256];
		struct mline ml;

		vas_format_maps_line(&info[i], line, sizeof(line));
		if (!parse_line(line, &ml)) {
			fprintf(stderr, "unparsable simulator line: %s\n",
				line);
			vma_free(info);
			return -EINVAL;
		}
		if (ml.start != info[i].start || ml.end != info[i].end) {
			fprintf(stderr,
				"simulator line disagrees with its VMA: %s",
				line);
			vma_free(info);
			return -EINVAL;
		}
		ml.rss = info[i].rss_pages;
		{
			char raw[VAS_VMFLAGS_MAX];

			vas_format_vmflags(&info[i], raw, sizeof(raw));
			filter_vmflags(raw, ml.vmflags, sizeof(ml.vmflags));
		}
		if (in_window(ml.start, ml.end) && m->n < MAX_LINES)
			m->l[m->n++] = ml;
	}
	vma_free(info);
	return 0;
}

static bool mline_eq(const struct mline *a, const struct mline *b)
{
	return a->start == b->start && a->end == b->end &&
	       !strcmp(a->perms, b->perms) && a->off == b->off &&
	       !strcmp(a->name, b->name) && !strcmp(a->vmflags, b->vmflags);
}

static bool maps_eq(const struct maps *a, const struct maps *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (!mline_eq(&a->l[i], &b->l[i]))
			return false;
	return true;
}

/*
 * Private anonymous memory (names empty, [heap], [stack]) has an exact
 * Rss. A file page (shmem too) may also be mapped by fault-around, from
 * the page cache that other mappings of the file filled, which the
 * simulator has no model of: there the kernel's Rss is at least the
 * simulator's, and equal only where the test knows the cache holds
 * nothing else (hand cases, files on tmpfs, see files_rss_exact).
 */
static bool rss_exact(const struct mline *l)
{
	return l->perms[3] == 'p' && (!l->name[0] || l->name[0] == '[');
}

/* Do the Rss values of two equal maps agree? Counts what it compared. */
static bool rss_eq(const struct maps *k, const struct maps *s, bool count)
{
	for (int i = 0; i < k->n; i++) {
		const struct mline *a = &k->l[i], *b = &s->l[i];

		/*
		 * A SIGBUS past the end of a shmem object mapped nothing; the
		 * simulator, which has no object sizes, counted the page.
		 */
		if (seq_sigbus && a->perms[3] == 's') {
			tally.rss_after_sigbus += count;
			continue;
		}
		if (count) {
			tally.rss_compared++;
			tally.rss_nonzero += a->rss != 0;
		}
		if (a->rss == b->rss)
			continue;
		if (rss_exact(a) || files_rss_exact || a->rss < b->rss)
			return false;
		if (count)
			tally.rss_file_above++;
	}
	return true;
}

static void print_maps(FILE *f, const char *who, const struct maps *m)
{
	fprintf(f, "    %s maps (%d lines in the window):\n", who, m->n);
	for (int i = 0; i < m->n; i++)
		fprintf(f,
			"      W+%08" PRIx64 "-W+%08" PRIx64 " %s %08" PRIx64
			" rss %-4" PRIu64 " %-28s %s\n",
			m->l[i].start - win, m->l[i].end - win, m->l[i].perms,
			m->l[i].off, m->l[i].rss, m->l[i].vmflags,
			m->l[i].name);
}

/* ------------------------------------------------------------------ */
/* The child: real syscalls                                             */

static sigjmp_buf child_jmp;
static volatile sig_atomic_t child_sig;
static volatile int child_code;
static volatile uintptr_t child_addr;
static volatile unsigned long child_pferr;
static char child_out[MAPS_BUF];

static void child_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	child_sig = sig;
	child_code = si->si_code;
	child_addr = (uintptr_t)si->si_addr;
	child_pferr = uc->uc_mcontext.gregs[REG_ERR];
	siglongjmp(child_jmp, 1);
}

static bool full_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static bool full_read(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

static char child_smaps[SMAPS_BUF];
static uint64_t child_rss[MAX_LINES];
static char child_vmf[MAX_LINES][VAS_VMFLAGS_MAX];

/*
 * Keep the VmFlags codes the simulator models, in the kernel's order,
 * each followed by a space (as vas_format_vmflags() writes them). "gu"
 * only where the kernel has VM_MAYBE_GUARD.
 */
static void filter_vmflags(const char *in, char *out, size_t len)
{
	static const char known[] = "rd wr ex sh mr mw me ms gd gu lo sr rr "
				    "dc lf ac nr wf dd hg nh mg sl ";
	size_t n = 0;

	while (*in) {
		while (*in == ' ')
			in++;
		if (!in[0] || !in[1])
			break;
		if ((in[2] == ' ' || !in[2]) && n + 4 < len) {
			char code[4] = {in[0], in[1], ' ', 0};

			if (strstr(known, code) &&
			    (plat.maybe_guard || strcmp(code, "gu "))) {
				memcpy(out + n, code, 3);
				n += 3;
			}
		}
		in += 2;
		while (*in && *in != ' ')
			in++;
	}
	out[n] = 0;
}

/* Read all of @path into @buf (NUL-terminated), or _exit(). */
static size_t child_read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		_exit(3);
	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(3);
		if (n == 0)
			break;
		len += n;
		if (len >= size - 1)
			_exit(4);
	}
	close(fd);
	buf[len] = 0;
	return len;
}

/*
 * Copy the window's lines of /proc/self/smaps (its VMA lines are the maps
 * lines) into child_out, and each one's Rss, in pages, into child_rss.
 * Return: the length of child_out; *@nr_rss the number of lines.
 */
static uint32_t child_window_smaps(uint32_t *nr_rss)
{
	size_t out = 0;
	char *line = child_smaps;
	bool in = false;
	uint32_t n = 0;

	child_read_file("/proc/self/smaps", child_smaps, sizeof(child_smaps));
	while (*line) {
		char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) + 1 : strlen(line);
		unsigned long long a, b, kb;
		int end = 0;

		if (sscanf(line, "%llx-%llx %n", &a, &b, &end) == 2 && end) {
			in = in_window(a, b);
			if (in) {
				if (n >= MAX_LINES)
					_exit(4);
				memcpy(child_out + out, line, ll);
				out += ll;
				child_vmf[n][0] = 0;
				child_rss[n++] = 0;
			}
		} else if (in && sscanf(line, "Rss: %llu kB", &kb) == 1) {
			child_rss[n - 1] = kb * 1024 / PG;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			char tmp[256];
			size_t tl = ll - 8 < sizeof(tmp) - 1 ? ll - 8
							     : sizeof(tmp) - 1;

			memcpy(tmp, line + 8, tl);
			tmp[tl] = 0;
			tmp[strcspn(tmp, "\n")] = 0;
			filter_vmflags(tmp, child_vmf[n - 1],
				       sizeof(child_vmf[0]));
		}
		line += ll;
	}
	child_out[out] = 0;
	*nr_rss = n;
	return (uint32_t)out;
}

/* The window's maps lines only (probes). */
static uint32_t child_window_maps(void)
{
	uint32_t nr;

	return child_window_smaps(&nr);
}

/* Run one fault for real. */
static void child_fault(const struct op *op, struct outcome *o)
{
	volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(win + op->addr);

	child_sig = 0;
	if (sigsetjmp(child_jmp, 1) == 0) {
		switch (op->access) {
		case VAS_ACCESS_READ:
			(void)*p;
			break;
		case VAS_ACCESS_WRITE:
			*p = 0;
			break;
		case VAS_ACCESS_EXEC:
			/*
			 * Zero bytes decode as add %al,(%rax): with %rax = 0
			 * the first instruction faults on address 0 unless
			 * the fetch itself faulted first.
			 */
			__asm__ volatile("xor %%eax, %%eax\n\t"
					 "call *%%rdx\n\t" ::"d"(p)
					 : "rax", "rcx", "rsi", "rdi", "r8",
					   "r9", "r10", "r11", "memory", "cc");
			o->fstatus = 2;
			snprintf(o->detail, sizeof(o->detail),
				 "exec returned normally");
			return;
		}
		o->fstatus = 0;
		return;
	}
	/* Came back from the signal handler. */
	if (child_sig == SIGBUS && child_code == BUS_ADRERR &&
	    child_addr == (uintptr_t)p) {
		o->fstatus = 3; /* past the end of the backing object */
		return;
	}
	if (child_sig != SIGSEGV) {
		o->fstatus = 2;
		snprintf(o->detail, sizeof(o->detail),
			 "signal %d code %d at %#lx", (int)child_sig,
			 child_code, (unsigned long)child_addr);
		return;
	}
	if (op->access == VAS_ACCESS_EXEC) {
		if (child_addr == 0 && !(child_pferr & X86_PF_INSTR)) {
			o->fstatus = 0; /* the fetch worked */
			return;
		}
		if (child_addr != (uintptr_t)p ||
		    !(child_pferr & X86_PF_INSTR)) {
			o->fstatus = 2;
			snprintf(o->detail, sizeof(o->detail),
				 "exec: SIGSEGV at %#lx err %#lx",
				 (unsigned long)child_addr, child_pferr);
			return;
		}
	} else if (child_addr != (uintptr_t)p) {
		o->fstatus = 2;
		snprintf(o->detail, sizeof(o->detail), "SIGSEGV at %#lx",
			 (unsigned long)child_addr);
		return;
	}
	o->fstatus = 1;
	o->fcode = child_code == SEGV_MAPERR   ? VAS_SEGV_MAPERR
		   : child_code == SEGV_ACCERR ? VAS_SEGV_ACCERR
					       : -1;
}

static uint64_t child_rel(void *p, uint64_t len)
{
	uint64_t a = (uintptr_t)p;

	if (a >= win && a + len <= win + WINDOW_SIZE)
		return a - win;
	munmap(p, len); /* placed outside the window: drop it */
	return REL_OUTSIDE;
}

/*
 * fork(): the new child goes on serving the sequence on the same pipes;
 * this process waits for it and exits with its status.
 */
static void child_fork(struct outcome *o)
{
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		o->err = -errno;
		return;
	}
	if (pid == 0)
		return;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 7);
}

/*
 * Move start_brk and brk to W + BRK_START with PR_SET_MM_MAP (no
 * capability needed; CONFIG_CHECKPOINT_RESTORE), keeping the other fields
 * from /proc/self/stat. start_data and end_data move there too, so that
 * brk()'s lower limit is start_brk with or without CONFIG_COMPAT_BRK.
 * Return: 0 or -errno.
 */
static int child_brk_into_window(void)
{
	struct prctl_mm_map map;
	unsigned long long v[52];
	char *p;
	int i;

	child_read_file("/proc/self/stat", child_smaps, sizeof(child_smaps));
	p = strrchr(child_smaps, ')'); /* after the command name */
	if (!p)
		return -EINVAL;
	p += 2;
	/* Field 3 is the state letter; fields 4..52 are numbers. */
	p = strchr(p, ' ');
	for (i = 4; p && i <= 51; i++) {
		v[i] = strtoull(p + 1, &p, 10);
		if (*p != ' ' && *p != '\n' && *p)
			return -EINVAL;
	}
	if (i <= 51)
		return -EINVAL;
	memset(&map, 0, sizeof(map));
	map.start_code = v[26];
	map.end_code = v[27];
	map.start_stack = v[28];
	map.start_data = win + BRK_START;
	map.end_data = win + BRK_START;
	map.start_brk = win + BRK_START;
	map.brk = win + BRK_START;
	map.arg_start = v[48];
	map.arg_end = v[49];
	map.env_start = v[50];
	map.env_end = v[51];
	map.exe_fd = (uint32_t)-1;
	if (prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&map, sizeof(map),
		  0))
		return -errno;
	return 0;
}

static void child_run_op(const struct op *op, struct outcome *o)
{
	void *r;

	memset(o, 0, sizeof(*o));
	switch (op->kind) {
	case OP_MMAP:
		r = mmap((void *)(uintptr_t)(win + op->addr), op->len,
			 prot_to_sys(op->prot), mflags_to_sys(op->flags),
			 op->file < 0 ? -1 : test_fds[op->file],
			 (off_t)op->off);
		if (r == MAP_FAILED)
			o->err = -errno;
		else
			o->addr = child_rel(r, (op->len + PG - 1) & ~(PG - 1));
		break;
	case OP_MUNMAP:
		if (munmap((void *)(uintptr_t)(win + op->addr), op->len))
			o->err = -errno;
		break;
	case OP_MPROTECT:
		if (mprotect((void *)(uintptr_t)(win + op->addr), op->len,
			     prot_to_sys(op->prot)))
			o->err = -errno;
		break;
	case OP_MREMAP:
		r = mremap((void *)(uintptr_t)(win + op->addr), op->len,
			   op->new_len, rflags_to_sys(op->flags),
			   (void *)(uintptr_t)(win + op->new_addr));
		if (r == MAP_FAILED)
			o->err = -errno;
		else
			o->addr = child_rel(r,
					    (op->new_len + PG - 1) & ~(PG - 1));
		break;
	case OP_FAULT:
		child_fault(op, o);
		break;
	case OP_BRK:
		o->addr = (uint64_t)syscall(SYS_brk,
					    op->flags ? 0 : win + op->addr) -
			  win;
		break;
	case OP_FORK:
		child_fork(o);
		break;
	case OP_MADVISE:
		if (madvise((void *)(uintptr_t)(win + op->addr), op->len,
			    (int)op->flags))
			o->err = -errno;
		break;
	case OP_MLOCK:
		if (syscall(SYS_mlock2, win + op->addr, op->len, op->flags))
			o->err = -errno;
		break;
	/*
	 * The raw system calls: AddressSanitizer's interceptors of mlock,
	 * munlock, mlockall and munlockall do nothing and return 0.
	 */
	case OP_MUNLOCK:
		if (syscall(SYS_munlock, win + op->addr, op->len))
			o->err = -errno;
		break;
	case OP_MLOCKALL:
		if (syscall(SYS_mlockall, op->flags))
			o->err = -errno;
		break;
	case OP_MUNLOCKALL:
		if (syscall(SYS_munlockall))
			o->err = -errno;
		break;
	case OP_MSEAL:
		if (syscall(SYS_mseal, win + op->addr, op->len, op->flags))
			o->err = -errno;
		break;
	case OP_ANON_NAME:
		if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, win + op->addr,
			  op->len, (unsigned long)anon_names[op->prot]))
			o->err = -errno;
		break;
	case OP_NR:
		break;
	}
}

/*
 * Drop CAP_IPC_LOCK (the test may run as root) so that RLIMIT_MEMLOCK
 * binds mlock() as it binds an ordinary process, and set that limit.
 * Return: 0 or -errno.
 */
static int child_memlock_limit(void)
{
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} data[2];
	struct rlimit rl = {MEMLOCK_SET, MEMLOCK_SET};

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[0].effective &= ~(1u << CAP_IPC_LOCK_BIT);
	data[0].permitted &= ~(1u << CAP_IPC_LOCK_BIT);
	data[0].inheritable &= ~(1u << CAP_IPC_LOCK_BIT);
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return -errno;
	return 0;
}

static void __attribute__((noreturn)) child_main(int rfd, int wfd)
{
	struct rlimit rl;
	struct op op;

	child_signals();
	getrlimit(RLIMIT_STACK, &rl);
	rl.rlim_cur = stack_rlimit;
	if (setrlimit(RLIMIT_STACK, &rl))
		_exit(5);
	/* Base pages only: THP would fault 512 pages (or an mTHP size). */
	if (plat.thp_disabled && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		_exit(5);
	if (!plat.brk_err && child_brk_into_window())
		_exit(5);
	if (plat.memlock && child_memlock_limit())
		_exit(5);
	while (full_read(rfd, &op, sizeof(op))) {
		struct kreply rep;

		child_run_op(&op, &rep.out);
		rep.maps_len = child_window_smaps(&rep.nr_rss);
		if (!full_write(wfd, &rep, sizeof(rep)) ||
		    !full_write(wfd, child_out, rep.maps_len) ||
		    !full_write(wfd, child_rss,
				rep.nr_rss * sizeof(child_rss[0])) ||
		    !full_write(wfd, child_vmf,
				rep.nr_rss * sizeof(child_vmf[0])))
			_exit(6);
	}
	_exit(0);
}

struct child {
	pid_t pid;
	int wfd, rfd;
};

static void child_start(struct child *c)
{
	int to[2], from[2];

	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0)
		die("fork: %s", strerror(errno));
	if (c->pid == 0) {
		close(to[1]);
		close(from[0]);
		child_main(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	c->wfd = to[1];
	c->rfd = from[0];
}

static void child_stop(struct child *c)
{
	int st;

	close(c->wfd);
	close(c->rfd);
	while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
		;
}

/* Run @op in the child; its window maps go to @m. */
static bool child_op(struct child *c, const struct op *op, struct outcome *o,
		     struct maps *m, char *text)
{
	static uint64_t rss[MAX_LINES];
	static char vmf[MAX_LINES][VAS_VMFLAGS_MAX];
	struct kreply rep;

	if (!full_write(c->wfd, op, sizeof(*op)) ||
	    !full_read(c->rfd, &rep, sizeof(rep)) || rep.maps_len >= MAPS_BUF ||
	    rep.nr_rss > MAX_LINES || !full_read(c->rfd, text, rep.maps_len) ||
	    !full_read(c->rfd, rss, rep.nr_rss * sizeof(rss[0])) ||
	    !full_read(c->rfd, vmf, rep.nr_rss * sizeof(vmf[0])))
		return false;
	text[rep.maps_len] = 0;
	*o = rep.out;
	m->n = 0;
	parse_maps_text(text, m);
	if ((uint32_t)m->n != rep.nr_rss)
		return false;
	for (int i = 0; i < m->n; i++) {
		m->l[i].rss = rss[i];
		memcpy(m->l[i].vmflags, vmf[i], sizeof(vmf[i]));
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* The simulator side                                                   */

static uint64_t sim_rel(struct vas *vas, uint64_t a, uint64_t len)
{
	if (a >= win && a + len <= win + WINDOW_SIZE)
		return a - win;
	/* Placed outside the window, as the kernel would: drop it. */
	if (vas_munmap(vas, a, len))
		fprintf(stderr,
			"simulator: munmap of an outside mapping failed\n");
	return REL_OUTSIDE;
}

/*
 * Is @op a fault whose outcome depends on a platform property the
 * simulator does not model here (see plat)? Such faults are not run.
 */
static bool platform_skips(struct vas *vas, const struct op *op)
{
	struct vas_vma_info info;

	/* A kernel without mseal() or guard regions: not run. */
	if (op->kind == OP_MSEAL && !plat.mseal)
		return true;
	/*
	 * Under AddressSanitizer, mlockall(MCL_FUTURE) would lock every
	 * shadow mapping the sanitizer makes later: not run there.
	 */
	if (op->kind == OP_MLOCKALL && sanitizer_build)
		return true;
	if (op->kind == OP_MADVISE && !plat.guard &&
	    (op->flags == VAS_MADV_GUARD_INSTALL ||
	     op->flags == VAS_MADV_GUARD_REMOVE))
		return true;
	/*
	 * MADV_POPULATE_*: not on a kernel without them; and not once a
	 * shared anonymous mapping has pages past its shmem object (see
	 * seq_sigbus): the kernel stops there with EFAULT (SIGBUS), the
	 * simulator, which has no object sizes, goes on.
	 */
	if (op->kind == OP_MADVISE &&
	    (op->flags == VAS_MADV_POPULATE_READ ||
	     op->flags == VAS_MADV_POPULATE_WRITE) &&
	    (!plat.populate || seq_sigbus))
		return true;
	if (op->kind != OP_FAULT || !vas_lookup(vas, win + op->addr, &info))
		return false;
	/* Without NX, or if a fetch never maps the page, exec differs. */
	if (op->access == VAS_ACCESS_EXEC && !(info.prot & VAS_PROT_EXEC) &&
	    info.prot && (!plat.nx || !plat.exec_maps_page))
		return true;
	/* pkeys make PROT_EXEC alone execute-only: reads fault. */
	return op->access != VAS_ACCESS_EXEC && plat.exec_only_unreadable &&
	       info.prot == VAS_PROT_EXEC;
}

/* Run @op on *@vasp; a fork replaces it by the child space. */
static void sim_run_op(struct vas **vasp, const struct op *op,
		       struct outcome *o)
{
	struct vas *vas = *vasp, *child;
	struct vas_fault_result fr;
	uint64_t out = 0;

	memset(o, 0, sizeof(*o));
	switch (op->kind) {
	case OP_MMAP: {
		struct vas_mmap_args a = {
			.addr = win + op->addr,
			.length = op->len,
			.offset = op->off,
			.prot = op->prot,
			.flags = op->flags,
			.file = op->file < 0 ? NULL : test_files[op->file],
			.thp_align = plat.files_thp,
		};

		o->err = vas_mmap_ex(vas, &a, &out);
		if (!o->err)
			o->addr = sim_rel(vas, out,
					  (op->len + PG - 1) & ~(PG - 1));
		break;
	}
	case OP_MUNMAP:
		o->err = vas_munmap(vas, win + op->addr, op->len);
		break;
	case OP_MPROTECT:
		o->err = vas_mprotect(vas, win + op->addr, op->len, op->prot);
		break;
	case OP_MREMAP:
		o->err = vas_mremap(vas, win + op->addr, op->len, op->new_len,
				    op->flags, win + op->new_addr, &out);
		if (!o->err)
			o->addr = sim_rel(vas, out,
					  (op->new_len + PG - 1) & ~(PG - 1));
		break;
	case OP_FAULT:
		memset(&fr, 0, sizeof(fr));
		o->err = vas_fault(vas, win + op->addr, op->access, &fr);
		if (o->err)
			break;
		if (fr.status == VAS_FAULT_OK) {
			o->fstatus = 0;
			o->expanded = fr.expanded;
			if (win + op->addr < fr.vma.start ||
			    win + op->addr >= fr.vma.end) {
				o->fstatus = 2;
				snprintf(o->detail, sizeof(o->detail),
					 "fault ok but its VMA %#" PRIx64
					 "-%#" PRIx64
					 " does not contain the address",
					 fr.vma.start, fr.vma.end);
			}
		} else {
			o->fstatus = 1;
			o->fcode = fr.code;
			o->exec_read = fr.populated; /* mapped, then failed */
		}
		break;
	case OP_BRK:
		o->err = vas_brk(vas, op->flags ? 0 : win + op->addr, &out);
		o->addr = out - win;
		break;
	case OP_FORK:
		o->err = vas_fork(vas, &child);
		if (!o->err) {
			vas_free(vas);
			*vasp = child;
		}
		break;
	case OP_MADVISE:
		o->err = vas_madvise(vas, win + op->addr, op->len,
				     (int)op->flags);
		break;
	case OP_MLOCK:
		o->err = vas_mlock(vas, win + op->addr, op->len, op->flags);
		break;
	case OP_MUNLOCK:
		o->err = vas_munlock(vas, win + op->addr, op->len);
		break;
	case OP_MLOCKALL:
		o->err = vas_mlockall(vas, op->flags);
		break;
	case OP_MUNLOCKALL:
		o->err = vas_munlockall(vas);
		break;
	case OP_MSEAL:
		o->err = vas_mseal(vas, win + op->addr, op->len, op->flags);
		break;
	case OP_ANON_NAME:
		o->err = vas_set_anon_name(vas, win + op->addr, op->len,
					   anon_names[op->prot]);
		break;
	case OP_NR:
		break;
	}
}

static bool outcome_eq(const struct op *op, const struct outcome *k,
		       const struct outcome *s)
{
	/*
	 * mlock() populating a shared anonymous mapping that mremap() grew
	 * past its shmem object: SIGBUS there, so -ENOMEM (not modelled:
	 * the simulator has no object sizes; see seq_sigbus).
	 */
	if (op->kind == OP_MLOCK && seq_sigbus && k->err == -ENOMEM && !s->err)
		return true;
	if (k->err != s->err)
		return false;
	if (k->err)
		return true;
	if (op->kind == OP_MMAP || op->kind == OP_MREMAP || op->kind == OP_BRK)
		return k->addr == s->addr;
	if (op->kind == OP_FAULT && k->fstatus == 3) /* not modeled */
		return s->fstatus == 0 ||
		       (op->access == VAS_ACCESS_EXEC && s->fstatus == 1 &&
			s->fcode == VAS_SEGV_ACCERR);
	if (op->kind == OP_FAULT)
		return k->fstatus == s->fstatus &&
		       (k->fstatus != 1 || k->fcode == s->fcode) &&
		       k->fstatus != 2;
	return true;
}

/* The simulator's layout for this kernel (see plat). */
static void fill_layout(struct vas_layout *l)
{
	struct vas_layout lay;

	vas_layout_default(&lay);
	lay.stack_guard_gap = guard_gap_pages;
	lay.stack_rlimit = stack_rlimit;
	lay.stack = false;
	lay.no_zero_page = !plat.zero_page;
	if (!plat.brk_err)
		lay.brk_base = win + BRK_START;
	lay.memlock_rlimit = plat.memlock ? MEMLOCK_SET : VAS_RLIM_INFINITY;
	lay.no_thp = !plat.madv_hugepage;
	lay.no_ksm = !plat.ksm;
	lay.no_anon_vma_name = !plat.anon_name;
	lay.no_map_stack_nohugepage = !plat.map_stack_nh;
	*l = lay;
}

static int new_space(struct vas **vas)
{
	struct vas_layout lay;

	fill_layout(&lay);
	return vas_new(&lay, vas);
}

/* ------------------------------------------------------------------ */
/* Random operations                                                    */

static const unsigned prots[] = {
	VAS_PROT_READ,
	VAS_PROT_READ | VAS_PROT_WRITE,
	VAS_PROT_READ | VAS_PROT_WRITE,
	VAS_PROT_READ | VAS_PROT_EXEC,
	VAS_PROT_READ | VAS_PROT_WRITE | VAS_PROT_EXEC,
	0,
	VAS_PROT_WRITE,
	VAS_PROT_EXEC,
};

static unsigned rnd_prot(uint64_t *s)
{
	return prots[rnd(s, sizeof(prots) / sizeof(prots[0]))];
}

static uint64_t rnd_pages(uint64_t *s)
{
	if (chance(s, 70))
		return 1 + rnd(s, 8);
	if (chance(s, 80))
		return 1 + rnd(s, 48);
	return 1 + rnd(s, 300);
}

/* A page index in the arena, often next to an existing boundary. */
static uint64_t rnd_page(uint64_t *s, const struct maps *m)
{
	if (m->n && chance(s, 60)) {
		const struct mline *l = &m->l[rnd(s, m->n)];
		uint64_t b = (chance(s, 50) ? l->start : l->end) - win;
		int64_t d = (int64_t)rnd(s, 9) - 4;
		int64_t pg = (int64_t)(b / PG) + d;

		if (pg < 0)
			pg = 0;
		if ((uint64_t)pg >= ARENA_PAGES)
			pg = ARENA_PAGES - 1;
		return pg;
	}
	return rnd(s, ARENA_PAGES);
}

static uint64_t clamp_len(uint64_t pg, uint64_t npages)
{
	if (pg + npages > ARENA_PAGES)
		npages = ARENA_PAGES - pg;
	return npages ? npages : 1;
}

/* A file offset; often contiguous with a neighbouring mapping of it. */
static void rnd_file(uint64_t *s, const struct maps *m, uint64_t pg,
		     struct op *op)
{
	op->file = (int)rnd(s, NR_FILES);
	op->off = rnd(s, 64) * PG;
	if (!chance(s, 60))
		return;
	for (int i = 0; i < m->n; i++) {
		const struct mline *l = &m->l[i];

		for (int f = 0; f < NR_FILES; f++) {
			uint64_t a = win + pg * PG;

			if (strcmp(l->name, test_files[f]))
				continue;
			if (l->end == a || l->start == a + op->len) {
				int64_t off = (int64_t)l->off +
					      (int64_t)(a - l->start);

				if (off >= 0 && (uint64_t)off < FILE_SIZE / 2) {
					op->file = f;
					op->off = (uint64_t)off;
					return;
				}
			}
		}
	}
}

/* madvise advice drawn by the random sequences (7: invalid). */
static const int advices[] = {
	VAS_MADV_DONTNEED,	VAS_MADV_DONTNEED,
	VAS_MADV_FREE,		VAS_MADV_REMOVE,
	VAS_MADV_DONTFORK,	VAS_MADV_DOFORK,
	VAS_MADV_WIPEONFORK,	VAS_MADV_KEEPONFORK,
	VAS_MADV_DONTDUMP,	VAS_MADV_DODUMP,
	VAS_MADV_HUGEPAGE,	VAS_MADV_NOHUGEPAGE,
	VAS_MADV_SEQUENTIAL,	VAS_MADV_RANDOM,
	VAS_MADV_NORMAL,	VAS_MADV_MERGEABLE,
	VAS_MADV_UNMERGEABLE,	VAS_MADV_WILLNEED,
	VAS_MADV_COLD,		VAS_MADV_DONTNEED_LOCKED,
	VAS_MADV_GUARD_INSTALL, VAS_MADV_GUARD_INSTALL,
	VAS_MADV_GUARD_REMOVE,	7,
	VAS_MADV_POPULATE_READ, VAS_MADV_POPULATE_WRITE,
};

/* A range over the VMAs: mostly a VMA's own, sometimes across. */
static void rnd_range(uint64_t *s, const struct maps *m, struct op *op)
{
	uint64_t pg;

	if (m->n && chance(s, 75)) {
		const struct mline *l = &m->l[rnd(s, m->n)];
		uint64_t vp = (l->end - l->start) / PG, sub = rnd(s, vp);

		if (chance(s, 40))
			sub = 0;
		pg = (l->start - win) / PG + sub;
		op->addr = pg * PG;
		op->len = clamp_len(pg, chance(s, 60) ? vp - sub
						      : 1 + rnd(s, vp + 4)) *
			  PG;
	} else {
		pg = rnd_page(s, m);
		op->addr = pg * PG;
		op->len = clamp_len(pg, rnd_pages(s)) * PG;
	}
	if (chance(s, 2))
		op->addr += 8; /* unaligned */
	if (chance(s, 3))
		op->len -= 100;
	if (chance(s, 1))
		op->len = 0;
}

/* madvise, mlock, munlock, mlockall, munlockall, mseal, anon names. */
static void gen_vmflags_op(uint64_t *s, const struct maps *m, struct op *op)
{
	unsigned r = (unsigned)rnd(s, 100);

	rnd_range(s, m, op);
	if (r < 55) {
		op->kind = OP_MADVISE;
		op->flags = (unsigned)
			advices[rnd(s, sizeof(advices) / sizeof(advices[0]))];
	} else if (r < 70) {
		op->kind = OP_MLOCK;
		op->flags = chance(s, 30) ? VAS_MLOCK_ONFAULT : 0;
	} else if (r < 80) {
		op->kind = OP_MUNLOCK;
	} else if (r < 84) {
		/*
		 * MCL_FUTURE only: MCL_CURRENT would lock (and count) the
		 * whole test process, which the simulator does not hold.
		 */
		op->kind = OP_MLOCKALL;
		op->flags =
			VAS_MCL_FUTURE | (chance(s, 30) ? VAS_MCL_ONFAULT : 0);
		op->addr = op->len = 0;
	} else if (r < 89) {
		op->kind = OP_MUNLOCKALL;
		op->addr = op->len = 0;
	} else if (r < 94) {
		op->kind = OP_MSEAL;
		op->flags = chance(s, 5) ? 1 : 0;
	} else {
		op->kind = OP_ANON_NAME;
		op->prot = (unsigned)rnd(s, sizeof(anon_names) /
						    sizeof(anon_names[0]));
	}
}

static void gen_op(uint64_t *s, const struct maps *m, struct op *op)
{
	unsigned r = (unsigned)rnd(s, 100);
	uint64_t pg, np;

	memset(op, 0, sizeof(*op));
	op->file = -1;
	if (r < 32) {
		unsigned how = (unsigned)rnd(s, 100);

		op->kind = OP_MMAP;
		pg = rnd_page(s, m);
		np = clamp_len(pg, rnd_pages(s));
		op->addr = pg * PG;
		op->len = np * PG;
		op->prot = rnd_prot(s);
		op->flags = chance(s, 75) ? VAS_MAP_PRIVATE : VAS_MAP_SHARED;
		if (how < 38)
			op->flags |= VAS_MAP_FIXED_NOREPLACE;
		else if (how < 72)
			op->flags |= VAS_MAP_FIXED;
		else if (how < 90)
			; /* a hint */
		else {
			/* A growsdown stack with room to grow below it. */
			op->flags = VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS |
				    VAS_MAP_GROWSDOWN | VAS_MAP_FIXED_NOREPLACE;
			if (chance(s, 10))
				op->flags = (op->flags & ~VAS_MAP_PRIVATE) |
					    VAS_MAP_SHARED;
			pg = 400 + rnd(s, ARENA_PAGES - 400 - 16);
			op->addr = pg * PG;
			op->len = (1 + rnd(s, 8)) * PG;
			op->prot = VAS_PROT_READ | VAS_PROT_WRITE;
			return;
		}
		if (chance(s, 45))
			op->flags |= VAS_MAP_ANONYMOUS;
		else
			rnd_file(s, m, pg, op);
		if (chance(s, 3))
			op->flags |= VAS_MAP_POPULATE;
		if (chance(s, 5))
			op->flags |= VAS_MAP_NORESERVE;
		if (chance(s, 5))
			op->flags |= VAS_MAP_STACK;
		if (chance(s, 2))
			op->flags |= VAS_MAP_LOCKED;
		if (chance(s, 2))
			op->flags |= VAS_MAP_DENYWRITE | VAS_MAP_EXECUTABLE;
		if (chance(s, 1))
			op->flags |= VAS_MAP_NONBLOCK | VAS_MAP_POPULATE;
		if (chance(s, 3))
			op->len -= 100; /* unaligned length: rounded up */
		if (chance(s, 2))
			op->addr += 123; /* unaligned: EINVAL if fixed */
		if (chance(s, 1))
			op->len = 0;
	} else if (r < 44) {
		op->kind = OP_MUNMAP;
		pg = rnd_page(s, m);
		op->addr = pg * PG;
		op->len = clamp_len(pg, rnd_pages(s)) * PG;
		if (chance(s, 2))
			op->addr += 8;
	} else if (r < 58) {
		op->kind = OP_MPROTECT;
		pg = rnd_page(s, m);
		op->addr = pg * PG;
		op->len = clamp_len(pg, rnd_pages(s)) * PG;
		op->prot = rnd_prot(s);
		if (chance(s, 3))
			op->len -= 1000;
	} else if (r < 68 && !no_mremap) {
		unsigned how = (unsigned)rnd(s, 100);

		op->kind = OP_MREMAP;
		if (m->n && chance(s, 85)) {
			const struct mline *l = &m->l[rnd(s, m->n)];
			uint64_t vp = (l->end - l->start) / PG;
			uint64_t sub = rnd(s, vp);

			pg = (l->start - win) / PG;
			if (chance(s, 50)) /* from the VMA start */
				sub = 0;
			op->addr = (pg + sub) * PG;
			np = vp - sub;
			if (chance(s, 30) && np > 1)
				np = 1 + rnd(s, np);
			else if (chance(s, 10))
				np += 1 + rnd(s, 4); /* spans past the VMA */
			op->len = np * PG;
		} else {
			pg = rnd_page(s, m);
			op->addr = pg * PG;
			op->len = clamp_len(pg, rnd_pages(s)) * PG;
			np = op->len / PG;
		}
		if (how < 25) { /* shrink */
			op->new_len = (np > 1 ? 1 + rnd(s, np - 1) : 1) * PG;
		} else if (how < 55) { /* grow in place */
			op->new_len = (np + 1 + rnd(s, 16)) * PG;
		} else if (how < 90) { /* move within the window */
			uint64_t dst = rnd_page(s, m);
			uint64_t nn = chance(s, 50) ? np : 1 + rnd(s, np + 8);

			op->new_len = clamp_len(dst, nn) * PG;
			op->new_addr = dst * PG;
			op->flags = VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED;
			if (chance(s, 8))
				op->flags |= VAS_MREMAP_DONTUNMAP;
		} else { /* grow, moving elsewhere if it must */
			op->new_len = (np + 1 + rnd(s, 16)) * PG;
			op->flags = VAS_MREMAP_MAYMOVE;
		}
		if (op->addr + op->new_len > ARENA_PAGES * PG &&
		    !(op->flags & VAS_MREMAP_FIXED))
			op->new_len = op->len;
	} else if (r < 73 && !plat.brk_err) {
		/* brk: around the heap, sometimes unaligned or a query. */
		int64_t pg = (int64_t)rnd(s, 260) - 16;

		op->kind = OP_BRK;
		op->addr = (uint64_t)((int64_t)BRK_START + pg * (int64_t)PG);
		if (chance(s, 10))
			op->addr += 1 + rnd(s, PG - 1);
		if (chance(s, 5))
			op->flags = 1; /* brk(0) */
	} else if (r < 74) {
		op->kind = OP_FORK;
	} else if (r < 86) {
		gen_vmflags_op(s, m, op);
	} else {
		op->kind = OP_FAULT;
		r = (unsigned)rnd(s, 100);
		if (m->n && r < 70) {
			const struct mline *l = &m->l[rnd(s, m->n)];

			op->addr = l->start - win +
				   rnd(s, (l->end - l->start) / PG) * PG;
		} else if (m->n && r < 92) {
			/* Below a VMA: grows it if it is a stack. */
			const struct mline *l = &m->l[rnd(s, m->n)];
			uint64_t below =
				1 + (chance(s, 70) ? rnd(s, 16) : rnd(s, 300));
			uint64_t spg = (l->start - win) / PG;

			op->addr = (spg > below ? spg - below : 0) * PG;
		} else {
			op->addr = rnd(s, ARENA_PAGES) * PG;
		}
		op->addr += rnd(s, 64) * 8; /* never near the page end */
		r = (unsigned)rnd(s, 100);
		op->access = r < 45   ? VAS_ACCESS_READ
			     : r < 90 ? VAS_ACCESS_WRITE
				      : VAS_ACCESS_EXEC;
	}
}

/* ------------------------------------------------------------------ */
/* Running sequences                                                    */

struct mismatch {
	int step; /* first failing step, -1 if none */
	char what[256];
	struct outcome k, s;
	struct maps km, sm;
};

static struct mline km_lines[MAX_LINES], sm_lines[MAX_LINES];
static struct mline mm_k_lines[MAX_LINES], mm_s_lines[MAX_LINES];
static char ktext[MAPS_BUF];

/*
 * Run @n operations on a fresh child and a fresh space. With @seed
 * non-NULL, generate each operation from the random state first (and
 * store it in @ops). Stop at the first mismatch.
 * Return: the index of the first mismatching step, or -1.
 */
static int run_ops(struct op *ops, int n, uint64_t *seed, struct mismatch *mm,
		   bool count)
{
	struct maps km = {km_lines, 0}, sm = {sm_lines, 0};
	struct child c;
	struct vas *vas;
	int fail = -1, err;

	mm->step = -1;
	err = new_space(&vas);
	if (err)
		die("vas_new: %s", vma_strerror(err));
	reset_files();
	seq_sigbus = false;
	child_start(&c);
	for (int i = 0; i < n; i++) {
		struct outcome k, s;
		char msg[256];

		if (seed)
			gen_op(seed, &sm, &ops[i]);
		if (platform_skips(vas, &ops[i])) {
			if (count)
				tally.skipped++;
			continue;
		}
		sim_run_op(&vas, &ops[i], &s);
		if (!child_op(&c, &ops[i], &k, &km, ktext)) {
			snprintf(mm->what, sizeof(mm->what),
				 "the child died or broke the protocol");
			fail = i;
			mm->k = s;
			mm->s = s;
			break;
		}
		seq_sigbus |= ops[i].kind == OP_FAULT && k.fstatus == 3;
		/*
		 * A shared anonymous mapping grown by mremap() has pages past
		 * its shmem object: populating them (mlock, MAP_LOCKED)
		 * raises SIGBUS in the kernel, as a fault there would.
		 */
		if (ops[i].kind == OP_MREMAP && !s.err &&
		    s.addr != REL_OUTSIDE && ops[i].new_len > ops[i].len) {
			struct vas_vma_info vi;

			if (vas_lookup(vas, win + s.addr, &vi) &&
			    (vi.flags & VAS_VM_SHARED) &&
			    (vi.flags & VAS_VM_ANON))
				seq_sigbus = true;
		}
		err = sim_maps(vas, &sm);
		if (err) {
			snprintf(mm->what, sizeof(mm->what), "vas_maps: %s",
				 vma_strerror(err));
			fail = i;
		} else if (vas_validate(vas, msg, sizeof(msg))) {
			snprintf(mm->what, sizeof(mm->what),
				 "vas_validate: %.200s", msg);
			fail = i;
		} else if (!outcome_eq(&ops[i], &k, &s)) {
			snprintf(mm->what, sizeof(mm->what), "results differ");
			fail = i;
		} else if (!maps_eq(&km, &sm)) {
			snprintf(mm->what, sizeof(mm->what), "maps differ");
			fail = i;
		} else if (!rss_eq(&km, &sm, count)) {
			snprintf(mm->what, sizeof(mm->what),
				 "rss differs (smaps Rss vs rss_pages)");
			fail = i;
		}
		if (count) {
			tally.ops[ops[i].kind]++;
			tally.errors += !!s.err;
			tally.outside += s.addr == REL_OUTSIDE;
			tally.expansions += s.expanded;
			tally.sigbus +=
				ops[i].kind == OP_FAULT && k.fstatus == 3;
			if (ops[i].kind == OP_FAULT && !s.err) {
				tally.fault_ok += s.fstatus == 0;
				tally.fault_maperr +=
					s.fstatus == 1 &&
					s.fcode == VAS_SEGV_MAPERR;
				tally.fault_accerr +=
					s.fstatus == 1 &&
					s.fcode == VAS_SEGV_ACCERR;
			}
			if ((uint64_t)sm.n > tally.max_vmas)
				tally.max_vmas = sm.n;
			tally.exec_as_read += s.exec_read;
			if (ops[i].kind == OP_MADVISE &&
			    (ops[i].flags == VAS_MADV_POPULATE_READ ||
			     ops[i].flags == VAS_MADV_POPULATE_WRITE)) {
				tally.populate++;
				tally.populate_errors += !!s.err;
			}
			tally.brk_moved +=
				ops[i].kind == OP_BRK && s.addr != BRK_START;
			for (int j = 0; j < sm.n; j++) {
				const char *f = sm.l[j].vmflags;

				tally.heap_lines +=
					!strcmp(sm.l[j].name, "[heap]");
				tally.vmflags_compared++;
				tally.vmflags_new +=
					strstr(f, "lo ") || strstr(f, "dc ") ||
					strstr(f, "wf ") || strstr(f, "dd ") ||
					strstr(f, "hg ") || strstr(f, "nh ") ||
					strstr(f, "sr ") || strstr(f, "rr ") ||
					strstr(f, "mg ") || strstr(f, "sl ") ||
					strstr(f, "gu ");
				tally.locked_lines += !!strstr(f, "lo ");
				tally.sealed_lines += !!strstr(f, "sl ");
			}
			tally.guard_faults +=
				ops[i].kind == OP_FAULT && !s.err &&
				s.fstatus == 1 && s.fcode == VAS_SEGV_MAPERR &&
				vas_lookup(vas, win + ops[i].addr,
					   &(struct vas_vma_info){0});
		}
		if (verbose) {
			char a[256], b[128], d[128];

			op_str(&ops[i], a, sizeof(a));
			outcome_str(&ops[i], &k, b, sizeof(b));
			outcome_str(&ops[i], &s, d, sizeof(d));
			fprintf(stderr, "  %3d %-70s kernel %-22s sim %s\n", i,
				a, b, d);
		}
		if (fail >= 0) {
			mm->k = k;
			mm->s = s;
			mm->km.l = mm_k_lines;
			mm->sm.l = mm_s_lines;
			mm->km.n = km.n;
			mm->sm.n = sm.n;
			memcpy(mm_k_lines, km.l, sizeof(km.l[0]) * km.n);
			memcpy(mm_s_lines, sm.l, sizeof(sm.l[0]) * sm.n);
			break;
		}
	}
	child_stop(&c);
	vas_free(vas);
	mm->step = fail;
	return fail;
}

/*
 * Delta-reduce a failing sequence: drop operations one at a time as long
 * as some step still mismatches, cutting after the first failing step.
 */
static int reduce(struct op *ops, int n, struct mismatch *mm)
{
	static struct op trial[MAX_OPS];
	bool changed = true;

	for (int pass = 0; changed && pass < 8; pass++) {
		changed = false;
		for (int i = 0; i < n && n > 1;) {
			struct mismatch tm;
			int f, tn = 0;

			for (int j = 0; j < n; j++)
				if (j != i)
					trial[tn++] = ops[j];
			f = run_ops(trial, tn, NULL, &tm, false);
			if (f >= 0) {
				n = f + 1;
				memcpy(ops, trial, sizeof(ops[0]) * n);
				*mm = tm;
				changed = true;
			} else {
				i++;
			}
		}
	}
	return n;
}

static void print_listing(FILE *f, const struct op *ops, int n,
			  const struct mismatch *mm)
{
	char a[256], b[128], d[128];

	for (int i = 0; i < n; i++) {
		op_str(&ops[i], a, sizeof(a));
		fprintf(f, "    %2d  %s\n", i, a);
	}
	op_str(&ops[n - 1], a, sizeof(a));
	outcome_str(&ops[n - 1], &mm->k, b, sizeof(b));
	outcome_str(&ops[n - 1], &mm->s, d, sizeof(d));
	fprintf(f, "  at step %d (%s): %s\n", n - 1, a, mm->what);
	fprintf(f, "    kernel:    %s\n    simulator: %s\n", b, d);
	print_maps(f, "kernel", &mm->km);
	print_maps(f, "simulator", &mm->sm);
}

/*
 * Report a failing sequence: the shortest failing prefix, then its
 * delta-reduced form.
 */
static void report_failure(const char *title, struct op *ops, int n,
			   struct mismatch *mm)
{
	static struct op red[MAX_OPS];
	struct mismatch rm = *mm;
	int rn;

	(void)n;
	fprintf(stderr,
		"MISMATCH in %s (W = %#" PRIx64 ", guard gap %" PRIu64
		" pages, zero page %s)\n",
		title, win, guard_gap_pages, plat.zero_page ? "yes" : "no");
	fprintf(stderr, "  failing prefix (%d operations):\n", mm->step + 1);
	print_listing(stderr, ops, mm->step + 1, mm);
	memcpy(red, ops, sizeof(ops[0]) * (mm->step + 1));
	rn = reduce(red, mm->step + 1, &rm);
	fprintf(stderr, "  reduced (%d operations):\n", rn);
	print_listing(stderr, red, rn, &rm);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* Hand-written cases                                                   */

#define MMAP(pg, np, pr, fl, fi, offpg)                                        \
	{                                                                      \
		.kind = OP_MMAP, .addr = (pg)*PG, .len = (np)*PG,              \
		.prot = (pr), .flags = (fl), .file = (fi), .off = (offpg)*PG   \
	}
#define MUNMAP(pg, np)                                                         \
	{                                                                      \
		.kind = OP_MUNMAP, .addr = (pg)*PG, .len = (np)*PG, .file = -1 \
	}
#define MPROT(pg, np, pr)                                                      \
	{                                                                      \
		.kind = OP_MPROTECT, .addr = (pg)*PG, .len = (np)*PG,          \
		.prot = (pr), .file = -1                                       \
	}
#define MREMAP(pg, onp, nnp, fl, dpg)                                          \
	{                                                                      \
		.kind = OP_MREMAP, .addr = (pg)*PG, .len = (onp)*PG,           \
		.new_len = (nnp)*PG, .flags = (fl), .new_addr = (dpg)*PG,      \
		.file = -1                                                     \
	}
#define BRK(pg, bytes)                                                         \
	{                                                                      \
		.kind = OP_BRK,                                                \
		.addr = (uint64_t)((int64_t)BRK_START + (pg) * (int64_t)PG +   \
				   (bytes)),                                   \
		.file = -1                                                     \
	}
#define FORK()                                                                 \
	{                                                                      \
		.kind = OP_FORK, .file = -1                                    \
	}
#define FAULT(pg, acc)                                                         \
	{                                                                      \
		.kind = OP_FAULT, .addr = (pg)*PG, .access = (acc), .file = -1 \
	}

#define MADV(pg, np, adv)                                                      \
	{                                                                      \
		.kind = OP_MADVISE, .addr = (pg)*PG, .len = (np)*PG,           \
		.flags = (adv), .file = -1                                     \
	}
#define MLOCK(pg, np, fl)                                                      \
	{                                                                      \
		.kind = OP_MLOCK, .addr = (pg)*PG, .len = (np)*PG,             \
		.flags = (fl), .file = -1                                      \
	}
#define MUNLOCK(pg, np)                                                        \
	{                                                                      \
		.kind = OP_MUNLOCK, .addr = (pg)*PG, .len = (np)*PG,           \
		.file = -1                                                     \
	}
#define MLOCKALL(fl)                                                           \
	{                                                                      \
		.kind = OP_MLOCKALL, .flags = (fl), .file = -1                 \
	}
#define MUNLOCKALL()                                                           \
	{                                                                      \
		.kind = OP_MUNLOCKALL, .file = -1                              \
	}
#define MSEAL(pg, np)                                                          \
	{                                                                      \
		.kind = OP_MSEAL, .addr = (pg)*PG, .len = (np)*PG, .file = -1  \
	}
#define ANAME(pg, np, i)                                                       \
	{                                                                      \
		.kind = OP_ANON_NAME, .addr = (pg)*PG, .len = (np)*PG,         \
		.prot = (i), .file = -1                                        \
	}

#define R   VAS_PROT_READ
#define RW  (VAS_PROT_READ | VAS_PROT_WRITE)
#define RX  (VAS_PROT_READ | VAS_PROT_EXEC)
#define RWX (VAS_PROT_READ | VAS_PROT_WRITE | VAS_PROT_EXEC)
#define NR  VAS_MAP_FIXED_NOREPLACE
#define FX  VAS_MAP_FIXED
#define PA  (VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS)
#define SA  (VAS_MAP_SHARED | VAS_MAP_ANONYMOUS)
#define PF  VAS_MAP_PRIVATE
#define SF  VAS_MAP_SHARED
#define GD  (VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS | VAS_MAP_GROWSDOWN | NR)
#define MM  VAS_MREMAP_MAYMOVE
#define MF  (VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED)

struct hcase {
	const char *name;
	struct op ops[24];
	int nr_ops;
	int expect_vmas;  /* window VMAs after the last op (-1: not checked) */
	int expect_err;	  /* errno of the last op (0: success) */
	int expect_fault; /* last op a fault: 0 ok, 1 MAPERR, 2 ACCERR, -1 */
	unsigned needs;	  /* NEEDS_*: platform properties the premise has */
	bool check_rss;	  /* check the Rss of the VMA at rss_page: */
	int rss_page;
	int expect_rss; /* its Rss after the last op */
};

#define NEEDS_NX_EXEC  1u   /* NX, and a fetch maps a page not present */
#define NEEDS_NO_PKEYS 2u   /* PROT_EXEC alone is readable */
#define NEEDS_BRK      4u   /* start_brk could be moved into the window */
#define NEEDS_MSEAL    8u   /* mseal() */
#define NEEDS_GUARD    16u  /* MADV_GUARD_INSTALL */
#define NEEDS_MEMLOCK  32u  /* RLIMIT_MEMLOCK binds the child */
#define NEEDS_MLOCKALL 64u  /* not a sanitizer build (see platform_skips) */
#define NEEDS_POPULATE 128u /* MADV_POPULATE_READ/WRITE */

#define HCN(nd, nm, nv, ne, nf, ...)                                           \
	{                                                                      \
		.name = nm, .ops = {__VA_ARGS__},                              \
		.nr_ops = sizeof((struct op[]){__VA_ARGS__}) /                 \
			  sizeof(struct op),                                   \
		.expect_vmas = nv, .expect_err = ne, .expect_fault = nf,       \
		.needs = nd                                                    \
	}
#define HC(nm, nv, ne, nf, ...) HCN(0, nm, nv, ne, nf, __VA_ARGS__)

static const struct hcase hcases[] = {
	HC("merge of adjacent anonymous mappings", 1, 0, -1,
	   MMAP(0, 2, RW, PA | NR, -1, 0), MMAP(2, 2, RW, PA | NR, -1, 0),
	   MMAP(4, 3, RW, PA | NR, -1, 0)),
	HC("merge into a written neighbour (one anon_vma)", 1, 0, -1,
	   MMAP(0, 2, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
	   MMAP(2, 2, RW, PA | NR, -1, 0), FAULT(3, VAS_ACCESS_WRITE)),
	/*
	 * A write fault next to a written VMA whose flags differ only in
	 * access bits reuses its anon_vma (find_mergeable_anon_vma), so
	 * equal protections later merge them.
	 */
	HC("written neighbours share an anon_vma and merge after mprotect", 1,
	   0, -1, MMAP(0, 2, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
	   MMAP(2, 2, RWX, PA | NR, -1, 0), FAULT(2, VAS_ACCESS_WRITE),
	   MPROT(2, 2, RW)),
	/* Written apart (not adjacent), they get two anon_vmas. */
	HC("no merge after separate writes (two anon_vmas)", 2, 0, -1,
	   MMAP(0, 2, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
	   MMAP(3, 2, RW, PA | NR, -1, 0), FAULT(3, VAS_ACCESS_WRITE),
	   MMAP(2, 1, RW, PA | NR, -1, 0)),
	HC("mprotect merges back after separate mappings", 1, 0, -1,
	   MMAP(0, 2, R, PA | NR, -1, 0), MMAP(2, 2, RW, PA | NR, -1, 0),
	   MPROT(2, 2, R)),
	HC("different protections do not merge", 2, 0, -1,
	   MMAP(0, 2, R, PA | NR, -1, 0), MMAP(2, 2, RW, PA | NR, -1, 0)),
	HC("shared and private do not merge", 2, 0, -1,
	   MMAP(0, 2, RW, PF | NR, 0, 0), MMAP(2, 2, RW, SF | NR, 0, 2)),
	HC("file offset contiguity merges", 1, 0, -1,
	   MMAP(10, 4, R, PF | NR, 0, 0), MMAP(14, 4, R, PF | NR, 0, 4)),
	HC("file offset gap does not merge", 2, 0, -1,
	   MMAP(10, 4, R, PF | NR, 0, 0), MMAP(14, 4, R, PF | NR, 0, 5)),
	HC("different files do not merge", 2, 0, -1,
	   MMAP(10, 4, R, PF | NR, 0, 0), MMAP(14, 4, R, PF | NR, 1, 4)),
	HC("file mapping below merges by offset", 1, 0, -1,
	   MMAP(14, 4, RW, SF | NR, 2, 8), MMAP(10, 4, RW, SF | NR, 2, 4)),
	HC("mprotect splits in the middle", 3, 0, -1,
	   MMAP(0, 10, RW, PA | NR, -1, 0), MPROT(3, 2, R)),
	HC("mprotect split of a file mapping keeps offsets", 3, 0, -1,
	   MMAP(0, 10, RW, PF | NR, 1, 16), MPROT(3, 2, R)),
	HC("mprotect back merges the three parts", 1, 0, -1,
	   MMAP(0, 10, RW, PA | NR, -1, 0), MPROT(3, 2, R), MPROT(3, 2, RW)),
	HC("mprotect over a hole fails with ENOMEM", -1, -ENOMEM, -1,
	   MMAP(0, 4, RW, PA | NR, -1, 0), MMAP(6, 4, RW, PA | NR, -1, 0),
	   MPROT(0, 10, R)),
	HC("mprotect starting in a hole fails with ENOMEM", 1, -ENOMEM, -1,
	   MMAP(2, 4, RW, PA | NR, -1, 0), MPROT(0, 6, R)),
	HC("munmap of the middle", 2, 0, -1, MMAP(0, 10, RW, PA | NR, -1, 0),
	   MUNMAP(4, 2)),
	HC("munmap of the middle of a file mapping", 2, 0, -1,
	   MMAP(0, 10, R, PF | NR, 0, 3), MUNMAP(4, 2)),
	HC("munmap over several VMAs and holes", 2, 0, -1,
	   MMAP(0, 4, R, PA | NR, -1, 0), MMAP(6, 4, RW, PA | NR, -1, 0),
	   MMAP(12, 4, R, PA | NR, -1, 0), MUNMAP(2, 12)),
	HC("munmap unaligned fails with EINVAL", 1, -EINVAL, -1,
	   MMAP(0, 4, RW, PA | NR, -1, 0),
	   {.kind = OP_MUNMAP, .addr = 100, .len = PG, .file = -1}),
	HC("MAP_FIXED over several VMAs and the gaps between them", 3, 0, -1,
	   MMAP(0, 3, R, PA | NR, -1, 0), MMAP(4, 3, RW, PA | NR, -1, 0),
	   MMAP(8, 3, R, PF | NR, 0, 0), MMAP(12, 3, RX, PA | NR, -1, 0),
	   MMAP(16, 3, R, SF | NR, 1, 0), MMAP(20, 3, RW, PA | NR, -1, 0),
	   MMAP(24, 3, R, PA | NR, -1, 0), MMAP(28, 3, RWX, PA | NR, -1, 0),
	   MMAP(32, 3, R, PF | NR, 2, 0), MMAP(1, 33, RWX, PF | FX, 1, 40)),
	HC("MAP_FIXED exactly over one VMA merges with both neighbours", 1, 0,
	   -1, MMAP(0, 3, RW, PA | NR, -1, 0), MMAP(3, 3, R, PA | NR, -1, 0),
	   MMAP(6, 3, RW, PA | NR, -1, 0), MMAP(3, 3, RW, PA | FX, -1, 0)),
	HC("MAP_FIXED_NOREPLACE over a mapping fails with EEXIST", 1, -EEXIST,
	   -1, MMAP(0, 4, RW, PA | NR, -1, 0), MMAP(3, 4, RW, PA | NR, -1, 0)),
	HC("hint inside the window is honoured when free", 1, 0, -1,
	   MMAP(100, 4, RW, PA, -1, 0)),
	HC("hint over a mapping goes outside the window", 1, 0, -1,
	   MMAP(100, 4, RW, PA | NR, -1, 0), MMAP(102, 4, R, PA, -1, 0)),
	HC("mapping of length 0 fails with EINVAL", 0, -EINVAL, -1,
	   MMAP(0, 0, RW, PA | NR, -1, 0)),
	HC("neither shared nor private fails with EINVAL", 0, -EINVAL, -1,
	   MMAP(0, 1, RW, VAS_MAP_ANONYMOUS | NR, -1, 0)),
	HC("mremap shrink", 1, 0, -1, MMAP(0, 8, RW, PA | NR, -1, 0),
	   MREMAP(0, 8, 3, 0, 0)),
	HC("mremap grow in place", 1, 0, -1, MMAP(0, 4, RW, PA | NR, -1, 0),
	   MREMAP(0, 4, 8, 0, 0)),
	HC("mremap grow in place blocked fails with ENOMEM", 2, -ENOMEM, -1,
	   MMAP(0, 4, RW, PA | NR, -1, 0), MMAP(6, 4, R, PA | NR, -1, 0),
	   MREMAP(0, 4, 8, 0, 0)),
	HC("mremap across two VMAs fails with EFAULT", 2, -EFAULT, -1,
	   MMAP(0, 4, RW, PA | NR, -1, 0), MMAP(4, 4, R, PA | NR, -1, 0),
	   MREMAP(0, 8, 10, MM, 0)),
	HC("mremap of a written file VMA keeps its offset", 1, 0, -1,
	   MMAP(0, 4, RW, PF | NR, 0, 8), FAULT(1, VAS_ACCESS_WRITE),
	   MREMAP(0, 4, 4, MF, 100)),
	HC("mremap moves part of a file VMA with the right offset", 2, 0, -1,
	   MMAP(0, 8, R, PF | NR, 1, 8), MREMAP(4, 4, 4, MF, 200)),
	HC("moved written anonymous VMA does not merge with a new one", 2, 0,
	   -1, MMAP(0, 4, RW, PA | NR, -1, 0), FAULT(1, VAS_ACCESS_WRITE),
	   MREMAP(0, 4, 4, MF, 100), MMAP(104, 2, RW, PA | NR, -1, 0)),
	HC("moved unwritten anonymous VMA merges with a new one", 1, 0, -1,
	   MMAP(0, 4, RW, PA | NR, -1, 0), MREMAP(0, 4, 4, MF, 100),
	   MMAP(104, 2, RW, PA | NR, -1, 0)),
	HC("mremap with overlapping source and destination fails with EINVAL",
	   0, -EINVAL, -1, MREMAP(10, 3, 3, MF, 11)),
	HC("mremap overlap is checked before the VMA lookup (EINVAL)", 1,
	   -EINVAL, -1, MMAP(10, 2, RW, PA | NR, -1, 0),
	   MREMAP(10, 3, 3, MF, 12)),
	/*
	 * Since Linux 6.17 (mremap rework): the source is validated before
	 * the destination is unmapped, and with MREMAP_FIXED and equal
	 * lengths the source may span several VMAs and gaps.
	 */
	HC("failed mremap (source past its VMA) leaves the destination mapped",
	   2, -EFAULT, -1, MMAP(0, 2, R, PA | NR, -1, 0),
	   MMAP(20, 4, RW, PA | NR, -1, 0), MREMAP(0, 4, 3, MF, 21)),
	HC("mremap moves several VMAs at once (MREMAP_FIXED, equal lengths)", 2,
	   0, -1, MMAP(0, 2, R, PA | NR, -1, 0), MMAP(2, 2, RW, PA | NR, -1, 0),
	   MREMAP(0, 4, 4, MF, 100)),
	HC("mremap move of a range with a gap moves the VMAs in it", 2, 0, -1,
	   MMAP(0, 1, R, PA | NR, -1, 0), MMAP(3, 1, RW, PA | NR, -1, 0),
	   MREMAP(0, 4, 4, MF, 100)),
	HC("mremap fixed over existing mappings replaces them", 1, 0, -1,
	   MMAP(0, 4, RW, PA | NR, -1, 0), MMAP(10, 2, R, PA | NR, -1, 0),
	   MMAP(13, 2, R, PA | NR, -1, 0), MREMAP(0, 4, 6, MF, 9)),
	HC("write fault on a read-only VMA is SEGV_ACCERR", 1, 0, 2,
	   MMAP(0, 4, R, PA | NR, -1, 0), FAULT(1, VAS_ACCESS_WRITE)),
	HC("read fault on PROT_NONE is SEGV_ACCERR", 1, 0, 2,
	   MMAP(0, 4, 0, PA | NR, -1, 0), FAULT(1, VAS_ACCESS_READ)),
	HCN(NEEDS_NX_EXEC, "exec fault on a non-exec VMA is SEGV_ACCERR", 1, 0,
	    2, MMAP(0, 4, RW, PA | NR, -1, 0), FAULT(1, VAS_ACCESS_WRITE),
	    FAULT(1, VAS_ACCESS_EXEC)),
	HC("exec fault on an exec VMA is ok", 1, 0, 0,
	   MMAP(0, 4, RWX, PA | NR, -1, 0), FAULT(1, VAS_ACCESS_WRITE),
	   FAULT(1, VAS_ACCESS_EXEC)),
	HCN(NEEDS_NO_PKEYS,
	    "read of an exec-only file page is ok (x86 without pkeys)", 1, 0, 0,
	    MMAP(0, 4, VAS_PROT_EXEC, PF | NR, 0, 0),
	    FAULT(2, VAS_ACCESS_READ)),
	HC("fault in a hole is SEGV_MAPERR", 2, 0, 1,
	   MMAP(0, 4, RW, PA | NR, -1, 0), MMAP(6, 4, RW, PA | NR, -1, 0),
	   FAULT(5, VAS_ACCESS_READ)),
	HC("write to a shared file mapping", 1, 0, 0,
	   MMAP(0, 4, RW, SF | NR, 2, 0), FAULT(3, VAS_ACCESS_WRITE)),
	HC("growsdown stack grows by a fault below it", 1, 0, 0,
	   MMAP(1000, 4, RW, GD, -1, 0), FAULT(990, VAS_ACCESS_WRITE)),
	HC("growsdown stack grows by an exec fault", 1, 0, 0,
	   MMAP(1000, 4, RWX, GD, -1, 0), FAULT(995, VAS_ACCESS_EXEC)),
	/* The kernel expands first, then checks the access. */
	HC("write below a read-only stack grows it, then SEGV_ACCERR", 1, 0, 2,
	   MMAP(1000, 4, R, GD, -1, 0), FAULT(990, VAS_ACCESS_WRITE)),
	HCN(NEEDS_NX_EXEC,
	    "exec below a non-exec stack grows it, then SEGV_ACCERR", 1, 0, 2,
	    MMAP(1000, 4, RW, GD, -1, 0), FAULT(996, VAS_ACCESS_EXEC)),
	HC("fault below a non-growsdown VMA is SEGV_MAPERR", 1, 0, 1,
	   MMAP(1000, 4, RW, PA | NR, -1, 0), FAULT(999, VAS_ACCESS_WRITE)),
	HC("growsdown stack grows until it abuts a growsdown VMA", 2, 0, 0,
	   MMAP(990, 2, RW, GD, -1, 0), MMAP(1000, 4, RW, GD, -1, 0),
	   FAULT(992, VAS_ACCESS_WRITE)),
	HC("guard gap ignores a PROT_NONE VMA below", 2, 0, 0,
	   MMAP(990, 2, 0, PA | NR, -1, 0), MMAP(1000, 4, RW, GD, -1, 0),
	   FAULT(992, VAS_ACCESS_READ)),
	HC("munmap of a whole stack", 0, 0, -1, MMAP(1000, 4, RW, GD, -1, 0),
	   FAULT(996, VAS_ACCESS_WRITE), MUNMAP(996, 8)),
	HC("mremap in place of a written anonymous VMA, then neighbour", 1, 0,
	   -1, MMAP(0, 4, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
	   MREMAP(0, 4, 6, 0, 0), MMAP(6, 2, RW, PA | NR, -1, 0)),
};

/*
 * Cases built at run time because they depend on the kernel's guard gap.
 */
static int stack_cases(struct hcase *out)
{
	uint64_t g = guard_gap_pages;
	uint64_t top = 1400, base = top - g - 40; /* room below the stack */
	uint64_t rl;
	int n = 0;

	if (g + 64 > top)
		return 0; /* a huge guard gap: no room in the arena */
	/* Below the stack, far enough: the stack grows. */
	out[n] = (struct hcase){
		.name = "stack grows when the gap to the VMA below stays >= "
			"guard gap",
		.ops = {MMAP(base, 4, RW, PA | NR, -1, 0),
			MMAP(top, 4, RW, GD, -1, 0),
			FAULT(base + 4 + g, VAS_ACCESS_WRITE)},
		.nr_ops = 3,
		.expect_vmas = 2,
		.expect_fault = 0,
	};
	n++;
	/* One page further down: the guard gap forbids it. */
	out[n] = (struct hcase){
		.name = "stack does not grow into the guard gap (SEGV_MAPERR)",
		.ops = {MMAP(base, 4, RW, PA | NR, -1, 0),
			MMAP(top, 4, RW, GD, -1, 0),
			FAULT(base + 4 + g - 1, VAS_ACCESS_WRITE)},
		.nr_ops = 3,
		.expect_vmas = 2,
		.expect_fault = 1,
	};
	n++;
	/* A hint inside the stack's guard gap is not honoured. */
	out[n] = (struct hcase){
		.name = "hint inside a stack's guard gap is not honoured",
		.ops = {MMAP(top, 4, RW, GD, -1, 0),
			MMAP(top - 8, 4, RW, PA, -1, 0)},
		.nr_ops = 2,
		.expect_vmas = 1,
		.expect_fault = -1,
	};
	n++;
	/* MAP_FIXED_NOREPLACE ignores the guard gap. */
	out[n] = (struct hcase){
		.name = "MAP_FIXED_NOREPLACE inside a stack's guard gap works",
		.ops = {MMAP(top, 4, RW, GD, -1, 0),
			MMAP(top - 8, 4, RW, PA | NR, -1, 0)},
		.nr_ops = 2,
		.expect_vmas = 2,
		.expect_fault = -1,
	};
	n++;
	/*
	 * A growth that RLIMIT_STACK refuses still gave the stack an
	 * anon_vma (expand_downwards() calls anon_vma_prepare() before
	 * acct_stack_growth()). The stack S is the rlimit's size, so one
	 * more page is too much; below it, across a one-page hole, a
	 * written growsdown VMA P has an anon_vma of its own. A mapping
	 * of the hole then merges with P only, as P's and S's anon_vmas
	 * differ (without the refused growth it would join all three).
	 * Beyond the arena, in the window's upper part.
	 */
	rl = stack_rlimit / PG;
	if (4096 + rl <= WINDOW_SIZE / PG) {
		out[n] = (struct hcase){
			.name = "stack growth refused by RLIMIT_STACK still "
				"prepares the anon_vma",
			.ops = {MMAP(4094, 1, RW, GD, -1, 0),
				FAULT(4094, VAS_ACCESS_WRITE),
				MMAP(4096, rl, RW, GD, -1, 0),
				FAULT(4095, VAS_ACCESS_READ),
				MMAP(4095, 1, RW, GD, -1, 0)},
			.nr_ops = 5,
			.expect_vmas = 2,
			.expect_fault = -1,
		};
		n++;
	}
	return n;
}

static int run_hcase(const struct hcase *hc)
{
	static struct op ops[MAX_OPS];
	struct maps km = {km_lines, 0};
	struct mismatch mm;
	int f;

	if (((hc->needs & NEEDS_NX_EXEC) &&
	     (!plat.nx || !plat.exec_maps_page)) ||
	    ((hc->needs & NEEDS_NO_PKEYS) && plat.exec_only_unreadable) ||
	    ((hc->needs & NEEDS_BRK) && plat.brk_err) ||
	    ((hc->needs & NEEDS_MSEAL) && !plat.mseal) ||
	    ((hc->needs & NEEDS_GUARD) && !plat.guard) ||
	    ((hc->needs & NEEDS_MEMLOCK) && !plat.memlock) ||
	    ((hc->needs & NEEDS_MLOCKALL) && sanitizer_build) ||
	    ((hc->needs & NEEDS_POPULATE) && !plat.populate)) {
		printf("not run on this platform: %s\n", hc->name);
		return 0;
	}
	memcpy(ops, hc->ops, sizeof(hc->ops[0]) * hc->nr_ops);
	files_rss_exact = plat.files_tmpfs;
	f = kernel_only ? -1 : run_ops(ops, hc->nr_ops, NULL, &mm, true);
	files_rss_exact = false;
	if (f >= 0) {
		report_failure(hc->name, ops, hc->nr_ops, &mm);
		return 1;
	}
	/*
	 * Both sides agree; check the premise. run_ops() kept the last
	 * maps and outcomes only on a mismatch, so replay the case once
	 * more on the kernel alone for the final state.
	 */
	{
		struct child c;
		struct outcome k = {0};

		reset_files();
		child_start(&c);
		for (int i = 0; i < hc->nr_ops; i++)
			if (!child_op(&c, &ops[i], &k, &km, ktext))
				die("child failed in %s", hc->name);
		child_stop(&c);
		if (hc->check_rss) {
			uint64_t a = win + (uint64_t)hc->rss_page * PG;
			int j;

			for (j = 0; j < km.n; j++)
				if (km.l[j].start <= a && a < km.l[j].end)
					break;
			if (j == km.n ||
			    km.l[j].rss != (uint64_t)hc->expect_rss) {
				fprintf(stderr,
					"FAIL %s: Rss of the VMA at page %d "
					"is %" PRIu64 ", expected %d\n",
					hc->name, hc->rss_page,
					j < km.n ? km.l[j].rss : 0,
					hc->expect_rss);
				print_maps(stderr, "kernel", &km);
				return 1;
			}
		}
		if (hc->expect_vmas >= 0 && km.n != hc->expect_vmas) {
			fprintf(stderr, "FAIL %s: %d VMAs, expected %d\n",
				hc->name, km.n, hc->expect_vmas);
			print_maps(stderr, "kernel", &km);
			return 1;
		}
		if (k.err != hc->expect_err) {
			fprintf(stderr,
				"FAIL %s: last op returned %s, expected %s\n",
				hc->name, vma_errno_name(k.err),
				vma_errno_name(hc->expect_err));
			return 1;
		}
		if (hc->expect_fault >= 0 &&
		    (k.fstatus != (hc->expect_fault ? 1 : 0) ||
		     (hc->expect_fault == 1 && k.fcode != VAS_SEGV_MAPERR) ||
		     (hc->expect_fault == 2 && k.fcode != VAS_SEGV_ACCERR))) {
			fprintf(stderr,
				"FAIL %s: unexpected fault outcome %d/%d\n",
				hc->name, k.fstatus, k.fcode);
			return 1;
		}
	}
	if (verbose)
		fprintf(stderr, "ok   %s\n", hc->name);
	return 0;
}

/*
 * Cases whose expected results depend on what the platform detection
 * found (the zero page), or that check the Rss of one VMA.
 */
static int platform_cases(struct hcase *out)
{
	const int z = plat.zero_page;
	const struct hcase cases[] = {
		/* Each mapping read-faulted, then equal protections. */
		HC("read faults on private anonymous memory: anon_vma only "
		   "without the zero page",
		   z ? 1 : 2, 0, -1, MMAP(0, 2, R, PA | NR, -1, 0),
		   FAULT(0, VAS_ACCESS_READ), MMAP(2, 2, RW, PA | NR, -1, 0),
		   FAULT(2, VAS_ACCESS_READ), MPROT(2, 2, R)),
		/* The sequence a fresh machine failed on, reduced. */
		HCN(NEEDS_NX_EXEC,
		    "exec fault on rw- anon maps the page; later pieces merge "
		    "only with the zero page",
		    z ? 2 : 3, -ENOMEM, -1, MMAP(0x24d, 7, RW, PA | FX, -1, 0),
		    FAULT(0x250, VAS_ACCESS_EXEC), MUNMAP(0x253, 2),
		    MMAP(0x253, 4, VAS_PROT_EXEC, PA | NR, -1, 0),
		    MPROT(0x251, 0x1b, R)),
		HCN(NEEDS_NX_EXEC,
		    "exec fault on rw- private anon: read first, SEGV_ACCERR",
		    1, 0, 2, MMAP(0, 4, RW, PA | NR, -1, 0),
		    FAULT(1, VAS_ACCESS_EXEC)),
		HCN(NEEDS_NX_EXEC,
		    "exec fault on r-- private file: page mapped, SEGV_ACCERR",
		    1, 0, 2, MMAP(0, 4, R, PF | NR, 0, 0),
		    FAULT(2, VAS_ACCESS_EXEC)),
		HCN(NEEDS_NX_EXEC,
		    "exec fault on rw- shared anon: page mapped, SEGV_ACCERR",
		    1, 0, 2, MMAP(0, 4, RW, SA | NR, -1, 0),
		    FAULT(3, VAS_ACCESS_EXEC)),
		HCN(NEEDS_NX_EXEC,
		    "exec fault on rw- shared file: page mapped, SEGV_ACCERR",
		    1, 0, 2, MMAP(0, 4, RW, SF | NR, 1, 0),
		    FAULT(0, VAS_ACCESS_EXEC)),
		HC("exec fault on PROT_NONE maps nothing", 1, 0, 2,
		   MMAP(0, 4, 0, PA | NR, -1, 0), FAULT(1, VAS_ACCESS_EXEC)),
		HC("fork copies written private anonymous pages", 1, 0, -1,
		   MMAP(0, 4, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
		   FAULT(1, VAS_ACCESS_WRITE), FORK()),
		HC("fork does not copy shared anonymous pages", 1, 0, -1,
		   MMAP(0, 4, RW, SA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
		   FORK()),
		HC("fork does not copy unwritten private file pages", 1, 0, -1,
		   MMAP(0, 4, R, PF | NR, 0, 0), FAULT(0, VAS_ACCESS_READ),
		   FORK()),
		HC("fork copies zero-page reads only without the zero page", 1,
		   0, -1, MMAP(0, 4, RW, PA | NR, -1, 0),
		   FAULT(0, VAS_ACCESS_READ), FORK()),
		HC("after fork, a new neighbour of a forked VMA", -1, 0, -1,
		   MMAP(0, 2, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
		   FORK(), MMAP(2, 2, RW, PA | NR, -1, 0),
		   FAULT(2, VAS_ACCESS_WRITE)),
		HCN(NEEDS_BRK, "brk grows a [heap] VMA", 1, 0, 0, BRK(3, 0),
		    FAULT(1536 + 1, VAS_ACCESS_WRITE)),
		HCN(NEEDS_BRK,
		    "a VMA ending at start_brk stays apart and is not [heap]",
		    2, 0, -1, MMAP(1536 - 4, 4, RW, PA | NR, -1, 0), BRK(2, 0)),
		HCN(NEEDS_BRK, "brk shrinks the heap and drops its pages", 1, 0,
		    -1, BRK(8, 0), FAULT(1536 + 1, VAS_ACCESS_WRITE),
		    FAULT(1536 + 6, VAS_ACCESS_WRITE), BRK(2, 0)),
		HCN(NEEDS_BRK, "brk into a mapping is refused", 1, 0, -1,
		    MMAP(1536 + 4, 2, R, PA | NR, -1, 0), BRK(8, 0)),
		HCN(NEEDS_BRK, "an unaligned brk rounds the VMA up", 1, 0, -1,
		    BRK(1, 5), BRK(0, 0), BRK(2, 7)),
		HCN(NEEDS_BRK, "brk below start_brk is refused", 0, 0, -1,
		    BRK(-1, 0)),
	};
	/* The Rss each case leaves in the VMA at rss_page. */
	const int rss[][2] = {
		{0, z ? 0 : 1}, {0x24d, z ? 0 : 1},
		{0, z ? 0 : 1}, {0, 1},
		{0, 1},		{0, 1},
		{0, 0},		{0, 2},
		{0, 0},		{0, 0},
		{0, z ? 0 : 1}, {0, -1},
		{1536, 1},	{1536, 0},
		{1536, 1},	{1536 + 4, 0},
		{1536, 0},	{0, -1},
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	for (size_t i = 0; i < n; i++) {
		out[i] = cases[i];
		out[i].check_rss = rss[i][1] >= 0;
		out[i].rss_page = rss[i][0];
		out[i].expect_rss = rss[i][1];
	}
	return (int)n;
}

/*
 * The calls of issue 16: madvise, mlock, mseal, anonymous names, fork's
 * VM_DONTCOPY and VM_WIPEONFORK, MAP_STACK. Expectations that depend on
 * the platform follow what the detection found.
 */
static int issue16_cases(struct hcase *out)
{
	const int an = plat.anon_name, st = plat.map_stack_nh;
	const struct hcase cases[] = {
		HC("madvise DONTFORK splits a VMA", 3, 0, -1,
		   MMAP(0, 6, RW, PA | NR, -1, 0),
		   MADV(2, 2, VAS_MADV_DONTFORK)),
		HC("madvise DOFORK merges it back", 1, 0, -1,
		   MMAP(0, 6, RW, PA | NR, -1, 0),
		   MADV(2, 2, VAS_MADV_DONTFORK), MADV(0, 6, VAS_MADV_DOFORK)),
		HC("madvise over a hole advises around it, ENOMEM", 3, -ENOMEM,
		   -1, MMAP(0, 4, RW, PA | NR, -1, 0), MUNMAP(2, 1),
		   MADV(1, 3, VAS_MADV_DONTDUMP)),
		HC("madvise with unknown advice: EINVAL", 1, -EINVAL, -1,
		   MMAP(0, 2, RW, PA | NR, -1, 0), MADV(0, 2, 7)),
		HC("madvise WIPEONFORK of a file: EINVAL", 1, -EINVAL, -1,
		   MMAP(0, 2, RW, PF | NR, 0, 0),
		   MADV(0, 2, VAS_MADV_WIPEONFORK)),
		HC("madvise HUGEPAGE then NOHUGEPAGE of a part", 3, 0, -1,
		   MMAP(0, 6, RW, PA | NR, -1, 0),
		   MADV(0, 6, VAS_MADV_HUGEPAGE),
		   MADV(2, 2, VAS_MADV_NOHUGEPAGE)),
		HC("madvise MERGEABLE of shared memory is ignored", 1, 0, -1,
		   MMAP(0, 4, RW, SA | NR, -1, 0),
		   MADV(0, 2, VAS_MADV_MERGEABLE)),
		HC("madvise REMOVE of a private mapping: EACCES", 1, -EACCES,
		   -1, MMAP(0, 2, RW, PF | NR, 0, 0),
		   MADV(0, 2, VAS_MADV_REMOVE)),
		HC("madvise DONTNEED drops written pages", 1, 0, -1,
		   MMAP(0, 4, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
		   FAULT(1, VAS_ACCESS_WRITE), MADV(0, 1, VAS_MADV_DONTNEED)),
		HC("madvise FREE keeps the pages until reclaim", 1, 0, -1,
		   MMAP(0, 4, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
		   FAULT(1, VAS_ACCESS_WRITE), MADV(0, 4, VAS_MADV_FREE)),
		HC("madvise DONTNEED of a locked VMA: EINVAL", 1, -EINVAL, -1,
		   MMAP(0, 4, RW, PA | NR, -1, 0), MLOCK(0, 4, 0),
		   MADV(0, 4, VAS_MADV_DONTNEED)),
		HCN(NEEDS_GUARD, "a guard page faults with SEGV_MAPERR", 1, 0,
		    1, MMAP(0, 4, RW, PA | NR, -1, 0),
		    MADV(1, 1, VAS_MADV_GUARD_INSTALL),
		    FAULT(1, VAS_ACCESS_READ)),
		HCN(NEEDS_GUARD, "guard pages survive DONTNEED", 1, 0, 1,
		    MMAP(0, 4, RW, PA | NR, -1, 0), FAULT(2, VAS_ACCESS_WRITE),
		    MADV(2, 1, VAS_MADV_GUARD_INSTALL),
		    MADV(0, 4, VAS_MADV_DONTNEED), FAULT(2, VAS_ACCESS_WRITE)),
		HCN(NEEDS_GUARD, "guard pages move with mremap", 1, 0, 1,
		    MMAP(0, 4, RW, PA | NR, -1, 0),
		    MADV(1, 1, VAS_MADV_GUARD_INSTALL), MREMAP(0, 4, 4, MF, 20),
		    FAULT(21, VAS_ACCESS_READ)),
		HCN(NEEDS_GUARD, "fork copies guard pages", 1, 0, 1,
		    MMAP(0, 4, RW, PA | NR, -1, 0),
		    MADV(3, 1, VAS_MADV_GUARD_INSTALL), FORK(),
		    FAULT(3, VAS_ACCESS_WRITE)),
		HCN(NEEDS_GUARD, "GUARD_REMOVE lifts the guard", 1, 0, 0,
		    MMAP(0, 4, RW, PA | NR, -1, 0),
		    MADV(1, 1, VAS_MADV_GUARD_INSTALL),
		    MADV(0, 4, VAS_MADV_GUARD_REMOVE),
		    FAULT(1, VAS_ACCESS_WRITE)),
		HCN(NEEDS_GUARD,
		    "GUARD_INSTALL gives an anon_vma: no three-way merge", 2, 0,
		    -1, MMAP(0, 2, RW, PA | NR, -1, 0),
		    MADV(0, 1, VAS_MADV_GUARD_INSTALL),
		    MMAP(3, 2, RW, PA | NR, -1, 0), FAULT(3, VAS_ACCESS_WRITE),
		    MMAP(2, 1, RW, PA | NR, -1, 0)),
		HCN(NEEDS_GUARD, "GUARD_INSTALL on a locked VMA: EINVAL", 1,
		    -EINVAL, -1, MMAP(0, 2, RW, PA | NR, -1, 0), MLOCK(0, 2, 0),
		    MADV(0, 1, VAS_MADV_GUARD_INSTALL)),
		HCN(NEEDS_GUARD, "mlock over a guard page: ENOMEM", 3, -ENOMEM,
		    -1, MMAP(0, 4, RW, PA | NR, -1, 0),
		    MADV(2, 1, VAS_MADV_GUARD_INSTALL), MLOCK(1, 2, 0)),
		HC("mlock splits and populates", 3, 0, -1,
		   MMAP(0, 6, RW, PA | NR, -1, 0), MLOCK(2, 2, 0)),
		HC("mlock2 ONFAULT populates nothing", 3, 0, -1,
		   MMAP(0, 6, RW, PA | NR, -1, 0),
		   MLOCK(2, 2, VAS_MLOCK_ONFAULT)),
		HC("munlock merges back", 1, 0, -1,
		   MMAP(0, 6, RW, PA | NR, -1, 0), MLOCK(2, 2, 0),
		   MUNLOCK(0, 6)),
		HC("mlock of PROT_NONE locks, then ENOMEM", 1, -ENOMEM, -1,
		   MMAP(0, 2, 0, PA | NR, -1, 0), MLOCK(0, 2, 0)),
		HC("mlock over a hole: ENOMEM after the first VMA", 3, -ENOMEM,
		   -1, MMAP(0, 2, RW, PA | NR, -1, 0),
		   MMAP(3, 2, RW, PA | NR, -1, 0), MLOCK(1, 4, 0)),
		HC("mlock2 with an unknown flag: EINVAL", 1, -EINVAL, -1,
		   MMAP(0, 2, RW, PA | NR, -1, 0), MLOCK(0, 2, 2)),
		HCN(NEEDS_MEMLOCK, "mlock beyond RLIMIT_MEMLOCK: ENOMEM", 1,
		    -ENOMEM, -1, MMAP(0, 100, RW, PA | NR, -1, 0),
		    MLOCK(0, 100, 0)),
		HCN(NEEDS_MEMLOCK, "MAP_LOCKED beyond RLIMIT_MEMLOCK: EAGAIN",
		    0, -EAGAIN, -1,
		    MMAP(0, 100, RW, PA | NR | VAS_MAP_LOCKED, -1, 0)),
		HC("MAP_LOCKED populates", 1, 0, -1,
		   MMAP(0, 4, RW, PA | NR | VAS_MAP_LOCKED, -1, 0)),
		HCN(NEEDS_MLOCKALL,
		    "mlockall(MCL_FUTURE) locks and populates a new mapping", 1,
		    0, -1, MLOCKALL(VAS_MCL_FUTURE),
		    MMAP(0, 4, RW, PA | NR, -1, 0)),
		HCN(NEEDS_MLOCKALL,
		    "munlockall ends MCL_FUTURE (the pieces merge)", 1, 0, -1,
		    MLOCKALL(VAS_MCL_FUTURE), MMAP(0, 2, RW, PA | NR, -1, 0),
		    MUNLOCKALL(), MMAP(2, 2, RW, PA | NR, -1, 0)),
		HCN(NEEDS_MLOCKALL, "mlockall(MCL_ONFAULT) alone: EINVAL", 0,
		    -EINVAL, -1, MLOCKALL(VAS_MCL_ONFAULT)),
		HCN(NEEDS_MSEAL, "mseal splits", 3, 0, -1,
		    MMAP(0, 6, RW, PA | NR, -1, 0), MSEAL(2, 2)),
		HCN(NEEDS_MSEAL, "a sealed VMA refuses munmap", 3, -EPERM, -1,
		    MMAP(0, 6, RW, PA | NR, -1, 0), MSEAL(2, 2), MUNMAP(2, 1)),
		HCN(NEEDS_MSEAL, "a sealed VMA refuses mprotect", 3, -EPERM, -1,
		    MMAP(0, 6, RW, PA | NR, -1, 0), MSEAL(2, 2),
		    MPROT(0, 6, R)),
		HCN(NEEDS_MSEAL, "a sealed VMA refuses mremap", 3, -EPERM, -1,
		    MMAP(0, 6, RW, PA | NR, -1, 0), MSEAL(2, 2),
		    MREMAP(2, 2, 2, MF, 20)),
		HCN(NEEDS_MSEAL, "a sealed VMA refuses MAP_FIXED", 3, -EPERM,
		    -1, MMAP(0, 6, RW, PA | NR, -1, 0), MSEAL(2, 2),
		    MMAP(3, 1, R, PA | FX, -1, 0)),
		HCN(NEEDS_MSEAL,
		    "munmap across a sealed VMA leaves the first one split", 3,
		    -EPERM, -1, MMAP(0, 2, RW, PA | NR, -1, 0),
		    MMAP(2, 2, R, PA | NR, -1, 0), MSEAL(2, 2), MUNMAP(1, 3)),
		HCN(NEEDS_MSEAL, "sealed read-only anonymous refuses DONTNEED",
		    1, -EPERM, -1, MMAP(0, 2, R, PA | NR, -1, 0), MSEAL(0, 2),
		    MADV(0, 2, VAS_MADV_DONTNEED)),
		HCN(NEEDS_MSEAL, "sealed writable anonymous allows DONTNEED", 1,
		    0, -1, MMAP(0, 2, RW, PA | NR, -1, 0), MSEAL(0, 2),
		    MADV(0, 2, VAS_MADV_DONTNEED)),
		HCN(NEEDS_MSEAL, "mseal over a hole: ENOMEM", 2, -ENOMEM, -1,
		    MMAP(0, 2, RW, PA | NR, -1, 0),
		    MMAP(3, 2, RW, PA | NR, -1, 0), MSEAL(0, 5)),
		HC("MAP_STACK and an anonymous neighbour", st ? 2 : 1, 0, -1,
		   MMAP(0, 2, RW, PA | NR, -1, 0),
		   MMAP(2, 2, RW, PA | NR | VAS_MAP_STACK, -1, 0)),
		HC("anonymous VMA name of a part", an ? 3 : 1, an ? 0 : -EINVAL,
		   -1, MMAP(0, 6, RW, PA | NR, -1, 0), ANAME(2, 2, 1)),
		HC("anonymous VMA name with a bad character: EINVAL", 1,
		   -EINVAL, -1, MMAP(0, 2, RW, PA | NR, -1, 0), ANAME(0, 2, 3)),
		HC("fork leaves DONTFORK VMAs out", 1, 0, -1,
		   MMAP(0, 2, RW, PA | NR, -1, 0),
		   MMAP(2, 2, R, PA | NR, -1, 0), MADV(2, 2, VAS_MADV_DONTFORK),
		   FORK()),
		HC("fork gives WIPEONFORK VMAs no pages", 1, 0, -1,
		   MMAP(0, 2, RW, PA | NR, -1, 0), FAULT(0, VAS_ACCESS_WRITE),
		   MADV(0, 2, VAS_MADV_WIPEONFORK), FORK()),
		HC("fork drops mlock, the pieces stay apart", 3, 0, -1,
		   MMAP(0, 4, RW, PA | NR, -1, 0), MLOCK(1, 2, 0), FORK()),
	};
	/* The Rss each case leaves in the VMA at rss_page (-1: none). */
	const int rss[][2] = {
		{0, -1}, {0, -1}, {0, -1}, {0, -1},  {0, -1}, /* 0-4 */
		{0, -1}, {0, -1}, {0, -1}, {0, 1},   {0, 2},  /* 5-9 */
		{0, 4},	 {0, -1}, {0, 0},  {20, -1}, {0, -1}, /* 10-14 */
		{0, 1},	 {0, 0},  {0, -1}, {1, 1},   {2, 2},  /* 15-19 */
		{2, 0},	 {0, 2},  {0, 0},  {1, 0},   {0, -1}, /* 20-24 */
		{0, -1}, {0, -1}, {0, 4},  {0, 4},   {0, 2},  /* 25-29 */
		{0, -1}, {0, -1}, {0, -1}, {0, -1},  {0, -1}, /* 30-34 */
		{0, -1}, {0, -1}, {0, -1}, {0, -1},  {0, -1}, /* 35-39 */
		{0, -1}, {0, -1}, {0, -1}, {0, -1},  {0, 0},  /* 40-44 */
		{1, 2},					      /* 45 */
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	if (sizeof(rss) / sizeof(rss[0]) != n)
		die("issue16_cases: %zu Rss rows for %zu cases",
		    sizeof(rss) / sizeof(rss[0]), n);
	for (size_t i = 0; i < n; i++) {
		out[i] = cases[i];
		out[i].check_rss = rss[i][1] >= 0;
		out[i].rss_page = rss[i][0];
		out[i].expect_rss = rss[i][1];
	}
	return (int)n;
}

/*
 * MADV_POPULATE_READ / MADV_POPULATE_WRITE (madvise_populate()): every
 * errno, the Rss they leave, and the anon_vma they give (seen through
 * merging). Read populates of private anonymous memory follow the zero
 * page detection.
 */
static int populate_cases(struct hcase *out)
{
	const int z = plat.zero_page;
	const unsigned PR = VAS_MADV_POPULATE_READ,
		       PW = VAS_MADV_POPULATE_WRITE;
	const struct hcase cases[] = {
		HC("POPULATE_WRITE populates every page", 1, 0, -1,
		   MMAP(0, 4, RW, PA | NR, -1, 0), MADV(0, 4, PW)),
		HC("POPULATE_READ of private anonymous memory: the zero page",
		   1, 0, -1, MMAP(0, 4, RW, PA | NR, -1, 0), MADV(0, 4, PR)),
		/* As the read-fault platform case, by populating. */
		HC("POPULATE_READ: anon_vma only without the zero page",
		   z ? 1 : 2, 0, -1, MMAP(0, 2, R, PA | NR, -1, 0),
		   MADV(0, 2, PR), MMAP(2, 2, RW, PA | NR, -1, 0),
		   MADV(2, 2, PR), MPROT(2, 2, R)),
		HC("POPULATE_WRITE gives an anon_vma: no three-way merge", 2, 0,
		   -1, MMAP(0, 2, RW, PA | NR, -1, 0), MADV(0, 2, PW),
		   MMAP(3, 2, RW, PA | NR, -1, 0), FAULT(3, VAS_ACCESS_WRITE),
		   MMAP(2, 1, RW, PA | NR, -1, 0)),
		HC("POPULATE_WRITE after POPULATE_READ copies the zero page", 1,
		   0, -1, MMAP(0, 4, RW, PA | NR, -1, 0), MADV(0, 4, PR),
		   MADV(1, 2, PW)),
		HC("POPULATE_WRITE over a hole: ENOMEM after the first VMA", 2,
		   -ENOMEM, -1, MMAP(0, 2, RW, PA | NR, -1, 0),
		   MMAP(3, 2, RW, PA | NR, -1, 0), MADV(0, 5, PW)),
		HC("POPULATE_READ from a hole: ENOMEM, nothing populated", 1,
		   -ENOMEM, -1, MMAP(1, 2, RW, PA | NR, -1, 0), MADV(0, 3, PR)),
		HC("POPULATE_WRITE below a growsdown stack: ENOMEM, no growth",
		   1, -ENOMEM, -1, MMAP(10, 2, RW, GD, -1, 0), MADV(9, 2, PW)),
		HC("POPULATE_READ of PROT_NONE: EINVAL", 1, -EINVAL, -1,
		   MMAP(0, 2, 0, PA | NR, -1, 0), MADV(0, 2, PR)),
		HC("POPULATE_WRITE of PROT_NONE: EINVAL", 1, -EINVAL, -1,
		   MMAP(0, 2, 0, PA | NR, -1, 0), MADV(0, 2, PW)),
		HC("POPULATE_WRITE into a read-only VMA: EINVAL after the "
		   "first",
		   2, -EINVAL, -1, MMAP(0, 2, RW, PA | NR, -1, 0),
		   MMAP(2, 2, R, PA | NR, -1, 0), MADV(0, 4, PW)),
		HC("POPULATE_READ of PROT_WRITE alone: EINVAL (no VM_READ)", 1,
		   -EINVAL, -1, MMAP(0, 2, VAS_PROT_WRITE, PA | NR, -1, 0),
		   MADV(0, 2, PR)),
		HC("POPULATE_WRITE of PROT_WRITE alone", 1, 0, -1,
		   MMAP(0, 2, VAS_PROT_WRITE, PA | NR, -1, 0), MADV(0, 2, PW)),
		HC("POPULATE_READ of PROT_EXEC alone: EINVAL (no VM_READ)", 1,
		   -EINVAL, -1, MMAP(0, 2, VAS_PROT_EXEC, PA | NR, -1, 0),
		   MADV(0, 2, PR)),
		HCN(NEEDS_GUARD, "POPULATE_WRITE stops at a guard page: EFAULT",
		    1, -EFAULT, -1, MMAP(0, 4, RW, PA | NR, -1, 0),
		    MADV(2, 1, VAS_MADV_GUARD_INSTALL), MADV(0, 4, PW)),
		HCN(NEEDS_GUARD, "POPULATE_READ stops at a guard page: EFAULT",
		    1, -EFAULT, -1, MMAP(0, 4, RW, PA | NR, -1, 0),
		    MADV(1, 1, VAS_MADV_GUARD_INSTALL), MADV(0, 4, PR)),
		HC("POPULATE_WRITE of a private file mapping", 1, 0, -1,
		   MMAP(0, 2, RW, PF | NR, 0, 0), MADV(0, 2, PW)),
		HC("POPULATE_READ of a shared file mapping", 1, 0, -1,
		   MMAP(0, 2, R, SF | NR, 0, 0), MADV(0, 2, PR)),
		HC("POPULATE_WRITE of shared anonymous memory", 1, 0, -1,
		   MMAP(0, 3, RW, SA | NR, -1, 0), MADV(0, 3, PW)),
		HC("POPULATE_WRITE of a VM_LOCKONFAULT VMA", 1, 0, -1,
		   MMAP(0, 4, RW, PA | NR, -1, 0),
		   MLOCK(0, 4, VAS_MLOCK_ONFAULT), MADV(0, 4, PW)),
		HC("POPULATE_READ with length 0 on nothing", 0, 0, -1,
		   MADV(0, 0, PR)),
		HC("POPULATE_WRITE unaligned: EINVAL", 1, -EINVAL, -1,
		   MMAP(0, 2, RW, PA | NR, -1, 0),
		   {.kind = OP_MADVISE,
		    .addr = 8,
		    .len = PG,
		    .flags = PW,
		    .file = -1}),
	};
	/* The Rss each case leaves in the VMA at rss_page (-1: none). */
	const int rss[][2] = {
		{0, 4},		{0, z ? 0 : 4},
		{0, -1},	{0, 2}, /* 0-3 */
		{0, z ? 2 : 4}, {0, 2},
		{1, 0},		{10, 0}, /* 4-7 */
		{0, 0},		{0, 0},
		{0, 2},		{0, 0}, /* 8-11 */
		{0, 2},		{0, 0},
		{0, 2},		{0, z ? 0 : 1}, /* 12-15 */
		{0, 2},		{0, 2},
		{0, 3},		{0, 4}, /* 16-19 */
		{0, -1},	{0, 0}, /* 20-21 */
	};
	size_t n = sizeof(cases) / sizeof(cases[0]);

	if (sizeof(rss) / sizeof(rss[0]) != n)
		die("populate_cases: %zu Rss rows for %zu cases",
		    sizeof(rss) / sizeof(rss[0]), n);
	for (size_t i = 0; i < n; i++) {
		out[i] = cases[i];
		out[i].needs |= NEEDS_POPULATE;
		out[i].check_rss = rss[i][1] >= 0;
		out[i].rss_page = rss[i][0];
		out[i].expect_rss = rss[i][1];
	}
	return (int)n;
}

/* ------------------------------------------------------------------ */
/* 2 MiB placement of file mappings                                     */

/* Mappings of the file placement check: length, offset. */
static const uint64_t thp_maps[][2] = {
	{0x209f18, 0},		      /* a real cc1: covers [0, 2 MiB) */
	{3 * PMD, 0x3000},	      /* covers [2 MiB, 4 MiB) */
	{PMD, 0x1000},		      /* no whole aligned 2 MiB: never moved */
	{PMD + 0x5000, PMD - 0x1000}, /* covers [2 MiB, 4 MiB) */
};
#define NR_THP_MAPS (sizeof(thp_maps) / sizeof(thp_maps[0]))

/* __thp_get_unmapped_area()'s condition, as the test reads it. */
static bool thp_qualifies(uint64_t len, uint64_t off)
{
	uint64_t end = off + ((len + PG - 1) & ~(PG - 1));
	uint64_t al = (off + PMD - 1) & ~(PMD - 1);

	return end > al && end - al >= PMD;
}

/*
 * Congruence with the offset (bit i) of each mapping placed by the
 * kernel (@fd, in a throwaway child) or the simulator (fresh space), and
 * (bit 8) whether a hint free for the length but not for the length plus
 * 2 MiB was taken.
 */
static unsigned thp_run_kernel(int fd)
{
	int pfd[2];
	unsigned r = 0;
	pid_t pid;

	if (pipe(pfd))
		die("pipe");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *w = (char *)(uintptr_t)win;
		const uint64_t len = PMD + 9 * PG;
		void *m;

		close(pfd[0]);
		for (size_t i = 0; i < NR_THP_MAPS; i++) {
			m = mmap(NULL, thp_maps[i][0], PROT_READ, MAP_PRIVATE,
				 fd, (off_t)thp_maps[i][1]);
			if (m != MAP_FAILED &&
			    (uintptr_t)m % PMD == thp_maps[i][1] % PMD)
				r |= 1u << i;
		}
		if (mmap(w + len, PG, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0) == w + len &&
		    mmap(w, len, PROT_READ, MAP_PRIVATE, fd, 0) == w)
			r |= 1u << 8;
		full_write(pfd[1], &r, sizeof(r));
		_exit(0);
	}
	close(pfd[1]);
	if (!full_read(pfd[0], &r, sizeof(r)))
		die("file placement probe failed");
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	return r;
}

static unsigned thp_run_sim(int thp_align)
{
	const uint64_t len = PMD + 9 * PG;
	struct vas *v;
	unsigned r = 0;
	uint64_t a;

	if (vas_new(NULL, &v))
		die("vas_new");
	for (size_t i = 0; i < NR_THP_MAPS; i++) {
		struct vas_mmap_args m = {
			.length = thp_maps[i][0],
			.offset = thp_maps[i][1],
			.prot = VAS_PROT_READ,
			.flags = VAS_MAP_PRIVATE,
			.file = "/f",
			.thp_align = thp_align,
		};

		if (!vas_mmap_ex(v, &m, &a) && a % PMD == thp_maps[i][1] % PMD)
			r |= 1u << i;
	}
	{
		struct vas_mmap_args m = {
			.addr = win,
			.length = len,
			.prot = VAS_PROT_READ,
			.flags = VAS_MAP_PRIVATE,
			.file = "/f",
			.thp_align = thp_align,
		};

		if (!vas_mmap(v, win + len, PG, VAS_PROT_READ,
			      VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS |
				      VAS_MAP_FIXED_NOREPLACE,
			      NULL, 0, &a) &&
		    !vas_mmap_ex(v, &m, &a) && a == win)
			r |= 1u << 8;
	}
	vas_free(v);
	return r;
}

/*
 * File mappings placed by the kernel, outside the window, on the test
 * files' filesystem and on a file in the current directory (where
 * filesystems that align, such as ext4, live in CI): the mappings that
 * cover an aligned 2 MiB of the file must be congruent to their offset
 * exactly where the detection found the filesystem aligns, on both
 * sides, and a hint that leaves no room for the padding is not taken.
 */
static int file_thp_case(void)
{
	int fails = 0;

	for (int which = 0; which < 2; which++) {
		int align = which ? plat.thp_file_cwd : plat.files_thp;
		char path[64];
		unsigned k, s, want = 0;
		int fd = test_fds[0];

		if (align < 0) {
			printf("not run on this platform: 2 MiB placement of "
			       "a file in the current directory\n");
			continue;
		}
		if (which) {
			snprintf(path, sizeof(path), "vmad-diff-thp.%d",
				 (int)getpid());
			fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
			if (fd < 0 || ftruncate(fd, 4 * PMD))
				die("create %s: %s", path, strerror(errno));
		}
		k = thp_run_kernel(fd);
		if (which) {
			close(fd);
			unlink(path);
		}
		s = kernel_only ? k : thp_run_sim(align);
		for (size_t i = 0; i < NR_THP_MAPS; i++)
			if (align &&
			    thp_qualifies(thp_maps[i][0], thp_maps[i][1]))
				want |= 1u << i;
		if (!align)
			want |= 1u << 8; /* the hint is taken */
		/* Mappings that do not qualify may land anywhere. */
		for (size_t i = 0; i < NR_THP_MAPS; i++)
			if (!(want & 1u << i) &&
			    !thp_qualifies(thp_maps[i][0], thp_maps[i][1]))
				k &= ~(1u << i), s &= ~(1u << i);
		if (!align)
			k &= 1u << 8, s &= 1u << 8;
		if (k != want || s != want) {
			fprintf(stderr,
				"FAIL 2 MiB file placement (%s, aligning %s): "
				"kernel %#x, simulator %#x, expected %#x\n",
				which ? "current directory" : "test files",
				align ? "yes" : "no", k, s, want);
			fails++;
		} else {
			printf("ok   2 MiB file placement (%s, aligning %s)\n",
			       which ? "current directory" : "test files",
			       align ? "yes" : "no");
		}
	}
	return fails;
}

/* ------------------------------------------------------------------ */
/* max_map_count                                                        */

/*
 * Measure the kernel at its real limit, in a throwaway child: how many
 * VMAs it holds when mmap first fails (relative to max_map_count), and
 * whether a split (munmap of the middle, mprotect of the middle) is
 * refused at that count. Single-page mappings with alternating
 * protections, placed by the kernel (outside the window), never merge.
 */
struct mmc_probe {
	long delta;	  /* VMAs when mmap fails, minus max_map_count */
	int split_munmap; /* errno of munmap of a middle page then */
	int split_mprot;  /* errno of mprotect of a middle page then */
	int ok;
};

static long count_vmas(void)
{
	static char buf[8 << 20];
	size_t len = 0;
	long n = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			break;
		len += r;
	}
	close(fd);
	buf[len] = 0;
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		n++;
	if (strstr(buf, "[vsyscall]"))
		n--; /* the gate area is not a VMA of the mm */
	return n;
}

static void probe_kernel_map_count(long max, struct mmc_probe *res)
{
	int pfd[2];
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (pipe(pfd))
		die("pipe");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct mmc_probe r = {0};
		char *three = mmap(NULL, 3 * PG, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		long i;

		close(pfd[0]);
		for (i = 0; i < 2 * max; i++) {
			void *p =
				mmap(NULL, PG, (i & 1) ? PROT_READ : PROT_NONE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				break;
		}
		r.delta = count_vmas() - max;
		r.split_munmap = munmap(three + PG, PG) ? -errno : 0;
		r.split_mprot =
			mprotect(three + PG, PG, PROT_NONE) ? -errno : 0;
		r.ok = three != MAP_FAILED && i < 2 * max;
		full_write(pfd[1], &r, sizeof(r));
		_exit(0);
	}
	close(pfd[1]);
	if (!full_read(pfd[0], res, sizeof(*res)))
		res->ok = 0;
	close(pfd[0]);
	waitpid(pid, NULL, 0);
}

#define SIM_MMC 16

static int map_count_case(void)
{
	struct mmc_probe kp;
	struct vas_layout lay;
	struct vas_stats st;
	struct vas *vas;
	uint64_t out, a = win, three;
	long max = 0, n;
	int err, fails = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (!f || fscanf(f, "%ld", &max) != 1)
		die("cannot read vm.max_map_count");
	fclose(f);
	probe_kernel_map_count(max, &kp);
	if (!kp.ok)
		die("max_map_count probe of the kernel failed");
	printf("kernel at max_map_count %ld: mmap fails at max%+ld VMAs, split "
	       "by munmap %s, by mprotect %s\n",
	       max, kp.delta, vma_errno_name(kp.split_munmap),
	       vma_errno_name(kp.split_mprot));

	vas_layout_default(&lay);
	lay.max_map_count = SIM_MMC;
	err = vas_new(&lay, &vas);
	if (err)
		die("vas_new: %s", vma_strerror(err));
	/* A three-page VMA to split later, then single pages. */
	err = vas_mmap(vas, a, 3 * PG, VAS_PROT_READ, PA | NR, NULL, 0, &out);
	three = a;
	a += 4 * PG;
	for (n = 0; !err && n < 4 * SIM_MMC; n++) {
		err = vas_mmap(vas, a, PG,
			       (n & 1) ? VAS_PROT_READ : VAS_PROT_WRITE,
			       PA | NR, NULL, 0, &out);
		a += 2 * PG;
	}
	vas_stats(vas, &st);
	if (err != -ENOMEM) {
		fprintf(stderr,
			"FAIL max_map_count: mmap over the limit returned %s, "
			"expected ENOMEM\n",
			vma_errno_name(err));
		fails++;
	}
	if ((long)st.nr_vmas != SIM_MMC + kp.delta) {
		fprintf(stderr,
			"FAIL max_map_count %d: mmap failed at %" PRIu64
			" VMAs, the kernel fails at max%+ld\n",
			SIM_MMC, st.nr_vmas, kp.delta);
		fails++;
	}
	err = vas_munmap(vas, three + PG, PG);
	if (err != kp.split_munmap) {
		fprintf(stderr,
			"FAIL max_map_count: munmap split at the limit "
			"returned %s, the kernel %s\n",
			vma_errno_name(err), vma_errno_name(kp.split_munmap));
		fails++;
	}
	if (!err)
		goto out; /* the layout changed; skip the rest */
	err = vas_mprotect(vas, three + PG, PG, 0);
	if (err != kp.split_mprot) {
		fprintf(stderr,
			"FAIL max_map_count: mprotect split at the limit "
			"returned %s, the kernel %s\n",
			vma_errno_name(err), vma_errno_name(kp.split_mprot));
		fails++;
	}
	/* Removing a whole VMA never needs a new one. */
	err = vas_munmap(vas, win + 4 * PG, PG);
	if (err) {
		fprintf(stderr,
			"FAIL max_map_count: munmap of a whole VMA at the "
			"limit returned %s\n",
			vma_errno_name(err));
		fails++;
	}
	/* Below the limit again, the split is allowed (count - 1 < max). */
	vas_stats(vas, &st);
	while ((long)st.nr_vmas >= SIM_MMC) {
		err = vas_munmap(vas, a - 2 * PG, PG);
		a -= 2 * PG;
		vas_stats(vas, &st);
		if (err)
			break;
	}
	err = vas_munmap(vas, three + PG, PG);
	if (err) {
		fprintf(stderr,
			"FAIL max_map_count: munmap split below the limit "
			"returned %s\n",
			vma_errno_name(err));
		fails++;
	}
out:
	vas_free(vas);
	if (!fails)
		printf("ok   max_map_count (simulator, limit %d)\n", SIM_MMC);
	return fails;
}

/* ------------------------------------------------------------------ */
/* Setup                                                                */

static uint64_t read_guard_gap(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/cmdline", "r");
	uint64_t g = VAS_DEFAULT_STACK_GUARD_GAP;
	char *p;

	if (!f)
		return g;
	if (fgets(buf, sizeof(buf), f) && (p = strstr(buf, "stack_guard_gap=")))
		g = strtoull(p + strlen("stack_guard_gap="), NULL, 0);
	fclose(f);
	return g;
}

/* Pick a window with 1 GiB of free space on both sides. */
static void pick_window(void)
{
	static char buf[MAPS_BUF];
	const uint64_t margin = 1ULL << 30;
	size_t len = 0;
	int fd = open("/proc/self/maps", O_RDONLY);

	if (fd < 0)
		die("open maps");
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			break;
		len += r;
	}
	close(fd);
	buf[len] = 0;
	for (size_t i = 0;
	     i < sizeof(window_candidates) / sizeof(window_candidates[0]);
	     i++) {
		uint64_t lo = window_candidates[i] - margin;
		uint64_t hi = window_candidates[i] + WINDOW_SIZE + margin;
		bool clash = false;

		for (char *l = buf; l && *l;) {
			unsigned long long a, b;

			if (sscanf(l, "%llx-%llx", &a, &b) == 2 && b > lo &&
			    a < hi)
				clash = true;
			l = strchr(l, '\n');
			if (l)
				l++;
		}
		if (!clash) {
			win = window_candidates[i];
			return;
		}
	}
	die("no free window for the test");
}

static void make_files(void)
{
	const char *base = getenv("TMPDIR");
	char tmpl[PATH_MAX], real[PATH_MAX];
	struct statfs sf;

	/* tmpfs has no readahead: file Rss then follows the faults. */
	if ((!base || !*base) && !statfs("/dev/shm", &sf) &&
	    sf.f_type == TMPFS_MAGIC_NR && !access("/dev/shm", W_OK))
		base = "/dev/shm";
	snprintf(tmpl, sizeof(tmpl), "%s/vmad-diff.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl))
		die("mkdtemp %s: %s", tmpl, strerror(errno));
	plat.files_tmpfs = !statfs(tmpl, &sf) && sf.f_type == TMPFS_MAGIC_NR;
	if (!realpath(tmpl, real))
		die("realpath");
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	for (int i = 0; i < NR_FILES; i++) {
		int n = snprintf(test_files[i], sizeof(test_files[i]),
				 "%s/file%d", tmpdir, i);

		if (n >= VAS_FILE_MAX)
			die("temporary path too long for the simulator");
		test_fds[i] =
			open(test_files[i], O_RDWR | O_CREAT | O_EXCL, 0600);
		if (test_fds[i] < 0 || ftruncate(test_fds[i], FILE_SIZE))
			die("create %s: %s", test_files[i], strerror(errno));
	}
}

/*
 * Empty the files' page cache (truncate, then extend again) so that each
 * sequence starts with no file page cached: on tmpfs, fault-around then
 * maps only pages this sequence faulted.
 */
static void reset_files(void)
{
	for (int i = 0; i < NR_FILES; i++)
		if (ftruncate(test_fds[i], 0) ||
		    ftruncate(test_fds[i], FILE_SIZE))
			die("truncate %s: %s", test_files[i], strerror(errno));
}

static void remove_files(void)
{
	for (int i = 0; i < NR_FILES; i++) {
		close(test_fds[i]);
		unlink(test_files[i]);
	}
	rmdir(tmpdir);
}

/* Do two read-faulted adjacent private anonymous mappings merge? */
static bool detect_zero_page(void)
{
	int pfd[2];
	pid_t pid;
	char merged = 0;

	if (pipe(pfd))
		die("pipe");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *a = (char *)(uintptr_t)win;
		void *p =
			mmap(a, PG, PROT_READ,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0);
		void *q =
			mmap(a + PG, PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0);
		char m = 'e';

		close(pfd[0]);
		if (p == a && q == a + PG) {
			(void)*(volatile char *)a;
			(void)*(volatile char *)(a + PG);
			if (!mprotect(a + PG, PG, PROT_READ)) {
				child_window_maps();
				m = strchr(child_out, '\n') ==
						    strrchr(child_out, '\n')
					    ? 'y'
					    : 'n';
			}
		}
		full_write(pfd[1], &m, 1);
		_exit(0);
	}
	close(pfd[1]);
	if (!full_read(pfd[0], &merged, 1) || merged == 'e')
		die("zero-page probe failed");
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	return merged == 'y';
}

static void child_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = child_handler;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

struct plat_probe {
	bool thp_disabled, exec_maps_page, nx, exec_only_unreadable, pkeys;
	int brk_err;
	bool mseal, guard, maybe_guard, madv_hugepage, ksm, anon_name;
	bool map_stack_nh, memlock, files_thp, populate;
	int thp_file_cwd;
	char ok;
};

/* Does the raw VmFlags line of the VMA at @addr hold @code? */
static bool probe_vmflag(uint64_t addr, const char *code)
{
	char key[32], *p, *v, *e;

	child_read_file("/proc/self/smaps", child_smaps, sizeof(child_smaps));
	snprintf(key, sizeof(key), "%" PRIx64 "-", addr);
	p = strstr(child_smaps, key);
	if (!p || !(v = strstr(p, "VmFlags:")))
		return false;
	e = strchr(v, '\n');
	if (e)
		*e = 0;
	return strstr(v, code) != NULL;
}

/*
 * Does the filesystem of @fd place large file mappings 2 MiB-aligned
 * (thp_get_unmapped_area())? Three mappings of 2 MiB + 36 KiB at offset
 * 0, placed by the kernel: all aligned if it does; one below the other,
 * at most one aligned, if it does not.
 */
static bool probe_file_thp(int fd)
{
	const size_t len = PMD + 9 * PG;
	void *m[3];
	int aligned = 0;

	for (int i = 0; i < 3; i++) {
		m[i] = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		aligned += m[i] != MAP_FAILED && !((uintptr_t)m[i] % PMD);
	}
	for (int i = 0; i < 3; i++)
		if (m[i] != MAP_FAILED)
			munmap(m[i], len);
	return aligned == 3;
}

/*
 * In a throwaway child: does a fetch from a page not present map it
 * (mincore() after the SIGSEGV), does a fetch from a present non-exec
 * page fault (NX), can a PROT_EXEC-only page be read (no pkeys), can
 * start_brk move into the window, does PR_SET_THP_DISABLE work?
 */
static void probe_child(struct plat_probe *r)
{
	const struct op exec0 = {.kind = OP_FAULT,
				 .addr = 16,
				 .access = VAS_ACCESS_EXEC,
				 .file = -1};
	const struct op read2 = {.kind = OP_FAULT,
				 .addr = 2 * PG + 16,
				 .access = VAS_ACCESS_READ,
				 .file = -1};
	const int nr = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
	char *w = (char *)(uintptr_t)win;
	struct outcome o = {0};
	unsigned char vec = 0;
	long k = -1;

	child_signals();
	r->thp_disabled = !prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	if (mmap(w, PG, PROT_READ | PROT_WRITE, nr, -1, 0) != w ||
	    mmap(w + 2 * PG, PG, PROT_EXEC, nr, -1, 0) != w + 2 * PG)
		return;
	child_fault(&exec0, &o);
	r->exec_maps_page = o.fstatus == 1 && o.fcode == VAS_SEGV_ACCERR &&
			    !mincore(w, PG, &vec) && (vec & 1);
	memset(&o, 0, sizeof(o));
	child_fault(&exec0, &o);
	r->nx = o.fstatus == 1 && o.fcode == VAS_SEGV_ACCERR;
	memset(&o, 0, sizeof(o));
	child_fault(&read2, &o);
	r->exec_only_unreadable = o.fstatus != 0;
#ifdef SYS_pkey_alloc
	k = syscall(SYS_pkey_alloc, 0, 0);
#endif
	r->pkeys = k >= 0;
	r->brk_err = child_brk_into_window();
	if (!r->brk_err &&
	    (uint64_t)syscall(SYS_brk, win + BRK_START + 2 * PG) !=
		    win + BRK_START + 2 * PG)
		r->brk_err = -ENOMEM;
	if (!r->brk_err) {
		child_window_maps();
		if (!strstr(child_out, "[heap]"))
			r->brk_err = -ENOENT;
	}
	/* The calls of issue 16, on pages of their own. */
	if (mmap(w + 4 * PG, 5 * PG, PROT_READ | PROT_WRITE, nr, -1, 0) ==
	    w + 4 * PG) {
		r->mseal = !syscall(SYS_mseal, w + 4 * PG, 0, 0);
		r->madv_hugepage = !madvise(w + 4 * PG, PG, MADV_HUGEPAGE);
		r->ksm = !madvise(w + 6 * PG, PG, MADV_MERGEABLE);
		r->guard = !madvise(w + 8 * PG, PG, VAS_MADV_GUARD_INSTALL);
		r->populate = !madvise(w + 7 * PG, PG, VAS_MADV_POPULATE_READ);
		r->anon_name = !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME,
				      win + 4 * PG, PG, (unsigned long)"p");
	}
	if (r->guard && mmap(w + 10 * PG, PG, PROT_READ | PROT_WRITE, nr, -1,
			     0) == w + 10 * PG)
		r->maybe_guard =
			!madvise(w + 10 * PG, PG, VAS_MADV_GUARD_INSTALL) &&
			probe_vmflag(win + 10 * PG, " gu");
	if (mmap(w + 12 * PG, PG, PROT_READ | PROT_WRITE, nr | MAP_STACK, -1,
		 0) == w + 12 * PG)
		r->map_stack_nh = probe_vmflag(win + 12 * PG, " nh");
	r->files_thp = probe_file_thp(test_fds[0]);
	r->thp_file_cwd = -1;
	{
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "vmad-diff-thp.%d", (int)getpid());
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			if (!ftruncate(fd, 4 * PMD))
				r->thp_file_cwd = probe_file_thp(fd);
			close(fd);
			unlink(path);
		}
	}
	/* Last: RLIMIT_MEMLOCK binds once CAP_IPC_LOCK is dropped. */
	if (!child_memlock_limit() &&
	    mmap(w + 16 * PG, MEMLOCK_SET + PG, PROT_READ | PROT_WRITE, nr, -1,
		 0) == w + 16 * PG)
		r->memlock =
			syscall(SYS_mlock, win + 16 * PG, MEMLOCK_SET + PG) &&
			errno == ENOMEM;
	r->ok = 'y';
}

static void probe_platform(void)
{
	struct plat_probe r = {0};
	int pfd[2];
	pid_t pid;
	FILE *f;

	plat.zero_page = detect_zero_page();
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	snprintf(plat.thp, sizeof(plat.thp), "not configured");
	if (f) {
		if (!fgets(plat.thp, sizeof(plat.thp), f))
			snprintf(plat.thp, sizeof(plat.thp), "unreadable");
		plat.thp[strcspn(plat.thp, "\n")] = 0;
		fclose(f);
	}
	if (pipe(pfd))
		die("pipe");
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		probe_child(&r);
		full_write(pfd[1], &r, sizeof(r));
		_exit(0);
	}
	close(pfd[1]);
	if (!full_read(pfd[0], &r, sizeof(r)) || r.ok != 'y')
		die("platform probe failed");
	close(pfd[0]);
	waitpid(pid, NULL, 0);
	plat.thp_disabled = r.thp_disabled;
	plat.exec_maps_page = r.exec_maps_page;
	plat.nx = r.nx;
	plat.exec_only_unreadable = r.exec_only_unreadable;
	plat.pkeys = r.pkeys;
	plat.brk_err = r.brk_err;
	plat.mseal = r.mseal;
	plat.guard = r.guard;
	plat.populate = r.populate;
	plat.maybe_guard = r.maybe_guard;
	plat.madv_hugepage = r.madv_hugepage;
	plat.ksm = r.ksm;
	plat.anon_name = r.anon_name;
	plat.map_stack_nh = r.map_stack_nh;
	plat.memlock = r.memlock;
	plat.files_thp = r.files_thp;
	plat.thp_file_cwd = r.thp_file_cwd;
}

/* Say what was found, and what the comparison does about it. */
static void print_platform(void)
{
	long overcommit = -1, min_addr = -1;
	FILE *f;

	printf("platform (detected; the comparison follows it):\n");
	printf("  zero page: %s\n",
	       plat.zero_page ? "yes (upstream: read faults of private "
				"anonymous memory map it)"
			      : "no (read faults allocate a page and an "
				"anon_vma; simulated with no_zero_page)");
	printf("  exec fetch from a page not present: %s\n",
	       plat.exec_maps_page
		       ? "handled as a read, then SEGV_ACCERR (x86 "
			 "access_error())"
		       : "does not map the page (exec faults on accessible "
			 "non-exec VMAs not run)");
	printf("  NX: %s\n", plat.nx ? "yes"
				     : "no (fetches from readable pages run; "
				       "exec faults on non-exec VMAs not run)");
	printf("  pkeys: %s; PROT_EXEC-only mappings: %s\n",
	       plat.pkeys ? "yes" : "no",
	       plat.exec_only_unreadable ? "execute-only (reads fault: not run)"
					 : "readable");
	printf("  THP: %s; %s\n", plat.thp,
	       plat.thp_disabled ? "off in the test child (PR_SET_THP_DISABLE)"
				 : "PR_SET_THP_DISABLE failed");
	if (plat.brk_err)
		printf("  brk: not compared (moving start_brk into the window "
		       "failed: %s)\n",
		       vma_errno_name(plat.brk_err));
	else
		printf("  brk: start_brk at W+%#llx (PR_SET_MM_MAP)\n",
		       (unsigned long long)BRK_START);
	/*
	 * Not modelled, shown so that a refusal they cause is explained:
	 * strict overcommit can fail a mapping the simulator makes, and
	 * mmap_min_addr decides what low_hint_case() can ask.
	 */
	if ((f = fopen("/proc/sys/vm/overcommit_memory", "r"))) {
		if (fscanf(f, "%ld", &overcommit) != 1)
			overcommit = -1;
		fclose(f);
	}
	if ((f = fopen("/proc/sys/vm/mmap_min_addr", "r"))) {
		if (fscanf(f, "%ld", &min_addr) != 1)
			min_addr = -1;
		fclose(f);
	}
	printf("  vm.overcommit_memory: %ld%s; vm.mmap_min_addr: %ld "
	       "(the simulator's: 65536)\n",
	       overcommit,
	       overcommit == 2 ? " (strict: a mapping the kernel refuses "
				 "for want of commit charge is a mismatch "
				 "the simulator does not model)"
			       : "",
	       min_addr);
	printf("  mseal: %s; guard regions: %s%s; anonymous VMA names: %s\n",
	       plat.mseal ? "yes" : "no (not run)",
	       plat.guard ? "yes" : "no (not run)",
	       plat.maybe_guard ? ", VM_MAYBE_GUARD (gu)" : "",
	       plat.anon_name ? "yes"
			      : "no (CONFIG_ANON_VMA_NAME off: EINVAL, "
				"simulated so)");
	printf("  MADV_POPULATE_READ/WRITE: %s\n",
	       plat.populate ? "yes" : "no (older than 5.14: not run)");
	printf("  MADV_HUGEPAGE: %s; KSM: %s; MAP_STACK sets VM_NOHUGEPAGE: "
	       "%s\n",
	       plat.madv_hugepage ? "yes" : "no (simulated with no_thp)",
	       plat.ksm ? "yes" : "no (simulated with no_ksm)",
	       plat.map_stack_nh ? "yes" : "no (older than 6.7: simulated so)");
	if (sanitizer_build)
		printf("  sanitizer build: mlockall() not run (it would lock "
		       "the sanitizer's shadow memory)\n");
	printf("  RLIMIT_MEMLOCK: %s\n",
	       plat.memlock ? "binds the child (CAP_IPC_LOCK dropped), "
			      "96 pages"
			    : "does not bind (simulated unlimited)");
	printf("  2 MiB file placement (thp_get_unmapped_area): test files "
	       "%s; a file in the current directory %s\n",
	       plat.files_thp ? "yes" : "no",
	       plat.thp_file_cwd < 0 ? "not probed"
	       : plat.thp_file_cwd   ? "yes"
				     : "no");
	printf("  files: %s (%s)\n", tmpdir,
	       plat.files_tmpfs ? "tmpfs: Rss of file VMAs exact in hand "
				  "cases, at least the simulator's in random "
				  "ones (fault-around)"
				: "not tmpfs: Rss of file VMAs compared as at "
				  "least the simulator's (readahead, "
				  "fault-around)");
}

/*
 * mremap(MREMAP_MAYMOVE | MREMAP_DONTUNMAP) with a free hint below
 * mmap_min_addr: x86's top-down allocator returns the hint without
 * comparing it with mmap_min_addr and mremap() does not raise it as
 * mmap() does, so security_mmap_addr() refuses it with EPERM for a task
 * without CAP_SYS_RAWIO. The kernel can be asked only where a page lies
 * below mmap_min_addr other than page 0 (0 is "no hint"), with
 * CAP_SYS_RAWIO dropped in a throwaway child; the simulator (mmap_min_addr
 * 65536) is asked with the same hint either way.
 * Return: the number of failures.
 */
static int low_hint_case(void)
{
	const uint64_t hint = PG;
	long min_addr = 0;
	int kerr = 1, serr, pfd[2], fails = 0;
	struct vas *vas;
	uint64_t out;
	pid_t pid;
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");

	if (!f || fscanf(f, "%ld", &min_addr) != 1)
		die("cannot read vm.mmap_min_addr");
	fclose(f);
	if ((uint64_t)min_addr > hint) {
		if (pipe(pfd))
			die("pipe");
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			struct {
				uint32_t version;
				int pid;
			} hdr = {0x20080522,
				 0}; /* _LINUX_CAPABILITY_VERSION_3 */
			struct {
				uint32_t effective, permitted, inheritable;
			} data[2];
			void *w = (void *)(uintptr_t)win, *r;
			int e = -EIO;

			close(pfd[0]);
			if (!syscall(SYS_capget, &hdr, data)) {
				data[0].effective &= ~(1u << 17); /* RAWIO */
				if (syscall(SYS_capset, &hdr, data))
					e = -EPERM - 1000;
			}
			if (e == -EIO && mmap(w, PG, PROT_READ | PROT_WRITE,
					      MAP_PRIVATE | MAP_ANONYMOUS |
						      MAP_FIXED_NOREPLACE,
					      -1, 0) == w) {
				r = mremap(w, PG, PG,
					   MREMAP_MAYMOVE | MREMAP_DONTUNMAP,
					   (void *)(uintptr_t)hint);
				e = r == MAP_FAILED ? -errno : 0;
			}
			full_write(pfd[1], &e, sizeof(e));
			_exit(0);
		}
		close(pfd[1]);
		if (!full_read(pfd[0], &kerr, sizeof(kerr)))
			die("low-hint probe failed");
		close(pfd[0]);
		waitpid(pid, NULL, 0);
		if (kerr == -EIO || kerr == -EPERM - 1000)
			die("low-hint probe could not set up (%d)", kerr);
	}
	if (vas_new(NULL, &vas))
		die("vas_new");
	serr = vas_mmap(vas, win, PG, VAS_PROT_READ | VAS_PROT_WRITE, PA | NR,
			NULL, 0, &out);
	if (!serr)
		serr = vas_mremap(vas, win, PG, PG,
				  VAS_MREMAP_MAYMOVE | VAS_MREMAP_DONTUNMAP,
				  hint, &out);
	vas_free(vas);
	if (serr != -EPERM) {
		fprintf(stderr,
			"FAIL mremap DONTUNMAP hint below mmap_min_addr: "
			"simulator %s, expected EPERM\n",
			vma_errno_name(serr));
		fails++;
	}
	if (kerr == 1) {
		printf("ok   mremap DONTUNMAP hint below mmap_min_addr "
		       "(simulator EPERM; the kernel cannot be asked: "
		       "mmap_min_addr %ld leaves no page below it but 0)\n",
		       min_addr);
	} else if (kerr != serr) {
		fprintf(stderr,
			"FAIL mremap DONTUNMAP hint %#" PRIx64
			" below mmap_min_addr %ld: kernel %s, simulator %s\n",
			hint, min_addr, vma_errno_name(kerr),
			vma_errno_name(serr));
		fails++;
	} else if (!fails) {
		printf("ok   mremap DONTUNMAP hint below mmap_min_addr "
		       "(kernel and simulator EPERM; mmap_min_addr %ld)\n",
		       min_addr);
	}
	return fails;
}

/* ------------------------------------------------------------------ */
/* madvise on the special mappings                                      */

/*
 * The kernel's special mappings ([vvar], [vvar_vclock], [vdso]:
 * _install_special_mapping()) are those of this process, as its smaps
 * shows them (their VmFlags say which are VM_PFNMAP, VM_DONTDUMP or
 * sealed). Each case runs in a fresh child of this process, which moves
 * them (whole, with mremap(): special_mapping_mremap()) into the window
 * at W+SPECIAL_AT, between two anonymous VMAs of SPECIAL_ANON written
 * pages; the simulator imports the same layout (vas_import(), as
 * space.import does) and writes the same pages. Both then get the one
 * madvise() call; its answer, and the lines of the layout (start, end,
 * perms, name, VmFlags the simulator models, the Rss of the anonymous
 * VMAs), are compared. Sealed mappings (CONFIG_MSEAL_SYSTEM_MAPPINGS)
 * cannot move: they are advised where they are, without neighbours.
 */
#define SPECIAL_AT   (32ULL << 20)
#define SPECIAL_ANON 4ULL
#define MAX_SPECIAL  4

static struct {
	uint64_t start, end; /* in this process */
	uint64_t at;	     /* in the cases' layout */
	char name[16];
	char vmf[VAS_VMFLAGS_MAX]; /* smaps VmFlags, as read */
} specials[MAX_SPECIAL];
static int nr_special;
static bool special_moved;		/* false: sealed, advised in place */
static uint64_t special_lo, special_hi; /* the layout compared */

static bool has_code(const char *vmf, const char *code)
{
	char c[4] = {' ', code[0], code[1], 0};
	char padded[VAS_VMFLAGS_MAX + 2];

	snprintf(padded, sizeof(padded), " %s", vmf);
	return strstr(padded, c) != NULL;
}

/* This process's special mappings, from its smaps. */
static void find_specials(void)
{
	char line[1024];
	int cur = -1;
	bool sealed = false;
	uint64_t at;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		die("cannot read /proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		struct mline ml;

		line[strcspn(line, "\n")] = 0;
		if (parse_line(line, &ml)) {
			cur = -1;
			if (strcmp(ml.name, "[vvar]") &&
			    strcmp(ml.name, "[vvar_vclock]") &&
			    strcmp(ml.name, "[vdso]"))
				continue;
			if (nr_special == MAX_SPECIAL)
				die("too many special mappings");
			cur = nr_special++;
			specials[cur].start = ml.start;
			specials[cur].end = ml.end;
			snprintf(specials[cur].name, sizeof(specials[cur].name),
				 "%.15s", ml.name);
		} else if (cur >= 0 && !strncmp(line, "VmFlags:", 8)) {
			snprintf(specials[cur].vmf, sizeof(specials[cur].vmf),
				 "%.95s", line + 9);
			sealed |= has_code(specials[cur].vmf, "sl");
		}
	}
	fclose(f);
	special_moved = !sealed;
	at = win + SPECIAL_AT + SPECIAL_ANON * PG;
	for (int i = 0; i < nr_special; i++) {
		specials[i].at = special_moved ? at : specials[i].start;
		at += specials[i].end - specials[i].start;
	}
	if (special_moved) {
		special_lo = win + SPECIAL_AT;
		special_hi = at + SPECIAL_ANON * PG;
	} else if (nr_special) {
		special_lo = specials[0].start;
		special_hi = specials[nr_special - 1].end;
	}
}

static bool is_special_name(const char *name)
{
	return name[0] == '[' && strcmp(name, "[heap]") &&
	       strcmp(name, "[stack]");
}

/* One line of the layout, as both sides print it. */
static size_t special_line(char *buf, size_t size, const struct mline *l,
			   const char *vmf, uint64_t rss)
{
	int n = snprintf(buf, size,
			 "  L+%06" PRIx64 "-L+%06" PRIx64 " %s %-14s %-28s",
			 l->start - special_lo, l->end - special_lo, l->perms,
			 l->name[0] ? l->name : "(anon)", vmf);

	if (!is_special_name(l->name))
		n += snprintf(buf + n, size - n, " rss %" PRIu64, rss);
	n += snprintf(buf + n, size - n, "\n");
	return (size_t)n;
}

/* The child: the layout, the call, its answer and lines to @wfd. */
static void __attribute__((noreturn))
special_child(int wfd, uint64_t start, uint64_t len, int advice)
{
	static char out[MAPS_BUF];
	char *line = child_smaps, *nl;
	size_t n = 0;
	int err = 0;
	struct mline ml = {0};
	bool in = false;

	if (special_moved) {
		void *a = (void *)(uintptr_t)special_lo;
		void *b = (void *)(uintptr_t)(special_hi - SPECIAL_ANON * PG);
		const int fl =
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;

		if (mmap(a, SPECIAL_ANON * PG, PROT_READ | PROT_WRITE, fl, -1,
			 0) != a ||
		    mmap(b, SPECIAL_ANON * PG, PROT_READ | PROT_WRITE, fl, -1,
			 0) != b)
			err = 1000 + errno;
		for (int i = 0; !err && i < nr_special; i++) {
			uint64_t sz = specials[i].end - specials[i].start;
			void *to = (void *)(uintptr_t)specials[i].at;

			if (mremap((void *)(uintptr_t)specials[i].start, sz, sz,
				   MREMAP_MAYMOVE | MREMAP_FIXED, to) != to)
				err = 2000 + errno;
		}
		for (uint64_t p = 0; !err && p < SPECIAL_ANON; p++) {
			((volatile char *)a)[p * PG] = 1;
			((volatile char *)b)[p * PG] = 1;
		}
	}
	if (!err)
		err = madvise((void *)(uintptr_t)start, len, advice) ? errno
								     : 0;
	n += snprintf(out, sizeof(out), "%d\n", err);
	child_read_file("/proc/self/smaps", child_smaps, sizeof(child_smaps));
	for (; line && *line; line = nl ? nl + 1 : NULL) {
		unsigned long long kb;

		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (parse_line(line, &ml)) {
			in = ml.end > special_lo && ml.start < special_hi;
			ml.rss = 0;
		} else if (in && sscanf(line, "Rss: %llu kB", &kb) == 1) {
			ml.rss = kb * 1024 / PG;
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			filter_vmflags(line + 8, ml.vmflags,
				       sizeof(ml.vmflags));
			if (n + 256 < sizeof(out))
				n += special_line(out + n, sizeof(out) - n, &ml,
						  ml.vmflags, ml.rss);
		}
	}
	full_write(wfd, out, n);
	_exit(0);
}

/* The kernel's answer and lines into @out. */
static void special_kernel(uint64_t start, uint64_t len, int advice, char *out,
			   size_t size)
{
	size_t n = 0;
	ssize_t r;
	int pfd[2];
	pid_t pid;

	if (pipe(pfd))
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(pfd[0]);
		special_child(pfd[1], start, len, advice);
	}
	close(pfd[1]);
	while (n < size - 1 && ((r = read(pfd[0], out + n, size - 1 - n)) > 0 ||
				(r < 0 && errno == EINTR)))
		if (r > 0)
			n += (size_t)r;
	out[n] = 0;
	close(pfd[0]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (atoi(out) >= 1000)
		die("special mappings: the child could not lay them out "
		    "(%d)",
		    atoi(out));
}

/* The simulator's answer and lines into @out. */
static void special_sim(uint64_t start, uint64_t len, int advice, char *out,
			size_t size)
{
	struct vas_import_area areas[MAX_SPECIAL + 2];
	struct vas_import imp = {
		.areas = areas,
		.brk = 0x55555555a000,
		.start_stack = 0x7fffffffe000,
	};
	struct vas_vma_info *info = NULL;
	struct vas_layout lay;
	struct vas *vas;
	size_t nr = 0, bad, n;
	int err;

	memset(areas, 0, sizeof(areas));
	fill_layout(&lay);
	lay.brk_base = 0x555555558000;
	if (special_moved)
		areas[imp.nr++] = (struct vas_import_area){
			.start = special_lo,
			.end = special_lo + SPECIAL_ANON * PG,
			.prot = VAS_PROT_READ | VAS_PROT_WRITE,
			.flags = VAS_VM_ACCOUNT,
			.kind = VAS_IMPORT_ANON,
		};
	for (int i = 0; i < nr_special; i++) {
		const char *f = specials[i].vmf;
		struct vas_import_area *a = &areas[imp.nr++];

		a->start = specials[i].at;
		a->end = a->start + specials[i].end - specials[i].start;
		a->prot = (has_code(f, "rd") ? VAS_PROT_READ : 0) |
			  (has_code(f, "wr") ? VAS_PROT_WRITE : 0) |
			  (has_code(f, "ex") ? VAS_PROT_EXEC : 0);
		a->flags = (has_code(f, "dd") ? VAS_VM_DONTDUMP : 0) |
			   (has_code(f, "sl") ? VAS_VM_SEALED : 0);
		a->kind = has_code(f, "pf") || has_code(f, "io")
				  ? VAS_IMPORT_SPECIAL_PFNMAP
				  : VAS_IMPORT_SPECIAL;
		a->name = specials[i].name;
	}
	if (special_moved)
		areas[imp.nr++] = (struct vas_import_area){
			.start = special_hi - SPECIAL_ANON * PG,
			.end = special_hi,
			.prot = VAS_PROT_READ | VAS_PROT_WRITE,
			.flags = VAS_VM_ACCOUNT,
			.kind = VAS_IMPORT_ANON,
		};
	if ((err = vas_import(&lay, &imp, &vas, &bad)))
		die("special mappings: vas_import: %s (area %zu)",
		    vma_errno_name(err), bad);
	for (uint64_t p = 0; special_moved && p < SPECIAL_ANON; p++) {
		struct vas_fault_result fr;

		if (vas_fault(vas, special_lo + p * PG, VAS_ACCESS_WRITE,
			      &fr) ||
		    vas_fault(vas, special_hi - (p + 1) * PG, VAS_ACCESS_WRITE,
			      &fr))
			die("special mappings: simulated fault failed");
	}
	err = vas_madvise(vas, start, len, advice);
	n = (size_t)snprintf(out, size, "%d\n", -err);
	if (vas_maps(vas, &info, &nr))
		die("vas_maps");
	for (size_t i = 0; i < nr; i++) {
		char line[VAS_FILE_MAX + 256], raw[VAS_VMFLAGS_MAX];
		struct mline ml;

		if (info[i].end <= special_lo || info[i].start >= special_hi)
			continue;
		vas_format_maps_line(&info[i], line, sizeof(line));
		if (!parse_line(line, &ml))
			die("unparsable simulator line: %s", line);
		vas_format_vmflags(&info[i], raw, sizeof(raw));
		filter_vmflags(raw, ml.vmflags, sizeof(ml.vmflags));
		if (n + 256 < size)
			n += special_line(out + n, size - n, &ml, ml.vmflags,
					  info[i].rss_pages);
	}
	vma_free(info);
	vas_free(vas);
}

static int special_cases(void)
{
	static const int advs[] = {
		VAS_MADV_NORMAL,	  VAS_MADV_RANDOM,
		VAS_MADV_SEQUENTIAL,	  VAS_MADV_WILLNEED,
		VAS_MADV_DONTNEED,	  VAS_MADV_FREE,
		VAS_MADV_REMOVE,	  VAS_MADV_DONTFORK,
		VAS_MADV_DOFORK,	  VAS_MADV_MERGEABLE,
		VAS_MADV_UNMERGEABLE,	  VAS_MADV_HUGEPAGE,
		VAS_MADV_NOHUGEPAGE,	  VAS_MADV_DONTDUMP,
		VAS_MADV_DODUMP,	  VAS_MADV_WIPEONFORK,
		VAS_MADV_KEEPONFORK,	  VAS_MADV_COLD,
		VAS_MADV_POPULATE_READ,	  VAS_MADV_POPULATE_WRITE,
		VAS_MADV_DONTNEED_LOCKED, VAS_MADV_GUARD_INSTALL,
		VAS_MADV_GUARD_REMOVE,
	};
	static char k[MAPS_BUF], s[MAPS_BUF];
	struct {
		uint64_t start, len;
		char what[64];
	} ranges[3 * MAX_SPECIAL + 3];
	int nr = 0, cases = 0, fails = 0, refused = 0, skipped = 0;

	find_specials();
	printf("special mappings:");
	for (int i = 0; i < nr_special; i++)
		printf(" %s %" PRIu64 " pages (%s)", specials[i].name,
		       (uint64_t)((specials[i].end - specials[i].start) / PG),
		       specials[i].vmf);
	printf("%s\n", !nr_special     ? " none (not compared)"
		       : special_moved ? "; moved into the window"
				       : "; sealed: advised in place");
	for (int i = 0; i < nr_special; i++) {
		uint64_t sz = specials[i].end - specials[i].start;

		ranges[nr].start = specials[i].at;
		ranges[nr].len = PG;
		snprintf(ranges[nr++].what, sizeof(ranges[0].what),
			 "the first page of %s", specials[i].name);
		ranges[nr].start = specials[i].at;
		ranges[nr].len = sz;
		snprintf(ranges[nr++].what, sizeof(ranges[0].what), "all of %s",
			 specials[i].name);
	}
	if (special_moved && nr_special) {
		ranges[nr].start = special_lo + (SPECIAL_ANON - 2) * PG;
		ranges[nr].len = 3 * PG;
		snprintf(ranges[nr++].what, sizeof(ranges[0].what),
			 "anon tail and the first page of %s",
			 specials[0].name);
		ranges[nr].start = specials[nr_special - 1].at;
		ranges[nr].len = special_hi - SPECIAL_ANON * PG -
				 ranges[nr].start + 2 * PG;
		snprintf(ranges[nr++].what, sizeof(ranges[0].what),
			 "all of %s and the anon head",
			 specials[nr_special - 1].name);
		ranges[nr].start = special_lo;
		ranges[nr].len = special_hi - special_lo;
		snprintf(ranges[nr++].what, sizeof(ranges[0].what),
			 "the whole layout");
	}
	for (int r = 0; r < nr; r++) {
		for (size_t j = 0; j < sizeof(advs) / sizeof(advs[0]); j++) {
			int a = advs[j];

			if ((!plat.guard && (a == VAS_MADV_GUARD_INSTALL ||
					     a == VAS_MADV_GUARD_REMOVE)) ||
			    (!plat.populate &&
			     (a == VAS_MADV_POPULATE_READ ||
			      a == VAS_MADV_POPULATE_WRITE))) {
				skipped++;
				continue;
			}
			special_kernel(ranges[r].start, ranges[r].len, a, k,
				       sizeof(k));
			special_sim(ranges[r].start, ranges[r].len, a, s,
				    sizeof(s));
			cases++;
			refused += atoi(k) != 0;
			if (!strcmp(k, s))
				continue;
			fails++;
			fprintf(stderr,
				"FAIL madvise(%s, advice %d) (L = %#" PRIx64
				"):\n  kernel: %s\n%s  simulator: %s\n%s",
				ranges[r].what, a, special_lo,
				atoi(k) ? vma_errno_name(atoi(k)) : "0",
				strchr(k, '\n') + 1,
				atoi(s) ? vma_errno_name(atoi(s)) : "0",
				strchr(s, '\n') + 1);
		}
	}
	printf("special mappings: %d madvise cases (%d refused by the "
	       "kernel; %d not run: advice this kernel lacks), %d failed\n",
	       cases, refused, skipped, fails);
	/* Cases that all pass, or all fail, would say nothing. */
	if (nr_special && (!refused || refused == cases)) {
		fprintf(stderr,
			"FAIL special mappings: the kernel refused "
			"%d of %d cases\n",
			refused, cases);
		fails++;
	}
	return fails;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: diff_kernel [--seed N] [--first N] [--seqs N] [--ops "
		"N]\n"
		"                   [--verbose] [--max-reports N] "
		"[--no-mremap]\n"
		"                   [--no-random] [--no-hand] [--kernel-only]\n"
		"  --first N:       start at random sequence N (to rerun one)\n"
		"  --no-mremap:     leave mremap out of the random sequences\n"
		"  --kernel-only:   check the hand-written cases' "
		"expectations\n"
		"                   against the kernel alone (no simulator).\n"
		"  Environment: VMAD_DIFF_SEED, VMAD_DIFF_SEQS, "
		"VMAD_DIFF_OPS.\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct op ops[MAX_OPS];
	uint64_t seed = 1, seqs = 200, nops = 60;
	bool random_seqs = true, hand = true;
	struct rlimit rl;
	int fails = 0;
	const char *e;

	if ((e = getenv("VMAD_DIFF_SEED")))
		seed = strtoull(e, NULL, 0);
	if ((e = getenv("VMAD_DIFF_SEQS")))
		seqs = strtoull(e, NULL, 0);
	if ((e = getenv("VMAD_DIFF_OPS")))
		nops = strtoull(e, NULL, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seqs") && i + 1 < argc)
			seqs = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--ops") && i + 1 < argc)
			nops = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--max-reports") && i + 1 < argc)
			max_reports = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--first") && i + 1 < argc)
			first_seq = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--no-mremap"))
			no_mremap = true;
		else if (!strcmp(argv[i], "--verbose"))
			verbose = true;
		else if (!strcmp(argv[i], "--no-random"))
			random_seqs = false;
		else if (!strcmp(argv[i], "--no-hand"))
			hand = false;
		else if (!strcmp(argv[i], "--kernel-only"))
			kernel_only = true;
		else
			usage();
	}
	if (nops > MAX_OPS)
		nops = MAX_OPS;

	setvbuf(stdout, NULL, _IOLBF, 0);
	main_pid = getpid();
	urcu_memb_register_thread();
	pick_window();
	guard_gap_pages = read_guard_gap();
	getrlimit(RLIMIT_STACK, &rl);
	stack_rlimit = STACK_RLIMIT_SET;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < stack_rlimit)
		stack_rlimit = rl.rlim_max & ~(PG - 1);
	make_files();
	probe_platform();
	printf("window %#" PRIx64 "+%#llx, guard gap %" PRIu64
	       " pages, stack rlimit %" PRIu64 "\n",
	       win, WINDOW_SIZE, guard_gap_pages, stack_rlimit);
	print_platform();

	if (hand) {
		static struct hcase sc[8], pc[32], ic[64], pop[32];
		int nsc = stack_cases(sc), npc = platform_cases(pc),
		    nic = issue16_cases(ic), npop = populate_cases(pop), nh = 0,
		    hf = 0;

		for (size_t i = 0; i < sizeof(hcases) / sizeof(hcases[0]);
		     i++, nh++)
			hf += run_hcase(&hcases[i]);
		for (int i = 0; i < nsc; i++, nh++)
			hf += run_hcase(&sc[i]);
		for (int i = 0; i < npc; i++, nh++)
			hf += run_hcase(&pc[i]);
		for (int i = 0; i < nic; i++, nh++)
			hf += run_hcase(&ic[i]);
		for (int i = 0; i < npop; i++, nh++)
			hf += run_hcase(&pop[i]);
		printf("hand-written cases: %d run, %d failed\n", nh, hf);
		fails += hf;
		fails += file_thp_case();
		if (!kernel_only)
			fails += map_count_case() + low_hint_case() +
				 special_cases();
	}

	if (random_seqs && !kernel_only) {
		uint64_t rf = 0;

		for (uint64_t i = first_seq; i < first_seq + seqs; i++) {
			uint64_t s = seed * 1000003ULL + i, st = s;
			struct mismatch mm;

			if (verbose)
				fprintf(stderr,
					"sequence %" PRIu64
					" (seed state %" PRIu64 "):\n",
					i, s);
			if (run_ops(ops, (int)nops, &st, &mm, true) >= 0) {
				char title[128];

				snprintf(title, sizeof(title),
					 "random sequence %" PRIu64
					 " (rerun: --seed %" PRIu64
					 " --first %" PRIu64
					 " --seqs 1 --ops %" PRIu64
					 " --no-hand --verbose)",
					 i, seed, i, nops);
				if (rf < max_reports)
					report_failure(title, ops, (int)nops,
						       &mm);
				rf++;
			}
		}
		printf("random sequences: %" PRIu64 " x %" PRIu64
		       " ops, %" PRIu64 " failed\n",
		       seqs, nops, rf);
		printf("  ops: mmap %" PRIu64 " munmap %" PRIu64
		       " mprotect %" PRIu64 " mremap %" PRIu64 " fault %" PRIu64
		       " brk %" PRIu64 " fork %" PRIu64 " madvise %" PRIu64
		       " mlock2 %" PRIu64 " munlock %" PRIu64
		       " mlockall %" PRIu64 " munlockall %" PRIu64
		       " mseal %" PRIu64 " anon-name %" PRIu64 "\n",
		       tally.ops[OP_MMAP], tally.ops[OP_MUNMAP],
		       tally.ops[OP_MPROTECT], tally.ops[OP_MREMAP],
		       tally.ops[OP_FAULT], tally.ops[OP_BRK],
		       tally.ops[OP_FORK], tally.ops[OP_MADVISE],
		       tally.ops[OP_MLOCK], tally.ops[OP_MUNLOCK],
		       tally.ops[OP_MLOCKALL], tally.ops[OP_MUNLOCKALL],
		       tally.ops[OP_MSEAL], tally.ops[OP_ANON_NAME]);
		printf("  VmFlags compared for %" PRIu64 " VMAs (%" PRIu64
		       " with a flag of issue 16; locked %" PRIu64
		       ", sealed %" PRIu64 "); faults on guard pages %" PRIu64
		       "\n",
		       tally.vmflags_compared, tally.vmflags_new,
		       tally.locked_lines, tally.sealed_lines,
		       tally.guard_faults);
		printf("  MADV_POPULATE_READ/WRITE compared %" PRIu64
		       " (%" PRIu64 " failed with an errno)\n",
		       tally.populate, tally.populate_errors);
		printf("  compared: maps lines (start, end, perms, offset, "
		       "name), Rss of %" PRIu64 " VMAs (%" PRIu64
		       " non-zero; file VMAs above the simulator by "
		       "fault-around %" PRIu64 "), [heap] lines %" PRIu64
		       ", brk moves %" PRIu64
		       ", exec faults read first %" PRIu64
		       "; shared VMAs' Rss not compared after a SIGBUS %" PRIu64
		       "\n",
		       tally.rss_compared, tally.rss_nonzero,
		       tally.rss_file_above, tally.heap_lines, tally.brk_moved,
		       tally.exec_as_read, tally.rss_after_sigbus);
		printf("  errors %" PRIu64
		       ", outside-window placements %" PRIu64
		       ", faults ok %" PRIu64 " maperr %" PRIu64
		       " accerr %" PRIu64 ", stack expansions %" PRIu64
		       ", skipped %" PRIu64 ", sigbus %" PRIu64
		       ", max VMAs %" PRIu64 "\n",
		       tally.errors, tally.outside, tally.fault_ok,
		       tally.fault_maperr, tally.fault_accerr, tally.expansions,
		       tally.skipped, tally.sigbus, tally.max_vmas);
		fails += rf;
		/*
		 * The sequences must reach the interesting paths; a generator
		 * that never does would pass vacuously.
		 */
		if (seqs >= 50 &&
		    (!tally.expansions || !tally.fault_maperr ||
		     !tally.fault_accerr || !tally.outside ||
		     tally.max_vmas < 8 || !tally.rss_nonzero ||
		     !tally.ops[OP_FORK] || !tally.ops[OP_MADVISE] ||
		     !tally.ops[OP_MLOCK] || !tally.locked_lines ||
		     (plat.mseal && !tally.sealed_lines) ||
		     (plat.guard && !tally.guard_faults) ||
		     (plat.populate &&
		      (!tally.populate || !tally.populate_errors ||
		       tally.populate_errors == tally.populate)) ||
		     (!plat.brk_err &&
		      (!tally.heap_lines || !tally.brk_moved)) ||
		     (plat.nx && plat.exec_maps_page && !tally.exec_as_read))) {
			fprintf(stderr, "FAIL: the random sequences missed a "
					"path (see the counts above)\n");
			fails++;
		}
	}
	remove_files();
	urcu_memb_unregister_thread();
	printf("%s\n", fails ? "FAILED" : "PASSED");
	return fails ? 1 : 0;
}
