// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Unit tests of the address space (libvma/vas*.c).
 *
 * Layouts are drawn one character per page over a small window; the
 * legend of each drawing names the VMAs:
 *
 *   0123456789
 *   AAAA..BBBB      A and B are VMAs, '.' is unmapped
 *
 * Each test builds a space with a small, known layout, runs one operation
 * and checks the resulting VMAs (ranges, prot, flags, page offsets,
 * anon_vma state), the errno and, for failures, that nothing changed.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define PG   4096ULL
#define W    0x10000000ULL /* the window the tests draw */
#define P(n) (W + (uint64_t)(n)*PG)
#define RW   (VAS_PROT_READ | VAS_PROT_WRITE)
#define RO   VAS_PROT_READ
#define ANON (VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS)
#define FIX  (ANON | VAS_MAP_FIXED)

static struct vas *vas;

static void setup(void)
{
	urcu_memb_register_thread();
	ck_assert_int_eq(vas_new(NULL, &vas), 0);
}

static void teardown(void)
{
	vas_free(vas);
	vas = NULL;
	urcu_memb_unregister_thread();
}

static struct vas *new_space(uint64_t gap, uint64_t max, bool stack)
{
	struct vas_layout l;
	struct vas *v;

	vas_layout_default(&l);
	l.stack_guard_gap = gap;
	l.max_map_count = max;
	l.stack = stack;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	return v;
}

static uint64_t map_at(struct vas *v, uint64_t addr, uint64_t pages,
		       unsigned prot)
{
	uint64_t out = 0;

	ck_assert_int_eq(
		vas_mmap(v, addr, pages * PG, prot, FIX, NULL, 0, &out), 0);
	ck_assert_uint_eq(out, addr);
	return out;
}

/*
 * Render the window [P(0), P(n)) as one char per page: VMAs get letters
 * A, B, ... in address order, unmapped pages '.'.
 */
static const char *draw(struct vas *v, unsigned n)
{
	static char buf[128];
	struct vas_vma_info *m;
	size_t nr, i, k = 0;
	unsigned p;

	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	memset(buf, '.', n);
	buf[n] = '\0';
	for (i = 0; i < nr; i++) {
		if (m[i].end <= P(0) || m[i].start >= P(n))
			continue;
		for (p = 0; p < n; p++)
			if (P(p) >= m[i].start && P(p) < m[i].end)
				buf[p] = 'A' + k;
		k++;
	}
	vma_free(m);
	return buf;
}

static struct vas_vma_info info_at(struct vas *v, uint64_t addr)
{
	struct vas_vma_info info;

	ck_assert_msg(vas_lookup(v, addr, &info), "no VMA at %#" PRIx64, addr);
	return info;
}

static size_t nr_vmas(struct vas *v)
{
	struct vas_stats st;

	vas_stats(v, &st);
	return st.nr_vmas;
}

static void valid(struct vas *v)
{
	char msg[256];

	ck_assert_msg(vas_validate(v, msg, sizeof(msg)) == 0, "%s", msg);
}

static void fault_ok(struct vas *v, uint64_t addr, enum vas_access acc)
{
	struct vas_fault_result r;

	ck_assert_int_eq(vas_fault(v, addr, acc, &r), 0);
	ck_assert_int_eq(r.status, VAS_FAULT_OK);
}

/* ---------------------------------------------------------------- */
/* mmap arguments                                                    */

START_TEST(test_mmap_errors)
{
	uint64_t out = 0xdead;

	ck_assert_int_eq(vas_mmap(vas, 0, 0, RW, ANON, NULL, 0, &out), -EINVAL);
	ck_assert_int_eq(vas_mmap(vas, 0, -1ULL, RW, ANON, NULL, 0, &out),
			 -ENOMEM);
	ck_assert_int_eq(vas_mmap(vas, P(0) + 1, PG, RW, FIX, NULL, 0, &out),
			 -EINVAL);
	ck_assert_int_eq(
		vas_mmap(vas, 0, PG, RW, VAS_MAP_ANONYMOUS, NULL, 0, &out),
		-EINVAL);
	ck_assert_int_eq(
		vas_mmap(vas, 0, PG, RW, ANON | VAS_MAP_SHARED, NULL, 0, &out),
		-EINVAL);
	ck_assert_int_eq(
		vas_mmap(vas, 0, PG, RW, VAS_MAP_PRIVATE, "/f", 100, &out),
		-EINVAL);
	ck_assert_int_eq(
		vas_mmap(vas, 0, PG, RW, VAS_MAP_PRIVATE, NULL, 0, &out),
		-EBADF);
	ck_assert_int_eq(vas_mmap(vas, 0, PG, RW,
				  VAS_MAP_PRIVATE | VAS_MAP_GROWSDOWN, "/f", 0,
				  &out),
			 -EINVAL);
	ck_assert_int_eq(
		vas_mmap(vas, 0, PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_ANONYMOUS | VAS_MAP_GROWSDOWN,
			 NULL, 0, &out),
		-EINVAL);
	ck_assert_int_eq(vas_mmap(vas, 0x1000, PG, RW, FIX, NULL, 0, &out),
			 -EPERM);
	ck_assert_int_eq(vas_mmap(vas, VAS_DEFAULT_TASK_SIZE, PG, RW, FIX, NULL,
				  0, &out),
			 -ENOMEM);
	ck_assert_int_eq(
		vas_mmap(vas, 0, 2 * PG, RW, VAS_MAP_PRIVATE, "/f", -PG, &out),
		-EOVERFLOW);
	ck_assert_uint_eq(out, 0xdead);
	ck_assert_uint_eq(nr_vmas(vas), 0);
}
END_TEST

/*
 *   0123
 *   AA..   MAP_FIXED_NOREPLACE over 1-2 fails, over 2-3 works
 */
START_TEST(test_mmap_noreplace)
{
	uint64_t out;

	map_at(vas, P(0), 2, RW);
	ck_assert_int_eq(vas_mmap(vas, P(1), 2 * PG, RO,
				  ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0,
				  &out),
			 -EEXIST);
	ck_assert_str_eq(draw(vas, 4), "AA..");
	ck_assert_int_eq(vas_mmap(vas, P(2), 2 * PG, RO,
				  ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0,
				  &out),
			 0);
	ck_assert_str_eq(draw(vas, 4), "AABB");
}
END_TEST

/* ---------------------------------------------------------------- */
/* Placement                                                         */

START_TEST(test_place_topdown)
{
	uint64_t a, b, c;

	ck_assert_int_eq(vas_mmap(vas, 0, PG, RW, ANON, NULL, 0, &a), 0);
	ck_assert_uint_eq(a, VAS_DEFAULT_MMAP_BASE - PG);
	ck_assert_int_eq(vas_mmap(vas, 0, PG, RO, ANON, NULL, 0, &b), 0);
	ck_assert_uint_eq(b, a - PG);
	/* A free hint is honoured, an occupied one is not. */
	ck_assert_int_eq(vas_mmap(vas, P(0), PG, RO, ANON, NULL, 0, &c), 0);
	ck_assert_uint_eq(c, P(0));
	ck_assert_int_eq(
		vas_mmap(vas, a, PG, RO | VAS_PROT_EXEC, ANON, NULL, 0, &c), 0);
	ck_assert_uint_eq(c, b - PG);
	/* A hint below mmap_min_addr is raised to it. */
	ck_assert_int_eq(vas_mmap(vas, 0x1000, PG, RO, ANON, NULL, 0, &c), 0);
	ck_assert_uint_eq(c, 0x10000);
	valid(vas);
}
END_TEST

/* Large anonymous private mappings are 2 MiB-aligned (THP). */
START_TEST(test_place_thp)
{
	uint64_t a;

	ck_assert_int_eq(vas_mmap(vas, 0, 4ULL << 20, RW, ANON, NULL, 0, &a),
			 0);
	ck_assert_uint_eq(a & ((2ULL << 20) - 1), 0);
	ck_assert_uint_le(a + (4ULL << 20), VAS_DEFAULT_MMAP_BASE);
}
END_TEST

/*
 * Below a growsdown VMA the guard gap is kept free: the hint just below
 * the stack is refused and top-down placement skips the gap.
 */
START_TEST(test_place_guard_gap)
{
	struct vas *v = new_space(16, 65530, false);
	uint64_t s, a;

	ck_assert_int_eq(vas_mmap(v, P(64), 4 * PG, RW, FIX | VAS_MAP_GROWSDOWN,
				  NULL, 0, &s),
			 0);
	ck_assert_int_eq(vas_mmap(v, P(60), 4 * PG, RW, ANON, NULL, 0, &a), 0);
	ck_assert_uint_ne(a, P(60));
	ck_assert_int_eq(vas_mmap(v, P(44), 4 * PG, RW, ANON, NULL, 0, &a), 0);
	ck_assert_uint_eq(a, P(44));
	vas_free(v);
}
END_TEST

/* When nothing fits below mmap_base, placement goes bottom-up above it. */
START_TEST(test_place_bottomup_fallback)
{
	struct vas_layout l;
	struct vas *v;
	uint64_t a;

	vas_layout_default(&l);
	l.mmap_base = 0x20000;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	ck_assert_int_eq(vas_mmap(v, 0, 32 * PG, RW, ANON, NULL, 0, &a), 0);
	ck_assert_uint_eq(a, (VAS_DEFAULT_TASK_SIZE / 3 + PG - 1) & ~(PG - 1));
	vas_free(v);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Merging and splitting                                             */

/*
 *   0123456
 *   AAA....   mmap 3-5 same props  -> AAAAAA.
 *   AAAAAAB   mmap 6 read-only     -> B separate
 */
START_TEST(test_merge_new)
{
	map_at(vas, P(0), 3, RW);
	map_at(vas, P(3), 3, RW);
	ck_assert_str_eq(draw(vas, 7), "AAAAAA.");
	map_at(vas, P(6), 1, RO);
	ck_assert_str_eq(draw(vas, 7), "AAAAAAB");
	/* Filling a hole between two compatible VMAs merges all three. */
	ck_assert_int_eq(vas_munmap(vas, P(2), PG), 0);
	ck_assert_str_eq(draw(vas, 7), "AA.BBBC");
	map_at(vas, P(2), 1, RW);
	ck_assert_str_eq(draw(vas, 7), "AAAAAAB");
	ck_assert_uint_eq(info_at(vas, P(4)).pgoff, P(0) >> 12);
	valid(vas);
}
END_TEST

/* File mappings merge only with contiguous offsets of the same file. */
START_TEST(test_merge_file)
{
	uint64_t o;

	ck_assert_int_eq(vas_mmap(vas, P(0), 2 * PG, RO,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/f", 0, &o),
			 0);
	ck_assert_int_eq(vas_mmap(vas, P(2), 2 * PG, RO,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/f", 2 * PG,
				  &o),
			 0);
	ck_assert_str_eq(draw(vas, 8), "AAAA....");
	ck_assert_int_eq(vas_mmap(vas, P(4), 2 * PG, RO,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/f", 8 * PG,
				  &o),
			 0);
	ck_assert_int_eq(vas_mmap(vas, P(6), 2 * PG, RO,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/g",
				  10 * PG, &o),
			 0);
	ck_assert_str_eq(draw(vas, 8), "AAAABBCC");
	ck_assert_uint_eq(info_at(vas, P(5)).offset, 8 * PG);
	ck_assert_str_eq(info_at(vas, P(6)).file, "/g");
	valid(vas);
}
END_TEST

/*
 *   012345
 *   AAAAAA   mprotect 2-3 read-only -> AABBCC ; back to rw -> AAAAAA
 */
START_TEST(test_mprotect_split_merge)
{
	map_at(vas, P(0), 6, RW);
	ck_assert_int_eq(vas_mprotect(vas, P(2), 2 * PG, RO), 0);
	ck_assert_str_eq(draw(vas, 6), "AABBCC");
	ck_assert_uint_eq(info_at(vas, P(2)).prot, RO);
	ck_assert_uint_eq(info_at(vas, P(4)).pgoff, (P(0) >> 12) + 4);
	ck_assert_int_eq(vas_mprotect(vas, P(2), 2 * PG, RW), 0);
	ck_assert_str_eq(draw(vas, 6), "AAAAAA");
	/* Same flags: nothing to do, nothing split. */
	ck_assert_int_eq(vas_mprotect(vas, P(1), PG, RW), 0);
	ck_assert_str_eq(draw(vas, 6), "AAAAAA");
	/* Length 0 succeeds, unaligned start does not. */
	ck_assert_int_eq(vas_mprotect(vas, P(1), 0, RO), 0);
	ck_assert_int_eq(vas_mprotect(vas, P(1) + 1, PG, RO), -EINVAL);
	ck_assert_int_eq(vas_mprotect(vas, P(1), PG, 8), -EINVAL);
	valid(vas);
}
END_TEST

/*
 * VM_ACCOUNT is hidden state: a read-only private mapping made writable
 * gets it, and then no longer merges with a VMA that was mapped read-only
 * and is still unwritten (whose mprotect back drops VM_ACCOUNT).
 *
 *   0123
 *   AABB   A: mmap rw (account), B: mmap ro; mprotect B rw -> merges
 *   AAAA
 */
START_TEST(test_mprotect_account)
{
	map_at(vas, P(0), 2, RW);
	map_at(vas, P(2), 2, RO);
	ck_assert_str_eq(draw(vas, 4), "AABB");
	ck_assert(info_at(vas, P(0)).flags & VAS_VM_ACCOUNT);
	ck_assert(!(info_at(vas, P(2)).flags & VAS_VM_ACCOUNT));
	ck_assert_int_eq(vas_mprotect(vas, P(2), 2 * PG, RW), 0);
	ck_assert_str_eq(draw(vas, 4), "AAAA");
	/* Read-only again: unfaulted anon drops VM_ACCOUNT, so A/B merge. */
	ck_assert_int_eq(vas_mprotect(vas, P(0), 4 * PG, RO), 0);
	ck_assert(!(info_at(vas, P(0)).flags & VAS_VM_ACCOUNT));
	/* A written VMA keeps VM_ACCOUNT when made read-only. */
	ck_assert_int_eq(vas_mprotect(vas, P(0), 4 * PG, RW), 0);
	fault_ok(vas, P(0), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_mprotect(vas, P(2), 2 * PG, RO), 0);
	ck_assert(info_at(vas, P(2)).flags & VAS_VM_ACCOUNT);
	valid(vas);
}
END_TEST

/*
 * Two VMAs written separately get different anon_vmas and do not merge:
 *
 *   012345
 *   AABBCC   A rw, B ro, C rw; write A and C; mprotect B rw
 *   AAAABB   B merges with A (takes its anon_vma), not with C
 */
START_TEST(test_anon_vma_merge)
{
	map_at(vas, P(0), 2, RW);
	map_at(vas, P(2), 2, RO);
	map_at(vas, P(4), 2, RW);
	fault_ok(vas, P(0), VAS_ACCESS_WRITE);
	fault_ok(vas, P(4), VAS_ACCESS_WRITE);
	ck_assert_uint_ne(info_at(vas, P(0)).anon_vma, 0);
	ck_assert_uint_ne(info_at(vas, P(0)).anon_vma,
			  info_at(vas, P(4)).anon_vma);
	ck_assert_int_eq(vas_mprotect(vas, P(2), 2 * PG, RW), 0);
	ck_assert_str_eq(draw(vas, 6), "AAAABB");
	ck_assert_uint_eq(info_at(vas, P(2)).anon_vma,
			  info_at(vas, P(0)).anon_vma);
	valid(vas);
}
END_TEST

/* A first write fault reuses a compatible neighbour's anon_vma. */
START_TEST(test_anon_vma_reuse)
{
	map_at(vas, P(0), 2, RW);
	fault_ok(vas, P(0), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_mprotect(vas, P(1), PG, RO), 0);
	ck_assert_int_eq(vas_mprotect(vas, P(1), PG, RW), 0);
	ck_assert_str_eq(draw(vas, 2), "AA");
	map_at(vas, P(2), 2, RO | VAS_PROT_EXEC);
	ck_assert_int_eq(vas_mprotect(vas, P(2), 2 * PG, RW | VAS_PROT_EXEC),
			 0);
	fault_ok(vas, P(2), VAS_ACCESS_WRITE);
	ck_assert_uint_eq(info_at(vas, P(2)).anon_vma,
			  info_at(vas, P(0)).anon_vma);
}
END_TEST

/*
 * mprotect over a hole changes the VMAs before the hole (Linux), then
 * fails with ENOMEM; a hole at the start changes nothing.
 *
 *   01234
 *   AA.BB   mprotect 0-4 ro -> A ro, B unchanged, -ENOMEM
 */
START_TEST(test_mprotect_hole)
{
	map_at(vas, P(0), 2, RW);
	map_at(vas, P(3), 2, RW);
	ck_assert_int_eq(vas_mprotect(vas, P(0), 5 * PG, RO), -ENOMEM);
	ck_assert_uint_eq(info_at(vas, P(0)).prot, RO);
	ck_assert_uint_eq(info_at(vas, P(3)).prot, RW);
	ck_assert_int_eq(vas_mprotect(vas, P(2), 3 * PG, RO), -ENOMEM);
	ck_assert_uint_eq(info_at(vas, P(3)).prot, RW);
	valid(vas);
}
END_TEST

/* ---------------------------------------------------------------- */
/* munmap and max_map_count                                          */

/*
 *   01234
 *   AAAAA   munmap 2 -> AA.BB ; at max_map_count: ENOMEM, unchanged
 */
START_TEST(test_munmap_split_limit)
{
	struct vas *v = new_space(256, 2, false);
	uint64_t out;

	map_at(v, P(0), 5, RW);
	ck_assert_int_eq(vas_munmap(v, P(2), PG), 0);
	ck_assert_str_eq(draw(v, 5), "AA.BB");
	/* map_count 2 == max: a split of one VMA in three is refused. */
	ck_assert_int_eq(vas_munmap(v, P(3), PG / 2), 0);
	ck_assert_str_eq(draw(v, 5), "AA..B");
	map_at(v, P(2), 1, RO);
	ck_assert_uint_eq(nr_vmas(v), 3);
	ck_assert_int_eq(vas_mprotect(v, P(0), PG, RO), -ENOMEM);
	/* mmap refuses only above the limit (map_count > max). */
	ck_assert_int_eq(vas_mmap(v, 0, PG, RO, ANON, NULL, 0, &out), -ENOMEM);
	ck_assert_int_eq(vas_munmap(v, P(0), PG), 0);
	ck_assert_str_eq(draw(v, 5), ".AB.C");
	ck_assert_int_eq(vas_munmap(v, 0, PG), 0); /* nothing there */
	ck_assert_int_eq(vas_munmap(v, VAS_DEFAULT_TASK_SIZE, PG), -EINVAL);
	ck_assert_int_eq(vas_munmap(v, P(0) + 1, PG), -EINVAL);
	ck_assert_int_eq(vas_munmap(v, P(0), 0), -EINVAL);
	valid(v);
	vas_free(v);
}
END_TEST

/* MAP_FIXED replaces what it overlaps in one step and frees its pages. */
START_TEST(test_map_fixed_replace)
{
	unsigned i;

	for (i = 0; i < 8; i++)
		map_at(vas, P(i), 1, i % 2 ? RO : RW);
	fault_ok(vas, P(2), VAS_ACCESS_WRITE);
	ck_assert_str_eq(draw(vas, 8), "ABCDEFGH");
	map_at(vas, P(1), 6, RO | VAS_PROT_EXEC);
	ck_assert_str_eq(draw(vas, 8), "ABBBBBBC");
	ck_assert_uint_eq(info_at(vas, P(2)).rss_pages, 0);
	valid(vas);
}
END_TEST

/* ---------------------------------------------------------------- */
/* mremap                                                            */

START_TEST(test_mremap)
{
	uint64_t out, a;

	map_at(vas, P(0), 2, RW);
	/* Grow in place. */
	ck_assert_int_eq(vas_mremap(vas, P(0), 2 * PG, 4 * PG, 0, 0, &out), 0);
	ck_assert_uint_eq(out, P(0));
	ck_assert_str_eq(draw(vas, 6), "AAAA..");
	/* Shrink. */
	ck_assert_int_eq(vas_mremap(vas, P(0), 4 * PG, 3 * PG, 0, 0, &out), 0);
	ck_assert_str_eq(draw(vas, 6), "AAA...");
	/* Blocked, no MAYMOVE: ENOMEM; MAYMOVE moves pages along. */
	map_at(vas, P(3), 1, RO);
	ck_assert_int_eq(vas_mremap(vas, P(0), 3 * PG, 5 * PG, 0, 0, &out),
			 -ENOMEM);
	fault_ok(vas, P(1), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_mremap(vas, P(0), 3 * PG, 5 * PG,
				    VAS_MREMAP_MAYMOVE, 0, &a),
			 0);
	ck_assert_uint_ne(a, P(0));
	ck_assert_str_eq(draw(vas, 6), "...A..");
	ck_assert_uint_eq(info_at(vas, a).rss_pages, 1);
	/* A written VMA keeps its page offset. */
	ck_assert_uint_eq(info_at(vas, a).pgoff, P(0) >> 12);
	/* Errors: no VMA, spans VMAs, bad flags, overlap. */
	ck_assert_int_eq(vas_mremap(vas, P(5), PG, PG, 0, 0, &out), -EFAULT);
	ck_assert_int_eq(vas_mremap(vas, a, 6 * PG, 6 * PG, 0, 0, &out),
			 0); /* same length: nothing to check beyond */
	ck_assert_int_eq(vas_mremap(vas, a, 6 * PG, 7 * PG, 0, 0, &out),
			 -EFAULT);
	ck_assert_int_eq(
		vas_mremap(vas, a, PG, PG, VAS_MREMAP_FIXED, P(8), &out),
		-EINVAL);
	ck_assert_int_eq(vas_mremap(vas, a, 2 * PG, 2 * PG,
				    VAS_MREMAP_FIXED | VAS_MREMAP_MAYMOVE,
				    a + PG, &out),
			 -EINVAL);
	ck_assert_int_eq(vas_mremap(vas, a, PG, 0, 0, 0, &out), -EINVAL);
	/* FIXED replaces the destination. */
	ck_assert_int_eq(vas_mremap(vas, a, PG, PG,
				    VAS_MREMAP_FIXED | VAS_MREMAP_MAYMOVE, P(3),
				    &out),
			 0);
	ck_assert_uint_eq(out, P(3));
	ck_assert_uint_eq(info_at(vas, P(3)).prot, RW);
	valid(vas);
}
END_TEST

/* An unfaulted anonymous VMA takes the page offset of its new place. */
START_TEST(test_mremap_unfaulted_pgoff)
{
	uint64_t out;

	map_at(vas, P(0), 2, RW);
	ck_assert_int_eq(vas_mremap(vas, P(0), 2 * PG, 2 * PG,
				    VAS_MREMAP_FIXED | VAS_MREMAP_MAYMOVE,
				    P(10), &out),
			 0);
	ck_assert_uint_eq(info_at(vas, P(10)).pgoff, P(10) >> 12);
	/* So it merges with a new neighbour. */
	map_at(vas, P(12), 2, RW);
	ck_assert_uint_eq(info_at(vas, P(13)).start, P(10));
}
END_TEST

START_TEST(test_mremap_dontunmap)
{
	uint64_t out;

	map_at(vas, P(0), 2, RW);
	fault_ok(vas, P(0), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_mremap(vas, P(0), 2 * PG, 2 * PG,
				    VAS_MREMAP_DONTUNMAP | VAS_MREMAP_MAYMOVE,
				    P(8), &out),
			 0);
	ck_assert_str_eq(draw(vas, 12), "AA......BB..");
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 0);
	ck_assert_uint_eq(info_at(vas, P(0)).anon_vma, 0);
	ck_assert_uint_eq(info_at(vas, out).rss_pages, 1);
	ck_assert_int_eq(vas_mremap(vas, P(0), PG, 2 * PG,
				    VAS_MREMAP_DONTUNMAP | VAS_MREMAP_MAYMOVE,
				    0, &out),
			 -EINVAL);
	valid(vas);
}
END_TEST

/*
 * A DONTUNMAP hint below mmap_min_addr: mremap() does not raise the hint
 * as mmap() does, x86's top-down allocator returns it because it is free,
 * and security_mmap_addr() refuses it (-EPERM, unprivileged). mmap()
 * raises the same hint to mmap_min_addr; a free hint above it is honoured.
 */
START_TEST(test_mremap_dontunmap_low_hint)
{
	uint64_t out;

	map_at(vas, P(0), 2, RW);
	ck_assert_int_eq(vas_mremap(vas, P(0), 2 * PG, 2 * PG,
				    VAS_MREMAP_DONTUNMAP | VAS_MREMAP_MAYMOVE,
				    0x1000, &out),
			 -EPERM);
	ck_assert_str_eq(draw(vas, 4), "AA..");
	ck_assert_int_eq(vas_mmap(vas, 0x2000, PG, RW, ANON, NULL, 0, &out), 0);
	ck_assert_uint_eq(out, 0x10000);
	ck_assert_int_eq(vas_mremap(vas, P(0), 2 * PG, 2 * PG,
				    VAS_MREMAP_DONTUNMAP | VAS_MREMAP_MAYMOVE,
				    0x20000, &out),
			 0);
	ck_assert_uint_eq(out, 0x20000);
	valid(vas);
}
END_TEST

/*
 * DONTUNMAP to right below an unfaulted source: the new VMA merges with
 * the source (copy_vma() allows it; Linux shows one VMA too).
 *
 *   before   ....AAAAAAAA      after   .AAAAAAAAAAA
 *                 ^^^ moved            ^^^ lands here
 */
START_TEST(test_mremap_dontunmap_self_merge)
{
	uint64_t out;

	map_at(vas, P(4), 8, VAS_PROT_READ);
	ck_assert_int_eq(vas_mremap(vas, P(8), 3 * PG, 3 * PG,
				    VAS_MREMAP_DONTUNMAP | VAS_MREMAP_MAYMOVE |
					    VAS_MREMAP_FIXED,
				    P(1), &out),
			 0);
	ck_assert_uint_eq(out, P(1));
	ck_assert_str_eq(draw(vas, 12), ".AAAAAAAAAAA");
	valid(vas);
}
END_TEST

/* ---------------------------------------------------------------- */
/* brk                                                               */

START_TEST(test_brk)
{
	uint64_t b0, b, out;
	struct vas_vma_info i;

	ck_assert_int_eq(vas_brk(vas, 0, &b0), 0);
	ck_assert_uint_eq(b0, VAS_DEFAULT_BRK_BASE);
	ck_assert_int_eq(vas_brk(vas, b0 + 10000, &b), 0);
	ck_assert_uint_eq(b, b0 + 10000);
	i = info_at(vas, b0);
	ck_assert_ptr_nonnull(i.name);
	ck_assert_str_eq(i.name, "[heap]");
	ck_assert_uint_eq(i.end, b0 + 3 * PG);
	/* Growing merges with the heap VMA. */
	ck_assert_int_eq(vas_brk(vas, b0 + 5 * PG, &b), 0);
	ck_assert_uint_eq(info_at(vas, b0).end, b0 + 5 * PG);
	/* A mapping one page above the new break is fine, closer is not. */
	ck_assert_int_eq(vas_mmap(vas, b0 + 8 * PG, PG, RO, FIX, NULL, 0, &out),
			 0);
	ck_assert_int_eq(vas_brk(vas, b0 + 8 * PG, &b), 0);
	ck_assert_uint_eq(b, b0 + 5 * PG);
	ck_assert_int_eq(vas_brk(vas, b0 + 7 * PG, &b), 0);
	ck_assert_uint_eq(b, b0 + 7 * PG);
	/* Shrinking unmaps; below start_brk is refused. */
	ck_assert_int_eq(vas_brk(vas, b0 + PG, &b), 0);
	ck_assert_uint_eq(b, b0 + PG);
	ck_assert_uint_eq(info_at(vas, b0).end, b0 + PG);
	ck_assert_int_eq(vas_brk(vas, b0 - PG, &b), 0);
	ck_assert_uint_eq(b, b0 + PG);
	valid(vas);
}
END_TEST

/*
 * A heap that starts next to a compatible VMA below start_brk stays a VMA
 * of its own, as in Linux (brk() expands only a VMA at or above start_brk),
 * and the validator accepts the pair (a fuzzer found it rejecting them).
 */
START_TEST(test_brk_below_start)
{
	uint64_t b0, b, out;

	ck_assert_int_eq(vas_brk(vas, 0, &b0), 0);
	ck_assert_int_eq(
		vas_mmap(vas, b0 - 2 * PG, 2 * PG, RW, FIX, NULL, 0, &out), 0);
	ck_assert_int_eq(vas_brk(vas, b0 + 2 * PG, &b), 0);
	ck_assert_uint_eq(b, b0 + 2 * PG);
	ck_assert_uint_eq(info_at(vas, b0 - PG).end, b0);
	ck_assert_uint_eq(info_at(vas, b0).start, b0);
	ck_assert_uint_eq(info_at(vas, b0).end, b0 + 2 * PG);
	valid(vas);
	/* Growing again expands the heap VMA itself. */
	ck_assert_int_eq(vas_brk(vas, b0 + 4 * PG, &b), 0);
	ck_assert_uint_eq(info_at(vas, b0).start, b0);
	ck_assert_uint_eq(info_at(vas, b0).end, b0 + 4 * PG);
	valid(vas);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Faults and stacks                                                 */

START_TEST(test_fault_access)
{
	struct vas_fault_result r;

	map_at(vas, P(0), 1, RO);
	map_at(vas, P(1), 1, 0);
	map_at(vas, P(2), 1, VAS_PROT_WRITE);
	ck_assert_int_eq(vas_fault(vas, P(0), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.status, VAS_FAULT_OK);
	ck_assert(r.populated);
	/* A read of private anonymous memory maps the zero page. */
	ck_assert_uint_eq(r.vma.rss_pages, 0);
	ck_assert(!(r.vma.flags & VAS_VM_ANON_VMA));
	ck_assert_int_eq(vas_fault(vas, P(0) + 5, VAS_ACCESS_READ, &r), 0);
	ck_assert(!r.populated);
	ck_assert_int_eq(vas_fault(vas, P(0), VAS_ACCESS_WRITE, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_ACCERR);
	ck_assert_int_eq(vas_fault(vas, P(0), VAS_ACCESS_EXEC, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_ACCERR);
	ck_assert_int_eq(vas_fault(vas, P(1), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_ACCERR);
	/* Write-only still reads (access_error(): any of r/w/x). */
	ck_assert_int_eq(vas_fault(vas, P(2), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.status, VAS_FAULT_OK);
	ck_assert_int_eq(vas_fault(vas, P(3), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_MAPERR);
	/* munmap releases pages. */
	ck_assert_int_eq(vas_munmap(vas, P(0), PG), 0);
	map_at(vas, P(0), 1, RO);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 0);
}
END_TEST

/*
 * One exec fault on a page of an accessible VMA without PROT_EXEC, on a
 * space with or without the zero page: what Linux on x86 leaves behind.
 */
struct exec_case {
	const char *what;
	unsigned flags; /* mmap flags beyond MAP_FIXED */
	const char *file;
	unsigned prot;
	bool zero_page;
	uint64_t rss;  /* rss_pages after the fault */
	bool anon_vma; /* the VMA has an anon_vma after it */
};

static void check_exec_case(const struct exec_case *c)
{
	struct vas_layout l;
	struct vas_fault_result r;
	struct vas *v;
	uint64_t out;

	vas_layout_default(&l);
	l.no_zero_page = !c->zero_page;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	ck_assert_int_eq(vas_mmap(v, P(0), 2 * PG, c->prot,
				  c->flags | VAS_MAP_FIXED, c->file, 0, &out),
			 0);
	/* Not present: handled as a read (page mapped), then SEGV_ACCERR. */
	ck_assert_int_eq(vas_fault(v, P(0) + 16, VAS_ACCESS_EXEC, &r), 0);
	ck_assert_msg(r.status == VAS_FAULT_SEGV && r.code == VAS_SEGV_ACCERR,
		      "%s: status %d code %d", c->what, r.status, r.code);
	ck_assert_msg(r.populated, "%s: the fetch did not map the page",
		      c->what);
	ck_assert_msg(info_at(v, P(0)).rss_pages == c->rss,
		      "%s: rss %" PRIu64 ", want %" PRIu64, c->what,
		      info_at(v, P(0)).rss_pages, c->rss);
	ck_assert_msg(!!(info_at(v, P(0)).flags & VAS_VM_ANON_VMA) ==
			      c->anon_vma,
		      "%s: anon_vma %d", c->what, !c->anon_vma);
	/* Present now: a protection fault, nothing more is mapped. */
	ck_assert_int_eq(vas_fault(v, P(0) + 32, VAS_ACCESS_EXEC, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_ACCERR);
	ck_assert(!r.populated);
	ck_assert_uint_eq(info_at(v, P(0)).rss_pages, c->rss);
	/* The read the fetch became is an ordinary read: the page is there. */
	ck_assert_int_eq(vas_fault(v, P(0), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.status, VAS_FAULT_OK);
	ck_assert(!r.populated);
	valid(v);
	vas_free(v);
}

START_TEST(test_exec_fault_as_read)
{
	static const struct exec_case cases[] = {
		{"private anon rw", ANON, NULL, RW, true, 0, false},
		{"private anon r", ANON, NULL, RO, true, 0, false},
		{"private anon rw, no zero page", ANON, NULL, RW, false, 1,
		 true},
		{"private anon r, no zero page", ANON, NULL, RO, false, 1,
		 true},
		{"private file r", VAS_MAP_PRIVATE, "/lib/x.so", RO, true, 1,
		 false},
		{"private file rw", VAS_MAP_PRIVATE, "/lib/x.so", RW, true, 1,
		 false},
		{"shared anon rw", VAS_MAP_SHARED | VAS_MAP_ANONYMOUS, NULL, RW,
		 true, 1, false},
		{"shared file r", VAS_MAP_SHARED, "/data/f", RO, true, 1,
		 false},
		{"shared file rw, no zero page", VAS_MAP_SHARED, "/data/f", RW,
		 false, 1, false},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_exec_case(&cases[i]);
}
END_TEST

/*
 * The sequence a machine without the zero page failed on: the exec fault
 * maps the page as a read, which there gives the VMA an anon_vma, so the
 * r-- pieces mprotect leaves stay apart (3 VMAs); with the zero page they
 * merge (2).
 */
static size_t exec_then_mprotect(bool zero_page)
{
	struct vas_layout l;
	struct vas_fault_result r;
	struct vas *v;
	uint64_t out;
	size_t n;

	vas_layout_default(&l);
	l.no_zero_page = !zero_page;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	ck_assert_int_eq(vas_mmap(v, P(0x24d), 7 * PG, RW, FIX, NULL, 0, &out),
			 0);
	ck_assert_int_eq(vas_fault(v, P(0x250) + 0x90, VAS_ACCESS_EXEC, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_ACCERR);
	ck_assert_int_eq(vas_munmap(v, P(0x253), 2 * PG), 0);
	ck_assert_int_eq(vas_mmap(v, P(0x253), 4 * PG, VAS_PROT_EXEC,
				  ANON | VAS_MAP_FIXED_NOREPLACE, NULL, 0,
				  &out),
			 0);
	ck_assert_int_eq(vas_mprotect(v, P(0x251), 0x1b * PG, RO), -ENOMEM);
	n = nr_vmas(v);
	valid(v);
	vas_free(v);
	return n;
}

START_TEST(test_exec_fault_then_merge)
{
	ck_assert_uint_eq(exec_then_mprotect(false), 3);
	ck_assert_uint_eq(exec_then_mprotect(true), 2);
}
END_TEST

/*
 * The zero page: a read maps it without counting it, a later write gives
 * the page one of its own (counted, and the VMA gets its anon_vma), and a
 * PROT_NONE VMA is not touched by a fetch.
 */
START_TEST(test_zero_page)
{
	struct vas_fault_result r;

	map_at(vas, P(0), 4, RW);
	map_at(vas, P(4), 1, 0);
	ck_assert_int_eq(vas_fault(vas, P(0), VAS_ACCESS_READ, &r), 0);
	ck_assert(r.populated);
	ck_assert_uint_eq(r.vma.rss_pages, 0);
	ck_assert_int_eq(vas_fault(vas, P(0), VAS_ACCESS_WRITE, &r), 0);
	ck_assert_int_eq(r.status, VAS_FAULT_OK);
	ck_assert(!r.populated); /* present already: copy-on-write */
	ck_assert_uint_eq(r.vma.rss_pages, 1);
	ck_assert(r.vma.flags & VAS_VM_ANON_VMA);
	ck_assert_int_eq(vas_fault(vas, P(1), VAS_ACCESS_WRITE, &r), 0);
	ck_assert(r.populated);
	ck_assert_uint_eq(r.vma.rss_pages, 2);
	/* Another read maps the zero page again: still two counted. */
	ck_assert_int_eq(vas_fault(vas, P(2), VAS_ACCESS_READ, &r), 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 2);
	ck_assert_int_eq(vas_fault(vas, P(4), VAS_ACCESS_EXEC, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_ACCERR);
	ck_assert(!r.populated);
	valid(vas);
}
END_TEST

START_TEST(test_stack_growth)
{
	struct vas *v = new_space(256, 65530, true);
	uint64_t top = VAS_DEFAULT_TASK_SIZE, out;
	struct vas_fault_result r;
	struct vas_stats st;

	ck_assert_str_eq(info_at(v, top - PG).name, "[stack]");
	ck_assert(info_at(v, top - PG).flags & VAS_VM_GROWSDOWN);
	/* Far below (1 MiB) still grows: no distance check in 6.x. */
	ck_assert_int_eq(vas_fault(v, top - (1ULL << 20), VAS_ACCESS_WRITE, &r),
			 0);
	ck_assert_int_eq(r.status, VAS_FAULT_OK);
	ck_assert(r.expanded);
	ck_assert_uint_eq(r.vma.start, top - (1ULL << 20));
	/* Beyond the 8 MiB rlimit: refused. */
	ck_assert_int_eq(vas_fault(v, top - (9ULL << 20), VAS_ACCESS_READ, &r),
			 0);
	ck_assert_int_eq(r.code, VAS_SEGV_MAPERR);
	/* A neighbour within the guard gap blocks growth. */
	ck_assert_int_eq(
		vas_mmap(v, top - (4ULL << 20), PG, RO, FIX, NULL, 0, &out), 0);
	ck_assert_int_eq(
		vas_fault(v, top - (3ULL << 20) - 2 * PG, VAS_ACCESS_READ, &r),
		0);
	ck_assert_int_eq(r.code, VAS_SEGV_MAPERR);
	ck_assert_int_eq(
		vas_fault(v, top - (3ULL << 20) + PG, VAS_ACCESS_READ, &r), 0);
	ck_assert(r.expanded);
	vas_stats(v, &st);
	ck_assert_uint_eq(st.expansions, 2);
	ck_assert_uint_eq(st.segv_maperr, 2);
	valid(v);
	vas_free(v);
}
END_TEST

/*
 * A thread that finds every reader slot taken faults under the writer
 * lock (fault_locked()): it must still grow a stack, as any other thread
 * would. 300 threads hold the 256 slots while one more faults.
 */
#define SLOT_HOLDERS 300

struct slot_holders {
	struct vas *v;
	pthread_barrier_t faulted, release;
};

static void *slot_holder(void *arg)
{
	struct slot_holders *h = arg;
	struct vas_fault_result r;
	int err;

	urcu_memb_register_thread();
	err = vas_fault(h->v, VAS_DEFAULT_TASK_SIZE - PG, VAS_ACCESS_READ, &r);
	pthread_barrier_wait(&h->faulted);
	pthread_barrier_wait(&h->release);
	urcu_memb_unregister_thread();
	return (void *)(long)(err || r.status != VAS_FAULT_OK);
}

struct grow_result {
	struct vas *v;
	struct vas_fault_result near, far;
};

static void *slotless_grower(void *arg)
{
	struct grow_result *g = arg;
	uint64_t top = VAS_DEFAULT_TASK_SIZE;

	urcu_memb_register_thread();
	if (vas_fault(g->v, top - (1ULL << 20), VAS_ACCESS_WRITE, &g->near) ||
	    vas_fault(g->v, top - (9ULL << 20), VAS_ACCESS_READ, &g->far))
		g->near.status = g->far.status = -1;
	urcu_memb_unregister_thread();
	return NULL;
}

START_TEST(test_stack_growth_without_reader_slot)
{
	static pthread_t th[SLOT_HOLDERS];
	struct slot_holders h = {.v = new_space(256, 65530, true)};
	struct grow_result g = {.v = h.v};
	pthread_t t;
	void *bad;
	unsigned i;

	pthread_barrier_init(&h.faulted, NULL, SLOT_HOLDERS + 1);
	pthread_barrier_init(&h.release, NULL, SLOT_HOLDERS + 1);
	for (i = 0; i < SLOT_HOLDERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, slot_holder, &h),
				 0);
	pthread_barrier_wait(&h.faulted);
	ck_assert_int_eq(pthread_create(&t, NULL, slotless_grower, &g), 0);
	pthread_join(t, NULL);
	pthread_barrier_wait(&h.release);
	for (i = 0; i < SLOT_HOLDERS; i++) {
		pthread_join(th[i], &bad);
		ck_assert_ptr_null(bad);
	}
	pthread_barrier_destroy(&h.faulted);
	pthread_barrier_destroy(&h.release);
	ck_assert_int_eq(g.near.status, VAS_FAULT_OK);
	ck_assert(g.near.expanded && g.near.changed);
	ck_assert_uint_eq(g.near.vma.start,
			  VAS_DEFAULT_TASK_SIZE - (1ULL << 20));
	ck_assert_int_eq(g.far.status, VAS_FAULT_SEGV);
	ck_assert_int_eq(g.far.code, VAS_SEGV_MAPERR);
	valid(h.v);
	vas_free(h.v);
}
END_TEST

/*
 * A growth that RLIMIT_STACK refuses still prepares the stack's anon_vma
 * (expand_downwards(): anon_vma_prepare() before acct_stack_growth()),
 * so the hole between the stack and a written VMA below then merges with
 * that VMA only; a growth refused by the guard gap prepares nothing.
 *
 *   P.SSSS   P written (own anon_vma), S a 4-page stack, rlimit 4 pages
 *   PPSSSS   after the refused fault at the hole and a map of the hole
 */
START_TEST(test_stack_rlimit_prepares_anon)
{
	const unsigned GD = ANON | VAS_MAP_GROWSDOWN | VAS_MAP_FIXED;
	struct vas_layout l;
	struct vas_fault_result r;
	struct vas *v;
	uint64_t out;

	vas_layout_default(&l);
	l.stack_rlimit = 4 * PG;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	ck_assert_int_eq(vas_mmap(v, P(0), PG, RW, GD, NULL, 0, &out), 0);
	fault_ok(v, P(0), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_mmap(v, P(2), 4 * PG, RW, GD, NULL, 0, &out), 0);
	ck_assert_uint_eq(info_at(v, P(2)).anon_vma, 0);
	ck_assert_int_eq(vas_fault(v, P(1), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_MAPERR);
	ck_assert_uint_ne(info_at(v, P(2)).anon_vma, 0);
	ck_assert_uint_ne(info_at(v, P(2)).anon_vma, info_at(v, P(0)).anon_vma);
	/* A change, though refused: a journal must record this fault. */
	ck_assert(r.changed);
	ck_assert_int_eq(vas_fault(v, P(1), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_MAPERR);
	ck_assert(!r.changed);
	ck_assert_int_eq(vas_mmap(v, P(1), PG, RW, GD, NULL, 0, &out), 0);
	ck_assert_str_eq(draw(v, 6), "AABBBB");
	valid(v);
	vas_free(v);

	/* Refused by the guard gap: no anon_vma. */
	vas_layout_default(&l);
	l.stack_guard_gap = 4; /* pages */
	ck_assert_int_eq(vas_new(&l, &v), 0);
	map_at(v, P(0), 1, RW);
	ck_assert_int_eq(vas_mmap(v, P(3), 2 * PG, RW, GD, NULL, 0, &out), 0);
	ck_assert_int_eq(vas_fault(v, P(2), VAS_ACCESS_READ, &r), 0);
	ck_assert_int_eq(r.code, VAS_SEGV_MAPERR);
	ck_assert_uint_eq(info_at(v, P(3)).anon_vma, 0);
	ck_assert(!r.changed);
	valid(v);
	vas_free(v);
}
END_TEST

/* With guard gap 0 a stack grows until it abuts its neighbour. */
START_TEST(test_stack_gap0)
{
	struct vas *v = new_space(0, 65530, false);
	struct vas_fault_result r;
	uint64_t out;

	ck_assert_int_eq(vas_mmap(v, P(8), 2 * PG, RW, FIX | VAS_MAP_GROWSDOWN,
				  NULL, 0, &out),
			 0);
	map_at(v, P(0), 2, RW);
	ck_assert_int_eq(vas_fault(v, P(2), VAS_ACCESS_WRITE, &r), 0);
	ck_assert(r.expanded);
	ck_assert_str_eq(draw(v, 10), "AABBBBBBBB");
	ck_assert_int_eq(vas_fault(v, P(1), VAS_ACCESS_READ, &r), 0);
	ck_assert(!r.expanded);
	ck_assert_str_eq(draw(v, 10), "AABBBBBBBB");
	/* A PROT_NONE neighbour is no obstacle for the gap. */
	valid(v);
	vas_free(v);
}
END_TEST

/* ---------------------------------------------------------------- */
/* fork, maps format                                                 */

START_TEST(test_fork)
{
	struct vas *child;

	map_at(vas, P(0), 4, RW);
	fault_ok(vas, P(1), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_fork(vas, &child), 0);
	ck_assert_str_eq(draw(child, 4), "AAAA");
	ck_assert_uint_eq(info_at(child, P(0)).rss_pages, 1);
	ck_assert(info_at(child, P(0)).flags & VAS_VM_FORKED);
	/* Independent: unmapping in the child leaves the parent. */
	ck_assert_int_eq(vas_munmap(child, P(0), PG), 0);
	ck_assert_str_eq(draw(vas, 4), "AAAA");
	/* A fork child's VMA does not merge with an unwritten one... */
	ck_assert_int_eq(vas_mprotect(child, P(2), PG, RO), 0);
	ck_assert_int_eq(vas_mprotect(child, P(2), PG, RW), 0);
	ck_assert_str_eq(draw(child, 4), ".AAA");
	map_at(child, P(0), 1, RW);
	ck_assert_str_eq(draw(child, 4), "ABBB");
	valid(child);
	vas_free(child);
}
END_TEST

/*
 * layout.tree_in_place (on by default) reaches the space's tree, and a
 * fork child's: its commits below the root keep the ancestors (vt_stats
 * nr_kept), which never happens at the root. VMA_TREE_IN_PLACE=0 in the
 * environment turns it off as well (on = 2).
 */
START_TEST(test_tree_in_place)
{
	struct vas_layout l;
	struct vas_stats st;
	struct vas *v, *child;

	ck_assert_int_eq(unsetenv("VMA_TREE_IN_PLACE"), 0);
	vas_layout_default(&l);
	ck_assert(l.tree_in_place);
	for (int mode = 0; mode < 3; mode++) {
		bool on = mode == 1;

		l.tree_in_place = mode != 0;
		if (mode == 2)
			ck_assert_int_eq(setenv("VMA_TREE_IN_PLACE", "0", 1),
					 0);
		ck_assert_int_eq(vas_new(&l, &v), 0);
		for (int i = 0; i < 200; i++)
			map_at(v, P(2 * (uint64_t)i), 1, (i & 1) ? RO : RW);
		ck_assert_int_eq(vas_fork(v, &child), 0);
		for (int i = 0; i < 100; i++) {
			ck_assert_int_eq(vas_mprotect(v, P(2 * 50), PG, RW), 0);
			ck_assert_int_eq(vas_mprotect(v, P(2 * 50), PG, RO), 0);
			ck_assert_int_eq(vas_mprotect(child, P(2 * 50), PG, RW),
					 0);
			ck_assert_int_eq(vas_mprotect(child, P(2 * 50), PG, RO),
					 0);
		}
		vas_stats(v, &st);
		ck_assert(st.tree.height >= 2);
		if (on)
			ck_assert_uint_gt(st.tree.nr_kept, 0);
		else
			ck_assert_uint_eq(st.tree.nr_kept, 0);
		vas_stats(child, &st);
		if (on)
			ck_assert_uint_gt(st.tree.nr_kept, 0);
		else
			ck_assert_uint_eq(st.tree.nr_kept, 0);
		valid(v);
		valid(child);
		vas_free(child);
		vas_free(v);
	}
	unsetenv("VMA_TREE_IN_PLACE");
}
END_TEST

START_TEST(test_maps_format)
{
	struct vas_vma_info i;
	char buf[512];
	uint64_t a;
	int n;

	map_at(vas, P(0), 1, RW);
	i = info_at(vas, P(0));
	n = vas_format_maps_line(&i, buf, sizeof(buf));
	ck_assert_str_eq(buf, "10000000-10001000 rw-p 00000000 00:00 0 \n");
	ck_assert_int_eq(n, (int)strlen(buf));
	ck_assert_int_eq(vas_mmap(vas, P(2), PG, RO | VAS_PROT_EXEC,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED,
				  "/usr/lib/libc.so.6", 0x26000, &a),
			 0);
	i = info_at(vas, P(2));
	vas_format_maps_line(&i, buf, sizeof(buf));
	ck_assert_int_eq(strlen(buf), 73 + strlen("/usr/lib/libc.so.6") + 1);
	ck_assert(!strncmp(buf, "10002000-10003000 r-xp 00026000 fe:01 ", 38));
	ck_assert(!strcmp(buf + 73, "/usr/lib/libc.so.6\n"));
	ck_assert_uint_eq(i.inode, info_at(vas, P(2)).inode);
	ck_assert_int_eq(
		vas_mmap(vas, P(4), PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &a),
		0);
	i = info_at(vas, P(4));
	vas_format_maps_line(&i, buf, sizeof(buf));
	ck_assert(!strncmp(buf, "10004000-10005000 rw-s 00000000 00:01 ", 38));
	ck_assert(!strcmp(buf + 73, "/dev/zero (deleted)\n"));
	/* Truncation reports the needed length, as snprintf. */
	ck_assert_int_eq(vas_format_maps_line(&i, buf, 10),
			 (int)strlen("10004000-10005000 rw-s 00000000 00:01 ") +
				 (int)(73 - 38) + 20);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Allocation failure: every -ENOMEM leaves the maps unchanged.      */

static char *maps_text(struct vas *v)
{
	static char buf[1 << 16];
	struct vas_vma_info *m;
	size_t nr, i, off = 0;

	vma_alloc_fail_after(-1);
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	/* The maps line, then VmFlags and Rss: every property that an
	 * operation can change. */
	for (i = 0; i < nr; i++) {
		off += vas_format_maps_line(&m[i], buf + off,
					    sizeof(buf) - off);
		off += vas_format_vmflags(&m[i], buf + off, sizeof(buf) - off);
		off += snprintf(buf + off, sizeof(buf) - off,
				"rss %" PRIu64 "\n", m[i].rss_pages);
	}
	vma_free(m);
	return strdup(buf);
}

static int run_op(struct vas *v, int op)
{
	struct vas_fault_result r;
	uint64_t out;

	switch (op) {
	case 0:
		return vas_mmap(v, 0, 3 * PG, RW, ANON, NULL, 0, &out);
	case 1:
		return vas_mmap(v, P(1), 8 * PG, RO, FIX, NULL, 0, &out);
	case 2:
		return vas_mmap(v, P(20), PG, RO,
				VAS_MAP_SHARED | VAS_MAP_FIXED, "/new-file", 0,
				&out);
	case 3:
		return vas_munmap(v, P(3), 3 * PG);
	case 4:
		return vas_mprotect(v, P(1), 5 * PG, RO);
	case 5:
		return vas_mremap(v, P(0), 2 * PG, 6 * PG, VAS_MREMAP_MAYMOVE,
				  0, &out);
	case 6:
		return vas_mremap(v, P(2), 2 * PG, 2 * PG,
				  VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED, P(30),
				  &out);
	case 7:
		return vas_brk(v, VAS_DEFAULT_BRK_BASE + 5 * PG, &out);
	case 8:
		return vas_fault(v, VAS_DEFAULT_TASK_SIZE - (1ULL << 20),
				 VAS_ACCESS_WRITE, &r);
	case 9:
		return vas_mmap(v, P(40), 2 * PG, RW,
				VAS_MAP_SHARED | VAS_MAP_ANONYMOUS |
					VAS_MAP_FIXED | VAS_MAP_POPULATE,
				NULL, 0, &out);
	case 10:
		return vas_madvise(v, P(0), 2 * PG, VAS_MADV_DONTNEED);
	case 11:
		return vas_madvise(v, P(1), PG, VAS_MADV_DONTFORK);
	case 12:
		return vas_mlock(v, P(1), 2 * PG, 0);
	case 13:
		return vas_mseal(v, P(5), PG, 0);
	case 14:
		return vas_set_anon_name(v, P(1), PG, "n");
	case 15:
		return vas_madvise(v, P(2), PG, VAS_MADV_GUARD_INSTALL);
	case 16:
		return vas_mlockall(v, VAS_MCL_CURRENT | VAS_MCL_FUTURE);
	case 18:
		return vas_madvise(v, P(0), 8 * PG, VAS_MADV_POPULATE_READ);
	case 19:
		return vas_madvise(v, P(0), 4 * PG, VAS_MADV_POPULATE_WRITE);
	default: {
		struct vas *child;
		int err = vas_fork(v, &child);

		if (!err)
			vas_free(child);
		return err;
	}
	}
}

START_TEST(test_alloc_failure)
{
	int op = _i;
	long n;

	for (n = 0; n < 200; n++) {
		struct vas *v = new_space(256, 65530, true);
		char *before, *after;
		uint64_t out;
		int err;

		map_at(v, P(0), 4, RW);
		map_at(v, P(4), 4, RO);
		ck_assert_int_eq(vas_mmap(v, P(10), 4 * PG, RO,
					  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/f",
					  0, &out),
				 0);
		fault_ok(v, P(0), VAS_ACCESS_WRITE);
		before = maps_text(v);
		vma_alloc_fail_after(n);
		err = run_op(v, op);
		vma_alloc_fail_after(-1);
		after = maps_text(v);
		if (err == -ENOMEM)
			ck_assert_msg(
				!strcmp(before, after),
				"op %d fail after %ld: maps changed:\n%s\n"
				"---\n%s",
				op, n, before, after);
		valid(v);
		free(before);
		free(after);
		vas_free(v);
		if (err != -ENOMEM)
			break;
	}
	ck_assert_msg(n < 200, "op %d never succeeded", op);
}
END_TEST

/* ---------------------------------------------------------------- */
/* madvise, mlock, mseal, anonymous names, guard markers, fork       */

static int fault_code(struct vas *v, uint64_t addr, enum vas_access acc)
{
	struct vas_fault_result r;

	ck_assert_int_eq(vas_fault(v, addr, acc, &r), 0);
	return r.status == VAS_FAULT_OK ? 0 : (int)r.code;
}

static struct vas *new_space_memlock(uint64_t memlock)
{
	struct vas_layout l;
	struct vas *v;

	vas_layout_default(&l);
	l.memlock_rlimit = memlock;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	return v;
}

static const char *vmflags_at(struct vas *v, uint64_t addr)
{
	static char buf[VAS_VMFLAGS_MAX];
	struct vas_vma_info i = info_at(v, addr);

	vas_format_vmflags(&i, buf, sizeof(buf));
	return buf;
}

START_TEST(test_madvise_flags)
{
	map_at(vas, P(0), 6, RW);
	/* Argument checks before any lookup. */
	ck_assert_int_eq(vas_madvise(vas, P(0) + 1, PG, VAS_MADV_DONTFORK),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, 7), -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(0), -PG, VAS_MADV_DONTFORK),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(0), 0, VAS_MADV_DONTFORK), 0);
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, VAS_MADV_HWPOISON), -EPERM);
	/* Flag advice splits and merges. */
	ck_assert_int_eq(vas_madvise(vas, P(2), 2 * PG, VAS_MADV_DONTFORK), 0);
	ck_assert_str_eq(draw(vas, 7), "AABBCC.");
	ck_assert(info_at(vas, P(2)).flags & VAS_VM_DONTCOPY);
	ck_assert_str_eq(vmflags_at(vas, P(2)), "rd wr mr mw me dc ac ");
	ck_assert_int_eq(vas_madvise(vas, P(2), 2 * PG, VAS_MADV_DOFORK), 0);
	ck_assert_str_eq(draw(vas, 7), "AAAAAA.");
	ck_assert_int_eq(vas_madvise(vas, P(0), 6 * PG, VAS_MADV_HUGEPAGE), 0);
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, VAS_MADV_NOHUGEPAGE), 0);
	ck_assert_str_eq(vmflags_at(vas, P(0)), "rd wr mr mw me ac nh ");
	ck_assert_str_eq(vmflags_at(vas, P(1)), "rd wr mr mw me ac hg ");
	ck_assert_int_eq(vas_madvise(vas, P(0), 6 * PG, VAS_MADV_SEQUENTIAL),
			 0);
	ck_assert(info_at(vas, P(5)).flags & VAS_VM_SEQ_READ);
	ck_assert_int_eq(vas_madvise(vas, P(0), 6 * PG, VAS_MADV_RANDOM), 0);
	ck_assert(!(info_at(vas, P(5)).flags & VAS_VM_SEQ_READ));
	ck_assert(info_at(vas, P(5)).flags & VAS_VM_RAND_READ);
	/* A hole: advised around it, ENOMEM at the end. */
	ck_assert_int_eq(vas_munmap(vas, P(3), PG), 0);
	ck_assert_int_eq(vas_madvise(vas, P(2), 3 * PG, VAS_MADV_DONTDUMP),
			 -ENOMEM);
	ck_assert(info_at(vas, P(2)).flags & VAS_VM_DONTDUMP);
	ck_assert(info_at(vas, P(4)).flags & VAS_VM_DONTDUMP);
	ck_assert(!(info_at(vas, P(1)).flags & VAS_VM_DONTDUMP));
	/* Nothing mapped at or above: ENOMEM. */
	ck_assert_int_eq(vas_madvise(vas, P(8), PG, VAS_MADV_DONTDUMP),
			 -ENOMEM);
	valid(vas);
}
END_TEST

START_TEST(test_madvise_errors)
{
	uint64_t a;

	map_at(vas, P(0), 2, RW);
	ck_assert_int_eq(vas_mmap(vas, P(2), 2 * PG, RW,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/f", 0, &a),
			 0);
	ck_assert_int_eq(
		vas_mmap(vas, P(4), 2 * PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &a),
		0);
	/* WIPEONFORK: private anonymous memory only; the walk stops. */
	ck_assert_int_eq(vas_madvise(vas, P(0), 6 * PG, VAS_MADV_WIPEONFORK),
			 -EINVAL);
	ck_assert(info_at(vas, P(0)).flags & VAS_VM_WIPEONFORK);
	ck_assert_int_eq(vas_madvise(vas, P(4), PG, VAS_MADV_WIPEONFORK),
			 -EINVAL);
	/* FREE: anonymous private only. REMOVE: shared writable files. */
	ck_assert_int_eq(vas_madvise(vas, P(2), PG, VAS_MADV_FREE), -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, VAS_MADV_REMOVE), -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(2), PG, VAS_MADV_REMOVE), -EACCES);
	ck_assert_int_eq(vas_madvise(vas, P(4), PG, VAS_MADV_REMOVE), 0);
	/* MERGEABLE is ignored on shared memory. */
	ck_assert_int_eq(vas_madvise(vas, P(4), PG, VAS_MADV_MERGEABLE), 0);
	ck_assert(!(info_at(vas, P(4)).flags & VAS_VM_MERGEABLE));
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, VAS_MADV_MERGEABLE), 0);
	ck_assert(info_at(vas, P(0)).flags & VAS_VM_MERGEABLE);
	valid(vas);
}
END_TEST

START_TEST(test_madvise_dontneed)
{
	map_at(vas, P(0), 4, RW);
	fault_ok(vas, P(0), VAS_ACCESS_WRITE);
	fault_ok(vas, P(3), VAS_ACCESS_WRITE);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 2);
	/* FREE keeps the pages until reclaim. */
	ck_assert_int_eq(vas_madvise(vas, P(0), 4 * PG, VAS_MADV_FREE), 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 2);
	ck_assert_int_eq(vas_madvise(vas, P(0), 2 * PG, VAS_MADV_DONTNEED), 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 1);
	ck_assert_str_eq(draw(vas, 4), "AAAA");
	/* A locked VMA refuses DONTNEED but not DONTNEED_LOCKED. */
	ck_assert_int_eq(vas_mlock(vas, P(0), 4 * PG, 0), 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 4);
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, VAS_MADV_DONTNEED),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, VAS_MADV_DONTNEED_LOCKED),
			 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 3);
	valid(vas);
}
END_TEST

/* A space with or without the shared zero page. */
static struct vas *zero_page_space(bool zero_page)
{
	struct vas_layout l;
	struct vas *v;

	vas_layout_default(&l);
	l.no_zero_page = !zero_page;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	return v;
}

/*
 * madvise(@advice) of @pages pages at @addr succeeds and leaves the VMA
 * there with @rss pages counted and an anon_vma or not (@anon).
 */
static void populate_ok(struct vas *v, uint64_t addr, uint64_t pages,
			int advice, uint64_t rss, bool anon)
{
	struct vas_vma_info i;

	ck_assert_int_eq(vas_madvise(v, addr, pages * PG, advice), 0);
	i = info_at(v, addr);
	ck_assert_uint_eq(i.rss_pages, rss);
	ck_assert_int_eq(!!(i.flags & VAS_VM_ANON_VMA), anon);
}

START_TEST(test_madvise_populate_errors)
{
	uint64_t mut;

	/* madvise_should_skip(): alignment and length first. */
	map_at(vas, P(0), 4, RW);
	ck_assert_int_eq(vas_madvise(vas, P(0) + 1, PG, VAS_MADV_POPULATE_READ),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(0), -PG, VAS_MADV_POPULATE_WRITE),
			 -EINVAL);
	mut = vas_mutation_count(vas);
	ck_assert_int_eq(vas_madvise(vas, P(8), 0, VAS_MADV_POPULATE_READ), 0);
	ck_assert_uint_eq(vas_mutation_count(vas), mut);
	/* vma_lookup() of the start: a hole, and no stack expansion. */
	ck_assert_int_eq(vas_madvise(vas, P(4), PG, VAS_MADV_POPULATE_READ),
			 -ENOMEM);
	/* A hole after a VMA: the pages before it stay populated. */
	ck_assert_int_eq(
		vas_madvise(vas, P(2), 4 * PG, VAS_MADV_POPULATE_WRITE),
		-ENOMEM);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 2);
	ck_assert(info_at(vas, P(0)).flags & VAS_VM_ANON_VMA);
	ck_assert_str_eq(draw(vas, 6), "AAAA..");
	/* check_vma_flags(): no VM_READ / no VM_WRITE is -EINVAL. */
	map_at(vas, P(8), 1, 0);
	map_at(vas, P(9), 1, RO);
	map_at(vas, P(10), 1, VAS_PROT_WRITE);
	map_at(vas, P(11), 1, VAS_PROT_EXEC);
	ck_assert_int_eq(vas_madvise(vas, P(8), PG, VAS_MADV_POPULATE_READ),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(8), PG, VAS_MADV_POPULATE_WRITE),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(9), PG, VAS_MADV_POPULATE_WRITE),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(10), PG, VAS_MADV_POPULATE_READ),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(11), PG, VAS_MADV_POPULATE_READ),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(10), PG, VAS_MADV_POPULATE_WRITE),
			 0);
	ck_assert_uint_eq(info_at(vas, P(10)).rss_pages, 1);
	/* The read-only VMA after a populated one: the first stays done. */
	ck_assert_int_eq(vas_madvise(vas, P(9), 2 * PG, VAS_MADV_POPULATE_READ),
			 -EINVAL);
	ck_assert_uint_eq(info_at(vas, P(9)).rss_pages, 0); /* zero page */
	ck_assert_uint_eq(info_at(vas, P(8)).rss_pages, 0);
	/* Not modelled: still -ENOSYS. */
	ck_assert_int_eq(vas_madvise(vas, P(0), PG, VAS_MADV_PAGEOUT), -ENOSYS);
	valid(vas);
}
END_TEST

START_TEST(test_madvise_populate_read)
{
	struct vas *v = zero_page_space(true), *nz = zero_page_space(false);
	struct vas_fault_result r;
	uint64_t out;

	/* Private anonymous: the zero page, no anon_vma, nothing counted. */
	map_at(v, P(0), 4, RW);
	populate_ok(v, P(0), 4, VAS_MADV_POPULATE_READ, 0, false);
	ck_assert_int_eq(vas_fault(v, P(1), VAS_ACCESS_READ, &r), 0);
	ck_assert(!r.populated); /* present: the zero page */
	/* Without the zero page a read allocates: anon_vma, counted. */
	map_at(nz, P(0), 4, RW);
	populate_ok(nz, P(0), 4, VAS_MADV_POPULATE_READ, 4, true);
	/* A file and a shared mapping: pages of their own, no anon_vma. */
	ck_assert_int_eq(vas_mmap(v, P(8), 2 * PG, RO,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/data/f", 0,
				  &out),
			 0);
	ck_assert_int_eq(
		vas_mmap(v, P(10), 2 * PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &out),
		0);
	ck_assert_int_eq(vas_madvise(v, P(8), 4 * PG, VAS_MADV_POPULATE_READ),
			 0);
	ck_assert_uint_eq(info_at(v, P(8)).rss_pages, 2);
	ck_assert_uint_eq(info_at(v, P(10)).rss_pages, 2);
	ck_assert(!(info_at(v, P(8)).flags & VAS_VM_ANON_VMA));
	/* The VMA layout does not change. */
	ck_assert_str_eq(draw(v, 12), "AAAA....BBCC");
	valid(v);
	valid(nz);
	vas_free(nz);
	vas_free(v);
}
END_TEST

START_TEST(test_madvise_populate_write)
{
	uint64_t out;

	map_at(vas, P(0), 4, RW);
	/* The zero page of a read becomes a page of its own. */
	ck_assert_int_eq(vas_madvise(vas, P(0), 2 * PG, VAS_MADV_POPULATE_READ),
			 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 0);
	populate_ok(vas, P(0), 4, VAS_MADV_POPULATE_WRITE, 4, true);
	/* Again: nothing more to count. */
	ck_assert_int_eq(
		vas_madvise(vas, P(0), 4 * PG, VAS_MADV_POPULATE_WRITE), 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 4);
	/* A private writable file mapping is copied: anon_vma. */
	ck_assert_int_eq(vas_mmap(vas, P(8), 2 * PG, RW,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/data/f", 0,
				  &out),
			 0);
	populate_ok(vas, P(8), 2, VAS_MADV_POPULATE_WRITE, 2, true);
	/* A shared one is written in place: no anon_vma. */
	ck_assert_int_eq(vas_mmap(vas, P(12), 2 * PG, RW,
				  VAS_MAP_SHARED | VAS_MAP_FIXED, "/data/g", 0,
				  &out),
			 0);
	populate_ok(vas, P(12), 2, VAS_MADV_POPULATE_WRITE, 2, false);
	/* VM_LOCKONFAULT does not stop it (only __mm_populate() skips). */
	ck_assert_int_eq(vas_mmap(vas, P(16), 2 * PG, RW, FIX, NULL, 0, &out),
			 0);
	ck_assert_int_eq(vas_mlock(vas, P(16), 2 * PG, VAS_MLOCK_ONFAULT), 0);
	ck_assert_uint_eq(info_at(vas, P(16)).rss_pages, 0);
	ck_assert_int_eq(
		vas_madvise(vas, P(16), 2 * PG, VAS_MADV_POPULATE_WRITE), 0);
	ck_assert_uint_eq(info_at(vas, P(16)).rss_pages, 2);
	valid(vas);
}
END_TEST

START_TEST(test_madvise_populate_guard)
{
	map_at(vas, P(0), 6, RW);
	ck_assert_int_eq(vas_madvise(vas, P(3), PG, VAS_MADV_GUARD_INSTALL), 0);
	/* The pages before the marker are populated, then -EFAULT. */
	ck_assert_int_eq(
		vas_madvise(vas, P(0), 6 * PG, VAS_MADV_POPULATE_WRITE),
		-EFAULT);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 3);
	ck_assert_int_eq(fault_code(vas, P(3), VAS_ACCESS_READ),
			 VAS_SEGV_MAPERR);
	ck_assert_int_eq(
		vas_madvise(vas, P(4), 2 * PG, VAS_MADV_POPULATE_WRITE), 0);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 5);
	ck_assert_int_eq(vas_madvise(vas, P(3), PG, VAS_MADV_POPULATE_READ),
			 -EFAULT);
	valid(vas);
}
END_TEST

/* A space imported from @areas, with the brk and stack of a process. */
static struct vas *import_areas(struct vas_import_area *areas, size_t nr)
{
	struct vas_import imp = {
		.areas = areas,
		.nr = nr,
		.brk = 0x55555555a000,
		.start_stack = 0x7fffffffe000,
	};
	struct vas_layout l;
	struct vas *v;
	size_t bad;

	vas_layout_default(&l);
	l.brk_base = 0x555555558000;
	ck_assert_int_eq(vas_import(&l, &imp, &v, &bad), 0);
	return v;
}

START_TEST(test_madvise_special_mappings)
{
	struct vas_import_area areas[] = {
		{0x7ffff7fc2000, 0x7ffff7fc6000, 0, VAS_PROT_READ, 0,
		 VAS_IMPORT_SPECIAL_PFNMAP, "[vvar]", 0, 0, NULL},
		{0x7ffff7fc8000, 0x7ffff7fca000, 0,
		 VAS_PROT_READ | VAS_PROT_EXEC, 0, VAS_IMPORT_SPECIAL, "[vdso]",
		 0, 0, NULL},
	};
	struct vas *v = import_areas(areas, 2);

	/* check_vma_flags(): VM_PFNMAP | VM_IO is -EINVAL. */
	ck_assert_int_eq(
		vas_madvise(v, 0x7ffff7fc2000, PG, VAS_MADV_POPULATE_READ),
		-EINVAL);
	ck_assert_uint_eq(info_at(v, 0x7ffff7fc2000).rss_pages, 0);
	ck_assert_int_eq(
		vas_madvise(v, 0x7ffff7fc8000, 2 * PG, VAS_MADV_POPULATE_READ),
		0);
	ck_assert_uint_eq(info_at(v, 0x7ffff7fc8000).rss_pages, 2);
	/*
	 * is_valid_guard_vma(): VM_SPECIAL refuses guard markers, to install
	 * and to remove ([vdso] and [vvar] both answer EINVAL on 6.18).
	 */
	for (int k = 0; k < 2; k++) {
		uint64_t at = k ? 0x7ffff7fc8000 : 0x7ffff7fc2000;

		ck_assert_int_eq(vas_madvise(v, at, PG, VAS_MADV_GUARD_INSTALL),
				 -EINVAL);
		ck_assert_int_eq(vas_madvise(v, at, PG, VAS_MADV_GUARD_REMOVE),
				 -EINVAL);
		ck_assert(!(info_at(v, at).flags & VAS_VM_MAYBE_GUARD));
	}
	valid(v);
	vas_free(v);
}
END_TEST

/*
 * A layout as a 6.18 process has it: anonymous memory, [vvar],
 * [vvar_vclock] (VM_PFNMAP | VM_IO | VM_DONTDUMP), [vdso], anonymous
 * memory; every page of the anonymous VMAs written.
 */
#define SP_ANON1  0x7ffff7fbe000ull
#define SP_VVAR	  0x7ffff7fc2000ull
#define SP_VCLOCK 0x7ffff7fc6000ull
#define SP_VDSO	  0x7ffff7fc8000ull
#define SP_ANON2  0x7ffff7fca000ull
static struct vas *special_space(void)
{
	struct vas_import_area areas[] = {
		{SP_ANON1, SP_VVAR, 0, VAS_PROT_READ | VAS_PROT_WRITE,
		 VAS_VM_ACCOUNT, VAS_IMPORT_ANON, NULL, 0, 4, NULL},
		{SP_VVAR, SP_VCLOCK, 0, VAS_PROT_READ, VAS_VM_DONTDUMP,
		 VAS_IMPORT_SPECIAL_PFNMAP, "[vvar]", 0, 0, NULL},
		{SP_VCLOCK, SP_VDSO, 0, VAS_PROT_READ, VAS_VM_DONTDUMP,
		 VAS_IMPORT_SPECIAL_PFNMAP, "[vvar_vclock]", 0, 0, NULL},
		{SP_VDSO, SP_ANON2, 0, VAS_PROT_READ | VAS_PROT_EXEC, 0,
		 VAS_IMPORT_SPECIAL, "[vdso]", 0, 0, NULL},
		{SP_ANON2, SP_ANON2 + 4 * PG, 0, VAS_PROT_READ | VAS_PROT_WRITE,
		 VAS_VM_ACCOUNT, VAS_IMPORT_ANON, NULL, 0, 4, NULL},
	};
	struct vas *v = import_areas(areas, 5);

	for (int i = 0; i < 4; i++) {
		fault_ok(v, SP_ANON1 + i * PG, VAS_ACCESS_WRITE);
		fault_ok(v, SP_ANON2 + i * PG, VAS_ACCESS_WRITE);
	}
	return v;
}

/* Advice on one special mapping, in a fresh space: the error. */
static int special_advice(uint64_t at, uint64_t len, int advice,
			  const char *flags)
{
	struct vas *v = special_space();
	int err = vas_madvise(v, at, len, advice);

	if (flags)
		ck_assert_str_eq(vmflags_at(v, at), flags);
	ck_assert_uint_eq(info_at(v, at).start, at);
	valid(v);
	vas_free(v);
	return err;
}

START_TEST(test_madvise_special_rules)
{
	static const char vvar[] = "rd mr pf io de dd ";
	static const char vdso[] = "rd ex mr mw me de ";
	static const uint64_t pfn[] = {SP_VVAR, SP_VCLOCK};

	/* The flags the installers give them, as smaps shows them. */
	ck_assert_int_eq(special_advice(SP_VVAR, PG, VAS_MADV_NORMAL, vvar), 0);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_NORMAL, vdso), 0);
	for (int k = 0; k < 2; k++) {
		uint64_t at = pfn[k];

		/* madvise_dontneed_free_valid_vma(): VM_PFNMAP. */
		ck_assert_int_eq(
			special_advice(at, PG, VAS_MADV_DONTNEED, vvar),
			-EINVAL);
		ck_assert_int_eq(
			special_advice(at, PG, VAS_MADV_DONTNEED_LOCKED, vvar),
			-EINVAL);
		ck_assert_int_eq(special_advice(at, PG, VAS_MADV_FREE, vvar),
				 -EINVAL);
		/* can_madv_lru_vma(): VM_PFNMAP. */
		ck_assert_int_eq(special_advice(at, PG, VAS_MADV_COLD, vvar),
				 -EINVAL);
		/* madvise_remove(): no vm_file. */
		ck_assert_int_eq(special_advice(at, PG, VAS_MADV_REMOVE, vvar),
				 -EINVAL);
		/* VM_IO: DOFORK refused, even where nothing would change. */
		ck_assert_int_eq(special_advice(at, PG, VAS_MADV_DOFORK, vvar),
				 -EINVAL);
		/* VM_SPECIAL: DODUMP refused. */
		ck_assert_int_eq(
			special_advice(at, 2 * PG, VAS_MADV_DODUMP, vvar),
			-EINVAL);
		/* VM_DONTDUMP already: no change, no split. */
		ck_assert_int_eq(
			special_advice(at, PG, VAS_MADV_DONTDUMP, vvar), 0);
		/* vma_ksm_compatible(): not VM_SPECIAL, so ignored. */
		ck_assert_int_eq(
			special_advice(at, PG, VAS_MADV_MERGEABLE, vvar), 0);
		/* No VM_WIPEONFORK to clear. */
		ck_assert_int_eq(
			special_advice(at, PG, VAS_MADV_KEEPONFORK, vvar), 0);
		/* A change of one page splits: special_mapping_split(). */
		ck_assert_int_eq(
			special_advice(at, PG, VAS_MADV_WIPEONFORK, vvar),
			-EINVAL);
		ck_assert_int_eq(
			special_advice(at, PG, VAS_MADV_DONTFORK, vvar),
			-EINVAL);
	}
	/* The whole [vvar]: no vm_file, so WIPEONFORK takes. */
	ck_assert_int_eq(special_advice(SP_VVAR, 4 * PG, VAS_MADV_WIPEONFORK,
					"rd mr pf io de wf dd "),
			 0);
	ck_assert_int_eq(special_advice(SP_VVAR, 4 * PG, VAS_MADV_DONTFORK,
					"rd mr pf io dc de dd "),
			 0);
	ck_assert_int_eq(special_advice(SP_VVAR, 4 * PG, VAS_MADV_RANDOM,
					"rd mr pf io rr de dd "),
			 0);

	/* [vdso]: VM_DONTEXPAND only. */
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_DONTNEED, vdso),
			 0);
	ck_assert_int_eq(
		special_advice(SP_VDSO, PG, VAS_MADV_DONTNEED_LOCKED, vdso), 0);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_COLD, vdso), 0);
	/* vma_is_anonymous(): a special mapping has vm_ops. */
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_FREE, vdso),
			 -EINVAL);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_REMOVE, vdso),
			 -EINVAL);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_DOFORK, vdso), 0);
	ck_assert_int_eq(special_advice(SP_VDSO, 2 * PG, VAS_MADV_DODUMP, vdso),
			 -EINVAL);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_MERGEABLE, vdso),
			 0);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_DONTDUMP, vdso),
			 -EINVAL);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_WIPEONFORK, vdso),
			 -EINVAL);
	ck_assert_int_eq(special_advice(SP_VDSO, PG, VAS_MADV_HUGEPAGE, vdso),
			 -EINVAL);
	ck_assert_int_eq(special_advice(SP_VDSO, 2 * PG, VAS_MADV_DONTDUMP,
					"rd ex mr mw me de dd "),
			 0);
	ck_assert_int_eq(special_advice(SP_VDSO, 2 * PG, VAS_MADV_WIPEONFORK,
					"rd ex mr mw me de wf "),
			 0);
	ck_assert_int_eq(special_advice(SP_VDSO, 2 * PG, VAS_MADV_HUGEPAGE,
					"rd ex mr mw me de hg "),
			 0);
}
END_TEST

/*
 * A sealed [vdso] (CONFIG_MSEAL_SYSTEM_MAPPINGS) has no vm_file and is not
 * writable: can_madvise_modify() refuses discarding advice with EPERM
 * before any other check; other advice goes on to its own checks.
 */
START_TEST(test_madvise_special_sealed)
{
	struct vas_import_area areas[] = {
		{SP_VDSO, SP_ANON2, 0, VAS_PROT_READ | VAS_PROT_EXEC,
		 VAS_VM_SEALED, VAS_IMPORT_SPECIAL, "[vdso]", 0, 0, NULL},
	};
	struct vas *v = import_areas(areas, 1);

	ck_assert_int_eq(vas_madvise(v, SP_VDSO, PG, VAS_MADV_DONTNEED),
			 -EPERM);
	ck_assert_int_eq(vas_madvise(v, SP_VDSO, 2 * PG, VAS_MADV_WIPEONFORK),
			 -EPERM);
	ck_assert_int_eq(vas_madvise(v, SP_VDSO, PG, VAS_MADV_REMOVE), -EPERM);
	ck_assert_int_eq(vas_madvise(v, SP_VDSO, PG, VAS_MADV_DONTDUMP),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(v, SP_VDSO, 2 * PG, VAS_MADV_DONTDUMP), 0);
	ck_assert_str_eq(vmflags_at(v, SP_VDSO), "rd ex mr mw me de dd sl ");
	valid(v);
	vas_free(v);
}
END_TEST

/*
 * Ranges across a special mapping and normal VMAs: the walk stops at the
 * special mapping's error, and what came before keeps the advice.
 */
START_TEST(test_madvise_special_span)
{
	struct vas *v = special_space(), *child;

	/* DONTNEED drops the anonymous pages, then [vvar] refuses. */
	ck_assert_int_eq(
		vas_madvise(v, SP_ANON1 + 2 * PG, 3 * PG, VAS_MADV_DONTNEED),
		-EINVAL);
	ck_assert_uint_eq(info_at(v, SP_ANON1).rss_pages, 2);
	/* DONTFORK splits the anonymous VMA, then [vvar] cannot split. */
	ck_assert_int_eq(
		vas_madvise(v, SP_ANON1 + 2 * PG, 3 * PG, VAS_MADV_DONTFORK),
		-EINVAL);
	ck_assert_uint_eq(info_at(v, SP_ANON1).end, SP_ANON1 + 2 * PG);
	ck_assert(info_at(v, SP_ANON1 + 2 * PG).flags & VAS_VM_DONTCOPY);
	ck_assert(!(info_at(v, SP_VVAR).flags & VAS_VM_DONTCOPY));
	/* DOFORK undoes it, then [vvar] refuses (VM_IO). */
	ck_assert_int_eq(
		vas_madvise(v, SP_ANON1 + 2 * PG, 3 * PG, VAS_MADV_DOFORK),
		-EINVAL);
	ck_assert_uint_eq(info_at(v, SP_ANON1).end, SP_VVAR);
	/* The whole [vdso] and part of the next VMA: both take it. */
	ck_assert_int_eq(vas_madvise(v, SP_VDSO, 4 * PG, VAS_MADV_WIPEONFORK),
			 0);
	ck_assert_str_eq(vmflags_at(v, SP_VDSO), "rd ex mr mw me de wf ");
	ck_assert(info_at(v, SP_ANON2).flags & VAS_VM_WIPEONFORK);
	ck_assert_uint_eq(info_at(v, SP_ANON2).end, SP_ANON2 + 2 * PG);
	/* Over [vvar_vclock] into [vdso]: MERGEABLE is ignored by both. */
	ck_assert_int_eq(vas_madvise(v, SP_VCLOCK, 3 * PG, VAS_MADV_MERGEABLE),
			 0);
	ck_assert_str_eq(vmflags_at(v, SP_VCLOCK), "rd mr pf io de dd ");
	/* A space with a wiped [vdso] forks and snapshots. */
	ck_assert_int_eq(vas_fork(v, &child), 0);
	ck_assert_str_eq(vmflags_at(child, SP_VDSO), "rd ex mr mw me de wf ");
	valid(child);
	vas_free(child);
	valid(v);
	vas_free(v);
}
END_TEST

START_TEST(test_guard)
{
	struct vas *child;
	uint64_t a;

	map_at(vas, P(0), 6, RW);
	fault_ok(vas, P(2), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_madvise(vas, P(2), 2 * PG, VAS_MADV_GUARD_INSTALL),
			 0);
	/* The VMA stays whole, gets an anon_vma, loses the page. */
	ck_assert_str_eq(draw(vas, 6), "AAAAAA");
	ck_assert(info_at(vas, P(0)).flags & VAS_VM_MAYBE_GUARD);
	ck_assert_str_eq(vmflags_at(vas, P(0)), "rd wr mr mw me gu ac ");
	ck_assert(info_at(vas, P(0)).anon_vma);
	ck_assert_uint_eq(info_at(vas, P(0)).rss_pages, 0);
	ck_assert_int_eq(fault_code(vas, P(2), VAS_ACCESS_READ),
			 VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(vas, P(3), VAS_ACCESS_WRITE),
			 VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(vas, P(4), VAS_ACCESS_WRITE), 0);
	/* DONTNEED keeps the markers; fork copies them. */
	ck_assert_int_eq(vas_madvise(vas, P(0), 6 * PG, VAS_MADV_DONTNEED), 0);
	ck_assert_int_eq(fault_code(vas, P(2), VAS_ACCESS_READ),
			 VAS_SEGV_MAPERR);
	ck_assert_int_eq(vas_fork(vas, &child), 0);
	ck_assert_int_eq(fault_code(child, P(3), VAS_ACCESS_READ),
			 VAS_SEGV_MAPERR);
	valid(child);
	vas_free(child);
	/* mremap moves them. */
	ck_assert_int_eq(vas_mremap(vas, P(0), 6 * PG, 6 * PG,
				    VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED,
				    P(10), &a),
			 0);
	ck_assert_int_eq(fault_code(vas, P(12), VAS_ACCESS_READ),
			 VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(vas, P(13), VAS_ACCESS_READ),
			 VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(vas, P(14), VAS_ACCESS_READ), 0);
	valid(vas);
	/* GUARD_REMOVE lifts one; munmap drops the rest. */
	ck_assert_int_eq(vas_madvise(vas, P(12), PG, VAS_MADV_GUARD_REMOVE), 0);
	ck_assert_int_eq(fault_code(vas, P(12), VAS_ACCESS_WRITE), 0);
	ck_assert_int_eq(vas_munmap(vas, P(10), 6 * PG), 0);
	map_at(vas, P(10), 6, RW);
	ck_assert_int_eq(fault_code(vas, P(13), VAS_ACCESS_READ), 0);
	/* A locked VMA refuses GUARD_INSTALL. */
	ck_assert_int_eq(vas_mlock(vas, P(10), PG, 0), 0);
	ck_assert_int_eq(vas_madvise(vas, P(10), PG, VAS_MADV_GUARD_INSTALL),
			 -EINVAL);
	ck_assert_int_eq(vas_madvise(vas, P(11), PG, VAS_MADV_GUARD_INSTALL),
			 0);
	/* mlock() populates up to the guard page, then fails. */
	ck_assert_int_eq(vas_mlock(vas, P(10), 3 * PG, 0), -ENOMEM);
	ck_assert(info_at(vas, P(11)).flags & VAS_VM_LOCKED);
	valid(vas);
}
END_TEST

START_TEST(test_mlock)
{
	struct vas *v = new_space_memlock(4 * PG);
	struct vas_stats st;
	uint64_t a;

	map_at(v, P(0), 8, RW);
	ck_assert_int_eq(vas_mlock(v, P(2), 2 * PG, 0), 0);
	ck_assert_str_eq(draw(v, 8), "AABBCCCC");
	ck_assert_uint_eq(info_at(v, P(2)).rss_pages, 2);
	ck_assert_str_eq(vmflags_at(v, P(2)), "rd wr mr mw me lo ac ");
	vas_stats(v, &st);
	ck_assert_uint_eq(st.locked_vm, 2);
	/* RLIMIT_MEMLOCK counts pages already locked once. */
	ck_assert_int_eq(vas_mlock(v, P(1), 4 * PG, 0), 0);
	ck_assert_int_eq(vas_mlock(v, P(0), 6 * PG, 0), -ENOMEM);
	ck_assert_str_eq(draw(v, 8), "ABBBBCCC");
	/* mlock2(MLOCK_ONFAULT) populates nothing. */
	ck_assert_int_eq(vas_munlock(v, P(0), 8 * PG), 0);
	ck_assert_str_eq(draw(v, 8), "AAAAAAAA");
	ck_assert_int_eq(vas_mlock(v, P(6), 2 * PG, VAS_MLOCK_ONFAULT), 0);
	ck_assert_str_eq(vmflags_at(v, P(6)), "rd wr mr mw me lo lf ac ");
	ck_assert_uint_eq(info_at(v, P(6)).rss_pages, 0);
	ck_assert_int_eq(vas_mlock(v, P(6), PG, 2), -EINVAL);
	/* Holes are ENOMEM (after the VMAs before them); start unaligned
	 * is rounded down. */
	ck_assert_int_eq(vas_munmap(v, P(3), PG), 0);
	ck_assert_int_eq(vas_mlock(v, P(2) + 5, 2 * PG - 5, 0), -ENOMEM);
	ck_assert(info_at(v, P(2)).flags & VAS_VM_LOCKED);
	ck_assert_int_eq(vas_munlock(v, P(2), PG), 0);
	/* PROT_NONE: locked, but populating fails. */
	ck_assert_int_eq(vas_mprotect(v, P(0), PG, 0), 0);
	ck_assert_int_eq(vas_mlock(v, P(0), PG, 0), -ENOMEM);
	ck_assert(info_at(v, P(0)).flags & VAS_VM_LOCKED);
	valid(v);
	vas_free(v);
	/* RLIMIT_MEMLOCK 0: EPERM; MAP_LOCKED too. */
	v = new_space_memlock(0);
	map_at(v, P(0), 1, RW);
	ck_assert_int_eq(vas_mlock(v, P(0), PG, 0), -EPERM);
	ck_assert_int_eq(
		vas_mmap(v, P(2), PG, RW, FIX | VAS_MAP_LOCKED, NULL, 0, &a),
		-EPERM);
	ck_assert_int_eq(vas_mlockall(v, VAS_MCL_CURRENT), -EPERM);
	vas_free(v);
}
END_TEST

START_TEST(test_mlockall)
{
	struct vas *v = new_space_memlock(64 * PG);
	uint64_t a, brk;

	map_at(v, P(0), 2, RW);
	map_at(v, P(2), 2, RO);
	ck_assert_int_eq(vas_mlockall(v, VAS_MCL_ONFAULT), -EINVAL);
	ck_assert_int_eq(vas_mlockall(v, 0), -EINVAL);
	ck_assert_int_eq(vas_mlockall(v, 8), -EINVAL);
	ck_assert_int_eq(vas_mlockall(v, VAS_MCL_CURRENT | VAS_MCL_FUTURE), 0);
	ck_assert(info_at(v, P(0)).flags & VAS_VM_LOCKED);
	/* Populated: written pages for rw, zero pages for r (no Rss). */
	ck_assert_uint_eq(info_at(v, P(0)).rss_pages, 2);
	ck_assert_uint_eq(info_at(v, P(2)).rss_pages, 0);
	/* MCL_FUTURE: later mappings and the heap are locked, populated. */
	map_at(v, P(4), 2, RW);
	ck_assert_str_eq(draw(v, 6), "AABBCC");
	ck_assert(info_at(v, P(4)).flags & VAS_VM_LOCKED);
	ck_assert_uint_eq(info_at(v, P(4)).rss_pages, 2);
	ck_assert_int_eq(vas_brk(v, VAS_DEFAULT_BRK_BASE + 2 * PG, &brk), 0);
	ck_assert_uint_eq(brk, VAS_DEFAULT_BRK_BASE + 2 * PG);
	ck_assert(info_at(v, VAS_DEFAULT_BRK_BASE).flags & VAS_VM_LOCKED);
	ck_assert_uint_eq(info_at(v, VAS_DEFAULT_BRK_BASE).rss_pages, 2);
	/* The limit refuses a brk and an mmap beyond it. */
	ck_assert_int_eq(vas_brk(v, VAS_DEFAULT_BRK_BASE + 128 * PG, &brk), 0);
	ck_assert_uint_eq(brk, VAS_DEFAULT_BRK_BASE + 2 * PG);
	ck_assert_int_eq(vas_mmap(v, 0, 128 * PG, RW, ANON, NULL, 0, &a),
			 -EAGAIN);
	ck_assert_int_eq(vas_munlockall(v), 0);
	ck_assert(!(info_at(v, P(4)).flags & VAS_VM_LOCKED));
	map_at(v, P(8), 1, RW);
	ck_assert(!(info_at(v, P(8)).flags & VAS_VM_LOCKED));
	/* MCL_CURRENT beyond the limit (total_vm): ENOMEM. */
	ck_assert_int_eq(vas_mmap(v, 0, 128 * PG, RW, ANON, NULL, 0, &a), 0);
	ck_assert_int_eq(vas_mlockall(v, VAS_MCL_CURRENT), -ENOMEM);
	valid(v);
	vas_free(v);
}
END_TEST

START_TEST(test_mseal)
{
	uint64_t a;

	map_at(vas, P(0), 2, RW);
	map_at(vas, P(2), 2, RO);
	map_at(vas, P(4), 2, RW);
	ck_assert_int_eq(vas_mseal(vas, P(0), PG, 1), -EINVAL);
	ck_assert_int_eq(vas_mseal(vas, P(0) + 1, PG, 0), -EINVAL);
	ck_assert_int_eq(vas_mseal(vas, P(5), 2 * PG, 0), -ENOMEM);
	ck_assert_int_eq(vas_mseal(vas, P(2), 0, 0), 0);
	ck_assert_int_eq(vas_mseal(vas, P(3), 2 * PG, 0), 0);
	ck_assert_str_eq(draw(vas, 6), "AABCDE");
	ck_assert_str_eq(vmflags_at(vas, P(3)), "rd mr mw me sl ");
	/* Sealed VMAs refuse munmap, MAP_FIXED, mprotect, mremap. */
	ck_assert_int_eq(vas_munmap(vas, P(3), PG), -EPERM);
	ck_assert_int_eq(vas_mmap(vas, P(4), PG, RW, FIX, NULL, 0, &a), -EPERM);
	{
		/* A refused shared anonymous mmap takes no inode number. */
		const unsigned SHA = VAS_MAP_SHARED | VAS_MAP_ANONYMOUS;
		uint64_t ino;

		ck_assert_int_eq(vas_mmap(vas, P(8), PG, RW,
					  SHA | VAS_MAP_FIXED, NULL, 0, &a),
				 0);
		ino = info_at(vas, P(8)).inode;
		ck_assert_int_eq(vas_mmap(vas, P(4), PG, RW,
					  SHA | VAS_MAP_FIXED, NULL, 0, &a),
				 -EPERM);
		ck_assert_int_eq(vas_mmap(vas, P(10), PG, RW,
					  SHA | VAS_MAP_FIXED, NULL, 0, &a),
				 0);
		ck_assert_uint_eq(info_at(vas, P(10)).inode, ino + 1);
		ck_assert_int_eq(vas_munmap(vas, P(8), 3 * PG), 0);
	}
	ck_assert_int_eq(vas_mprotect(vas, P(3), PG, RW), -EPERM);
	ck_assert_int_eq(vas_mprotect(vas, P(3), PG, RO), -EPERM);
	ck_assert_int_eq(
		vas_mremap(vas, P(4), PG, 2 * PG, VAS_MREMAP_MAYMOVE, 0, &a),
		-EPERM);
	/* Discarding advice: refused on read-only anonymous memory only. */
	ck_assert_int_eq(vas_madvise(vas, P(3), PG, VAS_MADV_DONTNEED), -EPERM);
	ck_assert_int_eq(vas_madvise(vas, P(4), PG, VAS_MADV_DONTNEED), 0);
	ck_assert_int_eq(vas_madvise(vas, P(3), PG, VAS_MADV_NOHUGEPAGE), 0);
	/* munmap across: the first VMA stays split where Linux split it. */
	ck_assert_int_eq(vas_munmap(vas, P(1), 3 * PG), -EPERM);
	ck_assert_str_eq(draw(vas, 6), "ABCDEF");
	/* Sealing twice is fine; mlock of sealed memory too. */
	ck_assert_int_eq(vas_mseal(vas, P(3), PG, 0), 0);
	ck_assert_int_eq(vas_mlock(vas, P(3), PG, 0), 0);
	valid(vas);
}
END_TEST

START_TEST(test_anon_name)
{
	char longname[VAS_ANON_NAME_MAX + 2];
	struct vas_vma_info i;
	struct vas *child;
	char line[256];
	uint64_t a;

	map_at(vas, P(0), 6, RW);
	ck_assert_int_eq(vas_set_anon_name(vas, P(2), 2 * PG, "buf"), 0);
	ck_assert_str_eq(draw(vas, 6), "AABBCC");
	i = info_at(vas, P(2));
	ck_assert_str_eq(i.anon_name, "buf");
	vas_format_maps_line(&i, line, sizeof(line));
	ck_assert_msg(strstr(line, " [anon:buf]\n") != NULL, "%s", line);
	/* Different names never merge; equal names do. */
	ck_assert_int_eq(vas_set_anon_name(vas, P(4), 2 * PG, "other"), 0);
	ck_assert_str_eq(draw(vas, 6), "AABBCC");
	ck_assert_int_eq(vas_set_anon_name(vas, P(4), 2 * PG, "buf"), 0);
	ck_assert_str_eq(draw(vas, 6), "AABBBB");
	/* Validation, before the range. */
	ck_assert_int_eq(vas_set_anon_name(vas, P(0), PG, "a$b"), -EINVAL);
	ck_assert_int_eq(vas_set_anon_name(vas, P(0), PG, "a[b"), -EINVAL);
	ck_assert_int_eq(vas_set_anon_name(vas, P(0), PG, "a\tb"), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(vas_set_anon_name(vas, P(0), PG, longname), -EINVAL);
	longname[VAS_ANON_NAME_MAX] = '\0';
	ck_assert_int_eq(vas_set_anon_name(vas, P(0), PG, longname), 0);
	ck_assert_int_eq(vas_set_anon_name(vas, P(0) + 1, PG, "x"), -EINVAL);
	/* File VMAs: EBADF; holes: ENOMEM. */
	ck_assert_int_eq(vas_mmap(vas, P(8), PG, RW,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/f", 0, &a),
			 0);
	ck_assert_int_eq(vas_set_anon_name(vas, P(8), PG, "x"), -EBADF);
	/* Shared anonymous memory is named [anon_shmem:NAME]. */
	ck_assert_int_eq(
		vas_mmap(vas, P(10), PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &a),
		0);
	ck_assert_int_eq(vas_set_anon_name(vas, P(10), PG, "shm"), 0);
	i = info_at(vas, P(10));
	vas_format_maps_line(&i, line, sizeof(line));
	ck_assert_msg(strstr(line, " [anon_shmem:shm]\n") != NULL, "%s", line);
	ck_assert_int_eq(vas_set_anon_name(vas, P(5), 2 * PG, "buf"), -ENOMEM);
	/* fork keeps names; clearing merges back. */
	ck_assert_int_eq(vas_fork(vas, &child), 0);
	ck_assert_str_eq(info_at(child, P(3)).anon_name, "buf");
	valid(child);
	vas_free(child);
	ck_assert_int_eq(vas_set_anon_name(vas, P(0), 6 * PG, NULL), 0);
	ck_assert_str_eq(draw(vas, 6), "AAAAAA");
	ck_assert_str_eq(info_at(vas, P(3)).anon_name, "");
	valid(vas);
}
END_TEST

START_TEST(test_fork_dontfork_wipeonfork)
{
	struct vas *child;

	map_at(vas, P(0), 2, RW);
	map_at(vas, P(2), 2, RO);
	map_at(vas, P(4), 2, RW);
	fault_ok(vas, P(0), VAS_ACCESS_WRITE);
	fault_ok(vas, P(4), VAS_ACCESS_WRITE);
	ck_assert_int_eq(vas_madvise(vas, P(2), 2 * PG, VAS_MADV_DONTFORK), 0);
	ck_assert_int_eq(vas_madvise(vas, P(4), 2 * PG, VAS_MADV_WIPEONFORK),
			 0);
	ck_assert_int_eq(vas_mlock(vas, P(0), 2 * PG, 0), 0);
	ck_assert_int_eq(vas_fork(vas, &child), 0);
	ck_assert_str_eq(draw(child, 6), "AA..BB");
	/* Not locked in the child; WIPEONFORK: no pages, no anon_vma. */
	ck_assert(!(info_at(child, P(0)).flags & VAS_VM_LOCKED));
	ck_assert_uint_eq(info_at(child, P(0)).rss_pages, 2);
	ck_assert(info_at(child, P(4)).flags & VAS_VM_WIPEONFORK);
	ck_assert_uint_eq(info_at(child, P(4)).rss_pages, 0);
	ck_assert_uint_eq(info_at(child, P(4)).anon_vma, 0);
	valid(child);
	vas_free(child);
}
END_TEST

/* thp_get_unmapped_area() for files, as for cc1 on ext4. */
START_TEST(test_place_file_thp)
{
	const uint64_t pmd = 2ULL << 20;
	struct vas_mmap_args m = {
		.length = 0x209f18,
		.prot = RO,
		.flags = VAS_MAP_PRIVATE | VAS_MAP_DENYWRITE,
		.file = "/usr/lib/cc1",
		.thp_align = -1,
	};
	uint64_t a, b, c;

	ck_assert_int_eq(vas_mmap_ex(vas, &m, &a), 0);
	ck_assert_uint_eq(a, 0x7ffff7c00000ULL);
	/* An offset: the address is congruent to it modulo 2 MiB. */
	m.offset = 0x3000;
	m.length = 3 * pmd;
	ck_assert_int_eq(vas_mmap_ex(vas, &m, &b), 0);
	ck_assert_uint_eq(b % pmd, 0x3000);
	/* A range without a whole aligned 2 MiB of the file: no padding. */
	m.offset = 0x1000;
	m.length = pmd;
	ck_assert_int_eq(vas_mmap_ex(vas, &m, &c), 0);
	ck_assert_uint_eq(c + pmd, b);
	/* A filesystem without it (the file remembers). */
	m.file = "/nfs/lib";
	m.offset = 0;
	m.length = pmd;
	m.thp_align = 0;
	ck_assert_int_eq(vas_mmap_ex(vas, &m, &a), 0);
	ck_assert_uint_eq(a + pmd, c);
	ck_assert_int_eq(vas_munmap(vas, a, pmd), 0);
	m.thp_align = -1;
	ck_assert_int_eq(vas_mmap_ex(vas, &m, &a), 0);
	ck_assert_uint_eq(a % pmd, 0);
	/* A hint free for the padded length is kept as it is. */
	m.file = "/usr/lib/x";
	m.addr = P(1);
	ck_assert_int_eq(vas_mmap_ex(vas, &m, &a), 0);
	ck_assert_uint_eq(a, P(1));
	valid(vas);
}
END_TEST

/* MAP_STACK sets VM_NOHUGEPAGE: a thread stack stays apart. */
START_TEST(test_map_stack)
{
	struct vas_layout l;
	struct vas *v;
	uint64_t a;

	map_at(vas, P(0), 2, RW);
	ck_assert_int_eq(vas_mmap(vas, P(2), 2 * PG, RW, FIX | VAS_MAP_STACK,
				  NULL, 0, &a),
			 0);
	ck_assert_str_eq(draw(vas, 4), "AABB");
	ck_assert(info_at(vas, P(2)).flags & VAS_VM_NOHUGEPAGE);
	/* The ignored flags change nothing. */
	ck_assert_int_eq(vas_mmap(vas, P(4), 2 * PG, RW,
				  FIX | VAS_MAP_DENYWRITE | VAS_MAP_EXECUTABLE |
					  VAS_MAP_UNINITIALIZED,
				  NULL, 0, &a),
			 0);
	ck_assert_str_eq(draw(vas, 6), "AABBCC");
	/* MAP_SHARED_VALIDATE: files only, legacy flags only. */
	ck_assert_int_eq(vas_mmap(vas, P(8), PG, RW,
				  VAS_MAP_SHARED_VALIDATE | VAS_MAP_ANONYMOUS |
					  VAS_MAP_FIXED,
				  NULL, 0, &a),
			 -EINVAL);
	ck_assert_int_eq(
		vas_mmap(vas, P(8), PG, RW,
			 VAS_MAP_SHARED_VALIDATE | VAS_MAP_FIXED_NOREPLACE,
			 "/f", 0, &a),
		-EOPNOTSUPP);
	ck_assert_int_eq(vas_mmap(vas, P(8), PG, RW,
				  VAS_MAP_SHARED_VALIDATE | VAS_MAP_FIXED, "/f",
				  0, &a),
			 0);
	ck_assert(info_at(vas, P(8)).flags & VAS_VM_SHARED);
	valid(vas);
	/* Before 6.7 (or without THP) MAP_STACK changes nothing. */
	vas_layout_default(&l);
	l.no_map_stack_nohugepage = true;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	map_at(v, P(0), 2, RW);
	ck_assert_int_eq(
		vas_mmap(v, P(2), 2 * PG, RW, FIX | VAS_MAP_STACK, NULL, 0, &a),
		0);
	ck_assert_str_eq(draw(v, 4), "AAAA");
	vas_free(v);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Concurrency: a fault during a MAP_FIXED sees the old or new VMA.  */

static volatile int stop;

static void *fault_thread(void *arg)
{
	struct vas *v = arg;
	long bad = 0;

	urcu_memb_register_thread();
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		struct vas_fault_result r;
		unsigned p;

		for (p = 0; p < 8; p++) {
			ck_assert_int_eq(
				vas_fault(v, P(p), VAS_ACCESS_READ, &r), 0);
			if (r.status != VAS_FAULT_OK)
				bad++;
		}
	}
	urcu_memb_unregister_thread();
	return (void *)bad;
}

static unsigned hook_calls;

static void hook(struct vas *v)
{
	(void)v;
	hook_calls++;
}

START_TEST(test_concurrent_map_fixed)
{
	pthread_t t;
	void *bad;
	unsigned i;

	map_at(vas, P(0), 8, RW);
	vas_test_before_commit = hook;
	stop = 0;
	ck_assert_int_eq(pthread_create(&t, NULL, fault_thread, vas), 0);
	for (i = 0; i < 3000; i++) {
		map_at(vas, P(i % 7), 1 + i % 2, i % 3 ? RO : RW);
		ck_assert_int_eq(vas_mprotect(vas, P(2), 3 * PG, RW), 0);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, &bad);
	vas_test_before_commit = NULL;
	ck_assert_ptr_null(bad);
	ck_assert_uint_ge(hook_calls, 3000);
	valid(vas);
}
END_TEST

/*
 * Issue 19: resident pages cost memory in proportion to the pages' layout,
 * not to the range. Populating, faulting, moving, forking and unmapping
 * terabytes keeps the page table within a few pages of nodes.
 */
static uint64_t pt_bytes(struct vas *v)
{
	struct vas_stats st;

	vas_stats(v, &st);
	return st.bytes - st.tree.bytes;
}

START_TEST(test_populate_huge)
{
	const uint64_t TB = 1ULL << 40, base = 0x100000000000ULL;
	uint64_t out, before = pt_bytes(vas), mid = base + 3 * TB + 5 * PG;
	struct vas_fault_result r;
	struct vas_stats st;
	struct vas *child;

	/* 1 TiB first: a page table of bitmaps needs 64 MiB for it. */
	ck_assert_int_eq(vas_mmap(vas, base, TB, RW, FIX | VAS_MAP_POPULATE,
				  NULL, 0, &out),
			 0);
	ck_assert_uint_lt(pt_bytes(vas) - before, 1 << 20);
	ck_assert_uint_eq(info_at(vas, base).rss_pages, TB / PG);
	/* Then 64 TiB, over it. */
	ck_assert_int_eq(vas_mmap(vas, base, 64 * TB, RW,
				  FIX | VAS_MAP_POPULATE | VAS_MAP_NORESERVE,
				  NULL, 0, &out),
			 0);
	ck_assert_uint_lt(pt_bytes(vas) - before, 1 << 20);
	vas_stats(vas, &st);
	ck_assert_uint_eq(st.rss_pages, 64 * TB / PG);
	/* A write fault inside finds its page resident. */
	ck_assert_int_eq(vas_fault(vas, mid, VAS_ACCESS_WRITE, &r), 0);
	ck_assert_int_eq(r.status, VAS_FAULT_OK);
	ck_assert(!r.populated);
	/* A hole of one page, then the page faulted back. */
	ck_assert_int_eq(vas_munmap(vas, mid, PG), 0);
	ck_assert_uint_eq(info_at(vas, base).rss_pages, (mid - base) / PG);
	map_at(vas, mid, 1, RW);
	ck_assert_int_eq(vas_fault(vas, mid, VAS_ACCESS_WRITE, &r), 0);
	ck_assert(r.populated);
	ck_assert_uint_lt(pt_bytes(vas) - before, 1 << 20);
	valid(vas);
	/* Moved by 1 TiB + 1 page (no alignment to share). */
	ck_assert_int_eq(vas_mremap(vas, base, 8 * TB, 8 * TB,
				    VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED,
				    base + 70 * TB + PG, &out),
			 0);
	ck_assert_uint_eq(info_at(vas, base + 70 * TB + PG).rss_pages,
			  (mid - base) / PG);
	vas_stats(vas, &st);
	ck_assert_uint_eq(st.rss_pages, 64 * TB / PG);
	valid(vas);
	/* A fork copies the extents. */
	ck_assert_int_eq(vas_fork(vas, &child), 0);
	vas_stats(child, &st);
	ck_assert_uint_eq(st.rss_pages, 64 * TB / PG);
	ck_assert_uint_lt(pt_bytes(child), 1 << 20);
	valid(child);
	vas_free(child);
	/* Unmapping everything folds the nodes back. */
	ck_assert_int_eq(vas_munmap(vas, base, 0x7f0000000000ULL - base), 0);
	vas_stats(vas, &st);
	ck_assert_uint_eq(st.rss_pages, 0);
	ck_assert_uint_eq(pt_bytes(vas), before);
	valid(vas);
}
END_TEST

static Suite *vas_suite(void)
{
	Suite *s = suite_create("vas");
	TCase *tc = tcase_create("ops");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mmap_errors);
	tcase_add_test(tc, test_mmap_noreplace);
	tcase_add_test(tc, test_place_topdown);
	tcase_add_test(tc, test_place_thp);
	tcase_add_test(tc, test_place_guard_gap);
	tcase_add_test(tc, test_place_bottomup_fallback);
	tcase_add_test(tc, test_merge_new);
	tcase_add_test(tc, test_merge_file);
	tcase_add_test(tc, test_mprotect_split_merge);
	tcase_add_test(tc, test_mprotect_account);
	tcase_add_test(tc, test_anon_vma_merge);
	tcase_add_test(tc, test_anon_vma_reuse);
	tcase_add_test(tc, test_mprotect_hole);
	tcase_add_test(tc, test_munmap_split_limit);
	tcase_add_test(tc, test_map_fixed_replace);
	tcase_add_test(tc, test_mremap);
	tcase_add_test(tc, test_mremap_unfaulted_pgoff);
	tcase_add_test(tc, test_mremap_dontunmap);
	tcase_add_test(tc, test_mremap_dontunmap_low_hint);
	tcase_add_test(tc, test_mremap_dontunmap_self_merge);
	tcase_add_test(tc, test_brk);
	tcase_add_test(tc, test_fault_access);
	tcase_add_test(tc, test_exec_fault_as_read);
	tcase_add_test(tc, test_exec_fault_then_merge);
	tcase_add_test(tc, test_zero_page);
	tcase_add_test(tc, test_stack_growth);
	tcase_add_test(tc, test_stack_growth_without_reader_slot);
	tcase_add_test(tc, test_stack_rlimit_prepares_anon);
	tcase_add_test(tc, test_stack_gap0);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_populate_huge);
	tcase_add_test(tc, test_maps_format);
	tcase_add_test(tc, test_tree_in_place);
	tcase_add_test(tc, test_brk_below_start);
	tcase_add_test(tc, test_madvise_flags);
	tcase_add_test(tc, test_madvise_errors);
	tcase_add_test(tc, test_madvise_dontneed);
	tcase_add_test(tc, test_guard);
	tcase_add_test(tc, test_madvise_populate_errors);
	tcase_add_test(tc, test_madvise_populate_read);
	tcase_add_test(tc, test_madvise_populate_write);
	tcase_add_test(tc, test_madvise_populate_guard);
	tcase_add_test(tc, test_madvise_special_mappings);
	tcase_add_test(tc, test_madvise_special_rules);
	tcase_add_test(tc, test_madvise_special_span);
	tcase_add_test(tc, test_madvise_special_sealed);
	tcase_add_test(tc, test_mlock);
	tcase_add_test(tc, test_mlockall);
	tcase_add_test(tc, test_mseal);
	tcase_add_test(tc, test_anon_name);
	tcase_add_test(tc, test_fork_dontfork_wipeonfork);
	tcase_add_test(tc, test_place_file_thp);
	tcase_add_test(tc, test_map_stack);
	tcase_add_loop_test(tc, test_alloc_failure, 0, 20);
	tcase_add_test(tc, test_concurrent_map_fixed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(vas_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
