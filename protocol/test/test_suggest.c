// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Unit tests of "did you mean ...?" (protocol/suggest.c): the edit
 * distance (transpositions, case, '-' and '_', long names), the rule of
 * closeness (a name too far gets no suggestion, a prefix is close) and
 * ties (the candidate offered first wins).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/suggest.h"

/* The candidate @typed gets from the NULL-terminated list @cands. */
static const char *suggest(const char *typed, const char *const *cands)
{
	struct rpc_suggest s;

	rpc_suggest_init(&s, typed);
	for (; *cands; cands++)
		rpc_suggest_consider(&s, *cands);
	return rpc_suggest_best(&s);
}

static void ck_suggests(const char *typed, const char *const *cands,
			const char *want)
{
	const char *got = suggest(typed, cands);

	if (!want)
		ck_assert_msg(!got, "'%s': suggested '%s', wanted none", typed,
			      got);
	else
		ck_assert_msg(got && !strcmp(got, want),
			      "'%s': suggested '%s', wanted '%s'", typed,
			      got ? got : "(none)", want);
}

START_TEST(test_distance)
{
	ck_assert_uint_eq(rpc_distance("", ""), 0);
	ck_assert_uint_eq(rpc_distance("maps", "maps"), 0);
	ck_assert_uint_eq(rpc_distance("", "maps"), 4);
	ck_assert_uint_eq(rpc_distance("maps", ""), 4);
	/* One insertion, deletion, substitution. */
	ck_assert_uint_eq(rpc_distance("apendonly", "appendonly"), 1);
	ck_assert_uint_eq(rpc_distance("spaces.list", "space.list"), 1);
	ck_assert_uint_eq(rpc_distance("mapz", "maps"), 1);
	/* A transposition of neighbours is one edit, not two. */
	ck_assert_uint_eq(rpc_distance("lenght", "length"), 1);
	ck_assert_uint_eq(rpc_distance("destory", "destroy"), 1);
	ck_assert_uint_eq(rpc_distance("pmpa", "pmap"), 1);
	ck_assert_uint_eq(rpc_distance("ab", "ba"), 1);
	/* Optimal string alignment: no edit of a transposed pair. */
	ck_assert_uint_eq(rpc_distance("ca", "abc"), 3);
	/* Case and '-'/'_' are not differences. */
	ck_assert_uint_eq(rpc_distance("APPENDONLY", "appendonly"), 0);
	ck_assert_uint_eq(rpc_distance("Log-Level", "log_level"), 0);
	ck_assert_uint_eq(rpc_distance("LOG-LEVL", "log_level"), 1);
	/* Symmetric. */
	ck_assert_uint_eq(rpc_distance("munmap", "mmap"),
			  rpc_distance("mmap", "munmap"));
	ck_assert_uint_eq(rpc_distance("munmap", "mmap"), 2);
}
END_TEST

START_TEST(test_long_names)
{
	char a[RPC_SUGGEST_MAX + 1], b[RPC_SUGGEST_MAX];

	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memset(b, 'x', sizeof(b) - 1);
	b[sizeof(b) - 1] = '\0';
	/* RPC_SUGGEST_MAX - 1 bytes is the longest name measured. */
	ck_assert_uint_eq(rpc_distance(b, b), 0);
	ck_assert_uint_eq(rpc_distance(a, b), (size_t)-1);
	ck_assert_uint_eq(rpc_distance(b, a), (size_t)-1);
	{
		const char *const cands[] = {b, NULL};

		ck_suggests(a, cands, NULL);
	}
}
END_TEST

static const char *const options[] = {
	"socket", "workers",	"log_level", "appendonly", "appendfsync",
	"json",	  "max_spaces", "help",	     NULL,
};

START_TEST(test_close_and_far)
{
	ck_suggests("apendonly", options, "appendonly");
	ck_suggests("appendonyl", options, "appendonly");
	ck_suggests("sockt", options, "socket");
	ck_suggests("SOCKET", options, "socket");
	ck_suggests("log-levl", options, "log_level");
	/* Two edits are close for a name of 4 bytes or more ... */
	ck_suggests("wrkrs", options, "workers");
	ck_suggests("jsn", options, "json");
	/* ... one edit only for 3 bytes or fewer. */
	ck_suggests("hl", options, NULL);
	ck_suggests("jn", options, NULL);
	/* Too far from every name: no suggestion. */
	ck_suggests("bogus", options, NULL);
	ck_suggests("frobnicate", options, NULL);
	ck_suggests("wrks", options, NULL);
	ck_suggests("", options, NULL);
	/* A prefix of 2 bytes or more counts as one edit. */
	ck_suggests("max", options, "max_spaces");
	ck_suggests("work", options, "workers");
	ck_suggests("w", options, NULL);
	/* Nothing to choose from. */
	{
		const char *const none[] = {NULL};

		ck_suggests("socket", none, NULL);
	}
}
END_TEST

START_TEST(test_ties)
{
	/* "appendfsyn" is one edit from "appendfsync", two from nothing
	 * else: the closer one wins whatever the order. */
	const char *const fwd[] = {"appendonly", "appendfsync", NULL};
	const char *const rev[] = {"appendfsync", "appendonly", NULL};
	/* "mapz" is one edit from "maps" and one from "mapx": a tie. */
	const char *const tie1[] = {"maps", "mapx", NULL};
	const char *const tie2[] = {"mapx", "maps", NULL};

	ck_suggests("appendfsyn", fwd, "appendfsync");
	ck_suggests("appendfsyn", rev, "appendfsync");
	/* A closer candidate offered later replaces an earlier one. */
	ck_suggests("appendonl", rev, "appendonly");
	/* On a tie the candidate offered first stays. */
	ck_suggests("mapz", tie1, "maps");
	ck_suggests("mapz", tie2, "mapx");
	/* A prefix ties with a one-edit name: the first offered stays. */
	{
		const char *const p1[] = {"mmap", "mmapx", NULL};
		const char *const p2[] = {"mmapx", "mmap", NULL};

		ck_suggests("mma", p1, "mmap");
		ck_suggests("mma", p2, "mmapx");
	}
}
END_TEST

static Suite *suggest_suite(void)
{
	Suite *s = suite_create("rpc_suggest");
	TCase *tc = tcase_create("suggest");

	tcase_add_test(tc, test_distance);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_close_and_far);
	tcase_add_test(tc, test_ties);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suggest_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
