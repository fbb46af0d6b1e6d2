// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: trace-native - the physical anchor of a recorded trace: the same
 * memory-management calls executed by the kernel, in this process.
 *
 * Reads a scenario written by vma-record and executes its mmap, munmap,
 * mprotect and mremap requests with real system calls, timing them. The
 * traced program's own layout is not here, so addresses are translated:
 * every range this process mapped for a recorded result is remembered
 * (recorded start -> actual start), and an address inside one is moved
 * by the same amount. A request naming an address in no such range (one
 * of the traced program's execve-time VMAs, or a fixed address chosen by
 * the program) is not executed, and counted. Files are opened by path
 * (the "#N" suffix dropped); a file that cannot be opened is mapped
 * anonymously. brk, faults and the requests of other methods are not
 * executed. The calls are parsed before the clock starts.
 *
 * Prints one JSON line: ops/s of the executed calls, and how many of the
 * trace's requests ran.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

enum op_kind { OP_MMAP, OP_MUNMAP, OP_MPROTECT, OP_MREMAP };

struct op {
	enum op_kind kind;
	uint64_t addr, len, len2, off, new_addr, result;
	int prot, flags, fd;
	bool ok; /* the kernel succeeded when recorded */
};

/* Recorded range -> where this process has it. */
struct xlat {
	uint64_t rs, re, as;
};

static struct xlat *xl;
static size_t nr_xl, cap_xl;

static uint64_t u64(const json_t *v)
{
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 0);
	return 0;
}

static int prot_of(const char *s)
{
	int p = 0;

	for (; s && *s; s++)
		p |= *s == 'r'	 ? PROT_READ
		     : *s == 'w' ? PROT_WRITE
		     : *s == 'x' ? PROT_EXEC
				 : 0;
	return p;
}

static int flags_of(const json_t *a)
{
	static const struct {
		const char *n;
		int f;
	} t[] = {
		{"private", MAP_PRIVATE},     {"shared", MAP_SHARED},
		{"anonymous", MAP_ANONYMOUS}, {"fixed", MAP_FIXED},
		{"noreserve", MAP_NORESERVE}, {"stack", MAP_STACK},
		{"growsdown", MAP_GROWSDOWN}, {"fixed_noreplace", 0x100000},
	};
	const json_t *v;
	size_t i, k;
	int f = 0;

	json_array_foreach(a, i, v) for (k = 0; k < sizeof(t) / sizeof(t[0]);
					 k++) if (!strcmp(json_string_value(v),
							  t[k].n)) f |= t[k].f;
	return f;
}

static struct {
	char *path;
	int fd;
} files[4096];
static size_t nr_files;

static int file_fd(const char *name)
{
	char path[4096], *hash;
	size_t i;

	snprintf(path, sizeof(path), "%s", name);
	hash = strrchr(path, '#');
	if (hash && hash[1] >= '0' && hash[1] <= '9')
		*hash = '\0';
	for (i = 0; i < nr_files; i++)
		if (!strcmp(files[i].path, path))
			return files[i].fd;
	if (nr_files == 4096)
		return -1;
	files[nr_files].path = strdup(path);
	files[nr_files].fd = open(path, O_RDONLY);
	return files[nr_files++].fd;
}

/* The actual address of recorded @addr, or 0 if not one of ours. */
static uint64_t translate(uint64_t addr)
{
	size_t i;

	for (i = nr_xl; i-- > 0;)
		if (xl[i].rs <= addr && addr < xl[i].re)
			return addr - xl[i].rs + xl[i].as;
	return 0;
}

static void remember(uint64_t rs, uint64_t len, uint64_t as)
{
	if (nr_xl == cap_xl) {
		cap_xl = cap_xl ? cap_xl * 2 : 1024;
		xl = realloc(xl, cap_xl * sizeof(*xl));
		if (!xl)
			exit(2);
	}
	xl[nr_xl++] = (struct xlat){rs, rs + ((len + 4095) & ~4095ULL), as};
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct op *ops = NULL;
	size_t nr = 0, cap = 0, i, executed = 0, untranslated = 0;
	unsigned long long requests = 0;
	char *line = NULL;
	size_t llen = 0;
	double t0, t;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: trace-native TRACE.jsonl\n");
		return 2;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	while (getline(&line, &llen, f) > 0) {
		json_t *v, *p, *res;
		const char *m;
		struct op o = {0};

		if (line[0] != '{')
			continue;
		v = json_loads(line, 0, NULL);
		m = json_string_value(json_object_get(v, "method"));
		p = json_object_get(v, "params");
		res = json_object_get(json_object_get(v, "expect"), "result");
		requests++;
		o.ok = res != NULL;
		if (m && !strcmp(m, "mmap")) {
			const char *file =
				json_string_value(json_object_get(p, "file"));

			o.kind = OP_MMAP;
			o.addr = u64(json_object_get(p, "addr"));
			o.len = u64(json_object_get(p, "length"));
			o.off = u64(json_object_get(p, "offset"));
			o.prot = prot_of(
				json_string_value(json_object_get(p, "prot")));
			o.flags = flags_of(json_object_get(p, "flags"));
			o.fd = file ? file_fd(file) : -1;
			if (file && o.fd < 0)
				o.flags |= MAP_ANONYMOUS;
			o.result = u64(json_object_get(res, "addr"));
		} else if (m &&
			   (!strcmp(m, "munmap") || !strcmp(m, "mprotect"))) {
			o.kind = !strcmp(m, "munmap") ? OP_MUNMAP : OP_MPROTECT;
			o.addr = u64(json_object_get(p, "addr"));
			o.len = u64(json_object_get(p, "length"));
			o.prot = prot_of(
				json_string_value(json_object_get(p, "prot")));
		} else if (m && !strcmp(m, "mremap")) {
			const json_t *fl = json_object_get(p, "flags"), *x;
			size_t k;

			o.kind = OP_MREMAP;
			o.addr = u64(json_object_get(p, "old_addr"));
			o.len = u64(json_object_get(p, "old_length"));
			o.len2 = u64(json_object_get(p, "new_length"));
			o.new_addr = u64(json_object_get(p, "new_addr"));
			json_array_foreach(fl, k, x) o.flags |=
				!strcmp(json_string_value(x), "maymove")
					? MREMAP_MAYMOVE
				: !strcmp(json_string_value(x), "fixed")
					? MREMAP_FIXED
					: 0;
			o.result = u64(json_object_get(res, "addr"));
		} else {
			json_decref(v);
			continue;
		}
		json_decref(v);
		if (nr == cap) {
			cap = cap ? cap * 2 : 4096;
			ops = realloc(ops, cap * sizeof(*ops));
			if (!ops)
				return 2;
		}
		ops[nr++] = o;
	}
	fclose(f);
	free(line);

	/* No allocation while timing: a stale translation must never point
	 * at memory of this program's own. */
	cap_xl = nr + 1;
	xl = malloc(cap_xl * sizeof(*xl));
	if (!xl)
		return 2;
	t0 = now();
	for (i = 0; i < nr; i++) {
		struct op *o = &ops[i];
		uint64_t a;
		void *r;

		switch (o->kind) {
		case OP_MMAP:
			a = 0;
			if (o->addr) {
				a = translate(o->addr);
				if (!a && (o->flags & (MAP_FIXED | 0x100000))) {
					untranslated++;
					continue;
				}
			}
			r = mmap((void *)a, o->len, o->prot, o->flags, o->fd,
				 (off_t)o->off);
			executed++;
			if (r != MAP_FAILED && o->ok)
				remember(o->result, o->len, (uint64_t)r);
			break;
		case OP_MUNMAP:
		case OP_MPROTECT:
			a = translate(o->addr);
			if (!a) {
				untranslated++;
				continue;
			}
			if (o->kind == OP_MUNMAP)
				munmap((void *)a, o->len);
			else
				mprotect((void *)a, o->len, o->prot);
			executed++;
			break;
		case OP_MREMAP:
			a = translate(o->addr);
			if (!a || (o->flags & MREMAP_FIXED)) {
				untranslated++;
				continue;
			}
			r = mremap((void *)a, o->len, o->len2, o->flags);
			executed++;
			if (r != MAP_FAILED && o->ok)
				remember(o->result, o->len2, (uint64_t)r);
			break;
		}
	}
	t = now() - t0;
	printf("{\"bench\": \"trace-native\", \"figure\": \"replay\", "
	       "\"impl\": \"kernel\", \"trace\": \"%s\", \"requests\": %llu, "
	       "\"executed\": %zu, \"not_translated\": %zu, \"seconds\": "
	       "%.6f, \"value\": %.1f, \"unit\": \"ops/s\"}\n",
	       argv[1], requests, executed, untranslated, t,
	       t > 0 ? (double)executed / t : 0.0);
	return 0;
}
