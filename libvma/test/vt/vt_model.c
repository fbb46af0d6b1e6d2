// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Reference model of the range tree.
 *
 * A sorted array of non-overlapping inclusive ranges. A store removes every
 * entry it overlaps and puts back the parts that stick out, so a range
 * inside one entry splits it in two:
 *
 *   before   AAAAAAAAAA..BBBB
 *   store       XXXXXXXXX
 *   after    AAAXXXXXXXXXBBB
 *
 * Everything is linear in the number of entries on purpose: the model must
 * be obviously right, not fast.
 */
#include "vt_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void model_init(struct model *m)
{
	m->ents = NULL;
	m->nr = 0;
	m->cap = 0;
}

void model_fini(struct model *m)
{
	free(m->ents);
	model_init(m);
}

static void model_reserve(struct model *m, size_t nr)
{
	if (nr <= m->cap)
		return;
	size_t cap = m->cap ? m->cap : 64;
	while (cap < nr)
		cap *= 2;
	m->ents = realloc(m->ents, cap * sizeof(*m->ents));
	if (!m->ents)
		abort();
	m->cap = cap;
}

void model_copy(struct model *dst, const struct model *src)
{
	model_reserve(dst, src->nr);
	if (src->nr)
		memcpy(dst->ents, src->ents, src->nr * sizeof(*src->ents));
	dst->nr = src->nr;
}

/* Index of the first entry with last >= index (m->nr if none). */
static size_t model_lower(const struct model *m, uint64_t index)
{
	size_t lo = 0, hi = m->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->ents[mid].last < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void model_insert_at(struct model *m, size_t i, uint64_t first,
			    uint64_t last, void *ptr)
{
	model_reserve(m, m->nr + 1);
	memmove(&m->ents[i + 1], &m->ents[i], (m->nr - i) * sizeof(*m->ents));
	m->ents[i].first = first;
	m->ents[i].last = last;
	m->ents[i].ptr = ptr;
	m->nr++;
}

int model_store(struct model *m, uint64_t first, uint64_t last, void *ptr)
{
	if (first > last)
		return -EINVAL;

	size_t i = model_lower(m, first);
	size_t j = i;
	struct model_ent head = {0}, tail = {0};
	int has_head = 0, has_tail = 0;

	/* Entries [i, j) overlap [first, last]. */
	while (j < m->nr && m->ents[j].first <= last)
		j++;
	if (i < j && m->ents[i].first < first) {
		head = m->ents[i];
		head.last = first - 1;
		has_head = 1;
	}
	if (i < j && m->ents[j - 1].last > last) {
		tail = m->ents[j - 1];
		tail.first = last + 1;
		has_tail = 1;
	}
	if (j > i) {
		memmove(&m->ents[i], &m->ents[j],
			(m->nr - j) * sizeof(*m->ents));
		m->nr -= j - i;
	}
	if (has_tail)
		model_insert_at(m, i, tail.first, tail.last, tail.ptr);
	if (ptr)
		model_insert_at(m, i, first, last, ptr);
	if (has_head)
		model_insert_at(m, i, head.first, head.last, head.ptr);
	return 0;
}

int model_erase(struct model *m, uint64_t first, uint64_t last)
{
	return model_store(m, first, last, NULL);
}

static void *model_ret(const struct model *m, size_t i, uint64_t *first,
		       uint64_t *last)
{
	if (first)
		*first = m->ents[i].first;
	if (last)
		*last = m->ents[i].last;
	return m->ents[i].ptr;
}

void *model_load(const struct model *m, uint64_t index, uint64_t *first,
		 uint64_t *last)
{
	size_t i = model_lower(m, index);

	if (i == m->nr || m->ents[i].first > index)
		return NULL;
	return model_ret(m, i, first, last);
}

void *model_next(const struct model *m, uint64_t index, uint64_t *first,
		 uint64_t *last)
{
	size_t i = model_lower(m, index);

	if (i == m->nr)
		return NULL;
	return model_ret(m, i, first, last);
}

void *model_prev(const struct model *m, uint64_t index, uint64_t *first,
		 uint64_t *last)
{
	size_t i = model_lower(m, index);

	if (i < m->nr && m->ents[i].first <= index)
		return model_ret(m, i, first, last);
	if (i == 0)
		return NULL;
	return model_ret(m, i - 1, first, last);
}

/*
 * Try to place @size keys in the free run [glo, ghi] clipped to [lo, hi].
 * Return 1 and set *out if it fits.
 */
static int model_fit(uint64_t glo, uint64_t ghi, uint64_t lo, uint64_t hi,
		     uint64_t size, uint64_t align, enum vt_dir dir,
		     uint64_t *out)
{
	uint64_t mask = align - 1;

	if (glo < lo)
		glo = lo;
	if (ghi > hi)
		ghi = hi;
	if (glo > ghi || ghi - glo < size - 1)
		return 0;
	if (dir == VT_LOWEST) {
		uint64_t s = glo;
		if (s & mask) {
			s = (s & ~mask) + align;
			if (s < glo) /* wrapped past UINT64_MAX */
				return 0;
		}
		if (s > ghi || ghi - s < size - 1)
			return 0;
		*out = s;
		return 1;
	}
	uint64_t s = (ghi - (size - 1)) & ~mask;
	if (s < glo)
		return 0;
	*out = s;
	return 1;
}

int model_find_free(const struct model *m, uint64_t lo, uint64_t hi,
		    uint64_t size, uint64_t align, enum vt_dir dir,
		    uint64_t *out)
{
	if (size == 0 || lo > hi || align == 0 || (align & (align - 1)))
		return -EINVAL;

	/* Gaps: before ents[0], between neighbours, after the last one. */
	size_t nr_gaps = m->nr + 1;
	for (size_t k = 0; k < nr_gaps; k++) {
		size_t g = dir == VT_LOWEST ? k : nr_gaps - 1 - k;
		uint64_t glo, ghi;

		if (g == 0) {
			glo = 0;
		} else {
			if (m->ents[g - 1].last == UINT64_MAX)
				continue;
			glo = m->ents[g - 1].last + 1;
		}
		if (g == m->nr) {
			ghi = UINT64_MAX;
		} else {
			if (m->ents[g].first == 0)
				continue;
			ghi = m->ents[g].first - 1;
		}
		if (glo > ghi)
			continue;
		if (model_fit(glo, ghi, lo, hi, size, align, dir, out))
			return 0;
	}
	return -ENOMEM;
}

int model_snapshot(struct model *m, const struct vt *vt,
		   const struct vt_txn *txn)
{
	uint64_t index = 0, first, last;
	void *ptr;

	m->nr = 0;
	for (;;) {
		if (txn)
			ptr = vt_txn_next(txn, index, &first, &last);
		else
			ptr = vt_next(vt, index, &first, &last);
		if (!ptr)
			return 0;
		if (first > last || last < index)
			return -EINVAL;
		if (m->nr && first <= m->ents[m->nr - 1].last)
			return -EINVAL;
		model_insert_at(m, m->nr, first, last, ptr);
		if (last == UINT64_MAX)
			return 0;
		index = last + 1;
	}
}

int model_equal(const struct model *a, const struct model *b, char *msg,
		size_t len)
{
	size_t n = a->nr < b->nr ? a->nr : b->nr;

	for (size_t i = 0; i < n; i++) {
		const struct model_ent *x = &a->ents[i], *y = &b->ents[i];
		if (x->first != y->first || x->last != y->last ||
		    x->ptr != y->ptr) {
			snprintf(msg, len,
				 "entry %zu: [%#llx, %#llx] %p vs [%#llx, "
				 "%#llx] %p",
				 i, (unsigned long long)x->first,
				 (unsigned long long)x->last, x->ptr,
				 (unsigned long long)y->first,
				 (unsigned long long)y->last, y->ptr);
			return 0;
		}
	}
	if (a->nr != b->nr) {
		snprintf(msg, len, "%zu entries vs %zu", a->nr, b->nr);
		return 0;
	}
	return 1;
}
