// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl show --svg - the picture of a space as SVG
 *
 * Draws the rows of pic_layout() on a canvas of fixed width (SVG_W) and at
 * most SVG_H_MAX pixels high, whatever the number of VMAs. From left to
 * right: the address axis (hex addresses at row edges, a break mark where
 * a gap is compressed), the bars (one per band, striped by its VMAs'
 * permissions; clusters as a bar of their permission mix), and the labels.
 * Every label is cut to the width left for it, measured in monospace cells
 * (PIC_CHAR_W ems each, two cells for a non-ASCII character), so that no
 * text leaves the canvas; tests/picture checks that on the SVG itself.
 */
#include "vmactl_pic.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SVG_W	   1000.0
#define SVG_H_MAX  1800.0
#define SVG_TOP	   84.0 /* rows start here */
#define SVG_FOOT   78.0 /* scale and notes below the rows */
#define AX_LABEL_R 116.0
#define AX_X	   122.0
#define BAR_X	   130.0
#define BAR_W	   210.0
#define LBL_X	   352.0
#define LBL_R	   (SVG_W - 8.0)
#define FS	   11.0 /* label font size */
#define FS_SMALL   9.0
#define MK_COLOR   "#7b3294"
#define BAD_COLOR  "#d7301f"

/* Cells of @fs-pixel text that fit between @x and @right. */
static size_t svg_cells(double x, double right, double fs)
{
	double n = (right - x) / (PIC_CHAR_W * fs);

	return n > 0 ? (size_t)n : 0;
}

/*
 * One <text> element holding @s cut to fit in [x, right); with @bold_head,
 * the part before the first two spaces (a band's name) is bold.
 */
static void svg_text_head(FILE *out, double x, double y, double right,
			  double fs, const char *attrs, const char *s,
			  bool bold_head)
{
	char buf[1024], *sep;

	pic_fit(buf, sizeof(buf), s, svg_cells(x, right, fs), false);
	if (!*buf)
		return;
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\"%s%s>", x,
		y, fs, *attrs ? " " : "", attrs);
	sep = bold_head ? strstr(buf, "  ") : NULL;
	if (sep) {
		*sep = 0;
		fputs("<tspan font-weight=\"bold\">", out);
		pic_xml(out, buf);
		fputs("</tspan>", out);
		*sep = ' ';
		pic_xml(out, sep);
	} else {
		pic_xml(out, buf);
	}
	fputs("</text>\n", out);
}

static void svg_text(FILE *out, double x, double y, double right, double fs,
		     const char *attrs, const char *s, bool keep_tail)
{
	(void)keep_tail;
	svg_text_head(out, x, y, right, fs, attrs, s, false);
}

/* The y of address @a inside row @r (linear within the row). */
static double svg_y_in(const struct pic_row *r, uint64_t a)
{
	double f = r->end > r->start
			   ? (double)(r->end - a) / (double)(r->end - r->start)
			   : 0.5;

	return SVG_TOP + r->y + f * r->h;
}

static void svg_title_lines(FILE *out, const struct pic *p,
			    const struct pic_band *b)
{
	size_t k, shown = 0;
	char line[512];

	fputs("<title>", out);
	for (k = b->first; k < b->first + b->nr && shown < 24; k++, shown++) {
		const struct pic_vma *v = &p->vma[k];

		if (v->line)
			snprintf(line, sizeof(line), "%.*s", (int)v->line_len,
				 v->line);
		else
			snprintf(line, sizeof(line), "%llx-%llx %s",
				 (unsigned long long)v->start,
				 (unsigned long long)v->end, v->perms);
		pic_xml(out, line);
		fputc('\n', out);
	}
	if (b->nr > shown)
		fprintf(out, "... %zu more", b->nr - shown);
	fputs("</title>", out);
}

static void svg_marker_lines(FILE *out, const struct pic *p,
			     const struct pic_row *r, char *note, size_t len)
{
	unsigned i;
	size_t n = strlen(note);

	for (i = 0; i < PIC_NR_MARKERS; i++) {
		double y;

		if (!(r->markers & (1u << i)))
			continue;
		y = svg_y_in(r, p->mk[i]);
		fprintf(out,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			"stroke=\"" MK_COLOR "\" stroke-width=\"2\" "
			"stroke-dasharray=\"5,2\"/>\n",
			AX_X - 4, y, BAR_X + BAR_W + 4, y);
		n += (size_t)snprintf(note + n, n < len ? len - n : 0,
				      "  [%s inside]",
				      pic_marker_name(1u << i));
	}
}

/* A band: its VMAs stacked top down, each at least 2 px high. */
static void svg_band(FILE *out, const struct pic *p, const struct pic_row *r)
{
	const struct pic_band *b = &p->band[r->b0];
	double y = SVG_TOP + r->y, h = r->h, wsum = 0, sh, yy;
	char label[1024], seg[160], sz[32], off[48];
	bool shared = false;
	size_t k;

	for (k = b->first; k < b->first + b->nr; k++) {
		const struct pic_vma *v = &p->vma[k];

		wsum += 1.0 + log2((double)(v->end - v->start) / 4096.0 + 1.0);
		shared |= v->perms[3] == 's';
	}
	fputs("<g>", out);
	svg_title_lines(out, p, b);
	yy = y;
	for (k = b->first + b->nr; k-- > b->first;) {
		const struct pic_vma *v = &p->vma[k];
		bool none = !strncmp(v->perms, "---", 3);

		if (r->expanded)
			sh = PIC_SUBROW_H;
		else
			sh = (h - 2.0 * (double)b->nr) *
				     (1.0 + log2((double)(v->end - v->start) /
							 4096.0 +
						 1.0)) /
				     wsum +
			     2.0;
		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" "
			"height=\"%.2f\" fill=\"%s\"/>",
			BAR_X, yy, BAR_W, sh,
			none ? "url(#none)" : pic_perm_color(v->perms));
		if (r->expanded) {
			pic_size(v->end - v->start, sz, sizeof(sz));
			off[0] = 0;
			if (v->file)
				snprintf(off, sizeof(off), " @%llx",
					 (unsigned long long)v->offset);
			snprintf(seg, sizeof(seg), "%.4s %6s%s", v->perms, sz,
				 off);
			fputc('\n', out);
			svg_text(out, LBL_X, yy + sh / 2 + 0.35 * FS,
				 LBL_X + 24 * PIC_CHAR_W * FS, FS, "", seg,
				 false);
			if (k + 1 < b->first + b->nr)
				fprintf(out,
					"<line x1=\"%.1f\" y1=\"%.2f\" "
					"x2=\"%.1f\" y2=\"%.2f\" "
					"stroke=\"#ffffff\" "
					"stroke-width=\"1\"/>",
					BAR_X, yy, BAR_X + BAR_W, yy);
		}
		yy += sh;
	}
	fprintf(out,
		"<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" "
		"fill=\"none\" stroke=\"#222\"%s/></g>\n",
		BAR_X, y, BAR_W, h, shared ? " stroke-dasharray=\"6,3\"" : "");
	pic_band_label(p, b, label, sizeof(label));
	svg_marker_lines(out, p, r, label, sizeof(label));
	if (r->expanded) {
		double x = LBL_X + 25 * PIC_CHAR_W * FS;

		fprintf(out,
			"<path d=\"M%.1f %.2f h4 V%.2f h-4\" fill=\"none\" "
			"stroke=\"#555\"/>\n",
			x, y + 2, y + h - 2);
		svg_text_head(out, x + 10, y + PIC_SUBROW_H / 2 + 0.35 * FS,
			      LBL_R, FS, "", label, true);
	} else {
		svg_text_head(out, LBL_X, y + h / 2 + 0.35 * FS, LBL_R, FS, "",
			      label, true);
	}
}

/* A cluster: a bar of its permission mix (by bytes), on a card stack. */
static void svg_cluster(FILE *out, const struct pic *p, const struct pic_row *r)
{
	static const char *const classes[] = {"r--", "rw-", "r-x",
					      "rwx", "---", NULL};
	uint64_t bytes[6] = {0}, total = 0;
	double y = SVG_TOP + r->y, h = r->h, x = BAR_X;
	char label[512], head[160];
	size_t k, v, c;

	for (k = r->b0; k < r->b0 + r->nb; k++) {
		const struct pic_band *b = &p->band[k];

		for (v = b->first; v < b->first + b->nr; v++) {
			const struct pic_vma *m = &p->vma[v];

			for (c = 0;
			     classes[c] && strncmp(classes[c], m->perms, 3);
			     c++)
				;
			bytes[c] += m->end - m->start;
			total += m->end - m->start;
		}
	}
	fprintf(out,
		"<g><title>%zu bands, %llx-%llx</title>"
		"<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" "
		"fill=\"#f4f4f4\" stroke=\"#999\"/>",
		r->nb, (unsigned long long)r->start, (unsigned long long)r->end,
		BAR_X + 5, y + 4, BAR_W - 5, h - 4);
	for (c = 0; c < 6; c++) {
		double w;

		if (!bytes[c])
			continue;
		w = fmax(1.0, BAR_W * 0.96 * (double)bytes[c] / (double)total);
		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" "
			"height=\"%.2f\" fill=\"%s\"/>",
			x, y + 1, w, h - 6,
			c == 4 ? "url(#none)"
			       : pic_perm_color(classes[c] ? classes[c]
							   : "-w-"));
		x += w;
	}
	fprintf(out,
		"<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" "
		"fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\"/></g>\n",
		BAR_X, y + 1, BAR_W - 4, h - 6);
	snprintf(head, sizeof(head), "cluster of %s bands",
		 pic_count(r->nb, label, sizeof(label)));
	pic_cluster_label(p, r, label, sizeof(label));
	svg_marker_lines(out, p, r, label, sizeof(label));
	svg_text(out, LBL_X, y + h / 2 - 2, LBL_R, FS, "font-weight=\"bold\"",
		 head, false);
	svg_text(out, LBL_X, y + h / 2 + 10, LBL_R, FS_SMALL + 1,
		 "fill=\"#333\"", label, false);
}

static void svg_gap(FILE *out, const struct pic *p, const struct pic_row *r)
{
	double y = SVG_TOP + r->y, h = r->h;
	char sz[32], want[32], label[160];
	bool bad = r->kind == PIC_ROW_GUARD_BAD;

	pic_size(r->end - r->start, sz, sizeof(sz));
	if (r->kind == PIC_ROW_GAP) {
		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" "
			"height=\"%.2f\" fill=\"#fbfbfb\" stroke=\"#bbb\" "
			"stroke-dasharray=\"3,2\"><title>gap %llx-%llx "
			"%s</title></rect>\n",
			BAR_X + 30, y + 1, BAR_W - 60, h - 2,
			(unsigned long long)r->start,
			(unsigned long long)r->end, sz);
		snprintf(label, sizeof(label), "gap %s", sz);
		svg_text(out, LBL_X, y + h / 2 + 0.35 * FS_SMALL, LBL_R,
			 FS_SMALL, "fill=\"#777\" font-style=\"italic\"", label,
			 false);
	} else {
		pic_size(p->lay.guard, want, sizeof(want));
		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" "
			"height=\"%.2f\" fill=\"url(#%s)\" stroke=\"%s\"/>\n",
			BAR_X, y + 1, BAR_W, h - 2, bad ? "hatchbad" : "hatch",
			bad ? BAD_COLOR : "#888");
		if (bad)
			snprintf(label, sizeof(label),
				 "guard gap %s < %s: the stack cannot grow "
				 "here",
				 sz, want);
		else
			snprintf(label, sizeof(label), "stack guard gap %s",
				 sz);
		svg_text(out, LBL_X, y + h / 2 + 0.35 * FS, LBL_R, FS,
			 bad ? "fill=\"" BAD_COLOR "\" font-weight=\"bold\""
			     : "fill=\"#555\"",
			 label, false);
	}
	/* A break in the axis: this gap is not drawn to scale. */
	if (h >= 12 && r->end > r->start)
		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.2f\" width=\"10\" height=\"4\" "
			"fill=\"white\"/><path d=\"M%.1f %.2f l10 -3 M%.1f "
			"%.2f l10 -3\" stroke=\"#333\"/>\n",
			AX_X - 5, y + h / 2 - 2, AX_X - 5, y + h / 2 - 0.5,
			AX_X - 5, y + h / 2 + 3.5);
}

static void svg_marker(FILE *out, const struct pic *p, const struct pic_row *r)
{
	double y = SVG_TOP + r->y + r->h / 2;
	char label[160];
	size_t n = 0;
	unsigned i;

	for (i = 0; i < PIC_NR_MARKERS; i++)
		if (r->markers & (1u << i))
			n += (size_t)snprintf(label + n, sizeof(label) - n,
					      "%s%s", n ? " = " : "",
					      pic_marker_name(1u << i));
	snprintf(label + n, sizeof(label) - n, "  %llx",
		 (unsigned long long)r->start);
	(void)p;
	fprintf(out,
		"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		"stroke=\"" MK_COLOR "\" stroke-width=\"2\" "
		"stroke-dasharray=\"5,2\"/>"
		"<path d=\"M%.1f %.1f l-7 -4 v8 z\" fill=\"" MK_COLOR "\"/>\n",
		AX_X - 4, y, BAR_X + BAR_W + 4, y, LBL_X - 2, y);
	svg_text(out, LBL_X + 2, y + 0.35 * 10, LBL_R, 10,
		 "fill=\"" MK_COLOR "\" font-weight=\"bold\"", label, false);
}

/* Hex addresses at row edges, at least 11 px apart; 0 at the bottom. */
static void svg_axis(FILE *out, const struct pic_rows *rows)
{
	double last = -100, bottom = SVG_TOP + rows->height;
	char a[32];
	size_t i;

	fprintf(out,
		"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		"stroke=\"#333\"/>\n",
		AX_X, SVG_TOP, AX_X, bottom);
	for (i = 0; i <= rows->nr; i++) {
		const struct pic_row *r = i < rows->nr ? &rows->v[i] : NULL;
		double y = r ? SVG_TOP + r->y : bottom;
		uint64_t at = r ? r->end : 0;

		if (r && r->kind == PIC_ROW_MARKER)
			continue;
		if (y - last < 11 || (!r && bottom - last < 11 && i))
			continue;
		if (i == rows->nr && bottom - last < 11)
			continue;
		snprintf(a, sizeof(a), "%llx", (unsigned long long)at);
		fprintf(out,
			"<line x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\" "
			"stroke=\"#333\"/>",
			AX_X - 4, y, AX_X, y);
		svg_text(out, AX_LABEL_R - pic_cells(a) * PIC_CHAR_W * FS_SMALL,
			 y + 0.35 * FS_SMALL, AX_LABEL_R + 1, FS_SMALL,
			 "fill=\"#444\"", a, false);
		last = y;
	}
}

static void svg_header(FILE *out, const struct pic *p,
		       const struct pic_rows *rows, double height)
{
	static const struct {
		const char *fill, *label;
	} legend[] = {
		{"#74c476", "r--"},
		{"#6baed6", "rw-"},
		{"#fd8d3c", "r-x"},
		{"#e7298a", "rwx"},
		{"url(#none)", "--- (PROT_NONE)"},
		{"#9e9ac8", "other"},
		{"url(#hatch)", "stack guard gap"},
	};
	char line[512], m[32], t[32], b[32];
	uint64_t mapped = 0;
	double x = 10;
	size_t i, clusters = 0;

	for (i = 0; i < p->nr_band; i++)
		mapped += p->band[i].mapped;
	for (i = 0; i < rows->nr; i++)
		clusters += rows->v[i].kind == PIC_ROW_CLUSTER;
	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" "
		"xml:space=\"preserve\" width=\"%.0f\" "
		"height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
		"font-family=\"DejaVu Sans Mono, monospace\">\n"
		"<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" "
		"patternUnits=\"userSpaceOnUse\" "
		"patternTransform=\"rotate(45)\"><rect width=\"8\" "
		"height=\"8\" fill=\"#f2f2f2\"/><line x1=\"0\" y1=\"0\" "
		"x2=\"0\" y2=\"8\" stroke=\"#888\" stroke-width=\"3\"/>"
		"</pattern><pattern id=\"hatchbad\" width=\"8\" height=\"8\" "
		"patternUnits=\"userSpaceOnUse\" "
		"patternTransform=\"rotate(45)\"><rect width=\"8\" "
		"height=\"8\" fill=\"#fde0dd\"/><line x1=\"0\" y1=\"0\" "
		"x2=\"0\" y2=\"8\" stroke=\"" BAD_COLOR "\" "
		"stroke-width=\"3\"/></pattern><pattern id=\"none\" "
		"width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
		"patternTransform=\"rotate(-45)\"><rect width=\"6\" "
		"height=\"6\" fill=\"#e6e6e6\"/><line x1=\"0\" y1=\"0\" "
		"x2=\"0\" y2=\"6\" stroke=\"#b0b0b0\" stroke-width=\"1.5\"/>"
		"</pattern></defs>\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		SVG_W, height, SVG_W, height);
	snprintf(line, sizeof(line), "%s: %s VMAs in %s bands, %s mapped",
		 p->title, pic_count(p->nr_vma, t, sizeof(t)),
		 pic_count(p->nr_band, b, sizeof(b)),
		 pic_size(mapped, m, sizeof(m)));
	svg_text(out, 10, 22, LBL_R, 15, "font-weight=\"bold\"", line, false);
	snprintf(line, sizeof(line),
		 "the whole space, 0 to %s (%llx), high addresses on top; "
		 "gaps compressed to log2 of their size%s",
		 pic_size(p->top, t, sizeof(t)), (unsigned long long)p->top,
		 clusters ? "; grey-edged rows are clusters" : "");
	svg_text(out, 10, 40, LBL_R, 10, "fill=\"#444\"", line, false);
	for (i = 0; i < sizeof(legend) / sizeof(legend[0]); i++) {
		fprintf(out,
			"<rect x=\"%.1f\" y=\"52\" width=\"14\" height=\"14\" "
			"fill=\"%s\" stroke=\"#333\"/>",
			x, legend[i].fill);
		svg_text(out, x + 18, 63, LBL_R, 10, "", legend[i].label,
			 false);
		x += 18 + pic_cells(legend[i].label) * PIC_CHAR_W * 10 + 14;
	}
	fprintf(out,
		"<line x1=\"%.1f\" y1=\"59\" x2=\"%.1f\" y2=\"59\" "
		"stroke=\"" MK_COLOR "\" stroke-width=\"2\" "
		"stroke-dasharray=\"5,2\"/>",
		x, x + 18);
	svg_text(out, x + 22, 63, LBL_R, 10, "", "marker", false);
	x += 22 + 6 * PIC_CHAR_W * 10 + 14;
	fprintf(out,
		"<rect x=\"%.1f\" y=\"52\" width=\"14\" height=\"14\" "
		"fill=\"none\" stroke=\"#222\" stroke-dasharray=\"4,2\"/>",
		x);
	svg_text(out, x + 18, 63, LBL_R, 10, "", "shared", false);
}

/* A scale: the height a gap of 4K, 1M, 1G, 1T gets. */
static void svg_footer(FILE *out, const struct pic_rows *rows, double height)
{
	static const struct {
		const char *label;
		double pages;
	} scale[] = {{"4K", 1}, {"1M", 256}, {"1G", 262144}, {"1T", 268435456}};
	double base = height - 12, x = BAR_X;
	size_t i, clusters = 0;

	for (i = 0; i < rows->nr; i++)
		clusters += rows->v[i].kind == PIC_ROW_CLUSTER;
	svg_text(out, 10, base - 2, BAR_X - 4, 10, "fill=\"#444\"",
		 "gap heights:", false);
	for (i = 0; i < 4; i++) {
		double h = PIC_GAP_H(scale[i].pages);

		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" "
			"height=\"%.1f\" fill=\"#fbfbfb\" stroke=\"#bbb\" "
			"stroke-dasharray=\"3,2\"/>",
			x, base - h, h);
		svg_text(out, x + 20, base - 2, LBL_R, 10, "fill=\"#444\"",
			 scale[i].label, false);
		x += 60;
	}
	if (clusters)
		svg_text(out, LBL_X, base - 18, LBL_R, 10, "fill=\"#444\"",
			 "clusters: bands between small gaps, summarised to "
			 "fit the canvas;",
			 false);
	svg_text(out, LBL_X, base - 4, LBL_R, 10, "fill=\"#444\"",
		 clusters ? "zoom in with: vmactl show SPACE --html FILE"
			  : "vmactl show SPACE --html FILE: zoom and hover",
		 false);
}

int vmactl_show_svg(FILE *out, const char *title, const json_t *maps,
		    const struct vmactl_space_layout *l)
{
	struct pic p;
	struct pic_rows rows;
	double height;
	size_t i;
	int ret = pic_new(&p, title, maps, l);

	if (ret)
		return ret;
	ret = pic_layout(&p, SVG_H_MAX - SVG_TOP - SVG_FOOT, &rows);
	if (ret)
		goto out;
	height = ceil(SVG_TOP + rows.height + SVG_FOOT);
	svg_header(out, &p, &rows, height);
	for (i = 0; i < rows.nr; i++) {
		const struct pic_row *r = &rows.v[i];

		switch (r->kind) {
		case PIC_ROW_BAND:
			svg_band(out, &p, r);
			break;
		case PIC_ROW_CLUSTER:
			svg_cluster(out, &p, r);
			break;
		case PIC_ROW_GAP:
		case PIC_ROW_GUARD:
		case PIC_ROW_GUARD_BAD:
			svg_gap(out, &p, r);
			break;
		case PIC_ROW_MARKER:
			svg_marker(out, &p, r);
			break;
		}
	}
	svg_axis(out, &rows);
	svg_footer(out, &rows, height);
	fputs("</svg>\n", out);
	free(rows.v);
out:
	pic_free(&p);
	return ret;
}
