/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vma_alloc_internal.h - the allocation-failure hook, for libvma's caches. */
#ifndef VMA_ALLOC_INTERNAL_H
#define VMA_ALLOC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/*
 * vma__alloc_fails() - Consume one allocation from the test hook's budget.
 * Caches that hand out recycled memory call it too, so that a test failing
 * the Nth allocation reaches every allocation site.
 * Context: Any context.
 * Return: nonzero if this allocation must fail.
 */
int vma__alloc_fails(void);

/*
 * vma__mem_may_grow() - Whether @size more bytes fit under the limit of
 * vma_mem_set_limit() (counts a refusal).
 * Context: Any context.
 */
int vma__mem_may_grow(size_t size);

/*
 * vma__mem_nodes_add() - Account node memory: @chunk_bytes taken from
 * (negative: returned to) the system, @used_bytes handed to (negative:
 * taken back from) trees.
 * Context: Any context.
 */
void vma__mem_nodes_add(int64_t chunk_bytes, int64_t used_bytes);

/*
 * vma__alloc_unlimited() - As vma_alloc(), counted but never refused by
 * the limit: for a read's temporary copy (reads go on at the limit).
 * Context: Any context.
 */
void *vma__alloc_unlimited(size_t size);

#endif
