// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Unit tests of space snapshots (libvma/vas_snap.c).
 *
 * The central test is the one the format exists for: fork a space built
 * by a random sequence of operations, snapshot the child and restore the
 * snapshot, then run the same random sequence on the child and on the
 * restored copy and compare every result (errno, address, fault outcome
 * with its VMA) and, at the end, every VMA with every property, the
 * counters and the snapshots of both. The others check what the format
 * carries one property at a time, that every truncation, wrong version and
 * bit flip is refused with a message (or, for a flip, yields a valid
 * space), and that allocation failures change nothing.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define PG   4096ULL
#define W    0x10000000ULL
#define RW   (VAS_PROT_READ | VAS_PROT_WRITE)
#define ANON (VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS)

static void setup(void)
{
	urcu_memb_register_thread();
}

static void teardown(void)
{
	urcu_memb_unregister_thread();
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd_n(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static struct vas *snap_copy(struct vas *v)
{
	struct vas *c = NULL;
	char msg[256];
	void *buf;
	size_t len;

	ck_assert_int_eq(vas_snapshot(v, &buf, &len), 0);
	ck_assert_msg(vas_restore(buf, len, &c, msg, sizeof(msg)) == 0,
		      "restore: %s", msg);
	vma_free(buf);
	return c;
}

static void same_info(const struct vas_vma_info *a,
		      const struct vas_vma_info *b, const char *what)
{
	ck_assert_msg(
		a->start == b->start && a->end == b->end &&
			a->offset == b->offset && a->prot == b->prot &&
			a->flags == b->flags && a->rss_pages == b->rss_pages &&
			a->inode == b->inode && a->pgoff == b->pgoff &&
			a->anon_vma == b->anon_vma &&
			!strcmp(a->file, b->file) &&
			!strcmp(a->name ? a->name : "", b->name ? b->name : ""),
		"%s: %#" PRIx64 "-%#" PRIx64 " %x %x rss %" PRIu64
		" anon %u pgoff %#" PRIx64 " vs %#" PRIx64 "-%#" PRIx64
		" %x %x rss %" PRIu64 " anon %u pgoff %#" PRIx64,
		what, a->start, a->end, a->prot, a->flags, a->rss_pages,
		a->anon_vma, a->pgoff, b->start, b->end, b->prot, b->flags,
		b->rss_pages, b->anon_vma, b->pgoff);
}

/* Every VMA with every property, the break and the counters. */
static void same_space(struct vas *a, struct vas *b)
{
	struct vas_vma_info *va, *vb;
	struct vas_stats sa, sb;
	size_t na, nb, i;

	ck_assert_int_eq(vas_maps(a, &va, &na), 0);
	ck_assert_int_eq(vas_maps(b, &vb, &nb), 0);
	ck_assert_uint_eq(na, nb);
	for (i = 0; i < na; i++)
		same_info(&va[i], &vb[i], "VMA");
	vma_free(va);
	vma_free(vb);
	vas_stats(a, &sa);
	vas_stats(b, &sb);
	ck_assert_uint_eq(sa.nr_vmas, sb.nr_vmas);
	ck_assert_uint_eq(sa.mapped_bytes, sb.mapped_bytes);
	ck_assert_uint_eq(sa.rss_pages, sb.rss_pages);
	ck_assert_uint_eq(sa.brk, sb.brk);
	ck_assert_uint_eq(sa.faults, sb.faults);
	ck_assert_uint_eq(sa.expansions, sb.expansions);
	ck_assert_uint_eq(sa.segv_maperr, sb.segv_maperr);
	ck_assert_uint_eq(sa.segv_accerr, sb.segv_accerr);
	ck_assert_uint_eq(sa.mutations, sb.mutations);
	ck_assert_uint_eq(sa.locked_vm, sb.locked_vm);
	ck_assert_int_eq(vas_validate(a, NULL, 0), 0);
	ck_assert_int_eq(vas_validate(b, NULL, 0), 0);
}

/* The snapshots of @a and @b are the same bytes. */
static void same_snapshot(struct vas *a, struct vas *b)
{
	void *ba, *bb;
	size_t la, lb;

	ck_assert_int_eq(vas_snapshot(a, &ba, &la), 0);
	ck_assert_int_eq(vas_snapshot(b, &bb, &lb), 0);
	ck_assert_uint_eq(la, lb);
	ck_assert(!memcmp(ba, bb, la));
	vma_free(ba);
	vma_free(bb);
}

/* The result of one random operation, to compare across spaces. */
struct op_res {
	int op, ret;
	uint64_t out;
	struct vas_fault_result f;
};

static const char *const files[] = {"/lib/a.so", "/lib/b.so", "/data"};
static const char *const anon_names[] = {"arena", "stack", NULL};
static const int advice[] = {
	VAS_MADV_DONTFORK,	 VAS_MADV_DOFORK,	VAS_MADV_WIPEONFORK,
	VAS_MADV_KEEPONFORK,	 VAS_MADV_DONTDUMP,	VAS_MADV_DODUMP,
	VAS_MADV_HUGEPAGE,	 VAS_MADV_NOHUGEPAGE,	VAS_MADV_SEQUENTIAL,
	VAS_MADV_RANDOM,	 VAS_MADV_NORMAL,	VAS_MADV_MERGEABLE,
	VAS_MADV_UNMERGEABLE,	 VAS_MADV_DONTNEED,	VAS_MADV_FREE,
	VAS_MADV_GUARD_INSTALL,	 VAS_MADV_GUARD_REMOVE, VAS_MADV_POPULATE_READ,
	VAS_MADV_POPULATE_WRITE,
};

/* Operations 7 to 11 are faults, whose results carry a VMA. */
#define OP_FAULT_FIRST 7
#define OP_FAULT_LAST  11

/*
 * One random operation over a 1 GiB window near W, the break and the
 * stack, drawn from the generator (the same draws for every space).
 */
static void random_op(struct vas *v, struct op_res *r)
{
	uint64_t addr = W + rnd_n(256) * PG, len = (1 + rnd_n(16)) * PG;
	unsigned prot = rnd_n(8), flags;
	const char *file = NULL;
	uint64_t brk;

	memset(r, 0, sizeof(*r));
	r->op = (int)rnd_n(16);
	switch (r->op) {
	case 0: /* mmap, many kinds */
	case 1:
		flags = rnd_n(4) ? VAS_MAP_PRIVATE : VAS_MAP_SHARED;
		if (rnd_n(3))
			flags |= VAS_MAP_ANONYMOUS;
		else
			file = files[rnd_n(3)];
		if (rnd_n(2))
			flags |= VAS_MAP_FIXED;
		if (!rnd_n(8))
			flags |= VAS_MAP_POPULATE;
		if (!rnd_n(8))
			flags |= VAS_MAP_NORESERVE;
		if (!rnd_n(16))
			flags |= VAS_MAP_GROWSDOWN;
		r->ret = vas_mmap(v, addr, len, prot, flags, file,
				  rnd_n(4) * PG, &r->out);
		break;
	case 2:
		r->ret = vas_munmap(v, addr, len);
		break;
	case 3:
		r->ret = vas_mprotect(v, addr, len, prot);
		break;
	case 4:
		r->ret = vas_mremap(v, addr, len, (1 + rnd_n(16)) * PG,
				    rnd_n(3) ? VAS_MREMAP_MAYMOVE : 0, 0,
				    &r->out);
		break;
	case 5:
		r->ret = vas_mremap(
			v, addr, len, len,
			VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED |
				(rnd_n(4) ? 0 : VAS_MREMAP_DONTUNMAP),
			W + rnd_n(256) * PG, &r->out);
		break;
	case 6:
		r->ret = vas_brk(v, 0, &brk);
		if (!r->ret)
			r->ret = vas_brk(v, brk + (rnd_n(8) - 3) * PG, &r->out);
		break;
	case 12: /* issue 16: flag advice, discarding advice, guards */
		r->ret = vas_madvise(
			v, addr, len,
			advice[rnd_n(sizeof(advice) / sizeof(advice[0]))]);
		break;
	case 13:
		if (rnd_n(2))
			r->ret = vas_mlock(v, addr, len,
					   rnd_n(2) ? VAS_MLOCK_ONFAULT : 0);
		else
			r->ret = vas_munlock(v, addr, len);
		break;
	case 14:
		if (!rnd_n(8))
			r->ret = vas_mseal(v, addr, len, 0);
		else
			r->ret = vas_set_anon_name(v, addr, len,
						   anon_names[rnd_n(3)]);
		break;
	case 15:
		if (!rnd_n(4))
			r->ret = vas_mlockall(
				v, VAS_MCL_FUTURE |
					   (rnd_n(2) ? VAS_MCL_ONFAULT : 0));
		else
			r->ret = vas_munlockall(v);
		break;
	default: /* faults, in the window or near the stack */
		if (rnd_n(4) == 0)
			addr = VAS_DEFAULT_TASK_SIZE - rnd_n(64) * PG;
		r->ret = vas_fault(v, addr + rnd_n(PG), rnd_n(3), &r->f);
		break;
	}
}

static void same_result(const struct op_res *a, const struct op_res *b,
			unsigned step)
{
	ck_assert_msg(a->ret == b->ret && a->out == b->out,
		      "step %u op %d: %d %#" PRIx64 " vs %d %#" PRIx64, step,
		      a->op, a->ret, a->out, b->ret, b->out);
	if (a->op < OP_FAULT_FIRST || a->op > OP_FAULT_LAST)
		return;
	ck_assert_int_eq(a->f.status, b->f.status);
	ck_assert_int_eq(a->f.code, b->f.code);
	ck_assert_int_eq(a->f.populated, b->f.populated);
	ck_assert_int_eq(a->f.expanded, b->f.expanded);
	ck_assert_int_eq(a->f.changed, b->f.changed);
	if (a->f.status == VAS_FAULT_OK)
		same_info(&a->f.vma, &b->f.vma, "fault");
}

/*
 * Fork, snapshot the child, restore, then the same random sequence on the
 * child and the copy: every result and the final state are equal.
 */
START_TEST(test_fork_export_import_equivalence)
{
	struct vas_layout l;
	struct vas *parent, *child, *copy;
	struct op_res ra, rb;
	unsigned i;

	vas_layout_default(&l);
	l.stack = true;
	l.no_zero_page = _i % 4 == 3;
	l.stack_guard_gap = _i % 3 ? 256 : 0;
	ck_assert_int_eq(vas_new(&l, &parent), 0);
	rnd_state = 0x9e3779b97f4a7c15ULL * (uint64_t)(_i + 1);
	for (i = 0; i < 300; i++)
		random_op(parent, &ra);
	ck_assert_int_eq(vas_fork(parent, &child), 0);
	/* The child too has a history of its own before the copy. */
	for (i = 0; i < 50; i++)
		random_op(child, &ra);
	copy = snap_copy(child);
	same_space(child, copy);
	for (i = 0; i < 400; i++) {
		uint64_t s = rnd_state;

		random_op(child, &ra);
		rnd_state = s;
		random_op(copy, &rb);
		same_result(&ra, &rb, i);
	}
	same_space(child, copy);
	same_snapshot(child, copy);
	vas_free(copy);
	vas_free(child);
	vas_free(parent);
}
END_TEST

/* A varint of the snapshot format at *@p (below @end). */
static uint64_t get_varint(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (*p < end) {
		uint8_t c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			break;
		shift += 7;
	}
	return v;
}

/*
 * Do snapshots @a and @b hold the same state? The same bytes but for the
 * counters of the STATE section (faults and SEGVs are counted by every
 * fault, changed or not, and a journal replay need not reproduce them).
 */
static bool same_state_bytes(const uint8_t *a, size_t la, const uint8_t *b,
			     size_t lb)
{
	static const char *const counters[] = {"faults", "fault_retries",
					       "expansions", "segv_maperr",
					       "segv_accerr"};
	const uint8_t *bufs[2] = {a, b};
	size_t lens[2] = {la, lb};
	uint8_t *out[2];
	size_t olen[2];

	for (int k = 0; k < 2; k++) {
		const uint8_t *p = bufs[k] + 16, *end = bufs[k] + lens[k];

		out[k] = malloc(lens[k] * 9); /* a value grows to 8 bytes */
		ck_assert_ptr_nonnull(out[k]);
		olen[k] = 0;
		while (p < end) {
			uint64_t tag = get_varint(&p, end);
			uint64_t n = get_varint(&p, end);
			const uint8_t *q = p, *qend = p + n;

			ck_assert(qend <= end);
			out[k][olen[k]++] = (uint8_t)tag;
			if (tag != 2) {
				memcpy(out[k] + olen[k], p, n);
				olen[k] += n;
				p = qend;
				continue;
			}
			while (q < qend) {
				uint64_t nl = get_varint(&q, qend);
				const uint8_t *name = q;
				uint64_t val;
				bool counter = false;

				q += nl;
				val = get_varint(&q, qend);
				for (size_t c = 0; c < 5; c++)
					counter |=
						strlen(counters[c]) == nl &&
						!memcmp(counters[c], name, nl);
				if (counter)
					continue;
				memcpy(out[k] + olen[k], name, nl);
				olen[k] += nl;
				memcpy(out[k] + olen[k], &val, sizeof(val));
				olen[k] += sizeof(val);
			}
			p = qend;
		}
	}
	bool same = olen[0] == olen[1] && !memcmp(out[0], out[1], olen[0]);

	free(out[0]);
	free(out[1]);
	return same;
}

/*
 * What a journal relies on (daemon/persist.c records a request only if
 * the mutation count moved or a fault said it changed the space): an
 * operation that says it changed nothing leaves the snapshot the same
 * bytes, counters of faults aside. A small RLIMIT_STACK in half the runs,
 * and no guard gap in two thirds, make stack growths refused after the stack
 * got its anon_vma.
 */
START_TEST(test_unchanged_means_same_snapshot)
{
	struct vas_layout l;
	struct vas *v;
	struct op_res r;
	unsigned i, silent = 0;

	vas_layout_default(&l);
	l.stack = true;
	l.no_zero_page = _i % 4 == 3;
	l.stack_guard_gap = _i % 3 == 1 ? 256 : 0;
	if (_i % 2)
		l.stack_rlimit = 8 * PG;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	rnd_state = 0x2545f4914f6cdd1dULL * (uint64_t)(_i + 1);
	for (i = 0; i < 1000; i++) {
		uint64_t before = vas_mutation_count(v);
		void *a, *b;
		size_t la, lb;
		bool said;

		ck_assert_int_eq(vas_snapshot(v, &a, &la), 0);
		random_op(v, &r);
		/*
		 * As the daemon decides (handlers.c): brk with an address,
		 * and the calls of issue 16 (mlockall's MCL_FUTURE changes
		 * no VMA) unless they ran out of memory, are always said.
		 */
		said = vas_mutation_count(v) != before || r.op == 6 ||
		       (r.op >= 12 && r.ret != -ENOMEM) ||
		       (r.op >= OP_FAULT_FIRST && r.op <= OP_FAULT_LAST &&
			r.f.changed);
		if (!said) {
			ck_assert_int_eq(vas_snapshot(v, &b, &lb), 0);
			ck_assert_msg(same_state_bytes(a, la, b, lb),
				      "step %u op %d (%d) changed the space "
				      "without saying so",
				      i, r.op, r.ret);
			vma_free(b);
			silent++;
		}
		vma_free(a);
	}
	ck_assert_uint_gt(silent, 0);
	vas_free(v);
}
END_TEST

/* A space with one of everything the format carries. */
static struct vas *rich_space(void)
{
	struct vas_layout l;
	struct vas_fault_result f;
	struct vas *v, *child;
	uint64_t out, brk;

	vas_layout_default(&l);
	l.stack = true;
	l.stack_guard_gap = 17;
	l.max_map_count = 1000;
	l.stack_rlimit = 1 << 20;
	ck_assert_int_eq(vas_new(&l, &v), 0);
	/* Private anon: own pages and zero pages. */
	ck_assert_int_eq(vas_mmap(v, W, 16 * PG, RW, ANON | VAS_MAP_FIXED, NULL,
				  0, &out),
			 0);
	ck_assert_int_eq(vas_fault(v, W, VAS_ACCESS_WRITE, &f), 0);
	ck_assert_int_eq(vas_fault(v, W + 3 * PG, VAS_ACCESS_READ, &f), 0);
	ck_assert_int_eq(vas_fault(v, W + 4 * PG, VAS_ACCESS_READ, &f), 0);
	ck_assert_int_eq(vas_fault(v, W + 4 * PG, VAS_ACCESS_WRITE, &f), 0);
	/* Moved anon: its pgoff is no longer start / 4096. */
	ck_assert_int_eq(vas_mremap(v, W, 16 * PG, 16 * PG,
				    VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED,
				    W + 64 * PG, &out),
			 0);
	/* Files, with offsets; shared and private. */
	ck_assert_int_eq(vas_mmap(v, W + 128 * PG, 4 * PG, VAS_PROT_READ,
				  VAS_MAP_PRIVATE | VAS_MAP_FIXED, "/lib/x.so",
				  8 * PG, &out),
			 0);
	ck_assert_int_eq(
		vas_mmap(v, W + 140 * PG, 4 * PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_FIXED | VAS_MAP_POPULATE,
			 "/data", 0, &out),
		0);
	/* Shared anonymous: a shmem file with its own inode. */
	ck_assert_int_eq(
		vas_mmap(v, W + 150 * PG, 2 * PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &out),
		0);
	ck_assert_int_eq(
		vas_mmap(v, W + 160 * PG, 2 * PG, RW,
			 VAS_MAP_SHARED | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &out),
		0);
	ck_assert_int_eq(vas_fault(v, W + 150 * PG, VAS_ACCESS_WRITE, &f), 0);
	/* noreserve, growsdown, exec. */
	ck_assert_int_eq(vas_mmap(v, W + 200 * PG, 2 * PG, RW,
				  ANON | VAS_MAP_FIXED | VAS_MAP_NORESERVE,
				  NULL, 0, &out),
			 0);
	ck_assert_int_eq(vas_mmap(v, W + 300 * PG, 2 * PG, RW,
				  ANON | VAS_MAP_FIXED | VAS_MAP_GROWSDOWN,
				  NULL, 0, &out),
			 0);
	ck_assert_int_eq(vas_mmap(v, W + 310 * PG, 2 * PG,
				  VAS_PROT_READ | VAS_PROT_EXEC,
				  ANON | VAS_MAP_FIXED, NULL, 0, &out),
			 0);
	/* A heap; stack growth. */
	ck_assert_int_eq(vas_brk(v, 0, &brk), 0);
	ck_assert_int_eq(vas_brk(v, brk + 5 * PG + 100, &out), 0);
	ck_assert_int_eq(vas_fault(v, brk, VAS_ACCESS_WRITE, &f), 0);
	ck_assert_int_eq(vas_fault(v, VAS_DEFAULT_TASK_SIZE - 200 * 1024,
				   VAS_ACCESS_WRITE, &f),
			 0);
	ck_assert(f.expanded);
	/* Forked anon_vmas in the child. */
	ck_assert_int_eq(vas_fork(v, &child), 0);
	vas_free(v);
	ck_assert_int_eq(
		vas_fault(child, W + 64 * PG + PG, VAS_ACCESS_WRITE, &f), 0);
	return child;
}

START_TEST(test_round_trip_rich)
{
	struct vas *v = rich_space(), *c = snap_copy(v), *c2;
	struct vas_layout la, lb;

	same_space(v, c);
	same_snapshot(v, c);
	vas_get_layout(v, &la);
	vas_get_layout(c, &lb);
	ck_assert_uint_eq(la.stack_guard_gap, lb.stack_guard_gap);
	ck_assert_uint_eq(la.max_map_count, lb.max_map_count);
	ck_assert_uint_eq(la.stack_rlimit, lb.stack_rlimit);
	/* A copy of the copy is the same again. */
	c2 = snap_copy(c);
	same_snapshot(v, c2);
	vas_free(c2);
	vas_free(c);
	vas_free(v);
}
END_TEST

START_TEST(test_round_trip_empty)
{
	struct vas *v, *c;

	ck_assert_int_eq(vas_new(NULL, &v), 0);
	c = snap_copy(v);
	same_space(v, c);
	same_snapshot(v, c);
	vas_free(c);
	vas_free(v);
}
END_TEST

/*
 * Which VMAs share an anon_vma decides later merges: two neighbours with
 * one anon_vma merge after an mprotect makes them equal, two with
 * different ones (here: forked) do not; the copy must decide alike.
 */
START_TEST(test_anon_identity_decides_merges)
{
	struct vas_fault_result f;
	struct vas *v, *child, *copy;
	uint64_t out;
	size_t n1, n2;
	struct vas_vma_info *m;

	ck_assert_int_eq(vas_new(NULL, &v), 0);
	ck_assert_int_eq(
		vas_mmap(v, W, 4 * PG, RW, ANON | VAS_MAP_FIXED, NULL, 0, &out),
		0);
	ck_assert_int_eq(vas_fault(v, W, VAS_ACCESS_WRITE, &f), 0);
	ck_assert_int_eq(vas_mprotect(v, W + 2 * PG, 2 * PG, VAS_PROT_READ), 0);
	ck_assert_int_eq(vas_fork(v, &child), 0);
	/* A VMA next to a forked one gets an anon_vma of its own. */
	ck_assert_int_eq(vas_mmap(child, W + 4 * PG, 2 * PG, VAS_PROT_READ,
				  ANON | VAS_MAP_FIXED, NULL, 0, &out),
			 0);
	ck_assert_int_eq(vas_fault(child, W + 4 * PG, VAS_ACCESS_READ, &f), 0);
	copy = snap_copy(child);
	same_space(child, copy);
	ck_assert_int_eq(vas_mprotect(child, W, 6 * PG, RW), 0);
	ck_assert_int_eq(vas_mprotect(copy, W, 6 * PG, RW), 0);
	ck_assert_int_eq(vas_maps(child, &m, &n1), 0);
	vma_free(m);
	ck_assert_int_eq(vas_maps(copy, &m, &n2), 0);
	vma_free(m);
	ck_assert_uint_eq(n1, n2);
	same_space(child, copy);
	vas_free(copy);
	vas_free(child);
	vas_free(v);
}
END_TEST

/*
 * A space made by vas_import(): special mappings (one file entry each, a
 * PFNMAP one), the gate above task_size, shmem files by inode (two areas
 * of one), a shared VMA without a file, anon_vmas shared as imported; the
 * copy holds all of it, and the same operations (a special mapping
 * refuses a split, the gate is no VMA) give the same answers on both.
 */
START_TEST(test_round_trip_import)
{
	static const struct vas_import_area areas[] = {
		{0x555555554000, 0x555555556000, 0, VAS_PROT_READ, 0,
		 VAS_IMPORT_FILE, "/usr/bin/cat", 0, 0, NULL},
		{0x555555556000, 0x555555558000, 0x2000, RW, VAS_VM_ACCOUNT,
		 VAS_IMPORT_FILE, "/usr/bin/cat", 0, 1, NULL},
		{0x555555558000, 0x55555555a000, 0, RW, VAS_VM_ACCOUNT,
		 VAS_IMPORT_ANON, NULL, 0, 2, NULL},
		{0x7ffff7f00000, 0x7ffff7f02000, 0, RW, VAS_VM_SHARED,
		 VAS_IMPORT_SHMEM, NULL, 77, 0, NULL},
		{0x7ffff7f02000, 0x7ffff7f03000, 0x2000, VAS_PROT_READ,
		 VAS_VM_SHARED, VAS_IMPORT_SHMEM, NULL, 77, 0, NULL},
		{0x7ffff7f10000, 0x7ffff7f11000, 0, RW, VAS_VM_SHARED,
		 VAS_IMPORT_ANON, NULL, 0, 0, NULL},
		{0x7ffff7fc2000, 0x7ffff7fc6000, 0, VAS_PROT_READ, 0,
		 VAS_IMPORT_SPECIAL_PFNMAP, "[vvar]", 0, 0, NULL},
		{0x7ffff7fc8000, 0x7ffff7fca000, 0,
		 VAS_PROT_READ | VAS_PROT_EXEC, 0, VAS_IMPORT_SPECIAL, "[vdso]",
		 0, 0, NULL},
		{0x7ffffffde000, 0x7ffffffff000, 0, RW,
		 VAS_VM_GROWSDOWN | VAS_VM_ACCOUNT, VAS_IMPORT_ANON, NULL, 0, 3,
		 NULL},
		{0xffffffffff600000, 0xffffffffff601000, 0, VAS_PROT_EXEC, 0,
		 VAS_IMPORT_GATE, "[vsyscall]", 0, 0, NULL},
	};
	struct vas_import imp = {
		.areas = areas,
		.nr = sizeof(areas) / sizeof(areas[0]),
		.brk = 0x55555555a000,
		.start_stack = 0x7fffffffe000,
	};
	struct vas_layout l;
	struct vas *v, *c;
	struct op_res ra, rb;
	size_t bad;
	unsigned i;

	vas_layout_default(&l);
	l.brk_base = 0x555555558000;
	ck_assert_int_eq(vas_import(&l, &imp, &v, &bad), 0);
	/* A special mapping has no vm_file: all of it takes WIPEONFORK. */
	ck_assert_int_eq(
		vas_madvise(v, 0x7ffff7fc8000, 2 * PG, VAS_MADV_WIPEONFORK), 0);
	c = snap_copy(v);
	same_space(v, c);
	same_snapshot(v, c);
	/* A special mapping is never split: the same refusal on both. */
	ck_assert_int_eq(vas_munmap(v, 0x7ffff7fc8000, PG),
			 vas_munmap(c, 0x7ffff7fc8000, PG));
	ck_assert_int_eq(vas_mprotect(v, 0x7ffff7f00000, PG, VAS_PROT_READ),
			 vas_mprotect(c, 0x7ffff7f00000, PG, VAS_PROT_READ));
	rnd_state = 12345;
	for (i = 0; i < 300; i++) {
		uint64_t st = rnd_state;

		random_op(v, &ra);
		rnd_state = st;
		random_op(c, &rb);
		same_result(&ra, &rb, i);
	}
	same_space(v, c);
	same_snapshot(v, c);
	vas_free(c);
	vas_free(v);
}
END_TEST

static void snapshot_of(struct vas *v, uint8_t **buf, size_t *len)
{
	void *b;

	ck_assert_int_eq(vas_snapshot(v, &b, len), 0);
	*buf = b;
}

/* Every strict prefix is refused with a message; nothing leaks. */
START_TEST(test_truncated)
{
	struct vas *v = rich_space(), *c;
	uint8_t *buf;
	size_t len, n;
	char msg[256];

	snapshot_of(v, &buf, &len);
	for (n = 0; n < len; n++) {
		msg[0] = '\0';
		ck_assert_int_eq(vas_restore(buf, n, &c, msg, sizeof(msg)),
				 -EINVAL);
		ck_assert_msg(msg[0], "no message for a prefix of %zu", n);
	}
	vma_free(buf);
	vas_free(v);
}
END_TEST

START_TEST(test_wrong_version_and_magic)
{
	struct vas *v = rich_space(), *c;
	uint8_t *buf;
	size_t len;
	char msg[256];

	snapshot_of(v, &buf, &len);
	buf[8] = VAS_SNAP_VERSION + 1;
	ck_assert_int_eq(vas_restore(buf, len, &c, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strstr(msg, "version 2") &&
			      strstr(msg, "reads version 1"),
		      "%s", msg);
	buf[8] = VAS_SNAP_VERSION;
	buf[0] = 'X';
	ck_assert_int_eq(vas_restore(buf, len, &c, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strstr(msg, "magic"), "%s", msg);
	buf[0] = 'V';
	/* Trailing garbage. */
	{
		uint8_t *longer = malloc(len + 1);

		memcpy(longer, buf, len);
		longer[len] = 0;
		ck_assert_int_eq(
			vas_restore(longer, len + 1, &c, msg, sizeof(msg)),
			-EINVAL);
		ck_assert_msg(strstr(msg, "after the END"), "%s", msg);
		free(longer);
	}
	vma_free(buf);
	vas_free(v);
}
END_TEST

/*
 * Single bit flips anywhere: refused with a message, or (a flip that
 * still describes a state the model can be in) a space that validates
 * and snapshots again.
 */
START_TEST(test_bit_flips)
{
	struct vas *v = rich_space(), *c;
	uint8_t *buf;
	size_t len, i, refused = 0;
	char msg[256];

	snapshot_of(v, &buf, &len);
	for (i = 0; i < len * 8; i++) {
		int ret;

		buf[i / 8] ^= 1u << (i % 8);
		msg[0] = '\0';
		ret = vas_restore(buf, len, &c, msg, sizeof(msg));
		if (ret) {
			ck_assert_int_eq(ret, -EINVAL);
			ck_assert_msg(msg[0], "no message for bit %zu", i);
			refused++;
		} else {
			void *b2;
			size_t l2;

			ck_assert_int_eq(vas_validate(c, NULL, 0), 0);
			ck_assert_int_eq(vas_snapshot(c, &b2, &l2), 0);
			vma_free(b2);
			vas_free(c);
		}
		buf[i / 8] ^= 1u << (i % 8);
	}
	/* Most flips break something the reader checks. */
	ck_assert_uint_gt(refused, len * 8 / 2);
	vma_free(buf);
	vas_free(v);
}
END_TEST

/* A snapshot that names something it does not use, or a bad flag. */
START_TEST(test_allocation_failures)
{
	struct vas *v = rich_space(), *c;
	uint8_t *buf;
	void *b2;
	size_t len, l2;
	long n;
	char msg[256];

	snapshot_of(v, &buf, &len);
	for (n = 0;; n++) {
		int ret;

		vma_alloc_fail_after(n);
		ret = vas_restore(buf, len, &c, msg, sizeof(msg));
		vma_alloc_fail_after(-1);
		if (!ret) {
			same_space(v, c);
			vas_free(c);
			break;
		}
		ck_assert_int_eq(ret, -ENOMEM);
	}
	ck_assert_uint_gt(n, 5);
	for (n = 0;; n++) {
		int ret;

		vma_alloc_fail_after(n);
		ret = vas_snapshot(v, &b2, &l2);
		vma_alloc_fail_after(-1);
		if (!ret) {
			ck_assert_uint_eq(l2, len);
			ck_assert(!memcmp(b2, buf, len));
			vma_free(b2);
			break;
		}
		ck_assert_int_eq(ret, -ENOMEM);
	}
	ck_assert_int_eq(vas_validate(v, NULL, 0), 0);
	vma_free(buf);
	vas_free(v);
}
END_TEST

/* Many VMAs: the copy of a full space is exact and about 12 bytes each. */
START_TEST(test_many_vmas)
{
	struct vas_fault_result f;
	struct vas *v, *c;
	uint64_t out, i;
	uint8_t *buf;
	size_t len;

	ck_assert_int_eq(vas_new(NULL, &v), 0);
	for (i = 0; i < 20000; i++) {
		ck_assert_int_eq(vas_mmap(v, W + 2 * i * PG, PG,
					  i % 2 ? RW : VAS_PROT_READ,
					  ANON | VAS_MAP_FIXED, NULL, 0, &out),
				 0);
		if (i % 3 == 0)
			ck_assert_int_eq(vas_fault(v, out, i % 2, &f), 0);
	}
	snapshot_of(v, &buf, &len);
	ck_assert_msg(len < 20000 * 16, "%zu bytes", len);
	c = snap_copy(v);
	same_space(v, c);
	same_snapshot(v, c);
	vas_free(c);
	vma_free(buf);
	vas_free(v);
}
END_TEST

static Suite *snap_suite(void)
{
	Suite *s = suite_create("snap");
	TCase *tc = tcase_create("snap");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_round_trip_empty);
	tcase_add_test(tc, test_round_trip_rich);
	tcase_add_test(tc, test_round_trip_import);
	tcase_add_test(tc, test_anon_identity_decides_merges);
	tcase_add_loop_test(tc, test_fork_export_import_equivalence, 0, 24);
	tcase_add_loop_test(tc, test_unchanged_means_same_snapshot, 0, 16);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_wrong_version_and_magic);
	tcase_add_test(tc, test_bit_flips);
	tcase_add_test(tc, test_allocation_failures);
	tcase_add_test(tc, test_many_vmas);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(snap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
