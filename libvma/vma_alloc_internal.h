/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vma_alloc_internal.h - the allocation-failure hook, for libvma's caches. */
#ifndef VMA_ALLOC_INTERNAL_H
#define VMA_ALLOC_INTERNAL_H

/*
 * vma__alloc_fails() - Consume one allocation from the test hook's budget.
 * Caches that hand out recycled memory call it too, so that a test failing
 * the Nth allocation reaches every allocation site.
 * Context: Any context.
 * Return: nonzero if this allocation must fail.
 */
int vma__alloc_fails(void);

#endif
