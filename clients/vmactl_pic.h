/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmactl_pic.h - The model behind vmactl's pictures of a space: VMAs
 * grouped into bands (one band per object), and the rows of a picture
 * (bands, clusters of bands, gaps, guard gaps, markers) with their heights.
 *
 * Both the SVG and the HTML view are drawn from it; the HTML view's script
 * (vmactl_show.js) lays out rows by the same rules for a zoomed range.
 *
 * Locking: vmactl is single-threaded; everything here is Any context.
 */
#ifndef VMACTL_PIC_H
#define VMACTL_PIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "vmactl.h"

/* One VMA of a maps result; strings are borrowed from the result. */
struct pic_vma {
	uint64_t start, end; /* [start, end) */
	uint64_t offset;     /* file offset in bytes */
	uint64_t rss_pages;
	const char *perms; /* "rw-p" */
	const char *file;  /* NULL if anonymous */
	const char *name;  /* "[stack]", "[anon:x]", ... or NULL */
	const json_t *flags;
	const char *line; /* its /proc/PID/maps line (in pic->text) */
	size_t line_len;
};

/* What a band of VMAs is (how it is labelled). */
enum pic_band_kind {
	PIC_FILE,	 /* segments of one file (and its bss) */
	PIC_NAMED,	 /* VMAs with one name: [stack], [heap], [anon:x] */
	PIC_STACK_GUARD, /* anonymous: a PROT_NONE guard below a mapping */
	PIC_RESERVATION, /* anonymous: PROT_NONE with committed parts */
	PIC_ANON,	 /* one anonymous VMA */
};

/* Consecutive VMAs of one object, drawn as one labelled band. */
struct pic_band {
	enum pic_band_kind kind;
	size_t first, nr;    /* VMAs [first, first + nr) */
	uint64_t start, end; /* first VMA's start, last VMA's end */
	uint64_t mapped;     /* bytes in VMAs */
	bool bss;	     /* PIC_FILE: ends with its anonymous bss */
	bool grows_down;     /* some VMA is growsdown */
	bool grows_up;	     /* some VMA is growsup */
};

/* The addresses a picture marks (struct vmactl_space_layout). */
enum pic_marker {
	PIC_MK_MMAP_BASE = 1u << 0,
	PIC_MK_START_BRK = 1u << 1,
	PIC_MK_BRK = 1u << 2,
	PIC_NR_MARKERS = 3,
};

struct pic {
	const char *title;
	struct vmactl_space_layout lay;
	struct pic_vma *vma;
	size_t nr_vma;
	struct pic_band *band;
	size_t nr_band;
	uint64_t top;		     /* the space drawn is [0, top) */
	uint64_t mk[PIC_NR_MARKERS]; /* marker addresses */
	unsigned mk_valid;	     /* PIC_MK_* bits that are known */
	char *text;		     /* copy of the maps text (owned) */
};

enum pic_row_kind {
	PIC_ROW_BAND,	   /* one band */
	PIC_ROW_CLUSTER,   /* several bands, summarised */
	PIC_ROW_GAP,	   /* unmapped */
	PIC_ROW_GUARD,	   /* a stack guard gap */
	PIC_ROW_GUARD_BAD, /* a guard gap narrower than configured */
	PIC_ROW_MARKER,	   /* an address: mmap_base, brk, start_brk */
};

/* One row of a picture, high addresses first. */
struct pic_row {
	enum pic_row_kind kind;
	uint64_t start, end; /* [start, end); MARKER: start == end */
	size_t b0, nb;	     /* BAND, CLUSTER: bands [b0, b0 + nb) */
	bool expanded;	     /* BAND: one line per VMA */
	unsigned markers;    /* MARKER: at start; BAND/CLUSTER: inside */
	double y, h;	     /* top and height in pixels */
};

struct pic_rows {
	struct pic_row *v;
	size_t nr, cap;
	double height; /* sum of the heights */
	unsigned done; /* markers placed */
};

/* Row heights (pixels): gaps grow with log2 of their size. */
#define PIC_GAP_H(pages) (10.0 + 1.25 * log2((double)(pages) + 1.0))
#define PIC_MARKER_H	 14.0
#define PIC_SUBROW_H	 15.0 /* one VMA of an expanded band */
#define PIC_CHAR_W	 0.62 /* advance of a monospace cell, in ems */

/**
 * pic_new() - Build the model of a maps result.
 * @p:     Model to fill (pic_free() releases it).
 * @title: Title (borrowed, must outlive @p).
 * @maps:  Result of the maps method (borrowed, must outlive @p).
 * @lay:   The space's layout (copied).
 * Return: 0; -EINVAL if @maps has no "vmas" array; -ENOMEM.
 */
int pic_new(struct pic *p, const char *title, const json_t *maps,
	    const struct vmactl_space_layout *lay);
void pic_free(struct pic *p);

/**
 * pic_layout() - Lay out the whole space in rows whose heights add up to
 * at most @budget pixels: bands separated by the largest gaps stay
 * bands, the others are merged into clusters; when every band fits with
 * one line per VMA, bands are expanded.
 * @rows: Filled; free rows->v.
 * Return: 0 or -ENOMEM.
 */
int pic_layout(const struct pic *p, double budget, struct pic_rows *rows);

/* Helpers shared by the renderers. */
const char *pic_perm_color(const char *perms);
bool pic_has_flag(const struct pic_vma *v, const char *flag);
const char *pic_basename(const char *path);
const char *pic_marker_name(unsigned bit);
size_t pic_cells(const char *s);
void pic_fit(char *dst, size_t cap, const char *s, size_t cells,
	     bool keep_tail);
void pic_xml(FILE *out, const char *s);
char *pic_band_label(const struct pic *p, const struct pic_band *b, char *buf,
		     size_t len);
char *pic_cluster_label(const struct pic *p, const struct pic_row *r, char *buf,
			size_t len);
char *pic_size(uint64_t bytes, char *buf, size_t len);
char *pic_count(uint64_t v, char *buf, size_t len);

#endif /* VMACTL_PIC_H */
