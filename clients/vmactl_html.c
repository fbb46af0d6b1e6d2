// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl show --html - an interactive picture in one file
 *
 * The page holds everything it needs: the style, the script
 * (vmactl_show.js, embedded at build time) and the space as JSON in a
 * <script type="application/json"> element. Its Content-Security-Policy
 * allows nothing to be fetched (default-src 'none'): no network, no
 * external script, style or font.
 *
 * The data is compact so that a space of 65,530 VMAs stays a few MB:
 * each VMA is five integers (the gap before it and its length in pages,
 * an index into a table of distinct (perms, file, name, flags, device and
 * inode) tuples, its offset in pages, its resident pages); each band four
 * (kind, first VMA, number of VMAs, bss). Addresses stay below 2^53, so
 * the script computes on them exactly with plain numbers.
 *
 * Strings are written as JSON with <, > and & escaped as \u00XX, so that
 * no file name can end the <script> element.
 */
#include "vmactl_pic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmactl_show_js.h"

static void html_json_str(FILE *out, const char *s, size_t len)
{
	size_t i;

	fputc('"', out);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&')
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void html_json_cstr(FILE *out, const char *s)
{
	if (s)
		html_json_str(out, s, strlen(s));
	else
		fputs("null", out);
}

/* "dev inode" of a maps line ("00:00 0" when there is none). */
static void html_devino(const struct pic_vma *v, char *buf, size_t len)
{
	const char *s = v->line, *end = v->line ? v->line + v->line_len : NULL;
	const char *tok[5];
	size_t n = 0, tl[5];

	snprintf(buf, len, "00:00 0");
	while (s && s < end && n < 5) {
		while (s < end && *s == ' ')
			s++;
		if (s >= end)
			break;
		tok[n] = s;
		while (s < end && *s != ' ')
			s++;
		tl[n] = (size_t)(s - tok[n]);
		n++;
	}
	if (n == 5)
		snprintf(buf, len, "%.*s %.*s", (int)tl[3], tok[3], (int)tl[4],
			 tok[4]);
}

/*
 * The key of @v's attribute tuple in the table: its members joined by
 * \x1f (which no name holds: file and VMA names are printable).
 */
static int html_attr_key(const struct pic_vma *v, char *buf, size_t len)
{
	char devino[64];
	size_t i, n;
	const json_t *f;
	int w;

	html_devino(v, devino, sizeof(devino));
	w = snprintf(buf, len, "%.4s\x1f%s\x1f%s\x1f%s\x1f", v->perms,
		     v->file ? v->file : "\x1e", v->name ? v->name : "\x1e",
		     devino);
	if (w < 0 || (size_t)w >= len)
		return -ENAMETOOLONG;
	n = (size_t)w;
	json_array_foreach(v->flags, i, f)
	{
		w = snprintf(buf + n, len - n, "%s,",
			     json_is_string(f) ? json_string_value(f) : "?");
		if (w < 0 || (size_t)w >= len - n)
			return -ENAMETOOLONG;
		n += (size_t)w;
	}
	return 0;
}

/* The attribute tuple of @v, escaped for the page. */
static void html_attr_write(FILE *out, const struct pic_vma *v)
{
	char devino[64];
	size_t i;
	const json_t *f;

	html_devino(v, devino, sizeof(devino));
	fputc('[', out);
	html_json_str(out, v->perms, 4);
	fputc(',', out);
	html_json_cstr(out, v->file);
	fputc(',', out);
	html_json_cstr(out, v->name);
	fputs(",[", out);
	json_array_foreach(v->flags, i, f)
	{
		fputs(i ? "," : "", out);
		html_json_cstr(out,
			       json_is_string(f) ? json_string_value(f) : "?");
	}
	fputs("],", out);
	html_json_cstr(out, devino);
	fputc(']', out);
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
	"charset=\"utf-8\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
	"'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
	"<meta name=\"viewport\" content=\"width=device-width\">\n"
	"<style>\n"
	"body{font:13px 'DejaVu Sans Mono',monospace;margin:10px;color:#222}\n"
	"h1{font-size:16px;margin:0 0 4px}\n"
	"#bar{margin:6px 0;display:flex;gap:6px;align-items:center;"
	"flex-wrap:wrap}\n"
	"#bar input{font:inherit;width:15ch}\n"
	"#where{color:#444}\n"
	".legend span{display:inline-block;margin-right:14px}\n"
	".legend i{display:inline-block;width:12px;height:12px;"
	"border:1px solid #333;vertical-align:-2px;margin-right:4px}\n"
	"#pic{user-select:none;cursor:zoom-in}\n"
	"#pic .hit{fill:transparent}\n"
	"#pic text{white-space:pre}\n"
	"#pic g[data-row]:hover .hit{fill:#fff3c4}\n"
	"#tip{position:absolute;background:#fffff0;border:1px solid #999;"
	"padding:4px 6px;white-space:pre;font-size:12px;pointer-events:none;"
	"box-shadow:2px 2px 4px #0003;max-width:none}\n"
	"</style>\n";

static const char html_body[] =
	"<div id=\"bar\"><button id=\"back\" type=\"button\">back</button>"
	"<button id=\"all\" type=\"button\">whole space</button>"
	"<label>from <input id=\"lo\"></label><label>to <input id=\"hi\">"
	"</label><button id=\"go\" type=\"button\">zoom</button>"
	"<span id=\"where\"></span></div>\n"
	"<div class=\"legend\"><span><i style=\"background:#74c476\"></i>r--"
	"</span><span><i style=\"background:#6baed6\"></i>rw-</span><span>"
	"<i style=\"background:#fd8d3c\"></i>r-x</span><span><i "
	"style=\"background:#e7298a\"></i>rwx</span><span><i "
	"style=\"background:#e6e6e6\"></i>--- (PROT_NONE)</span><span><i "
	"style=\"background:#9e9ac8\"></i>other</span><span><i "
	"style=\"background:repeating-linear-gradient(45deg,#888 0 2px,"
	"#f2f2f2 2px 6px)\"></i>stack guard gap</span><span style=\"color:"
	"#7b3294\">- - marker</span><span>click a row or drag across the "
	"bars to zoom; hover for maps lines and flags</span></div>\n"
	"<svg id=\"pic\" xmlns=\"http://www.w3.org/2000/svg\" "
	"font-family=\"DejaVu Sans Mono, monospace\"><defs>"
	"<pattern id=\"hatch\" width=\"8\" height=\"8\" "
	"patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
	"<rect width=\"8\" height=\"8\" fill=\"#f2f2f2\"/><line x1=\"0\" "
	"y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#888\" stroke-width=\"3\"/>"
	"</pattern><pattern id=\"hatchbad\" width=\"8\" height=\"8\" "
	"patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
	"<rect width=\"8\" height=\"8\" fill=\"#fde0dd\"/><line x1=\"0\" "
	"y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#d7301f\" stroke-width=\"3\"/>"
	"</pattern><pattern id=\"none\" width=\"6\" height=\"6\" "
	"patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(-45)\">"
	"<rect width=\"6\" height=\"6\" fill=\"#e6e6e6\"/><line x1=\"0\" "
	"y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#b0b0b0\" "
	"stroke-width=\"1.5\"/></pattern></defs><g id=\"rows\"></g>"
	"<rect id=\"sel\" x=\"0\" width=\"1000\" height=\"0\" "
	"fill=\"#3182bd\" fill-opacity=\"0.15\" stroke=\"#3182bd\" "
	"visibility=\"hidden\"/></svg>\n"
	"<div id=\"tip\" hidden></div>\n";

static int html_data(FILE *out, const struct pic *p)
{
	json_t *index = json_object();
	size_t *attr = calloc(p->nr_vma + 1, sizeof(*attr));
	size_t i, nattr = 0;
	uint64_t prev = 0;
	unsigned m;
	char key[1024];
	int ret = -ENOMEM;

	if (!index || !attr)
		goto out;
	fputs("{\"title\":", out);
	html_json_cstr(out, p->title);
	fprintf(out, ",\"top\":%llu,\"guard\":%llu,\"mk\":[",
		(unsigned long long)p->top, (unsigned long long)p->lay.guard);
	for (m = 0; m < PIC_NR_MARKERS; m++)
		if (p->mk_valid & (1u << m))
			fprintf(out, "%s[\"%s\",%llu]",
				m && (p->mk_valid & ((1u << m) - 1)) ? "," : "",
				pic_marker_name(1u << m),
				(unsigned long long)p->mk[m]);
	fputs("],\"attrs\":[", out);
	for (i = 0; i < p->nr_vma; i++) {
		json_t *known;

		ret = html_attr_key(&p->vma[i], key, sizeof(key));
		if (ret)
			goto out;
		known = json_object_get(index, key);
		if (known) {
			attr[i] = (size_t)json_integer_value(known);
			continue;
		}
		ret = -ENOMEM;
		if (json_object_set_new(index, key,
					json_integer((json_int_t)nattr)))
			goto out;
		fputs(nattr ? "," : "", out);
		html_attr_write(out, &p->vma[i]);
		attr[i] = nattr++;
	}
	fputs("],\"v\":[", out);
	for (i = 0; i < p->nr_vma; i++) {
		const struct pic_vma *v = &p->vma[i];

		fprintf(out, "%s%llu,%llu,%zu,%llu,%llu", i ? "," : "",
			(unsigned long long)((v->start - prev) / 4096),
			(unsigned long long)((v->end - v->start) / 4096),
			attr[i], (unsigned long long)(v->offset / 4096),
			(unsigned long long)v->rss_pages);
		prev = v->end;
	}
	fputs("],\"b\":[", out);
	for (i = 0; i < p->nr_band; i++)
		fprintf(out, "%s%d,%zu,%zu,%d", i ? "," : "",
			(int)p->band[i].kind, p->band[i].first, p->band[i].nr,
			p->band[i].bss);
	fputs("]}", out);
	ret = 0;
out:
	free(attr);
	json_decref(index);
	return ret;
}

int vmactl_show_html(FILE *out, const char *title, const json_t *maps,
		     const struct vmactl_space_layout *l)
{
	struct pic p;
	int ret = pic_new(&p, title, maps, l);

	if (ret)
		return ret;
	fputs(html_head, out);
	fputs("<title>vmad: ", out);
	pic_xml(out, title);
	fputs("</title>\n</head>\n<body>\n<h1>", out);
	pic_xml(out, title);
	fprintf(out, ": %zu VMAs in %zu bands</h1>\n", p.nr_vma, p.nr_band);
	fputs(html_body, out);
	fputs("<script id=\"vmad-data\" type=\"application/json\">", out);
	ret = html_data(out, &p);
	fputs("</script>\n<script>\n", out);
	fputs(vmactl_show_js, out);
	fputs("</script>\n</body>\n</html>\n", out);
	pic_free(&p);
	return ret;
}
