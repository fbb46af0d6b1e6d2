// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * vas_mem_test - What libvma holds, and the limit on it (vma_mem_stats(),
 * vma_mem_set_limit()):
 *
 *   - the counters grow with a space and go back when it is freed;
 *   - whole free chunks of tree-node memory go back to the system;
 *   - at the limit, mutations that need memory fail with -ENOMEM and
 *     change nothing, while reads (maps, lookup, faults of mapped pages)
 *     go on, and munmap, with the room the process-wide limit leaves
 *     above a thread's, still frees.
 *
 * Each test runs in its own process (Check's fork mode), so the
 * process-wide counters start from what the fixture made.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vma/err.h"
#include "vma/vas.h"

#define PG  4096ULL
#define WIN 0x100000000000ULL
#define FIX (VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED)

#ifndef VAS_TEST_SCALE_DIV
#define VAS_TEST_SCALE_DIV 1
#endif

#if defined(__SANITIZE_ADDRESS__)
#define NODE_CHUNKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NODE_CHUNKS 0
#endif
#endif
#ifndef NODE_CHUNKS
#define NODE_CHUNKS 1 /* nodes come from 2 MiB chunks */
#endif

static void setup(void)
{
	urcu_memb_register_thread();
}

static void teardown(void)
{
	vma_mem_thread_limit(0);
	vma_mem_set_limit(0);
	urcu_memb_unregister_thread();
}

static struct vas *space(uint64_t max_map_count)
{
	struct vas_layout l;
	struct vas *v;

	vas_layout_default(&l);
	l.max_map_count = max_map_count;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	return v;
}

/* Map @n one-page VMAs that do not merge (every other page, alternating
 * protections); return how many were mapped before the first error. */
static size_t map_many(struct vas *v, size_t n, int *err)
{
	size_t i;

	*err = 0;
	for (i = 0; i < n; i++) {
		uint64_t out;
		int ret = vas_mmap(v, WIN + 2 * i * PG, PG,
				   i % 2 ? VAS_PROT_READ
					 : VAS_PROT_READ | VAS_PROT_WRITE,
				   FIX, NULL, 0, &out);

		if (ret) {
			*err = ret;
			return i;
		}
	}
	return n;
}

static uint64_t total(void)
{
	struct vma_mem_stats st;

	vma_mem_stats(&st);
	return st.total;
}

START_TEST(test_counted_and_returned)
{
	size_t n = 200000 / VAS_TEST_SCALE_DIV;
	struct vma_mem_stats before, full, after;
	struct vas *v;
	int err;

	vma_mem_stats(&before);
	v = space(n + 16);
	ck_assert_uint_eq(map_many(v, n, &err), n);
	vma_mem_stats(&full);
	/* A VMA object, its share of a leaf and more: well over 64 bytes. */
	ck_assert_msg(full.total - before.total > n * 64,
		      "%zu VMAs counted as %" PRIu64 " bytes", n,
		      full.total - before.total);
	ck_assert_uint_gt(full.nodes_used, before.nodes_used);
	vas_free(v);
	vma_mem_stats(&after);
	ck_assert_uint_eq(after.heap, before.heap);
	ck_assert_uint_eq(after.nodes_used, before.nodes_used);
	if (NODE_CHUNKS) {
		/* Every chunk went back but one kept empty (2 MiB). */
		ck_assert_msg(full.nodes - before.nodes >= (4u << 20),
			      "the tree took %" PRIu64 " bytes of chunks",
			      full.nodes - before.nodes);
		ck_assert_msg(after.nodes <= before.nodes + (2u << 20),
			      "node chunks kept: %" PRIu64 " -> %" PRIu64
			      " -> %" PRIu64,
			      before.nodes, full.nodes, after.nodes);
	} else {
		ck_assert_uint_eq(after.nodes, before.nodes);
	}
}
END_TEST

START_TEST(test_limit)
{
	size_t n = 100000 / VAS_TEST_SCALE_DIV, got, i;
	struct vas_vma_info *m, info;
	struct vas_fault_result fr;
	struct vma_mem_stats st;
	struct vas_stats vs;
	struct vas *v = space(4 * n);
	uint64_t limit;
	char msg[256];
	size_t nr;
	int err;

	ck_assert_uint_eq(map_many(v, 16, &err), 16);
	/* A page made resident now: faulting it later adds nothing. */
	ck_assert_int_eq(vas_fault(v, WIN, VAS_ACCESS_READ, &fr), 0);
	/*
	 * As the daemon does: mutations that add run under a limit of
	 * their own; the process-wide one leaves room above it.
	 */
	limit = total() + (1u << 20);
	vma_mem_set_limit(limit + (8u << 20));
	vma_mem_thread_limit(limit);
	got = map_many(v, n, &err);
	ck_assert_int_eq(err, -ENOMEM);
	ck_assert_uint_gt(got, 16);
	ck_assert_uint_lt(got, n);
	vma_mem_stats(&st);
	ck_assert_uint_gt(st.refused, 0);
	/* Sizes in chunks or heap blocks: close to the limit, not past it. */
	ck_assert_uint_le(st.total, limit);
	/* The failed mmap changed nothing. */
	vas_stats(v, &vs);
	ck_assert_uint_eq(vs.nr_vmas, got);
	ck_assert_msg(vas_validate(v, msg, sizeof(msg)) == 0, "%s", msg);
	/* Reads go on: a snapshot of every VMA, lookups, faults of resident
	 * pages (one that would map a page needs memory: it may fail). */
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, got);
	vma_free(m);
	ck_assert(vas_lookup(v, WIN, &info));
	ck_assert_int_eq(vas_fault(v, WIN, VAS_ACCESS_READ, &fr), 0);
	ck_assert_int_eq(fr.status, VAS_FAULT_OK);
	/*
	 * munmap needs memory for a moment too (copies of the tree's path,
	 * freed after a grace period): under the process-wide limit, with
	 * its room above the thread's, it frees.
	 */
	vma_mem_thread_limit(0);
	for (i = 0; i < got / 2; i++)
		ck_assert_int_eq(vas_munmap(v, WIN + 2 * i * PG, PG), 0);
	vas_stats(v, &vs);
	ck_assert_uint_eq(vs.nr_vmas, got - got / 2);
	/* Without the limits everything fits again. */
	vma_mem_thread_limit(0);
	vma_mem_set_limit(0);
	ck_assert_uint_eq(map_many(v, n, &err), n);
	vas_free(v);
}
END_TEST

static Suite *mem_suite(void)
{
	Suite *s = suite_create("vas_mem");
	TCase *tc = tcase_create("mem");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_counted_and_returned);
	tcase_add_test(tc, test_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mem_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
