// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: "Did you mean ...?"
 *
 * One edit distance and one rule of closeness for every place a user types
 * a name: vmad's command-line options and configuration keys, JSON-RPC
 * method names (the -32601 message), and vmactl's commands and options.
 * The rule is git's and systemctl's habit: suggest one known name when the
 * typed one is a small edit away (or a prefix of it), and nothing when it
 * is far from every name.
 */
#include "rpc/suggest.h"

#include <stdbool.h>
#include <string.h>

/* Letters without case, and '-' the same as '_'. */
static char fold(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (char)(c - 'A' + 'a');
	return c == '-' ? '_' : c;
}

static bool same(char a, char b)
{
	return fold(a) == fold(b);
}

size_t rpc_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t d[RPC_SUGGEST_MAX][RPC_SUGGEST_MAX];

	if (la >= RPC_SUGGEST_MAX || lb >= RPC_SUGGEST_MAX)
		return (size_t)-1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			size_t best =
				d[i - 1][j - 1] + !same(a[i - 1], b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && same(a[i - 1], b[j - 2]) &&
			    same(a[i - 2], b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

void rpc_suggest_init(struct rpc_suggest *s, const char *typed)
{
	s->typed = typed;
	s->best = NULL;
	s->best_d = (size_t)-1;
}

/* Whether @typed is a proper beginning of @cand (folded as above). */
static bool is_prefix(const char *typed, const char *cand)
{
	size_t k;

	for (k = 0; typed[k]; k++)
		if (!cand[k] || !same(typed[k], cand[k]))
			return false;
	return cand[k] != '\0';
}

void rpc_suggest_consider(struct rpc_suggest *s, const char *cand)
{
	size_t len = strlen(s->typed);
	size_t d = rpc_distance(s->typed, cand);
	size_t limit = len <= 3 ? 1 : 2;

	if (len >= 2 && is_prefix(s->typed, cand) && d > 1)
		d = 1; /* a prefix: "pm" for "pmap" */
	if (d <= limit && d < s->best_d) {
		s->best = cand;
		s->best_d = d;
	}
}
