// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: libFuzzer target: the protocol codec on arbitrary bytes.
 *
 * Input: byte 0 picks the decoder's maximum value size (64, 256, 4096 or
 * the default 1 MiB) and the largest batch (small or the default); byte 1
 * seeds the chunking; the rest is the byte stream a client would send.
 *
 * The stream goes through the decoder as the daemon feeds it
 * (rpc_decoder_space/commit) twice: in chunks of pseudo-random sizes, and
 * in chunks as large as the decoder offers. Both runs must yield the same
 * frames and end the same way (framing does not depend on how reads split
 * the stream). Checked on every step: the decoder never stalls (no room
 * and no frame and no error), errors are -EMSGSIZE with -32600 or -ELOOP
 * with -32700, a frame is 1 to max bytes and does not start with
 * whitespace, an incomplete value never holds more than max bytes.
 *
 * Each frame is parsed and every request of it decoded twice, with the
 * fast path on and off: the outcomes (canonical request text, or error
 * code and message) must be identical. Errors carry a code of the
 * documented set for their stage; a decoded request respects the
 * documented ranges (prot letters, known flag bits, access, names of 1 to
 * 63 bytes from the name alphabet, space ids >= 1, page-aligned create
 * parameters, file names without control characters, required parameters
 * present, an id that is JSON null, an integer or a short string). Then
 * the response writers run on what was decoded (error responses, VMA
 * objects, fault results, maps, stats) and their output must be valid JSON
 * that reads back to the values written. A frame the parser accepts must
 * be JSON by RFC 8259's grammar, checked by an oracle of its own (numbers
 * without leading zeros, no raw control characters). Leaks are reported by
 * LeakSanitizer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rpc/defaults.h"
#include "rpc/jsonrpc.h"
#include "rpc/maps.h"
#include "vma/vas.h"

#define MAX_FRAMES	 256
#define MAX_REQS_CHECKED 64

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_rpc: " __VA_ARGS__);                     \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

/* The frames of one run and how it ended. */
struct run {
	char *frames; /* lengths and bytes, concatenated */
	size_t len, cap;
	size_t nr;
	int end;       /* 0, -EMSGSIZE or -ELOOP */
	int code;      /* the error's code */
	size_t offset; /* the error's offset (-ELOOP only) */
};

static void run_add(struct run *r, const void *p, size_t n)
{
	if (r->len + n > r->cap) {
		size_t cap = (r->len + n) * 2;
		char *nb = realloc(r->frames, cap);

		if (!nb)
			abort();
		r->frames = nb;
		r->cap = cap;
	}
	memcpy(r->frames + r->len, p, n);
	r->len += n;
}

/* ---- Response checks ---------------------------------------------------- */

/* Parse @b's content as one JSON value; abort if it is not valid JSON. */
static json_t *load_output(const struct rpc_buf *b, const char *what)
{
	json_error_t jerr;
	json_t *v;

	if (b->oom)
		FAIL("%s: buffer out of memory", what);
	v = json_loadb(b->data, b->len, JSON_ALLOW_NUL | JSON_DECODE_ANY,
		       &jerr);
	if (!v)
		FAIL("%s: invalid JSON written (%s at %d): %.*s", what,
		     jerr.text, jerr.position,
		     (int)(b->len > 300 ? 300 : b->len), b->data);
	return v;
}

/* @id_text must be the JSON text of null, an integer or a string. */
static json_t *load_id(const char *id_text)
{
	json_error_t jerr;
	json_t *id;

	if (strlen(id_text) >= RPC_ID_MAX)
		FAIL("id text of %zu bytes", strlen(id_text));
	id = json_loads(id_text, JSON_DECODE_ANY, &jerr);
	if (!id)
		FAIL("id text is not JSON: %s", id_text);
	if (!json_is_null(id) && !json_is_integer(id) && !json_is_string(id))
		FAIL("id is neither null, an integer nor a string: %s",
		     id_text);
	return id;
}

static void check_error_response(const char *id_text,
				 const struct rpc_error *err)
{
	struct rpc_buf b;
	json_t *v, *id, *e, *msg;

	/*
	 * The message may quote client input cut inside a character: the
	 * writer must still produce valid JSON (load_output() checks).
	 */
	rpc_buf_init(&b);
	rpc_write_error(&b, id_text, err);
	v = load_output(&b, "rpc_write_error");
	id = load_id(id_text ? id_text : "null");
	e = json_object_get(v, "error");
	if (!json_is_object(v) ||
	    !json_is_string(json_object_get(v, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(v, "jsonrpc")), "2.0"))
		FAIL("error response without \"jsonrpc\":\"2.0\"");
	if (!json_equal(json_object_get(v, "id"), id))
		FAIL("error response does not echo the id %s", id_text);
	if (json_integer_value(json_object_get(e, "code")) != err->code ||
	    !json_is_string(json_object_get(e, "message")))
		FAIL("error response: code or message lost");
	/* A well-formed message reads back as written (otherwise the writer
	 * replaced its broken bytes with U+FFFD). */
	msg = json_string(err->msg);
	if (msg &&
	    strcmp(json_string_value(json_object_get(e, "message")), err->msg))
		FAIL("error message not read back: '%s'", err->msg);
	json_decref(msg);
	json_decref(id);
	json_decref(v);
	rpc_buf_fini(&b);
}

/*
 * A VMA made of the decoded parameters (the writers' input). Numbers stay
 * below 2^63: jansson, which reads the output back, cannot hold larger
 * integers.
 */
static void make_vma(struct vas_vma_info *v, const struct rpc_request *req,
		     unsigned salt)
{
	memset(v, 0, sizeof(*v));
	if (req->method == RPC_MMAP) {
		v->start = req->p.mmap.addr.v;
		v->end = v->start + req->p.mmap.length.v;
		v->offset = req->p.mmap.offset.v;
		v->prot = req->p.mmap.prot;
		memcpy(v->file, req->p.mmap.file, sizeof(v->file));
		v->inode = v->file[0] ? 1000 + salt : 0;
	} else {
		v->start = req->p.range.addr.v;
		v->end = v->start + req->p.range.length.v;
		v->prot = req->p.range.prot & 7;
	}
	v->start &= INT64_MAX;
	v->end &= INT64_MAX;
	v->offset &= INT64_MAX;
	v->flags = (req->p.mmap.flags * (salt + 1)) & 0x3ff;
	v->rss_pages = (uint64_t)salt << 40 | v->start >> 12;
	v->name = salt % 3 == 0 ? NULL : salt % 3 == 1 ? "[stack]" : "[heap]";
	v->pgoff = v->offset >> 12;
}

static void check_vma_json(const json_t *o, const struct vas_vma_info *v)
{
	const json_t *file = json_object_get(o, "file");

	if (!json_is_object(o) || (uint64_t)json_integer_value(json_object_get(
					  o, "start")) != v->start)
		FAIL("VMA object: start not read back");
	if (v->file[0] ? !json_is_string(file) ||
				 strcmp(json_string_value(file), v->file)
		       : !json_is_null(file))
		FAIL("VMA object: file '%s' not read back", v->file);
	if (!json_is_array(json_object_get(o, "flags")))
		FAIL("VMA object: flags is not an array");
}

/* Run the writers of a successful response on @req's parameters. */
static void check_result_response(const struct rpc_request *req)
{
	struct rpc_buf b;
	json_t *v, *res;

	rpc_buf_init(&b);
	rpc_write_result_begin(&b, req->id);
	switch (req->method) {
	case RPC_MMAP:
	case RPC_MPROTECT: {
		struct vas_vma_info vma;

		make_vma(&vma, req, (unsigned)req->p.mmap.length.v);
		rpc_write_vma(&b, &vma);
		break;
	}
	case RPC_FAULT: {
		struct vas_fault_result fr;

		memset(&fr, 0, sizeof(fr));
		fr.status = req->p.addr.access == VAS_ACCESS_READ
				    ? VAS_FAULT_OK
				    : VAS_FAULT_SEGV;
		fr.code = req->p.addr.access == VAS_ACCESS_EXEC
				  ? VAS_SEGV_ACCERR
				  : VAS_SEGV_MAPERR;
		fr.populated = req->p.addr.addr.v & 1;
		fr.expanded = req->p.addr.addr.v & 2;
		fr.vma.start = req->p.addr.addr.v & (INT64_MAX >> 1);
		fr.vma.end = fr.vma.start + 4096;
		rpc_write_fault(&b, &fr);
		break;
	}
	case RPC_MAPS:
	case RPC_MUNMAP: {
		struct vas_vma_info vmas[3];

		for (unsigned i = 0; i < 3; i++)
			make_vma(&vmas[i], req, i);
		rpc_write_maps(&b, vmas, req->method == RPC_MAPS ? 0 : 3);
		break;
	}
	case RPC_STATS: {
		struct vas_stats st;

		memset(&st, 0x5a, sizeof(st));
		st.nr_vmas = req->p.addr.addr.v & INT64_MAX;
		rpc_buf_puts(&b, "{");
		rpc_write_space_stats(&b, &st);
		rpc_buf_puts(&b, "}");
		break;
	}
	default:
		rpc_buf_puts(&b, "{}");
		break;
	}
	rpc_write_result_end(&b);
	v = load_output(&b, rpc_method_name(req->method));
	res = json_object_get(v, "result");
	if (!json_is_object(res))
		FAIL("%s: result is not an object",
		     rpc_method_name(req->method));
	if (req->method == RPC_MMAP || req->method == RPC_MPROTECT) {
		struct vas_vma_info vma;

		make_vma(&vma, req, (unsigned)req->p.mmap.length.v);
		check_vma_json(res, &vma);
	}
	if (req->method == RPC_MUNMAP) {
		const json_t *arr = json_object_get(res, "vmas");
		struct vas_vma_info vma;

		if (json_array_size(arr) != 3 ||
		    !json_is_string(json_object_get(res, "text")))
			FAIL("maps: vmas or text missing");
		for (unsigned i = 0; i < 3; i++) {
			make_vma(&vma, req, i);
			check_vma_json(json_array_get(arr, i), &vma);
		}
	}
	if (req->method == RPC_STATS &&
	    (uint64_t)json_integer_value(json_object_get(res, "nr_vmas")) !=
		    (req->p.addr.addr.v & INT64_MAX))
		FAIL("stats: nr_vmas not read back");
	json_decref(v);
	rpc_buf_fini(&b);
}

/* ---- Request checks ----------------------------------------------------- */

static bool is_name(const char *s)
{
	size_t n = strnlen(s, RPC_NAME_MAX);

	if (n == 0 || n >= RPC_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("_.:@+/-", s[i])))
			return false;
	return true;
}

/* Digits, or 0x and hex digits: refused as the name of a new space. */
static bool looks_like_id(const char *s)
{
	size_t i =
		(s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) ? 2 : 0;

	for (; s[i]; i++)
		if (!(s[i] >= '0' && s[i] <= '9') &&
		    !(i >= 2 && strchr("abcdefABCDEF", s[i])))
			return false;
	return s[0] != '\0';
}

static void check_space(const struct rpc_space_ref *s, bool required,
			const char *m)
{
	if (required && !s->present)
		FAIL("%s: required 'space' missing", m);
	if (!s->present)
		return;
	if (s->has_owner && (!s->by_name || s->owner == UINT32_MAX))
		FAIL("%s: an owner without a name, or owner %u", m,
		     (unsigned)s->owner);
	if (s->by_name ? !is_name(s->name) : s->id == 0)
		FAIL("%s: bad space reference (name '%.64s', id %llu)", m,
		     s->by_name ? s->name : "", (unsigned long long)s->id);
}

static void check_aligned(const struct rpc_u64 *u, const char *what)
{
	if (u->present && (u->v & (VAS_PAGE_SIZE - 1)))
		FAIL("space.create: '%s' %llu not page-aligned", what,
		     (unsigned long long)u->v);
}

/* A decoded request must respect the documented ranges. */
static void check_request(const struct rpc_request *req)
{
	const char *m = rpc_method_name(req->method);
	json_t *id;

	if ((unsigned)req->method >= RPC_NR_METHODS)
		FAIL("method %d out of range", (int)req->method);
	id = load_id(req->id);
	if (!req->has_id && strcmp(req->id, "null"))
		FAIL("notification with id text %s", req->id);
	json_decref(id);

	switch (req->method) {
	case RPC_SPACE_CREATE: {
		const struct rpc_create_params *c = &req->p.create;

		if (c->name[0] && (!is_name(c->name) || looks_like_id(c->name)))
			FAIL("space.create: bad name '%.64s'", c->name);
		check_aligned(&c->task_size, "task_size");
		check_aligned(&c->mmap_base, "mmap_base");
		check_aligned(&c->brk_base, "brk_base");
		break;
	}
	case RPC_SPACE_FORK:
		check_space(&req->p.fork.space, true, m);
		if (req->p.fork.name[0] && (!is_name(req->p.fork.name) ||
					    looks_like_id(req->p.fork.name)))
			FAIL("space.fork: bad name '%.64s'", req->p.fork.name);
		break;
	case RPC_MMAP: {
		const struct rpc_mmap_params *p = &req->p.mmap;
		size_t n = strnlen(p->file, VAS_FILE_MAX);

		check_space(&p->space, true, m);
		if (!p->length.present)
			FAIL("mmap: 'length' missing");
		if (p->prot & ~7u)
			FAIL("mmap: prot %#x", p->prot);
		if (p->flags >> 15)
			FAIL("mmap: flags %#x", p->flags);
		if (n >= VAS_FILE_MAX)
			FAIL("mmap: file name not terminated");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p->file[i] < 0x20 ||
			    p->file[i] == 0x7f)
				FAIL("mmap: control character in file name");
		break;
	}
	case RPC_MUNMAP:
	case RPC_MPROTECT:
		check_space(&req->p.range.space, true, m);
		if (!req->p.range.addr.present || !req->p.range.length.present)
			FAIL("%s: 'addr' or 'length' missing", m);
		if (req->p.range.prot & ~7u)
			FAIL("%s: prot %#x", m, req->p.range.prot);
		break;
	case RPC_MREMAP: {
		const struct rpc_mremap_params *p = &req->p.mremap;

		check_space(&p->space, true, m);
		if (!p->old_addr.present || !p->old_length.present ||
		    !p->new_length.present)
			FAIL("mremap: required parameter missing");
		if (p->flags >> 3)
			FAIL("mremap: flags %#x", p->flags);
		break;
	}
	case RPC_FAULT:
		check_space(&req->p.addr.space, true, m);
		if (!req->p.addr.addr.present)
			FAIL("fault: 'addr' missing");
		if ((unsigned)req->p.addr.access > VAS_ACCESS_EXEC)
			FAIL("fault: access %d", (int)req->p.addr.access);
		break;
	case RPC_LOOKUP:
		check_space(&req->p.addr.space, true, m);
		if (!req->p.addr.addr.present)
			FAIL("lookup: 'addr' missing");
		break;
	case RPC_SPACE_DESTROY:
	case RPC_MAPS:
	case RPC_VALIDATE:
	case RPC_BRK:
		check_space(&req->p.addr.space, true, m);
		break;
	case RPC_STATS:
		check_space(&req->p.addr.space, false, m);
		break;
	case RPC_SPACE_IMPORT: {
		const struct rpc_import_params *p = &req->p.import;

		if (p->create.name[0] && !is_name(p->create.name))
			FAIL("space.import: bad name '%.64s'", p->create.name);
		check_aligned(&p->create.brk_base, "start_brk");
		if (p->maps.present && strlen(p->maps.s) > p->maps.len)
			FAIL("space.import: 'maps' length %zu, text longer",
			     p->maps.len);
		break;
	}
	case RPC_MADVISE:
	case RPC_MLOCK:
	case RPC_MLOCK2:
	case RPC_MUNLOCK:
	case RPC_MSEAL:
	case RPC_SET_VMA_ANON_NAME: {
		const struct rpc_vmflags_params *p = &req->p.vmf;

		check_space(&p->space, true, m);
		if (!p->addr.present || !p->length.present)
			FAIL("%s: range missing", rpc_method_name(req->method));
		if ((req->method == RPC_MLOCK || req->method == RPC_MLOCK2) &&
		    (p->flags & ~1u))
			FAIL("mlock: flags %#x", p->flags);
		if (strlen(p->name) > VAS_ANON_NAME_MAX + 1 ||
		    (!p->has_name && p->name[0]))
			FAIL("set_vma_anon_name: name");
		break;
	}
	case RPC_MLOCKALL:
		check_space(&req->p.vmf.space, true, m);
		if (req->p.vmf.flags >> 3)
			FAIL("mlockall: flags %#x", req->p.vmf.flags);
		break;
	case RPC_MUNLOCKALL:
		check_space(&req->p.vmf.space, true, m);
		break;
	default:
		break;
	}
}

/* Whether @req's method has a "space" parameter and it was given. */
static bool space_given(const struct rpc_request *req)
{
	switch (req->method) {
	case RPC_SPACE_CREATE:
	case RPC_SPACE_LIST:
	case RPC_PING:
	case RPC_SPACE_IMPORT:
		return false;
	case RPC_SPACE_FORK:
		return req->p.fork.space.present;
	case RPC_MMAP:
		return req->p.mmap.space.present;
	case RPC_MUNMAP:
	case RPC_MPROTECT:
		return req->p.range.space.present;
	case RPC_MREMAP:
		return req->p.mremap.space.present;
	default:
		return req->p.addr.space.present;
	}
}

/*
 * rpc_request_write() must give text that decodes to the same request
 * (the daemon journals mutations that way): same canonical line.
 */
static void check_write(const struct rpc_request *req, const char *line)
{
	struct rpc_request again;
	struct rpc_error err;
	struct rpc_msg msg;
	struct rpc_buf b;
	char line2[4096];

	rpc_buf_init(&b);
	rpc_request_write(&b, req);
	if (b.oom)
		FAIL("rpc_request_write: out of memory");
	if (rpc_msg_parse(&msg, b.data, b.len, false, 1, &err))
		FAIL("rpc_request_write: %.*s does not parse: %s", (int)b.len,
		     b.data, err.msg);
	if (rpc_msg_request(&msg, 0, &again, &err))
		FAIL("rpc_request_write: %.*s does not decode: %s", (int)b.len,
		     b.data, err.msg);
	again.has_id = req->has_id;
	memcpy(again.id, req->id, sizeof(again.id));
	rpc_request_format(&again, line2, sizeof(line2));
	if (strcmp(line, line2))
		FAIL("rpc_request_write: %s came back as %s", line, line2);
	rpc_msg_fini(&msg);
	rpc_buf_fini(&b);
}

/* The canonical text must not depend on the buffer size (snprintf). */
static void check_format(const struct rpc_request *req, char *out, size_t cap,
			 size_t small)
{
	char tiny[64];
	int n = rpc_request_format(req, out, cap), k;

	if (n < 0 || (size_t)n >= cap)
		FAIL("rpc_request_format: %d bytes", n);
	small %= sizeof(tiny);
	memset(tiny, 0x5a, sizeof(tiny));
	k = rpc_request_format(req, tiny, small);
	if (k != n)
		FAIL("rpc_request_format: %d with %zu bytes, %d with %zu", k,
		     small, n, cap);
	if (small && (strlen(tiny) != small - 1 && strlen(tiny) != (size_t)n))
		FAIL("rpc_request_format: bad truncation");
	if (small && strncmp(tiny, out, strlen(tiny)))
		FAIL("rpc_request_format: truncated text differs");
	for (size_t i = small; i < sizeof(tiny); i++)
		if (tiny[i] != 0x5a)
			FAIL("rpc_request_format wrote past %zu bytes", small);
}

/*
 * Parse and decode one frame with the fast path on or off; describe the
 * outcome in @out (compared between the two).
 */
static void decode_frame(const char *frame, size_t len, bool big,
			 size_t max_batch, int fast, struct run *out)
{
	struct rpc_msg msg;
	struct rpc_error err;
	char text[1024];
	int ret;

	rpc_fast_path = fast;
	memset(&err, 0, sizeof(err));
	ret = rpc_msg_parse(&msg, frame, len, big, max_batch, &err);
	if (ret) {
		if (ret != -EPROTO)
			FAIL("rpc_msg_parse: %d", ret);
		if (err.code != RPC_PARSE_ERROR &&
		    err.code != RPC_INVALID_REQUEST)
			FAIL("rpc_msg_parse: code %d", err.code);
		if (!memchr(err.msg, 0, sizeof(err.msg)) || !err.msg[0])
			FAIL("rpc_msg_parse: no message");
		check_error_response(NULL, &err);
		snprintf(text, sizeof(text), "parse %d %s|", err.code, err.msg);
		run_add(out, text, strlen(text));
		return;
	}
	if (msg.nr == 0 || msg.nr > max_batch || (!msg.is_batch && msg.nr != 1))
		FAIL("rpc_msg_parse: %zu requests (batch %d, max %zu)", msg.nr,
		     msg.is_batch, max_batch);
	for (size_t i = 0; i < msg.nr && i < MAX_REQS_CHECKED; i++) {
		struct rpc_request req;
		bool has_space = false;
		int peek = rpc_msg_peek(&msg, i, &has_space);

		memset(&err, 0, sizeof(err));
		ret = rpc_msg_request(&msg, i, &req, &err);
		if (ret) {
			if (ret != -EPROTO)
				FAIL("rpc_msg_request: %d", ret);
			if (err.code != RPC_INVALID_REQUEST &&
			    err.code != RPC_METHOD_NOT_FOUND &&
			    err.code != RPC_INVALID_PARAMS)
				FAIL("rpc_msg_request: code %d (%s)", err.code,
				     err.msg);
			if (!memchr(err.msg, 0, sizeof(err.msg)) || !err.msg[0])
				FAIL("rpc_msg_request: no message");
			json_decref(load_id(req.id));
			if (!req.has_id && strcmp(req.id, "null"))
				FAIL("error without id but id text %s", req.id);
			check_error_response(req.has_id ? req.id : NULL, &err);
			snprintf(text, sizeof(text), "%zu: %d %s id=%s %d|", i,
				 err.code, err.msg, req.id, req.has_id);
			run_add(out, text, strlen(text));
			continue;
		}
		check_request(&req);
		if (peek != (int)req.method)
			FAIL("rpc_msg_peek: %d, request %d", peek,
			     (int)req.method);
		if (has_space != space_given(&req))
			FAIL("rpc_msg_peek: has_space %d for %s", has_space,
			     rpc_method_name(req.method));
		check_format(&req, text, sizeof(text), len + i);
		check_write(&req, text);
		run_add(out, text, strlen(text));
		run_add(out, "|", 1);
		check_result_response(&req);
	}
	rpc_msg_fini(&msg);
}

/*
 * RFC 8259's grammar, strictly, as an oracle independent of jansson:
 * numbers without leading zeros, strings without raw control characters,
 * literals spelled out. Returns the end of the value at @p, or NULL.
 */
static const char *strict_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *strict_value(const char *p, const char *end, int depth);

static const char *strict_string(const char *p, const char *end)
{
	if (p >= end || *p != '"')
		return NULL;
	for (p++; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (++p >= end)
				return NULL;
			if (*p == 'u') {
				int k;

				for (k = 0; k < 4; k++)
					if (++p >= end ||
					    !strchr("0123456789abcdefABCDEF",
						    *p) ||
					    !*p)
						return NULL;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
	}
	return NULL;
}

static const char *strict_digits(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && *q >= '0' && *q <= '9')
		q++;
	return q == p ? NULL : q;
}

static const char *strict_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (!(p = strict_digits(p, end)))
		return NULL;
	if (p < end && *p == '.' && !(p = strict_digits(p + 1, end)))
		return NULL;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!(p = strict_digits(p, end)))
			return NULL;
	}
	return p;
}

static const char *strict_value(const char *p, const char *end, int depth)
{
	static const char *lits[] = {"true", "false", "null"};
	size_t i;

	p = strict_ws(p, end);
	if (p >= end || depth > 100)
		return NULL;
	if (*p == '"')
		return strict_string(p, end);
	if (*p == '-' || (*p >= '0' && *p <= '9'))
		return strict_number(p, end);
	for (i = 0; i < 3; i++)
		if ((size_t)(end - p) >= strlen(lits[i]) &&
		    !memcmp(p, lits[i], strlen(lits[i])))
			return p + strlen(lits[i]);
	if (*p == '[' || *p == '{') {
		char close = *p == '[' ? ']' : '}';

		p = strict_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = strict_string(strict_ws(p, end), end);
				if (!p)
					return NULL;
				p = strict_ws(p, end);
				if (p >= end || *p++ != ':')
					return NULL;
			}
			p = strict_value(p, end, depth + 1);
			if (!p)
				return NULL;
			p = strict_ws(p, end);
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			return p < end && *p == close ? p + 1 : NULL;
		}
	}
	return NULL;
}

/* A frame rpc_msg_parse() accepted must be RFC 8259 JSON (one value). */
static void check_strict(const char *frame, size_t len, bool big,
			 size_t max_batch)
{
	struct rpc_msg msg;
	struct rpc_error err;
	const char *e;

	rpc_fast_path = 0;
	if (rpc_msg_parse(&msg, frame, len, big, max_batch, &err))
		return;
	rpc_msg_fini(&msg);
	e = strict_value(frame, frame + len, 0);
	if (!e || strict_ws(e, frame + len) != frame + len) {
		for (size_t i = 0; i < len && i < 64; i++)
			fprintf(stderr, "%02x ", (unsigned char)frame[i]);
		FAIL("accepted a value that is not RFC 8259 JSON (%zu bytes): "
		     "%.*s",
		     len, (int)(len > 400 ? 400 : len), frame);
	}
}

/* Fast path and tree path must decode @frame alike. */
static void check_frame(const char *frame, size_t len, bool big,
			size_t max_batch)
{
	struct run a = {0}, b = {0};

	decode_frame(frame, len, big, max_batch, 1, &a);
	decode_frame(frame, len, big, max_batch, 0, &b);
	check_strict(frame, len, big, max_batch);
	if (a.len != b.len || (a.len && memcmp(a.frames, b.frames, a.len)))
		FAIL("fast path and tree path differ on %.*s:\n fast: %.*s\n "
		     "tree: %.*s",
		     (int)(len > 400 ? 400 : len), frame, (int)a.len, a.frames,
		     (int)b.len, b.frames);
	free(a.frames);
	free(b.frames);
}

/* A JSON string written by rpc_buf_put_string() reads back as the bytes. */
static void check_string_writer(const uint8_t *data, size_t size)
{
	json_t *s = json_stringn((const char *)data, size), *v;
	struct rpc_buf b;

	if (!s)
		return; /* not UTF-8: JSON cannot carry it */
	rpc_buf_init(&b);
	rpc_buf_put_string(&b, (const char *)data, size);
	v = load_output(&b, "rpc_buf_put_string");
	if (!json_equal(s, v))
		FAIL("rpc_buf_put_string: bytes not read back");
	json_decref(v);
	json_decref(s);
	rpc_buf_fini(&b);
}

/* ---- Framing ------------------------------------------------------------ */

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * Feed @data to a decoder of maximum @max in chunks (@seed 0: as large as
 * offered), recording the frames; decode each frame when @decode.
 */
static void run_stream(const uint8_t *data, size_t size, size_t max,
		       size_t max_batch, uint32_t seed, bool decode,
		       struct run *out)
{
	struct rpc_decoder dec;
	size_t pos = 0;

	rpc_decoder_init(&dec, max);
	for (;;) {
		const char *frame;
		size_t len;
		struct rpc_error err;
		char *ptr;
		long room;
		size_t n;
		int ret;

		/* Take every complete value. */
		for (;;) {
			memset(&err, 0, sizeof(err));
			ret = rpc_decoder_next(&dec, &frame, &len, &err);
			if (ret != 1)
				break;
			if (len == 0 || len > max)
				FAIL("frame of %zu bytes (max %zu)", len, max);
			if (frame[0] == ' ' || frame[0] == '\t' ||
			    frame[0] == '\r' || frame[0] == '\n')
				FAIL("frame starts with whitespace");
			out->nr++;
			run_add(out, &len, sizeof(len));
			run_add(out, frame, len);
			if (decode && out->nr <= MAX_FRAMES)
				check_frame(frame, len,
					    rpc_decoder_frame_has_big_int(&dec),
					    max_batch);
		}
		if (ret < 0) {
			if (!(ret == -EMSGSIZE &&
			      err.code == RPC_INVALID_REQUEST) &&
			    !(ret == -ELOOP && err.code == RPC_PARSE_ERROR))
				FAIL("rpc_decoder_next: %d with code %d", ret,
				     err.code);
			if (!err.msg[0])
				FAIL("rpc_decoder_next: error without message");
			check_error_response(NULL, &err);
			out->end = ret;
			out->code = err.code;
			out->offset = ret == -ELOOP ? err.offset : 0;
			/* Poisoned: it stays failed and offers no room. */
			if (rpc_decoder_next(&dec, &frame, &len, &err) >= 0)
				FAIL("decoder recovered after an error");
			if (rpc_decoder_space(&dec, &ptr) != 0)
				FAIL("failed decoder offers room");
			break;
		}
		if (rpc_decoder_pending(&dec) > max)
			FAIL("%zu bytes pending (max %zu)",
			     rpc_decoder_pending(&dec), max);
		if (pos == size)
			break;
		room = rpc_decoder_space(&dec, &ptr);
		if (room < 0)
			FAIL("rpc_decoder_space: %ld", room);
		if (room == 0)
			FAIL("decoder stalled: no room, no frame, no error "
			     "(%zu pending)",
			     rpc_decoder_pending(&dec));
		n = size - pos;
		if ((size_t)room < n)
			n = (size_t)room;
		if (seed) {
			size_t c = next_rand(&seed) % (1u << (seed % 10)) + 1;

			if (c < n)
				n = c;
		}
		memcpy(ptr, data + pos, n);
		rpc_decoder_commit(&dec, n);
		pos += n;
	}
	rpc_decoder_fini(&dec);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/*
 * The same bytes as /proc/PID/maps text: a parse either fails with -32602
 * naming a line, or gives sorted, page-aligned, non-empty VMAs whose
 * import areas keep their ranges.
 */
static void check_maps(const uint8_t *data, size_t size)
{
	struct rpc_maps m;
	struct rpc_error err;
	struct vas_import_area *a;
	size_t i;
	int ret = rpc_maps_parse((const char *)data, size, &m, &err);

	if (ret) {
		if (ret != -EPROTO || err.code != RPC_INVALID_PARAMS ||
		    strncmp(err.msg, "'maps'", 6))
			FAIL("rpc_maps_parse: %d %d '%s'", ret, err.code,
			     err.msg);
		return;
	}
	a = calloc(m.nr + 1, sizeof(*a));
	rpc_maps_to_import(&m, a);
	for (i = 0; i < m.nr; i++) {
		if (m.v[i].start >= m.v[i].end || (m.v[i].start & 4095) ||
		    (m.v[i].end & 4095) ||
		    (i && m.v[i - 1].end > m.v[i].start))
			FAIL("rpc_maps_parse: bad VMA %zu", i);
		if (a[i].start != m.v[i].start || a[i].end != m.v[i].end ||
		    a[i].prot & ~7u)
			FAIL("rpc_maps_to_import: area %zu differs", i);
	}
	free(a);
	rpc_maps_fini(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t maxes[] = {64, 256, 4096, RPC_DEFAULT_MAX_MSG};
	struct run a = {0}, b = {0};
	size_t max, max_batch;
	uint32_t seed;

	if (size < 2)
		return 0;
	max = maxes[data[0] & 3];
	max_batch = (data[0] & 4) ? 3 : RPC_MAX_BATCH;
	seed = (uint32_t)data[1] * 2654435761u | 1;
	data += 2;
	size -= 2;

	run_stream(data, size, max, max_batch, seed, true, &a);
	run_stream(data, size, max, max_batch, 0, false, &b);
	if (a.nr != b.nr || a.len != b.len ||
	    (a.len && memcmp(a.frames, b.frames, a.len)))
		FAIL("chunking changed the frames: %zu vs %zu", a.nr, b.nr);
	if (a.end != b.end || a.code != b.code || a.offset != b.offset)
		FAIL("chunking changed the end: %d/%d/%zu vs %d/%d/%zu", a.end,
		     a.code, a.offset, b.end, b.code, b.offset);
	free(a.frames);
	free(b.frames);
	if (size <= 512)
		check_string_writer(data, size);
	if (size <= 8192)
		check_maps(data, size);
	return 0;
}
