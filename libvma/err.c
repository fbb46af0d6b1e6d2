// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Errors and allocation.
 *
 * One errno table drives both the messages and the wire names. All of
 * libvma allocates through vma_alloc() so that tests can make the Nth
 * allocation fail and check that the failed operation changed nothing.
 *
 * Accounting. libvma counts the bytes it holds: what it took from malloc
 * (by usable size, counted back on vma_free()) and the tree-node chunks it
 * took from the system (vt_node_mem.c). vma_mem_set_limit() is the only
 * policy: an allocation that would take the total above the limit fails
 * as any allocation may, and the operation that needed it fails with
 * -ENOMEM, changing nothing. Memory a cache recycles is not new and is
 * never refused; neither is a read's temporary copy (vas_maps()), which
 * is counted but allocated with vma__alloc_unlimited(). A thread may put
 * a lower limit on its own allocations (vma_mem_thread_limit()): the
 * daemon does so for operations that add to a space, and lets those that
 * release memory (munmap, destroying a space) use the room above it for
 * what they need for a moment (copies of the tree's path).
 */
#include "vma/err.h"

#include <errno.h>
#include <malloc.h>
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

/* Bytes held: from malloc, and node chunks from the system (atomic). */
static uint64_t mem_heap, mem_nodes, mem_nodes_used;
static uint64_t mem_limit; /* 0: none */
static uint64_t mem_refused;
static __thread uint64_t mem_thread_limit; /* 0: mem_limit applies */
static __thread uint64_t mem_thread_refused;

int vma__mem_may_grow(size_t size)
{
	uint64_t limit = mem_thread_limit;

	if (caa_likely(!limit))
		limit = uatomic_read(&mem_limit);

	if (caa_likely(!limit))
		return 1;
	if (uatomic_read(&mem_heap) + uatomic_read(&mem_nodes) + size <= limit)
		return 1;
	uatomic_inc(&mem_refused);
	mem_thread_refused++;
	return 0;
}

void vma__mem_nodes_add(int64_t chunk_bytes, int64_t used_bytes)
{
	if (chunk_bytes)
		uatomic_add(&mem_nodes, (uint64_t)chunk_bytes);
	if (used_bytes)
		uatomic_add(&mem_nodes_used, (uint64_t)used_bytes);
}

static void *counted(void *p)
{
	if (p)
		uatomic_add(&mem_heap, malloc_usable_size(p));
	return p;
}

void *vma__alloc_unlimited(size_t size)
{
	if (vma__alloc_fails())
		return NULL;
	return counted(malloc(size));
}

void *vma_alloc(size_t size)
{
	if (vma__alloc_fails() || !vma__mem_may_grow(size))
		return NULL;
	return counted(malloc(size));
}

void *vma_calloc(size_t size)
{
	if (vma__alloc_fails() || !vma__mem_may_grow(size))
		return NULL;
	return counted(calloc(1, size));
}

void *vma_alloc_aligned(size_t size, size_t align)
{
	if (vma__alloc_fails() || !vma__mem_may_grow(size))
		return NULL;
	return counted(aligned_alloc(align, (size + align - 1) & ~(align - 1)));
}

void vma_free(void *ptr)
{
	if (!ptr)
		return;
	uatomic_sub(&mem_heap, malloc_usable_size(ptr));
	free(ptr);
}

void vma_mem_set_limit(uint64_t bytes)
{
	uatomic_set(&mem_limit, bytes);
}

uint64_t vma_mem_thread_limit(uint64_t bytes)
{
	uint64_t old = mem_thread_limit;

	mem_thread_limit = bytes;
	return old;
}

uint64_t vma_mem_thread_refused(void)
{
	return mem_thread_refused;
}

void vma_mem_stats(struct vma_mem_stats *st)
{
	st->heap = uatomic_read(&mem_heap);
	st->nodes = uatomic_read(&mem_nodes);
	st->nodes_used = uatomic_read(&mem_nodes_used);
	st->total = st->heap + st->nodes;
	st->limit = uatomic_read(&mem_limit);
	st->refused = uatomic_read(&mem_refused);
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
