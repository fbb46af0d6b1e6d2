/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rpc/jsonrpc.h - The JSON-RPC 2.0 codec of vmad: bytes to typed requests,
 * typed results to bytes. Pure: no sockets, no threads, no logging. The
 * JSON library (jansson) stays behind this header.
 *
 * Three pieces:
 *
 *   struct rpc_decoder  framing: finds where each JSON value of a byte
 *                       stream ends (newline-delimited or not), in time
 *                       linear in the input, capping a value's size and
 *                       nesting depth before it is buffered whole.
 *   struct rpc_msg      one parsed value: a request or a batch of them;
 *                       rpc_msg_request() decodes element i into a typed
 *                       struct rpc_request, checking every parameter
 *                       against the method table (one row per method).
 *   struct rpc_buf      an output buffer and the writers of responses:
 *                       envelopes, errors, VMAs, fault results.
 *
 * Locking: nothing here is thread-safe; each object belongs to one thread
 * at a time (a connection's worker). The method table is read-only.
 */
#ifndef RPC_JSONRPC_H
#define RPC_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vma/vas.h"

#ifdef __cplusplus
extern "C" {
#endif

/* JSON-RPC 2.0 error codes. */
enum {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_OS_ERROR = -32000, /* a failed operation: data.errno */
};

#define RPC_MAX_DEPTH 64  /* nesting of arrays/objects in one value */
#define RPC_NAME_MAX  64  /* bytes of a space name, NUL included */
#define RPC_ID_MAX    128 /* bytes of an id's JSON text, NUL included */
#define RPC_MSG_MAX   128 /* bytes of an error message, NUL included */
#define RPC_MAX_BATCH 10000

/**
 * struct rpc_error - A protocol error, as sent in an error response.
 * @code: RPC_* code; RPC_OS_ERROR with @err set for a model error.
 * @offset: byte offset in the frame where parsing failed (parse errors).
 * @err: the positive errno for RPC_OS_ERROR (data.errno), else 0.
 * @msg: the human-readable message; names the parameter for -32602.
 */
struct rpc_error {
	int code;
	size_t offset;
	int err;
	char msg[RPC_MSG_MAX];
};

/* ---- Framing ---------------------------------------------------------- */

/**
 * struct rpc_decoder - Splits a byte stream into JSON values.
 * Fields are private; use the functions below.
 */
struct rpc_decoder {
	char *buf;	 /* bytes received and not yet consumed */
	size_t cap;	 /* allocated size of buf */
	size_t start;	 /* first byte of the current value */
	size_t scan;	 /* next byte to scan */
	size_t end;	 /* end of received bytes */
	size_t max;	 /* largest value accepted, in bytes */
	unsigned depth;	 /* open arrays and objects */
	unsigned digits; /* length of the current run of digits */
	unsigned state;	 /* scanner state */
	bool big_int;	 /* the current value has an integer >= 19 digits */
	bool frame_big;	 /* the frame returned last had one */
};

/**
 * rpc_decoder_init() - Prepare @dec to split values of at most @max bytes.
 * Context: Any context.
 */
void rpc_decoder_init(struct rpc_decoder *dec, size_t max);

/**
 * rpc_decoder_fini() - Release @dec's buffer.
 * Context: Any context.
 */
void rpc_decoder_fini(struct rpc_decoder *dec);

/**
 * rpc_decoder_space() - Room to receive more bytes into.
 * @ptr: receives where to write them.
 *
 * Grows the buffer (never beyond what a value of the maximum size needs)
 * and compacts consumed bytes away.
 * Context: Any context.
 * Return: how many bytes may be written at *@ptr (0 if none: the value
 *         being received already exceeds the maximum, see _next()), or
 *         -ENOMEM.
 */
long rpc_decoder_space(struct rpc_decoder *dec, char **ptr);

/**
 * rpc_decoder_commit() - Account @n bytes written at rpc_decoder_space().
 * Context: Any context.
 */
void rpc_decoder_commit(struct rpc_decoder *dec, size_t n);

/**
 * rpc_decoder_feed() - Copy @len bytes in (convenience for tests).
 * Context: Any context.
 * Return: 0; -ENOMEM; -EMSGSIZE if the bytes do not fit (call _next()).
 */
int rpc_decoder_feed(struct rpc_decoder *dec, const void *data, size_t len);

/**
 * rpc_decoder_next() - Find the next complete value.
 * @frame: receives its first byte (borrowed: valid until the next call to
 *         any rpc_decoder function).
 * @len: receives its length.
 * @err: filled on error.
 *
 * Context: Any context.
 * Return: 1 with a value; 0 if more bytes are needed; -EMSGSIZE if the
 *         value exceeds the maximum size, -ELOOP if it nests deeper than
 *         RPC_MAX_DEPTH (@err holds the response to send; the stream
 *         cannot be resynchronised: close it after the reply).
 */
int rpc_decoder_next(struct rpc_decoder *dec, const char **frame, size_t *len,
		     struct rpc_error *err);

/**
 * rpc_decoder_pending() - Bytes of an incomplete value held (non-space).
 * Context: Any context.
 */
size_t rpc_decoder_pending(const struct rpc_decoder *dec);

struct rpc_buf;

/**
 * rpc_decoder_memory() - Bytes of buffer @dec holds (for accounting).
 * Context: Any context.
 */
size_t rpc_decoder_memory(const struct rpc_decoder *dec);

/**
 * rpc_decoder_shrink() - Free @dec's buffer if it grew large (a big value
 * came through) and holds nothing now; it grows again when needed. Frames
 * returned earlier are invalid afterwards.
 * Context: Any context.
 */
void rpc_decoder_shrink(struct rpc_decoder *dec);

/* ---- Requests --------------------------------------------------------- */

enum rpc_method {
	RPC_SPACE_CREATE,
	RPC_SPACE_DESTROY,
	RPC_SPACE_FORK,
	RPC_SPACE_LIST,
	RPC_MMAP,
	RPC_MUNMAP,
	RPC_MPROTECT,
	RPC_MREMAP,
	RPC_BRK,
	RPC_FAULT,
	RPC_LOOKUP,
	RPC_MAPS,
	RPC_STATS,
	RPC_VALIDATE,
	RPC_PING,
	RPC_SPACE_IMPORT,
	RPC_MADVISE,
	RPC_MLOCK,
	RPC_MLOCK2,
	RPC_MUNLOCK,
	RPC_MLOCKALL,
	RPC_MUNLOCKALL,
	RPC_MSEAL,
	RPC_SET_VMA_ANON_NAME,
	RPC_SPACE_EXPORT,
	RPC_NR_METHODS
};

/* A "space" parameter: an id or a name. */
/*
 * A space named in params: an id, a name of the caller's, or
 * "~UID/NAME", the name NAME of the spaces of UID (@has_owner; root's way
 * to address another owner's space, since names are scoped per owner).
 */
struct rpc_space_ref {
	bool present;
	bool by_name;
	bool has_owner;
	uint32_t owner;
	uint64_t id;
	char name[RPC_NAME_MAX];
};

/* An optional 64-bit parameter. */
struct rpc_u64 {
	bool present;
	uint64_t v;
};

/* An optional boolean parameter. */
struct rpc_opt_bool {
	bool present;
	bool v;
};

struct rpc_create_params {
	char name[RPC_NAME_MAX]; /* "" when absent */
	struct rpc_u64 task_size, mmap_base, stack_guard_gap, max_map_count,
		stack_rlimit, brk_base, memlock_rlimit;
	bool stack;
};

/*
 * A string parameter too long to copy (the text of /proc/PID/maps, a
 * snapshot in base64): borrowed from the parsed message, valid while it
 * lives.
 */
struct rpc_text {
	bool present;
	const char *s;
	size_t len;
};

/*
 * A list of page ranges ([[start, end], ...]: space.import's "guards"),
 * checked by the decoder (numbers, page-aligned, non-empty, sorted,
 * disjoint) and borrowed from the parsed message, valid while it lives:
 * rpc_ranges_copy() copies them out.
 */
struct rpc_ranges {
	bool present;
	const void *json; /* private: the array */
	size_t nr;
};

/**
 * rpc_ranges_copy() - Copy the @r->nr ranges of @r into @out.
 * Context: Any context (the message @r was decoded from still alive).
 */
void rpc_ranges_copy(const struct rpc_ranges *r, struct vas_import_guard *out);

/* space.import from /proc/PID/maps (or smaps) text, or from a snapshot. */
struct rpc_import_params {
	struct rpc_create_params create; /* name and layout; brk_base is
					    the "start_brk" param */
	struct rpc_text maps;
	struct rpc_u64 brk, start_stack;
	struct rpc_text snapshot; /* or: space.export's "snapshot" (base64) */
	struct rpc_ranges guards; /* with "maps": guard marker ranges */
};

struct rpc_fork_params {
	struct rpc_space_ref space;
	char name[RPC_NAME_MAX];
};

struct rpc_mmap_params {
	struct rpc_space_ref space;
	struct rpc_u64 addr, length, offset;
	unsigned prot;	/* VAS_PROT_* */
	unsigned flags; /* VAS_MAP_* */
	char file[VAS_FILE_MAX];
	struct rpc_opt_bool thp_align; /* the file's filesystem aligns */
};

/* madvise, mlock, mlock2, munlock, mlockall, munlockall, mseal, and
 * set_vma_anon_name: a range and what to do with it. */
struct rpc_vmflags_params {
	struct rpc_space_ref space;
	struct rpc_u64 addr, length;
	struct rpc_u64 seal_flags; /* mseal's flags (Linux wants 0) */
	int advice;		   /* VAS_MADV_* or any number */
	unsigned flags;		   /* VAS_MLOCK_ONFAULT, VAS_MCL_* */
	bool has_name;		   /* a name, not null */
	/* the name (JSON strings hold no NUL); longer names are cut here,
	 * still longer than Linux allows */
	char name[VAS_ANON_NAME_MAX + 2];
};

struct rpc_range_params { /* munmap, mprotect */
	struct rpc_space_ref space;
	struct rpc_u64 addr, length;
	unsigned prot;
};

struct rpc_mremap_params {
	struct rpc_space_ref space;
	struct rpc_u64 old_addr, old_length, new_length, new_addr;
	unsigned flags; /* VAS_MREMAP_* */
};

struct rpc_addr_params { /* brk, fault, lookup, maps, destroy, stats */
	struct rpc_space_ref space;
	struct rpc_u64 addr;
	enum vas_access access;
};

/**
 * struct rpc_request - One decoded request.
 * @method: which row of the method table.
 * @has_id: false for a notification (no response is sent).
 * @id: the id's JSON text ("null" when unknown), echoed in the response.
 * @p: the typed parameters of @method.
 */
struct rpc_request {
	enum rpc_method method;
	bool has_id;
	char id[RPC_ID_MAX];
	union {
		struct rpc_create_params create;
		struct rpc_import_params import;
		struct rpc_fork_params fork;
		struct rpc_mmap_params mmap;
		struct rpc_range_params range;
		struct rpc_mremap_params mremap;
		struct rpc_addr_params addr;
		struct rpc_vmflags_params vmf;
	} p;
};

/**
 * rpc_advice_name() - The wire name of madvise advice @advice
 * ("dontneed", ...), or NULL if it has none.
 * Context: Any context.
 */
const char *rpc_advice_name(int advice);

/**
 * rpc_method_name() - The wire name of @m ("space.create", ...).
 * Context: Any context.
 */
const char *rpc_method_name(enum rpc_method m);

/**
 * struct rpc_msg - One parsed JSON value: a request or a batch.
 * @root: private (the JSON tree; NULL when @fast holds the request).
 * @is_batch: the value was an array.
 * @nr: requests in it (1 if not a batch).
 * @fast: private: the value was one valid request in the common shape,
 *        decoded by the fast path into @req without building a tree.
 * @req: private: that request.
 */
struct rpc_msg {
	void *root;
	bool is_batch;
	bool fast;
	size_t nr;
	struct rpc_request req;
};

/*
 * rpc_fast_path - Test hook: 0 makes rpc_msg_parse() always build the JSON
 * tree, so that tests can check that both paths decode alike. Default 1.
 */
extern int rpc_fast_path;

/**
 * rpc_msg_parse() - Parse one value found by rpc_decoder_next().
 * @big_int: the decoder saw an integer of 19 digits or more in it
 *           (rpc_decoder_frame_has_big_int()); such integers are passed to
 *           the parameter checks instead of failing the parse.
 * @max_batch: the largest batch accepted.
 *
 * Context: Any context.
 * Return: 0 and @msg set (release with rpc_msg_fini()); -EPROTO with @err
 *         (-32700 for bad JSON: reply and close; -32600 for an empty or
 *         oversized batch: reply and go on); -ENOMEM.
 */
int rpc_msg_parse(struct rpc_msg *msg, const char *frame, size_t len,
		  bool big_int, size_t max_batch, struct rpc_error *err);

/**
 * rpc_decoder_frame_has_big_int() - Whether the value last returned by
 * rpc_decoder_next() holds an integer of 19 digits or more.
 * Context: Any context.
 */
bool rpc_decoder_frame_has_big_int(const struct rpc_decoder *dec);

/**
 * rpc_msg_request() - Decode request @i of @msg into @req.
 *
 * Context: Any context.
 * Return: 0; -EPROTO with @err (-32600, -32601, -32602) and @req->id and
 *         @req->has_id set as far as they could be read (answer with
 *         rpc_write_error() unless !@req->has_id).
 */
int rpc_msg_request(const struct rpc_msg *msg, size_t i,
		    struct rpc_request *req, struct rpc_error *err);

/**
 * rpc_msg_peek() - The method of request @i of @msg, without decoding it
 * (to route it before running it).
 * @has_space: set if its params name a "space".
 * Context: Any context.
 * Return: the enum rpc_method, or -1 if the request is not valid enough
 *         to tell (rpc_msg_request() will report why).
 */
int rpc_msg_peek(const struct rpc_msg *msg, size_t i, bool *has_space);

/**
 * rpc_msg_fini() - Release @msg.
 * Context: Any context.
 */
void rpc_msg_fini(struct rpc_msg *msg);

/**
 * rpc_request_format() - Describe @req in one canonical line (tests, logs).
 * Context: Any context.
 * Return: as snprintf.
 */
int rpc_request_format(const struct rpc_request *req, char *buf, size_t len);

/**
 * rpc_name_valid() - Whether @s (@len bytes) is a valid space name.
 * Context: Any context.
 */
bool rpc_name_valid(const char *s, size_t len);

/**
 * rpc_request_space() - The "space" parameter of @req's method, or NULL if
 * the method has none (the table knows where each method keeps it).
 * Context: Any context.
 */
const struct rpc_space_ref *rpc_request_space(const struct rpc_request *req);

/**
 * rpc_request_write() - Write @req back as a JSON-RPC notification
 * (no id): the parameters that were given, in the method table's order, so
 * that rpc_msg_parse() and rpc_msg_request() of the text give @req again
 * (the daemon's journal stores mutations this way).
 * Context: Any context.
 */
void rpc_request_write(struct rpc_buf *b, const struct rpc_request *req);

/**
 * rpc_error_set() - Fill @err (printf-style message).
 * Context: Any context.
 * Return: -EPROTO.
 */
int rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * rpc_error_errno() - Fill @err for a failed model operation (-@errnum).
 * Context: Any context.
 * Return: -EPROTO.
 */
int rpc_error_errno(struct rpc_error *err, int errnum);

/* ---- Responses -------------------------------------------------------- */

/**
 * struct rpc_buf - A growable output buffer. Writers never fail halfway:
 * on allocation failure the buffer records it (@oom) and later writes are
 * ignored; check it once at the end.
 */
struct rpc_buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

void rpc_buf_init(struct rpc_buf *b);
void rpc_buf_fini(struct rpc_buf *b);
void rpc_buf_reset(struct rpc_buf *b);
/* Slow path of rpc_buf_put(): grow (or record the failure) and append. */
void rpc_buf_put_slow(struct rpc_buf *b, const void *data, size_t len);

/* Append @len bytes; inline so that short constant copies stay cheap. */
static inline void rpc_buf_put(struct rpc_buf *b, const void *data, size_t len)
{
	if (__builtin_expect(b->oom || b->cap - b->len <= len, 0)) {
		rpc_buf_put_slow(b, data, len);
		return;
	}
	__builtin_memcpy(b->data + b->len, data, len);
	b->len += len;
}

void rpc_buf_puts(struct rpc_buf *b, const char *s);
void rpc_buf_printf(struct rpc_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string literal with the escapes JSON needs. */
void rpc_buf_put_string(struct rpc_buf *b, const char *s, size_t len);
/* The inside of a JSON string literal: @s escaped, without the quotes. */
void rpc_buf_put_escaped(struct rpc_buf *b, const char *s, size_t len);
void rpc_buf_put_u64(struct rpc_buf *b, uint64_t v);
/* A JSON string literal holding @len bytes of @data in base64 (RFC 4648). */
void rpc_buf_put_base64(struct rpc_buf *b, const void *data, size_t len);

/**
 * rpc_base64_encode() - Write @len bytes of @data in base64 (RFC 4648,
 * padded) to @out, which holds rpc_base64_len(@len) bytes (no NUL added).
 * Context: Any context.
 * Return: the number of characters written.
 */
size_t rpc_base64_encode(const void *data, size_t len, char *out);
#define rpc_base64_len(len) (((len) + 2) / 3 * 4)

/**
 * rpc_base64_decode() - Decode the base64 text @s of @len bytes (RFC 4648,
 * padded, no whitespace) into @out, which holds rpc_base64_max(@len) bytes.
 * Context: Any context.
 * Return: the number of bytes decoded; -EINVAL if @s is not base64.
 */
long rpc_base64_decode(const char *s, size_t len, void *out);
#define rpc_base64_max(len) ((len) / 4 * 3)

/**
 * rpc_write_result_begin() - `{"jsonrpc":"2.0","id":ID,"result":`; the
 * caller writes the result value and calls rpc_write_result_end().
 * Context: Any context.
 */
void rpc_write_result_begin(struct rpc_buf *b, const char *id);
void rpc_write_result_end(struct rpc_buf *b);

/**
 * rpc_write_error() - A complete error response for @err with id @id
 * (the id's JSON text; NULL means null). No trailing newline.
 * Context: Any context.
 */
void rpc_write_error(struct rpc_buf *b, const char *id,
		     const struct rpc_error *err);

/**
 * rpc_write_vma() - A VMA object as PROTOCOL.md, VMA objects, describes it.
 * Context: Any context.
 */
void rpc_write_vma(struct rpc_buf *b, const struct vas_vma_info *vma);

/**
 * rpc_write_fault() - The result object of "fault".
 * Context: Any context.
 */
void rpc_write_fault(struct rpc_buf *b, const struct vas_fault_result *res);

/**
 * rpc_write_maps() - The result object of "maps": the VMAs and the
 * /proc/PID/maps text.
 * Context: Any context.
 */
void rpc_write_maps(struct rpc_buf *b, const struct vas_vma_info *vmas,
		    size_t nr);

/* Where rpc_write_maps_part() stands; zero-initialise to start. */
enum {
	RPC_MAPS_START,
	RPC_MAPS_VMAS,
	RPC_MAPS_TEXT,
	RPC_MAPS_DONE,
};
struct rpc_maps_cursor {
	unsigned phase;
	size_t i; /* the next VMA of the phase */
};

/**
 * rpc_write_maps_part() - Write the "maps" result object in parts: from
 * @cur on, stopping at a VMA boundary once about @max bytes were added.
 * Calls until it returns true write exactly what rpc_write_maps() writes,
 * so a long listing can be sent while it is being written.
 * Context: Any context.
 * Return: true once the object is complete (or @b ran out of memory).
 */
bool rpc_write_maps_part(struct rpc_buf *b, const struct vas_vma_info *vmas,
			 size_t nr, struct rpc_maps_cursor *cur, size_t max);

/**
 * rpc_write_space_stats() - The members of a space's counters (without
 * braces), as "stats" reports them.
 * Context: Any context.
 */
void rpc_write_space_stats(struct rpc_buf *b, const struct vas_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* RPC_JSONRPC_H */
