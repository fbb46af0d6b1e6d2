/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmactl.h - Pieces of vmactl shared between its source files.
 *
 * Locking: vmactl is single-threaded; everything here is Any context.
 */
#ifndef VMACTL_H
#define VMACTL_H

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

/**
 * vmactl_show_svg() - Draw the VMAs of a maps result as an SVG picture.
 * @out:   Stream.
 * @title: Title line (the space's name).
 * @vmas:  Array of VMA objects, sorted by address (borrowed).
 * @guard: Stack guard gap in bytes.
 */
void vmactl_show_svg(FILE *out, const char *title, const json_t *vmas,
		     uint64_t guard);

#endif /* VMACTL_H */
