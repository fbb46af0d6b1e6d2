// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Memory for tree nodes.
 *
 * Nodes are 512 bytes and a lookup touches a few lines of each node on
 * its path, so two things matter: that a node starts on a cache line (a
 * 16-byte-aligned malloc block spreads the keys a reader scans over one
 * line more), and that a walk over a large tree does not miss the TLB at
 * every level (under virtualization a TLB miss is a two-dimensional page
 * walk). Nodes are therefore carved from 2 MiB chunks that are 2 MiB
 * aligned and marked MADV_HUGEPAGE, one transparent huge page each.
 *
 * Trees keep their own caches of recycled nodes (vt.c); this pool only
 * serves what those caches cannot, and takes back what they drop. Memory
 * stays in the pool for reuse by any tree; it is not returned to the
 * system (a daemon's node memory is bounded by its peak).
 *
 * Sanitizer builds use aligned_alloc() instead, so that AddressSanitizer
 * sees every node's lifetime (use after free, leaks).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vma_asan.h"
#include "vt_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define VTN_MEM_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VTN_MEM_MALLOC 1
#endif
#endif

#ifdef VTN_MEM_MALLOC

void *vtn_mem_alloc(void)
{
	return aligned_alloc(VTN_ALIGN, VTN_SIZE);
}

void vtn_mem_free(void *n)
{
	/* It may come from a recycling cache, poisoned (vma_asan.h). */
	vma_unpoison(n, n ? VTN_SIZE : 0);
	free(n);
}

#else

#define CHUNK_SIZE (2UL << 20)

struct free_node {
	struct free_node *next;
};

/* The pool. Protected by pool_lock; callers are writers of any tree and
 * the reclaimer, rarely (trees recycle their own nodes first). */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct free_node *pool_free;
static char *chunk_next, *chunk_end;

/* A fresh 2 MiB-aligned chunk. Context: pool_lock held. */
static int chunk_grow(void)
{
	char *p, *aligned;
	size_t head;

	p = mmap(NULL, 2 * CHUNK_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	aligned = (char *)(((uintptr_t)p + CHUNK_SIZE - 1) & ~(CHUNK_SIZE - 1));
	head = (size_t)(aligned - p);
	if (head)
		munmap(p, head);
	munmap(aligned + CHUNK_SIZE, CHUNK_SIZE - head);
	/* Advice only: without huge pages the pool still works. */
	madvise(aligned, CHUNK_SIZE, MADV_HUGEPAGE);
	chunk_next = aligned;
	chunk_end = aligned + CHUNK_SIZE;
	return 0;
}

void *vtn_mem_alloc(void)
{
	void *n = NULL;

	pthread_mutex_lock(&pool_lock);
	if (pool_free) {
		n = pool_free;
		pool_free = pool_free->next;
	} else if (chunk_next != chunk_end || chunk_grow() == 0) {
		n = chunk_next;
		chunk_next += VTN_SIZE;
	}
	pthread_mutex_unlock(&pool_lock);
	return n;
}

void vtn_mem_free(void *n)
{
	struct free_node *f = n;

	if (!n)
		return;
	pthread_mutex_lock(&pool_lock);
	f->next = pool_free;
	pool_free = f;
	pthread_mutex_unlock(&pool_lock);
}

#endif
