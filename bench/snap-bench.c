// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: snap-bench - time and size of a space snapshot
 *
 * Builds a space of --n VMAs (default 65,530, Linux's max_map_count):
 * single-page private anonymous VMAs that never merge (alternately r and
 * rw), every third one with a resident page (half of those written, half
 * read: the zero page), every 16th one a page of a file at its own offset.
 * Then prints one JSON line per figure (ARCHITECTURE.md "Performance"),
 * each the median of --runs runs (default 5):
 *
 *   snapshot   vas_snapshot() of the space (ms), with "bytes" (the
 *              snapshot's size) and "bytes_per_vma";
 *   restore    vas_restore() of that snapshot into a new space, checked
 *              completely (ms);
 *   fork       vas_fork() of the same space (ms): the comparator, the
 *              other way libvma copies a whole space;
 *   ratio      snapshot / fork and restore / fork ("of" names them).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define PG 4096ULL
#define W  0x100000000000ULL

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void die(const char *what, int err)
{
	fprintf(stderr, "snap-bench: %s: %s\n", what, vma_strerror(err));
	exit(1);
}

static struct vas *build(uint64_t n)
{
	struct vas_fault_result f;
	struct vas_layout l;
	struct vas *v;
	uint64_t i, out;
	int err;

	vas_layout_default(&l);
	l.max_map_count = n + 16;
	err = vas_new(&l, &v);
	if (err)
		die("vas_new", err);
	for (i = 0; i < n; i++) {
		uint64_t addr = W + 2 * i * PG;
		unsigned prot =
			i % 2 ? VAS_PROT_READ | VAS_PROT_WRITE : VAS_PROT_READ;

		if (i % 16 == 5)
			err = vas_mmap(v, addr, PG, prot,
				       VAS_MAP_PRIVATE | VAS_MAP_FIXED,
				       "/usr/lib/libbench.so", i * PG, &out);
		else
			err = vas_mmap(v, addr, PG, prot,
				       VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS |
					       VAS_MAP_FIXED,
				       NULL, 0, &out);
		if (err)
			die("vas_mmap", err);
		if (i % 3 == 0) {
			err = vas_fault(v, addr,
					i % 2 && i % 6 ? VAS_ACCESS_WRITE
						       : VAS_ACCESS_READ,
					&f);
			if (err)
				die("vas_fault", err);
		}
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t n = 65530;
	int runs = 5, i;
	double ts[64], tr[64], tf[64], snap_ms, restore_ms, fork_ms;
	struct vas *v, *c;
	size_t len = 0;
	void *buf = NULL;
	char msg[256];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--n") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: snap-bench [--n VMAS] "
					"[--runs N]\n");
			return 2;
		}
	}
	if (runs < 1 || runs > 64 || !n)
		return 2;
	urcu_memb_register_thread();
	v = build(n);
	for (i = 0; i < runs; i++) {
		double t = now_ms();
		int err;

		vma_free(buf);
		err = vas_snapshot(v, &buf, &len);
		if (err)
			die("vas_snapshot", err);
		ts[i] = now_ms() - t;
		t = now_ms();
		err = vas_restore(buf, len, &c, msg, sizeof(msg));
		if (err) {
			fprintf(stderr, "snap-bench: vas_restore: %s\n", msg);
			return 1;
		}
		tr[i] = now_ms() - t;
		vas_free(c);
		t = now_ms();
		err = vas_fork(v, &c);
		if (err)
			die("vas_fork", err);
		tf[i] = now_ms() - t;
		vas_free(c);
	}
	snap_ms = median(ts, runs);
	restore_ms = median(tr, runs);
	fork_ms = median(tf, runs);
	printf("{\"bench\": \"snap-bench\", \"figure\": \"snapshot\", "
	       "\"impl\": \"vmad\", \"n\": %" PRIu64 ", \"value\": %.2f, "
	       "\"unit\": \"ms\", \"bytes\": %zu, \"bytes_per_vma\": %.1f}\n",
	       n, snap_ms, len, (double)len / (double)n);
	printf("{\"bench\": \"snap-bench\", \"figure\": \"restore\", "
	       "\"impl\": \"vmad\", \"n\": %" PRIu64 ", \"value\": %.2f, "
	       "\"unit\": \"ms\"}\n",
	       n, restore_ms);
	printf("{\"bench\": \"snap-bench\", \"figure\": \"fork\", "
	       "\"impl\": \"vmad\", \"n\": %" PRIu64 ", \"value\": %.2f, "
	       "\"unit\": \"ms\"}\n",
	       n, fork_ms);
	printf("{\"bench\": \"snap-bench\", \"figure\": \"snapshot\", "
	       "\"impl\": \"ratio\", \"of\": \"snapshot/fork\", \"n\": %" PRIu64
	       ", \"value\": %.2f, \"unit\": \"x\"}\n",
	       n, snap_ms / fork_ms);
	printf("{\"bench\": \"snap-bench\", \"figure\": \"restore\", "
	       "\"impl\": \"ratio\", \"of\": \"restore/fork\", \"n\": %" PRIu64
	       ", \"value\": %.2f, \"unit\": \"x\"}\n",
	       n, restore_ms / fork_ms);
	vma_free(buf);
	vas_free(v);
	urcu_memb_unregister_thread();
	return 0;
}
