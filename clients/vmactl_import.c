// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl space import - the text a space.import request carries.
 *
 * "vmactl space import NAME --maps FILE" sends the text of FILE (a copy of
 * /proc/PID/maps or /proc/PID/smaps; "-" reads standard input);
 * "--pid PID" reads /proc/PID/smaps of a live process, and its start_brk
 * and start_stack from /proc/PID/stat (fields 47 and 28; brk itself is in
 * no /proc file, so the daemon takes the end of the [heap] VMA). Only the
 * smaps lines the import uses are sent (the VMA lines, Anonymous and
 * VmFlags), which keeps large processes below the daemon's message limit.
 *
 * With --pid the guard markers of the process (MADV_GUARD_INSTALL) are
 * sent too, as "guards": smaps shows only that a VMA once had some (the
 * "gu" VmFlag, VM_MAYBE_GUARD), /proc/PID/pagemap where they are (bit 58,
 * PM_GUARD_REGION, Linux 6.14+: pte_to_pagemap_entry() sets it for a
 * guard PTE marker). Only the VMAs with "gu" are read, in chunks, so a
 * process without guards costs nothing. Whether the kernel reports them
 * is asked first (a guard page in vmactl's own memory); if it does not,
 * or the pagemap cannot be read, the import goes on without them and says
 * so on stderr. Markers in VMAs that MADV_GUARD_INSTALL refuses (locked
 * after the install, or special) are left out the same way.
 */
#include "vmactl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rpc/maps.h"

#define PM_GUARD_REGION	   (1ULL << 58) /* fs/proc/task_mmu.c */
#define PM_CHUNK	   4096		/* pagemap entries per read */
#define GUARD_MADV_INSTALL 102		/* MADV_GUARD_INSTALL */
#define PAGE		   4096ULL

/* The whole of @f (new, NUL-terminated), or NULL. */
static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap + 1), *nb;

	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
	}
	if (!buf || ferror(f)) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* start_stack (field 28) and start_brk (field 47) of /proc/PID/stat. */
static int read_stat(long pid, uint64_t *start_stack, uint64_t *start_brk)
{
	char path[64], buf[4096], *p;
	unsigned long long v;
	size_t n;
	int field = 3;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p)
		return -EINVAL;
	p++;
	while (*p && field <= 47) {
		while (*p == ' ')
			p++;
		v = strtoull(p, &p, 10);
		if (field == 28)
			*start_stack = v;
		if (field == 47)
			*start_brk = v;
		field++;
		if (*p == ' ' || !*p)
			continue;
		/* field 3 (state) is a letter */
		while (*p && *p != ' ')
			p++;
	}
	return field > 47 ? 0 : -EINVAL;
}

/*
 * Does the running kernel report guard markers in pagemap? A guard page
 * in our own memory, looked at.
 */
static bool pagemap_reports_guards(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t e = 0;
	bool ok = false;
	int fd;

	if (p == MAP_FAILED)
		return false;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && !madvise(p, PAGE, GUARD_MADV_INSTALL) &&
	    pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / PAGE * 8)) ==
		    (ssize_t)sizeof(e))
		ok = e & PM_GUARD_REGION;
	if (fd >= 0)
		close(fd);
	munmap(p, 2 * PAGE);
	return ok;
}

/*
 * Append to @guards the runs of guard pages of [@start, @end) in the
 * pagemap @fd, PM_CHUNK entries per read.
 * Return: 0; -errno of a failed read.
 */
static int read_guard_runs(int fd, uint64_t start, uint64_t end, json_t *guards)
{
	static uint64_t e[PM_CHUNK];
	uint64_t addr = start, run = 0; /* run: start of the open run, or 0 */

	while (addr < end) {
		size_t n = (end - addr) / PAGE < PM_CHUNK ? (end - addr) / PAGE
							  : PM_CHUNK,
		       i;
		ssize_t got = pread(fd, e, n * sizeof(e[0]),
				    (off_t)(addr / PAGE * sizeof(e[0])));

		if (got <= 0 || got % sizeof(e[0]))
			return got < 0 ? -errno : -EIO;
		n = (size_t)got / sizeof(e[0]);
		for (i = 0; i < n; i++, addr += PAGE) {
			if ((e[i] & PM_GUARD_REGION) && !run)
				run = addr;
			if (!(e[i] & PM_GUARD_REGION) && run) {
				json_array_append_new(
					guards,
					json_pack("[II]", (json_int_t)run,
						  (json_int_t)addr));
				run = 0;
			}
		}
	}
	if (run)
		json_array_append_new(guards, json_pack("[II]", (json_int_t)run,
							(json_int_t)end));
	return 0;
}

/* One VMA of smaps text with the VmFlags that matter to guard markers. */
struct guard_vma {
	uint64_t start, end;
	bool maybe_guard; /* gu */
	bool refused;	  /* lo, io, pf or de: no MADV_GUARD_INSTALL */
};

/* Does the VmFlags line @s hold the two-letter code @code? */
static bool has_vmflag(const char *s, const char *code)
{
	for (s += strlen("VmFlags:"); *s && *s != '\n'; s++)
		if (s[-1] == ' ' && s[0] == code[0] && s[1] == code[1] &&
		    (s[2] == ' ' || s[2] == '\n' || !s[2]))
			return true;
	return false;
}

/*
 * The next VMA of smaps text at *@pos that has VmFlags "gu", or false at
 * the end. The text is the kernel's (the daemon checks it whole).
 */
static bool next_guard_vma(const char **pos, struct guard_vma *v)
{
	const char *s = *pos;
	bool in_vma = false;

	for (; *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : s + strlen(s)) {
		unsigned long long a, b;
		int n = 0;

		if (sscanf(s, "%llx-%llx %n", &a, &b, &n) == 2 && n) {
			v->start = a;
			v->end = b;
			in_vma = true;
		} else if (in_vma && !strncmp(s, "VmFlags:", 8)) {
			in_vma = false;
			v->maybe_guard = has_vmflag(s, "gu");
			v->refused = has_vmflag(s, "lo") ||
				     has_vmflag(s, "io") ||
				     has_vmflag(s, "pf") || has_vmflag(s, "de");
			if (v->maybe_guard && v->start < v->end) {
				s = strchr(s, '\n');
				*pos = s ? s + 1 : "";
				return true;
			}
		}
	}
	*pos = s;
	return false;
}

/*
 * The guard markers of process @pid, whose smaps is @text, as a
 * space.import "guards" array (new), or NULL when there are none or they
 * cannot be read (said on stderr).
 */
static json_t *read_guards(long pid, const char *text)
{
	const char *pos = text;
	struct guard_vma v;
	json_t *guards;
	char path[64];
	int fd, ret = 0;

	if (!next_guard_vma(&pos, &v))
		return NULL; /* no VMA ever had guard markers */
	if (!pagemap_reports_guards()) {
		fprintf(stderr, "vmactl: this kernel does not report guard "
				"regions in /proc/PID/pagemap (Linux 6.14+): "
				"guard markers are not imported\n");
		return NULL;
	}
	snprintf(path, sizeof(path), "/proc/%ld/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr,
			"vmactl: %s: %s: guard markers are not imported\n",
			path, strerror(errno));
		return NULL;
	}
	guards = json_array();
	pos = text;
	while (guards && !ret && next_guard_vma(&pos, &v)) {
		size_t before = json_array_size(guards);

		ret = read_guard_runs(fd, v.start, v.end, guards);
		if (ret || !v.refused || json_array_size(guards) == before)
			continue;
		/* is_valid_guard_vma(): what MADV_GUARD_INSTALL refuses. */
		fprintf(stderr,
			"vmactl: guard markers in %llx-%llx not imported: "
			"MADV_GUARD_INSTALL refuses a VM_LOCKED or special "
			"VMA\n",
			(unsigned long long)v.start, (unsigned long long)v.end);
		while (json_array_size(guards) > before)
			json_array_remove(guards, json_array_size(guards) - 1);
	}
	close(fd);
	if (ret || !guards) {
		fprintf(stderr,
			"vmactl: %s: %s: guard markers are not imported\n",
			path, strerror(ret ? -ret : ENOMEM));
		json_decref(guards);
		return NULL;
	}
	return guards;
}

int vmactl_import_prepare(json_t *params)
{
	json_t *maps = json_object_get(params, "maps");
	json_t *pid = json_object_get(params, "pid");
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!!maps == !!pid) {
		fprintf(stderr, "vmactl: space import: give exactly one of "
				"--maps FILE and --pid PID\n");
		return -EINVAL;
	}
	if (maps) {
		const char *name = json_string_value(maps);

		f = strcmp(name, "-") ? fopen(name, "r") : stdin;
		if (!f) {
			fprintf(stderr, "vmactl: %s: %s\n", name,
				strerror(errno));
			return -errno;
		}
		text = read_all(f, &len);
		if (f != stdin)
			fclose(f);
	} else {
		long id = (long)json_integer_value(pid);
		uint64_t stack = 0, brk = 0;
		char path[64];
		int ret;

		snprintf(path, sizeof(path), "/proc/%ld/smaps", id);
		f = fopen(path, "r");
		if (!f) {
			fprintf(stderr, "vmactl: %s: %s\n", path,
				strerror(errno));
			return -errno;
		}
		text = read_all(f, &len);
		fclose(f);
		if (text && !json_object_get(params, "guards")) {
			json_t *g = read_guards(id, text);

			if (g)
				json_object_set_new(params, "guards", g);
		}
		ret = read_stat(id, &stack, &brk);
		if (ret) {
			fprintf(stderr, "vmactl: /proc/%ld/stat: %s\n", id,
				strerror(-ret));
			free(text);
			return ret;
		}
		if (!json_object_get(params, "start_stack") && stack)
			json_object_set_new(params, "start_stack",
					    json_integer((json_int_t)stack));
		if (!json_object_get(params, "start_brk") && brk)
			json_object_set_new(params, "start_brk",
					    json_integer((json_int_t)brk));
		json_object_del(params, "pid");
	}
	if (!text) {
		fprintf(stderr, "vmactl: space import: cannot read the maps "
				"text\n");
		return -EIO;
	}
	len = rpc_smaps_reduce(text);
	json_object_set_new(params, "maps", json_stringn(text, len));
	free(text);
	return 0;
}
