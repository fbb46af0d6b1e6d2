// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: libFuzzer target: operation sequences on the range tree.
 *
 * The input is read as a program of tree operations: stores, erases,
 * stores of NULL, loads, next/prev, free-area searches in both directions
 * with and without alignment, runs of adjacent stores (to grow the tree a
 * few levels), transactions of several operations (with reads of the
 * working state and deferred frees) that commit or abort, and allocation
 * failures injected with vma_alloc_fail_after() into single stores and
 * into transactions. Every result is checked against the reference model
 * (libvma/test/vt/vt_model.c); after every mutation vt_validate() must pass
 * and the whole tree, read with vt_next(), must equal the model. Deferred
 * free functions must run exactly once per committed deferral, after
 * vt_free() has waited for reclamation, and never for an aborted one.
 *
 * Keys mostly fall in a window of 61,440 keys (overlaps are frequent),
 * plus 0, 1, UINT64_MAX and its neighbours, and raw 64-bit values.
 *
 * A mismatch prints the operation number and both answers, then aborts
 * (libFuzzer saves the input).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vma/err.h"
#include "vma/vt.h"
#include "vt_model.h"

#define WINDOW_BASE 0x10000ull
#define MAX_TXN_OPS 8
#define MAX_RUN	    200

struct rd {
	const uint8_t *p;
	size_t n;
};

struct fz {
	struct rd in;
	struct vt *vt;
	struct model m;	   /* committed state */
	struct model snap; /* scratch: the tree as read back */
	uint64_t tag;	   /* next fake pointer */
	unsigned op;	   /* operation number, for messages */
	uint64_t nr_deferred_committed;
};

static uint64_t nr_freed; /* deferred free functions run */

static void deferred_free(void *ptr)
{
	(void)ptr;
	nr_freed++;
}

#define FAIL(fz, ...)                                                          \
	do {                                                                   \
		fprintf(stderr, "fuzz_vt: op %u: ", (fz)->op);                 \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

static uint8_t rd_u8(struct rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint64_t rd_u64(struct rd *r)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | rd_u8(r);
	return v;
}

/* A key: mostly inside the window, sometimes at the ends of the space. */
static uint64_t rd_key(struct rd *r)
{
	uint8_t t = rd_u8(r);

	if (t < 0xf0)
		return WINDOW_BASE + ((uint64_t)t << 8 | rd_u8(r));
	switch (t & 0xf) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return UINT64_MAX;
	case 3:
		return UINT64_MAX - 1;
	case 4:
		return UINT64_MAX - rd_u8(r);
	case 5:
		return WINDOW_BASE - 1;
	case 6:
		return WINDOW_BASE + 0xf000;
	default:
		return rd_u64(r);
	}
}

/* A range [*first, *last]: usually short, sometimes reversed (EINVAL). */
static void rd_range(struct rd *r, uint64_t *first, uint64_t *last)
{
	uint8_t l = rd_u8(r);
	uint64_t a = rd_key(r), b;

	if (l < 0xc0) {
		b = a + (l & 0x3f);
		if (b < a)
			b = UINT64_MAX;
	} else {
		b = rd_key(r);
		if (l != 0xff && b < a) {
			uint64_t t = a;

			a = b;
			b = t;
		}
	}
	*first = a;
	*last = b;
}

static void *next_ptr(struct fz *fz)
{
	return (void *)(uintptr_t)(++fz->tag << 4 | 8);
}

/* The committed tree must read back as the model and be valid. */
static void check_tree(struct fz *fz)
{
	char msg[256];

	if (vt_validate(fz->vt, msg, sizeof(msg)))
		FAIL(fz, "vt_validate: %s", msg);
	if (model_snapshot(&fz->snap, fz->vt, NULL))
		FAIL(fz, "vt_next iteration not sorted or overlapping");
	if (!model_equal(&fz->m, &fz->snap, msg, sizeof(msg)))
		FAIL(fz, "tree differs from the model: %s", msg);
}

static void check_stats(struct fz *fz)
{
	struct vt_stats st;

	vt_stats(fz->vt, &st);
	if (st.nr_entries != fz->m.nr)
		FAIL(fz, "vt_stats: %" PRIu64 " entries, model %zu",
		     st.nr_entries, fz->m.nr);
	if ((st.height == 0) != (fz->m.nr == 0))
		FAIL(fz, "vt_stats: height %u with %zu entries", st.height,
		     fz->m.nr);
	if (st.nr_leaves > st.nr_nodes)
		FAIL(fz, "vt_stats: %" PRIu64 " leaves > %" PRIu64 " nodes",
		     st.nr_leaves, st.nr_nodes);
}

enum rd_kind { R_LOAD, R_NEXT, R_PREV };

/* A read (load/next/prev) at an index, of the tree or of @txn. */
static void check_read(struct fz *fz, const struct model *m,
		       const struct vt_txn *txn, enum rd_kind kind,
		       uint64_t index)
{
	uint64_t f1 = 1, l1 = 0, f2 = 2, l2 = 0;
	void *a, *b;

	switch (kind) {
	case R_LOAD:
		a = txn ? vt_txn_load(txn, index, &f1, &l1)
			: vt_load(fz->vt, index, &f1, &l1);
		b = model_load(m, index, &f2, &l2);
		break;
	case R_NEXT:
		a = txn ? vt_txn_next(txn, index, &f1, &l1)
			: vt_next(fz->vt, index, &f1, &l1);
		b = model_next(m, index, &f2, &l2);
		break;
	default:
		a = txn ? vt_txn_prev(txn, index, &f1, &l1)
			: vt_prev(fz->vt, index, &f1, &l1);
		b = model_prev(m, index, &f2, &l2);
		break;
	}
	if (a != b || (a && (f1 != f2 || l1 != l2)))
		FAIL(fz,
		     "%s%s(%#" PRIx64 "): tree %p [%#" PRIx64 ", %#" PRIx64
		     "], model %p [%#" PRIx64 ", %#" PRIx64 "]",
		     txn ? "txn " : "",
		     kind == R_LOAD   ? "load"
		     : kind == R_NEXT ? "next"
				      : "prev",
		     index, a, a ? f1 : 0, a ? l1 : 0, b, b ? f2 : 0,
		     b ? l2 : 0);
	/* A NULL range pointer must be accepted. */
	if (!txn && kind == R_LOAD && vt_load(fz->vt, index, NULL, NULL) != a)
		FAIL(fz, "load(%#" PRIx64 ") without range pointers differs",
		     index);
}

static void op_find_free(struct fz *fz)
{
	struct rd *r = &fz->in;
	uint64_t lo = rd_key(r), hi = rd_key(r), size, align;
	uint8_t s = rd_u8(r), a = rd_u8(r);
	enum vt_dir dir = (a & 0x80) ? VT_HIGHEST : VT_LOWEST;
	uint64_t o1 = 0x5a5a, o2 = 0xa5a5;
	int r1, r2;

	if (lo > hi && !(s & 0x80)) {
		uint64_t t = lo;

		lo = hi;
		hi = t;
	}
	switch (s & 0x60) {
	case 0x00:
		size = (s & 0x1f) + 1;
		break;
	case 0x20:
		size = (uint64_t)(s & 0x1f) << 8 | rd_u8(r);
		break;
	case 0x40:
		size = (uint64_t)1 << (s & 0x1f) << (s & 0x1f);
		break;
	default:
		size = rd_u64(r);
		break;
	}
	if ((a & 0x7f) < 0x70)
		align = (uint64_t)1 << ((a & 0x7f) % 64);
	else if ((a & 0x7f) < 0x78)
		align = 1;
	else
		align = (a & 0x7f) == 0x78 ? 0 : (a & 0x7f); /* not powers */
	r1 = vt_find_free(fz->vt, lo, hi, size, align, dir, &o1);
	r2 = model_find_free(&fz->m, lo, hi, size, align, dir, &o2);
	if (r1 != r2 || (!r1 && o1 != o2))
		FAIL(fz,
		     "find_free(lo %#" PRIx64 ", hi %#" PRIx64
		     ", size %#" PRIx64 ", align %#" PRIx64
		     ", %s): tree %d/%#" PRIx64 ", model %d/%#" PRIx64,
		     lo, hi, size, align,
		     dir == VT_LOWEST ? "lowest" : "highest", r1, r1 ? 0 : o1,
		     r2, r2 ? 0 : o2);
}

/* One store or erase outside a transaction, maybe with allocations failing. */
static void op_store(struct fz *fz, int kind, long fail_after)
{
	uint64_t first, last;
	void *ptr = kind == 0 ? next_ptr(fz) : NULL;
	int r1, r2;

	rd_range(&fz->in, &first, &last);
	if (fail_after >= 0)
		vma_alloc_fail_after(fail_after);
	if (kind == 1)
		r1 = vt_erase(fz->vt, first, last);
	else
		r1 = vt_store(fz->vt, first, last, ptr);
	if (fail_after >= 0)
		vma_alloc_fail_after(-1);
	if (r1 == -ENOMEM && fail_after >= 0) {
		check_tree(fz); /* unchanged */
		return;
	}
	if (kind == 1)
		r2 = model_erase(&fz->m, first, last);
	else
		r2 = model_store(&fz->m, first, last, ptr);
	if (r1 != r2)
		FAIL(fz, "%s [%#" PRIx64 ", %#" PRIx64 "]: tree %d, model %d",
		     kind == 1 ? "erase" : "store", first, last, r1, r2);
	check_tree(fz);
}

/* A run of adjacent stores: grows the tree by several levels cheaply. */
static void op_run(struct fz *fz)
{
	struct rd *r = &fz->in;
	uint64_t at = rd_key(r);
	unsigned n = rd_u8(r) % MAX_RUN + 1, w = rd_u8(r) % 16 + 1,
		 gap = rd_u8(r) % 3;

	for (unsigned i = 0; i < n; i++) {
		uint64_t last = at + w - 1;
		void *ptr = next_ptr(fz);
		int r1, r2;

		if (last < at)
			break;
		r1 = vt_store(fz->vt, at, last, ptr);
		r2 = model_store(&fz->m, at, last, ptr);
		if (r1 != r2)
			FAIL(fz,
			     "run store [%#" PRIx64 ", %#" PRIx64
			     "]: tree %d, model %d",
			     at, last, r1, r2);
		if (last + gap + 1 < last)
			break;
		at = last + gap + 1;
	}
	check_tree(fz);
}

/* A transaction of several operations, committed or aborted. */
static void op_txn(struct fz *fz)
{
	struct rd *r = &fz->in;
	unsigned n = rd_u8(r) % MAX_TXN_OPS + 1;
	struct model tm;
	uint64_t deferred = 0;
	int poison = 0;
	bool armed = false;
	char msg[256];
	VT_TXN(txn, fz->vt);

	model_init(&tm);
	model_copy(&tm, &fz->m);
	for (unsigned i = 0; i < n; i++) {
		uint8_t c = rd_u8(r);
		uint64_t first, last;
		void *ptr;
		int r1, r2;

		switch (c % 8) {
		case 0:
		case 1:
		case 2: /* store, erase, store NULL */
			rd_range(r, &first, &last);
			ptr = c % 8 == 0 ? next_ptr(fz) : NULL;
			r1 = c % 8 == 1 ? vt_txn_erase(&txn, first, last)
					: vt_txn_store(&txn, first, last, ptr);
			if (poison) {
				if (r1 != poison)
					FAIL(fz, "poisoned txn op: %d, not %d",
					     r1, poison);
				break;
			}
			if (r1 == -ENOMEM && armed) {
				poison = r1;
				break;
			}
			r2 = model_store(&tm, first, last, ptr);
			if (r1 != r2)
				FAIL(fz,
				     "txn %s [%#" PRIx64 ", %#" PRIx64
				     "]: tree %d, model %d",
				     c % 8 == 1 ? "erase" : "store", first,
				     last, r1, r2);
			break;
		case 3: /* reads of the working state */
		case 4:
			if (poison)
				break;
			check_read(fz, &tm, &txn, (enum rd_kind)(c / 8 % 3),
				   rd_key(r));
			break;
		case 5: /* a deferred free */
			r1 = vt_txn_defer_free(&txn, next_ptr(fz),
					       deferred_free);
			if (poison) {
				if (r1 != poison)
					FAIL(fz, "poisoned defer_free: %d", r1);
			} else if (r1 == -ENOMEM && armed) {
				poison = r1;
			} else if (r1) {
				FAIL(fz, "defer_free: %d", r1);
			} else {
				deferred++;
			}
			break;
		case 6: /* let a few more allocations succeed, then fail */
			vma_alloc_fail_after(c / 8 % 8);
			armed = true;
			break;
		default: /* the whole working state, and the tree untouched */
			if (poison)
				break;
			if (model_snapshot(&fz->snap, NULL, &txn))
				FAIL(fz, "txn iteration not sorted");
			if (!model_equal(&tm, &fz->snap, msg, sizeof(msg)))
				FAIL(fz, "txn state differs: %s", msg);
			check_read(fz, &fz->m, NULL, R_NEXT, rd_key(r));
			break;
		}
	}
	if (armed)
		vma_alloc_fail_after(-1);
	if (rd_u8(r) & 1) {
		int ret = vt_txn_commit(&txn);

		if (poison && ret != poison)
			FAIL(fz, "commit of a poisoned txn: %d, not %d", ret,
			     poison);
		if (!poison && ret)
			FAIL(fz, "commit: %d", ret);
		if (!ret) {
			model_copy(&fz->m, &tm);
			fz->nr_deferred_committed += deferred;
		}
	} else {
		vt_txn_abort(&txn);
	}
	model_fini(&tm);
	check_tree(fz);
	check_stats(fz);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Reclaim without pacing: vt_free() waits for it on every input. */
	setenv("VMA_RECLAIM_PACE_US", "0", 0);
	rcu_register_thread();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz fz = {.in = {data, size}};

	fz.vt = vt_new();
	if (!fz.vt)
		abort();
	model_init(&fz.m);
	model_init(&fz.snap);
	nr_freed = 0;

	while (fz.in.n) {
		uint8_t op = rd_u8(&fz.in);

		fz.op++;
		switch (op % 12) {
		case 0:
		case 1:
			op_store(&fz, 0, -1);
			break;
		case 2:
			op_store(&fz, 1, -1);
			break;
		case 3:
			op_store(&fz, 2, -1);
			break;
		case 4:
			check_read(&fz, &fz.m, NULL,
				   (enum rd_kind)(op / 12 % 3), rd_key(&fz.in));
			break;
		case 5:
		case 6:
			op_find_free(&fz);
			break;
		case 7:
		case 8:
			op_txn(&fz);
			break;
		case 9:
			op_store(&fz, op / 12 % 3, op / 36 % 8);
			break;
		case 10:
			op_run(&fz);
			break;
		default:
			check_stats(&fz);
			break;
		}
	}
	check_tree(&fz);
	check_stats(&fz);

	vt_free(fz.vt); /* waits for reclamation */
	if (nr_freed != fz.nr_deferred_committed)
		FAIL(&fz,
		     "%" PRIu64 " deferred frees ran, %" PRIu64
		     " were committed",
		     nr_freed, fz.nr_deferred_committed);
	model_fini(&fz.m);
	model_fini(&fz.snap);
	return 0;
}
