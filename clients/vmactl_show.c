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
 * Both renderers work from one segment list built by vmactl_segments().
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

static const char *vmactl_perm_color(const char *perms)
{
	char p[4] = "---";

	if (perms && strlen(perms) >= 3)
		memcpy(p, perms, 3);
	if (!strcmp(p, "---"))
		return "#bdbdbd";
	if (!strcmp(p, "r--"))
		return "#74c476";
	if (!strcmp(p, "rw-"))
		return "#6baed6";
	if (!strcmp(p, "r-x"))
		return "#fd8d3c";
	if (!strcmp(p, "rwx"))
		return "#e7298a";
	return "#9e9ac8";
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

static void vmactl_svg_text(FILE *out, const char *s)
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

void vmactl_show_svg(FILE *out, const char *title, const json_t *vmas,
		     uint64_t guard)
{
	static const struct {
		const char *perms, *label;
	} legend[] = {
		{"r--", "r--"}, {"rw-", "rw-"}, {"r-x", "r-x"},
		{"rwx", "rwx"}, {"---", "---"}, {"-w-", "other"},
	};
	const double x0 = 150, bw = 220, lx = 390, top = 78;
	size_t n, i;
	struct vmactl_seg *seg = vmactl_segments(vmas, guard, &n);
	double *h = calloc(n ? n : 1, sizeof(double)), total = 0, y;
	char sz[32], gs[32];

	for (i = 0; i < n; i++) {
		double lp = vmactl_log_pages(seg[i].end - seg[i].start);

		h[i] = seg[i].kind == SEG_VMA ? 18 + 5 * lp : 10 + 2.5 * lp;
		if (seg[i].kind == SEG_GUARD_BAD && h[i] < 16)
			h[i] = 16;
		total += h[i];
	}
	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"860\" "
		"height=\"%.0f\" viewBox=\"0 0 860 %.0f\" "
		"font-family=\"DejaVu Sans Mono, monospace\" "
		"font-size=\"11\">\n"
		"<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" "
		"patternUnits=\"userSpaceOnUse\" "
		"patternTransform=\"rotate(45)\"><rect width=\"8\" "
		"height=\"8\" "
		"fill=\"#f2f2f2\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" "
		"stroke=\"#888\" stroke-width=\"3\"/></pattern>"
		"<pattern id=\"hatchbad\" width=\"8\" height=\"8\" "
		"patternUnits=\"userSpaceOnUse\" "
		"patternTransform=\"rotate(45)\"><rect width=\"8\" "
		"height=\"8\" "
		"fill=\"#fde0dd\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" "
		"stroke=\"#d7301f\" stroke-width=\"3\"/></pattern></defs>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		total + top + 40, total + top + 40);
	fprintf(out, "<text x=\"10\" y=\"22\" font-size=\"15\" "
		     "font-weight=\"bold\">");
	vmactl_svg_text(out, title);
	fprintf(out,
		" - %zu VMAs, log-scaled address axis (high addresses "
		"on top)</text>\n",
		json_array_size(vmas));
	for (i = 0; i < sizeof(legend) / sizeof(legend[0]); i++) {
		double lxp = 10 + (double)i * 80;

		fprintf(out,
			"<rect x=\"%.0f\" y=\"36\" width=\"14\" height=\"14\" "
			"fill=\"%s\" stroke=\"#333\"/><text x=\"%.0f\" "
			"y=\"47\">%s</text>\n",
			lxp, vmactl_perm_color(legend[i].perms), lxp + 18,
			legend[i].label);
	}
	fprintf(out,
		"<rect x=\"490\" y=\"36\" width=\"14\" height=\"14\" "
		"fill=\"url(#hatch)\" stroke=\"#333\"/><text x=\"508\" "
		"y=\"47\">guard gap</text>\n"
		"<rect x=\"590\" y=\"36\" width=\"14\" height=\"14\" "
		"fill=\"#ffffff\" stroke=\"#999\" stroke-dasharray=\"3,2\"/>"
		"<text x=\"608\" y=\"47\">gap</text>\n"
		"<text x=\"660\" y=\"47\">dashed border: shared</text>\n");
	if (!n)
		fprintf(out,
			"<text x=\"%.0f\" y=\"%.0f\">(no mappings)</text>\n",
			x0, top + 20);
	y = top;
	for (i = n; i-- > 0;) {
		struct vmactl_seg *s = &seg[i];
		double mid = y + h[i] / 2 + 4;

		vmc_human_size(s->end - s->start, sz, sizeof(sz));
		if (s->kind == SEG_VMA) {
			const char *perms = json_string_value(
				json_object_get(s->vma, "perms"));
			bool shared =
				perms && strlen(perms) >= 4 && perms[3] == 's';

			fprintf(out,
				"<rect x=\"%.0f\" y=\"%.1f\" width=\"%.0f\" "
				"height=\"%.1f\" fill=\"%s\" stroke=\"#222\"%s>"
				"<title>",
				x0, y, bw, h[i], vmactl_perm_color(perms),
				shared ? " stroke-dasharray=\"6,3\"" : "");
			fprintf(out, "%llx-%llx %s %s",
				(unsigned long long)s->start,
				(unsigned long long)s->end, perms ? perms : "?",
				sz);
			fprintf(out, "</title></rect>\n");
			fprintf(out,
				"<text x=\"%.0f\" y=\"%.1f\" "
				"text-anchor=\"middle\" font-weight=\"bold\">"
				"%s</text>\n",
				x0 + bw / 2, mid, perms ? perms : "?");
			fprintf(out,
				"<text x=\"%.0f\" y=\"%.1f\">%llx-%llx  %s  ",
				lx, mid, (unsigned long long)s->start,
				(unsigned long long)s->end, sz);
			vmactl_svg_text(out, vmactl_vma_label(s->vma));
			fprintf(out, "</text>\n");
			/* Address ticks at both edges. */
			fprintf(out,
				"<text x=\"%.0f\" y=\"%.1f\" "
				"text-anchor=\"end\" fill=\"#555\" "
				"font-size=\"9\">%llx</text>\n",
				x0 - 6, y + h[i] - 1,
				(unsigned long long)s->start);
		} else if (s->kind == SEG_GAP) {
			fprintf(out,
				"<rect x=\"%.0f\" y=\"%.1f\" width=\"%.0f\" "
				"height=\"%.1f\" fill=\"#ffffff\" "
				"stroke=\"#999\" stroke-dasharray=\"3,2\"/>\n",
				x0 + 20, y, bw - 40, h[i]);
			fprintf(out,
				"<text x=\"%.0f\" y=\"%.1f\" fill=\"#777\" "
				"font-style=\"italic\">gap %s</text>\n",
				lx, mid, sz);
		} else {
			bool bad = s->kind == SEG_GUARD_BAD;

			vmc_human_size(s->want, gs, sizeof(gs));
			fprintf(out,
				"<rect x=\"%.0f\" y=\"%.1f\" width=\"%.0f\" "
				"height=\"%.1f\" fill=\"url(#%s)\" "
				"stroke=\"%s\"/>\n",
				x0, y, bw, h[i], bad ? "hatchbad" : "hatch",
				bad ? "#d7301f" : "#888");
			fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" fill=\"%s\">",
				lx, mid, bad ? "#d7301f" : "#555");
			if (bad)
				fprintf(out,
					"guard gap %s &lt; %s: the stack "
					"cannot grow here",
					sz, gs);
			else
				fprintf(out, "stack guard gap %s", sz);
			fprintf(out, "</text>\n");
		}
		y += h[i];
	}
	if (n)
		fprintf(out,
			"<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" "
			"fill=\"#555\" font-size=\"9\">%llx</text>\n",
			x0 - 6, top + 8, (unsigned long long)seg[n - 1].end);
	fprintf(out, "</svg>\n");
	free(h);
	free(seg);
}
