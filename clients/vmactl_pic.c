// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl pictures - bands, rows and a bounded layout
 *
 * A picture of a space must read at a glance whether it holds five VMAs or
 * 65,530, while the space spans 2^47 bytes and a VMA can be one page. Three
 * steps get there:
 *
 * 1. Bands. Consecutive VMAs of one object become one band: the segments
 *    of a file (with the anonymous bss right after its writable segment),
 *    VMAs that share a name ([stack], [heap], [anon:NAME]), a thread
 *    stack (a small PROT_NONE guard right below an anonymous mapping), a
 *    reservation (a run of adjacent anonymous VMAs with PROT_NONE parts,
 *    as malloc arenas and heaps that commit as they grow leave). Any
 *    other anonymous VMA is a band of its own.
 *
 * 2. Rows. High addresses on top, from the space's top (task_size) down
 *    to 0: bands, and between them the gaps, which are compressed: a gap's
 *    height grows with the logarithm of its size (PIC_GAP_H), so 4K, 1M,
 *    1G and 1T read as four different heights. The stack guard gap below
 *    a growsdown band (above a growsup one) is a row of its own, and so is
 *    each marker (mmap_base, start_brk, brk) that falls in a gap or on the
 *    edge of a band.
 *
 * 3. A bounded canvas. When the rows of every band do not fit in the
 *    height budget, bands are merged into clusters: the largest gaps
 *    (and every gap next to a stack, or holding a marker) stay as cuts,
 *    bands between two cuts are summarised in one row. The number of cuts
 *    is the largest that fits, found by bisection. When everything fits
 *    with room to spare, every band is expanded to one line per VMA.
 */
#include "vmactl_pic.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vmc.h"

/* A PROT_NONE VMA up to this size right below a mapping is its guard. */
#define PIC_GUARD_MAX (256 * 1024)
/* An anonymous VMA right after a file's writable segment, up to this size,
 * is its bss (a larger one is more likely a mapping of its own). */
#define PIC_BSS_MAX (1024 * 1024)
/* Segments of one file may be this far apart (alignment holes). */
#define PIC_FILE_HOLE_MAX (2 * 1024 * 1024)

static uint64_t pic_u64(const json_t *o, const char *k)
{
	uint64_t v = 0;

	vmc_json_u64(json_object_get(o, k), &v);
	return v;
}

static const char *pic_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s && *s ? s : NULL;
}

bool pic_has_flag(const struct pic_vma *v, const char *flag)
{
	size_t i;
	const json_t *f;

	json_array_foreach(v->flags, i, f)
	{
		if (json_is_string(f) && !strcmp(json_string_value(f), flag))
			return true;
	}
	return false;
}

static bool pic_anon(const struct pic_vma *v)
{
	return !v->file && !v->name;
}

static bool pic_none(const struct pic_vma *v)
{
	return !strncmp(v->perms, "---", 3);
}

/* Is vma[i] the guard of a thread stack (PROT_NONE right below one)? */
static bool pic_guard_at(const struct pic *p, size_t i)
{
	const struct pic_vma *v = &p->vma[i];

	return i + 1 < p->nr_vma && pic_anon(v) && pic_none(v) &&
	       v->end - v->start <= PIC_GUARD_MAX &&
	       p->vma[i + 1].start == v->end && pic_anon(&p->vma[i + 1]) &&
	       !pic_none(&p->vma[i + 1]);
}

/* How many VMAs from @i make one band, and its kind. */
static size_t pic_band_span(const struct pic *p, size_t i,
			    enum pic_band_kind *kind, bool *bss)
{
	const struct pic_vma *v = p->vma, *a = &v[i];
	size_t n = p->nr_vma, j = i + 1;
	bool has_none;

	*bss = false;
	if (a->file) {
		*kind = PIC_FILE;
		while (j < n && v[j].file && !strcmp(v[j].file, a->file) &&
		       !v[j].name &&
		       v[j].start - v[j - 1].end <= PIC_FILE_HOLE_MAX)
			j++;
		if (j < n && pic_anon(&v[j]) && v[j].start == v[j - 1].end &&
		    v[j].end - v[j].start <= PIC_BSS_MAX &&
		    v[j - 1].perms[1] == 'w' && v[j].perms[1] == 'w' &&
		    v[j - 1].perms[3] == 'p' && v[j].perms[3] == 'p') {
			*bss = true;
			j++;
		}
		return j - i;
	}
	if (a->name) {
		*kind = PIC_NAMED;
		while (j < n && v[j].name && !strcmp(v[j].name, a->name) &&
		       v[j].start == v[j - 1].end)
			j++;
		return j - i;
	}
	if (pic_guard_at(p, i)) {
		*kind = PIC_STACK_GUARD;
		return 2;
	}
	/*
	 * A reservation ends where a committed part follows a PROT_NONE one
	 * (the next arena, committed from its bottom) or a guard begins.
	 */
	has_none = pic_none(a);
	while (j < n && pic_anon(&v[j]) && v[j].start == v[j - 1].end &&
	       !pic_guard_at(p, j) &&
	       !(pic_none(&v[j - 1]) && !pic_none(&v[j]))) {
		has_none |= pic_none(&v[j]);
		j++;
	}
	*kind = has_none ? PIC_RESERVATION : PIC_ANON;
	return has_none ? j - i : 1;
}

static int pic_bands(struct pic *p)
{
	size_t i = 0, k;

	p->band = calloc(p->nr_vma ? p->nr_vma : 1, sizeof(*p->band));
	if (!p->band)
		return -ENOMEM;
	while (i < p->nr_vma) {
		struct pic_band *b = &p->band[p->nr_band++];

		b->first = i;
		b->nr = pic_band_span(p, i, &b->kind, &b->bss);
		b->start = p->vma[i].start;
		b->end = p->vma[i + b->nr - 1].end;
		for (k = i; k < i + b->nr; k++) {
			b->mapped += p->vma[k].end - p->vma[k].start;
			b->grows_down |= pic_has_flag(&p->vma[k], "growsdown");
			b->grows_up |= pic_has_flag(&p->vma[k], "growsup");
		}
		i += b->nr;
	}
	return 0;
}

/* Point each VMA at its line of the maps text (lines are in VMA order). */
static void pic_lines(struct pic *p, const char *text)
{
	char *s, *nl;
	size_t i;

	if (!text || !(p->text = strdup(text)))
		return;
	s = p->text;
	for (i = 0; i < p->nr_vma && *s; i++) {
		nl = strchr(s, '\n');
		p->vma[i].line = s;
		p->vma[i].line_len = nl ? (size_t)(nl - s) : strlen(s);
		s = nl ? nl + 1 : s + strlen(s);
	}
}

int pic_new(struct pic *p, const char *title, const json_t *maps,
	    const struct vmactl_space_layout *lay)
{
	const json_t *vmas = json_object_get(maps, "vmas"), *o;
	size_t i;

	memset(p, 0, sizeof(*p));
	p->title = title;
	p->lay = *lay;
	if (!json_is_array(vmas))
		return -EINVAL;
	p->vma = calloc(json_array_size(vmas) + 1, sizeof(*p->vma));
	if (!p->vma)
		return -ENOMEM;
	json_array_foreach(vmas, i, o)
	{
		struct pic_vma *v = &p->vma[p->nr_vma];
		const char *perms = pic_str(o, "perms");

		v->start = pic_u64(o, "start");
		v->end = pic_u64(o, "end");
		/* The daemon sends VMAs sorted; skip anything else. */
		if (v->end <= v->start ||
		    (p->nr_vma && v->start < p->vma[p->nr_vma - 1].end))
			continue;
		v->offset = pic_u64(o, "offset");
		v->rss_pages = pic_u64(o, "rss_pages");
		v->perms = perms && strlen(perms) >= 4 ? perms : "????";
		v->file = pic_str(o, "file");
		v->name = pic_str(o, "name");
		v->flags = json_object_get(o, "flags");
		p->nr_vma++;
	}
	if (p->nr_vma == json_array_size(vmas))
		pic_lines(p, json_string_value(json_object_get(maps, "text")));
	if (pic_bands(p)) {
		pic_free(p);
		return -ENOMEM;
	}
	p->top = lay->task_size;
	if (p->nr_vma && p->vma[p->nr_vma - 1].end > p->top)
		p->top = p->vma[p->nr_vma - 1].end;
	if (lay->has_mmap_base && lay->mmap_base <= p->top) {
		p->mk[0] = lay->mmap_base;
		p->mk_valid |= PIC_MK_MMAP_BASE;
	}
	if (lay->has_brk && lay->brk <= p->top) {
		p->mk[1] = lay->start_brk;
		p->mk[2] = lay->brk;
		p->mk_valid |= PIC_MK_START_BRK | PIC_MK_BRK;
	}
	return 0;
}

void pic_free(struct pic *p)
{
	free(p->vma);
	free(p->band);
	free(p->text);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------ */
/* Rows */

static double pic_pages(uint64_t bytes)
{
	return (double)bytes / 4096.0;
}

static double pic_band_h(const struct pic_band *b)
{
	double h = 13.0 + 0.5 * log2(pic_pages(b->end - b->start) + 1.0);

	if (h < 18)
		h = 18;
	if (b->nr > 1 && h < 4.0 + 3.0 * (double)b->nr)
		h = fmin(4.0 + 3.0 * (double)b->nr, 40.0);
	return h;
}

static int pic_push(struct pic_rows *r, struct pic_row row)
{
	if (r->nr == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct pic_row *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	row.y = r->height;
	r->v[r->nr++] = row;
	r->height += row.h;
	return 0;
}

/* Markers at @a not placed yet (and mark them placed). */
static unsigned pic_take_markers(const struct pic *p, struct pic_rows *r,
				 uint64_t lo, uint64_t hi, bool open)
{
	unsigned m = 0, i;

	for (i = 0; i < PIC_NR_MARKERS; i++) {
		unsigned bit = 1u << i;

		if (!(p->mk_valid & bit) || (r->done & bit))
			continue;
		if (open ? (p->mk[i] > lo && p->mk[i] < hi)
			 : (p->mk[i] >= lo && p->mk[i] <= hi))
			m |= bit;
	}
	r->done |= m;
	return m;
}

static int pic_marker_rows(const struct pic *p, struct pic_rows *r,
			   unsigned pending, uint64_t at)
{
	unsigned i, m = 0;

	for (i = 0; i < PIC_NR_MARKERS; i++)
		if ((pending & (1u << i)) && p->mk[i] == at)
			m |= 1u << i;
	if (!m)
		return 0;
	return pic_push(r, (struct pic_row){.kind = PIC_ROW_MARKER,
					    .start = at,
					    .end = at,
					    .markers = m,
					    .h = PIC_MARKER_H});
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * Rows of the unmapped range [lo, hi) between @below and @above (either
 * may be NULL), top down: guard gaps and markers get rows of their own.
 */
static int pic_gap_rows(const struct pic *p, struct pic_rows *r, uint64_t lo,
			uint64_t hi, const struct pic_band *below,
			const struct pic_band *above)
{
	uint64_t guard = p->lay.guard, gs = 0, ge = 0, pt[4 + PIC_NR_MARKERS];
	unsigned pending = pic_take_markers(p, r, lo, hi, false), i;
	bool has_guard = false, bad = false;
	size_t npt = 0, k;
	uint64_t cur;
	int ret;

	if (guard && above && above->grows_down) {
		has_guard = true;
		bad = below && hi - lo < guard;
		gs = hi - lo > guard ? hi - guard : lo;
		ge = hi;
	} else if (guard && below && below->grows_up) {
		has_guard = true;
		bad = above && hi - lo < guard;
		gs = lo;
		ge = hi - lo > guard ? lo + guard : hi;
	}
	pt[npt++] = lo;
	if (has_guard) {
		pt[npt++] = gs;
		pt[npt++] = ge;
	}
	for (i = 0; i < PIC_NR_MARKERS; i++)
		if (pending & (1u << i))
			pt[npt++] = p->mk[i];
	qsort(pt, npt, sizeof(pt[0]), cmp_desc);
	ret = pic_marker_rows(p, r, pending, hi);
	if (!ret && bad && lo == hi) /* a neighbour abuts the stack */
		ret = pic_push(r, (struct pic_row){.kind = PIC_ROW_GUARD_BAD,
						   .start = lo,
						   .end = hi,
						   .h = 16});
	cur = hi;
	for (k = 0; k < npt && !ret; k++) {
		struct pic_row row = {.kind = PIC_ROW_GAP};

		if (pt[k] >= cur)
			continue;
		row.start = pt[k];
		row.end = cur;
		if (has_guard && row.start >= gs && row.end <= ge)
			row.kind = bad ? PIC_ROW_GUARD_BAD : PIC_ROW_GUARD;
		row.h = PIC_GAP_H(pic_pages(row.end - row.start));
		if (row.kind != PIC_ROW_GAP && row.h < 16)
			row.h = 16;
		ret = pic_push(r, row);
		if (!ret && row.start != hi)
			ret = pic_marker_rows(p, r, pending, row.start);
		cur = pt[k];
	}
	return ret;
}

static int pic_cluster_row(const struct pic *p, struct pic_rows *r, size_t b0,
			   size_t nb, bool expand)
{
	const struct pic_band *first = &p->band[b0],
			      *last = &p->band[b0 + nb - 1];
	struct pic_row row = {
		.start = first->start, .end = last->end, .b0 = b0, .nb = nb};

	row.markers = pic_take_markers(p, r, row.start, row.end, true);
	if (nb == 1) {
		row.kind = PIC_ROW_BAND;
		row.expanded = expand && first->nr > 1;
		row.h = row.expanded ? PIC_SUBROW_H * (double)first->nr
				     : pic_band_h(first);
	} else {
		row.kind = PIC_ROW_CLUSTER;
		row.h = 26.0 + 0.5 * log2(pic_pages(row.end - row.start) + 1.0);
	}
	return pic_push(r, row);
}

/* Rows of the whole space with a cut after band i wherever cut[i]. */
static int pic_rows_build(const struct pic *p, const bool *cut, bool expand,
			  struct pic_rows *r)
{
	size_t n = p->nr_band, j, k;
	int ret;

	r->nr = 0;
	r->height = 0;
	r->done = 0;
	if (!n)
		return pic_gap_rows(p, r, 0, p->top, NULL, NULL);
	ret = pic_gap_rows(p, r, p->band[n - 1].end, p->top, &p->band[n - 1],
			   NULL);
	for (k = n; k-- > 0 && !ret;) {
		for (j = k; j > 0 && !cut[j - 1]; j--)
			;
		ret = pic_cluster_row(p, r, j, k - j + 1, expand);
		if (!ret)
			ret = pic_gap_rows(p, r, j ? p->band[j - 1].end : 0,
					   p->band[j].start,
					   j ? &p->band[j - 1] : NULL,
					   &p->band[j]);
		k = j;
	}
	return ret;
}

struct pic_cut {
	size_t i; /* the gap after band i */
	bool forced;
	int class;	    /* log2 of the size, -1 for 0 */
	uint64_t size, big; /* gap size, larger neighbour's size */
};

static int cmp_cut(const void *a, const void *b)
{
	const struct pic_cut *x = a, *y = b;

	if (x->forced != y->forced)
		return x->forced ? -1 : 1;
	if (x->class != y->class)
		return x->class > y->class ? -1 : 1;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	if (x->big != y->big)
		return x->big > y->big ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

int pic_layout(const struct pic *p, double budget, struct pic_rows *rows)
{
	size_t n = p->nr_band, nc = n ? n - 1 : 0, i, lo, hi, forced = 0, nb;
	struct pic_cut *c = calloc(nc + 1, sizeof(*c));
	size_t *bound = calloc(nc + 2, sizeof(*bound));
	bool *cut = calloc(nc + 1, sizeof(*cut));
	int ret = -ENOMEM;

	memset(rows, 0, sizeof(*rows));
	if (!c || !cut || !bound)
		goto out;
	for (i = 0; i < nc; i++) {
		const struct pic_band *a = &p->band[i], *b = &p->band[i + 1];
		unsigned m;

		c[i].i = i;
		c[i].size = b->start - a->end;
		c[i].class = c[i].size ? 63 - __builtin_clzll(c[i].size) : -1;
		c[i].big = a->end - a->start > b->end - b->start
				   ? a->end - a->start
				   : b->end - b->start;
		c[i].forced = a->grows_up || b->grows_down;
		for (m = 0; m < PIC_NR_MARKERS; m++)
			if ((p->mk_valid & (1u << m)) && p->mk[m] >= a->end &&
			    p->mk[m] <= b->start)
				c[i].forced = true;
		forced += c[i].forced;
	}
	qsort(c, nc, sizeof(*c), cmp_cut);
	/*
	 * The cuts taken are the forced ones and whole classes of gaps (all
	 * gaps of one order of magnitude or none, so that equal gaps are
	 * treated alike): bisect over the class boundaries for the most
	 * cuts whose rows fit the budget.
	 */
	for (i = forced, nb = 0; i <= nc; i++)
		if (i == forced || i == nc || c[i].class != c[i - 1].class)
			bound[nb++] = i;
	lo = 0;
	hi = nb - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		memset(cut, 0, nc * sizeof(*cut));
		for (i = 0; i < bound[mid]; i++)
			cut[c[i].i] = true;
		ret = pic_rows_build(p, cut, false, rows);
		if (ret)
			goto out;
		if (rows->height <= budget)
			lo = mid;
		else
			hi = mid - 1;
	}
	lo = bound[lo];
	memset(cut, 0, nc * sizeof(*cut));
	for (i = 0; i < lo; i++)
		cut[c[i].i] = true;
	ret = 0;
	if (lo == nc) {
		ret = pic_rows_build(p, cut, true, rows);
		if (ret || rows->height <= budget)
			goto out;
	}
	ret = pic_rows_build(p, cut, false, rows);
out:
	free(c);
	free(bound);
	free(cut);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Text */

const char *pic_perm_color(const char *perms)
{
	if (!strncmp(perms, "---", 3))
		return "#d4d4d4";
	if (!strncmp(perms, "r--", 3))
		return "#74c476";
	if (!strncmp(perms, "rw-", 3))
		return "#6baed6";
	if (!strncmp(perms, "r-x", 3))
		return "#fd8d3c";
	if (!strncmp(perms, "rwx", 3))
		return "#e7298a";
	return "#9e9ac8";
}

const char *pic_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

const char *pic_marker_name(unsigned bit)
{
	switch (bit) {
	case PIC_MK_MMAP_BASE:
		return "mmap_base";
	case PIC_MK_START_BRK:
		return "start_brk";
	case PIC_MK_BRK:
		return "brk";
	}
	return "?";
}

/*
 * Width of @s in monospace cells, counted as the picture tests count it:
 * one per ASCII character, two per other character (wide or not).
 */
size_t pic_cells(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x80)
			n++;
		else if ((ch & 0xc0) != 0x80)
			n += 2;
	}
	return n;
}

/*
 * Copy @s into @dst, cut to at most @cells cells with "..." in place of
 * its end (or of its start if @keep_tail), on a character boundary.
 */
void pic_fit(char *dst, size_t cap, const char *s, size_t cells, bool keep_tail)
{
	size_t len = strlen(s), n = 0, i;

	if (pic_cells(s) <= cells && len < cap) {
		memcpy(dst, s, len + 1);
		return;
	}
	if (cells < 4 || cap < 8) {
		snprintf(dst, cap, "%s", cells >= 3 ? "..." : "");
		return;
	}
	if (!keep_tail) {
		for (i = 0; s[i] && i + 4 < cap;) {
			size_t w = (unsigned char)s[i] < 0x80 ? 1 : 2, l = 1;

			while (w == 2 &&
			       ((unsigned char)s[i + l] & 0xc0) == 0x80)
				l++;
			if (n + w > cells - 3 || i + l + 4 > cap)
				break;
			n += w;
			i += l;
		}
		memcpy(dst, s, i);
		memcpy(dst + i, "...", 4);
		return;
	}
	i = len;
	while (i > 0) {
		size_t j = i - 1, w;

		while (j > 0 && ((unsigned char)s[j] & 0xc0) == 0x80)
			j--;
		w = (unsigned char)s[j] < 0x80 ? 1 : 2;
		if (n + w > cells - 3 || len - j + 4 > cap)
			break;
		n += w;
		i = j;
	}
	memcpy(dst, "...", 3);
	memcpy(dst + 3, s + i, len - i + 1);
}

void pic_xml(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, out);
		}
	}
}

char *pic_count(uint64_t v, char *buf, size_t len)
{
	char d[32];
	size_t n = (size_t)snprintf(d, sizeof(d), "%llu",
				    (unsigned long long)v),
	       i, o = 0;

	for (i = 0; i < n && o + 2 < len; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = d[i];
	}
	buf[o] = 0;
	return buf;
}

char *pic_size(uint64_t bytes, char *buf, size_t len)
{
	return vmc_human_size(bytes, buf, len);
}

/* Flags worth a word in a label: all but the ones perms already say. */
static void pic_flag_words(const struct pic *p, const struct pic_band *b,
			   char *buf, size_t len)
{
	static const char *const quiet[] = {
		"private",  "shared", "anonymous", "account",
		"anon_vma", "stack",  "heap",	   NULL,
	};
	size_t k, i, n = 0;
	const json_t *f;

	buf[0] = 0;
	for (k = b->first; k < b->first + b->nr; k++) {
		json_array_foreach(p->vma[k].flags, i, f)
		{
			const char *s = json_string_value(f);
			size_t q;

			if (!s)
				continue;
			for (q = 0; quiet[q] && strcmp(quiet[q], s); q++)
				;
			if (quiet[q] || strstr(buf, s))
				continue;
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
					      "%s%s", n ? "," : "", s);
			if (n >= len) {
				buf[len - 1] = 0;
				return;
			}
		}
	}
}

/* "r--p r-xp r--p rw-p", or "r--p x3 rw-p" runs, for a band's VMAs. */
static void pic_perm_list(const struct pic *p, const struct pic_band *b,
			  char *buf, size_t len)
{
	size_t k, n = 0, run;

	buf[0] = 0;
	for (k = b->first; k < b->first + b->nr; k += run) {
		for (run = 1; b->nr > 6 && k + run < b->first + b->nr &&
			      !strcmp(p->vma[k + run].perms, p->vma[k].perms);
		     run++)
			;
		if (run > 1)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
					      "%s%zux%.4s", n ? " " : "", run,
					      p->vma[k].perms);
		else
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
					      "%s%.4s", n ? " " : "",
					      p->vma[k].perms);
		if (n >= len)
			return;
	}
}

char *pic_band_label(const struct pic *p, const struct pic_band *b, char *buf,
		     size_t len)
{
	const struct pic_vma *v = &p->vma[b->first];
	char sz[32], perms[128], flags[128], a[32], c[32], rss[48] = "";
	uint64_t none = 0, k, rss_pages = 0;

	pic_size(b->end - b->start, sz, sizeof(sz));
	pic_perm_list(p, b, perms, sizeof(perms));
	pic_flag_words(p, b, flags, sizeof(flags));
	for (k = b->first; k < b->first + b->nr; k++) {
		if (pic_none(&p->vma[k]))
			none += p->vma[k].end - p->vma[k].start;
		rss_pages += p->vma[k].rss_pages;
	}
	if (rss_pages)
		snprintf(rss, sizeof(rss), ", rss %s",
			 pic_size(rss_pages * 4096, a, sizeof(a)));
	switch (b->kind) {
	case PIC_FILE:
		snprintf(buf, len, "%s  %s  %s%s%s%s%s", pic_basename(v->file),
			 sz, perms, b->bss ? " (+bss)" : "", rss,
			 *flags ? "  " : "", flags);
		break;
	case PIC_NAMED:
		snprintf(buf, len, "%s  %s  %s%s%s%s", v->name, sz, perms, rss,
			 *flags ? "  " : "", flags);
		break;
	case PIC_STACK_GUARD:
		snprintf(buf, len, "thread stack?  %s %.4s + %s guard%s%s%s",
			 pic_size(p->vma[b->first + 1].end -
					  p->vma[b->first + 1].start,
				  a, sizeof(a)),
			 p->vma[b->first + 1].perms,
			 pic_size(v->end - v->start, c, sizeof(c)), rss,
			 *flags ? "  " : "", flags);
		break;
	case PIC_RESERVATION:
		snprintf(buf, len,
			 "reservation  %s ---p, %s committed  (%zu VMAs)%s%s%s",
			 pic_size(none, a, sizeof(a)),
			 pic_size(b->mapped - none, c, sizeof(c)), b->nr, rss,
			 *flags ? "  " : "", flags);
		break;
	case PIC_ANON:
		snprintf(buf, len, "anon  %s  %s%s%s%s", sz, perms, rss,
			 *flags ? "  " : "", flags);
		break;
	}
	return buf;
}

char *pic_cluster_label(const struct pic *p, const struct pic_row *r, char *buf,
			size_t len)
{
	size_t k, nvma = 0, top[2] = {SIZE_MAX, SIZE_MAX}, named = 0;
	uint64_t mapped = 0;
	char m[32], s[32], cnt[32], names[160] = "";

	for (k = r->b0; k < r->b0 + r->nb; k++) {
		const struct pic_band *b = &p->band[k];

		nvma += b->nr;
		mapped += b->mapped;
		if (b->kind != PIC_FILE && b->kind != PIC_NAMED)
			continue;
		named++;
		if (top[0] == SIZE_MAX || b->mapped > p->band[top[0]].mapped) {
			top[1] = top[0];
			top[0] = k;
		} else if (top[1] == SIZE_MAX ||
			   b->mapped > p->band[top[1]].mapped) {
			top[1] = k;
		}
	}
	for (k = 0; k < 2 && top[k] != SIZE_MAX; k++) {
		const struct pic_vma *v = &p->vma[p->band[top[k]].first];
		size_t n = strlen(names);

		snprintf(names + n, sizeof(names) - n, "%s%s", k ? ", " : "",
			 v->file ? pic_basename(v->file) : v->name);
	}
	if (named > 2) {
		size_t n = strlen(names);

		snprintf(names + n, sizeof(names) - n, " +%zu", named - 2);
	}
	snprintf(buf, len, "%s VMAs, %s mapped in %s%s%s",
		 pic_count(nvma, cnt, sizeof(cnt)),
		 pic_size(mapped, m, sizeof(m)),
		 pic_size(r->end - r->start, s, sizeof(s)), *names ? ": " : "",
		 names);
	return buf;
}
