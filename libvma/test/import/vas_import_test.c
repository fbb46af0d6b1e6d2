// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Unit tests of vas_import() (libvma/vas_import.c) and of the special
 * mappings it installs.
 *
 * The layout imported by most tests is the one /bin/cat has right after
 * execve with randomization off (Linux 6.18, x86-64), trimmed:
 *
 *   555555554000-555555556000 r--p 00000000  /usr/bin/cat       A
 *   555555556000-55555555b000 r-xp 00002000  /usr/bin/cat       B
 *   55555555b000-55555555e000 r--p 00007000  /usr/bin/cat       C
 *   55555555e000-55555555f000 r--p 00009000  /usr/bin/cat       D (relro)
 *   55555555f000-555555560000 rw-p 0000a000  /usr/bin/cat       E
 *   7ffff7fc2000-7ffff7fc6000 r--p 00000000  [vvar]
 *   7ffff7fc6000-7ffff7fc8000 r--p 00000000  [vvar_vclock]
 *   7ffff7fc8000-7ffff7fca000 r-xp 00000000  [vdso]
 *   7ffff7fca000-7ffff7fcb000 r--p 00000000  ld-linux-x86-64.so.2
 *   7ffff7fcb000-7ffff7fcc000 r--p 00001000  ld-linux-x86-64.so.2  (apart)
 *   7ffffffde000-7ffffffff000 rw-p 00000000  [stack]
 *   ffffffffff600000-ffffffffff601000 --xp   [vsyscall]
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define PG 4096ULL
#define R  VAS_PROT_READ
#define RW (VAS_PROT_READ | VAS_PROT_WRITE)
#define RX (VAS_PROT_READ | VAS_PROT_EXEC)

static const char cat[] = "/usr/bin/cat";
static const char ld[] = "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

static const struct vas_import_area cat_areas[] = {
	{0x555555554000, 0x555555556000, 0, R, 0, VAS_IMPORT_FILE, cat, 0, 0,
	 NULL},
	{0x555555556000, 0x55555555b000, 0x2000, RX, 0, VAS_IMPORT_FILE, cat, 0,
	 0, NULL},
	{0x55555555b000, 0x55555555e000, 0x7000, R, 0, VAS_IMPORT_FILE, cat, 0,
	 0, NULL},
	{0x55555555e000, 0x55555555f000, 0x9000, R, VAS_VM_ACCOUNT,
	 VAS_IMPORT_FILE, cat, 0, 1, NULL},
	{0x55555555f000, 0x555555560000, 0xa000, RW, VAS_VM_ACCOUNT,
	 VAS_IMPORT_FILE, cat, 0, 1, NULL},
	{0x7ffff7fc2000, 0x7ffff7fc6000, 0, R, 0, VAS_IMPORT_SPECIAL_PFNMAP,
	 "[vvar]", 0, 0, NULL},
	{0x7ffff7fc6000, 0x7ffff7fc8000, 0, R, 0, VAS_IMPORT_SPECIAL_PFNMAP,
	 "[vvar_vclock]", 0, 0, NULL},
	{0x7ffff7fc8000, 0x7ffff7fca000, 0, RX, 0, VAS_IMPORT_SPECIAL, "[vdso]",
	 0, 0, NULL},
	{0x7ffff7fca000, 0x7ffff7fcb000, 0, R, 0, VAS_IMPORT_FILE, ld, 0, 0,
	 NULL},
	{0x7ffff7fcb000, 0x7ffff7fcc000, 0x1000, R, 0, VAS_IMPORT_FILE, ld, 0,
	 0, NULL},
	{0x7ffffffde000, 0x7ffffffff000, 0, RW,
	 VAS_VM_GROWSDOWN | VAS_VM_ACCOUNT, VAS_IMPORT_ANON, NULL, 0, 3, NULL},
	{0xffffffffff600000, 0xffffffffff601000, 0, VAS_PROT_EXEC, 0,
	 VAS_IMPORT_GATE, "[vsyscall]", 0, 0, NULL},
};
#define NR_CAT (sizeof(cat_areas) / sizeof(cat_areas[0]))

static struct vas *vas;

static int import(const struct vas_import_area *a, size_t nr, uint64_t brk,
		  struct vas **out, size_t *bad)
{
	struct vas_import imp = {
		.areas = a,
		.nr = nr,
		.brk = brk,
		.start_stack = 0x7fffffffe3d0,
	};
	struct vas_layout l;

	vas_layout_default(&l);
	l.brk_base = 0x555555560000;
	return vas_import(&l, &imp, out, bad);
}

static void setup(void)
{
	urcu_memb_register_thread();
	ck_assert_int_eq(import(cat_areas, NR_CAT, 0x555555560000, &vas, NULL),
			 0);
}

static void teardown(void)
{
	vas_free(vas);
	vas = NULL;
	urcu_memb_unregister_thread();
}

/* The maps text of @v (new). */
static char *maps_text(struct vas *v)
{
	struct vas_vma_info *m;
	size_t nr, i, len = 0;
	char *text;

	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	text = malloc(nr * 512 + 1);
	text[0] = 0;
	for (i = 0; i < nr; i++)
		len += vas_format_maps_line(&m[i], text + len, 512);
	vma_free(m);
	return text;
}

static void valid(struct vas *v)
{
	char msg[256];

	ck_assert_msg(vas_validate(v, msg, sizeof(msg)) == 0, "%s", msg);
}

/*
 * Import @a with each allocation in turn failing, until one import
 * succeeds: each failure is -ENOMEM and leaves nothing behind (ASan checks
 * leaks).
 */
static void import_alloc_failures(const struct vas_import_area *a, size_t nr)
{
	long n;

	for (n = 0; n < 500; n++) {
		struct vas *v = NULL;
		int err;

		vma_alloc_fail_after(n);
		err = import(a, nr, 0x555555560000, &v, NULL);
		vma_alloc_fail_after(-1);
		if (!err) {
			valid(v);
			vas_free(v);
			break;
		}
		ck_assert_int_eq(err, -ENOMEM);
		ck_assert_ptr_null(v);
	}
	ck_assert_int_lt(n, 500);
}

static size_t nr_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_import_exact)
{
	struct vas_vma_info *m;
	size_t nr, i;
	char *t = maps_text(vas);

	ck_assert_int_eq(vas_maps(vas, &m, &nr), 0);
	ck_assert_uint_eq(nr, NR_CAT);
	for (i = 0; i < nr; i++) {
		ck_assert_uint_eq(m[i].start, cat_areas[i].start);
		ck_assert_uint_eq(m[i].end, cat_areas[i].end);
		ck_assert_uint_eq(m[i].prot, cat_areas[i].prot);
	}
	/* The relro piece and the data piece share one anon_vma. */
	ck_assert_uint_ne(m[3].anon_vma, 0);
	ck_assert_uint_eq(m[3].anon_vma, m[4].anon_vma);
	/* The stack has its own, and its name. */
	ck_assert_uint_ne(m[10].anon_vma, 0);
	ck_assert_uint_ne(m[10].anon_vma, m[4].anon_vma);
	ck_assert_str_eq(m[10].name, "[stack]");
	ck_assert(m[10].flags & VAS_VM_GROWSDOWN);
	/* Special mappings print like the kernel's: no offset, no device. */
	ck_assert_str_eq(m[7].name, "[vdso]");
	ck_assert(m[7].flags & VAS_VM_SPECIAL);
	ck_assert_msg(strstr(t, "7ffff7fc8000-7ffff7fca000 r-xp 00000000 "
				"00:00 0                          [vdso]\n"),
		      "%s", t);
	ck_assert_msg(strstr(t, "ffffffffff600000-ffffffffff601000 --xp "
				"00000000 00:00 0                  "
				"[vsyscall]\n"),
		      "%s", t);
	/* The two adjacent r--p pieces of ld.so stay apart. */
	ck_assert_msg(strstr(t, "7ffff7fca000-7ffff7fcb000 r--p"), "%s", t);
	ck_assert_msg(strstr(t, "7ffff7fcb000-7ffff7fcc000 r--p 00001000"),
		      "%s", t);
	valid(vas);
	vma_free(m);
	free(t);
}
END_TEST

START_TEST(test_import_then_mmap)
{
	uint64_t out;

	/* Placement goes on top-down below mmap_base. */
	ck_assert_int_eq(vas_mmap(vas, 0, 8192, RW,
				  VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS, NULL, 0,
				  &out),
			 0);
	ck_assert_uint_eq(out, 0x7ffff7ffd000);
	/* The heap grows from start_brk. */
	ck_assert_int_eq(vas_brk(vas, 0x555555581000, &out), 0);
	ck_assert_uint_eq(out, 0x555555581000);
	{
		char *t = maps_text(vas);

		ck_assert_msg(strstr(t, "555555560000-555555581000 rw-p "
					"00000000 00:00 0                  "
					"        [heap]\n"),
			      "%s", t);
		free(t);
	}
	valid(vas);
}
END_TEST

START_TEST(test_special_rules)
{
	uint64_t out;
	struct vas *child;
	char *before = maps_text(vas), *after;

	/* No split: munmap, mprotect, MAP_FIXED of part of [vdso]. */
	ck_assert_int_eq(vas_munmap(vas, 0x7ffff7fc8000, PG), -EINVAL);
	ck_assert_int_eq(vas_munmap(vas, 0x7ffff7fc9000, PG), -EINVAL);
	ck_assert_int_eq(vas_mprotect(vas, 0x7ffff7fc8000, PG, R), -EINVAL);
	ck_assert_int_eq(
		vas_mmap(vas, 0x7ffff7fc9000, PG, R,
			 VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &out),
		-EINVAL);
	/* An unmap that cuts across [vvar_vclock] into [vdso]. */
	ck_assert_int_eq(vas_munmap(vas, 0x7ffff7fc7000, 2 * PG), -EINVAL);
	/* No growth; no MREMAP_DONTUNMAP; no partial move. */
	ck_assert_int_eq(vas_mremap(vas, 0x7ffff7fc8000, 2 * PG, 3 * PG,
				    VAS_MREMAP_MAYMOVE, 0, &out),
			 -EFAULT);
	ck_assert_int_eq(vas_mremap(vas, 0x7ffff7fc8000, 2 * PG, 2 * PG,
				    VAS_MREMAP_MAYMOVE | VAS_MREMAP_DONTUNMAP,
				    0x100000000, &out),
			 -EINVAL);
	ck_assert_int_eq(vas_mremap(vas, 0x7ffff7fc8000, PG, PG,
				    VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED,
				    0x100000000, &out),
			 -EINVAL);
	/* [vvar] has no VM_MAYWRITE/VM_MAYEXEC. */
	ck_assert_int_eq(vas_mprotect(vas, 0x7ffff7fc2000, 4 * PG, RW),
			 -EACCES);
	ck_assert_int_eq(vas_mprotect(vas, 0x7ffff7fc2000, 4 * PG, RX),
			 -EACCES);
	/* The gate is beyond task_size: munmap says EINVAL. */
	ck_assert_int_eq(vas_munmap(vas, 0xffffffffff600000, PG), -EINVAL);
	after = maps_text(vas);
	ck_assert_str_eq(before, after);
	free(after);

	/* Whole: mprotect and move work, and never merge. */
	ck_assert_int_eq(vas_mprotect(vas, 0x7ffff7fc8000, 2 * PG, R), 0);
	ck_assert_int_eq(vas_mprotect(vas, 0x7ffff7fc2000, 4 * PG, 0), 0);
	ck_assert_int_eq(vas_mremap(vas, 0x7ffff7fc8000, 2 * PG, 2 * PG,
				    VAS_MREMAP_MAYMOVE | VAS_MREMAP_FIXED,
				    0x100000000, &out),
			 0);
	ck_assert_uint_eq(out, 0x100000000);
	ck_assert_int_eq(
		vas_mmap(vas, 0x100002000, PG, R,
			 VAS_MAP_PRIVATE | VAS_MAP_ANONYMOUS | VAS_MAP_FIXED,
			 NULL, 0, &out),
		0);
	after = maps_text(vas);
	/* The vdso at its new place, not merged with the r--p below. */
	ck_assert_msg(
		strstr(after, "100000000-100002000 r--p 00000000 00:00 0 "),
		"%s", after);
	ck_assert_msg(strstr(after, "[vdso]\n100002000-100003000 r--p"), "%s",
		      after);
	ck_assert_uint_eq(nr_lines(after), NR_CAT + 1);
	free(after);
	free(before);
	/* fork copies special mappings and the gate. */
	ck_assert_int_eq(vas_fork(vas, &child), 0);
	before = maps_text(vas);
	after = maps_text(child);
	ck_assert_str_eq(before, after);
	valid(child);
	vas_free(child);
	/* Whole munmap of a special mapping is allowed. */
	ck_assert_int_eq(vas_munmap(vas, 0x100000000, 2 * PG), 0);
	valid(vas);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_import_shmem_and_errors)
{
	struct vas_import_area a[] = {
		{0x10000000, 0x10002000, 0, RW, VAS_VM_SHARED, VAS_IMPORT_SHMEM,
		 NULL, 77, 0, NULL},
		{0x10002000, 0x10003000, 0x2000, R, VAS_VM_SHARED,
		 VAS_IMPORT_SHMEM, NULL, 77, 0, NULL},
		{0x10003000, 0x10004000, 0, RW, VAS_VM_SHARED, VAS_IMPORT_SHMEM,
		 NULL, 78, 0, NULL},
	};
	struct vas_vma_info *m;
	struct vas *v;
	size_t nr, bad;

	ck_assert_int_eq(import(a, 3, 0x555555560000, &v, NULL), 0);
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, 3);
	ck_assert_uint_eq(m[0].inode, 77);
	ck_assert_uint_eq(m[1].inode, 77);
	ck_assert_uint_eq(m[2].inode, 78);
	vma_free(m);
	/* Back to rw: the two pieces of inode 77 are one file, and merge. */
	ck_assert_int_eq(vas_mprotect(v, 0x10002000, PG, RW), 0);
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, 2);
	vma_free(m);
	valid(v);
	vas_free(v);

	/* Overlap, unaligned, outside, growsdown on a file: nothing made. */
	a[1].start = 0x10001000;
	v = NULL;
	ck_assert_int_eq(import(a, 3, 0x555555560000, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 1);
	ck_assert_ptr_null(v);
	a[1].start = 0x10002000;
	a[2].end = 0x10004001;
	ck_assert_int_eq(import(a, 3, 0x555555560000, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 2);
	a[2].end = 0x10004000;
	a[0].start = 0x1000;
	ck_assert_int_eq(import(a, 3, 0x555555560000, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 0);
	ck_assert_int_eq(import(cat_areas, NR_CAT, 0x1000, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, NR_CAT);
	ck_assert_ptr_null(v);
}
END_TEST

/*
 * Flags of madvise, mlock and mseal and anonymous names, as smaps shows
 * them: kept, printed back, counted (locked_vm), and later calls answer
 * as they would on the VMAs Linux has.
 */
#define A_RW(s, e, fl, pages, nm)                                              \
	{                                                                      \
		s, e, 0, RW, VAS_VM_ACCOUNT | (fl), VAS_IMPORT_ANON, NULL, 0,  \
			pages, nm                                              \
	}

static const struct vas_import_area flag_areas[] = {
	A_RW(0x10000000, 0x10002000, 0, 0, "arena"),		   /* 0 */
	A_RW(0x10002000, 0x10004000, 0, 0, "other"),		   /* 1 */
	A_RW(0x10004000, 0x10006000, VAS_VM_LOCKED, 2, NULL),	   /* 2 */
	A_RW(0x10006000, 0x10008000, VAS_VM_DONTDUMP, 0, NULL),	   /* 3 */
	A_RW(0x10008000, 0x1000a000, VAS_VM_SEALED, 0, NULL),	   /* 4 */
	A_RW(0x1000a000, 0x1000c000, VAS_VM_MAYBE_GUARD, 0, NULL), /* 5 */
	{0x1000c000, 0x1000e000, 0, RW, VAS_VM_SHARED, VAS_IMPORT_SHMEM, NULL,
	 5, 0, "shm"}, /* 6 */
	A_RW(0x20000000, 0x20003000,
	     VAS_VM_LOCKED | VAS_VM_LOCKONFAULT | VAS_VM_DONTCOPY |
		     VAS_VM_WIPEONFORK | VAS_VM_HUGEPAGE | VAS_VM_SEQ_READ |
		     VAS_VM_MERGEABLE,
	     0, NULL), /* 7 */
	A_RW(0x20003000, 0x20004000, VAS_VM_NOHUGEPAGE | VAS_VM_RAND_READ, 0,
	     NULL), /* 8 */
};
#define NR_FLAG (sizeof(flag_areas) / sizeof(flag_areas[0]))

static void vmflags_of(const struct vas_vma_info *m, char *buf)
{
	vas_format_vmflags(m, buf, VAS_VMFLAGS_MAX);
}

START_TEST(test_import_flags_and_names)
{
	static const char *const want[NR_FLAG] = {
		"rd wr mr mw me ac ",
		"rd wr mr mw me ac ",
		"rd wr mr mw me lo ac ",
		"rd wr mr mw me ac dd ",
		"rd wr mr mw me ac sl ",
		"rd wr mr mw me gu ac ",
		"rd wr sh mr mw me ms ",
		"rd wr mr mw me lo sr dc lf ac wf hg mg ",
		"rd wr mr mw me rr ac nh ",
	};
	struct vas_vma_info *m;
	struct vas_stats st;
	struct vas *v, *child;
	size_t nr, i;
	char buf[VAS_VMFLAGS_MAX], *t;

	ck_assert_int_eq(import(flag_areas, NR_FLAG, 0x555555560000, &v, NULL),
			 0);
	valid(v);
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, NR_FLAG);
	for (i = 0; i < nr; i++) {
		vmflags_of(&m[i], buf);
		ck_assert_msg(!strcmp(buf, want[i]), "VMA %zu: '%s', not '%s'",
			      i, buf, want[i]);
	}
	ck_assert_str_eq(m[0].anon_name, "arena");
	ck_assert_str_eq(m[1].anon_name, "other");
	ck_assert_str_eq(m[2].anon_name, "");
	/* The locked VMA has its anonymous pages; the guard one an anon_vma
	 * (madvise_guard_install() prepared it); the others none. */
	ck_assert_uint_ne(m[2].anon_vma, 0);
	ck_assert_uint_ne(m[5].anon_vma, 0);
	ck_assert_uint_ne(m[5].anon_vma, m[2].anon_vma);
	ck_assert_uint_eq(m[3].anon_vma, 0);
	vma_free(m);
	t = maps_text(v);
	ck_assert_msg(strstr(t,
			     "10000000-10002000 rw-p 00000000 00:00 0 "
			     "                                 [anon:arena]\n"
			     "10002000-10004000 rw-p 00000000 00:00 0 "
			     "                                 [anon:other]\n"),
		      "%s", t);
	ck_assert_msg(
		strstr(t,
		       "1000c000-1000e000 rw-s 00000000 00:01 5 "
		       "                                 [anon_shmem:shm]\n"),
		"%s", t);
	free(t);
	/* locked_vm: the pages of the two locked VMAs, as mlock counts. */
	vas_stats(v, &st);
	ck_assert_uint_eq(st.locked_vm, 2 + 3);

	/* Later answers follow the flags. Sealed: EPERM. */
	ck_assert_int_eq(vas_mprotect(v, 0x10008000, PG, R), -EPERM);
	ck_assert_int_eq(vas_munmap(v, 0x10008000, 2 * PG), -EPERM);
	/* Different names keep apart; the same name merges. */
	ck_assert_int_eq(vas_set_anon_name(v, 0x10002000, 2 * PG, "arena"), 0);
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, NR_FLAG - 1);
	ck_assert_uint_eq(m[0].end, 0x10004000);
	ck_assert_str_eq(m[0].anon_name, "arena");
	vma_free(m);
	/* munlock: locked_vm drops by what was locked. */
	ck_assert_int_eq(vas_munlock(v, 0x20000000, 3 * PG), 0);
	vas_stats(v, &st);
	ck_assert_uint_eq(st.locked_vm, 2);
	/* DODUMP: the dontdump VMA merges with nothing (its neighbours are
	 * locked and sealed) but loses "dd". */
	ck_assert_int_eq(vas_madvise(v, 0x10006000, 2 * PG, VAS_MADV_DODUMP),
			 0);
	/* fork: the VM_DONTCOPY VMA stays behind, names follow. */
	ck_assert_int_eq(vas_fork(v, &child), 0);
	ck_assert_int_eq(vas_maps(child, &m, &nr), 0);
	ck_assert_uint_eq(nr, NR_FLAG - 2);
	ck_assert_uint_eq(m[nr - 1].start, 0x20003000);
	ck_assert_str_eq(m[0].anon_name, "arena");
	vma_free(m);
	valid(child);
	vas_free(child);
	valid(v);
	vas_free(v);
}
END_TEST

START_TEST(test_import_flag_and_name_errors)
{
	struct vas_import_area a[NR_FLAG];
	char longname[VAS_ANON_NAME_MAX + 2];
	struct vas_layout l;
	struct vas_import imp = {
		.areas = a, .nr = NR_FLAG, .brk = 0x555555560000};
	struct vas *v = NULL;
	size_t bad;
	unsigned i;
	static const struct {
		size_t idx;
		unsigned flags;
	} bad_flags[] = {
		{2, VAS_VM_ACCOUNT | VAS_VM_LOCKONFAULT},
		{3, VAS_VM_ACCOUNT | VAS_VM_HUGEPAGE | VAS_VM_NOHUGEPAGE},
		{3, VAS_VM_ACCOUNT | VAS_VM_SEQ_READ | VAS_VM_RAND_READ},
		{6, VAS_VM_SHARED | VAS_VM_WIPEONFORK},
		{5, 1u << 31},
	};

	memcpy(a, flag_areas, sizeof(a));
	/* Names as prctl(PR_SET_VMA_ANON_NAME) refuses them. */
	a[1].anon_name = "a$b";
	ck_assert_int_eq(import(a, NR_FLAG, 0x555555560000, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 1);
	a[1].anon_name = "a]b";
	ck_assert_int_eq(import(a, NR_FLAG, 0x555555560000, &v, &bad), -EINVAL);
	a[1].anon_name = "tab\there";
	ck_assert_int_eq(import(a, NR_FLAG, 0x555555560000, &v, &bad), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[VAS_ANON_NAME_MAX + 1] = '\0';
	a[1].anon_name = longname;
	ck_assert_int_eq(import(a, NR_FLAG, 0x555555560000, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 1);
	longname[VAS_ANON_NAME_MAX] = '\0';
	ck_assert_int_eq(import(a, NR_FLAG, 0x555555560000, &v, &bad), 0);
	vas_free(v);
	v = NULL;
	a[1].anon_name = "other";
	/* A name on a file or a special mapping. */
	{
		struct vas_import_area f[NR_CAT];

		memcpy(f, cat_areas, sizeof(f));
		f[0].anon_name = "x";
		ck_assert_int_eq(import(f, NR_CAT, 0x555555560000, &v, &bad),
				 -EINVAL);
		ck_assert_uint_eq(bad, 0);
		f[0].anon_name = NULL;
		f[7].anon_name = "x";
		ck_assert_int_eq(import(f, NR_CAT, 0x555555560000, &v, &bad),
				 -EINVAL);
		ck_assert_uint_eq(bad, 7);
		f[7].anon_name = NULL;
		f[7].flags = VAS_VM_LOCKED;
		ck_assert_int_eq(import(f, NR_CAT, 0x555555560000, &v, &bad),
				 -EINVAL);
		ck_assert_uint_eq(bad, 7);
		/*
		 * MADV_WIPEONFORK takes memory without a vm_file: all of a
		 * special mapping, never a file.
		 */
		f[7].flags = VAS_VM_WIPEONFORK;
		ck_assert_int_eq(import(f, NR_CAT, 0x555555560000, &v, &bad),
				 0);
		vas_free(v);
		v = NULL;
		f[7].flags = 0;
		f[0].flags = VAS_VM_WIPEONFORK;
		ck_assert_int_eq(import(f, NR_CAT, 0x555555560000, &v, &bad),
				 -EINVAL);
		ck_assert_uint_eq(bad, 0);
	}
	/* Flags no call sequence makes. */
	for (i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		unsigned old = a[bad_flags[i].idx].flags;

		a[bad_flags[i].idx].flags = bad_flags[i].flags;
		ck_assert_int_eq(import(a, NR_FLAG, 0x555555560000, &v, &bad),
				 -EINVAL);
		ck_assert_uint_eq(bad, bad_flags[i].idx);
		a[bad_flags[i].idx].flags = old;
	}
	/* A kernel without CONFIG_ANON_VMA_NAME has no names to import. */
	vas_layout_default(&l);
	l.brk_base = 0x555555560000;
	l.no_anon_vma_name = true;
	ck_assert_int_eq(vas_import(&l, &imp, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, 0);
	ck_assert_ptr_null(v);
	/* Every allocation failure, names included, leaves nothing. */
	import_alloc_failures(flag_areas, NR_FLAG);
}
END_TEST

/*
 * Pieces of one VMA that madvise or mlock split keep its anon_vma
 * (__split_vma()), so they merge again when the flags come back; a VMA
 * that differs in VM_NOHUGEPAGE (a MAP_STACK thread stack) was faulted
 * apart and has its own.
 */
START_TEST(test_import_split_pieces_share_anon)
{
	static const struct vas_import_area a[] = {
		A_RW(0x10000000, 0x10001000, 0, 1, NULL),
		A_RW(0x10001000, 0x10002000, VAS_VM_LOCKED, 1, NULL),
		A_RW(0x10002000, 0x10003000, VAS_VM_DONTDUMP, 1, NULL),
		A_RW(0x10003000, 0x10004000, 0, 1, NULL),
		A_RW(0x10004000, 0x10005000, VAS_VM_NOHUGEPAGE, 1, NULL),
	};
	struct vas_vma_info *m;
	struct vas *v;
	size_t nr;

	ck_assert_int_eq(import(a, 5, 0x555555560000, &v, NULL), 0);
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, 5);
	ck_assert_uint_ne(m[0].anon_vma, 0);
	ck_assert_uint_eq(m[1].anon_vma, m[0].anon_vma);
	ck_assert_uint_eq(m[2].anon_vma, m[0].anon_vma);
	ck_assert_uint_eq(m[3].anon_vma, m[0].anon_vma);
	ck_assert_uint_ne(m[4].anon_vma, m[0].anon_vma);
	vma_free(m);
	ck_assert_int_eq(vas_munlock(v, 0x10001000, PG), 0);
	ck_assert_int_eq(vas_madvise(v, 0x10002000, PG, VAS_MADV_DODUMP), 0);
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, 2);
	ck_assert_uint_eq(m[0].end, 0x10004000);
	vma_free(m);
	valid(v);
	vas_free(v);
}
END_TEST

/*
 * Guard markers (MADV_GUARD_INSTALL) given with the layout:
 *
 *   10000000 anon  ...G....  G: guard range 0 (one page)
 *   10004000 file  GG        guard range 1 spans the two VMAs
 *   10006000 anon  LL        VM_LOCKED: can hold no marker
 *   ... [vdso]               special: can hold no marker
 */
static const struct vas_import_area guard_areas[] = {
	A_RW(0x10000000, 0x10004000, 0, 0, NULL),
	{0x10004000, 0x10006000, 0, R, 0, VAS_IMPORT_FILE, cat, 0, 0, NULL},
	A_RW(0x10006000, 0x10008000, VAS_VM_LOCKED, 2, NULL),
	{0x7ffff7fc8000, 0x7ffff7fca000, 0, RX, 0, VAS_IMPORT_SPECIAL, "[vdso]",
	 0, 0, NULL},
};
#define NR_GUARD_AREAS (sizeof(guard_areas) / sizeof(guard_areas[0]))

static int import_guards(const struct vas_import_guard *g, size_t nr_g,
			 struct vas **out, size_t *bad)
{
	struct vas_import imp = {
		.areas = guard_areas,
		.nr = NR_GUARD_AREAS,
		.brk = 0x555555560000,
		.guards = g,
		.nr_guards = nr_g,
	};
	struct vas_layout l;

	vas_layout_default(&l);
	l.brk_base = 0x555555560000;
	*out = NULL;
	return vas_import(&l, &imp, out, bad);
}

static enum vas_segv_code fault_code(struct vas *v, uint64_t addr)
{
	struct vas_fault_result r;

	ck_assert_int_eq(vas_fault(v, addr, VAS_ACCESS_READ, &r), 0);
	return r.status == VAS_FAULT_OK ? VAS_SEGV_NONE : r.code;
}

START_TEST(test_import_guards)
{
	static const struct vas_import_guard g[] = {
		{0x10001000, 0x10002000},
		{0x10003000, 0x10005000},
	};
	struct vas *v, *w, *c;
	struct vas_vma_info *m;
	char msg[256];
	void *b1, *b2;
	size_t nr, l1, l2;

	ck_assert_int_eq(import_guards(g, 2, &v, NULL), 0);
	valid(v);
	ck_assert_int_eq(fault_code(v, 0x10000000), VAS_SEGV_NONE);
	ck_assert_int_eq(fault_code(v, 0x10001000), VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(v, 0x10002000), VAS_SEGV_NONE);
	ck_assert_int_eq(fault_code(v, 0x10003000), VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(v, 0x10004000), VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(v, 0x10005000), VAS_SEGV_NONE);
	/* madvise_guard_install(): VM_MAYBE_GUARD, an anon_vma if anonymous. */
	ck_assert_int_eq(vas_maps(v, &m, &nr), 0);
	ck_assert_uint_eq(nr, NR_GUARD_AREAS);
	ck_assert(m[0].flags & VAS_VM_MAYBE_GUARD);
	ck_assert_uint_ne(m[0].anon_vma, 0);
	ck_assert(m[1].flags & VAS_VM_MAYBE_GUARD);
	ck_assert(!(m[2].flags & VAS_VM_MAYBE_GUARD));
	vma_free(m);

	/* The same state as MADV_GUARD_INSTALL on the plain import. */
	ck_assert_int_eq(import_guards(NULL, 0, &w, NULL), 0);
	ck_assert_int_eq(vas_madvise(w, 0x10001000, PG, VAS_MADV_GUARD_INSTALL),
			 0);
	ck_assert_int_eq(
		vas_madvise(w, 0x10003000, 2 * PG, VAS_MADV_GUARD_INSTALL), 0);
	{
		char *t1 = maps_text(v), *t2 = maps_text(w);

		ck_assert_str_eq(t1, t2);
		free(t1);
		free(t2);
	}
	vas_free(w);

	/* A snapshot carries them. */
	ck_assert_int_eq(vas_snapshot(v, &b1, &l1), 0);
	ck_assert_msg(vas_restore(b1, l1, &c, msg, sizeof(msg)) == 0, "%s",
		      msg);
	ck_assert_int_eq(vas_snapshot(c, &b2, &l2), 0);
	ck_assert_uint_eq(l1, l2);
	ck_assert_int_eq(memcmp(b1, b2, l1), 0);
	ck_assert_int_eq(fault_code(c, 0x10001000), VAS_SEGV_MAPERR);
	ck_assert_int_eq(fault_code(c, 0x10004000), VAS_SEGV_MAPERR);
	vma_free(b1);
	vma_free(b2);
	vas_free(c);

	/* MADV_GUARD_REMOVE takes them away again. */
	ck_assert_int_eq(vas_madvise(v, 0x10001000, PG, VAS_MADV_GUARD_REMOVE),
			 0);
	ck_assert_int_eq(fault_code(v, 0x10001000), VAS_SEGV_NONE);
	valid(v);
	vas_free(v);
}
END_TEST

/* Guard ranges Linux cannot hold: refused whole, naming the range. */
START_TEST(test_import_guard_errors)
{
	static const struct {
		struct vas_import_guard g[2];
		size_t nr, bad;
	} cases[] = {
		{{{0x10001001, 0x10002000}}, 1, 0}, /* unaligned */
		{{{0x10001000, 0x10001800}}, 1, 0}, /* unaligned */
		{{{0x10001000, 0x10001000}}, 1, 0}, /* empty */
		{{{0x10002000, 0x10001000}}, 1, 0}, /* reversed */
		{{{0x10001000, 0x10003000}, {0x10002000, 0x10004000}},
		 2,
		 1}, /* overlapping */
		{{{0x10002000, 0x10003000}, {0x10001000, 0x10002000}},
		 2,
		 1},				    /* unsorted */
		{{{0x0f000000, 0x0f001000}}, 1, 0}, /* below every VMA */
		{{{0x10005000, 0x10009000}}, 1, 0}, /* into a hole */
		{{{0x10008000, 0x10009000}}, 1, 0}, /* in a hole */
		{{{0x10001000, 0x10002000}, {0x10006000, 0x10007000}},
		 2,
		 1},				    /* VM_LOCKED */
		{{{0x10005000, 0x10007000}}, 1, 0}, /* reaches VM_LOCKED */
		{{{0x7ffff7fc8000, 0x7ffff7fc9000}}, 1, 0}, /* [vdso] */
		{{{0x7ffff7fca000, 0x7ffff7fcb000}}, 1, 0}, /* above all */
	};
	struct vas_import_guard ok = {0x10001000, 0x10002000};
	struct vas *v;
	size_t i, bad;
	long n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad = 0;
		ck_assert_msg(import_guards(cases[i].g, cases[i].nr, &v,
					    &bad) == -EINVAL,
			      "case %zu", i);
		ck_assert_ptr_null(v);
		ck_assert_uint_eq(bad, NR_GUARD_AREAS + 1 + cases[i].bad);
	}
	/* A count without an array. */
	ck_assert_int_eq(import_guards(NULL, 1, &v, &bad), -EINVAL);
	ck_assert_uint_eq(bad, NR_GUARD_AREAS + 1);
	/* Touching ranges are one. */
	{
		static const struct vas_import_guard t[] = {
			{0x10001000, 0x10002000}, {0x10002000, 0x10003000}};

		ck_assert_int_eq(import_guards(t, 2, &v, NULL), 0);
		ck_assert_int_eq(fault_code(v, 0x10002000), VAS_SEGV_MAPERR);
		valid(v);
		vas_free(v);
	}
	/* Every allocation failure leaves nothing behind. */
	for (n = 0; n < 500; n++) {
		int err;

		vma_alloc_fail_after(n);
		err = import_guards(&ok, 1, &v, NULL);
		vma_alloc_fail_after(-1);
		if (!err) {
			ck_assert_int_eq(fault_code(v, 0x10001000),
					 VAS_SEGV_MAPERR);
			vas_free(v);
			break;
		}
		ck_assert_int_eq(err, -ENOMEM);
		ck_assert_ptr_null(v);
	}
	ck_assert_int_lt(n, 500);
}
END_TEST

/* Every allocation failure leaves nothing behind (ASan checks leaks). */
START_TEST(test_import_alloc_failure)
{
	import_alloc_failures(cat_areas, NR_CAT);
}
END_TEST

static Suite *import_suite(void)
{
	Suite *s = suite_create("vas_import");
	TCase *tc = tcase_create("import");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_import_exact);
	tcase_add_test(tc, test_import_then_mmap);
	tcase_add_test(tc, test_special_rules);
	tcase_add_test(tc, test_import_shmem_and_errors);
	tcase_add_test(tc, test_import_alloc_failure);
	tcase_add_test(tc, test_import_flags_and_names);
	tcase_add_test(tc, test_import_flag_and_name_errors);
	tcase_add_test(tc, test_import_split_pieces_share_anon);
	tcase_add_test(tc, test_import_guards);
	tcase_add_test(tc, test_import_guard_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(import_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
