/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rpc/suggest.h - "Did you mean ...?" for a mistyped name, shared by the
 * daemon (command-line options, configuration keys, methods) and the
 * clients (commands and options).
 *
 * Locking: every function here is Any context (pure functions of their
 * arguments; a struct rpc_suggest belongs to its caller).
 */
#ifndef RPC_SUGGEST_H
#define RPC_SUGGEST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Names of this many bytes or more are never close to anything. */
#define RPC_SUGGEST_MAX 64

/**
 * rpc_distance() - Edit distance between @a and @b: insertions, deletions,
 * substitutions and transpositions of neighbours each cost 1 (optimal
 * string alignment). Letters compare without case, and '-' equals '_'.
 *
 * Context: Any context.
 * Return: the distance; (size_t)-1 if either string is RPC_SUGGEST_MAX
 *         bytes or longer.
 */
size_t rpc_distance(const char *a, const char *b);

/**
 * struct rpc_suggest - The closest candidate so far to a typed name.
 * @typed: the name that was not found (borrowed).
 * @best:  the closest candidate so far (borrowed), or NULL.
 * @best_d: its distance.
 */
struct rpc_suggest {
	const char *typed;
	const char *best;
	size_t best_d;
};

/**
 * rpc_suggest_init() - Start a search for the candidate closest to @typed.
 * Context: Any context.
 */
void rpc_suggest_init(struct rpc_suggest *s, const char *typed);

/**
 * rpc_suggest_consider() - Keep @cand if it is close enough to the typed
 * name and closer than every candidate considered before. Close enough:
 * a distance of at most 1 for a typed name of up to 3 bytes, at most 2
 * otherwise; a typed name of 2 bytes or more that begins @cand ("pm" for
 * "pmap") counts as distance 1. On a tie the candidate considered first
 * stays, so callers pass candidates in the order they prefer (their
 * table's order).
 * @cand: a known name (borrowed: it must outlive @s's use).
 *
 * Context: Any context.
 */
void rpc_suggest_consider(struct rpc_suggest *s, const char *cand);

/**
 * rpc_suggest_best() - The candidate to suggest, or NULL when none was
 * close enough (then say nothing more than "unknown").
 * Context: Any context.
 */
static inline const char *rpc_suggest_best(const struct rpc_suggest *s)
{
	return s->best;
}

#ifdef __cplusplus
}
#endif

#endif /* RPC_SUGGEST_H */
