// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Errors and allocation.
 *
 * One errno table drives both the messages and the wire names. All of
 * libvma allocates through vma_alloc() so that tests can make the Nth
 * allocation fail and check that the failed operation changed nothing.
 */
#include "vma/err.h"

#include <errno.h>
#include <stdlib.h>

#include <urcu/uatomic.h>

#include "vma_alloc_internal.h"

const char *vma_strerror(int err)
{
	switch (err < 0 ? -err : err) {
#define X(name, msg)                                                           \
	case name:                                                             \
		return msg;
		VMA_ERRNO_MAP(X)
#undef X
	}
	return "unknown error";
}

const char *vma_errno_name(int err)
{
	switch (err < 0 ? -err : err) {
#define X(name, msg)                                                           \
	case name:                                                             \
		return #name;
		VMA_ERRNO_MAP(X)
#undef X
	}
	return "EUNKNOWN";
}

/* Allocations left before the hook fails them; negative: hook off. */
static long alloc_budget = -1;
static long alloc_failed;

int vma__alloc_fails(void)
{
	if (caa_likely(uatomic_read(&alloc_budget) < 0))
		return 0;
	if (uatomic_add_return(&alloc_budget, -1) >= 0)
		return 0;
	/* Keep the budget from wrapping into "off" after many failures. */
	uatomic_set(&alloc_budget, 0);
	uatomic_inc(&alloc_failed);
	return 1;
}

void *vma_alloc(size_t size)
{
	if (vma__alloc_fails())
		return NULL;
	return malloc(size);
}

void *vma_calloc(size_t size)
{
	if (vma__alloc_fails())
		return NULL;
	return calloc(1, size);
}

void *vma_alloc_aligned(size_t size, size_t align)
{
	if (vma__alloc_fails())
		return NULL;
	return aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

void vma_free(void *ptr)
{
	free(ptr);
}

void vma_alloc_fail_after(long n)
{
	uatomic_set(&alloc_failed, 0);
	uatomic_set(&alloc_budget, n);
}

long vma_alloc_failures(void)
{
	return uatomic_read(&alloc_failed);
}
