// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: /proc/PID/maps and smaps text to structs.
 *
 * show_map_vma() prints "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ", pads
 * to column 73 when a name follows, and ends the line; smaps adds lines
 * "Key:   value kB" after each such header, ending with "VmFlags: rd wr
 * ...". The parser is strict about what it understands (a bad number, a
 * bad permission letter, a VMA out of order is an error naming the line)
 * and lenient about what it does not need (unknown smaps keys and VmFlags
 * mnemonics are ignored), so that text from any 6.x kernel parses.
 */
#include "rpc/maps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static unsigned hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	return (unsigned)((c | 0x20) - 'a' + 10);
}

/* Hex digits at *@p up to @end; false if none or overflow. */
static bool take_hex(const char **p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end || !is_hex(*s))
		return false;
	for (; s < end && is_hex(*s); s++) {
		if (v >> 60)
			return false;
		v = v << 4 | hex_val(*s);
	}
	*p = s;
	*out = v;
	return true;
}

static bool take_dec(const char **p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*out = v;
	return true;
}

static bool take_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

static void skip_spaces(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

/* Does the line look like a VMA header ("hex-hex ")? */
static bool is_header(const char *p, const char *end)
{
	while (p < end && is_hex(*p))
		p++;
	return p < end && *p == '-';
}

static int bad_line(struct rpc_error *err, unsigned line, const char *what)
{
	return rpc_error_set(err, RPC_INVALID_PARAMS, "'maps' line %u: %s",
			     line, what);
}

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/*
 * The NAME of a path "[anon:NAME]" or "[anon_shmem:NAME]" (get_vma_name())
 * to *@names, in @e->anon_name; nothing for other paths.
 */
static int parse_anon_name(struct rpc_maps_entry *e, char **names,
			   struct rpc_error *err)
{
	const char *path = e->path;
	size_t skip, n = strlen(path);

	if (has_prefix(path, "[anon:"))
		skip = strlen("[anon:");
	else if (has_prefix(path, "[anon_shmem:"))
		skip = strlen("[anon_shmem:");
	else
		return 0;
	if (path[n - 1] != ']')
		return bad_line(err, e->line,
				"anonymous VMA name without its closing ']'");
	n -= skip + 1;
	if (n > VAS_ANON_NAME_MAX)
		goto bad;
	memcpy(*names, path + skip, n); /* room: see rpc_maps_parse() */
	(*names)[n] = '\0';
	if (!vas_anon_name_valid(*names))
		goto bad;
	e->anon_name = *names;
	*names += n + 1;
	return 0;
bad:
	return bad_line(err, e->line,
			"bad anonymous VMA name (at most 79 printable ASCII "
			"characters, none of \\ ` $ [ ])");
}

/*
 * Parse one header line [p, end) into @e; the path is copied to *@paths,
 * an anonymous VMA name to *@names.
 */
static int parse_header(const char *p, const char *end, unsigned line,
			struct rpc_maps_entry *e, char **paths, char **names,
			struct rpc_error *err)
{
	uint64_t maj, min;
	size_t n;
	int i;

	if (!take_hex(&p, end, &e->start) || !take_char(&p, end, '-') ||
	    !take_hex(&p, end, &e->end) || !take_char(&p, end, ' '))
		return bad_line(err, line, "bad address range");
	if (end - p < 5)
		return bad_line(err, line, "bad permissions");
	e->prot = 0;
	for (i = 0; i < 3; i++) {
		static const char letter[] = "rwx";

		if (p[i] == letter[i])
			e->prot |= 1u << i;
		else if (p[i] != '-')
			return bad_line(err, line, "bad permissions");
	}
	if (p[3] != 's' && p[3] != 'p')
		return bad_line(err, line, "bad permissions (need p or s)");
	e->shared = p[3] == 's';
	p += 4;
	if (!take_char(&p, end, ' ') || !take_hex(&p, end, &e->offset) ||
	    !take_char(&p, end, ' '))
		return bad_line(err, line, "bad offset");
	if (!take_hex(&p, end, &maj) || !take_char(&p, end, ':') ||
	    !take_hex(&p, end, &min) || !take_char(&p, end, ' ') ||
	    maj > 0xfff || min > 0xfffff)
		return bad_line(err, line, "bad device");
	e->dev_major = (unsigned)maj;
	e->dev_minor = (unsigned)min;
	if (!take_dec(&p, end, &e->inode))
		return bad_line(err, line, "bad inode");
	if (p < end && *p != ' ')
		return bad_line(err, line, "bad inode");
	skip_spaces(&p, end);
	while (end > p && (end[-1] == ' ' || end[-1] == '\r'))
		end--;
	if (e->start >= e->end || (e->start | e->end | e->offset) & 4095)
		return bad_line(err, line,
				"range empty or not page-aligned, or offset "
				"not page-aligned");
	n = (size_t)(end - p);
	for (i = 0; (size_t)i < n; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return bad_line(err, line,
					"control character in the name");
	if (n >= VAS_FILE_MAX)
		return bad_line(err, line, "name too long");
	memcpy(*paths, p, n);
	(*paths)[n] = '\0';
	e->path = *paths;
	*paths += n + 1;
	e->line = line;
	return parse_anon_name(e, names, err);
}

/*
 * The VmFlags mnemonics the import uses, and the VAS_VM_* flag each one
 * gives an imported VMA (0: used otherwise). Others ("rd", "mr", "ex",
 * "ms", "ht", "sd", "um", ...) say what the maps line already says or
 * what the model has no state for, and are ignored.
 */
static const struct {
	char name[3];
	unsigned bit; /* RPC_VMF_* */
	unsigned vm;  /* VAS_VM_* */
} mnemonics[] = {
	{"sh", RPC_VMF_SHARED, 0},
	{"gd", RPC_VMF_GROWSDOWN, VAS_VM_GROWSDOWN},
	{"gu", RPC_VMF_MAYBE_GUARD, VAS_VM_MAYBE_GUARD},
	{"nr", RPC_VMF_NORESERVE, VAS_VM_NORESERVE},
	{"ac", RPC_VMF_ACCOUNT, VAS_VM_ACCOUNT},
	{"io", RPC_VMF_IO, 0},
	{"pf", RPC_VMF_PFNMAP, 0},
	{"de", RPC_VMF_DONTEXPAND, 0},
	{"lo", RPC_VMF_LOCKED, VAS_VM_LOCKED},
	{"lf", RPC_VMF_LOCKONFAULT, VAS_VM_LOCKONFAULT},
	{"dc", RPC_VMF_DONTCOPY, VAS_VM_DONTCOPY},
	{"wf", RPC_VMF_WIPEONFORK, VAS_VM_WIPEONFORK},
	{"dd", RPC_VMF_DONTDUMP, VAS_VM_DONTDUMP},
	{"hg", RPC_VMF_HUGEPAGE, VAS_VM_HUGEPAGE},
	{"nh", RPC_VMF_NOHUGEPAGE, VAS_VM_NOHUGEPAGE},
	{"sr", RPC_VMF_SEQ_READ, VAS_VM_SEQ_READ},
	{"rr", RPC_VMF_RAND_READ, VAS_VM_RAND_READ},
	{"mg", RPC_VMF_MERGEABLE, VAS_VM_MERGEABLE},
	{"sl", RPC_VMF_SEALED, VAS_VM_SEALED},
};
#define NR_MNEMONICS (sizeof(mnemonics) / sizeof(mnemonics[0]))

/* Parse one smaps "Key: value" line into @e. */
static int parse_field(const char *p, const char *end, unsigned line,
		       struct rpc_maps_entry *e, struct rpc_error *err)
{
	const char *key = p;
	size_t klen, i;

	while (p < end && *p != ':' && *p != ' ')
		p++;
	klen = (size_t)(p - key);
	if (!klen || !take_char(&p, end, ':'))
		return bad_line(err, line,
				"neither a VMA nor a 'Key: value' "
				"line");
	if (!e)
		return bad_line(err, line, "smaps field before any VMA");
	skip_spaces(&p, end);
	if (klen == 9 && !memcmp(key, "Anonymous", 9)) {
		if (!take_dec(&p, end, &e->anon_kb))
			return bad_line(err, line, "bad Anonymous value");
		e->has_anon = true;
	} else if (klen == 7 && !memcmp(key, "VmFlags", 7)) {
		e->has_vmflags = true;
		e->vmflags = 0;
		while (p < end) {
			const char *w = p;

			while (p < end && *p != ' ' && *p != '\r')
				p++;
			for (i = 0; i < NR_MNEMONICS; i++)
				if (p - w == 2 &&
				    !memcmp(w, mnemonics[i].name, 2))
					e->vmflags |= mnemonics[i].bit;
			skip_spaces(&p, end);
			if (p < end && *p == '\r')
				p++;
		}
	}
	return 0;
}

int rpc_maps_parse(const char *text, size_t len, struct rpc_maps *out,
		   struct rpc_error *err)
{
	const char *p = text, *end = text + len, *q;
	struct rpc_maps_entry *e = NULL;
	size_t nr_lines = 0, nr_named = 0, names_len, i;
	char *paths, *names;
	unsigned line = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (len > RPC_MAPS_MAX_TEXT)
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'maps' longer than %u bytes",
				     RPC_MAPS_MAX_TEXT);
	if (memchr(text, '\0', len))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'maps' holds a NUL byte");
	for (i = 0; i < len; i++)
		nr_lines += text[i] == '\n';
	nr_lines++;
	if (nr_lines > RPC_MAPS_MAX_LINES)
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'maps' has more than %u lines",
				     RPC_MAPS_MAX_LINES);
	/*
	 * The paths take at most the text and a NUL per line; the names of
	 * "[anon" paths at most a name and a NUL each, and never more than
	 * the text they are copied from. Counted in one pass (memmem() from
	 * each match would rescan the rest under AddressSanitizer).
	 */
	for (q = text; q + 5 <= end; q++)
		nr_named += *q == '[' && !memcmp(q, "[anon", 5);
	names_len = nr_named * (VAS_ANON_NAME_MAX + 1);
	if (names_len > len + nr_lines)
		names_len = len + nr_lines;
	out->v = calloc(nr_lines, sizeof(*out->v));
	out->buf = malloc(len + nr_lines + names_len);
	if (!out->v || !out->buf) {
		rpc_maps_fini(out);
		return -ENOMEM;
	}
	paths = out->buf;
	names = out->buf + len + nr_lines;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end, *s = p;

		line++;
		p = eol ? eol + 1 : end;
		skip_spaces(&s, le);
		if (s == le || (s + 1 == le && *s == '\r'))
			continue;
		if (is_header(s, le)) {
			e = &out->v[out->nr];
			ret = parse_header(s, le, line, e, &paths, &names, err);
			if (ret)
				break;
			if (out->nr && out->v[out->nr - 1].end > e->start) {
				ret = bad_line(err, line,
					       "VMA out of order or "
					       "overlapping the one before");
				break;
			}
			out->nr++;
		} else {
			ret = parse_field(s, le, line, e, err);
			if (ret)
				break;
		}
	}
	if (ret)
		rpc_maps_fini(out);
	return ret;
}

void rpc_maps_fini(struct rpc_maps *m)
{
	free(m->v);
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

void rpc_maps_to_import(const struct rpc_maps *m, struct vas_import_area *out)
{
	size_t i;

	for (i = 0; i < m->nr; i++) {
		const struct rpc_maps_entry *e = &m->v[i];
		struct vas_import_area *a = &out[i];
		const char *path = e->path;
		bool bracket = path[0] == '[';
		bool stack =
			!strcmp(path, "[stack]") || has_prefix(path, "[stack:");
		bool heap = !strcmp(path, "[heap]");

		memset(a, 0, sizeof(*a));
		a->start = e->start;
		a->end = e->end;
		a->offset = e->offset;
		a->prot = e->prot;
		a->inode = e->inode;
		a->name = path;
		a->anon_name = e->anon_name;
		if (e->shared)
			a->flags |= VAS_VM_SHARED;
		if (!*path || stack || heap || has_prefix(path, "[anon:")) {
			a->kind =
				e->shared ? VAS_IMPORT_SHMEM : VAS_IMPORT_ANON;
		} else if (has_prefix(path, "[anon_shmem:") ||
			   (e->shared &&
			    !strcmp(path, "/dev/zero (deleted)"))) {
			a->kind = VAS_IMPORT_SHMEM;
		} else if (!strcmp(path, "[vsyscall]")) {
			a->kind = VAS_IMPORT_GATE;
		} else if (bracket) {
			bool pfn = !strcmp(path, "[vvar]") ||
				   !strcmp(path, "[vvar_vclock]");

			if (e->has_vmflags)
				pfn = e->vmflags &
				      (RPC_VMF_PFNMAP | RPC_VMF_IO);
			a->kind = pfn ? VAS_IMPORT_SPECIAL_PFNMAP
				      : VAS_IMPORT_SPECIAL;
		} else {
			a->kind = VAS_IMPORT_FILE;
		}
		if (a->kind == VAS_IMPORT_ANON || a->kind == VAS_IMPORT_SHMEM ||
		    a->kind == VAS_IMPORT_SPECIAL ||
		    a->kind == VAS_IMPORT_SPECIAL_PFNMAP ||
		    a->kind == VAS_IMPORT_GATE)
			a->offset = a->kind == VAS_IMPORT_SHMEM ? e->offset : 0;
		if (e->has_vmflags && a->kind != VAS_IMPORT_GATE) {
			size_t j;

			for (j = 0; j < NR_MNEMONICS; j++)
				if (e->vmflags & mnemonics[j].bit)
					a->flags |= mnemonics[j].vm;
		} else if (!e->has_vmflags) {
			if (!e->shared && (e->prot & VAS_PROT_WRITE))
				a->flags |= VAS_VM_ACCOUNT;
			/*
			 * vdso_install_vvar_mapping() and the vclock one
			 * install [vvar] and [vvar_vclock] with VM_DONTDUMP,
			 * which MADV_DODUMP cannot clear (VM_SPECIAL).
			 */
			if (a->kind == VAS_IMPORT_SPECIAL_PFNMAP)
				a->flags |= VAS_VM_DONTDUMP;
			if (stack)
				a->flags |= VAS_VM_GROWSDOWN;
		}
		if (a->kind != VAS_IMPORT_ANON || e->shared)
			a->flags &= ~VAS_VM_GROWSDOWN;
		if (e->has_anon)
			a->anon_pages = e->anon_kb / 4;
		else if (!e->shared &&
			 ((e->prot & VAS_PROT_WRITE) || stack || heap))
			a->anon_pages = 1;
	}
}
