/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vma_asan.h - Poisoning of recycled memory for AddressSanitizer.
 *
 * libvma recycles tree nodes and area objects instead of freeing them, so
 * a plain ASan build would not see a reader touch one after its grace
 * period: the memory is still allocated. In sanitizer builds a recycled
 * object is poisoned from the moment it is taken back (after its grace
 * period) until it is handed out again, so such an access is reported as
 * a use after poison. Elsewhere the calls compile to nothing.
 *
 * Locking: Any context (the caller owns the object it poisons).
 */
#ifndef VMA_ASAN_H
#define VMA_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define VMA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMA_ASAN 1
#endif
#endif

#ifdef VMA_ASAN
#include <sanitizer/asan_interface.h>
#define vma_poison(p, size)   ASAN_POISON_MEMORY_REGION((p), (size))
#define vma_unpoison(p, size) ASAN_UNPOISON_MEMORY_REGION((p), (size))
#else
#define VMA_ASAN	      0
#define vma_poison(p, size)   ((void)(p), (void)(size))
#define vma_unpoison(p, size) ((void)(p), (void)(size))
#endif

#endif /* VMA_ASAN_H */
