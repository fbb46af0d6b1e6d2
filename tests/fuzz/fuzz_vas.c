// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: libFuzzer target: operation sequences on an address space.
 *
 * The input is read as a program of address-space operations on a small
 * space (8 MiB, an initial stack): mmap (anonymous or file, fixed,
 * fixed_noreplace, hints, populate, noreserve, growsdown), munmap,
 * mprotect, mremap (maymove, fixed, dontunmap), brk, faults of the three
 * kinds, lookups, fork, and the calls of issue 16: madvise (every advice
 * and invalid ones), mlock/mlock2, munlock, mlockall, munlockall, mseal,
 * anonymous VMA names and mmap with MAP_STACK / MAP_LOCKED (a space with
 * a small RLIMIT_MEMLOCK). After every operation vas_validate() must pass
 * and vas_maps() must hold sorted, non-overlapping, page-aligned VMAs
 * below task_size. The first byte picks the layout (stack guard gap,
 * max_map_count, stack rlimit).
 *
 * While the input stays within what the page-array model of
 * tests/model/model.c reproduces (no growsdown mapping, no dontunmap, no
 * fork, none of the calls of issue 16 but madvise's flag advice,
 * DONTNEED, FREE, WILLNEED, POPULATE_READ and POPULATE_WRITE), every result is
 * also compared with the model: errno, returned address, fault status, and the
 * whole /proc/PID/maps text with resident page counts. After the first
 * operation outside that domain only the invariants are checked.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "model.h"
#include "vma/err.h"
#include "vma/vas.h"

uint64_t vas__file_inode(const char *name); /* libvma internal */

#define PG	  4096ULL
#define TASK_SIZE 0x800000ULL
#define MMAP_BASE (TASK_SIZE - 0x100000ULL)
#define BRK_BASE  0x100000ULL
#define MAX_VMAS  4096

struct fz {
	const uint8_t *p;
	size_t n;
	unsigned op;
	char desc[256];
	struct vas *vas;
	struct model *m; /* NULL once the input left the model's domain */
	struct vas_vma_info *b;
};

#define FAIL(fz, ...)                                                          \
	do {                                                                   \
		fprintf(stderr, "fuzz_vas: op %u: %s: ", (fz)->op,             \
			(fz)->desc);                                           \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

static unsigned rd_u8(struct fz *fz)
{
	if (!fz->n)
		return 0;
	fz->n--;
	return *fz->p++;
}

/* A number below @n from one or two input bytes. */
static uint64_t rd_n(struct fz *fz, uint64_t n)
{
	uint64_t v = rd_u8(fz);

	if (n > 256)
		v = v << 8 | rd_u8(fz);
	return n ? v % n : 0;
}

static uint64_t rd_addr(struct fz *fz, uint64_t brk)
{
	switch (rd_n(fz, 8)) {
	case 0:
		return (brk & ~(PG - 1)) + (rd_n(fz, 16) - 8) * PG;
	case 1:
		return rd_n(fz, TASK_SIZE / PG) * PG;
	case 2:
		return TASK_SIZE - rd_n(fz, 64) * PG;
	case 3:
		return rd_n(fz, TASK_SIZE / PG) * PG + rd_n(fz, PG);
	default:
		return MMAP_BASE - rd_n(fz, 96) * PG + 32 * PG;
	}
}

static uint64_t rd_len(struct fz *fz)
{
	unsigned k = rd_u8(fz);
	uint64_t len = (1 + rd_n(fz, k & 3 ? 8 : 40)) * PG;

	if ((k >> 2) % 10 == 0)
		len -= rd_n(fz, PG);
	if ((k >> 2) % 61 == 60)
		len = 0;
	if (k == 0xff)
		len = UINT64_MAX - rd_n(fz, PG);
	return len;
}

static void check_rc(struct fz *fz, int ra, int rb, uint64_t oa, uint64_t ob)
{
	if (ra != rb || (!ra && oa != ob))
		FAIL(fz, "vas %d %#" PRIx64 ", model %d %#" PRIx64, ra, oa, rb,
		     ob);
}

/* Invariants of the space, and equality with the model while it holds. */
static void check_space(struct fz *fz)
{
	struct vas_vma_info *va;
	size_t na, nb, i;
	char la[512], lb[512], msg[256];

	if (vas_validate(fz->vas, msg, sizeof(msg)))
		FAIL(fz, "vas_validate: %s", msg);
	if (vas_maps(fz->vas, &va, &na))
		FAIL(fz, "vas_maps failed");
	for (i = 0; i < na; i++) {
		if (va[i].start >= va[i].end || va[i].end > TASK_SIZE ||
		    (va[i].start | va[i].end) & (PG - 1) ||
		    (i && va[i].start < va[i - 1].end))
			FAIL(fz, "bad VMA %zu [%#" PRIx64 ", %#" PRIx64 ")", i,
			     va[i].start, va[i].end);
		if (va[i].rss_pages > (va[i].end - va[i].start) / PG)
			FAIL(fz, "VMA %zu: %" PRIu64 " resident pages", i,
			     va[i].rss_pages);
	}
	if (fz->m) {
		nb = model_maps(fz->m, fz->b, MAX_VMAS);
		if (na != nb)
			FAIL(fz, "%zu VMAs, model %zu", na, nb);
		for (i = 0; i < na; i++) {
			if (fz->b[i].file[0])
				fz->b[i].inode = vas__file_inode(fz->b[i].file);
			vas_format_maps_line(&va[i], la, sizeof(la));
			vas_format_maps_line(&fz->b[i], lb, sizeof(lb));
			if (strcmp(la, lb) ||
			    va[i].rss_pages != fz->b[i].rss_pages ||
			    va[i].pgoff != fz->b[i].pgoff)
				FAIL(fz, "VMA %zu differs:\n vas   %s model %s",
				     i, la, lb);
			vas_format_vmflags(&va[i], la, sizeof(la));
			vas_format_vmflags(&fz->b[i], lb, sizeof(lb));
			if (strcmp(la, lb))
				FAIL(fz, "VMA %zu VmFlags: vas %s, model %s", i,
				     la, lb);
		}
	}
	vma_free(va);
}

static void leave_model(struct fz *fz)
{
	if (fz->m)
		model_free(fz->m);
	fz->m = NULL;
}

/* Also generate the operations of known, not yet fixed bugs. */

static const char *files[] = {"/lib/a.so", "/data/b", "/c"};

static const int advices[] = {
	VAS_MADV_NORMAL,	  VAS_MADV_RANDOM,
	VAS_MADV_SEQUENTIAL,	  VAS_MADV_WILLNEED,
	VAS_MADV_DONTNEED,	  VAS_MADV_FREE,
	VAS_MADV_REMOVE,	  VAS_MADV_DONTFORK,
	VAS_MADV_DOFORK,	  VAS_MADV_MERGEABLE,
	VAS_MADV_UNMERGEABLE,	  VAS_MADV_HUGEPAGE,
	VAS_MADV_NOHUGEPAGE,	  VAS_MADV_DONTDUMP,
	VAS_MADV_DODUMP,	  VAS_MADV_WIPEONFORK,
	VAS_MADV_KEEPONFORK,	  VAS_MADV_COLD,
	VAS_MADV_DONTNEED_LOCKED, VAS_MADV_GUARD_INSTALL,
	VAS_MADV_GUARD_REMOVE,	  VAS_MADV_HWPOISON,
	VAS_MADV_PAGEOUT,	  7,
	VAS_MADV_POPULATE_READ,	  VAS_MADV_POPULATE_WRITE,
};
static const char *const names[] = {NULL, "a", "b", "x$", ""};

/* The calls of issue 16 (outside the model's domain). */
static int step_vmflags(struct fz *fz, uint64_t brk)
{
	unsigned x = rd_u8(fz);
	uint64_t addr = rd_addr(fz, brk), len = rd_len(fz) * (1 + rd_n(fz, 3));
	uint64_t oa;
	int advice = -1, ra = 0;
	const char *name;

	if (x % 8 > 1)
		leave_model(fz);
	switch (x % 8) {
	case 0:
	case 1:
		advice =
			advices[rd_n(fz, sizeof(advices) / sizeof(advices[0]))];
		snprintf(fz->desc, sizeof(fz->desc),
			 "madvise(%#" PRIx64 ", %#" PRIx64 ", %d)", addr, len,
			 advice);
		/*
		 * The model knows flag advice, DONTNEED, FREE, WILLNEED,
		 * POPULATE_READ and POPULATE_WRITE.
		 */
		if (advice == VAS_MADV_REMOVE || advice == VAS_MADV_COLD ||
		    advice == VAS_MADV_DONTNEED_LOCKED ||
		    advice == VAS_MADV_GUARD_INSTALL ||
		    advice == VAS_MADV_GUARD_REMOVE ||
		    advice == VAS_MADV_HWPOISON || advice == VAS_MADV_PAGEOUT)
			leave_model(fz);
		ra = vas_madvise(fz->vas, addr, len, advice);
		if (fz->m)
			check_rc(fz, ra,
				 model_madvise(fz->m, addr, len, advice), 0, 0);
		break;
	case 2:
		snprintf(fz->desc, sizeof(fz->desc),
			 "mlock2(%#" PRIx64 ", %#" PRIx64 ", %u)", addr, len,
			 (x >> 3) & 3);
		ra = vas_mlock(fz->vas, addr, len, (x >> 3) & 3);
		break;
	case 3:
		snprintf(fz->desc, sizeof(fz->desc),
			 "munlock(%#" PRIx64 ", %#" PRIx64 ")", addr, len);
		ra = vas_munlock(fz->vas, addr, len);
		break;
	case 4:
		snprintf(fz->desc, sizeof(fz->desc), "mlockall(%u)", x >> 4);
		ra = (x & 8) ? vas_munlockall(fz->vas)
			     : vas_mlockall(fz->vas, x >> 4);
		break;
	case 5:
		snprintf(fz->desc, sizeof(fz->desc),
			 "mseal(%#" PRIx64 ", %#" PRIx64 ")", addr, len);
		ra = vas_mseal(fz->vas, addr, len, (x & 0x80) ? 1 : 0);
		break;
	case 6:
		name = names[rd_n(fz, sizeof(names) / sizeof(names[0]))];
		snprintf(fz->desc, sizeof(fz->desc),
			 "anon_name(%#" PRIx64 ", %#" PRIx64 ", %s)", addr, len,
			 name ? name : "NULL");
		ra = vas_set_anon_name(fz->vas, addr, len, name);
		break;
	default:
		snprintf(fz->desc, sizeof(fz->desc),
			 "mmap(%#" PRIx64 ", %#" PRIx64
			 ", rw, stack/locked %#x)",
			 addr, len, x);
		ra = vas_mmap(fz->vas, addr, len,
			      VAS_PROT_READ | VAS_PROT_WRITE,
			      VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS |
				      (x & 0x10 ? VAS_MAP_FIXED : 0) |
				      (x & 0x20 ? VAS_MAP_STACK : 0) |
				      (x & 0x40 ? VAS_MAP_LOCKED : 0),
			      NULL, 0, &oa);
		break;
	}
	if (ra == -ENOSYS && advice != VAS_MADV_PAGEOUT)
		FAIL(fz, "ENOSYS");
	return ra;
}

static void step(struct fz *fz, struct vas **forks, size_t *nr_forks)
{
	uint64_t addr, len, oa = 0, ob = 0, brk;
	unsigned prot, flags, op = rd_u8(fz);
	int ra, rb = 0;
	struct vas_fault_result fa, fb;

	if (vas_brk(fz->vas, 0, &brk))
		FAIL(fz, "brk(0) failed");
	switch (op % 12) {
	case 0:
	case 1:
	case 2: {
		const char *file = NULL;
		uint64_t off = 0;
		unsigned x = rd_u8(fz);

		addr = rd_addr(fz, brk);
		len = rd_len(fz);
		prot = x & 7;
		flags = (x & 8) ? VAS_MAP_SHARED : VAS_MAP_PRIVATE;
		if ((x & 0x30) == 0x30)
			flags = (x & 0x40) ? 0
					   : VAS_MAP_PRIVATE | VAS_MAP_SHARED;
		if (!(x & 0x80)) {
			flags |= VAS_MAP_ANONYMOUS;
		} else {
			file = files[rd_n(fz, 3)];
			off = rd_n(fz, 8) * PG + (x & 0x40 ? 100 : 0);
		}
		x = rd_u8(fz);
		if (x % 10 < 4)
			flags |= VAS_MAP_FIXED;
		else if (x % 10 < 5)
			flags |= VAS_MAP_FIXED_NOREPLACE;
		else if (x % 10 < 7)
			addr = 0;
		if (x & 0x10)
			flags |= VAS_MAP_POPULATE;
		if (x & 0x20)
			flags |= VAS_MAP_NORESERVE;
		if ((x & 0xc0) == 0xc0)
			flags |= VAS_MAP_GROWSDOWN;
		snprintf(fz->desc, sizeof(fz->desc),
			 "mmap(%#" PRIx64 ", %#" PRIx64
			 ", %u, %#x, %s, %#" PRIx64 ")",
			 addr, len, prot, flags, file ? file : "-", off);
		if (flags & VAS_MAP_GROWSDOWN)
			leave_model(fz);
		ra = vas_mmap(fz->vas, addr, len, prot, flags, file, off, &oa);
		if (fz->m) {
			rb = model_mmap(fz->m, addr, len, prot, flags, file,
					off, &ob);
			check_rc(fz, ra, rb, oa, ob);
		}
		if (!ra && (oa & (PG - 1) || oa >= TASK_SIZE))
			FAIL(fz, "mapped at %#" PRIx64, oa);
		break;
	}
	case 3:
		addr = rd_addr(fz, brk);
		len = rd_len(fz) * (1 + rd_n(fz, 3));
		snprintf(fz->desc, sizeof(fz->desc),
			 "munmap(%#" PRIx64 ", %#" PRIx64 ")", addr, len);
		ra = vas_munmap(fz->vas, addr, len);
		if (fz->m)
			check_rc(fz, ra, model_munmap(fz->m, addr, len), 0, 0);
		break;
	case 4:
	case 5:
		addr = rd_addr(fz, brk);
		len = rd_len(fz) * (1 + rd_n(fz, 3));
		prot = rd_n(fz, 8);
		snprintf(fz->desc, sizeof(fz->desc),
			 "mprotect(%#" PRIx64 ", %#" PRIx64 ", %u)", addr, len,
			 prot);
		ra = vas_mprotect(fz->vas, addr, len, prot);
		if (fz->m)
			check_rc(fz, ra, model_mprotect(fz->m, addr, len, prot),
				 0, 0);
		break;
	case 6: {
		uint64_t nlen, naddr = 0;
		unsigned x = rd_u8(fz);

		addr = rd_addr(fz, brk);
		len = rd_len(fz);
		nlen = rd_len(fz);
		flags = x % 3 ? VAS_MREMAP_MAYMOVE : 0;
		if (x & 0x10) {
			flags |= VAS_MREMAP_FIXED;
			naddr = rd_addr(fz, brk);
		}
		if ((x & 0xe0) == 0xe0)
			flags |= VAS_MREMAP_DONTUNMAP;
		snprintf(fz->desc, sizeof(fz->desc),
			 "mremap(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64
			 ", %#x, %#" PRIx64 ")",
			 addr, len, nlen, flags, naddr);
		if (flags & VAS_MREMAP_DONTUNMAP)
			leave_model(fz);
		ra = vas_mremap(fz->vas, addr, len, nlen, flags, naddr, &oa);
		if (fz->m) {
			rb = model_mremap(fz->m, addr, len, nlen, flags, naddr,
					  &ob);
			check_rc(fz, ra, rb, oa, ob);
		}
		break;
	}
	case 7:
		addr = brk + (rd_n(fz, 24) - 8) * PG +
		       (op & 0x10 ? rd_n(fz, PG) : 0);
		if ((op & 0xe0) == 0xe0)
			addr = 0;
		snprintf(fz->desc, sizeof(fz->desc), "brk(%#" PRIx64 ")", addr);
		ra = vas_brk(fz->vas, addr, &oa);
		if (fz->m)
			check_rc(fz, ra, model_brk(fz->m, addr, &ob), oa, ob);
		break;
	case 8: {
		enum vas_access acc = (enum vas_access)rd_n(fz, 3);
		struct vas_vma_info info = {0};

		addr = rd_addr(fz, brk) + rd_n(fz, PG);
		if (op & 0x10)
			addr = TASK_SIZE - VAS_INITIAL_STACK_SIZE -
			       rd_n(fz, 80) * PG - rd_n(fz, PG);
		snprintf(fz->desc, sizeof(fz->desc), "fault(%#" PRIx64 ", %d)",
			 addr, acc);
		ra = vas_fault(fz->vas, addr, acc, &fa);
		if (ra)
			FAIL(fz, "vas_fault: %d", ra);
		if (fa.status == VAS_FAULT_OK &&
		    (addr < fa.vma.start || addr >= fa.vma.end))
			FAIL(fz, "fault OK outside its VMA");
		/* A guard page is SEGV_MAPERR inside a VM_MAYBE_GUARD VMA. */
		if (vas_lookup(fz->vas, addr, &info) !=
			    (fa.status == VAS_FAULT_OK ||
			     fa.code == VAS_SEGV_ACCERR) &&
		    !(fa.code == VAS_SEGV_MAPERR &&
		      (info.flags & VAS_VM_MAYBE_GUARD)))
			FAIL(fz, "lookup disagrees with the fault");
		if (fz->m) {
			rb = model_fault(fz->m, addr, acc, &fb);
			check_rc(fz, ra, rb, 0, 0);
			if (fa.status != fb.status || fa.code != fb.code ||
			    fa.expanded != fb.expanded ||
			    (fa.status == VAS_FAULT_OK &&
			     fa.populated != fb.populated))
				FAIL(fz,
				     "vas %d/%d/exp %d/pop %d, model "
				     "%d/%d/exp %d/pop %d",
				     fa.status, fa.code, fa.expanded,
				     fa.populated, fb.status, fb.code,
				     fb.expanded, fb.populated);
		}
		break;
	}
	case 9:
	case 10:
		ra = step_vmflags(fz, brk);
		break;
	default: {
		struct vas *child;

		snprintf(fz->desc, sizeof(fz->desc), "fork");
		ra = 0;
		if (*nr_forks >= 4)
			break;
		leave_model(fz);
		if (vas_fork(fz->vas, &child))
			FAIL(fz, "vas_fork failed");
		forks[(*nr_forks)++] = child;
		if (vas_validate(child, fz->desc, sizeof(fz->desc)))
			FAIL(fz, "child invalid");
		/* Go on in the child half of the time. */
		if (op & 0x10) {
			forks[*nr_forks - 1] = fz->vas;
			fz->vas = child;
		}
		break;
	}
	}
	if (getenv("FUZZ_VAS_TRACE"))
		fprintf(stderr, "%u: %s -> %d%s\n", fz->op, fz->desc, ra,
			fz->m ? "" : " (no model)");
	check_space(fz);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("VMA_RECLAIM_PACE_US", "0", 0);
	rcu_register_thread();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t gaps[] = {0, 1, 16, 256};
	static const uint64_t counts[] = {65530, 65530, 12, 20};
	struct fz fz = {.p = data, .n = size};
	struct vas *forks[4];
	size_t nr_forks = 0;
	struct vas_layout l;
	unsigned cfg = rd_u8(&fz);

	vas_layout_default(&l);
	l.task_size = TASK_SIZE;
	l.mmap_base = MMAP_BASE;
	l.brk_base = BRK_BASE;
	l.stack = true;
	l.stack_guard_gap = gaps[cfg % 4];
	l.max_map_count = counts[cfg / 4 % 4];
	l.stack_rlimit = (64 + cfg / 16 * 4) * PG;
	l.memlock_rlimit = 32 * PG;
	snprintf(fz.desc, sizeof(fz.desc), "new");
	if (vas_new(&l, &fz.vas) || model_new(&l, &fz.m))
		abort();
	fz.b = calloc(MAX_VMAS, sizeof(*fz.b));
	if (!fz.b)
		abort();
	check_space(&fz);
	while (fz.n) {
		fz.op++;
		step(&fz, forks, &nr_forks);
	}
	free(fz.b);
	if (fz.m)
		model_free(fz.m);
	vas_free(fz.vas);
	for (size_t i = 0; i < nr_forks; i++)
		vas_free(forks[i]);
	return 0;
}
