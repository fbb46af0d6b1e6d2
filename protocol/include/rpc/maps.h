/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rpc/maps.h - A pure parser of /proc/PID/maps and /proc/PID/smaps text
 * into structs, and the rules that turn its lines into the VMAs of
 * vas_import(). No I/O: the caller reads the text (the daemon gets it in
 * a request, vmactl from a file or /proc).
 *
 * Locking: nothing here is shared; each struct belongs to its caller.
 */
#ifndef RPC_MAPS_H
#define RPC_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rpc/jsonrpc.h"
#include "vma/vas.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * smaps VmFlags mnemonics the import uses (show_smap_vma_flags(), x86-64:
 * "gu" is VM_MAYBE_GUARD there, VM_GROWSUP has no mnemonic).
 */
enum {
	RPC_VMF_SHARED = 1u << 0,      /* sh */
	RPC_VMF_GROWSDOWN = 1u << 1,   /* gd */
	RPC_VMF_MAYBE_GUARD = 1u << 2, /* gu */
	RPC_VMF_NORESERVE = 1u << 3,   /* nr */
	RPC_VMF_ACCOUNT = 1u << 4,     /* ac */
	RPC_VMF_IO = 1u << 5,	       /* io */
	RPC_VMF_PFNMAP = 1u << 6,      /* pf */
	RPC_VMF_DONTEXPAND = 1u << 7,  /* de */
	RPC_VMF_LOCKED = 1u << 8,      /* lo */
	RPC_VMF_LOCKONFAULT = 1u << 9, /* lf */
	RPC_VMF_DONTCOPY = 1u << 10,   /* dc */
	RPC_VMF_WIPEONFORK = 1u << 11, /* wf */
	RPC_VMF_DONTDUMP = 1u << 12,   /* dd */
	RPC_VMF_HUGEPAGE = 1u << 13,   /* hg */
	RPC_VMF_NOHUGEPAGE = 1u << 14, /* nh */
	RPC_VMF_SEQ_READ = 1u << 15,   /* sr */
	RPC_VMF_RAND_READ = 1u << 16,  /* rr */
	RPC_VMF_MERGEABLE = 1u << 17,  /* mg */
	RPC_VMF_SEALED = 1u << 18,     /* sl */
};

/**
 * struct rpc_maps_entry - One VMA of the text.
 * @path: the name column ("" if none), inside the parser's buffer.
 * @anon_name: NAME of a @path "[anon:NAME]" or "[anon_shmem:NAME]" (a
 *             valid name: vas_anon_name_valid()), inside the parser's
 *             buffer; NULL for any other @path.
 * @line: the line number of its header line (1-based).
 * @anon_kb: smaps "Anonymous:" (valid if @has_anon).
 * @vmflags: RPC_VMF_* from smaps "VmFlags:" (valid if @has_vmflags);
 *           mnemonics not listed above are accepted and ignored.
 */
struct rpc_maps_entry {
	uint64_t start, end, offset, inode;
	unsigned dev_major, dev_minor;
	unsigned prot; /* VAS_PROT_* */
	bool shared;   /* 's' */
	const char *path;
	const char *anon_name;
	unsigned line;
	bool has_anon, has_vmflags;
	uint64_t anon_kb;
	unsigned vmflags;
};

/* The parsed text: @v[0..@nr); free with rpc_maps_fini(). */
struct rpc_maps {
	struct rpc_maps_entry *v;
	size_t nr;
	char *buf; /* the paths and the anonymous names */
};

/* The longest text accepted, and the most lines (a maps line per VMA). */
#define RPC_MAPS_MAX_TEXT  (64u << 20)
#define RPC_MAPS_MAX_LINES 4194304u

/**
 * rpc_maps_parse() - Parse @len bytes of /proc/PID/maps or smaps text:
 * "START-END PERMS OFFSET MAJ:MIN INODE [PATH]" lines, each optionally
 * followed by "Key: value" lines (smaps; only Anonymous and VmFlags are
 * used). Blank lines are ignored. The VMAs must be in increasing address
 * order without overlap; a PATH "[anon:NAME]" or "[anon_shmem:NAME]" must
 * hold a valid anonymous VMA name (as prctl(PR_SET_VMA_ANON_NAME) takes).
 * Context: Any context.
 * Return: 0 and @out filled; -EPROTO with @err (-32602, the message names
 *         the line and what is wrong; nothing allocated); -ENOMEM.
 */
int rpc_maps_parse(const char *text, size_t len, struct rpc_maps *out,
		   struct rpc_error *err);

/**
 * rpc_maps_fini() - Release what rpc_maps_parse() allocated.
 * Context: Any context.
 */
void rpc_maps_fini(struct rpc_maps *m);

/**
 * rpc_maps_to_import() - The vas_import() area of each entry of @m (into
 * @out, which has room for @m->nr), as Linux made them:
 *
 *   no name, [heap], [stack], [anon:NAME]  anonymous (a [stack] grows down)
 *   [anon_shmem:NAME], "/dev/zero (deleted)"
 *        shared                            shared anonymous (by inode)
 *   (NAME becomes the VMA's anonymous name)
 *   [vsyscall]                             the gate area
 *   [vvar], [vvar_vclock]                  special, VM_PFNMAP
 *   any other [NAME]                       special mapping
 *   anything else                          the file of that path
 *
 * With smaps VmFlags the flags come from them (ac, nr, gd, and the flags
 * of madvise, mlock and mseal: lo, lf, dc, wf, dd, hg, nh, sr, rr, mg, sl,
 * gu as VM_MAYBE_GUARD; io/pf make a special mapping PFNMAP; the gate
 * takes none); without, a private writable VMA is accounted
 * (accountable_mapping()). With smaps Anonymous a VMA has anonymous pages
 * when it says so; without, private writable VMAs and [stack] and [heap]
 * are taken to have some.
 * Context: Any context.
 */
void rpc_maps_to_import(const struct rpc_maps *m, struct vas_import_area *out);

/**
 * rpc_smaps_reduce() - Keep, of NUL-terminated smaps text, only what
 * space.import uses: the VMA lines and the Anonymous and VmFlags lines
 * (in place). Header-only, libc only, so that vma-record, which links
 * nothing else, shares it with vmactl.
 * Context: Any context.
 * Return: the new length.
 */
static inline size_t rpc_smaps_reduce(char *text)
{
	char *r = text, *w = text;

	while (*r) {
		char *eol = strchr(r, '\n');
		size_t n = eol ? (size_t)(eol - r) + 1 : strlen(r);
		char *colon = (char *)memchr(r, ':', n);
		char *dash = (char *)memchr(r, '-', n);
		bool field = colon && (!dash || colon < dash);

		if (!field || !strncmp(r, "Anonymous:", 10) ||
		    !strncmp(r, "VmFlags:", 8)) {
			memmove(w, r, n);
			w += n;
		}
		r += n;
	}
	*w = '\0';
	return (size_t)(w - text);
}

#ifdef __cplusplus
}
#endif

#endif /* RPC_MAPS_H */
