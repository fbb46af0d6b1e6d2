/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vt_model.h - Reference model of the RCU range tree: a plain sorted array
 * of inclusive ranges [first, last] -> pointer with the semantics of
 * vma/vt.h, written the slow and obvious way so the tree can be checked
 * against it.
 *
 * Locking: none; a model belongs to one test thread.
 */
#ifndef VT_MODEL_H
#define VT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "vma/vt.h"

struct model_ent {
	uint64_t first;
	uint64_t last;
	void *ptr;
};

struct model {
	struct model_ent *ents; /* sorted by first, never overlapping */
	size_t nr;
	size_t cap;
};

void model_init(struct model *m);
void model_fini(struct model *m);
void model_copy(struct model *dst, const struct model *src);

/* vt_store() semantics: overwrite [first, last]; NULL erases. */
int model_store(struct model *m, uint64_t first, uint64_t last, void *ptr);
int model_erase(struct model *m, uint64_t first, uint64_t last);

void *model_load(const struct model *m, uint64_t index, uint64_t *first,
		 uint64_t *last);
void *model_next(const struct model *m, uint64_t index, uint64_t *first,
		 uint64_t *last);
void *model_prev(const struct model *m, uint64_t index, uint64_t *first,
		 uint64_t *last);
int model_find_free(const struct model *m, uint64_t lo, uint64_t hi,
		    uint64_t size, uint64_t align, enum vt_dir dir,
		    uint64_t *out);

/*
 * model_snapshot() - Read the whole tree with vt_next() (or the working
 * state of @txn if not NULL) into @m, replacing its content.
 * Return: 0; -EINVAL if the iteration was not sorted and non-overlapping
 *         (the model is then incomplete).
 */
int model_snapshot(struct model *m, const struct vt *vt,
		   const struct vt_txn *txn);

/*
 * model_equal() - Compare two models.
 * Return: 1 if equal; 0 otherwise, with the first difference in @msg.
 */
int model_equal(const struct model *a, const struct model *b, char *msg,
		size_t len);

#endif /* VT_MODEL_H */
