// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Responses: typed results to JSON text.
 *
 * Responses are written straight into a growable byte buffer, without
 * building a JSON tree: the daemon appends each response of a batch (or
 * each response of a burst of pipelined requests) to one buffer and hands
 * it to the socket in one write. Integers are printed as unsigned decimal
 * JSON numbers (addresses and lengths are below 2^64); strings are escaped
 * as JSON requires.
 *
 * A writer never fails halfway: if the buffer cannot grow, it records the
 * failure in rpc_buf.oom and ignores later writes; the caller checks once.
 */
#include "rpc/jsonrpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rpc_buf_init(struct rpc_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void rpc_buf_fini(struct rpc_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void rpc_buf_reset(struct rpc_buf *b)
{
	b->len = 0;
	b->oom = false;
}

static bool rpc_buf_reserve(struct rpc_buf *b, size_t more)
{
	size_t ncap;
	char *nd;

	if (b->oom)
		return false;
	if (b->len + more <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + more)
		ncap *= 2;
	nd = realloc(b->data, ncap);
	if (!nd) {
		b->oom = true;
		return false;
	}
	b->data = nd;
	b->cap = ncap;
	return true;
}

void rpc_buf_put_slow(struct rpc_buf *b, const void *data, size_t len)
{
	if (!rpc_buf_reserve(b, len))
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void rpc_buf_puts(struct rpc_buf *b, const char *s)
{
	rpc_buf_put(b, s, strlen(s));
}

void rpc_buf_printf(struct rpc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !rpc_buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void rpc_buf_put_u64(struct rpc_buf *b, uint64_t v)
{
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	rpc_buf_put(b, tmp + i, sizeof(tmp) - (size_t)i);
}

/*
 * Length of the well-formed UTF-8 sequence at @s (at most @len bytes) that
 * starts with a byte >= 0x80, or 0 if it is not one (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, k;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < n; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return n;
}

/*
 * Write @s as a JSON string. Bytes that are not well-formed UTF-8 (an error
 * message quoting client input cut inside a character, say) become U+FFFD,
 * so that every response is valid JSON.
 */
void rpc_buf_put_string(struct rpc_buf *b, const char *s, size_t len)
{
	if (!rpc_buf_reserve(b, len + 2))
		return;
	b->data[b->len++] = '"';
	rpc_buf_put_escaped(b, s, len);
	rpc_buf_put(b, "\"", 1);
}

void rpc_buf_put_escaped(struct rpc_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t n = 2;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		if (c >= 0x80) {
			size_t seq = utf8_seq_len((const unsigned char *)s + i,
						  len - i);

			if (seq) {
				run += seq;
				i += seq - 1;
				continue;
			}
			rpc_buf_put(b, s + i - run, run);
			run = 0;
			rpc_buf_put(b, "\xef\xbf\xbd", 3); /* U+FFFD */
			continue;
		}
		rpc_buf_put(b, s + i - run, run);
		run = 0;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\t':
			esc[1] = 't';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		rpc_buf_put(b, esc, n);
	}
	rpc_buf_put(b, s + len - run, run);
}

#define LIT(b, s) rpc_buf_put(b, s, sizeof(s) - 1)

void rpc_write_result_begin(struct rpc_buf *b, const char *id)
{
	LIT(b, "{\"jsonrpc\":\"2.0\",\"id\":");
	rpc_buf_puts(b, id);
	LIT(b, ",\"result\":");
}

void rpc_write_result_end(struct rpc_buf *b)
{
	LIT(b, "}");
}

void rpc_write_error(struct rpc_buf *b, const char *id,
		     const struct rpc_error *err)
{
	LIT(b, "{\"jsonrpc\":\"2.0\",\"id\":");
	rpc_buf_puts(b, id ? id : "null");
	LIT(b, ",\"error\":{\"code\":");
	rpc_buf_printf(b, "%d", err->code);
	LIT(b, ",\"message\":");
	rpc_buf_put_string(b, err->msg, strlen(err->msg));
	if (err->code == RPC_OS_ERROR) {
		LIT(b, ",\"data\":{\"errno\":\"");
		rpc_buf_puts(b, vma_errno_name(err->err));
		LIT(b, "\"}");
	} else if (err->code == RPC_PARSE_ERROR) {
		LIT(b, ",\"data\":{\"offset\":");
		rpc_buf_put_u64(b, err->offset);
		LIT(b, "}");
	}
	LIT(b, "}}");
}

/* Names of the VAS_VM_* bits after "shared"/"private", in bit order. */
static const char *const vm_flag_names[] = {
	NULL,	    "anonymous",   "growsdown",	 "growsup",    "noreserve",
	"account",  "anon_vma",	   "stack",	 "heap",       NULL,
	"locked",   "lockonfault", "dontfork",	 "wipeonfork", "dontdump",
	"hugepage", "nohugepage",  "sequential", "random",     "mergeable",
	"sealed",   "maybe_guard",
};

void rpc_write_vma(struct rpc_buf *b, const struct vas_vma_info *v)
{
	char perms[5], dev[16], vmflags[VAS_VMFLAGS_MAX];
	unsigned major, minor;
	size_t j;
	int vmf;

	perms[0] = v->prot & VAS_PROT_READ ? 'r' : '-';
	perms[1] = v->prot & VAS_PROT_WRITE ? 'w' : '-';
	perms[2] = v->prot & VAS_PROT_EXEC ? 'x' : '-';
	perms[3] = v->flags & VAS_VM_SHARED ? 's' : 'p';
	perms[4] = '\0';
	LIT(b, "{\"start\":");
	rpc_buf_put_u64(b, v->start);
	LIT(b, ",\"end\":");
	rpc_buf_put_u64(b, v->end);
	LIT(b, ",\"perms\":\"");
	rpc_buf_put(b, perms, 4);
	LIT(b, "\",\"offset\":");
	rpc_buf_put_u64(b, v->offset);
	LIT(b, ",\"file\":");
	if (v->file[0])
		rpc_buf_put_string(b, v->file, strnlen(v->file, VAS_FILE_MAX));
	else
		LIT(b, "null");
	LIT(b, ",\"name\":");
	if (v->name) {
		rpc_buf_put_string(b, v->name, strlen(v->name));
	} else if (v->anon_name[0]) {
		/* As /proc/PID/maps shows it (get_vma_name()). */
		char named[VAS_ANON_NAME_MAX + 16];
		int n = snprintf(named, sizeof(named),
				 v->inode ? "[anon_shmem:%s]" : "[anon:%s]",
				 v->anon_name);

		rpc_buf_put_string(b, named, (size_t)n);
	} else
		LIT(b, "null");
	LIT(b, ",\"flags\":[");
	if (v->flags & VAS_VM_SHARED)
		LIT(b, "\"shared\"");
	else
		LIT(b, "\"private\"");
	for (j = 1; j < sizeof(vm_flag_names) / sizeof(vm_flag_names[0]); j++)
		if ((v->flags & (1u << j)) && vm_flag_names[j]) {
			LIT(b, ",\"");
			rpc_buf_puts(b, vm_flag_names[j]);
			LIT(b, "\"");
		}
	if (v->flags & VAS_VM_SPECIAL)
		LIT(b, ",\"special\"");
	LIT(b, "],\"rss_pages\":");
	rpc_buf_put_u64(b, v->rss_pages);
	vas_vma_dev(v, &major, &minor);
	snprintf(dev, sizeof(dev), "%02x:%02x", major & 0xfff, minor & 0xfffff);
	LIT(b, ",\"dev\":");
	rpc_buf_put_string(b, dev, strlen(dev));
	LIT(b, ",\"inode\":");
	rpc_buf_put_u64(b, v->inode);
	LIT(b, ",\"anon_name\":");
	if (v->anon_name[0])
		rpc_buf_put_string(b, v->anon_name,
				   strnlen(v->anon_name, sizeof(v->anon_name)));
	else
		LIT(b, "null");
	LIT(b, ",\"vm_flags\":\"");
	vmf = vas_format_vmflags(v, vmflags, sizeof(vmflags));
	/* The kernel ends each code with a space; the field drops the last. */
	if (vmf > 0)
		rpc_buf_put(b, vmflags, (size_t)vmf - 1);
	LIT(b, "\"}");
}

void rpc_write_fault(struct rpc_buf *b, const struct vas_fault_result *res)
{
	if (res->status == VAS_FAULT_OK) {
		LIT(b, "{\"status\":\"ok\",\"vma\":");
		rpc_write_vma(b, &res->vma);
		if (res->populated)
			LIT(b, ",\"populated\":true");
		else
			LIT(b, ",\"populated\":false");
		if (res->expanded)
			LIT(b, ",\"expanded\":true}");
		else
			LIT(b, ",\"expanded\":false}");
		return;
	}
	/* An x86 fetch from a page not present maps it before it fails. */
	if (res->code == VAS_SEGV_ACCERR && res->populated)
		LIT(b, "{\"status\":\"segv\",\"code\":\"SEGV_ACCERR\","
		       "\"populated\":true}");
	else if (res->code == VAS_SEGV_ACCERR)
		LIT(b, "{\"status\":\"segv\",\"code\":\"SEGV_ACCERR\"}");
	else
		LIT(b, "{\"status\":\"segv\",\"code\":\"SEGV_MAPERR\"}");
}

bool rpc_write_maps_part(struct rpc_buf *b, const struct vas_vma_info *vmas,
			 size_t nr, struct rpc_maps_cursor *cur, size_t max)
{
	size_t start = b->len;
	char line[VAS_FILE_MAX + 128];

	if (cur->phase == RPC_MAPS_START) {
		LIT(b, "{\"vmas\":[");
		cur->phase = RPC_MAPS_VMAS;
		cur->i = 0;
	}
	while (cur->phase == RPC_MAPS_VMAS) {
		if (cur->i == nr) {
			LIT(b, "],\"text\":\"");
			cur->phase = RPC_MAPS_TEXT;
			cur->i = 0;
			break;
		}
		if (b->len - start >= max || b->oom)
			return b->oom;
		if (cur->i)
			LIT(b, ",");
		rpc_write_vma(b, &vmas[cur->i++]);
	}
	/* Escaping line by line is escaping the whole text (per byte). */
	while (cur->phase == RPC_MAPS_TEXT) {
		int n;

		if (cur->i == nr) {
			LIT(b, "\"}");
			cur->phase = RPC_MAPS_DONE;
			break;
		}
		if (b->len - start >= max || b->oom)
			return b->oom;
		n = vas_format_maps_line(&vmas[cur->i++], line, sizeof(line));
		if (n < 0)
			continue;
		if ((size_t)n >= sizeof(line))
			n = (int)sizeof(line) - 1;
		rpc_buf_put_escaped(b, line, (size_t)n);
	}
	return true;
}

void rpc_write_maps(struct rpc_buf *b, const struct vas_vma_info *vmas,
		    size_t nr)
{
	struct rpc_maps_cursor cur = {0};

	rpc_write_maps_part(b, vmas, nr, &cur, SIZE_MAX);
}

#define STAT(name, val)                                                        \
	do {                                                                   \
		LIT(b, ",\"" name "\":");                                      \
		rpc_buf_put_u64(b, (val));                                     \
	} while (0)

void rpc_write_space_stats(struct rpc_buf *b, const struct vas_stats *st)
{
	LIT(b, "\"nr_vmas\":");
	rpc_buf_put_u64(b, st->nr_vmas);
	STAT("mapped_bytes", st->mapped_bytes);
	STAT("rss_pages", st->rss_pages);
	STAT("faults", st->faults);
	STAT("fault_retries", st->fault_retries);
	STAT("expansions", st->expansions);
	STAT("segv_maperr", st->segv_maperr);
	STAT("segv_accerr", st->segv_accerr);
	STAT("mutations", st->mutations);
	STAT("brk", st->brk);
	STAT("start_brk", st->start_brk);
	STAT("locked_vm", st->locked_vm);
	STAT("maps_rcu", st->maps_rcu);
	STAT("maps_locked", st->maps_locked);
	STAT("bytes", st->bytes);
	LIT(b, ",\"tree\":{\"entries\":");
	rpc_buf_put_u64(b, st->tree.nr_entries);
	STAT("nodes", st->tree.nr_nodes);
	STAT("leaves", st->tree.nr_leaves);
	STAT("height", st->tree.height);
	STAT("bytes", st->tree.bytes);
	STAT("commits", st->tree.nr_commits);
	STAT("retired", st->tree.nr_retired);
	LIT(b, "}");
}

void rpc_buf_put_base64(struct rpc_buf *b, const void *data, size_t len)
{
	size_t n = rpc_base64_len(len);

	if (!rpc_buf_reserve(b, n + 2))
		return;
	b->data[b->len++] = '"';
	b->len += rpc_base64_encode(data, len, b->data + b->len);
	b->data[b->len++] = '"';
}
