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
	{0x555555554000, 0x555555556000, 0, R, 0, VAS_IMPORT_FILE, cat, 0, 0},
	{0x555555556000, 0x55555555b000, 0x2000, RX, 0, VAS_IMPORT_FILE, cat, 0,
	 0},
	{0x55555555b000, 0x55555555e000, 0x7000, R, 0, VAS_IMPORT_FILE, cat, 0,
	 0},
	{0x55555555e000, 0x55555555f000, 0x9000, R, VAS_VM_ACCOUNT,
	 VAS_IMPORT_FILE, cat, 0, 1},
	{0x55555555f000, 0x555555560000, 0xa000, RW, VAS_VM_ACCOUNT,
	 VAS_IMPORT_FILE, cat, 0, 1},
	{0x7ffff7fc2000, 0x7ffff7fc6000, 0, R, 0, VAS_IMPORT_SPECIAL_PFNMAP,
	 "[vvar]", 0, 0},
	{0x7ffff7fc6000, 0x7ffff7fc8000, 0, R, 0, VAS_IMPORT_SPECIAL_PFNMAP,
	 "[vvar_vclock]", 0, 0},
	{0x7ffff7fc8000, 0x7ffff7fca000, 0, RX, 0, VAS_IMPORT_SPECIAL, "[vdso]",
	 0, 0},
	{0x7ffff7fca000, 0x7ffff7fcb000, 0, R, 0, VAS_IMPORT_FILE, ld, 0, 0},
	{0x7ffff7fcb000, 0x7ffff7fcc000, 0x1000, R, 0, VAS_IMPORT_FILE, ld, 0,
	 0},
	{0x7ffffffde000, 0x7ffffffff000, 0, RW,
	 VAS_VM_GROWSDOWN | VAS_VM_ACCOUNT, VAS_IMPORT_ANON, NULL, 0, 3},
	{0xffffffffff600000, 0xffffffffff601000, 0, VAS_PROT_EXEC, 0,
	 VAS_IMPORT_GATE, "[vsyscall]", 0, 0},
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
		 NULL, 77, 0},
		{0x10002000, 0x10003000, 0x2000, R, VAS_VM_SHARED,
		 VAS_IMPORT_SHMEM, NULL, 77, 0},
		{0x10003000, 0x10004000, 0, RW, VAS_VM_SHARED, VAS_IMPORT_SHMEM,
		 NULL, 78, 0},
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

/* Every allocation failure leaves nothing behind (ASan checks leaks). */
START_TEST(test_import_alloc_failure)
{
	long n;

	for (n = 0; n < 500; n++) {
		struct vas *v = NULL;
		int err;

		vma_alloc_fail_after(n);
		err = import(cat_areas, NR_CAT, 0x555555560000, &v, NULL);
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
