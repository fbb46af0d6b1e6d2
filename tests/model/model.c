// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Reference model of an address space.
 *
 * Every page of [0, task_size) has a record (mapped, flags, file, page
 * offset, anon_vma, resident). Operations rewrite page records directly;
 * VMAs are derived from them (see model.h), so splitting needs no code at
 * all and merging is a property of the derivation. The Linux rules the
 * model must still spell out (argument checks, placement, guard gaps,
 * max_map_count, VM_ACCOUNT, anon_vma assignment, stack growth, brk) are
 * written as plain loops over pages, independently of libvma's code.
 */
#include "model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PG	    4096ULL
#define MIN_ADDR    65536ULL
#define F_R	    1u
#define F_W	    2u
#define F_X	    4u
#define F_ACCESS    7u
#define F_SHARED    8u
#define F_GROWSDOWN 16u
#define F_GROWSUP   32u
#define F_NORESERVE 64u
#define F_ACCOUNT   128u
/* madvise flags: VM_DONTCOPY ... VM_MERGEABLE */
#define F_DONTCOPY   0x100u
#define F_WIPEONFORK 0x200u
#define F_DONTDUMP   0x400u
#define F_HUGEPAGE   0x800u
#define F_NOHUGEPAGE 0x1000u
#define F_SEQ_READ   0x2000u
#define F_RAND_READ  0x4000u
#define F_MERGEABLE  0x8000u
#define MAX_FILES    64
#define MAX_SHM	     4096
#define PALIGN(x)    (((x) + PG - 1) & ~(PG - 1))

struct mpage {
	bool mapped, res;
	bool hard; /* a stack grew into the page below: not merged with it */
	uint16_t flags;
	int file; /* 0 anon private, >0 named file, <0 shmem */
	uint64_t pgoff;
	uint32_t anon;
	bool zero; /* present, mapping the shared zero page (res is false) */
};

struct mvma {
	uint64_t start, end, pgoff; /* bytes, bytes, pages */
	uint16_t flags;
	int file;
	uint32_t anon;
};

struct model {
	struct vas_layout l;
	uint64_t n; /* pages */
	struct mpage *p;
	uint64_t guard, unmapped_base;
	uint64_t start_brk, brk, start_stack;
	uint32_t next_anon;
	uint64_t next_ino;
	char names[MAX_FILES][VAS_FILE_MAX];
	int nr_names;
	int nr_shm;
	uint64_t shm_ino[MAX_SHM];
	struct mvma *v; /* derived VMAs (scratch) */
	size_t nv;
};

int model_munmap(struct model *m, uint64_t addr, uint64_t len);

/* ---- derivation ---- */

static bool anon_join(uint32_t run, uint32_t a)
{
	return !run || !a || run == a;
}

static void derive(struct model *m)
{
	uint64_t i = 0;

	m->nv = 0;
	while (i < m->n) {
		struct mpage *s = &m->p[i];
		struct mvma *v;
		uint32_t anon;
		uint64_t j;

		if (!s->mapped) {
			i++;
			continue;
		}
		anon = s->anon;
		for (j = i + 1; j < m->n; j++) {
			struct mpage *q = &m->p[j];

			if (!q->mapped || q->hard || q->flags != s->flags ||
			    q->file != s->file ||
			    q->pgoff != m->p[j - 1].pgoff + 1 ||
			    !anon_join(anon, q->anon))
				break;
			if (!anon)
				anon = q->anon;
		}
		v = &m->v[m->nv++];
		v->start = i * PG;
		v->end = j * PG;
		v->pgoff = s->pgoff;
		v->flags = s->flags;
		v->file = s->file;
		v->anon = anon;
		i = j;
	}
}

/* Derive, then give every page its VMA's anon_vma. */
static void normalize(struct model *m)
{
	size_t k;

	derive(m);
	for (k = 0; k < m->nv; k++) {
		uint64_t i;

		for (i = m->v[k].start / PG; i < m->v[k].end / PG; i++)
			m->p[i].anon = m->v[k].anon;
	}
}

static struct mvma *vma_at(struct model *m, uint64_t addr)
{
	size_t k;

	for (k = 0; k < m->nv; k++)
		if (m->v[k].start <= addr && addr < m->v[k].end)
			return &m->v[k];
	return NULL;
}

/* First VMA ending above addr. */
static struct mvma *vma_next(struct model *m, uint64_t addr)
{
	size_t k;

	for (k = 0; k < m->nv; k++)
		if (m->v[k].end > addr)
			return &m->v[k];
	return NULL;
}

/* Last VMA starting at or below addr. */
static struct mvma *vma_prev(struct model *m, uint64_t addr)
{
	struct mvma *r = NULL;
	size_t k;

	for (k = 0; k < m->nv; k++)
		if (m->v[k].start <= addr)
			r = &m->v[k];
	return r;
}

/*
 * Pages [s, e) were rewritten: Linux tries merges at both edges, so a
 * boundary left by stack growth there is gone.
 */
static void touched(struct model *m, uint64_t s, uint64_t e)
{
	uint64_t i;

	for (i = s / PG; i <= e / PG && i < m->n; i++)
		m->p[i].hard = false;
}

static bool range_free(struct model *m, uint64_t s, uint64_t e)
{
	uint64_t i;

	for (i = s / PG; i < e / PG; i++)
		if (m->p[i].mapped)
			return false;
	return true;
}

static uint64_t start_gap(struct model *m, const struct mvma *v)
{
	uint64_t s = v->start;

	if (v->flags & F_GROWSDOWN) {
		s -= m->guard;
		if (s > v->start)
			s = 0;
	}
	return s;
}

static uint64_t end_gap(struct model *m, const struct mvma *v)
{
	uint64_t e = v->end;

	if (v->flags & F_GROWSUP) {
		e += m->guard;
		if (e < v->end)
			e = -PG;
	}
	return e;
}

/* ---- life cycle ---- */

int model_new(const struct vas_layout *l, struct model **out)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->l = *l;
	m->n = l->task_size / PG;
	m->p = calloc(m->n, sizeof(*m->p));
	m->v = calloc(m->n, sizeof(*m->v));
	m->guard = l->stack_guard_gap * PG;
	m->unmapped_base = PALIGN(l->task_size / 3);
	m->start_brk = m->brk = l->brk_base;
	if (l->stack) {
		uint64_t s = l->task_size - VAS_INITIAL_STACK_SIZE, i;

		m->start_stack = l->task_size - 8;
		m->next_anon = 1;
		for (i = s / PG; i < m->n; i++)
			m->p[i] = (struct mpage){
				true,  false,
				false, F_R | F_W | F_GROWSDOWN | F_ACCOUNT,
				0,     i,
				1,     false};
	}
	normalize(m);
	*out = m;
	return 0;
}

void model_free(struct model *m)
{
	free(m->p);
	free(m->v);
	free(m);
}

/* ---- placement ---- */

static int area_topdown(struct model *m, uint64_t len, uint64_t low,
			uint64_t high, uint64_t *out)
{
	if (low < MIN_ADDR)
		low = MIN_ADDR;
	for (;;) {
		uint64_t gap_end, gap;
		struct mvma *t;

		for (gap_end = high; gap_end >= low + len; gap_end -= PG)
			if (range_free(m, gap_end - len, gap_end))
				break;
		if (high < low + len || gap_end < low + len)
			return -ENOMEM;
		gap = gap_end - len;
		t = vma_next(m, gap_end);
		if (t && (t->flags & F_GROWSDOWN)) {
			if (start_gap(m, t) < gap_end) {
				high = start_gap(m, t);
				continue;
			}
		} else {
			t = vma_prev(m, gap_end - 1);
			if (t && end_gap(m, t) > gap) {
				high = t->start;
				continue;
			}
		}
		*out = gap;
		return 0;
	}
}

static int area_bottomup(struct model *m, uint64_t len, uint64_t low,
			 uint64_t high, uint64_t *out)
{
	if (low < MIN_ADDR)
		low = MIN_ADDR;
	for (;;) {
		uint64_t gap;
		struct mvma *t;

		for (gap = low; gap + len <= high; gap += PG)
			if (range_free(m, gap, gap + len))
				break;
		if (gap + len > high || high < len)
			return -ENOMEM;
		t = vma_next(m, gap);
		if (t && (t->flags & F_GROWSDOWN)) {
			if (start_gap(m, t) < gap + len - 1) {
				low = t->end;
				continue;
			}
		} else {
			t = gap ? vma_prev(m, gap - 1) : NULL;
			if (t && end_gap(m, t) > gap) {
				low = end_gap(m, t);
				continue;
			}
		}
		*out = gap;
		return 0;
	}
}

/* A hint if it fits, else top-down, else bottom-up. */
static int place(struct model *m, uint64_t addr, uint64_t len, uint64_t *out)
{
	uint64_t ts = m->l.task_size;

	if (addr) {
		struct mvma *v, *pv;

		addr = PALIGN(addr);
		v = vma_next(m, addr);
		pv = vma_prev(m, addr - 1);
		if (ts - len >= addr && addr >= MIN_ADDR &&
		    (!v || addr + len <= start_gap(m, v)) &&
		    (!pv || pv == v || addr >= end_gap(m, pv))) {
			*out = addr;
			return 0;
		}
	}
	if (!area_topdown(m, len, PG, m->l.mmap_base, out))
		return 0;
	return area_bottomup(m, len, m->unmapped_base, ts, out);
}

/*
 * @thp_off: the file offset in bytes of a mapping on a filesystem that
 * aligns (ext4: every simulated file), or ~0 if not a file; anonymous
 * private mappings without hint use offset 0.
 */
static int get_area(struct model *m, uint64_t addr, uint64_t len, bool fixed,
		    bool anon_private, uint64_t thp_off, uint64_t *out)
{
	const uint64_t pmd = 2ULL << 20;
	uint64_t ts = m->l.task_size;
	int err;

	if (len > ts)
		return -ENOMEM;
	if (!fixed) {
		uint64_t off = thp_off, got;
		bool thp = thp_off != ~0ULL ||
			   (anon_private && !addr && !(len % pmd));

		if (thp_off == ~0ULL)
			off = 0;
		/* The range must hold a whole aligned 2 MiB of the file. */
		if (thp &&
		    (off + len) / pmd * pmd < (off + pmd - 1) / pmd * pmd + pmd)
			thp = false;
		err = -ENOMEM;
		if (thp && len + pmd <= ts &&
		    !place(m, addr, len + pmd, &got)) {
			err = 0;
			if (got == addr) {
				addr = got;
			} else {
				uint64_t sub = (off - got) % pmd;

				addr = got + (sub ? sub : pmd);
			}
		}
		if (err) {
			err = place(m, addr, len, &addr);
			if (err)
				return err;
		}
	}
	if (addr > ts - len)
		return -ENOMEM;
	if (addr % PG)
		return -EINVAL;
	if (addr < MIN_ADDR)
		return -EPERM;
	*out = addr;
	return 0;
}

/* ---- helpers ---- */

static uint64_t count_vmas(struct model *m)
{
	derive(m);
	return m->nv;
}

/* munmap core: the map_count check, then clear. */
static int unmap(struct model *m, uint64_t s, uint64_t e)
{
	struct mvma *v;
	uint64_t i;

	derive(m);
	v = vma_next(m, s);
	if (!v || v->start >= e)
		return 0;
	if (s > v->start && e < v->end && m->nv >= m->l.max_map_count)
		return -ENOMEM;
	for (i = s / PG; i < e / PG && i < m->n; i++)
		m->p[i] = (struct mpage){0};
	touched(m, s, e);
	normalize(m);
	return 0;
}

static bool anon_compatible(const struct mvma *a, const struct mvma *b)
{
	return a->end == b->start && a->file == b->file &&
	       !((a->flags ^ b->flags) & ~F_ACCESS) &&
	       b->pgoff == a->pgoff + (a->end - a->start) / PG;
}

/* find_mergeable_anon_vma(), else a new one. */
static uint32_t find_anon(struct model *m, const struct mvma *v)
{
	struct mvma *next = vma_next(m, v->end);
	struct mvma *prev = v->start ? vma_prev(m, v->start - 1) : NULL;

	if (next && anon_compatible(v, next) && next->anon)
		return next->anon;
	if (prev && prev != v && anon_compatible(prev, v) && prev->anon)
		return prev->anon;
	return ++m->next_anon;
}

static void set_anon(struct model *m, const struct mvma *v, uint32_t anon)
{
	uint64_t i;

	for (i = v->start / PG; i < v->end / PG; i++)
		m->p[i].anon = anon;
}

/* ---- operations ---- */

int model_mmap(struct model *m, uint64_t addr, uint64_t length, unsigned prot,
	       unsigned flags, const char *file, uint64_t offset, uint64_t *out)
{
	bool anonymous = flags & VAS_MAP_ANONYMOUS;
	bool shared = flags & VAS_MAP_SHARED, priv = flags & VAS_MAP_PRIVATE;
	bool fixed = flags & (VAS_MAP_FIXED | VAS_MAP_FIXED_NOREPLACE);
	uint64_t len, pgoff, i;
	uint16_t f;
	int fid = 0, err;

	if (offset % PG)
		return -EINVAL;
	if (!anonymous && (!file || !*file))
		return -EBADF;
	if (!length)
		return -EINVAL;
	if (!fixed && addr) {
		addr &= ~(PG - 1);
		if (addr < MIN_ADDR)
			addr = MIN_ADDR;
	}
	len = PALIGN(length);
	if (!len)
		return -ENOMEM;
	pgoff = offset / PG;
	if (pgoff + len / PG < pgoff)
		return -EOVERFLOW;
	if (count_vmas(m) > m->l.max_map_count)
		return -ENOMEM;
	err = get_area(m, addr, len, fixed, anonymous && priv && !shared,
		       anonymous ? ~0ULL : pgoff * PG, &addr);
	if (err)
		return err;
	if ((flags & VAS_MAP_FIXED_NOREPLACE) &&
	    !range_free(m, addr, addr + len))
		return -EEXIST;
	if (!anonymous && pgoff > ((uint64_t)INT64_MAX - len) / PG)
		return -EOVERFLOW;
	if (!shared && !priv)
		return -EINVAL;
	if (shared && priv) {
		/* MAP_SHARED_VALIDATE: files only, legacy flags only. */
		if (anonymous)
			return -EINVAL;
		if (flags & (VAS_MAP_FIXED_NOREPLACE | VAS_MAP_GROWSUP))
			return -EOPNOTSUPP;
		priv = false;
	}
	f = prot & F_ACCESS;
	if (flags & VAS_MAP_GROWSDOWN)
		f |= F_GROWSDOWN;
	if (flags & VAS_MAP_GROWSUP)
		f |= F_GROWSUP;
	if ((f & (F_GROWSDOWN | F_GROWSUP)) && (!anonymous || shared))
		return -EINVAL;
	if (flags & VAS_MAP_NORESERVE)
		f |= F_NORESERVE;
	if (shared)
		f |= F_SHARED;
	if (!anonymous) {
		for (fid = 0; fid < m->nr_names; fid++)
			if (!strcmp(m->names[fid], file))
				break;
		if (fid == m->nr_names) {
			if (m->nr_names == MAX_FILES)
				abort();
			strcpy(m->names[m->nr_names++], file);
		}
		fid++;
	} else if (shared) {
		if (m->nr_shm == MAX_SHM)
			abort();
		m->shm_ino[m->nr_shm++] = ++m->next_ino;
		fid = -m->nr_shm;
		pgoff = 0;
	} else {
		pgoff = addr / PG;
	}
	err = unmap(m, addr, addr + len);
	if (err) {
		if (anonymous && shared) { /* no inode for a failed mmap */
			m->nr_shm--;
			m->next_ino--;
		}
		return err;
	}
	if ((f & (F_NORESERVE | F_SHARED | F_W)) == F_W)
		f |= F_ACCOUNT;
	for (i = 0; i < len / PG; i++)
		m->p[addr / PG + i] = (struct mpage){
			true, false, false, f, fid, pgoff + i, 0, false};
	touched(m, addr, addr + len);
	normalize(m);
	if ((flags & VAS_MAP_POPULATE) && (f & F_ACCESS)) {
		struct mvma *v = vma_at(m, addr);

		if ((f & (F_W | F_SHARED)) == F_W && !v->anon) {
			set_anon(m, v, find_anon(m, v));
			normalize(m);
		}
		bool write = (f & (F_W | F_SHARED)) == F_W;
		bool zero = !write && fid == 0 && !m->l.no_zero_page;

		if (!write && fid == 0 && m->l.no_zero_page && !v->anon) {
			set_anon(m, v, find_anon(m, v));
			normalize(m);
		}
		/* populate_vma_page_range(): a read fault maps the zero page.
		 */
		for (i = addr / PG; i < (addr + len) / PG; i++) {
			m->p[i].res = !zero;
			m->p[i].zero = zero;
		}
	}
	*out = addr;
	return 0;
}

int model_munmap(struct model *m, uint64_t addr, uint64_t len)
{
	uint64_t ts = m->l.task_size;

	if (addr % PG || addr > ts || len > ts - addr)
		return -EINVAL;
	len = PALIGN(len);
	if (!len)
		return -EINVAL;
	return unmap(m, addr, addr + len);
}

static bool can_merge(const struct mvma *a, const struct mvma *b)
{
	/* a then b, as if b had flags b->flags: mergeable? */
	return a->end == b->start && a->flags == b->flags &&
	       a->file == b->file &&
	       b->pgoff == a->pgoff + (a->end - a->start) / PG &&
	       anon_join(a->anon, b->anon);
}

int model_mprotect(struct model *m, uint64_t start, uint64_t len, unsigned prot)
{
	uint64_t end, nstart, tmp;
	struct mvma *v;
	int err = 0;

	if (prot & ~F_ACCESS)
		return -EINVAL;
	if (start % PG)
		return -EINVAL;
	if (!len)
		return 0;
	len = PALIGN(len);
	end = start + len;
	if (end <= start)
		return -ENOMEM;
	derive(m);
	v = vma_next(m, start);
	if (!v || v->start >= end || v->start > start)
		return -ENOMEM;
	nstart = start;
	tmp = v->start;
	while (v && v->start < end) {
		struct mvma cur = *v, mid;
		uint16_t nf = (cur.flags & ~F_ACCESS) | prot;
		uint64_t s, e, i;

		if (cur.start != tmp) {
			err = -ENOMEM;
			break;
		}
		s = nstart;
		e = cur.end < end ? cur.end : end;
		if (nf != cur.flags) {
			if (nf & F_W) {
				if (!(cur.flags & (F_ACCOUNT | F_W | F_SHARED |
						   F_NORESERVE)))
					nf |= F_ACCOUNT;
			} else if ((cur.flags & F_ACCOUNT) && cur.file == 0 &&
				   !cur.anon) {
				nf &= ~F_ACCOUNT;
			}
			/* No merge possible: check the splits' map_count. */
			mid = cur;
			mid.start = s;
			mid.end = e;
			mid.pgoff = cur.pgoff + (s - cur.start) / PG;
			mid.flags = nf;
			{
				struct mvma *pv = s ? vma_prev(m, s - 1) : NULL;
				struct mvma *nx = vma_next(m, e);
				bool ml = s == cur.start && pv && pv != v &&
					  can_merge(pv, &mid);
				bool mr =
					e == cur.end && nx && nx != v &&
					can_merge(&mid, nx) &&
					(!ml || anon_join(pv->anon, nx->anon));
				uint64_t cnt = m->nv;

				if (!ml && !mr) {
					if (cur.start < s &&
					    cnt++ >= m->l.max_map_count) {
						err = -ENOMEM;
						break;
					}
					if (cur.end > e &&
					    cnt >= m->l.max_map_count) {
						err = -ENOMEM;
						break;
					}
				}
			}
			for (i = s / PG; i < e / PG; i++)
				m->p[i].flags = nf;
			touched(m, s, e);
			normalize(m);
		}
		v = vma_at(m, s);
		tmp = v->end;
		nstart = tmp;
		v = tmp < end ? vma_next(m, tmp) : NULL;
	}
	if (!err && tmp < end)
		err = -ENOMEM;
	return err;
}

/* Move [old, old+olen) of VMA v to [new, new+nlen) (copy_vma + move). */
static void move(struct model *m, struct mvma v, uint64_t old, uint64_t olen,
		 uint64_t new, uint64_t nlen)
{
	uint64_t pgoff = v.pgoff + (old - v.start) / PG, i;
	bool *res = calloc(olen / PG, sizeof(bool));
	bool *zero = calloc(olen / PG, sizeof(bool));

	if (v.file == 0 && !v.anon)
		pgoff = new / PG;
	for (i = 0; i < olen / PG; i++) {
		res[i] = m->p[old / PG + i].res;
		zero[i] = m->p[old / PG + i].zero;
		m->p[old / PG + i].res = false;
		m->p[old / PG + i].zero = false;
	}
	for (i = 0; i < nlen / PG; i++)
		m->p[new / PG + i] =
			(struct mpage){true,   i < olen / PG && res[i],
				       false,  v.flags,
				       v.file, pgoff + i,
				       v.anon, i < olen / PG && zero[i]};
	free(res);
	free(zero);
	touched(m, new, new + nlen);
	normalize(m);
}

static int check_prep(struct model *m, uint64_t addr, uint64_t olen,
		      uint64_t nlen, bool new_addr, struct mvma *out)
{
	struct mvma *v;

	derive(m);
	v = vma_at(m, addr);
	if (!v)
		return -EFAULT;
	*out = *v;
	if (nlen <= olen && !new_addr)
		return 0;
	if (!olen && !(v->flags & F_SHARED))
		return -EINVAL;
	if (olen > nlen)
		olen = nlen;
	if (olen > v->end - addr)
		return -EFAULT;
	return 0;
}

/* mremap_to() after its checks. */
static int remap_to(struct model *m, uint64_t addr, uint64_t olen,
		    uint64_t new_addr, uint64_t nlen, unsigned flags,
		    uint64_t *out)
{
	struct mvma v, *pv;
	int err;

	if (flags & VAS_MREMAP_FIXED) {
		err = model_munmap(m, new_addr, nlen);
		if (err)
			return err;
	}
	if (olen > nlen) {
		err = model_munmap(m, addr + nlen, olen - nlen);
		if (err)
			return err;
		olen = nlen;
	}
	derive(m);
	pv = vma_at(m, addr);
	if (!pv)
		return -EFAULT;
	v = *pv;
	err = get_area(m, new_addr, nlen, flags & VAS_MREMAP_FIXED, v.file == 0,
		       v.file > 0 ? (v.pgoff + (addr - v.start) / PG) * PG
				  : ~0ULL,
		       &new_addr);
	if (err)
		return err;
	if (m->nv >= m->l.max_map_count - 3)
		return -ENOMEM;
	move(m, v, addr, olen, new_addr, nlen);
	unmap(m, addr, addr + olen);
	*out = new_addr;
	return 0;
}

int model_mremap(struct model *m, uint64_t addr, uint64_t olen, uint64_t nlen,
		 unsigned flags, uint64_t new_addr, uint64_t *out)
{
	uint64_t ts = m->l.task_size;
	struct mvma v;
	int err;

	if (flags & ~(unsigned)(VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED |
				VAS_MREMAP_DONTUNMAP))
		return -EINVAL;
	if (flags & VAS_MREMAP_DONTUNMAP)
		return -EINVAL; /* not modelled; the test never asks */
	if (addr % PG)
		return -EINVAL;
	olen = PALIGN(olen);
	nlen = PALIGN(nlen);
	if (!nlen || nlen > ts)
		return -EINVAL;
	if (flags & VAS_MREMAP_FIXED) {
		if (new_addr > ts - nlen || new_addr % PG)
			return -EINVAL;
		if (!(flags & VAS_MREMAP_MAYMOVE))
			return -EINVAL;
		if (addr + olen > new_addr && new_addr + nlen > addr)
			return -EINVAL;
		if (count_vmas(m) + 6 > m->l.max_map_count)
			return -ENOMEM;
		if (olen == nlen) {
			/* Move every VMA of the range, gaps kept. */
			uint64_t end = addr + olen, target = new_addr;
			uint64_t last_end = 0, res = 0, pos = addr;
			bool seen = false;

			for (;;) {
				struct mvma *pv, cur;
				uint64_t a, l, off, got;

				derive(m);
				pv = vma_next(m, pos);
				if (!pv || pv->start >= end)
					break;
				cur = *pv;
				if (!seen && addr < cur.start)
					return -EFAULT;
				a = cur.start > addr ? cur.start : addr;
				l = (end < cur.end ? end : cur.end) - a;
				off = seen ? cur.start - last_end : 0;
				last_end = cur.end;
				pos = cur.end;
				err = remap_to(m, a, l, target + off, l,
					       VAS_MREMAP_FIXED, &got);
				if (err)
					return err;
				if (!seen)
					res = got;
				seen = true;
				target = got + l;
			}
			if (!seen)
				return -EFAULT;
			*out = res;
			return 0;
		}
		err = check_prep(m, addr, olen, nlen, true, &v);
		if (err)
			return err;
		return remap_to(m, addr, olen, new_addr, nlen, flags, out);
	}
	err = check_prep(m, addr, olen, nlen, false, &v);
	if (err)
		return err;
	*out = addr;
	if (olen == nlen)
		return 0;
	if (olen > nlen)
		return model_munmap(m, addr + nlen, olen - nlen);
	if (olen == v.end - addr) {
		uint64_t delta = nlen - olen;

		if (v.end + delta <= ts &&
		    range_free(m, v.end, v.end + delta)) {
			uint64_t i;

			for (i = 0; i < delta / PG; i++)
				m->p[v.end / PG + i] = (struct mpage){
					true,
					false,
					false,
					v.flags,
					v.file,
					v.pgoff + (v.end - v.start) / PG + i,
					v.anon,
					false};
			touched(m, v.end, v.end + delta);
			normalize(m);
			return 0;
		}
	}
	if (!(flags & VAS_MREMAP_MAYMOVE))
		return -ENOMEM;
	err = get_area(m, 0, nlen, false, v.file == 0,
		       v.file > 0 ? (v.pgoff + (addr - v.start) / PG) * PG
				  : ~0ULL,
		       &new_addr);
	if (err)
		return err;
	if (m->nv >= m->l.max_map_count - 3)
		return -ENOMEM;
	move(m, v, addr, olen, new_addr, nlen);
	unmap(m, addr, addr + olen);
	*out = new_addr;
	return 0;
}

int model_brk(struct model *m, uint64_t brk, uint64_t *out)
{
	uint64_t newbrk, oldbrk, i;
	struct mvma *next;

	*out = m->brk;
	if (brk < m->start_brk)
		return 0;
	newbrk = PALIGN(brk);
	oldbrk = PALIGN(m->brk);
	if (oldbrk == newbrk) {
		m->brk = *out = brk;
		return 0;
	}
	derive(m);
	if (brk <= m->brk) {
		struct mvma *v = vma_next(m, newbrk);

		if (!v || v->start >= oldbrk)
			return 0;
		if (unmap(m, newbrk, oldbrk))
			return 0;
		m->brk = *out = brk;
		return 0;
	}
	if (newbrk - oldbrk > m->l.task_size ||
	    oldbrk > m->l.task_size - (newbrk - oldbrk))
		return 0;
	next = vma_next(m, oldbrk);
	if (next && next->start < newbrk + PG + m->guard &&
	    newbrk + PG > start_gap(m, next))
		return 0;
	if (m->nv > m->l.max_map_count)
		return 0;
	for (i = oldbrk / PG; i < newbrk / PG; i++)
		m->p[i] = (struct mpage){
			true, false, false, F_R | F_W | F_ACCOUNT,
			0,    i,     0,	    false};
	touched(m, oldbrk, newbrk);
	normalize(m);
	m->brk = *out = brk;
	return 0;
}

static bool grow_down(struct model *m, struct mvma *v, uint64_t addr)
{
	uint64_t address = addr & ~(PG - 1), i, grow;
	struct mvma *prev = v->start ? vma_prev(m, v->start - 1) : NULL;
	uint32_t anon;

	if (address < MIN_ADDR)
		return false;
	if (prev && !(prev->flags & F_GROWSDOWN) && (prev->flags & F_ACCESS) &&
	    address - prev->end < m->guard)
		return false;
	grow = (v->start - address) / PG;
	if (grow > v->pgoff || v->end - address > m->l.stack_rlimit)
		return false;
	anon = v->anon ? v->anon : find_anon(m, v);
	for (i = address / PG; i < v->start / PG; i++)
		m->p[i] = (struct mpage){
			true,	  false,   false,
			v->flags, v->file, v->pgoff - (v->start / PG - i),
			anon,	  false};
	/* expand_downwards() merges with nothing. */
	if (address / PG && m->p[address / PG - 1].mapped)
		m->p[address / PG].hard = true;
	set_anon(m, v, anon);
	normalize(m);
	return true;
}

int model_fault(struct model *m, uint64_t addr, enum vas_access access,
		struct vas_fault_result *res)
{
	struct mvma *v;
	struct mpage *pg;
	bool tried = false, present, write, zero, accerr_after = false;

	memset(res, 0, sizeof(*res));
again:
	derive(m);
	v = vma_at(m, addr);
	if (!v) {
		struct mvma *n = vma_next(m, addr);

		if (!tried && n && (n->flags & F_GROWSDOWN) &&
		    grow_down(m, n, addr)) {
			res->expanded = true;
			tried = true;
			goto again;
		}
		res->status = VAS_FAULT_SEGV;
		res->code = VAS_SEGV_MAPERR;
		return 0;
	}
	pg = &m->p[addr / PG];
	present = pg->res || pg->zero;
	/*
	 * x86: a fetch from a page not present in an accessible VMA without
	 * VM_EXEC is a read fault; the retried fetch fails.
	 */
	if (access == VAS_ACCESS_EXEC && !(v->flags & F_X) &&
	    (v->flags & F_ACCESS) && !present) {
		access = VAS_ACCESS_READ;
		accerr_after = true;
	}
	if ((access == VAS_ACCESS_WRITE && !(v->flags & F_W)) ||
	    (access == VAS_ACCESS_EXEC && !(v->flags & F_X)) ||
	    (access == VAS_ACCESS_READ && !(v->flags & F_ACCESS))) {
		res->status = VAS_FAULT_SEGV;
		res->code = VAS_SEGV_ACCERR;
		return 0;
	}
	write = access == VAS_ACCESS_WRITE;
	zero = !write && v->file == 0 && !(v->flags & F_SHARED) &&
	       !m->l.no_zero_page;
	if (!(v->flags & F_SHARED) && !v->anon &&
	    (write || (v->file == 0 && m->l.no_zero_page))) {
		set_anon(m, v, find_anon(m, v));
		normalize(m);
	}
	pg = &m->p[addr / PG];
	res->populated = !present;
	if (!zero) {
		pg->res = true;
		pg->zero = false;
	} else if (!pg->res) {
		pg->zero = true;
	}
	res->status = accerr_after ? VAS_FAULT_SEGV : VAS_FAULT_OK;
	res->code = accerr_after ? VAS_SEGV_ACCERR : VAS_SEGV_NONE;
	return 0;
}

size_t model_maps(struct model *m, struct vas_vma_info *out, size_t max)
{
	size_t k;

	derive(m);
	for (k = 0; k < m->nv && k < max; k++) {
		struct mvma *v = &m->v[k];
		struct vas_vma_info *o = &out[k];
		uint64_t i;

		memset(o, 0, sizeof(*o));
		o->start = v->start;
		o->end = v->end;
		o->prot = v->flags & F_ACCESS;
		o->pgoff = v->pgoff;
		if (v->flags & F_SHARED)
			o->flags |= VAS_VM_SHARED;
		if (v->flags & F_GROWSDOWN)
			o->flags |= VAS_VM_GROWSDOWN;
		if (v->flags & F_NORESERVE)
			o->flags |= VAS_VM_NORESERVE;
		if (v->flags & F_ACCOUNT)
			o->flags |= VAS_VM_ACCOUNT;
		{
			static const unsigned fv[][2] = {
				{F_DONTCOPY, VAS_VM_DONTCOPY},
				{F_WIPEONFORK, VAS_VM_WIPEONFORK},
				{F_DONTDUMP, VAS_VM_DONTDUMP},
				{F_HUGEPAGE, VAS_VM_HUGEPAGE},
				{F_NOHUGEPAGE, VAS_VM_NOHUGEPAGE},
				{F_SEQ_READ, VAS_VM_SEQ_READ},
				{F_RAND_READ, VAS_VM_RAND_READ},
				{F_MERGEABLE, VAS_VM_MERGEABLE},
			};

			for (size_t b = 0; b < sizeof(fv) / sizeof(fv[0]); b++)
				if (v->flags & fv[b][0])
					o->flags |= fv[b][1];
		}
		if (v->file > 0) {
			strcpy(o->file, m->names[v->file - 1]);
			o->inode = 0; /* filled by the caller */
			o->offset = v->pgoff * PG;
		} else if (v->file < 0) {
			o->name = "/dev/zero (deleted)";
			o->inode = m->shm_ino[-v->file - 1];
			o->offset = v->pgoff * PG;
		} else if (v->start < m->brk && v->end > m->start_brk) {
			o->name = "[heap]";
		} else if (v->start <= m->start_stack &&
			   v->end >= m->start_stack) {
			o->name = "[stack]";
		}
		for (i = v->start / PG; i < v->end / PG; i++)
			o->rss_pages += m->p[i].res;
	}
	return k;
}

/* ---- madvise ---- */

/*
 * madvise_vma_behavior() on [s, e) of @cur (flag advice, DONTNEED, FREE,
 * WILLNEED), page by page.
 */
static int madv_apply(struct model *m, struct mvma cur, uint64_t s, uint64_t e,
		      int advice)
{
	uint16_t nf = cur.flags;
	uint64_t i;

	switch (advice) {
	case VAS_MADV_WILLNEED:
		return 0;
	case VAS_MADV_DONTNEED:
		for (i = s / PG; i < e / PG; i++)
			m->p[i].res = m->p[i].zero = false;
		return 0;
	case VAS_MADV_FREE:
		return cur.file ? -EINVAL : 0;
	case VAS_MADV_NORMAL:
		nf &= ~(F_SEQ_READ | F_RAND_READ);
		break;
	case VAS_MADV_SEQUENTIAL:
		nf = (nf & ~F_RAND_READ) | F_SEQ_READ;
		break;
	case VAS_MADV_RANDOM:
		nf = (nf & ~F_SEQ_READ) | F_RAND_READ;
		break;
	case VAS_MADV_DONTFORK:
		nf |= F_DONTCOPY;
		break;
	case VAS_MADV_DOFORK:
		nf &= ~F_DONTCOPY;
		break;
	case VAS_MADV_WIPEONFORK:
		if (cur.file || (nf & F_SHARED))
			return -EINVAL;
		nf |= F_WIPEONFORK;
		break;
	case VAS_MADV_KEEPONFORK:
		nf &= ~F_WIPEONFORK;
		break;
	case VAS_MADV_DONTDUMP:
		nf |= F_DONTDUMP;
		break;
	case VAS_MADV_DODUMP:
		nf &= ~F_DONTDUMP;
		break;
	case VAS_MADV_HUGEPAGE:
		nf = (nf & ~F_NOHUGEPAGE) | F_HUGEPAGE;
		break;
	case VAS_MADV_NOHUGEPAGE:
		nf = (nf & ~F_HUGEPAGE) | F_NOHUGEPAGE;
		break;
	case VAS_MADV_MERGEABLE:
		if (!(nf & F_SHARED))
			nf |= F_MERGEABLE;
		break;
	case VAS_MADV_UNMERGEABLE:
		nf &= ~F_MERGEABLE;
		break;
	}
	if (nf == cur.flags)
		return 0;
	{
		/* No merge possible: the splits' map_count (EAGAIN). */
		struct mvma mid = cur;
		struct mvma *pv, *nx;
		bool ml, mr;
		uint64_t cnt = m->nv;

		mid.start = s;
		mid.end = e;
		mid.pgoff = cur.pgoff + (s - cur.start) / PG;
		mid.flags = nf;
		pv = s ? vma_prev(m, s - 1) : NULL;
		nx = vma_next(m, e);
		ml = s == cur.start && pv && pv->end == s &&
		     can_merge(pv, &mid);
		mr = e == cur.end && nx && nx->start == e &&
		     can_merge(&mid, nx) &&
		     (!ml || anon_join(pv->anon, nx->anon));
		if (!ml && !mr) {
			if (cur.start < s && cnt++ >= m->l.max_map_count)
				return -EAGAIN;
			if (cur.end > e && cnt >= m->l.max_map_count)
				return -EAGAIN;
		}
	}
	for (i = s / PG; i < e / PG; i++)
		m->p[i].flags = nf;
	touched(m, s, e);
	normalize(m);
	return 0;
}

/*
 * madvise_populate(): every page of [start, end) in turn, as a read or a
 * write fault of it; an address no VMA holds is -ENOMEM (no stack
 * growth), a VMA without VM_READ (a read) or VM_WRITE (a write) -EINVAL;
 * the pages before stay.
 */
static int madv_populate(struct model *m, uint64_t start, uint64_t end,
			 bool write)
{
	struct vas_fault_result r;
	uint64_t a;

	for (a = start; a < end; a += PG) {
		struct mvma *v;

		derive(m);
		v = vma_at(m, a);
		if (!v)
			return -ENOMEM;
		if (!(v->flags & (write ? F_W : F_R)))
			return -EINVAL;
		model_fault(m, a, write ? VAS_ACCESS_WRITE : VAS_ACCESS_READ,
			    &r);
	}
	return 0;
}

int model_madvise(struct model *m, uint64_t start, uint64_t len_in, int advice)
{
	uint64_t len, end;
	struct mvma *v;
	int unmapped = 0, err;

	switch (advice) {
	case VAS_MADV_NORMAL:
	case VAS_MADV_RANDOM:
	case VAS_MADV_SEQUENTIAL:
	case VAS_MADV_WILLNEED:
	case VAS_MADV_DONTNEED:
	case VAS_MADV_FREE:
	case VAS_MADV_DONTFORK:
	case VAS_MADV_DOFORK:
	case VAS_MADV_WIPEONFORK:
	case VAS_MADV_KEEPONFORK:
	case VAS_MADV_DONTDUMP:
	case VAS_MADV_DODUMP:
	case VAS_MADV_HUGEPAGE:
	case VAS_MADV_NOHUGEPAGE:
	case VAS_MADV_MERGEABLE:
	case VAS_MADV_UNMERGEABLE:
	case VAS_MADV_POPULATE_READ:
	case VAS_MADV_POPULATE_WRITE:
		break;
	default:
		return -EINVAL; /* the test asks only these, or invalid ones */
	}
	if (start % PG)
		return -EINVAL;
	len = PALIGN(len_in);
	if (len_in && !len)
		return -EINVAL;
	end = start + len;
	if (end < start)
		return -EINVAL;
	if (end == start)
		return 0;
	if (advice == VAS_MADV_POPULATE_READ ||
	    advice == VAS_MADV_POPULATE_WRITE)
		return madv_populate(m, start, end,
				     advice == VAS_MADV_POPULATE_WRITE);
	derive(m);
	v = vma_next(m, start);
	for (;;) {
		struct mvma cur;
		uint64_t e;

		if (!v)
			return -ENOMEM;
		if (start < v->start) {
			unmapped = -ENOMEM;
			start = v->start;
			if (start >= end)
				break;
		}
		cur = *v;
		e = cur.end < end ? cur.end : end;
		err = madv_apply(m, cur, start, e, advice);
		if (err)
			return err;
		derive(m);
		v = vma_at(m, start);
		if (e < v->end)
			e = v->end;
		if (e >= end)
			break;
		v = vma_next(m, v->end);
		start = e;
	}
	return unmapped;
}
