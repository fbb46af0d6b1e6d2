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
 * Trees keep their own caches of recycled nodes (vt.c: up to
 * VT_FREE_LIMIT nodes per tree); this pool serves what those caches
 * cannot, and takes back what they drop.
 *
 * Giving memory back. Each chunk keeps its own free list and a count of
 * the nodes handed out; its first node-sized slot is that header (the
 * node's chunk is found by masking its address). Chunks with free slots
 * sit on a list: allocation takes from the head (the chunk being filled),
 * and a full chunk that gets a node back goes to the tail, so chunks that
 * lost most of their nodes are allocated from last and drain. A chunk
 * whose every node came back is returned to the system (munmap()), but
 * for one kept empty so that a tree hovering at a chunk boundary does not
 * map and unmap at every step. Memory that a tree still caches, or that
 * shares a chunk with live nodes, is not returned.
 *
 * Growing the pool by a chunk is an allocation like any other: the
 * memory limit (vma_mem_set_limit()) may refuse it.
 *
 * Sanitizer builds use aligned_alloc() instead, so that AddressSanitizer
 * sees every node's lifetime (use after free, leaks); they count each
 * node as its own chunk.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vma_alloc_internal.h"
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
	void *n;

	if (!vma__mem_may_grow(VTN_SIZE))
		return NULL;
	n = aligned_alloc(VTN_ALIGN, VTN_SIZE);
	if (n)
		vma__mem_nodes_add(VTN_SIZE, VTN_SIZE);
	return n;
}

void vtn_mem_free(void *n)
{
	if (!n)
		return;
	/* It may come from a recycling cache, poisoned (vma_asan.h). */
	vma_unpoison(n, VTN_SIZE);
	vma__mem_nodes_add(-VTN_SIZE, -VTN_SIZE);
	free(n);
}

#else

#define CHUNK_SIZE  (2UL << 20)
#define CHUNK_NODES (CHUNK_SIZE / VTN_SIZE)

struct free_node {
	struct free_node *next;
};

/* The header of a chunk, in its first node-sized slot. */
struct chunk {
	struct free_node *free;	   /* nodes given back */
	unsigned nr_used;	   /* nodes handed out */
	unsigned next_fresh;	   /* slots below this were handed out once */
	struct chunk *prev, *next; /* on the list of chunks with room */
	int on_list;
};
_Static_assert(sizeof(struct chunk) <= VTN_SIZE, "a chunk header fits");

/* The pool. Protected by pool_lock; callers are writers of any tree and
 * the reclaimer, rarely (trees recycle their own nodes first). */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chunk *room_head, *room_tail; /* chunks with free slots */
static unsigned nr_empty;		    /* chunks with nr_used == 0 */

static struct chunk *chunk_of(void *n)
{
	return (struct chunk *)((uintptr_t)n & ~(CHUNK_SIZE - 1));
}

/* Context: pool_lock held (as for the list functions below). */
static void room_del(struct chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		room_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		room_tail = c->prev;
	c->prev = c->next = NULL;
	c->on_list = 0;
}

static void room_add(struct chunk *c, int at_head)
{
	c->on_list = 1;
	if (at_head) {
		c->prev = NULL;
		c->next = room_head;
		if (room_head)
			room_head->prev = c;
		else
			room_tail = c;
		room_head = c;
	} else {
		c->next = NULL;
		c->prev = room_tail;
		if (room_tail)
			room_tail->next = c;
		else
			room_head = c;
		room_tail = c;
	}
}

/* A fresh 2 MiB-aligned chunk at the head of the list, or NULL. */
static struct chunk *chunk_new(void)
{
	char *p, *aligned;
	struct chunk *c;
	size_t head;

	if (!vma__mem_may_grow(CHUNK_SIZE))
		return NULL;
	p = mmap(NULL, 2 * CHUNK_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	aligned = (char *)(((uintptr_t)p + CHUNK_SIZE - 1) & ~(CHUNK_SIZE - 1));
	head = (size_t)(aligned - p);
	if (head)
		munmap(p, head);
	munmap(aligned + CHUNK_SIZE, CHUNK_SIZE - head);
	/* Advice only: without huge pages the pool still works. */
	madvise(aligned, CHUNK_SIZE, MADV_HUGEPAGE);
	c = (struct chunk *)aligned;
	c->free = NULL;
	c->nr_used = 0;
	c->next_fresh = 1; /* slot 0 is the header */
	room_add(c, 1);
	nr_empty++;
	vma__mem_nodes_add(CHUNK_SIZE, 0);
	return c;
}

void *vtn_mem_alloc(void)
{
	struct chunk *c;
	void *n;

	pthread_mutex_lock(&pool_lock);
	c = room_head ? room_head : chunk_new();
	if (!c) {
		pthread_mutex_unlock(&pool_lock);
		return NULL;
	}
	if (c->free) {
		n = c->free;
		c->free = c->free->next;
	} else {
		n = (char *)c + (size_t)c->next_fresh++ * VTN_SIZE;
	}
	if (!c->nr_used++)
		nr_empty--;
	if (!c->free && c->next_fresh == CHUNK_NODES)
		room_del(c); /* full */
	pthread_mutex_unlock(&pool_lock);
	vma__mem_nodes_add(0, VTN_SIZE);
	return n;
}

void vtn_mem_free(void *n)
{
	struct free_node *f = n;
	struct chunk *c;

	if (!n)
		return;
	c = chunk_of(n);
	pthread_mutex_lock(&pool_lock);
	f->next = c->free;
	c->free = f;
	if (!c->on_list)
		room_add(c, 0); /* was full: allocated from last */
	if (--c->nr_used == 0) {
		if (nr_empty) {
			/* One empty chunk is enough: return this one. */
			room_del(c);
			munmap(c, CHUNK_SIZE);
			vma__mem_nodes_add(-(int64_t)CHUNK_SIZE, 0);
		} else {
			nr_empty++;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	vma__mem_nodes_add(0, -VTN_SIZE);
}

#endif
