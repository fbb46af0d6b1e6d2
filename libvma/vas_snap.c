// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Snapshots: the complete state of a space as bytes, and back.
 *
 * vas_snapshot() encodes everything that can change a later answer of a
 * space; vas_restore() builds a new space from it whose every later answer
 * equals the original's. No I/O: the caller decides where the bytes go.
 *
 * Format (all integers are unsigned LEB128 varints unless said otherwise):
 *
 *   header    "VMASNAP" 0x00, then the format version as a 32-bit
 *             little-endian word (VAS_SNAP_VERSION), then 4 reserved
 *             bytes (0)
 *   sections  tag, length in bytes, payload; each section once, in this
 *             order:
 *     1 LAYOUT  named fields of struct vas_layout: (name, value) pairs,
 *               each name a length-prefixed string
 *     2 STATE   named fields of the space: break, start of the stack,
 *               id counters, counters of vas_stats(), validator state,
 *               the gate area of vas_import() (gate_end 0: none)
 *     3 FILES   count, then one record per file: its kind (0 named,
 *               1 shmem, 2 special mapping, 3 anonymous VMA name), then
 *               the name (a named file, a special mapping with its
 *               VAS_SPECIAL_* kind, a name) or the inode (the shmem file
 *               of a shared anonymous mapping); field 5 set for a named
 *               file placed without 2 MiB alignment (thp_align off)
 *     4 ANONS   count, then one record per anon_vma: id, and whether it
 *               came through fork
 *     5 VMAS    count, then one record per VMA in address order
 *     0 END     empty; must be last (a truncated snapshot has no END)
 *
 * A record is its length, then fields: a key (field number << 1 | type),
 * type 0 followed by a varint, type 1 by a length-prefixed byte string.
 * A varint field that is absent is 0. Fields of a VMA record:
 *
 *   1 gap       pages between the end of the previous VMA (0 for the
 *               first) and this VMA's start
 *   2 pages     length in pages (at least 1)
 *   3 flags     the flag word, whole: bit 0 read, 1 write, 2 exec,
 *               3 shared, 4 growsdown, 5 growsup, 6 noreserve, 7 account
 *               (VM_ACCOUNT), 8 locked, 9 lockonfault, 10 dontcopy,
 *               11 wipeonfork, 12 dontdump, 13 hugepage, 14 nohugepage,
 *               15 seq_read, 16 rand_read, 17 mergeable, 18 sealed,
 *               19 maybe_guard; see snap_flags[]
 *   4 file      index + 1 in FILES (absent: no file, private anonymous)
 *   5 pgoff     vm_pgoff (written for VMAs with a file)
 *   6 pgoff_rel vm_pgoff - start / 4096, zigzag-encoded (written for
 *               private anonymous VMAs, where it is usually 0)
 *   7 anon      index + 1 in ANONS (absent: no anon_vma)
 *   8 resident  byte string: runs of resident pages as (pages skipped
 *               since the previous run or the VMA's start, length << 1 |
 *               zero) pairs, zero set for pages mapping the shared zero
 *               page (present, not counted in Rss)
 *   9 name      index + 1 in FILES of its anonymous VMA name (an entry
 *               of kind 3), absent: none
 *  10 guards    byte string: runs of guard markers (MADV_GUARD_INSTALL)
 *               as (pages skipped since the previous run or the VMA's
 *               start, length) pairs
 *
 * Extending it: a new per-VMA property is a new field number here (and a
 * bit in snap_flags[] for a new flag); a new layout or space property a
 * new row of layout_fields[] or state_fields[]; a new per-file property a
 * new FILES field. A reader refuses fields, names and flag bits it does
 * not know, so an older vmad refuses a newer snapshot instead of silently
 * dropping state. VAS_SNAP_VERSION changes only when the meaning of
 * something already written changes.
 *
 * Resident pages are read through vas__pt_count() and
 * vas__pt_count_present() by bisection (a range that is all absent, all
 * zero page or all own pages is one run) and written back with
 * vas__pt_set_range(), so the page table's representation stays its own.
 *
 * A snapshot from anywhere (a client, a damaged file) is checked
 * completely before it becomes a space: every length, index and range,
 * the combinations of flags the model can produce, the counters against
 * the ids in use, and finally vas_validate() on the result. What is wrong
 * is described in @msg with the byte offset where it was found.
 */
#include "vas_op.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SNAP_MAGIC     "VMASNAP"
#define SNAP_MAGIC_LEN 8 /* with its NUL */
#define SNAP_HDR_LEN   16

enum snap_section {
	SEC_END = 0,
	SEC_LAYOUT = 1,
	SEC_STATE = 2,
	SEC_FILES = 3,
	SEC_ANONS = 4,
	SEC_VMAS = 5,
};

enum { T_VARINT = 0, T_BYTES = 1 };

/* Fields of a FILES record. */
enum {
	FILE_KIND = 1,
	FILE_NAME = 2,
	FILE_INODE = 3,
	FILE_SPECIAL = 4,
	FILE_NO_THP_ALIGN = 5,
};
enum {
	FILE_NAMED = 0,
	FILE_SHMEM = 1,
	FILE_SPECIAL_MAPPING = 2,
	FILE_ANON_NAME = 3,
};

/* Fields of an ANONS record. */
enum { ANON_ID = 1, ANON_FORKED = 2 };

/* Fields of a VMAS record. */
enum {
	VMA_GAP = 1,
	VMA_PAGES = 2,
	VMA_FLAGS = 3,
	VMA_FILE = 4,
	VMA_PGOFF = 5,
	VMA_PGOFF_REL = 6,
	VMA_ANON = 7,
	VMA_RESIDENT = 8,
	VMA_NAME = 9,
	VMA_GUARDS = 10,
	VMA_NR_FIELDS
};

/*
 * The flag word of a snapshot: one row per internal flag. The bits are the
 * format's, fixed forever; the internal VAS_F_* values may change.
 */
static const struct {
	uint32_t vas; /* VAS_F_* */
	uint64_t snap;
} snap_flags[] = {
	{VAS_F_READ, 1u << 0},	      {VAS_F_WRITE, 1u << 1},
	{VAS_F_EXEC, 1u << 2},	      {VAS_F_SHARED, 1u << 3},
	{VAS_F_GROWSDOWN, 1u << 4},   {VAS_F_GROWSUP, 1u << 5},
	{VAS_F_NORESERVE, 1u << 6},   {VAS_F_ACCOUNT, 1u << 7},
	{VAS_F_LOCKED, 1u << 8},      {VAS_F_LOCKONFAULT, 1u << 9},
	{VAS_F_DONTCOPY, 1u << 10},   {VAS_F_WIPEONFORK, 1u << 11},
	{VAS_F_DONTDUMP, 1u << 12},   {VAS_F_HUGEPAGE, 1u << 13},
	{VAS_F_NOHUGEPAGE, 1u << 14}, {VAS_F_SEQ_READ, 1u << 15},
	{VAS_F_RAND_READ, 1u << 16},  {VAS_F_MERGEABLE, 1u << 17},
	{VAS_F_SEALED, 1u << 18},     {VAS_F_MAYBE_GUARD, 1u << 19},
};

/*
 * def_flags (mlockall(MCL_FUTURE)) is written as its VAS_F_LOCKED_MASK
 * bits, which are the snapshot's bits 8 and 9.
 */
_Static_assert(VAS_F_LOCKED == 1u << 8 && VAS_F_LOCKONFAULT == 1u << 9,
	       "def_flags is written with the snapshot's flag bits");

#define NR_SNAP_FLAGS (sizeof(snap_flags) / sizeof(snap_flags[0]))

/* A named field of LAYOUT or STATE. */
enum snap_ftype {
	NF_U64,
	NF_U32,
	NF_BOOL,
	NF_COUNTER, /* a striped counter: offset in struct vas_stripe */
	NF_GATE64,  /* uint64_t of the gate area (vas->gate; 0: none) */
	NF_GATEU,   /* unsigned of the gate area */
};

struct snap_named {
	const char *name;
	enum snap_ftype type;
	size_t off;
};

#define LF(f, t)                                                               \
	{                                                                      \
#f, t, offsetof(struct vas_layout, f)                          \
	}
static const struct snap_named layout_fields[] = {
	LF(task_size, NF_U64),
	LF(mmap_base, NF_U64),
	LF(stack_guard_gap, NF_U64),
	LF(max_map_count, NF_U64),
	LF(stack_rlimit, NF_U64),
	LF(brk_base, NF_U64),
	LF(tree_in_place, NF_BOOL),
	LF(no_zero_page, NF_BOOL),
	LF(memlock_rlimit, NF_U64),
	LF(no_thp, NF_BOOL),
	LF(no_ksm, NF_BOOL),
	LF(no_anon_vma_name, NF_BOOL),
	LF(no_map_stack_nohugepage, NF_BOOL),
};
#undef LF

#define SF(f, t)                                                               \
	{                                                                      \
#f, t, offsetof(struct vas, f)                                 \
	}
#define SC(n, f)                                                               \
	{                                                                      \
		n, NF_COUNTER, offsetof(struct vas_stripe, f)                  \
	}
static const struct snap_named state_fields[] = {
	SF(start_stack, NF_U64),
	SF(start_brk, NF_U64),
	SF(brk, NF_U64),
	SF(unmapped_base, NF_U64),
	SF(next_anon, NF_U32),
	SF(next_shmem_ino, NF_U64),
	SF(merge_check_off, NF_BOOL),
	SF(mutations, NF_U64),
	/* mlock and mseal (issue 16) */
	SF(locked_vm, NF_U64),
	SF(has_sealed, NF_BOOL),
	SF(locked_drift, NF_BOOL),
	SF(def_flags, NF_U32),
	SC("faults", faults),
	SC("fault_retries", retries),
	SC("expansions", expansions),
	SC("segv_maperr", maperr),
	SC("segv_accerr", accerr),
	/* The gate area ([vsyscall], vas_import()): gate_end 0 if none. */
	{"gate_start", NF_GATE64, offsetof(struct vas_vma_info, start)},
	{"gate_end", NF_GATE64, offsetof(struct vas_vma_info, end)},
	{"gate_prot", NF_GATEU, offsetof(struct vas_vma_info, prot)},
};
#undef SF
#undef SC

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* Writing                                                             */

struct snap_buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void sb_init(struct snap_buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

static void sb_fini(struct snap_buf *b)
{
	vma_free(b->p);
	sb_init(b);
}

static bool sb_grow(struct snap_buf *b, size_t n);

static inline bool sb_reserve(struct snap_buf *b, size_t n)
{
	if (__builtin_expect(!b->err && b->cap - b->len >= n, 1))
		return true;
	return sb_grow(b, n);
}

static bool sb_grow(struct snap_buf *b, size_t n)
{
	size_t cap;
	uint8_t *np;

	if (b->err)
		return false;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	np = vma_alloc(cap);
	if (!np) {
		b->err = -ENOMEM;
		return false;
	}
	if (b->len)
		memcpy(np, b->p, b->len);
	vma_free(b->p);
	b->p = np;
	b->cap = cap;
	return true;
}

static void sb_put(struct snap_buf *b, const void *data, size_t n)
{
	if (!n || !sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void sb_varint(struct snap_buf *b, uint64_t v)
{
	uint8_t *p;

	if (!sb_reserve(b, 10))
		return;
	p = b->p + b->len;
	while (v > 0x7f) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	b->len = (size_t)(p - b->p);
}

static void sb_bytes(struct snap_buf *b, const void *data, size_t n)
{
	sb_varint(b, n);
	sb_put(b, data, n);
}

/* A varint field, omitted when 0 (absent reads as 0). */
static void put_uint(struct snap_buf *b, unsigned field, uint64_t v)
{
	if (!v)
		return;
	sb_varint(b, (uint64_t)field << 1 | T_VARINT);
	sb_varint(b, v);
}

static void put_bytes(struct snap_buf *b, unsigned field, const void *data,
		      size_t n)
{
	sb_varint(b, (uint64_t)field << 1 | T_BYTES);
	sb_bytes(b, data, n);
}

/* Append @rec to @out as one length-prefixed record; reset @rec. */
static void put_record(struct snap_buf *out, struct snap_buf *rec)
{
	if (rec->err)
		out->err = rec->err;
	sb_bytes(out, rec->p, rec->len);
	rec->len = 0;
}

static void put_section(struct snap_buf *out, enum snap_section tag,
			struct snap_buf *payload)
{
	if (payload->err)
		out->err = payload->err;
	sb_varint(out, tag);
	sb_bytes(out, payload->p, payload->len);
	payload->len = 0;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static uint64_t named_get(const struct snap_named *f, const void *base,
			  const struct vas *vas)
{
	const char *p = (const char *)base + f->off;
	uint64_t sum = 0;
	unsigned i;

	switch (f->type) {
	case NF_U64:
		return *(const uint64_t *)p;
	case NF_U32:
		return *(const uint32_t *)p;
	case NF_BOOL:
		return *(const bool *)p;
	case NF_COUNTER:
		for (i = 0; i < VAS_NR_STRIPES; i++)
			sum += uatomic_read(
				(const uint64_t *)((const char *)&vas
							   ->stripes[i] +
						   f->off));
		return sum;
	case NF_GATE64:
	case NF_GATEU:
		if (!vas->gate)
			return 0;
		p = (const char *)vas->gate + f->off;
		return f->type == NF_GATE64 ? *(const uint64_t *)p
					    : *(const unsigned *)p;
	}
	return 0;
}

static void put_named(struct snap_buf *b, const struct snap_named *fields,
		      size_t nr, const void *base, const struct vas *vas)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		sb_bytes(b, fields[i].name, strlen(fields[i].name));
		sb_varint(b, named_get(&fields[i], base, vas));
	}
}

/* An open-addressing map from nonzero 64-bit keys to table indexes. */
struct snap_map {
	uint64_t *keys;
	uint32_t *vals;
	size_t mask;
	uint32_t nr;
};

static int map_init(struct snap_map *m, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap *= 2;
	m->keys = vma_calloc(cap * sizeof(*m->keys));
	m->vals = vma_alloc(cap * sizeof(*m->vals));
	m->mask = cap - 1;
	m->nr = 0;
	return m->keys && m->vals ? 0 : -ENOMEM;
}

static void map_fini(struct snap_map *m)
{
	vma_free(m->keys);
	vma_free(m->vals);
}

static uint64_t map_hash(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return v;
}

/* The index of @key, added as the next index if new (*@added set). */
static uint32_t map_index(struct snap_map *m, uint64_t key, bool *added)
{
	size_t i = map_hash(key) & m->mask;

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & m->mask;
	*added = !m->keys[i];
	if (*added) {
		m->keys[i] = key;
		m->vals[i] = m->nr++;
	}
	return m->vals[i];
}

/* Runs of resident pages of one VMA, coalesced as they are found. */
struct run_enc {
	struct snap_buf *b;
	uint64_t pos; /* page after the last run written */
	uint64_t start, len;
	bool zero;
};

static void runs_flush(struct run_enc *re)
{
	if (!re->len)
		return;
	sb_varint(re->b, re->start - re->pos);
	sb_varint(re->b, re->len << 1 | re->zero);
	re->pos = re->start + re->len;
	re->len = 0;
}

static void runs_emit(struct run_enc *re, uint64_t pfn, uint64_t n, bool zero)
{
	if (re->len && re->start + re->len == pfn && re->zero == zero) {
		re->len += n;
		return;
	}
	runs_flush(re);
	re->start = pfn;
	re->len = n;
	re->zero = zero;
}

/*
 * Find the runs of [@pfn, @pfn + @n) by bisection: a range that is all
 * absent, all zero page or all own pages is one run.
 */
static void runs_walk(const struct vas_pt *pt, struct run_enc *re, uint64_t pfn,
		      uint64_t n)
{
	uint64_t present = vas__pt_count_present(pt, pfn, n), own, half;

	if (!present)
		return;
	own = vas__pt_count(pt, pfn, n);
	if (present == n && (own == 0 || own == n)) {
		runs_emit(re, pfn, n, own == 0);
		return;
	}
	half = n / 2;
	runs_walk(pt, re, pfn, half);
	runs_walk(pt, re, pfn + half, n - half);
}

/* The guard runs inside @a, as (skip, length) page pairs into @b. */
static void guards_put(const struct vas_guards *g, const struct vas_area *a,
		       struct snap_buf *b)
{
	uint64_t pos = a->start;
	size_t i;

	for (i = 0; g && i < g->nr; i++) {
		uint64_t s = g->r[i].start, e = g->r[i].end;

		if (e <= a->start || s >= a->end)
			continue;
		s = s < a->start ? a->start : s;
		e = e > a->end ? a->end : e;
		sb_varint(b, (s - pos) >> VAS_PAGE_SHIFT);
		sb_varint(b, (e - s) >> VAS_PAGE_SHIFT);
		pos = e;
	}
}

static uint64_t flags_to_snap(uint32_t flags, bool *unknown)
{
	uint64_t out = 0;
	size_t i;

	for (i = 0; i < NR_SNAP_FLAGS; i++)
		if (flags & snap_flags[i].vas) {
			out |= snap_flags[i].snap;
			flags &= ~snap_flags[i].vas;
		}
	*unknown = flags != 0;
	return out;
}

/*
 * Encode the space into @out; @areas are its @n areas in address order.
 * Context: Writer, every area marked and drained.
 */
static int snap_encode(struct vas *vas, struct vas_area *const *areas, size_t n,
		       struct snap_buf *out)
{
	struct snap_buf sec, rec, runs;
	struct snap_map files = {0}, anons = {0};
	const struct vas_file **file_tab = NULL;
	uint32_t *anon_tab = NULL, *fidx = NULL, *aidx = NULL, *nidx = NULL;
	uint8_t hdr[SNAP_HDR_LEN] = SNAP_MAGIC;
	uint64_t prev_end = 0;
	bool added;
	size_t k;
	uint32_t i;
	int err;

	sb_init(&sec);
	sb_init(&rec);
	sb_init(&runs);
	err = map_init(&files, 2 * n) ?: map_init(&anons, n);
	if (err)
		goto out;
	file_tab = vma_alloc((2 * n + 1) * sizeof(*file_tab));
	anon_tab = vma_alloc((n + 1) * sizeof(*anon_tab));
	fidx = vma_alloc((n + 1) * sizeof(*fidx));
	aidx = vma_alloc((n + 1) * sizeof(*aidx));
	nidx = vma_alloc((n + 1) * sizeof(*nidx));
	if (!file_tab || !anon_tab || !fidx || !aidx || !nidx) {
		err = -ENOMEM;
		goto out;
	}
	/* The tables, in order of first use; each area's indexes + 1. */
	for (k = 0; k < n; k++) {
		const struct vas_area *a = areas[k];
		uint32_t anon = vas_area_anon(a);
		bool unknown;

		flags_to_snap(a->flags, &unknown);
		if (unknown) {
			err = -EINVAL; /* a flag without a snapshot bit */
			goto out;
		}
		fidx[k] = aidx[k] = nidx[k] = 0;
		if (a->file) {
			i = map_index(&files, (uintptr_t)a->file, &added);
			if (added)
				file_tab[i] = a->file;
			fidx[k] = i + 1;
		}
		if (a->name) {
			i = map_index(&files, (uintptr_t)a->name, &added);
			if (added)
				file_tab[i] = a->name;
			nidx[k] = i + 1;
		}
		if (anon) {
			i = map_index(&anons, anon, &added);
			if (added)
				anon_tab[i] = anon;
			aidx[k] = i + 1;
		}
	}

	hdr[SNAP_MAGIC_LEN] = VAS_SNAP_VERSION & 0xff;
	hdr[SNAP_MAGIC_LEN + 1] = (VAS_SNAP_VERSION >> 8) & 0xff;
	hdr[SNAP_MAGIC_LEN + 2] = (VAS_SNAP_VERSION >> 16) & 0xff;
	hdr[SNAP_MAGIC_LEN + 3] = (VAS_SNAP_VERSION >> 24) & 0xff;
	sb_put(out, hdr, sizeof(hdr));

	put_named(&sec, layout_fields, ARRAY_SIZE(layout_fields), &vas->layout,
		  vas);
	put_section(out, SEC_LAYOUT, &sec);
	put_named(&sec, state_fields, ARRAY_SIZE(state_fields), vas, vas);
	put_section(out, SEC_STATE, &sec);

	sb_varint(&sec, files.nr);
	for (i = 0; i < files.nr; i++) {
		const struct vas_file *f = file_tab[i];

		if (f->is_name) {
			put_uint(&rec, FILE_KIND, FILE_ANON_NAME);
			put_bytes(&rec, FILE_NAME, f->name, strlen(f->name));
		} else if (f->special) {
			put_uint(&rec, FILE_KIND, FILE_SPECIAL_MAPPING);
			put_bytes(&rec, FILE_NAME, f->name, strlen(f->name));
			put_uint(&rec, FILE_SPECIAL, f->special);
		} else if (f->shmem) {
			put_uint(&rec, FILE_KIND, FILE_SHMEM);
			put_uint(&rec, FILE_INODE, f->inode);
		} else {
			put_uint(&rec, FILE_KIND, FILE_NAMED);
			put_bytes(&rec, FILE_NAME, f->name, strlen(f->name));
			put_uint(&rec, FILE_NO_THP_ALIGN, !f->thp_align);
		}
		put_record(&sec, &rec);
	}
	put_section(out, SEC_FILES, &sec);

	sb_varint(&sec, anons.nr);
	for (i = 0; i < anons.nr; i++) {
		put_uint(&rec, ANON_ID, anon_tab[i] & VAS_ANON_ID);
		put_uint(&rec, ANON_FORKED, !!(anon_tab[i] & VAS_ANON_FORKED));
		put_record(&sec, &rec);
	}
	put_section(out, SEC_ANONS, &sec);

	/* The VMA records go straight into @out, after their header. */
	sb_varint(out, SEC_VMAS);
	sb_varint(&sec, n);
	for (k = 0; k < n; k++) {
		const struct vas_area *a = areas[k];
		uint64_t spfn = a->start >> VAS_PAGE_SHIFT;
		struct run_enc re = {.b = &runs, .pos = spfn};
		bool unknown;

		put_uint(&rec, VMA_GAP,
			 (a->start - prev_end) >> VAS_PAGE_SHIFT);
		put_uint(&rec, VMA_PAGES, vas_area_pages(a));
		put_uint(&rec, VMA_FLAGS, flags_to_snap(a->flags, &unknown));
		if (a->file) {
			put_uint(&rec, VMA_FILE, fidx[k]);
			put_uint(&rec, VMA_PGOFF, a->pgoff);
		} else {
			put_uint(&rec, VMA_PGOFF_REL,
				 zigzag((int64_t)(a->pgoff - spfn)));
		}
		put_uint(&rec, VMA_ANON, aidx[k]);
		runs_walk(&vas->pt, &re, spfn, vas_area_pages(a));
		runs_flush(&re);
		if (runs.len) {
			put_bytes(&rec, VMA_RESIDENT, runs.p, runs.len);
			runs.len = 0;
		}
		put_uint(&rec, VMA_NAME, nidx[k]);
		guards_put(vas->guards, a, &runs);
		if (runs.len) {
			put_bytes(&rec, VMA_GUARDS, runs.p, runs.len);
			runs.len = 0;
		}
		if (runs.err)
			rec.err = runs.err;
		put_record(&sec, &rec);
		prev_end = a->end;
	}
	if (sec.err)
		out->err = sec.err;
	sb_bytes(out, sec.p, sec.len);
	sec.len = 0;
	put_section(out, SEC_END, &sec);
	err = out->err;
out:
	vma_free(file_tab);
	vma_free(anon_tab);
	vma_free(fidx);
	vma_free(aidx);
	vma_free(nidx);
	map_fini(&files);
	map_fini(&anons);
	sb_fini(&sec);
	sb_fini(&rec);
	sb_fini(&runs);
	return err;
}

int vas_snapshot(struct vas *vas, void **out, size_t *len)
{
	struct vas_area **areas, *a;
	struct snap_buf b;
	size_t n = 0, k;
	uint64_t idx;
	int err;

	sb_init(&b);
	vas__lock(vas);
	areas = vma_alloc((vas->map_count + 1) * sizeof(*areas));
	if (!areas) {
		vas__unlock(vas);
		return -ENOMEM;
	}
	for (idx = 0; (a = vt_next(vas->vt, idx, NULL, NULL)) != NULL;
	     idx = a->end) {
		assert(n < vas->map_count);
		areas[n++] = a;
	}
	/*
	 * As vas_fork(): faults wait while the state is read, so that the
	 * snapshot is one state of the space (a fault may set a page or an
	 * anon_vma without the write lock).
	 */
	for (k = 0; k < n; k++)
		vas__mark(areas[k]);
	vas__drain_all(areas, n);
	err = snap_encode(vas, areas, n, &b);
	for (k = 0; k < n; k++)
		vas__unmark(areas[k]);
	vas__unlock(vas);
	vma_free(areas);
	if (err) {
		sb_fini(&b);
		return err;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

struct snap_rd {
	const uint8_t *base; /* the whole snapshot: offsets in messages */
	const uint8_t *p, *end;
	char *msg;
	size_t msglen;
};

static int rd_fail(struct snap_rd *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int rd_fail(struct snap_rd *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->msg && r->msglen) {
		va_start(ap, fmt);
		n = vsnprintf(r->msg, r->msglen, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < r->msglen)
			snprintf(r->msg + n, r->msglen - n, " (at byte %zu)",
				 (size_t)(r->p - r->base));
	}
	return -EINVAL;
}

/* A reader over [@p, @p + @n) of the same snapshot as @parent. */
static struct snap_rd rd_sub(const struct snap_rd *parent, const uint8_t *p,
			     size_t n)
{
	struct snap_rd r = *parent;

	r.p = p;
	r.end = p + n;
	return r;
}

static int rd_varint(struct snap_rd *r, uint64_t *v, const char *what)
{
	uint64_t x = 0;
	unsigned shift = 0;
	const uint8_t *p = r->p;

	for (;;) {
		if (p == r->end)
			return rd_fail(r, "truncated %s", what);
		if (shift == 63 && (*p & 0x7e))
			return rd_fail(r, "%s does not fit 64 bits", what);
		x |= (uint64_t)(*p & 0x7f) << shift;
		if (!(*p++ & 0x80))
			break;
		shift += 7;
		if (shift > 63)
			return rd_fail(r, "%s does not fit 64 bits", what);
	}
	r->p = p;
	*v = x;
	return 0;
}

static int rd_bytes(struct snap_rd *r, const uint8_t **data, size_t *n,
		    const char *what)
{
	uint64_t len;
	int err = rd_varint(r, &len, what);

	if (err)
		return err;
	if (len > (uint64_t)(r->end - r->p))
		return rd_fail(r, "%s of %" PRIu64 " bytes runs past its end",
			       what, len);
	*data = r->p;
	*n = (size_t)len;
	r->p += len;
	return 0;
}

/*
 * The fields of one record. Field numbers below 64 only; each at most once.
 */
struct snap_rec {
	uint64_t seen;
	uint64_t v[16];
	const uint8_t *data[16];
	size_t len[16];
};

static int rd_record(struct snap_rd *r, const char *what, uint64_t nr,
		     unsigned max_field, const uint8_t *types,
		     struct snap_rec *rec)
{
	struct snap_rd f;
	const uint8_t *p;
	size_t n;
	int err = rd_bytes(r, &p, &n, what);

	if (err)
		return err;
	memset(rec, 0, sizeof(*rec));
	f = rd_sub(r, p, n);
	while (f.p < f.end) {
		uint64_t key, no;
		unsigned type;

		err = rd_varint(&f, &key, "field key");
		if (err)
			return err;
		no = key >> 1;
		type = key & 1;
		if (!no || no > max_field)
			return rd_fail(&f,
				       "%s %" PRIu64 ": unknown field %" PRIu64
				       " (a newer snapshot format?)",
				       what, nr, no);
		if (type != types[no])
			return rd_fail(&f,
				       "%s %" PRIu64 ": field %" PRIu64
				       " has the wrong type",
				       what, nr, no);
		if (rec->seen & (1ULL << no))
			return rd_fail(&f,
				       "%s %" PRIu64 ": field %" PRIu64
				       " appears twice",
				       what, nr, no);
		rec->seen |= 1ULL << no;
		if (type == T_VARINT)
			err = rd_varint(&f, &rec->v[no], "field value");
		else
			err = rd_bytes(&f, &rec->data[no], &rec->len[no],
				       "field value");
		if (err)
			return err;
	}
	return 0;
}

static int named_set(struct snap_rd *r, const struct snap_named *f, void *base,
		     struct vas *vas, uint64_t v)
{
	char *p = (char *)base + f->off;

	switch (f->type) {
	case NF_U64:
		*(uint64_t *)p = v;
		return 0;
	case NF_U32:
		if (v > UINT32_MAX)
			return rd_fail(r, "%s: %" PRIu64 " out of range",
				       f->name, v);
		*(uint32_t *)p = (uint32_t)v;
		return 0;
	case NF_BOOL:
		if (v > 1)
			return rd_fail(r, "%s: %" PRIu64 " is not 0 or 1",
				       f->name, v);
		*(bool *)p = v;
		return 0;
	case NF_COUNTER:
		/* The shared stripe: any thread adds to it atomically. */
		*(uint64_t *)((char *)&vas->stripes[VAS_NR_STRIPES - 1] +
			      f->off) = v;
		return 0;
	case NF_GATE64:
	case NF_GATEU:
		/* Into the scratch gate of the scratch space (@base). */
		p = (char *)((struct vas *)base)->gate + f->off;
		if (f->type == NF_GATE64)
			*(uint64_t *)p = v;
		else if (v > VAS_PROT_READ + VAS_PROT_WRITE + VAS_PROT_EXEC)
			return rd_fail(r, "%s: %" PRIu64 " out of range",
				       f->name, v);
		else
			*(unsigned *)p = (unsigned)v;
		return 0;
	}
	return -EINVAL;
}

/*
 * Read a section of named fields into @base (and @vas for counters).
 * Fields not given keep the value @base has; unknown or repeated names
 * are refused.
 */
static int rd_named(struct snap_rd *r, const char *section,
		    const struct snap_named *fields, size_t nr, void *base,
		    struct vas *vas)
{
	uint64_t seen = 0;

	while (r->p < r->end) {
		const uint8_t *name;
		size_t n, i;
		uint64_t v;
		int err = rd_bytes(r, &name, &n, "field name")
				  ?: rd_varint(r, &v, "field value");

		if (err)
			return err;
		for (i = 0; i < nr; i++)
			if (strlen(fields[i].name) == n &&
			    !memcmp(fields[i].name, name, n))
				break;
		if (i == nr)
			return rd_fail(r,
				       "%s: unknown field '%.*s' (a newer "
				       "snapshot format?)",
				       section, (int)(n > 64 ? 64 : n), name);
		if (seen & (1ULL << i))
			return rd_fail(r, "%s: field '%s' appears twice",
				       section, fields[i].name);
		seen |= 1ULL << i;
		err = named_set(r, &fields[i], base, vas, v);
		if (err)
			return err;
	}
	return 0;
}

static const uint8_t file_types[] = {
	[FILE_KIND] = T_VARINT,		[FILE_NAME] = T_BYTES,
	[FILE_INODE] = T_VARINT,	[FILE_SPECIAL] = T_VARINT,
	[FILE_NO_THP_ALIGN] = T_VARINT,
};
static const uint8_t anon_types[] = {
	[ANON_ID] = T_VARINT,
	[ANON_FORKED] = T_VARINT,
};
static const uint8_t vma_types[] = {
	[VMA_GAP] = T_VARINT,	[VMA_PAGES] = T_VARINT,
	[VMA_FLAGS] = T_VARINT, [VMA_FILE] = T_VARINT,
	[VMA_PGOFF] = T_VARINT, [VMA_PGOFF_REL] = T_VARINT,
	[VMA_ANON] = T_VARINT,	[VMA_RESIDENT] = T_BYTES,
	[VMA_NAME] = T_VARINT,	[VMA_GUARDS] = T_BYTES,
};

/* What restore builds besides the space. */
struct snap_restore {
	struct vas *vas;
	struct vas_file **files;
	uint64_t nr_files;
	uint32_t *anons;
	uint64_t nr_anons;
	struct vas state;	  /* STATE fields read into a scratch space */
	struct vas_vma_info gate; /* its gate */
	bool any_sealed;	  /* a VMA is sealed */
};

static int rd_files(struct snap_rd *r, struct snap_restore *sr)
{
	struct vas *vas = sr->vas;
	uint64_t i;
	struct snap_rec rec;
	int err = rd_varint(r, &sr->nr_files, "file count");

	if (err)
		return err;
	if (sr->nr_files > (uint64_t)(r->end - r->p))
		return rd_fail(r, "%" PRIu64 " files in %zu bytes",
			       sr->nr_files, (size_t)(r->end - r->p));
	sr->files = vma_calloc((sr->nr_files + 1) * sizeof(*sr->files));
	if (!sr->files)
		return -ENOMEM;
	for (i = 0; i < sr->nr_files && !err; i++) {
		size_t before = vas->nr_files;
		char name[VAS_FILE_MAX];
		struct vas_file *f;

		err = rd_record(r, "file", i, FILE_NO_THP_ALIGN, file_types,
				&rec);
		if (err)
			break;
		if (rec.v[FILE_KIND] != FILE_NAMED &&
		    rec.v[FILE_NO_THP_ALIGN]) {
			err = rd_fail(r,
				      "file %" PRIu64 ": only a named file "
				      "has a placement attribute",
				      i);
			break;
		}
		if (rec.v[FILE_KIND] != FILE_SPECIAL_MAPPING &&
		    rec.v[FILE_SPECIAL]) {
			err = rd_fail(r,
				      "file %" PRIu64 ": only a special "
				      "mapping has a special kind",
				      i);
			break;
		}
		if (rec.v[FILE_KIND] == FILE_NAMED) {
			if (!(rec.seen & (1u << FILE_NAME)) ||
			    !rec.len[FILE_NAME] ||
			    rec.len[FILE_NAME] >= VAS_FILE_MAX ||
			    memchr(rec.data[FILE_NAME], 0,
				   rec.len[FILE_NAME]) ||
			    rec.v[FILE_INODE]) {
				err = rd_fail(r,
					      "file %" PRIu64 ": a named file "
					      "needs a name of 1 to %d bytes "
					      "(no NUL) and no inode",
					      i, VAS_FILE_MAX - 1);
				break;
			}
			memcpy(name, rec.data[FILE_NAME], rec.len[FILE_NAME]);
			name[rec.len[FILE_NAME]] = '\0';
			f = vas__file_get(vas, name);
			if (!f) {
				err = -ENOMEM;
				break;
			}
			if (vas->nr_files == before)
				err = rd_fail(r,
					      "file %" PRIu64 " repeats '%s'",
					      i, name);
			if (rec.v[FILE_NO_THP_ALIGN] > 1)
				err = rd_fail(r,
					      "file %" PRIu64 ": placement "
					      "attribute %" PRIu64
					      " is not 0 or 1",
					      i, rec.v[FILE_NO_THP_ALIGN]);
			f->thp_align = !rec.v[FILE_NO_THP_ALIGN];
		} else if (rec.v[FILE_KIND] == FILE_ANON_NAME) {
			if (!(rec.seen & (1u << FILE_NAME)) ||
			    !rec.len[FILE_NAME] ||
			    rec.len[FILE_NAME] > VAS_ANON_NAME_MAX ||
			    rec.v[FILE_INODE]) {
				err = rd_fail(r,
					      "file %" PRIu64 ": an anonymous "
					      "VMA name needs 1 to %d bytes "
					      "and no inode",
					      i, VAS_ANON_NAME_MAX);
				break;
			}
			memcpy(name, rec.data[FILE_NAME], rec.len[FILE_NAME]);
			name[rec.len[FILE_NAME]] = '\0';
			if (!vas_anon_name_valid(name)) {
				err = rd_fail(r,
					      "file %" PRIu64 ": '%s' is not "
					      "a valid anonymous VMA name",
					      i, name);
				break;
			}
			f = vas__name_get(vas, name);
			if (!f) {
				err = -ENOMEM;
				break;
			}
			if (vas->nr_files == before)
				err = rd_fail(r,
					      "file %" PRIu64 " repeats name "
					      "'%s'",
					      i, name);
		} else if (rec.v[FILE_KIND] == FILE_SHMEM) {
			if ((rec.seen & (1u << FILE_NAME)) ||
			    !rec.v[FILE_INODE]) {
				err = rd_fail(r,
					      "file %" PRIu64 ": a shmem file "
					      "needs an inode and no name",
					      i);
				break;
			}
			f = vas__file_new_shmem(vas);
			if (!f) {
				err = -ENOMEM;
				break;
			}
			f->inode = rec.v[FILE_INODE];
		} else if (rec.v[FILE_KIND] == FILE_SPECIAL_MAPPING) {
			if (!(rec.seen & (1u << FILE_NAME)) ||
			    !rec.len[FILE_NAME] ||
			    rec.len[FILE_NAME] >= VAS_FILE_MAX ||
			    memchr(rec.data[FILE_NAME], 0,
				   rec.len[FILE_NAME]) ||
			    rec.v[FILE_INODE] ||
			    (rec.v[FILE_SPECIAL] != VAS_SPECIAL_MAPPING &&
			     rec.v[FILE_SPECIAL] != VAS_SPECIAL_PFNMAP)) {
				err = rd_fail(r,
					      "file %" PRIu64 ": a special "
					      "mapping needs a name, no inode "
					      "and its kind (1 or 2)",
					      i);
				break;
			}
			memcpy(name, rec.data[FILE_NAME], rec.len[FILE_NAME]);
			name[rec.len[FILE_NAME]] = '\0';
			f = vas__file_new_special(vas, name,
						  (uint8_t)rec.v[FILE_SPECIAL]);
			if (!f) {
				err = -ENOMEM;
				break;
			}
		} else {
			err = rd_fail(r,
				      "file %" PRIu64 ": unknown kind %" PRIu64,
				      i, rec.v[FILE_KIND]);
			break;
		}
		sr->files[i] = f;
	}
	return err;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int rd_anons(struct snap_rd *r, struct snap_restore *sr)
{
	struct snap_rec rec;
	uint32_t *sorted;
	uint64_t i;
	int err = rd_varint(r, &sr->nr_anons, "anon_vma count");

	if (err)
		return err;
	if (sr->nr_anons > (uint64_t)(r->end - r->p))
		return rd_fail(r, "%" PRIu64 " anon_vmas in %zu bytes",
			       sr->nr_anons, (size_t)(r->end - r->p));
	sr->anons = vma_alloc((sr->nr_anons + 1) * sizeof(*sr->anons));
	sorted = vma_alloc((sr->nr_anons + 1) * sizeof(*sorted));
	if (!sr->anons || !sorted) {
		vma_free(sorted);
		return -ENOMEM;
	}
	for (i = 0; i < sr->nr_anons; i++) {
		err = rd_record(r, "anon_vma", i, ANON_FORKED, anon_types,
				&rec);
		if (err)
			goto out;
		if (!rec.v[ANON_ID] || rec.v[ANON_ID] > VAS_ANON_ID ||
		    rec.v[ANON_FORKED] > 1) {
			err = rd_fail(r,
				      "anon_vma %" PRIu64 ": id %" PRIu64
				      " or forked %" PRIu64 " out of range",
				      i, rec.v[ANON_ID], rec.v[ANON_FORKED]);
			goto out;
		}
		/* No id past the counter: a new anon_vma would reuse it. */
		if (rec.v[ANON_ID] > (sr->state.next_anon & VAS_ANON_ID)) {
			err = rd_fail(r,
				      "anon_vma %" PRIu64 ": id %" PRIu64
				      " above next_anon %u",
				      i, rec.v[ANON_ID], sr->state.next_anon);
			goto out;
		}
		sr->anons[i] = (uint32_t)rec.v[ANON_ID] |
			       (rec.v[ANON_FORKED] ? VAS_ANON_FORKED : 0);
		sorted[i] = sr->anons[i];
	}
	qsort(sorted, sr->nr_anons, sizeof(*sorted), cmp_u32);
	for (i = 1; i < sr->nr_anons; i++)
		if (sorted[i] == sorted[i - 1]) {
			err = rd_fail(r, "anon_vma %#x appears twice",
				      sorted[i]);
			goto out;
		}
out:
	vma_free(sorted);
	return err;
}

/*
 * The page runs of one VMA (VMA_RESIDENT or VMA_GUARDS), recorded in @op
 * (applied at its commit): (skip, length) pairs, where a resident run's
 * length carries the zero-page bit and guard runs never touch (they
 * would be one).
 */
static int rd_runs(struct snap_rd *r, struct vas_op *op, uint64_t nr,
		   unsigned field, uint64_t spfn, uint64_t pages,
		   const uint8_t *data, size_t len)
{
	bool guards = field == VMA_GUARDS;
	const char *what = guards ? "guard run" : "resident run";
	struct snap_rd rr = rd_sub(r, data, len);
	uint64_t pos = 0;

	while (rr.p < rr.end) {
		uint64_t skip, v, n;
		enum vas_pg_kind kind;
		int err =
			rd_varint(&rr, &skip, what) ?: rd_varint(&rr, &v, what);

		if (err)
			return err;
		n = guards ? v : v >> 1;
		kind = guards  ? VAS_PG_GUARD_SET
		       : v & 1 ? VAS_PG_SET_ZERO
			       : VAS_PG_SET;
		if (!n || skip > pages - pos || n > pages - pos - skip ||
		    (guards && pos && !skip))
			return rd_fail(
				&rr, "VMA %" PRIu64 ": %s outside the VMA%s",
				nr, what,
				guards ? " or touching the one before" : "");
		pos += skip;
		vas_op_pages(op, kind, spfn + pos, 0, n);
		if (op->err)
			return op->err;
		pos += n;
	}
	return 0;
}

static int rd_vmas(struct snap_rd *r, struct snap_restore *sr)
{
	struct vas *vas = sr->vas;
	uint64_t ts = vas->layout.task_size, nr, i, prev_end = 0;
	struct snap_rec rec;
	struct vas_op op;
	int err = rd_varint(r, &nr, "VMA count");

	if (err)
		return err;
	if (nr > (uint64_t)(r->end - r->p))
		return rd_fail(r, "%" PRIu64 " VMAs in %zu bytes", nr,
			       (size_t)(r->end - r->p));
	vas_op_begin(&op, vas);
	for (i = 0; i < nr; i++) {
		struct vas_proto p = {0};
		uint64_t gap, pages, flags, k;
		size_t j;

		err = rd_record(r, "VMA", i, VMA_NR_FIELDS - 1, vma_types,
				&rec);
		if (err)
			goto out_abort;
		gap = rec.v[VMA_GAP];
		pages = rec.v[VMA_PAGES];
		if (gap > (ts - prev_end) >> VAS_PAGE_SHIFT || !pages ||
		    pages > (ts - prev_end - (gap << VAS_PAGE_SHIFT)) >>
			    VAS_PAGE_SHIFT) {
			err = rd_fail(r,
				      "VMA %" PRIu64 ": range outside the "
				      "space or overlapping the one before",
				      i);
			goto out_abort;
		}
		p.start = prev_end + (gap << VAS_PAGE_SHIFT);
		p.end = p.start + (pages << VAS_PAGE_SHIFT);
		if (p.start < VAS_MMAP_MIN_ADDR) {
			err = rd_fail(r, "VMA %" PRIu64 ": below %#llx", i,
				      VAS_MMAP_MIN_ADDR);
			goto out_abort;
		}
		flags = rec.v[VMA_FLAGS];
		for (j = 0; j < NR_SNAP_FLAGS; j++)
			if (flags & snap_flags[j].snap) {
				p.flags |= snap_flags[j].vas;
				flags &= ~snap_flags[j].snap;
			}
		if (flags) {
			err = rd_fail(r,
				      "VMA %" PRIu64 ": unknown flag bits "
				      "%#" PRIx64 " (a newer snapshot format?)",
				      i, flags);
			goto out_abort;
		}
		k = rec.v[VMA_FILE];
		if (k > sr->nr_files) {
			err = rd_fail(r, "VMA %" PRIu64 ": no file %" PRIu64, i,
				      k);
			goto out_abort;
		}
		p.file = k ? sr->files[k - 1] : NULL;
		if (p.file && p.file->is_name) {
			err = rd_fail(r,
				      "VMA %" PRIu64 ": file %" PRIu64
				      " is an anonymous VMA name",
				      i, k);
			goto out_abort;
		}
		k = rec.v[VMA_NAME];
		if (k > sr->nr_files || (k && !sr->files[k - 1]->is_name) ||
		    (k && (p.file && !p.file->shmem))) {
			err = rd_fail(r,
				      "VMA %" PRIu64 ": name %" PRIu64
				      " is not an anonymous VMA name of an "
				      "anonymous VMA",
				      i, k);
			goto out_abort;
		}
		p.name = k ? sr->files[k - 1] : NULL;
		if (p.file) {
			p.pgoff = rec.v[VMA_PGOFF];
			if (rec.seen & (1u << VMA_PGOFF_REL))
				goto bad_pgoff;
		} else {
			p.pgoff = (p.start >> VAS_PAGE_SHIFT) +
				  (uint64_t)unzigzag(rec.v[VMA_PGOFF_REL]);
			if (rec.seen & (1u << VMA_PGOFF))
				goto bad_pgoff;
		}
		if (p.pgoff > (UINT64_MAX >> VAS_PAGE_SHIFT) - pages)
			goto bad_pgoff;
		k = rec.v[VMA_ANON];
		if (k > sr->nr_anons) {
			err = rd_fail(r,
				      "VMA %" PRIu64 ": no anon_vma %" PRIu64,
				      i, k);
			goto out_abort;
		}
		p.anon = k ? sr->anons[k - 1] : 0;
		/*
		 * Combinations neither an operation nor vas_import() makes
		 * (a shared VMA without a file is one that vas_import()
		 * makes, for instance).
		 */
		if ((p.file && p.file->shmem && !(p.flags & VAS_F_SHARED)) ||
		    ((p.flags & VAS_F_SHARED) && p.anon) ||
		    ((p.flags & (VAS_F_GROWSDOWN | VAS_F_GROWSUP)) &&
		     (p.file || (p.flags & VAS_F_SHARED))) ||
		    ((p.flags & VAS_F_LOCKONFAULT) &&
		     !(p.flags & VAS_F_LOCKED)) ||
		    ((p.flags & VAS_F_HUGEPAGE) &&
		     (p.flags & VAS_F_NOHUGEPAGE)) ||
		    ((p.flags & VAS_F_SEQ_READ) &&
		     (p.flags & VAS_F_RAND_READ)) ||
		    ((p.flags & VAS_F_WIPEONFORK) &&
		     ((p.file && !p.file->special) ||
		      (p.flags & VAS_F_SHARED)))) {
			err = rd_fail(r,
				      "VMA %" PRIu64 ": flags %#x do not fit "
				      "its file and anon_vma",
				      i, p.flags);
			goto out_abort;
		}
		vas_op_store(&op, vas_op_new_area(&op, &p));
		if (op.err) {
			err = op.err;
			goto out_abort;
		}
		/* Resident pages first: guard markers zap what they cover. */
		err = 0;
		if (rec.seen & (1u << VMA_RESIDENT))
			err = rd_runs(r, &op, i, VMA_RESIDENT,
				      p.start >> VAS_PAGE_SHIFT, pages,
				      rec.data[VMA_RESIDENT],
				      rec.len[VMA_RESIDENT]);
		if (!err && (rec.seen & (1u << VMA_GUARDS)))
			err = rd_runs(r, &op, i, VMA_GUARDS,
				      p.start >> VAS_PAGE_SHIFT, pages,
				      rec.data[VMA_GUARDS],
				      rec.len[VMA_GUARDS]);
		if (err)
			goto out_abort;
		if (p.flags & VAS_F_SEALED)
			sr->any_sealed = true;
		prev_end = p.end;
		continue;
	bad_pgoff:
		err = rd_fail(r, "VMA %" PRIu64 ": bad page offset", i);
		goto out_abort;
	}
	if (r->p != r->end) {
		err = rd_fail(r, "bytes after the last VMA");
		goto out_abort;
	}
	return vas_op_finish(&op);
out_abort:
	vas_op_abort(&op);
	return err;
}

static int rd_header(struct snap_rd *r)
{
	uint32_t version;

	if ((size_t)(r->end - r->p) < SNAP_HDR_LEN)
		return rd_fail(r, "shorter than the %d-byte header",
			       SNAP_HDR_LEN);
	if (memcmp(r->p, SNAP_MAGIC, SNAP_MAGIC_LEN))
		return rd_fail(r, "not a vmad space snapshot (bad magic)");
	version = (uint32_t)r->p[8] | (uint32_t)r->p[9] << 8 |
		  (uint32_t)r->p[10] << 16 | (uint32_t)r->p[11] << 24;
	if (version != VAS_SNAP_VERSION) {
		r->p += 8;
		return rd_fail(r,
			       "snapshot format version %u; this libvma "
			       "reads version %u",
			       version, VAS_SNAP_VERSION);
	}
	if (r->p[12] | r->p[13] | r->p[14] | r->p[15]) {
		r->p += 12;
		return rd_fail(r, "reserved header bytes are not 0");
	}
	r->p += SNAP_HDR_LEN;
	return 0;
}

/* The next section, which must be @want. */
static int rd_section(struct snap_rd *r, enum snap_section want,
		      const char *name, struct snap_rd *sec)
{
	const uint8_t *p;
	uint64_t tag;
	size_t n;
	int err = rd_varint(r, &tag, "section tag");

	if (err)
		return err;
	if (tag != want)
		return rd_fail(r, "section %" PRIu64 " where %s (%d) belongs",
			       tag, name, want);
	err = rd_bytes(r, &p, &n, name);
	if (err)
		return err;
	*sec = rd_sub(r, p, n);
	return 0;
}

static void restore_state(struct vas *vas, const struct vas *st)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(state_fields); i++) {
		const struct snap_named *f = &state_fields[i];

		if (f->type == NF_COUNTER || f->type == NF_GATE64 ||
		    f->type == NF_GATEU)
			continue; /* read straight into vas, or the gate */
		if (f->type == NF_U64)
			*(uint64_t *)((char *)vas + f->off) =
				*(const uint64_t *)((const char *)st + f->off);
		else if (f->type == NF_U32)
			*(uint32_t *)((char *)vas + f->off) =
				*(const uint32_t *)((const char *)st + f->off);
		else
			*(bool *)((char *)vas + f->off) =
				*(const bool *)((const char *)st + f->off);
	}
}

static int restore(struct snap_rd *r, struct snap_restore *sr)
{
	struct vas_layout l;
	struct snap_rd sec;
	uint64_t i;
	int err;

	err = rd_header(r);
	if (err)
		return err;
	vas_layout_default(&l);
	err = rd_section(r, SEC_LAYOUT, "LAYOUT", &sec)
		      ?: rd_named(&sec, "LAYOUT", layout_fields,
				  ARRAY_SIZE(layout_fields), &l, NULL);
	if (err)
		return err;
	l.stack = false;
	err = vas_new(&l, &sr->vas);
	if (err == -EINVAL)
		return rd_fail(r,
			       "LAYOUT: an inconsistent layout (task_size "
			       "%#" PRIx64 ", mmap_base %#" PRIx64
			       ", brk_base %#" PRIx64 ")",
			       l.task_size, l.mmap_base, l.brk_base);
	if (err)
		return err;
	/* Defaults of the fields a snapshot may leave out. */
	sr->state.start_stack = 0;
	sr->state.start_brk = sr->state.brk = l.brk_base;
	sr->state.unmapped_base = sr->vas->unmapped_base;
	sr->state.gate = &sr->gate;
	err = rd_section(r, SEC_STATE, "STATE", &sec)
		      ?: rd_named(&sec, "STATE", state_fields,
				  ARRAY_SIZE(state_fields), &sr->state,
				  sr->vas);
	if (err)
		return err;
	if (sr->state.def_flags & ~VAS_F_LOCKED_MASK ||
	    (sr->state.def_flags && !(sr->state.def_flags & VAS_F_LOCKED)))
		return rd_fail(r, "STATE: def_flags %#x are not mlockall's",
			       sr->state.def_flags);
	if (sr->state.brk < sr->state.start_brk ||
	    sr->state.brk > l.task_size ||
	    vas_offset_in_page(sr->state.unmapped_base) ||
	    sr->state.unmapped_base > l.task_size)
		return rd_fail(r, "STATE: brk, start_brk or unmapped_base "
				  "out of range");
	/* The gate: above the space, as vas_import() makes it. */
	if (sr->gate.end || sr->gate.start || sr->gate.prot) {
		if (sr->gate.start < l.task_size ||
		    sr->gate.start >= sr->gate.end ||
		    vas_offset_in_page(sr->gate.start) ||
		    vas_offset_in_page(sr->gate.end))
			return rd_fail(r,
				       "STATE: a gate area %#" PRIx64
				       "-%#" PRIx64 " not above the space",
				       sr->gate.start, sr->gate.end);
		sr->vas->gate = vma_alloc(sizeof(*sr->vas->gate));
		if (!sr->vas->gate)
			return -ENOMEM;
		memset(sr->vas->gate, 0, sizeof(*sr->vas->gate));
		sr->vas->gate->start = sr->gate.start;
		sr->vas->gate->end = sr->gate.end;
		sr->vas->gate->prot = sr->gate.prot;
		sr->vas->gate->flags = VAS_VM_SPECIAL;
		sr->vas->gate->pgoff = sr->gate.start >> VAS_PAGE_SHIFT;
		sr->vas->gate->name = "[vsyscall]";
	}

	vas__lock(sr->vas);
	err = rd_section(r, SEC_FILES, "FILES", &sec) ?: rd_files(&sec, sr);
	if (!err)
		err = rd_section(r, SEC_ANONS, "ANONS", &sec)
			      ?: rd_anons(&sec, sr);
	if (!err)
		err = rd_section(r, SEC_VMAS, "VMAS", &sec)
			      ?: rd_vmas(&sec, sr);
	if (!err)
		restore_state(sr->vas, &sr->state);
	vas__unlock(sr->vas);
	if (err)
		return err;
	/* A sealed VMA in a space whose munmap does not check seals. */
	if (sr->any_sealed && !sr->vas->has_sealed)
		return rd_fail(r, "STATE: sealed VMAs but has_sealed 0");
	for (i = 0; i < sr->nr_files; i++) {
		if (!sr->files[i]->refs)
			return rd_fail(
				r, "FILES: file %" PRIu64 " is used by no VMA",
				i);
		/* A special mapping's entry is its own (so it never merges). */
		if (sr->files[i]->special && sr->files[i]->refs != 1)
			return rd_fail(r,
				       "FILES: special mapping %" PRIu64
				       " is used by %ld VMAs",
				       i, sr->files[i]->refs);
	}
	err = rd_section(r, SEC_END, "END", &sec);
	if (err)
		return err;
	if (sec.p != sec.end || r->p != r->end)
		return rd_fail(r, "bytes after the END section");
	return 0;
}

int vas_restore(const void *buf, size_t len, struct vas **out, char *msg,
		size_t msglen)
{
	struct snap_restore sr;
	struct snap_rd r = {
		.base = buf,
		.p = buf,
		.end = (const uint8_t *)buf + len,
		.msg = msg,
		.msglen = msglen,
	};
	char why[200];
	uint64_t i;
	int err;

	memset(&sr, 0, sizeof(sr));
	if (msg && msglen)
		msg[0] = '\0';
	err = restore(&r, &sr);
	if (!err) {
		err = vas_validate(sr.vas, why, sizeof(why));
		if (err) {
			r.p = r.end;
			rd_fail(&r,
				"the snapshot describes an inconsistent "
				"space: %s",
				why);
		}
	}
	if (err && sr.vas) {
		/* Files no area took: vas_free() frees only the others. */
		for (i = 0; sr.files && i < sr.nr_files; i++)
			if (sr.files[i] && !sr.files[i]->refs &&
			    !sr.files[i]->hashed) {
				vas__file_unlink(sr.vas, sr.files[i]);
				vma_free(sr.files[i]);
			}
		vas_free(sr.vas);
		sr.vas = NULL;
	}
	if (err == -ENOMEM && msg && msglen && !msg[0])
		snprintf(msg, msglen, "out of memory");
	vma_free(sr.files);
	vma_free(sr.anons);
	if (!err)
		*out = sr.vas;
	return err;
}

uint64_t vas_mutation_count(const struct vas *vas)
{
	return uatomic_read(&vas->mutations);
}
