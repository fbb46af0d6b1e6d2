// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Model-based randomized test of the address space.
 *
 * A seeded stream of mmap (fixed, noreplace, hinted, placed; anonymous,
 * file and shared anonymous; populate), munmap, mprotect, mremap, brk and
 * faults (reads, writes, execs, stack growth) runs against both libvma's
 * space and the page-array model (model.c). After every operation the
 * results (errno, address, fault outcome) and the full maps (every line as
 * /proc/PID/maps prints it, plus page offset and resident pages of each
 * VMA) must agree, and vas_validate() must pass. On a mismatch the test
 * prints the seed, the step and both maps. VMAD_MODEL_SEED=N runs one
 * seed, VMAD_MODEL_STEPS=N changes the length.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "model.h"
#include "vma/vas.h"

uint64_t vas__file_inode(const char *name); /* libvma internal */

#define PG	  4096ULL
#define TASK_SIZE 0x800000ULL
#define MMAP_BASE (TASK_SIZE - 0x100000ULL)
#define BRK_BASE  0x100000ULL
#define NR_SEEDS  16
#define MAX_VMAS  4096

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t rnd_n(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint64_t rnd_addr(uint64_t brk)
{
	switch (rnd_n(8)) {
	case 0:
		return (brk & ~(PG - 1)) + (rnd_n(16) - 8) * PG;
	case 1:
		return rnd_n(TASK_SIZE / PG) * PG;
	case 2:
		return TASK_SIZE - rnd_n(64) * PG;
	default:
		return MMAP_BASE - rnd_n(96) * PG + 32 * PG;
	}
}

static uint64_t rnd_len(void)
{
	uint64_t len = (1 + rnd_n(rnd_n(4) ? 8 : 40)) * PG;

	if (!rnd_n(10))
		len -= rnd_n(PG);
	if (!rnd_n(60))
		len = 0;
	return len;
}

struct ctx {
	unsigned seed, step;
	char desc[256];
	struct vas *vas;
	struct model *m;
	struct vas_vma_info *a, *b;
};

static void print_maps(const char *who, const struct vas_vma_info *v, size_t n)
{
	char line[512];
	size_t i;

	fprintf(stderr, "  %s:\n", who);
	for (i = 0; i < n; i++) {
		vas_format_maps_line(&v[i], line, sizeof(line));
		fprintf(stderr, "    pgoff %-8" PRIx64 " rss %-3" PRIu64 " %s",
			v[i].pgoff, v[i].rss_pages, line);
	}
}

static void compare(struct ctx *c)
{
	struct vas_vma_info *va;
	size_t na, nb, i;
	char la[512], lb[512], msg[256];
	bool bad = false;

	ck_assert_int_eq(vas_maps(c->vas, &va, &na), 0);
	nb = model_maps(c->m, c->b, MAX_VMAS);
	if (na != nb)
		bad = true;
	for (i = 0; !bad && i < na; i++) {
		if (c->b[i].file[0])
			c->b[i].inode = vas__file_inode(c->b[i].file);
		vas_format_maps_line(&va[i], la, sizeof(la));
		vas_format_maps_line(&c->b[i], lb, sizeof(lb));
		if (strcmp(la, lb) || va[i].rss_pages != c->b[i].rss_pages ||
		    va[i].pgoff != c->b[i].pgoff)
			bad = true;
		/* VmFlags: the flags madvise changes, VM_ACCOUNT, ... */
		vas_format_vmflags(&va[i], la, sizeof(la));
		vas_format_vmflags(&c->b[i], lb, sizeof(lb));
		if (strcmp(la, lb))
			bad = true;
	}
	if (bad) {
		fprintf(stderr, "seed %u step %u: maps differ after %s\n",
			c->seed, c->step, c->desc);
		print_maps("vas", va, na);
		print_maps("model", c->b, nb);
	}
	vma_free(va);
	ck_assert_msg(!bad, "seed %u step %u: maps differ after %s", c->seed,
		      c->step, c->desc);
	ck_assert_msg(vas_validate(c->vas, msg, sizeof(msg)) == 0,
		      "seed %u step %u: vas_validate after %s: %s", c->seed,
		      c->step, c->desc, msg);
}

static void check_rc(struct ctx *c, int ra, int rb, uint64_t oa, uint64_t ob)
{
	if (ra != rb || (!ra && oa != ob))
		fprintf(stderr,
			"seed %u step %u: %s: vas %d %#" PRIx64
			", model %d %#" PRIx64 "\n",
			c->seed, c->step, c->desc, ra, oa, rb, ob);
	ck_assert_msg(ra == rb, "seed %u step %u: %s: errno %d vs model %d",
		      c->seed, c->step, c->desc, ra, rb);
	ck_assert_msg(ra || oa == ob,
		      "seed %u step %u: %s: address %#" PRIx64
		      " vs model %#" PRIx64,
		      c->seed, c->step, c->desc, oa, ob);
}

static const char *files[] = {"/lib/a.so", "/data/b", "/c"};

static void step(struct ctx *c)
{
	uint64_t addr, len, oa = 0, ob = 0, x;
	unsigned prot, flags;
	int ra, rb, op = rnd_n(100);
	struct vas_fault_result fa, fb;
	uint64_t brk;

	ck_assert_int_eq(vas_brk(c->vas, 0, &brk), 0);
	if (op < 30) {
		const char *file = NULL;
		uint64_t off = 0;

		addr = rnd_addr(brk);
		len = rnd_len();
		prot = rnd_n(8);
		flags = rnd_n(5) ? VAS_MAP_PRIVATE : VAS_MAP_SHARED;
		if (!rnd_n(50))
			flags = rnd_n(2) ? 0 : VAS_MAP_PRIVATE | VAS_MAP_SHARED;
		if (rnd_n(4)) {
			flags |= VAS_MAP_ANONYMOUS;
		} else {
			file = files[rnd_n(3)];
			off = rnd_n(8) * PG + (!rnd_n(40) ? 100 : 0);
		}
		x = rnd_n(10);
		if (x < 4)
			flags |= VAS_MAP_FIXED;
		else if (x < 5)
			flags |= VAS_MAP_FIXED_NOREPLACE;
		else if (x < 7)
			addr = 0;
		if (!rnd_n(8))
			flags |= VAS_MAP_POPULATE;
		if (!rnd_n(10))
			flags |= VAS_MAP_NORESERVE;
		snprintf(c->desc, sizeof(c->desc),
			 "mmap(%#" PRIx64 ", %#" PRIx64
			 ", %u, %#x, %s, %#" PRIx64 ")",
			 addr, len, prot, flags, file ? file : "-", off);
		ra = vas_mmap(c->vas, addr, len, prot, flags, file, off, &oa);
		rb = model_mmap(c->m, addr, len, prot, flags, file, off, &ob);
		check_rc(c, ra, rb, oa, ob);
	} else if (op < 42) {
		addr = rnd_addr(brk);
		len = rnd_len() * (1 + rnd_n(3));
		snprintf(c->desc, sizeof(c->desc),
			 "munmap(%#" PRIx64 ", %#" PRIx64 ")", addr, len);
		ra = vas_munmap(c->vas, addr, len);
		rb = model_munmap(c->m, addr, len);
		check_rc(c, ra, rb, 0, 0);
	} else if (op < 60) {
		addr = rnd_addr(brk);
		len = rnd_len() * (1 + rnd_n(3));
		prot = rnd_n(8);
		snprintf(c->desc, sizeof(c->desc),
			 "mprotect(%#" PRIx64 ", %#" PRIx64 ", %u)", addr, len,
			 prot);
		ra = vas_mprotect(c->vas, addr, len, prot);
		rb = model_mprotect(c->m, addr, len, prot);
		check_rc(c, ra, rb, 0, 0);
	} else if (op < 68) {
		uint64_t nlen = rnd_len(), naddr = 0;

		addr = rnd_addr(brk);
		len = rnd_len();
		flags = rnd_n(3) ? VAS_MREMAP_MAYMOVE : 0;
		if (!rnd_n(4)) {
			flags |= VAS_MREMAP_FIXED;
			naddr = rnd_addr(brk);
		}
		snprintf(c->desc, sizeof(c->desc),
			 "mremap(%#" PRIx64 ", %#" PRIx64 ", %#" PRIx64
			 ", %#x, %#" PRIx64 ")",
			 addr, len, nlen, flags, naddr);
		ra = vas_mremap(c->vas, addr, len, nlen, flags, naddr, &oa);
		rb = model_mremap(c->m, addr, len, nlen, flags, naddr, &ob);
		check_rc(c, ra, rb, oa, ob);
	} else if (op < 72) {
		static const int adv[] = {
			VAS_MADV_NORMAL,
			VAS_MADV_RANDOM,
			VAS_MADV_SEQUENTIAL,
			VAS_MADV_WILLNEED,
			VAS_MADV_DONTNEED,
			VAS_MADV_FREE,
			VAS_MADV_DONTFORK,
			VAS_MADV_DOFORK,
			VAS_MADV_WIPEONFORK,
			VAS_MADV_KEEPONFORK,
			VAS_MADV_DONTDUMP,
			VAS_MADV_DODUMP,
			VAS_MADV_HUGEPAGE,
			VAS_MADV_NOHUGEPAGE,
			VAS_MADV_MERGEABLE,
			VAS_MADV_UNMERGEABLE,
			VAS_MADV_POPULATE_READ,
			VAS_MADV_POPULATE_WRITE,
			5,
		};
		int a = adv[rnd_n(sizeof(adv) / sizeof(adv[0]))];

		addr = rnd_addr(brk) + (!rnd_n(40) ? 8 : 0);
		len = rnd_len() * (1 + rnd_n(3));
		snprintf(c->desc, sizeof(c->desc),
			 "madvise(%#" PRIx64 ", %#" PRIx64 ", %d)", addr, len,
			 a);
		ra = vas_madvise(c->vas, addr, len, a);
		rb = model_madvise(c->m, addr, len, a);
		check_rc(c, ra, rb, 0, 0);
	} else if (op < 76) {
		addr = brk + (rnd_n(24) - 8) * PG + (rnd_n(2) ? rnd_n(PG) : 0);
		if (!rnd_n(10))
			addr = 0;
		snprintf(c->desc, sizeof(c->desc), "brk(%#" PRIx64 ")", addr);
		ra = vas_brk(c->vas, addr, &oa);
		rb = model_brk(c->m, addr, &ob);
		check_rc(c, ra, rb, oa, ob);
	} else {
		enum vas_access acc = rnd_n(3);

		addr = rnd_addr(brk) + rnd_n(PG);
		if (!rnd_n(4))
			addr = TASK_SIZE - VAS_INITIAL_STACK_SIZE -
			       rnd_n(80) * PG - rnd_n(PG);
		snprintf(c->desc, sizeof(c->desc), "fault(%#" PRIx64 ", %d)",
			 addr, acc);
		ra = vas_fault(c->vas, addr, acc, &fa);
		rb = model_fault(c->m, addr, acc, &fb);
		check_rc(c, ra, rb, 0, 0);
		ck_assert_msg(fa.status == fb.status && fa.code == fb.code &&
				      fa.expanded == fb.expanded &&
				      (fa.status != VAS_FAULT_OK ||
				       fa.populated == fb.populated),
			      "seed %u step %u: %s: vas %d/%d/exp %d/pop %d, "
			      "model %d/%d/exp %d/pop %d",
			      c->seed, c->step, c->desc, fa.status, fa.code,
			      fa.expanded, fa.populated, fb.status, fb.code,
			      fb.expanded, fb.populated);
	}
	if (getenv("VMAD_MODEL_TRACE"))
		fprintf(stderr, "%u: %s -> %d\n", c->step, c->desc, ra);
	compare(c);
}

static void run_seed(unsigned seed, unsigned steps)
{
	static const uint64_t gaps[] = {0, 1, 16, 256};
	static const uint64_t counts[] = {65530, 65530, 12, 20};
	struct vas_layout l;
	struct ctx c = {.seed = seed};

	rng = 0x9e3779b97f4a7c15ULL * (seed + 1);
	vas_layout_default(&l);
	l.task_size = TASK_SIZE;
	l.mmap_base = MMAP_BASE;
	l.brk_base = BRK_BASE;
	l.stack = true;
	l.stack_guard_gap = gaps[seed % 4];
	l.max_map_count = counts[(seed / 4) % 4];
	l.stack_rlimit = (64 + rnd_n(64)) * PG;
	/* Every third seed models a kernel without the zero page. */
	l.no_zero_page = seed % 3 == 2;
	ck_assert_int_eq(vas_new(&l, &c.vas), 0);
	ck_assert_int_eq(model_new(&l, &c.m), 0);
	c.b = calloc(MAX_VMAS, sizeof(*c.b));
	compare(&c);
	for (c.step = 0; c.step < steps; c.step++)
		step(&c);
	free(c.b);
	model_free(c.m);
	vas_free(c.vas);
}

static unsigned env_u(const char *name, unsigned def)
{
	const char *s = getenv(name);

	return s && *s ? (unsigned)strtoul(s, NULL, 0) : def;
}

START_TEST(test_model_seed)
{
	unsigned seed = env_u("VMAD_MODEL_SEED", 0);

	urcu_memb_register_thread();
	run_seed(seed ? seed : (unsigned)_i + 1,
		 env_u("VMAD_MODEL_STEPS", 1000));
	urcu_memb_unregister_thread();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("random");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_model_seed, 0,
			    getenv("VMAD_MODEL_SEED") ? 1 : NR_SEEDS);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
