/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmactl.h - Pieces of vmactl shared between its source files.
 *
 * Locking: vmactl is single-threaded; everything here is Any context.
 */
#ifndef VMACTL_H
#define VMACTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/**
 * vmactl_format_vma() - Format a VMA object as a /proc/PID/maps line
 * (without the newline).
 * Return: @buf.
 */
char *vmactl_format_vma(const json_t *vma, char *buf, size_t len);

/**
 * vmactl_show_text() - Draw the VMAs of a maps result as text.
 * @out:   Stream.
 * @vmas:  Array of VMA objects, sorted by address (borrowed).
 * @guard: Stack guard gap in bytes.
 * @color: Use ANSI colours.
 */
void vmactl_show_text(FILE *out, const json_t *vmas, uint64_t guard, int color);

/* What a picture marks, besides the VMAs (space.list and stats). */
struct vmactl_space_layout {
	uint64_t task_size; /* 0 if unknown */
	uint64_t mmap_base;
	uint64_t start_brk;
	uint64_t brk;
	uint64_t guard; /* stack guard gap in bytes */
	bool has_mmap_base, has_brk;
};

struct vmc_conn;

/**
 * vmactl_show_layout() - Ask the daemon for the layout of @space.
 * @conn:  Connection.
 * @space: Id or name, as in params (borrowed).
 * @l:     Filled: what the daemon does not report stays unknown, and the
 *         guard gap defaults to Linux's 256 pages.
 */
void vmactl_show_layout(struct vmc_conn *conn, const json_t *space,
			struct vmactl_space_layout *l);

/**
 * vmactl_show_svg() - Draw a maps result as an SVG picture: the whole
 * space on a compressed axis, VMAs grouped by object, a bounded canvas.
 * @out:   Stream.
 * @title: Title line (the space's name).
 * @maps:  Result of the maps method (borrowed).
 * @l:     The space's layout.
 * Return: 0, or -ENOMEM / -EINVAL (a result without "vmas").
 */
int vmactl_show_svg(FILE *out, const char *title, const json_t *maps,
		    const struct vmactl_space_layout *l);

/**
 * vmactl_show_html() - Write one self-contained HTML page (no network,
 * no external script or font) that draws a maps result and zooms into
 * ranges; hovering a band shows its maps lines and flags.
 * Parameters and return as vmactl_show_svg().
 */
int vmactl_show_html(FILE *out, const char *title, const json_t *maps,
		     const struct vmactl_space_layout *l);

/**
 * vmactl_import_prepare() - Turn the "maps" (a file name, "-" for standard
 * input) or "pid" option of "space import" into the "maps" text of a
 * space.import request (and start_brk, start_stack for a pid).
 * Return: 0; a negative errno (a message was printed).
 */
int vmactl_import_prepare(json_t *params);

/**
 * vmactl_snapshot_prepare() - Replace the "snapshot" option of "space
 * import" (a file name, "-" for standard input) by the file's bytes in
 * base64, as space.import takes them.
 * Return: 0; a negative errno (a message was printed).
 */
int vmactl_snapshot_prepare(json_t *params);

/**
 * vmactl_export_write() - Write the snapshot of a space.export result to
 * @path ("-": standard output) as bytes.
 * Return: 0; a negative errno (a message was printed).
 */
int vmactl_export_write(const json_t *result, const char *path);

#endif /* VMACTL_H */
