// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl show - pictures of an address space
 *
 * An address space spans 2^47 bytes while its VMAs can be one page, so a
 * linear axis shows nothing. The picture is a vertical address axis, high
 * addresses on top as in the classic memory-layout drawings, cut into
 * segments (VMAs and the gaps between them) whose heights grow with the
 * logarithm of their sizes: a page and a gigabyte are both visible and
 * their order of magnitude can be read off the picture.
 *
 * VMAs are coloured by permissions and labelled with their range, perms,
 * size and name. Gaps are grey and labelled with their size. Below a
 * growsdown VMA (above a growsup one) the stack guard gap is drawn hatched;
 * when the neighbour is closer than the guard gap the hatch turns red and
 * the label says the stack cannot grow.
 *
 * The text renderer works from a segment list built by vmactl_segments();
 * the SVG and HTML pictures from the model in vmactl_pic.c.
 */
#include "vmactl.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmc.h"

enum vmactl_seg_kind {
	SEG_VMA,
	SEG_GAP,
	SEG_GUARD,     /* part of a gap that is a stack guard gap */
	SEG_GUARD_BAD, /* guard gap narrower than configured: growth blocked */
};

struct vmactl_seg {
	enum vmactl_seg_kind kind;
	uint64_t start, end;
	const json_t *vma; /* SEG_VMA */
	uint64_t want;	   /* SEG_GUARD*: configured guard gap */
};

static uint64_t vmactl_get(const json_t *o, const char *k)
{
	uint64_t v = 0;

	vmc_json_u64(json_object_get(o, k), &v);
	return v;
}

static bool vmactl_has_flag(const json_t *vma, const char *flag)
{
	size_t i;
	const json_t *f;

	json_array_foreach(
		json_object_get(vma, "flags"), i,
		f) if (json_is_string(f) &&
		       !strcmp(json_string_value(f), flag)) return true;
	return false;
}

static void vmactl_push(struct vmactl_seg **v, size_t *n, size_t *cap,
			struct vmactl_seg s)
{
	if (s.end <= s.start && s.kind != SEG_GUARD_BAD)
		return;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = realloc(*v, *cap * sizeof(**v));
		if (!*v)
			abort();
	}
	(*v)[(*n)++] = s;
}

/*
 * Fill a gap [lo, hi) between @below and @above (either may be NULL),
 * marking guard gaps of growsdown VMAs above and growsup VMAs below.
 */
static void vmactl_gap(struct vmactl_seg **v, size_t *n, size_t *cap,
		       const json_t *below, const json_t *above, uint64_t lo,
		       uint64_t hi, uint64_t guard)
{
	bool down = above && vmactl_has_flag(above, "growsdown");
	bool up = below && vmactl_has_flag(below, "growsup");
	uint64_t gs, ge;

	if (!guard || (!down && !up)) {
		vmactl_push(v, n, cap,
			    (struct vmactl_seg){SEG_GAP, lo, hi, NULL, 0});
		return;
	}
	if (down) {
		bool bad = below && hi - lo < guard;

		gs = hi - lo > guard ? hi - guard : lo;
		vmactl_push(v, n, cap,
			    (struct vmactl_seg){SEG_GAP, lo, gs, NULL, 0});
		vmactl_push(v, n, cap,
			    (struct vmactl_seg){bad ? SEG_GUARD_BAD : SEG_GUARD,
						gs, hi, NULL, guard});
		return;
	}
	{
		bool bad = above && hi - lo < guard;

		ge = hi - lo > guard ? lo + guard : hi;
		vmactl_push(v, n, cap,
			    (struct vmactl_seg){bad ? SEG_GUARD_BAD : SEG_GUARD,
						lo, ge, NULL, guard});
		vmactl_push(v, n, cap,
			    (struct vmactl_seg){SEG_GAP, ge, hi, NULL, 0});
	}
}

/* Segments in ascending address order. */
static struct vmactl_seg *vmactl_segments(const json_t *vmas, uint64_t guard,
					  size_t *nr)
{
	struct vmactl_seg *v = NULL;
	size_t n = 0, cap = 0, i;
	const json_t *vma, *prev = NULL;

	json_array_foreach(vmas, i, vma)
	{
		uint64_t s = vmactl_get(vma, "start"),
			 e = vmactl_get(vma, "end");

		if (prev)
			vmactl_gap(&v, &n, &cap, prev, vma,
				   vmactl_get(prev, "end"), s, guard);
		else if (vmactl_has_flag(vma, "growsdown") && guard &&
			 s >= guard)
			vmactl_gap(&v, &n, &cap, NULL, vma, s - guard, s,
				   guard);
		vmactl_push(&v, &n, &cap,
			    (struct vmactl_seg){SEG_VMA, s, e, vma, 0});
		prev = vma;
	}
	if (prev && vmactl_has_flag(prev, "growsup") && guard) {
		uint64_t e = vmactl_get(prev, "end");

		vmactl_gap(&v, &n, &cap, prev, NULL, e, e + guard, guard);
	}
	*nr = n;
	return v;
}

static double vmactl_log_pages(uint64_t bytes)
{
	double pages = (double)bytes / 4096.0;

	return pages < 1 ? 0 : log2(pages);
}

static const char *vmactl_perm_ansi(const char *perms)
{
	char p[4] = "---";

	if (perms && strlen(perms) >= 3)
		memcpy(p, perms, 3);
	if (!strcmp(p, "---"))
		return "\033[90m";
	if (!strcmp(p, "r--"))
		return "\033[32m";
	if (!strcmp(p, "rw-"))
		return "\033[34m";
	if (!strcmp(p, "r-x"))
		return "\033[33m";
	if (!strcmp(p, "rwx"))
		return "\033[35m";
	return "\033[36m";
}

static const char *vmactl_vma_label(const json_t *vma)
{
	const char *name = json_string_value(json_object_get(vma, "name"));
	const char *file = json_string_value(json_object_get(vma, "file"));

	return name ? name : file ? file : "";
}

void vmactl_show_text(FILE *out, const json_t *vmas, uint64_t guard, int color)
{
	size_t n, i;
	struct vmactl_seg *seg = vmactl_segments(vmas, guard, &n);
	char sz[32];

	if (!n)
		fprintf(out, "(no mappings)\n");
	for (i = n; i-- > 0;) {
		struct vmactl_seg *s = &seg[i];
		int bar = 1 + (int)(vmactl_log_pages(s->end - s->start) + 0.5);
		char bars[64];
		int k;

		if (bar > 40)
			bar = 40;
		vmc_human_size(s->end - s->start, sz, sizeof(sz));
		if (s->kind == SEG_VMA) {
			const char *perms = json_string_value(
				json_object_get(s->vma, "perms"));

			for (k = 0; k < bar; k++)
				bars[k] = '#';
			bars[bar] = 0;
			fprintf(out, "%012llx-%012llx %-4s %7s %s%-40s%s %s\n",
				(unsigned long long)s->start,
				(unsigned long long)s->end, perms ? perms : "?",
				sz, color ? vmactl_perm_ansi(perms) : "", bars,
				color ? "\033[0m" : "",
				vmactl_vma_label(s->vma));
			continue;
		}
		bar = bar > 12 ? 12 : bar;
		for (k = 0; k < bar; k++)
			bars[k] = s->kind == SEG_GAP ? '.' : '/';
		bars[bar] = 0;
		if (s->kind == SEG_GAP) {
			fprintf(out, "%25s %-4s %7s %-40s\n", "", "gap", sz,
				bars);
		} else {
			char want[32];

			vmc_human_size(s->want, want, sizeof(want));
			fprintf(out, "%25s %-4s %7s %s%-40s%s %s%s\n", "",
				"gap", sz, color ? "\033[31m" : "", bars,
				color ? "\033[0m" : "",
				s->kind == SEG_GUARD ? "guard gap "
						     : "guard gap too small, "
						       "needs ",
				want);
		}
	}
	free(seg);
}

void vmactl_show_layout(struct vmc_conn *conn, const json_t *space,
			struct vmactl_space_layout *l)
{
	json_t *resp = NULL, *params, *sp, *r;
	uint64_t v;
	size_t i;

	memset(l, 0, sizeof(*l));
	l->guard = 256 * 4096;
	if (!vmc_call(conn, "space.list", NULL, &resp)) {
		r = json_object_get(json_object_get(resp, "result"), "spaces");
		json_array_foreach(r, i, sp)
		{
			json_t *id = json_object_get(sp, "space");

			if (!(json_is_integer(space) &&
			      json_equal(id, space)) &&
			    !(json_is_string(space) &&
			      json_equal(json_object_get(sp, "name"), space)))
				continue;
			if (!vmc_json_u64(json_object_get(sp, "task_size"), &v))
				l->task_size = v;
			if (!vmc_json_u64(json_object_get(sp, "mmap_base"),
					  &v)) {
				l->mmap_base = v;
				l->has_mmap_base = true;
			}
			if (!vmc_json_u64(
				    json_object_get(sp, "stack_guard_gap"),
				    &v) &&
			    v < (1ull << 36))
				l->guard = v * 4096;
		}
	}
	json_decref(resp);
	resp = NULL;
	params = json_pack("{sO}", "space", space);
	if (params && !vmc_call(conn, "stats", params, &resp)) {
		r = json_object_get(resp, "result");
		if (!vmc_json_u64(json_object_get(r, "brk"), &l->brk)) {
			l->has_brk = true;
			/* A daemon without start_brk: mark brk only. */
			if (vmc_json_u64(json_object_get(r, "start_brk"),
					 &l->start_brk))
				l->start_brk = l->brk;
		}
	}
	json_decref(resp);
}
