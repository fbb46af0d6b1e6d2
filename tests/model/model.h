/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * model.h - A reference model of an address space, the slow obvious way:
 * one record per page, VMAs derived from the pages on demand.
 *
 * Pages p and p+1 belong to one VMA when both are mapped with the same
 * flags and file, contiguous page offsets and compatible anon_vmas (equal,
 * or one of them none); runs are formed left to right, and after every
 * operation each run's anon_vma is given to all its pages (what Linux's
 * dup_anon_vma() does on merge). This reproduces Linux's merging for every
 * operation the randomized test generates (it leaves out the few paths
 * where Linux leaves mergeable neighbours apart: MREMAP_DONTUNMAP, stack
 * growth into a growsdown neighbour, fork).
 *
 * Not thread-safe; one model per test.
 */
#ifndef VMAD_TEST_MODEL_H
#define VMAD_TEST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vma/vas.h"

struct model;

int model_new(const struct vas_layout *layout, struct model **out);
void model_free(struct model *m);

int model_mmap(struct model *m, uint64_t addr, uint64_t len, unsigned prot,
	       unsigned flags, const char *file, uint64_t offset,
	       uint64_t *out);
int model_munmap(struct model *m, uint64_t addr, uint64_t len);
int model_mprotect(struct model *m, uint64_t addr, uint64_t len, unsigned prot);
int model_mremap(struct model *m, uint64_t old_addr, uint64_t old_len,
		 uint64_t new_len, unsigned flags, uint64_t new_addr,
		 uint64_t *out);
int model_brk(struct model *m, uint64_t addr, uint64_t *out);
int model_fault(struct model *m, uint64_t addr, enum vas_access access,
		struct vas_fault_result *res);
/*
 * The flag advice of madvise, DONTNEED, FREE, WILLNEED, POPULATE_READ and
 * POPULATE_WRITE.
 */
int model_madvise(struct model *m, uint64_t addr, uint64_t len, int advice);

/* Fill @out with up to @max VMAs (in the format of vas_maps()). */
size_t model_maps(struct model *m, struct vas_vma_info *out, size_t max);

#endif /* VMAD_TEST_MODEL_H */
