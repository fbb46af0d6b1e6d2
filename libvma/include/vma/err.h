/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vma/err.h - Error names, export macros and the allocation hook of libvma.
 *
 * Every libvma function that can fail returns 0 or a negative errno. The
 * names sent on the wire ("EINVAL", ...) come from one list, VMA_ERRNO_MAP.
 *
 * Locking: everything here is Any context. The allocation hook is a test
 * facility; set it only while no other thread allocates.
 */
#ifndef VMA_ERR_H
#define VMA_ERR_H

#include <stddef.h>
#include <stdint.h>

#define VMA_API	       __attribute__((visibility("default")))
#define VMA_MUST_CHECK __attribute__((warn_unused_result))

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, message): every errno libvma and vmad report. */
#define VMA_ERRNO_MAP(X)                                                       \
	X(EPERM, "operation not permitted")                                    \
	X(ENOENT, "no such entry")                                             \
	X(EINTR, "interrupted")                                                \
	X(EIO, "input/output error")                                           \
	X(EBADF, "bad file descriptor")                                        \
	X(EAGAIN, "resource temporarily unavailable")                          \
	X(ENOMEM, "cannot allocate memory")                                    \
	X(EACCES, "permission denied")                                         \
	X(EFAULT, "bad address")                                               \
	X(EBUSY, "resource busy")                                              \
	X(EEXIST, "already exists")                                            \
	X(ENODEV, "no such device")                                            \
	X(EINVAL, "invalid argument")                                          \
	X(ENFILE, "too many open files in system")                             \
	X(EMFILE, "too many open files")                                       \
	X(EFBIG, "file too large")                                             \
	X(ENOSPC, "no space left")                                             \
	X(ERANGE, "result out of range")                                       \
	X(ENAMETOOLONG, "name too long")                                       \
	X(ENOSYS, "function not implemented")                                  \
	X(EOVERFLOW, "value too large")                                        \
	X(EOPNOTSUPP, "operation not supported")                               \
	X(ECANCELED, "operation canceled")                                     \
	X(ETIMEDOUT, "timed out")                                              \
	X(ELOOP, "too many levels of nesting")                                 \
	X(EMSGSIZE, "message too long")                                        \
	X(EPROTO, "protocol error")                                            \
	X(EADDRINUSE, "address already in use")

/**
 * vma_strerror() - Message for a (positive or negative) errno.
 * Context: Any context.
 * Return: a static string; "unknown error" for an errno not in the map.
 */
VMA_API const char *vma_strerror(int err);

/**
 * vma_errno_name() - Symbolic name ("EINVAL") for a (positive or negative)
 * errno, as sent on the wire.
 * Context: Any context.
 * Return: a static string; "EUNKNOWN" for an errno not in the map.
 */
VMA_API const char *vma_errno_name(int err);

/**
 * vma_alloc() - Allocate @size bytes for libvma (and its users' tests).
 * Context: Any context.
 * Return: new memory, or NULL if out of memory or the test hook says fail.
 */
VMA_API void *vma_alloc(size_t size);

/**
 * vma_calloc() - As vma_alloc(), zero-filled.
 */
VMA_API void *vma_calloc(size_t size);

/**
 * vma_alloc_aligned() - As vma_alloc(), aligned to @align (a power of two,
 * at least sizeof(void *)); @size is rounded up to a multiple of @align.
 */
VMA_API void *vma_alloc_aligned(size_t size, size_t align);

/**
 * vma_free() - Free memory from vma_alloc()/vma_calloc(). NULL is ignored.
 */
VMA_API void vma_free(void *ptr);

/**
 * struct vma_mem_stats - What libvma holds, process-wide.
 * @heap: bytes from malloc (spaces, VMAs, resident-page state, file
 *        names, reclamation batches, a read's snapshot), by usable size.
 * @nodes: bytes of tree-node chunks taken from the system.
 * @nodes_used: of @nodes, bytes handed to trees (in a tree, waiting for
 *              a grace period, or in a tree's cache of recycled nodes).
 * @total: @heap + @nodes.
 * @limit: vma_mem_set_limit()'s value (0: none).
 * @refused: allocations refused by the limit so far.
 */
struct vma_mem_stats {
	uint64_t heap;
	uint64_t nodes;
	uint64_t nodes_used;
	uint64_t total;
	uint64_t limit;
	uint64_t refused;
};

/**
 * vma_mem_stats() - Fill @st (counters read without a lock).
 * Context: Any context.
 */
VMA_API void vma_mem_stats(struct vma_mem_stats *st);

/**
 * vma_mem_set_limit() - Refuse allocations that would take the bytes
 * libvma holds (heap and node chunks) above @bytes: the operation that
 * needed one fails with -ENOMEM and changes nothing. Recycled memory and
 * a read's snapshot are never refused. 0 removes the limit (the default).
 * Context: Any context.
 */
VMA_API void vma_mem_set_limit(uint64_t bytes);

/**
 * vma_mem_thread_limit() - Put limit @bytes on the calling thread's
 * allocations instead of vma_mem_set_limit()'s (0: that one applies).
 * Context: Any context (the setting is the calling thread's).
 * Return: the thread's previous setting, to restore.
 */
VMA_API uint64_t vma_mem_thread_limit(uint64_t bytes);

/**
 * vma_mem_thread_refused() - Allocations of the calling thread refused
 * by a limit so far (to tell a limit's -ENOMEM from another).
 * Context: Any context.
 */
VMA_API uint64_t vma_mem_thread_refused(void);

/**
 * vma_alloc_fail_after() - Test hook: let @n more allocations succeed, then
 * fail every one after them. A negative @n turns the hook off (the default).
 * Context: Init only (no concurrent allocation).
 */
VMA_API void vma_alloc_fail_after(long n);

/**
 * vma_alloc_failures() - Test hook: how many allocations the hook failed
 * since it was last armed.
 */
VMA_API long vma_alloc_failures(void);

#ifdef __cplusplus
}
#endif

#endif /* VMA_ERR_H */
