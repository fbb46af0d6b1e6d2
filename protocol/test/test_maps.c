// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Unit tests of the /proc/PID/maps and smaps parser (protocol/maps.c)
 * and of what it makes of a line for vas_import(): anonymous VMA names
 * ("[anon:NAME]", "[anon_shmem:NAME]") and the VmFlags mnemonics the
 * import keeps, and the round trip: smaps text imported, then printed as
 * the daemon prints maps lines and VmFlags, gives the same text back.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "rpc/maps.h"

/* Parse @text, which must succeed. */
static void parse_ok(const char *text, struct rpc_maps *m)
{
	struct rpc_error err = {0};
	int ret = rpc_maps_parse(text, strlen(text), m, &err);

	ck_assert_msg(ret == 0, "%d: %s", ret, err.msg);
}

/* Parse @text, which must fail naming @line and holding @what. */
static void parse_bad(const char *text, unsigned line, const char *what)
{
	struct rpc_error err = {0};
	struct rpc_maps m;
	char want[32];
	int ret = rpc_maps_parse(text, strlen(text), &m, &err);

	ck_assert_int_eq(ret, -EPROTO);
	ck_assert_int_eq(err.code, RPC_INVALID_PARAMS);
	snprintf(want, sizeof(want), "'maps' line %u: ", line);
	ck_assert_msg(!strncmp(err.msg, want, strlen(want)), "%s", err.msg);
	ck_assert_msg(strstr(err.msg, what), "%s", err.msg);
	ck_assert_ptr_null(m.v);
}

START_TEST(test_anon_names)
{
	static const char text[] =
		"10000000-10002000 rw-p 00000000 00:00 0 [anon:myarena]\n"
		"10002000-10003000 rw-p 00000000 00:00 0 [anon:]\n"
		"10003000-10004000 rw-s 00000000 00:01 7 [anon_shmem:shm one]\n"
		"10004000-10005000 rw-p 00000000 00:00 0 [anonymous]\n"
		"10005000-10006000 rw-p 00000000 00:00 0\n";
	struct vas_import_area a[5];
	struct rpc_maps m;

	parse_ok(text, &m);
	ck_assert_uint_eq(m.nr, 5);
	ck_assert_str_eq(m.v[0].path, "[anon:myarena]");
	ck_assert_str_eq(m.v[0].anon_name, "myarena");
	ck_assert_str_eq(m.v[1].anon_name, "");
	ck_assert_str_eq(m.v[2].anon_name, "shm one");
	/* Other bracketed names are special mappings, not names. */
	ck_assert_ptr_null(m.v[3].anon_name);
	ck_assert_ptr_null(m.v[4].anon_name);
	rpc_maps_to_import(&m, a);
	ck_assert_int_eq(a[0].kind, VAS_IMPORT_ANON);
	ck_assert_str_eq(a[0].anon_name, "myarena");
	ck_assert_int_eq(a[2].kind, VAS_IMPORT_SHMEM);
	ck_assert_uint_eq(a[2].inode, 7);
	ck_assert_str_eq(a[2].anon_name, "shm one");
	ck_assert_int_eq(a[3].kind, VAS_IMPORT_SPECIAL);
	ck_assert_ptr_null(a[3].anon_name);
	ck_assert_ptr_null(a[4].anon_name);
	rpc_maps_fini(&m);
}
END_TEST

/*
 * Maps text alone: [vvar] and [vvar_vclock] are VM_PFNMAP special
 * mappings with VM_DONTDUMP, as vdso_install_vvar_mapping() installs them
 * (so MADV_DONTDUMP on part of one changes nothing and does not split);
 * [vdso] has neither. Smaps VmFlags say it themselves.
 */
START_TEST(test_special_maps_text)
{
	static const char text[] =
		"7ffff7fc2000-7ffff7fc6000 r--p 00000000 00:00 0 [vvar]\n"
		"7ffff7fc6000-7ffff7fc8000 r--p 00000000 00:00 0 "
		"[vvar_vclock]\n"
		"7ffff7fc8000-7ffff7fca000 r-xp 00000000 00:00 0 [vdso]\n";
	static const char smaps[] =
		"7ffff7fc2000-7ffff7fc6000 r--p 00000000 00:00 0 [vvar]\n"
		"VmFlags: rd mr pf io de \n";
	struct vas_import_area a[3];
	struct rpc_maps m;

	parse_ok(text, &m);
	rpc_maps_to_import(&m, a);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(a[i].kind, VAS_IMPORT_SPECIAL_PFNMAP);
		ck_assert_uint_eq(a[i].flags, VAS_VM_DONTDUMP);
	}
	ck_assert_int_eq(a[2].kind, VAS_IMPORT_SPECIAL);
	ck_assert_uint_eq(a[2].flags, 0);
	rpc_maps_fini(&m);
	parse_ok(smaps, &m);
	rpc_maps_to_import(&m, a);
	ck_assert_int_eq(a[0].kind, VAS_IMPORT_SPECIAL_PFNMAP);
	ck_assert_uint_eq(a[0].flags, 0);
	rpc_maps_fini(&m);
}
END_TEST

START_TEST(test_bad_anon_names)
{
	char text[256], name[VAS_ANON_NAME_MAX + 2];
	struct rpc_maps m;
	const char *bad[] = {"a$b", "a]b", "a`b", "a\\b", "a[b", "\xc3\xa9"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "10000000-10001000 rw-p 00000000 00:00 0\n"
			 "10001000-10002000 rw-p 00000000 00:00 0 [anon:%s]\n",
			 bad[i]);
		parse_bad(text, 2, "bad anonymous VMA name");
	}
	parse_bad("10000000-10001000 rw-s 00000000 00:01 3 [anon_shmem:a$]\n",
		  1, "bad anonymous VMA name");
	parse_bad("10000000-10001000 rw-p 00000000 00:00 0 [anon:open\n", 1,
		  "closing ']'");
	/* 79 bytes are a name, 80 are not (ANON_VMA_NAME_MAX_LEN). */
	memset(name, 'n', sizeof(name));
	name[VAS_ANON_NAME_MAX + 1] = '\0';
	snprintf(text, sizeof(text),
		 "10000000-10001000 rw-p 00000000 00:00 0 [anon:%s]\n", name);
	parse_bad(text, 1, "bad anonymous VMA name");
	name[VAS_ANON_NAME_MAX] = '\0';
	snprintf(text, sizeof(text),
		 "10000000-10001000 rw-p 00000000 00:00 0 [anon:%s]\n", name);
	parse_ok(text, &m);
	ck_assert_str_eq(m.v[0].anon_name, name);
	rpc_maps_fini(&m);
}
END_TEST

/* Many long names: the buffer that holds them is large enough. */
START_TEST(test_many_names)
{
	enum { NR = 5000 };
	char *text = malloc(NR * 160), *p = text;
	struct rpc_maps m;
	size_t i;

	for (i = 0; i < NR; i++)
		p += sprintf(p, "%zx-%zx rw-p 00000000 00:00 0 [anon:%079zu]\n",
			     0x10000000 + i * 0x2000, 0x10001000 + i * 0x2000,
			     i);
	parse_ok(text, &m);
	ck_assert_uint_eq(m.nr, NR);
	for (i = 0; i < NR; i++) {
		char want[VAS_ANON_NAME_MAX + 1];

		snprintf(want, sizeof(want), "%079zu", i);
		ck_assert_str_eq(m.v[i].anon_name, want);
	}
	rpc_maps_fini(&m);
	/* "[anon" everywhere but in a name column: refused, no overrun. */
	memset(text, '[', NR * 100);
	for (i = 0; i + 5 < NR * 100; i += 5)
		memcpy(text + i, "[anon", 5);
	memcpy(text, "10000000-10001000 rw-p 00000000 00:00 0 [anon:x]\n", 49);
	parse_bad(text, 2, "neither a VMA");
	free(text);
}
END_TEST

START_TEST(test_vmflags)
{
	static const char text[] =
		"10000000-10001000 rw-p 00000000 00:00 0\n"
		"Size:                  4 kB\n"
		"VmFlags: rd wr mr mw me lo lf dc ac wf hg sr mg sl zz ht \n"
		"10001000-10002000 rw-p 00000000 00:00 0\n"
		"VmFlags: rd wr mr mw me gu nr dd nh rr um uw\r\n"
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0 "
		"[vsyscall]\n"
		"VmFlags: ex lo dd\n";
	struct vas_import_area a[3];
	struct rpc_maps m;

	parse_ok(text, &m);
	rpc_maps_to_import(&m, a);
	ck_assert_uint_eq(a[0].flags,
			  VAS_VM_LOCKED | VAS_VM_LOCKONFAULT | VAS_VM_DONTCOPY |
				  VAS_VM_ACCOUNT | VAS_VM_WIPEONFORK |
				  VAS_VM_HUGEPAGE | VAS_VM_SEQ_READ |
				  VAS_VM_MERGEABLE | VAS_VM_SEALED);
	/* "gu" is VM_MAYBE_GUARD on x86-64 (VM_GROWSUP has no code). */
	ck_assert_uint_eq(a[1].flags, VAS_VM_MAYBE_GUARD | VAS_VM_NORESERVE |
					      VAS_VM_DONTDUMP |
					      VAS_VM_NOHUGEPAGE |
					      VAS_VM_RAND_READ);
	/* The gate takes no flags from VmFlags. */
	ck_assert_int_eq(a[2].kind, VAS_IMPORT_GATE);
	ck_assert_uint_eq(a[2].flags, 0);
	rpc_maps_fini(&m);
}
END_TEST

/*
 * @s with runs of spaces made one and the inode of a file line (device
 * fe:01: the model numbers its files itself) made "I", in place.
 */
static void normalize(char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (*r == ' ' && w > s && w[-1] == ' ') {
			r++;
			continue;
		}
		if (!strncmp(r, "fe:01 ", 6)) {
			memcpy(w, "fe:01 I", 7);
			w += 7;
			r += 6;
			while (*r >= '0' && *r <= '9')
				r++;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
}

/*
 * smaps text, each VMA with the VmFlags vas_format_vmflags() prints for
 * it: imported, then printed back, line for line (the padding before a
 * name and a file's inode aside).
 */
START_TEST(test_round_trip)
{
	static const char text[] =
		"10000000-10002000 rw-p 00000000 00:00 0 "
		"                                [anon:myarena]\n"
		"VmFlags: rd wr mr mw me ac \n"
		"10002000-10004000 rw-p 00000000 00:00 0 "
		"                                [anon:other]\n"
		"VmFlags: rd wr mr mw me ac \n"
		"10004000-10005000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me lo ac \n"
		"10005000-10006000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me lo lf ac \n"
		"10006000-10007000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me dc ac \n"
		"10007000-10008000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac wf \n"
		"10008000-10009000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac dd \n"
		"10009000-1000a000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac hg \n"
		"1000a000-1000b000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac nh \n"
		"1000b000-1000c000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me sr ac \n"
		"1000c000-1000d000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me rr ac \n"
		"1000d000-1000e000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac mg \n"
		"1000e000-1000f000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me gu ac \n"
		"1000f000-10010000 rw-p 00000000 00:00 0 \n"
		"VmFlags: rd wr mr mw me ac sl \n"
		"10010000-10011000 r--p 00000000 00:00 0 \n"
		"VmFlags: rd mr mw me sr dc nr dd nh mg sl \n"
		"10011000-10013000 rw-s 00000000 00:01 9 "
		"                                [anon_shmem:shm]\n"
		"VmFlags: rd wr sh mr mw me ms lo dd \n"
		"555555554000-555555556000 r--p 00000000 fe:01 1 "
		"                        /usr/bin/cat\n"
		"VmFlags: rd mr mw me dc dd \n"
		"7ffff7fc2000-7ffff7fc6000 r--p 00000000 00:00 0 "
		"                         [vvar]\n"
		"VmFlags: rd mr pf io de dd \n"
		"7ffff7fc8000-7ffff7fca000 r-xp 00000000 00:00 0 "
		"                         [vdso]\n"
		"VmFlags: rd ex mr mw me de dd sl \n";
	struct vas_import imp = {.brk = 0x555555560000};
	struct vas_import_area *a;
	struct vas_vma_info *info;
	struct vas_layout l;
	struct rpc_maps m;
	struct vas *vas;
	size_t nr, i, len = 0, bad;
	char *out;

	parse_ok(text, &m);
	a = calloc(m.nr, sizeof(*a));
	rpc_maps_to_import(&m, a);
	imp.areas = a;
	imp.nr = m.nr;
	vas_layout_default(&l);
	l.brk_base = 0x555555560000;
	urcu_memb_register_thread();
	ck_assert_int_eq(vas_import(&l, &imp, &vas, &bad), 0);
	ck_assert_int_eq(vas_maps(vas, &info, &nr), 0);
	ck_assert_uint_eq(nr, m.nr);
	out = malloc(sizeof(text) * 2);
	for (i = 0; i < nr; i++) {
		len += (size_t)vas_format_maps_line(&info[i], out + len, 512);
		len += (size_t)sprintf(out + len, "VmFlags: ");
		len += (size_t)vas_format_vmflags(&info[i], out + len,
						  VAS_VMFLAGS_MAX);
		out[len++] = '\n';
		out[len] = '\0';
	}
	{
		char *want = strdup(text);

		normalize(want);
		normalize(out);
		ck_assert_str_eq(out, want);
		free(want);
	}
	free(out);
	vma_free(info);
	vas_free(vas);
	urcu_memb_unregister_thread();
	free(a);
	rpc_maps_fini(&m);
}
END_TEST

static Suite *maps_suite(void)
{
	Suite *s = suite_create("rpc_maps");
	TCase *tc = tcase_create("maps");

	tcase_add_test(tc, test_anon_names);
	tcase_add_test(tc, test_special_maps_text);
	tcase_add_test(tc, test_bad_anon_names);
	tcase_add_test(tc, test_many_names);
	tcase_add_test(tc, test_vmflags);
	tcase_add_test(tc, test_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(maps_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
