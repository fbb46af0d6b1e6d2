// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Simulated files.
 *
 * A VMA names its file through a pointer to a per-space interned entry,
 * so a VMA stays small and "same file" is a pointer comparison, as
 * vm_file is in Linux. Each distinct name is one open file of the
 * simulated process (Linux compares struct file pointers: two opens of one
 * path never merge; here one name is one open file). A shared anonymous
 * mapping gets its own unnamed entry, as Linux gives it its own shmem file,
 * and so does each special mapping ([vdso], [vvar]; see vas_internal.h).
 *
 * Entries are counted by the VMAs referring to them. The count changes
 * only under the space's write lock; an entry whose count drops to zero is
 * unlinked by the writer and freed after a grace period together with the
 * VMAs that referred to it, since readers may still be reading its name.
 */
#include "vas_internal.h"

#include <errno.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/**
 * vas__file_inode() - The stable inode number of a simulated file name.
 * Context: Any context.
 */
uint64_t vas__file_inode(const char *name)
{
	/* Positive, below 2^31 like most real inode numbers, never 0. */
	return (fnv1a(name) % 2147483629ULL) + 1;
}

static int files_grow(struct vas *vas)
{
	size_t nr = vas->nr_buckets ? vas->nr_buckets * 2 : 16, i;
	struct vas_file **nb = vma_calloc(nr * sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	for (i = 0; i < vas->nr_buckets; i++) {
		struct vas_file *f = vas->files[i], *next;

		for (; f; f = next) {
			next = f->hnext;
			f->hnext = nb[f->hash & (nr - 1)];
			nb[f->hash & (nr - 1)] = f;
		}
	}
	vma_free(vas->files);
	vas->files = nb;
	vas->nr_buckets = nr;
	return 0;
}

/*
 * Find the hashed entry of @name with hash @h and kind @is_name, or create
 * it: a named file (thp_align on, as ext4) or an anonymous VMA name.
 * Return: the entry (count unchanged), or NULL on allocation failure.
 */
static struct vas_file *intern(struct vas *vas, const char *name, uint64_t h,
			       bool is_name)
{
	size_t len = strlen(name);
	struct vas_file *f;

	if (vas->nr_buckets) {
		for (f = vas->files[h & (vas->nr_buckets - 1)]; f; f = f->hnext)
			if (!f->shmem && f->is_name == is_name &&
			    f->hash == h && !strcmp(f->name, name))
				return f;
	}
	if (vas->nr_files >= vas->nr_buckets && files_grow(vas))
		return NULL;
	f = vma_alloc(sizeof(*f) + len + 1);
	if (!f)
		return NULL;
	memcpy(f->name, name, len + 1);
	f->hash = h;
	f->inode = is_name ? 0 : vas__file_inode(name);
	f->refs = 0;
	f->shmem = false;
	f->is_name = is_name;
	f->thp_align = !is_name;
	f->hashed = true;
	f->special = VAS_SPECIAL_NONE;
	f->hnext = vas->files[h & (vas->nr_buckets - 1)];
	vas->files[h & (vas->nr_buckets - 1)] = f;
	vas->nr_files++;
	vas->file_bytes += sizeof(*f) + len + 1;
	return f;
}

/**
 * vas__file_get() - Find or create the entry of @name (reference count
 * unchanged; the caller counts the VMAs it builds).
 * Context: Writer (holds vas->write_lock).
 * Return: the entry, or NULL on allocation failure.
 */
struct vas_file *vas__file_get(struct vas *vas, const char *name)
{
	return intern(vas, name, fnv1a(name), false);
}

/**
 * vas__file_new_shmem() - A new file for a shared anonymous mapping,
 * shown as "/dev/zero (deleted)" with its own inode number.
 * Context: Writer.
 * Return: the entry (not hashed), or NULL on allocation failure.
 */
struct vas_file *vas__file_new_shmem(struct vas *vas)
{
	static const char name[] = "/dev/zero (deleted)";
	struct vas_file *f = vma_alloc(sizeof(*f) + sizeof(name));

	if (!f)
		return NULL;
	memcpy(f->name, name, sizeof(name));
	f->hnext = NULL;
	f->hash = 0;
	f->inode = ++vas->next_shmem_ino;
	f->refs = 0;
	f->shmem = true;
	f->is_name = false;
	f->thp_align = false;
	f->hashed = false;
	f->special = VAS_SPECIAL_NONE;
	vas->file_bytes += sizeof(*f) + sizeof(name);
	return f;
}

/**
 * vas__file_new_special() - The entry of one special mapping (@name such
 * as "[vdso]", @kind VAS_SPECIAL_*): unhashed, one per area, so that the
 * area merges with nothing.
 * Context: Writer.
 * Return: the entry, or NULL on allocation failure.
 */
struct vas_file *vas__file_new_special(struct vas *vas, const char *name,
				       uint8_t kind)
{
	size_t len = strlen(name);
	struct vas_file *f = vma_alloc(sizeof(*f) + len + 1);

	if (!f)
		return NULL;
	memcpy(f->name, name, len + 1);
	f->hnext = NULL;
	f->hash = 0;
	f->inode = 0;
	f->refs = 0;
	f->shmem = false;
	f->hashed = false;
	f->is_name = false;
	f->thp_align = false;
	f->special = kind;
	vas->file_bytes += sizeof(*f) + len + 1;
	return f;
}

/**
 * vas__name_get() - Find or create the interned anonymous VMA name @name
 * (anon_vma_name: areas whose names are equal strings share one entry, so
 * that "same name" is a pointer comparison, as anon_vma_name_eq()).
 * Context: Writer.
 * Return: the entry (count unchanged), or NULL on allocation failure.
 */
struct vas_file *vas__name_get(struct vas *vas, const char *name)
{
	return intern(vas, name, fnv1a(name) ^ 0x9e3779b97f4a7c15ULL, true);
}

/**
 * vas__file_unlink() - Remove an unreferenced entry from the table (the
 * caller frees it, after a grace period if it was ever published).
 * Context: Writer.
 */
void vas__file_unlink(struct vas *vas, struct vas_file *f)
{
	assert(f->refs == 0);
	vas->file_bytes -= sizeof(*f) + strlen(f->name) + 1;
	if (f->hashed) {
		struct vas_file **pp =
			&vas->files[f->hash & (vas->nr_buckets - 1)];

		while (*pp != f)
			pp = &(*pp)->hnext;
		*pp = f->hnext;
		vas->nr_files--;
	}
}

/**
 * vas__files_free() - Free the table and every hashed entry.
 * Context: Init only.
 */
void vas__files_free(struct vas *vas)
{
	size_t i;

	for (i = 0; i < vas->nr_buckets; i++) {
		struct vas_file *f = vas->files[i], *next;

		for (; f; f = next) {
			next = f->hnext;
			vma_free(f);
		}
	}
	vma_free(vas->files);
	vas->files = NULL;
	vas->nr_buckets = vas->nr_files = 0;
}

/**
 * vas__file_lookup_copy() - For fork: the entry of @dst that stands for
 * @f of the parent (a named file by name; a shmem file by inode, created
 * on first use so that the child's areas share it as the parent's do).
 * Context: Writer of both spaces.
 * Return: the entry, or NULL on allocation failure.
 */
struct vas_file *vas__file_lookup_copy(struct vas *dst,
				       const struct vas_file *f)
{
	struct vas_file *n;

	if (f->special)
		return vas__file_new_special(dst, f->name, f->special);
	if (f->is_name)
		return vas__name_get(dst, f->name);
	if (!f->shmem) {
		n = vas__file_get(dst, f->name);
		if (n)
			n->thp_align = f->thp_align;
		return n;
	}
	/* Shmem files are hashed in the child by inode under a private key. */
	if (dst->nr_buckets) {
		for (n = dst->files[f->inode & (dst->nr_buckets - 1)]; n;
		     n = n->hnext)
			if (n->shmem && n->inode == f->inode)
				return n;
	}
	if (dst->nr_files >= dst->nr_buckets && files_grow(dst))
		return NULL;
	n = vas__file_new_shmem(dst);
	if (!n)
		return NULL;
	dst->next_shmem_ino--; /* the child keeps the parent's numbering */
	n->inode = f->inode;
	n->hash = f->inode;
	n->hashed = true;
	n->hnext = dst->files[n->hash & (dst->nr_buckets - 1)];
	dst->files[n->hash & (dst->nr_buckets - 1)] = n;
	dst->nr_files++;
	return n;
}
