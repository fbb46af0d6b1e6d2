/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vt_test_util.h - Helpers shared by the range tree tests: a seeded
 * generator, environment knobs and checks of the tree against the model.
 *
 * Locking: everything here runs on the test's writer thread.
 */
#ifndef VT_TEST_UTIL_H
#define VT_TEST_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <check.h>
#include <urcu/urcu-memb.h>

#include "vma/vt.h"
#include "vt_model.h"

/*
 * Check's own ck_assert*() record a checkpoint (a write to a pipe) for
 * every assertion that passes, which dominates loops of millions of
 * checks. These only call into Check on failure.
 */
#define TEST_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg("Assertion '%s' failed", #cond);          \
	} while (0)

#define TEST_CHECK_MSG(cond, ...)                                              \
	do {                                                                   \
		if (!(cond))                                                   \
			ck_abort_msg(__VA_ARGS__);                             \
	} while (0)

/* Integers or pointers; each argument is evaluated once. */
#define TEST_EQ(a, b)                                                          \
	do {                                                                   \
		long long test_x_ = (long long)(a), test_y_ = (long long)(b);  \
		if (test_x_ != test_y_)                                        \
			ck_abort_msg("Assertion '%s == %s' failed: %#llx vs "  \
				     "%#llx",                                  \
				     #a, #b, test_x_, test_y_);                \
	} while (0)

/* splitmix64: small, fast, and every seed gives a good stream. */
struct test_rng {
	uint64_t s;
};

static inline uint64_t test_rand(struct test_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (n > 0); the bias is irrelevant for tests. */
static inline uint64_t test_below(struct test_rng *r, uint64_t n)
{
	return test_rand(r) % n;
}

/* Uniform in [a, b]. */
static inline uint64_t test_between(struct test_rng *r, uint64_t a, uint64_t b)
{
	if (a == 0 && b == UINT64_MAX)
		return test_rand(r);
	return a + test_rand(r) % (b - a + 1);
}

/* An unsigned number from the environment, or @def if unset. */
static inline uint64_t test_env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	return strtoull(s, NULL, 0);
}

static inline int test_env_set(const char *name)
{
	const char *s = getenv(name);
	return s && *s;
}

/* A fake, never dereferenced, non-NULL stored pointer. */
static inline void *test_ptr(uint64_t tag)
{
	return (void *)(uintptr_t)((tag << 4) | 8);
}

/*
 * Compare the whole tree (or a transaction's working state) with @m and
 * run vt_validate(); fail the test with @what in the message otherwise.
 */
static inline void test_check_tree(const struct vt *vt,
				   const struct vt_txn *txn,
				   const struct model *m, const char *what)
{
	struct model got;
	char msg[256] = "";

	model_init(&got);
	int err = model_snapshot(&got, vt, txn);
	if (err)
		ck_abort_msg("%s: iteration not sorted/non-overlapping after "
			     "%zu entries",
			     what, got.nr);
	if (!model_equal(&got, m, msg, sizeof(msg)))
		ck_abort_msg("%s: tree differs from model: %s", what, msg);
	model_fini(&got);
	if (!txn) {
		err = vt_validate(vt, msg, sizeof(msg));
		if (err)
			ck_abort_msg("%s: vt_validate: %s", what, msg);
		struct vt_stats st;
		vt_stats(vt, &st);
		if (st.nr_entries != m->nr)
			ck_abort_msg("%s: vt_stats nr_entries %" PRIu64
				     " vs %zu",
				     what, st.nr_entries, m->nr);
	}
}

#endif /* VT_TEST_UTIL_H */
