// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Requests: JSON to typed structs, driven by the method table.
 *
 * Every method is one row of rpc_methods[]: its wire name and a table of
 * its parameters (name, type, offset of the typed field in struct
 * rpc_request, flags). One generic loop walks the params object, finds
 * each member's row (an unknown member is -32602 naming it), converts and
 * checks the value by type (a wrong type, a negative or too large number
 * is -32602 naming the parameter) and finally checks that every required
 * parameter was given. Adding a method is one row here, one parameter
 * table, and one handler in the daemon.
 *
 * What is checked here is the shape of each value: JSON type, range, the
 * alphabet of prot and flags. What Linux checks (alignment of addresses
 * and lengths given to mmap and friends, flag combinations) is left to the
 * model, which answers with the errno Linux would: an unaligned munmap is
 * EINVAL from vas_munmap(), not an invalid-params error.
 *
 * Numbers: JSON integers from 0 to 2^64-1, or strings "0x..." with 1 to 16
 * significant hex digits. jansson stores integers as signed 64-bit values
 * and refuses larger ones as a parse error, so rpc_msg_parse() first
 * rewrites every integer token of 19 digits or more into a string
 * "\u0001N<digits>" that the number check below parses itself: 2^63 to
 * 2^64-1 are accepted, anything larger or negative is -32602 "out of
 * range", never a parse error. Only tokens that RFC 8259 calls integers
 * are rewritten (no leading zeros), so every invalid number, long or
 * short, is a parse error. A client cannot forge the mark: strings with
 * control characters (U+0000 to U+001F, which JSON allows only escaped)
 * are refused in every request, -32600, before any value is looked at.
 * The same ids come back verbatim: an id of 19 or more digits is checked
 * against the signed 64-bit range and echoed as it was written.
 */
#include "rpc/jsonrpc.h"
#include "rpc/suggest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define BIG_MARK     "\x01N"
#define BIG_MARK_LEN 2

enum rpc_ptype {
	P_U64,		/* struct rpc_u64 */
	P_SPACE,	/* struct rpc_space_ref */
	P_PROT,		/* unsigned, VAS_PROT_* */
	P_MAP_FLAGS,	/* unsigned, VAS_MAP_* */
	P_MREMAP_FLAGS, /* unsigned, VAS_MREMAP_* */
	P_ACCESS,	/* enum vas_access */
	P_NAME,		/* char[RPC_NAME_MAX] */
	P_FILE,		/* char[VAS_FILE_MAX] */
	P_BOOL,		/* bool */
	P_TEXT,		/* struct rpc_text (tree path only) */
	P_OPT_BOOL,	/* struct rpc_opt_bool */
	P_ADVICE,	/* int: an advice name or number */
	P_MLOCK_FLAGS,	/* unsigned, VAS_MLOCK_ONFAULT */
	P_MCL_FLAGS,	/* unsigned, VAS_MCL_* */
	P_ANON_NAME,	/* has_name + name[]: a string or null */
	P_RANGES,	/* struct rpc_ranges (tree path only) */
};

enum {
	PF_REQUIRED = 1u << 0,
	PF_ALIGNED = 1u << 1, /* a multiple of the page size */
	PF_SEEN = 1u << 2,    /* internal: set while decoding */
};

struct rpc_param {
	const char *name;
	enum rpc_ptype type;
	size_t off;
	unsigned flags;
};

struct rpc_method_row {
	const char *name;
	const struct rpc_param *params;
	size_t nr_params;
};

#define F(member)	 offsetof(struct rpc_request, p.member)
#define ROW(m, str, tbl) [m] = {str, tbl, sizeof(tbl) / sizeof(tbl[0])}
#define ROW0(m, str)	 [m] = {str, NULL, 0}

static const struct rpc_param create_params[] = {
	{"name", P_NAME, F(create.name), 0},
	{"task_size", P_U64, F(create.task_size), PF_ALIGNED},
	{"mmap_base", P_U64, F(create.mmap_base), PF_ALIGNED},
	{"stack_guard_gap", P_U64, F(create.stack_guard_gap), 0},
	{"max_map_count", P_U64, F(create.max_map_count), 0},
	{"stack_rlimit", P_U64, F(create.stack_rlimit), 0},
	{"brk_base", P_U64, F(create.brk_base), PF_ALIGNED},
	{"stack", P_BOOL, F(create.stack), 0},
	{"memlock_rlimit", P_U64, F(create.memlock_rlimit), 0},
};

static const struct rpc_param import_params[] = {
	{"name", P_NAME, F(import.create.name), 0},
	{"maps", P_TEXT, F(import.maps), 0},
	{"start_brk", P_U64, F(import.create.brk_base), PF_ALIGNED},
	{"brk", P_U64, F(import.brk), 0},
	{"start_stack", P_U64, F(import.start_stack), 0},
	{"task_size", P_U64, F(import.create.task_size), PF_ALIGNED},
	{"mmap_base", P_U64, F(import.create.mmap_base), PF_ALIGNED},
	{"stack_guard_gap", P_U64, F(import.create.stack_guard_gap), 0},
	{"max_map_count", P_U64, F(import.create.max_map_count), 0},
	{"stack_rlimit", P_U64, F(import.create.stack_rlimit), 0},
	{"memlock_rlimit", P_U64, F(import.create.memlock_rlimit), 0},
	{"snapshot", P_TEXT, F(import.snapshot), 0},
	{"guards", P_RANGES, F(import.guards), 0},
};

static const struct rpc_param space_params[] = {
	{"space", P_SPACE, F(addr.space), PF_REQUIRED},
};

static const struct rpc_param stats_params[] = {
	{"space", P_SPACE, F(addr.space), 0},
};

static const struct rpc_param fork_params[] = {
	{"space", P_SPACE, F(fork.space), PF_REQUIRED},
	{"name", P_NAME, F(fork.name), 0},
};

static const struct rpc_param mmap_params[] = {
	{"space", P_SPACE, F(mmap.space), PF_REQUIRED},
	{"addr", P_U64, F(mmap.addr), 0},
	{"length", P_U64, F(mmap.length), PF_REQUIRED},
	{"prot", P_PROT, F(mmap.prot), PF_REQUIRED},
	{"flags", P_MAP_FLAGS, F(mmap.flags), PF_REQUIRED},
	{"file", P_FILE, F(mmap.file), 0},
	{"offset", P_U64, F(mmap.offset), 0},
	{"thp_align", P_OPT_BOOL, F(mmap.thp_align), 0},
};

static const struct rpc_param madvise_params[] = {
	{"space", P_SPACE, F(vmf.space), PF_REQUIRED},
	{"addr", P_U64, F(vmf.addr), PF_REQUIRED},
	{"length", P_U64, F(vmf.length), PF_REQUIRED},
	{"advice", P_ADVICE, F(vmf.advice), PF_REQUIRED},
};

static const struct rpc_param mlock_params[] = {
	{"space", P_SPACE, F(vmf.space), PF_REQUIRED},
	{"addr", P_U64, F(vmf.addr), PF_REQUIRED},
	{"length", P_U64, F(vmf.length), PF_REQUIRED},
	{"flags", P_MLOCK_FLAGS, F(vmf.flags), 0},
};

static const struct rpc_param munlock_params[] = {
	{"space", P_SPACE, F(vmf.space), PF_REQUIRED},
	{"addr", P_U64, F(vmf.addr), PF_REQUIRED},
	{"length", P_U64, F(vmf.length), PF_REQUIRED},
};

static const struct rpc_param mlockall_params[] = {
	{"space", P_SPACE, F(vmf.space), PF_REQUIRED},
	{"flags", P_MCL_FLAGS, F(vmf.flags), PF_REQUIRED},
};

static const struct rpc_param munlockall_params[] = {
	{"space", P_SPACE, F(vmf.space), PF_REQUIRED},
};

static const struct rpc_param mseal_params[] = {
	{"space", P_SPACE, F(vmf.space), PF_REQUIRED},
	{"addr", P_U64, F(vmf.addr), PF_REQUIRED},
	{"length", P_U64, F(vmf.length), PF_REQUIRED},
	{"flags", P_U64, F(vmf.seal_flags), 0},
};

static const struct rpc_param anon_name_params[] = {
	{"space", P_SPACE, F(vmf.space), PF_REQUIRED},
	{"addr", P_U64, F(vmf.addr), PF_REQUIRED},
	{"length", P_U64, F(vmf.length), PF_REQUIRED},
	{"name", P_ANON_NAME, F(vmf.has_name), PF_REQUIRED},
};

static const struct rpc_param munmap_params[] = {
	{"space", P_SPACE, F(range.space), PF_REQUIRED},
	{"addr", P_U64, F(range.addr), PF_REQUIRED},
	{"length", P_U64, F(range.length), PF_REQUIRED},
};

static const struct rpc_param mprotect_params[] = {
	{"space", P_SPACE, F(range.space), PF_REQUIRED},
	{"addr", P_U64, F(range.addr), PF_REQUIRED},
	{"length", P_U64, F(range.length), PF_REQUIRED},
	{"prot", P_PROT, F(range.prot), PF_REQUIRED},
};

static const struct rpc_param mremap_params[] = {
	{"space", P_SPACE, F(mremap.space), PF_REQUIRED},
	{"old_addr", P_U64, F(mremap.old_addr), PF_REQUIRED},
	{"old_length", P_U64, F(mremap.old_length), PF_REQUIRED},
	{"new_length", P_U64, F(mremap.new_length), PF_REQUIRED},
	{"flags", P_MREMAP_FLAGS, F(mremap.flags), 0},
	{"new_addr", P_U64, F(mremap.new_addr), 0},
};

static const struct rpc_param brk_params[] = {
	{"space", P_SPACE, F(addr.space), PF_REQUIRED},
	{"addr", P_U64, F(addr.addr), 0},
};

static const struct rpc_param fault_params[] = {
	{"space", P_SPACE, F(addr.space), PF_REQUIRED},
	{"addr", P_U64, F(addr.addr), PF_REQUIRED},
	{"access", P_ACCESS, F(addr.access), PF_REQUIRED},
};

static const struct rpc_param lookup_params[] = {
	{"space", P_SPACE, F(addr.space), PF_REQUIRED},
	{"addr", P_U64, F(addr.addr), PF_REQUIRED},
};

/* The method table: one row per method, indexed by enum rpc_method. */
static const struct rpc_method_row rpc_methods[RPC_NR_METHODS] = {
	ROW(RPC_SPACE_CREATE, "space.create", create_params),
	ROW(RPC_SPACE_DESTROY, "space.destroy", space_params),
	ROW(RPC_SPACE_FORK, "space.fork", fork_params),
	ROW0(RPC_SPACE_LIST, "space.list"),
	ROW(RPC_MMAP, "mmap", mmap_params),
	ROW(RPC_MUNMAP, "munmap", munmap_params),
	ROW(RPC_MPROTECT, "mprotect", mprotect_params),
	ROW(RPC_MREMAP, "mremap", mremap_params),
	ROW(RPC_BRK, "brk", brk_params),
	ROW(RPC_FAULT, "fault", fault_params),
	ROW(RPC_LOOKUP, "lookup", lookup_params),
	ROW(RPC_MAPS, "maps", space_params),
	ROW(RPC_STATS, "stats", stats_params),
	ROW(RPC_VALIDATE, "space.validate", space_params),
	ROW0(RPC_PING, "ping"),
	ROW(RPC_SPACE_IMPORT, "space.import", import_params),
	ROW(RPC_MADVISE, "madvise", madvise_params),
	ROW(RPC_MLOCK, "mlock", mlock_params),
	ROW(RPC_MLOCK2, "mlock2", mlock_params),
	ROW(RPC_MUNLOCK, "munlock", munlock_params),
	ROW(RPC_MLOCKALL, "mlockall", mlockall_params),
	ROW(RPC_MUNLOCKALL, "munlockall", munlockall_params),
	ROW(RPC_MSEAL, "mseal", mseal_params),
	ROW(RPC_SET_VMA_ANON_NAME, "set_vma_anon_name", anon_name_params),
	ROW(RPC_SPACE_EXPORT, "space.export", space_params),
};

/* Names of the bits of a flags array, in bit order. */
static const char *const map_flag_names[] = {
	"private",   "shared",	  "anonymous",	"fixed",     "fixed_noreplace",
	"growsdown", "growsup",	  "populate",	"noreserve", "stack",
	"locked",    "denywrite", "executable", "nonblock",  "uninitialized",
};
#define NR_MAP_FLAGS (sizeof(map_flag_names) / sizeof(map_flag_names[0]))

static const char *const mlock_flag_names[] = {"onfault"};
static const char *const mcl_flag_names[] = {"current", "future", "onfault"};

/*
 * madvise advice by name. Advice that Linux knows but the model does not
 * (value < 0 here) is refused as an invalid parameter, by name or number.
 */
static const struct {
	const char *name;
	int value;
} advice_names[] = {
	{"normal", VAS_MADV_NORMAL},
	{"random", VAS_MADV_RANDOM},
	{"sequential", VAS_MADV_SEQUENTIAL},
	{"willneed", VAS_MADV_WILLNEED},
	{"dontneed", VAS_MADV_DONTNEED},
	{"free", VAS_MADV_FREE},
	{"remove", VAS_MADV_REMOVE},
	{"dontfork", VAS_MADV_DONTFORK},
	{"dofork", VAS_MADV_DOFORK},
	{"mergeable", VAS_MADV_MERGEABLE},
	{"unmergeable", VAS_MADV_UNMERGEABLE},
	{"hugepage", VAS_MADV_HUGEPAGE},
	{"nohugepage", VAS_MADV_NOHUGEPAGE},
	{"dontdump", VAS_MADV_DONTDUMP},
	{"dodump", VAS_MADV_DODUMP},
	{"wipeonfork", VAS_MADV_WIPEONFORK},
	{"keeponfork", VAS_MADV_KEEPONFORK},
	{"cold", VAS_MADV_COLD},
	{"dontneed_locked", VAS_MADV_DONTNEED_LOCKED},
	{"hwpoison", VAS_MADV_HWPOISON},
	{"soft_offline", VAS_MADV_SOFT_OFFLINE},
	{"guard_install", VAS_MADV_GUARD_INSTALL},
	{"guard_remove", VAS_MADV_GUARD_REMOVE},
	{"populate_read", VAS_MADV_POPULATE_READ},
	{"populate_write", VAS_MADV_POPULATE_WRITE},
	{"pageout", -VAS_MADV_PAGEOUT},
	{"collapse", -VAS_MADV_COLLAPSE},
};
#define NR_ADVICE (sizeof(advice_names) / sizeof(advice_names[0]))

/* Is @v advice that Linux knows and the model does not? */
static bool advice_unmodelled(int64_t v)
{
	size_t i;

	for (i = 0; i < NR_ADVICE; i++)
		if (advice_names[i].value < 0 && -advice_names[i].value == v)
			return true;
	return false;
}

const char *rpc_advice_name(int advice)
{
	size_t i;

	for (i = 0; i < NR_ADVICE; i++)
		if (advice_names[i].value == advice)
			return advice_names[i].name;
	return NULL;
}

static const char *const mremap_flag_names[] = {
	"maymove",
	"fixed",
	"dontunmap",
};

static const char *const access_names[] = {
	[VAS_ACCESS_READ] = "read",
	[VAS_ACCESS_WRITE] = "write",
	[VAS_ACCESS_EXEC] = "exec",
};

const char *rpc_method_name(enum rpc_method m)
{
	if ((unsigned)m >= RPC_NR_METHODS)
		return "?";
	return rpc_methods[m].name;
}

int rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	err->offset = 0;
	err->err = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EPROTO;
}

int rpc_error_errno(struct rpc_error *err, int errnum)
{
	if (errnum < 0)
		errnum = -errnum;
	err->code = RPC_OS_ERROR;
	err->offset = 0;
	err->err = errnum;
	snprintf(err->msg, sizeof(err->msg), "%s", vma_strerror(errnum));
	return -EPROTO;
}

/* ---- Parsing ---------------------------------------------------------- */

/*
 * Copy @frame, turning each integer token of 19 digits or more (outside
 * strings) into the string BIG_MARK "<token>". Return NULL on ENOMEM.
 */
/* Not inlined: GCC 12 then takes the copy for uninitialised memory. */
__attribute__((noinline)) static char *
rewrite_big_ints(const char *frame, size_t len, size_t *out_len)
{
	/* A token of n bytes becomes n + 2 quotes + "\u0001N" (7 bytes). */
	size_t cap = len + len / 19 * 9 + 16, o = 0, i = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	while (i < len) {
		char c = frame[i];

		if (c == '"') {
			/* Copy the string with its escapes verbatim. */
			out[o++] = frame[i++];
			while (i < len && frame[i] != '"') {
				if (frame[i] == '\\' && i + 1 < len)
					out[o++] = frame[i++];
				out[o++] = frame[i++];
			}
			if (i < len)
				out[o++] = frame[i++];
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			/* A whole number token: sign, digits, fraction,
			 * exponent. */
			size_t j = i + (c == '-');
			size_t k = i, d;

			while (k < len && frame[k] &&
			       strchr("0123456789.eE+-", frame[k]))
				k++;
			for (d = j;
			     d < k && frame[d] >= '0' && frame[d] <= '9';)
				d++;
			/* An RFC 8259 integer only: no leading zero. */
			if (d == k && k - j >= 19 && frame[j] != '0') {
				memcpy(out + o, "\"\\u0001N", 8);
				o += 8;
				memcpy(out + o, frame + i, k - i);
				o += k - i;
				out[o++] = '"';
			} else {
				memcpy(out + o, frame + i, k - i);
				o += k - i;
			}
			i = k;
		} else {
			out[o++] = frame[i++];
		}
	}
	*out_len = o;
	return out;
}

static bool fp_request(const char *frame, size_t len, struct rpc_request *req);

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/*
 * Does a string of @frame hold an escaped control character (\u0000 to
 * \u001F)? Raw ones are a parse error already.
 */
static bool has_control_escape(const char *frame, size_t len)
{
	bool in_string = false;
	size_t i;

	if (!memchr(frame, '\\', len))
		return false;
	for (i = 0; i < len; i++) {
		if (frame[i] == '"') {
			in_string = !in_string;
		} else if (in_string && frame[i] == '\\' && i + 1 < len) {
			if (frame[i + 1] == 'u' && i + 5 < len &&
			    frame[i + 2] == '0' && frame[i + 3] == '0' &&
			    (frame[i + 4] == '0' || frame[i + 4] == '1') &&
			    is_hex(frame[i + 5]))
				return true;
			i++; /* the escaped character */
		}
	}
	return false;
}

int rpc_msg_parse(struct rpc_msg *msg, const char *frame, size_t len,
		  bool big_int, size_t max_batch, struct rpc_error *err)
{
	json_error_t jerr;
	char *copy = NULL;
	json_t *root;
	const char *nul;
	size_t nul_at;
	bool ctl;

	msg->root = NULL;
	msg->is_batch = false;
	msg->nr = 1;
	msg->fast = rpc_fast_path && fp_request(frame, len, &msg->req);
	if (msg->fast)
		return 0;
	msg->nr = 0;
	/* Before the rewrite: its marks are such escapes. */
	ctl = has_control_escape(frame, len);
	nul = memchr(frame, '\0', len);
	nul_at = nul ? (size_t)(nul - frame) : 0;
	if (big_int) {
		copy = rewrite_big_ints(frame, len, &len);
		if (!copy)
			return -ENOMEM;
		frame = copy;
	}
	root = json_loadb(frame, len, JSON_DECODE_ANY, &jerr);
	if (root && nul) {
		/* jansson ends its input at a NUL after a top-level scalar. */
		json_decref(root);
		free(copy);
		rpc_error_set(err, RPC_PARSE_ERROR,
			      "parse error at byte %zu: NUL byte", nul_at);
		err->offset = nul_at;
		return -EPROTO;
	}
	if (root && ctl) {
		json_decref(root);
		free(copy);
		return rpc_error_set(err, RPC_INVALID_REQUEST,
				     "strings must not hold control "
				     "characters (U+0000 to U+001F)");
	}
	free(copy);
	if (!root) {
		rpc_error_set(err, RPC_PARSE_ERROR,
			      "parse error at byte %d: %s", jerr.position,
			      jerr.text);
		err->offset = (size_t)jerr.position;
		return -EPROTO;
	}
	if (json_is_array(root)) {
		size_t n = json_array_size(root);

		if (n == 0 || n > max_batch) {
			json_decref(root);
			if (n == 0)
				return rpc_error_set(err, RPC_INVALID_REQUEST,
						     "empty batch");
			return rpc_error_set(err, RPC_INVALID_REQUEST,
					     "batch of %zu requests exceeds "
					     "the limit of %zu",
					     n, max_batch);
		}
		msg->is_batch = true;
		msg->nr = n;
	} else {
		msg->nr = 1;
	}
	msg->root = root;
	return 0;
}

void rpc_msg_fini(struct rpc_msg *msg)
{
	json_decref(msg->root);
	msg->root = NULL;
	msg->fast = false;
}

/* ---- Parameter checks -------------------------------------------------- */

static bool is_big_marker(const char *s)
{
	return strncmp(s, BIG_MARK, BIG_MARK_LEN) == 0;
}

/* Parse an unsigned decimal or "0x" hex string; -ERANGE on overflow. */
static int parse_u64_text(const char *s, int base, uint64_t *out)
{
	uint64_t v = 0;
	unsigned nd = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return -ERANGE;
		v = v * (unsigned)base + d;
		nd++;
	}
	*out = v;
	return nd ? 0 : -EINVAL;
}

static int get_u64(const json_t *v, const char *name, unsigned flags,
		   uint64_t *out, struct rpc_error *err)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0)
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must not be negative", name);
		*out = (uint64_t)i;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		int ret;

		if (strlen(s) != json_string_length(v))
			goto bad_type;
		if (is_big_marker(s)) {
			s += BIG_MARK_LEN;
			if (*s == '-')
				return rpc_error_set(
					err, RPC_INVALID_PARAMS,
					"'%s' must not be negative", name);
			ret = parse_u64_text(s, 10, out);
		} else if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			ret = parse_u64_text(s + 2, 16, out);
		} else {
			goto bad_type;
		}
		if (ret == -ERANGE)
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' out of range (above 2^64-1)",
					     name);
		if (ret)
			goto bad_type;
	} else if (json_is_real(v)) {
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be an integer", name);
	} else {
		goto bad_type;
	}
	if ((flags & PF_ALIGNED) && (*out & (VAS_PAGE_SIZE - 1)))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be a multiple of %llu", name,
				     (unsigned long long)VAS_PAGE_SIZE);
	return 0;
bad_type:
	return rpc_error_set(err, RPC_INVALID_PARAMS,
			     "'%s' must be an integer or a \"0x\" hex string",
			     name);
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("_.:@+/-", c);
}

bool rpc_name_valid(const char *s, size_t len)
{
	size_t i;

	if (!len || len >= RPC_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!s[i] || !is_name_char(s[i]))
			return false;
	return true;
}

/*
 * Does the name @s of @n bytes read as an id (decimal digits, or a "0x" hex
 * number)? Such names are refused, so that a SPACE argument (vmactl, a
 * scenario) is an id or a name without ambiguity.
 */
static bool name_looks_like_id(const char *s, size_t n)
{
	bool hex = n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	size_t i;

	for (i = hex ? 2 : 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			continue;
		if (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			continue;
		return false;
	}
	return n > 0;
}

/* A name: 1 to 63 bytes of the name alphabet. */
static int check_name(const char *s, size_t n, const char *name, char *out,
		      struct rpc_error *err)
{
	size_t i;

	if (n == 0 || n >= RPC_NAME_MAX)
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be 1 to %d bytes long", name,
				     RPC_NAME_MAX - 1);
	for (i = 0; i < n; i++)
		if (!s[i] || !is_name_char(s[i]))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' may hold only letters, "
					     "digits and _.:@+/-",
					     name);
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

static int get_name(const json_t *v, const char *name, char *out,
		    struct rpc_error *err)
{
	if (!json_is_string(v))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be a string", name);
	return check_name(json_string_value(v), json_string_length(v), name,
			  out, err);
}

/* The name of a new space (create, fork): not one that reads as an id. */
static int get_new_name(const json_t *v, const char *name, char *out,
			struct rpc_error *err)
{
	int ret = get_name(v, name, out, err);

	if (!ret && name_looks_like_id(out, strlen(out)))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must not look like an id (digits, "
				     "or 0x and hex digits)",
				     name);
	return ret;
}

/* "~UID/NAME": the space NAME of owner UID. */
static int get_owned_name(const char *s, size_t n, const char *name,
			  struct rpc_space_ref *ref, struct rpc_error *err)
{
	size_t i = 1;
	uint64_t uid = 0;

	while (i < n && s[i] >= '0' && s[i] <= '9' && uid <= UINT32_MAX)
		uid = uid * 10 + (uint64_t)(s[i++] - '0');
	if (i == 1 || i >= n || s[i] != '/' || uid >= UINT32_MAX)
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be an id, a name, or "
				     "~UID/NAME",
				     name);
	ref->has_owner = true;
	ref->owner = (uint32_t)uid;
	return check_name(s + i + 1, n - i - 1, name, ref->name, err);
}

static int get_space(const json_t *v, const char *name,
		     struct rpc_space_ref *ref, struct rpc_error *err)
{
	memset(ref, 0, sizeof(*ref));
	ref->present = true;
	if (json_is_string(v) && !is_big_marker(json_string_value(v))) {
		ref->by_name = true;
		if (json_string_value(v)[0] == '~')
			return get_owned_name(json_string_value(v),
					      json_string_length(v), name, ref,
					      err);
		return get_name(v, name, ref->name, err);
	}
	if (json_is_integer(v) || json_is_string(v)) {
		int ret = get_u64(v, name, 0, &ref->id, err);

		if (ret)
			return ret;
		if (ref->id == 0)
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must be an id (>= 1) or a "
					     "name",
					     name);
		return 0;
	}
	return rpc_error_set(err, RPC_INVALID_PARAMS,
			     "'%s' must be an integer id or a name", name);
}

static int get_prot(const json_t *v, const char *name, unsigned *out,
		    struct rpc_error *err)
{
	const char *s;
	unsigned prot = 0, bit;

	if (!json_is_string(v))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be a string of r, w, x", name);
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		goto bad;
	if (!strcmp(s, "none")) {
		*out = 0;
		return 0;
	}
	for (; *s; s++) {
		switch (*s) {
		case 'r':
			bit = VAS_PROT_READ;
			break;
		case 'w':
			bit = VAS_PROT_WRITE;
			break;
		case 'x':
			bit = VAS_PROT_EXEC;
			break;
		default:
			goto bad;
		}
		if (prot & bit)
			goto bad;
		prot |= bit;
	}
	*out = prot;
	return 0;
bad:
	return rpc_error_set(err, RPC_INVALID_PARAMS,
			     "'%s' must hold each of r, w, x at most once, or "
			     "be \"none\"",
			     name);
}

static int get_flags(const json_t *v, const char *name,
		     const char *const *names, size_t nr, unsigned *out,
		     struct rpc_error *err)
{
	unsigned flags = 0;
	size_t i, j;

	if (!json_is_array(v))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be an array of strings", name);
	for (i = 0; i < json_array_size(v); i++) {
		const json_t *e = json_array_get(v, i);
		const char *s;

		if (!json_is_string(e))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must be an array of strings",
					     name);
		s = json_string_value(e);
		for (j = 0; j < nr; j++)
			if (!strcmp(s, names[j]))
				break;
		if (j == nr || strlen(s) != json_string_length(e))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s': unknown flag \"%.32s\"",
					     name, s);
		flags |= 1u << j;
	}
	*out = flags;
	return 0;
}

static int get_file(const json_t *v, const char *name, char *out,
		    struct rpc_error *err)
{
	const unsigned char *s;
	size_t n, i;

	if (json_is_null(v)) {
		out[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be a string or null", name);
	s = (const unsigned char *)json_string_value(v);
	n = json_string_length(v);
	if (n >= VAS_FILE_MAX)
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' longer than %d bytes", name,
				     VAS_FILE_MAX - 1);
	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must not hold control "
					     "characters",
					     name);
	memcpy(out, s, n + 1);
	return 0;
}

/* An advice name, or a number (any int; Linux answers EINVAL to one it
 * does not know). */
static int get_advice(const json_t *v, const char *name, int *out,
		      struct rpc_error *err)
{
	size_t i;

	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		for (i = 0; i < NR_ADVICE; i++) {
			if (strcmp(s, advice_names[i].name))
				continue;
			if (advice_names[i].value < 0)
				break;
			*out = advice_names[i].value;
			return 0;
		}
		if (i < NR_ADVICE)
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s': advice \"%s\" is not "
					     "modelled",
					     name, s);
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s': unknown advice \"%.32s\"", name, s);
	}
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x < INT32_MIN || x > INT32_MAX)
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' out of the range of an int",
					     name);
		if (advice_unmodelled(x))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s': advice %d is not modelled",
					     name, (int)x);
		*out = (int)x;
		return 0;
	}
	return rpc_error_set(err, RPC_INVALID_PARAMS,
			     "'%s' must be an advice name or number", name);
}

/*
 * The name of set_vma_anon_name: a string (cut past what Linux accepts, so
 * that the model still refuses it; the parser refuses NUL bytes) or null
 * (clear the name).
 */
static int get_anon_name(const json_t *v, const char *name,
			 struct rpc_request *req, struct rpc_error *err)
{
	struct rpc_vmflags_params *p = &req->p.vmf;
	size_t n;

	if (json_is_null(v)) {
		p->has_name = false;
		p->name[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be a string or null", name);
	n = strnlen(json_string_value(v), sizeof(p->name) - 1);
	memcpy(p->name, json_string_value(v), n);
	p->name[n] = '\0';
	p->has_name = true;
	return 0;
}

/*
 * A list of page ranges: [[start, end], ...], each number as get_u64()
 * takes it, page-aligned, start < end, each range at or above the end of
 * the one before (sorted and disjoint; touching is allowed). An error
 * names the range by its index.
 */
static int get_ranges(const json_t *v, const char *name, struct rpc_ranges *r,
		      struct rpc_error *err)
{
	uint64_t prev_end = 0, se[2];
	char what[64];
	size_t i, k;

	if (!json_is_array(v))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be an array of [start, end] "
				     "pairs",
				     name);
	for (i = 0; i < json_array_size(v); i++) {
		const json_t *pair = json_array_get(v, i);

		snprintf(what, sizeof(what), "%s[%zu]", name, i);
		if (!json_is_array(pair) || json_array_size(pair) != 2)
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must be a [start, end] pair",
					     what);
		for (k = 0; k < 2; k++) {
			int ret = get_u64(json_array_get(pair, k), what,
					  PF_ALIGNED, &se[k], err);

			if (ret)
				return ret;
		}
		if (se[0] >= se[1])
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' [%#llx, %#llx) is empty",
					     what, (unsigned long long)se[0],
					     (unsigned long long)se[1]);
		if (se[0] < prev_end)
			return rpc_error_set(
				err, RPC_INVALID_PARAMS,
				"'%s' [%#llx, %#llx) overlaps or precedes "
				"the range before",
				what, (unsigned long long)se[0],
				(unsigned long long)se[1]);
		prev_end = se[1];
	}
	r->present = true;
	r->json = v;
	r->nr = json_array_size(v);
	return 0;
}

/* Read one number that get_ranges() accepted. */
static uint64_t range_u64(const json_t *v)
{
	uint64_t x = 0;
	struct rpc_error err;

	if (get_u64(v, "", 0, &x, &err))
		return 0; /* not reached: checked when decoded */
	return x;
}

void rpc_ranges_copy(const struct rpc_ranges *r, struct vas_import_guard *out)
{
	size_t i;

	for (i = 0; r->present && i < r->nr; i++) {
		const json_t *pair = json_array_get(r->json, i);

		out[i].start = range_u64(json_array_get(pair, 0));
		out[i].end = range_u64(json_array_get(pair, 1));
	}
}

static int get_param(const struct rpc_param *p, const json_t *v,
		     struct rpc_request *req, struct rpc_error *err)
{
	char *field = (char *)req + p->off;
	size_t i;

	switch (p->type) {
	case P_U64: {
		struct rpc_u64 *u = (struct rpc_u64 *)field;

		u->present = true;
		return get_u64(v, p->name, p->flags, &u->v, err);
	}
	case P_SPACE:
		return get_space(v, p->name, (struct rpc_space_ref *)field,
				 err);
	case P_PROT:
		return get_prot(v, p->name, (unsigned *)field, err);
	case P_MAP_FLAGS:
		return get_flags(v, p->name, map_flag_names,
				 sizeof(map_flag_names) / sizeof(char *),
				 (unsigned *)field, err);
	case P_MREMAP_FLAGS:
		return get_flags(v, p->name, mremap_flag_names,
				 sizeof(mremap_flag_names) / sizeof(char *),
				 (unsigned *)field, err);
	case P_ACCESS:
		if (json_is_string(v))
			for (i = 0; i < 3; i++)
				if (!strcmp(json_string_value(v),
					    access_names[i])) {
					*(enum vas_access *)field = i;
					return 0;
				}
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'%s' must be \"read\", \"write\" or "
				     "\"exec\"",
				     p->name);
	case P_NAME:
		return get_new_name(v, p->name, field, err);
	case P_FILE:
		return get_file(v, p->name, field, err);
	case P_BOOL:
		if (!json_is_boolean(v))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must be true or false",
					     p->name);
		*(bool *)field = json_is_true(v);
		return 0;
	case P_TEXT: {
		struct rpc_text *t = (struct rpc_text *)field;

		if (!json_is_string(v))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must be a string", p->name);
		t->present = true;
		t->s = json_string_value(v);
		t->len = json_string_length(v);
		return 0;
	}
	case P_OPT_BOOL:
		if (!json_is_boolean(v))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "'%s' must be true or false",
					     p->name);
		((struct rpc_opt_bool *)field)->present = true;
		((struct rpc_opt_bool *)field)->v = json_is_true(v);
		return 0;
	case P_ADVICE:
		return get_advice(v, p->name, (int *)field, err);
	case P_MLOCK_FLAGS:
		return get_flags(v, p->name, mlock_flag_names, 1,
				 (unsigned *)field, err);
	case P_MCL_FLAGS:
		return get_flags(v, p->name, mcl_flag_names, 3,
				 (unsigned *)field, err);
	case P_ANON_NAME:
		return get_anon_name(v, p->name, req, err);
	case P_RANGES:
		return get_ranges(v, p->name, (struct rpc_ranges *)field, err);
	}
	return rpc_error_set(err, RPC_INTERNAL_ERROR, "bad parameter type");
}

/* ---- Fast path ----------------------------------------------------------- */

/*
 * Most requests are one flat object in the usual order: "jsonrpc", "id",
 * "method", then "params" with plain values. The fast path decodes such a
 * value straight into a struct rpc_request, without building a JSON tree
 * (jansson allocates every node and every key). It accepts only what it
 * can decode exactly as the tree path would, and only when the request is
 * valid: anything else (escapes, non-ASCII bytes, duplicate members,
 * "params" before "method", reals, 19-digit integers, any error at all)
 * makes it give up, and the tree path decodes the value from the start and
 * reports the error. So the fast path changes speed, never behaviour.
 */

int rpc_fast_path = 1;

struct fp {
	const char *p, *end;
};

static void fp_ws(struct fp *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' ||
				 *s->p == '\t' || *s->p == '\r'))
		s->p++;
}

static bool fp_char(struct fp *s, char c)
{
	fp_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		fp_ws(s);
		return true;
	}
	return false;
}

/* Bytes that end a plain string, or make it not plain: 1 per byte. */
static const unsigned char fp_special[256] = {
	[0x00 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
	[0x7f ... 0xff] = 1,
};

/* A string of printable ASCII without escapes: its bytes, unquoted. */
static bool fp_string(struct fp *s, const char **str, size_t *len)
{
	const char *q;

	if (s->p >= s->end || *s->p != '"')
		return false;
	for (q = s->p + 1; q < s->end && !fp_special[(unsigned char)*q]; q++)
		;
	if (q >= s->end || *q != '"')
		return false;
	*str = s->p + 1;
	*len = (size_t)(q - s->p - 1);
	s->p = q + 1;
	return true;
}

/* Whether the @len bytes at @str are the string @lit. */
static bool fp_is(const char *str, size_t len, const char *lit)
{
	return !strncmp(lit, str, len) && lit[len] == '\0';
}

/* Digits of a JSON integer of at most 18 digits (json_int_t holds it). */
static bool fp_digits(struct fp *s, uint64_t *v)
{
	const char *q = s->p;
	uint64_t x = 0;

	while (q < s->end && *q >= '0' && *q <= '9' && q - s->p < 19)
		x = x * 10 + (uint64_t)(*q++ - '0');
	if (q == s->p || q - s->p > 18 || (q - s->p > 1 && *s->p == '0'))
		return false;
	if (q < s->end &&
	    (*q == '.' || *q == 'e' || *q == 'E' || (*q >= '0' && *q <= '9')))
		return false;
	s->p = q;
	*v = x;
	return true;
}

static bool fp_literal(struct fp *s, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n))
		return false;
	s->p += n;
	return true;
}

static bool fp_u64(struct fp *s, unsigned flags, uint64_t *out)
{
	const char *str;
	size_t len, i;

	if (s->p < s->end && *s->p == '"') {
		uint64_t v = 0;

		if (!fp_string(s, &str, &len) || len < 3 || str[0] != '0' ||
		    (str[1] != 'x' && str[1] != 'X'))
			return false;
		for (i = 2; i < len; i++) {
			char c = str[i];
			unsigned d;

			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				return false;
			if (v >> 60)
				return false; /* overflow: the tree path says */
			v = v << 4 | d;
		}
		*out = v;
	} else if (!fp_digits(s, out)) {
		return false;
	}
	return !((flags & PF_ALIGNED) && (*out & (VAS_PAGE_SIZE - 1)));
}

static bool fp_name(const char *str, size_t len, char *out)
{
	size_t i;

	if (len == 0 || len >= RPC_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!is_name_char(str[i]))
			return false;
	memcpy(out, str, len);
	out[len] = '\0';
	return true;
}

static bool fp_flags(struct fp *s, const char *const *names, size_t nr,
		     unsigned *out)
{
	unsigned flags = 0;

	if (!fp_char(s, '['))
		return false;
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		*out = 0;
		return true;
	}
	for (;;) {
		const char *str;
		size_t len, j;

		if (!fp_string(s, &str, &len))
			return false;
		for (j = 0; j < nr; j++)
			if (fp_is(str, len, names[j]))
				break;
		if (j == nr)
			return false;
		flags |= 1u << j;
		fp_ws(s);
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			*out = flags;
			return true;
		}
		if (!fp_char(s, ','))
			return false;
	}
}

static bool fp_param(struct fp *s, const struct rpc_param *p,
		     struct rpc_request *req)
{
	char *field = (char *)req + p->off;
	const char *str;
	size_t len, i;

	switch (p->type) {
	case P_U64: {
		struct rpc_u64 *u = (struct rpc_u64 *)field;

		u->present = true;
		return fp_u64(s, p->flags, &u->v);
	}
	case P_SPACE: {
		struct rpc_space_ref *ref = (struct rpc_space_ref *)field;

		ref->present = true;
		if (s->p < s->end && *s->p == '"') {
			ref->by_name = true;
			return fp_string(s, &str, &len) &&
			       fp_name(str, len, ref->name);
		}
		return fp_digits(s, &ref->id) && ref->id;
	}
	case P_PROT: {
		unsigned prot = 0, bit;

		if (!fp_string(s, &str, &len))
			return false;
		if (fp_is(str, len, "none")) {
			*(unsigned *)field = 0;
			return true;
		}
		for (i = 0; i < len; i++) {
			if (str[i] == 'r')
				bit = VAS_PROT_READ;
			else if (str[i] == 'w')
				bit = VAS_PROT_WRITE;
			else if (str[i] == 'x')
				bit = VAS_PROT_EXEC;
			else
				return false;
			if (prot & bit)
				return false;
			prot |= bit;
		}
		*(unsigned *)field = prot;
		return true;
	}
	case P_MAP_FLAGS:
		return fp_flags(s, map_flag_names,
				sizeof(map_flag_names) / sizeof(char *),
				(unsigned *)field);
	case P_MREMAP_FLAGS:
		return fp_flags(s, mremap_flag_names,
				sizeof(mremap_flag_names) / sizeof(char *),
				(unsigned *)field);
	case P_ACCESS:
		if (!fp_string(s, &str, &len))
			return false;
		for (i = 0; i < 3; i++)
			if (fp_is(str, len, access_names[i])) {
				*(enum vas_access *)field = (enum vas_access)i;
				return true;
			}
		return false;
	case P_NAME:
		return fp_string(s, &str, &len) &&
		       !name_looks_like_id(str, len) &&
		       fp_name(str, len, field);
	case P_FILE:
		if (fp_literal(s, "null")) {
			field[0] = '\0';
			return true;
		}
		if (!fp_string(s, &str, &len) || len >= VAS_FILE_MAX)
			return false;
		memcpy(field, str, len);
		field[len] = '\0';
		return true;
	case P_BOOL:
		if (fp_literal(s, "true")) {
			*(bool *)field = true;
			return true;
		}
		if (fp_literal(s, "false")) {
			*(bool *)field = false;
			return true;
		}
		return false;
	case P_TEXT:
		return false; /* borrowed from the tree: the tree path */
	case P_OPT_BOOL: {
		struct rpc_opt_bool *b = (struct rpc_opt_bool *)field;

		b->present = true;
		if (fp_literal(s, "true")) {
			b->v = true;
			return true;
		}
		if (fp_literal(s, "false")) {
			b->v = false;
			return true;
		}
		return false;
	}
	case P_ADVICE:
	case P_MLOCK_FLAGS:
	case P_MCL_FLAGS:
	case P_ANON_NAME:
	case P_RANGES:
		return false; /* the tree path decodes these */
	}
	return false;
}

/* The id's JSON text, as get_id() would write it. */
static bool fp_id(struct fp *s, struct rpc_request *req)
{
	const char *start = s->p, *str;
	size_t len;
	uint64_t v;

	req->has_id = true;
	if (fp_literal(s, "null"))
		return true; /* req->id is already "null" */
	if (s->p < s->end && *s->p == '"') {
		if (!fp_string(s, &str, &len) || len + 2 >= RPC_ID_MAX)
			return false;
	} else {
		if (s->p < s->end && *s->p == '-') {
			s->p++;
			if (s->p < s->end && *s->p == '0')
				return false; /* "-0" prints as "0" */
		}
		if (!fp_digits(s, &v))
			return false;
	}
	memcpy(req->id, start, (size_t)(s->p - start));
	req->id[s->p - start] = '\0';
	return true;
}

static bool fp_params(struct fp *s, const struct rpc_method_row *row,
		      struct rpc_request *req)
{
	unsigned seen = 0;
	size_t k;

	if (!fp_char(s, '{'))
		return false;
	if (s->p < s->end && *s->p == '}') {
		s->p++;
	} else {
		for (;;) {
			const char *key;
			size_t klen;

			if (!fp_string(s, &key, &klen) || !fp_char(s, ':'))
				return false;
			for (k = 0; k < row->nr_params; k++)
				if (fp_is(key, klen, row->params[k].name))
					break;
			if (k == row->nr_params || (seen & 1u << k))
				return false;
			seen |= 1u << k;
			if (!fp_param(s, &row->params[k], req))
				return false;
			fp_ws(s);
			if (s->p < s->end && *s->p == '}') {
				s->p++;
				break;
			}
			if (!fp_char(s, ','))
				return false;
		}
	}
	for (k = 0; k < row->nr_params; k++)
		if ((row->params[k].flags & PF_REQUIRED) && !(seen & 1u << k))
			return false;
	return true;
}

/* Decode @frame as one valid request; false: leave it to the tree path. */
static bool fp_request(const char *frame, size_t len, struct rpc_request *req)
{
	enum { M_JSONRPC = 1, M_ID = 2, M_METHOD = 4, M_PARAMS = 8 };
	struct fp s = {frame, frame + len};
	const struct rpc_method_row *row = NULL;
	unsigned seen = 0;
	int m;

	memset(req, 0, sizeof(*req));
	strcpy(req->id, "null");
	if (!fp_char(&s, '{'))
		return false;
	for (;;) {
		const char *key, *str;
		size_t klen, slen;
		unsigned bit;

		if (!fp_string(&s, &key, &klen) || !fp_char(&s, ':'))
			return false;
		if (fp_is(key, klen, "jsonrpc"))
			bit = M_JSONRPC;
		else if (fp_is(key, klen, "id"))
			bit = M_ID;
		else if (fp_is(key, klen, "method"))
			bit = M_METHOD;
		else if (fp_is(key, klen, "params"))
			bit = M_PARAMS;
		else
			return false;
		if (seen & bit)
			return false;
		seen |= bit;
		switch (bit) {
		case M_JSONRPC:
			if (!fp_string(&s, &str, &slen) ||
			    !fp_is(str, slen, "2.0"))
				return false;
			break;
		case M_ID:
			if (!fp_id(&s, req))
				return false;
			break;
		case M_METHOD:
			if (!fp_string(&s, &str, &slen))
				return false;
			for (m = 0; m < RPC_NR_METHODS; m++)
				if (fp_is(str, slen, rpc_methods[m].name))
					break;
			if (m == RPC_NR_METHODS)
				return false;
			req->method = (enum rpc_method)m;
			row = &rpc_methods[m];
			break;
		case M_PARAMS:
			if (!row || !fp_params(&s, row, req))
				return false;
			break;
		}
		fp_ws(&s);
		if (s.p < s.end && *s.p == '}') {
			s.p++;
			break;
		}
		if (!fp_char(&s, ','))
			return false;
	}
	fp_ws(&s);
	if (s.p != s.end || !(seen & M_JSONRPC) || !row)
		return false;
	if (seen & M_PARAMS)
		return true;
	/* No params: valid only if none is required. */
	for (m = 0; m < (int)row->nr_params; m++)
		if (row->params[m].flags & PF_REQUIRED)
			return false;
	return true;
}

/* ---- Requests ---------------------------------------------------------- */

/* Record the id's JSON text; -EPROTO if it is not a valid id. */
static int get_id(const json_t *id, struct rpc_request *req,
		  struct rpc_error *err)
{
	req->has_id = true;
	if (json_is_null(id))
		return 0;
	if (json_is_integer(id)) {
		snprintf(req->id, sizeof(req->id), "%lld",
			 (long long)json_integer_value(id));
		return 0;
	}
	if (json_is_string(id) && is_big_marker(json_string_value(id))) {
		/* An integer of 19 digits or more, as written. */
		const char *t = json_string_value(id) + BIG_MARK_LEN;
		uint64_t mag;
		bool neg = *t == '-';

		if (!parse_u64_text(t + neg, 10, &mag) &&
		    mag <= (neg ? (uint64_t)INT64_MAX + 1
				: (uint64_t)INT64_MAX) &&
		    strlen(t) < sizeof(req->id)) {
			strcpy(req->id, t);
			return 0;
		}
	} else if (json_is_string(id)) {
		char *text = json_dumps(id, JSON_ENCODE_ANY);
		size_t n;

		if (!text)
			return rpc_error_set(err, RPC_INTERNAL_ERROR,
					     "out of memory");
		n = strlen(text);
		if (n < sizeof(req->id))
			memcpy(req->id, text, n + 1);
		free(text);
		if (n >= sizeof(req->id))
			return rpc_error_set(err, RPC_INVALID_REQUEST,
					     "'id' longer than %d bytes",
					     RPC_ID_MAX - 1);
		return 0;
	}
	return rpc_error_set(err, RPC_INVALID_REQUEST,
			     "'id' must be a string, an integer in the "
			     "64-bit signed range, or null");
}

static int find_method(const char *name)
{
	int m;

	for (m = 0; m < RPC_NR_METHODS; m++)
		if (!strcmp(rpc_methods[m].name, name))
			return m;
	return -1;
}

/*
 * -32601, naming the method and, when one is close, the method meant:
 * "method not found: 'spaces.list'; did you mean 'space.list'?".
 */
static int method_not_found(const char *name, struct rpc_error *err)
{
	struct rpc_suggest s;
	int m;

	rpc_suggest_init(&s, name);
	for (m = 0; m < RPC_NR_METHODS; m++)
		rpc_suggest_consider(&s, rpc_methods[m].name);
	if (rpc_suggest_best(&s))
		return rpc_error_set(err, RPC_METHOD_NOT_FOUND,
				     "method not found: '%.60s'; did you "
				     "mean '%s'?",
				     name, rpc_suggest_best(&s));
	return rpc_error_set(err, RPC_METHOD_NOT_FOUND,
			     "method not found: '%.60s'", name);
}

int rpc_msg_request(const struct rpc_msg *msg, size_t i,
		    struct rpc_request *req, struct rpc_error *err)
{
	const json_t *r =
		msg->is_batch ? json_array_get(msg->root, i) : msg->root;
	const json_t *id, *ver, *method, *params, *v;
	const struct rpc_method_row *row;
	unsigned seen = 0; /* bit per parameter row */
	const char *key;
	size_t k;
	int m, ret;

	if (msg->fast) {
		*req = msg->req;
		return 0;
	}
	memset(req, 0, sizeof(*req));
	strcpy(req->id, "null");
	err->offset = 0;
	if (!json_is_object(r))
		return rpc_error_set(err, RPC_INVALID_REQUEST,
				     "a request must be an object");
	id = json_object_get(r, "id");
	if (id) {
		ret = get_id(id, req, err);
		if (ret)
			return ret;
	}
	ver = json_object_get(r, "jsonrpc");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0"))
		return rpc_error_set(err, RPC_INVALID_REQUEST,
				     "'jsonrpc' must be \"2.0\"");
	method = json_object_get(r, "method");
	if (!json_is_string(method))
		return rpc_error_set(err, RPC_INVALID_REQUEST,
				     "'method' must be a string");
	json_object_foreach((json_t *)r, key, v)
	{
		if (strcmp(key, "jsonrpc") && strcmp(key, "id") &&
		    strcmp(key, "method") && strcmp(key, "params"))
			return rpc_error_set(err, RPC_INVALID_REQUEST,
					     "unknown member '%.40s' in the "
					     "request",
					     key);
	}
	m = find_method(json_string_value(method));
	if (m < 0)
		return method_not_found(json_string_value(method), err);
	req->method = (enum rpc_method)m;
	row = &rpc_methods[m];
	params = json_object_get(r, "params");
	if (params && !json_is_object(params) &&
	    !(json_is_array(params) && json_array_size(params) == 0))
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'params' must be an object");
	if (params && json_is_object(params)) {
		json_object_foreach((json_t *)params, key, v)
		{
			for (k = 0; k < row->nr_params; k++)
				if (!strcmp(row->params[k].name, key))
					break;
			if (k == row->nr_params)
				return rpc_error_set(err, RPC_INVALID_PARAMS,
						     "unknown parameter "
						     "'%.40s' for %s",
						     key, row->name);
			ret = get_param(&row->params[k], v, req, err);
			if (ret)
				return ret;
			seen |= 1u << k;
		}
	}
	for (k = 0; k < row->nr_params; k++)
		if ((row->params[k].flags & PF_REQUIRED) && !(seen & 1u << k))
			return rpc_error_set(err, RPC_INVALID_PARAMS,
					     "missing parameter '%s' for %s",
					     row->params[k].name, row->name);
	return 0;
}

int rpc_msg_peek(const struct rpc_msg *msg, size_t i, bool *has_space)
{
	const json_t *r =
		msg->is_batch ? json_array_get(msg->root, i) : msg->root;
	const json_t *method, *params;

	*has_space = false;
	if (msg->fast) {
		const struct rpc_method_row *row =
			&rpc_methods[msg->req.method];
		size_t k;

		for (k = 0; k < row->nr_params; k++)
			if (row->params[k].type == P_SPACE)
				*has_space =
					((const struct rpc_space_ref
						  *)((const char *)&msg->req +
						     row->params[k].off))
						->present;
		return (int)msg->req.method;
	}
	if (!json_is_object(r))
		return -1;
	method = json_object_get(r, "method");
	if (!json_is_string(method))
		return -1;
	params = json_object_get(r, "params");
	if (json_is_object(params) && json_object_get(params, "space"))
		*has_space = true;
	return find_method(json_string_value(method));
}

/* ---- Canonical text of a request (tests and logs) ----------------------- */

static int fmt_flags(char *buf, size_t len, unsigned flags,
		     const char *const *names, size_t nr)
{
	int n = 0;
	size_t j;

	for (j = 0; j < nr; j++)
		if (flags & 1u << j)
			n += snprintf(buf + n, len > (size_t)n ? len - n : 0,
				      "%s%s", n ? "|" : "", names[j]);
	if (!n)
		n = snprintf(buf, len, "-");
	return n;
}

int rpc_request_format(const struct rpc_request *req, char *buf, size_t len)
{
	const struct rpc_method_row *row = &rpc_methods[req->method];
	int n;
	size_t k;

#define OUT(...)                                                               \
	(n += snprintf(buf + n, len > (size_t)n ? len - n : 0, __VA_ARGS__))
	n = 0;
	OUT("%s", row->name);
	if (req->has_id)
		OUT(" id=%s", req->id);
	else
		OUT(" notification");
	for (k = 0; k < row->nr_params; k++) {
		const struct rpc_param *p = &row->params[k];
		const char *field = (const char *)req + p->off;

		OUT(" %s=", p->name);
		switch (p->type) {
		case P_U64: {
			const struct rpc_u64 *u = (const void *)field;

			if (u->present)
				OUT("0x%llx", (unsigned long long)u->v);
			else
				OUT("-");
			break;
		}
		case P_SPACE: {
			const struct rpc_space_ref *s = (const void *)field;

			if (!s->present)
				OUT("-");
			else if (s->by_name && s->has_owner)
				OUT("'~%u/%s'", (unsigned)s->owner, s->name);
			else if (s->by_name)
				OUT("'%s'", s->name);
			else
				OUT("#%llu", (unsigned long long)s->id);
			break;
		}
		case P_PROT: {
			unsigned prot = *(const unsigned *)field;

			OUT("%c%c%c", prot & VAS_PROT_READ ? 'r' : '-',
			    prot & VAS_PROT_WRITE ? 'w' : '-',
			    prot & VAS_PROT_EXEC ? 'x' : '-');
			break;
		}
		case P_MAP_FLAGS:
			n += fmt_flags(buf + n, len > (size_t)n ? len - n : 0,
				       *(const unsigned *)field, map_flag_names,
				       NR_MAP_FLAGS);
			break;
		case P_MLOCK_FLAGS:
			n += fmt_flags(buf + n, len > (size_t)n ? len - n : 0,
				       *(const unsigned *)field,
				       mlock_flag_names, 1);
			break;
		case P_MCL_FLAGS:
			n += fmt_flags(buf + n, len > (size_t)n ? len - n : 0,
				       *(const unsigned *)field, mcl_flag_names,
				       3);
			break;
		case P_OPT_BOOL: {
			const struct rpc_opt_bool *b = (const void *)field;

			OUT("%s", !b->present ? "-" : b->v ? "true" : "false");
			break;
		}
		case P_ADVICE: {
			int a = *(const int *)field;
			const char *an = rpc_advice_name(a);

			if (an)
				OUT("%s", an);
			else
				OUT("%d", a);
			break;
		}
		case P_ANON_NAME: {
			const struct rpc_vmflags_params *vp = &req->p.vmf;

			if (vp->has_name)
				OUT("'%s'", vp->name);
			else
				OUT("null");
			break;
		}
		case P_MREMAP_FLAGS:
			n += fmt_flags(buf + n, len > (size_t)n ? len - n : 0,
				       *(const unsigned *)field,
				       mremap_flag_names, 3);
			break;
		case P_ACCESS:
			OUT("%s",
			    access_names[*(const enum vas_access *)field]);
			break;
		case P_NAME:
		case P_FILE:
			OUT("'%s'", field);
			break;
		case P_BOOL:
			OUT("%s", *(const bool *)field ? "true" : "false");
			break;
		case P_TEXT: {
			const struct rpc_text *t = (const void *)field;

			if (t->present)
				OUT("<%zu bytes>", t->len);
			else
				OUT("-");
			break;
		}
		case P_RANGES: {
			const struct rpc_ranges *r = (const void *)field;

			size_t i;

			if (!r->present)
				OUT("-");
			for (i = 0; r->present && i < r->nr; i++) {
				const json_t *pair = json_array_get(r->json, i);

				OUT("%s0x%llx-0x%llx", i ? "," : "[",
				    (unsigned long long)range_u64(
					    json_array_get(pair, 0)),
				    (unsigned long long)range_u64(
					    json_array_get(pair, 1)));
			}
			if (r->present)
				OUT("%s]", r->nr ? "" : "[");
			break;
		}
		}
	}
#undef OUT
	return n;
}

const struct rpc_space_ref *rpc_request_space(const struct rpc_request *req)
{
	const struct rpc_method_row *row = &rpc_methods[req->method];
	size_t k;

	for (k = 0; k < row->nr_params; k++)
		if (row->params[k].type == P_SPACE)
			return (const struct rpc_space_ref
					*)((const char *)req +
					   row->params[k].off);
	return NULL;
}

static void write_flags(struct rpc_buf *b, unsigned flags,
			const char *const *names, size_t nr)
{
	bool first = true;
	size_t j;

	rpc_buf_puts(b, "[");
	for (j = 0; j < nr; j++)
		if (flags & 1u << j) {
			rpc_buf_puts(b, first ? "\"" : ",\"");
			rpc_buf_puts(b, names[j]);
			rpc_buf_puts(b, "\"");
			first = false;
		}
	rpc_buf_puts(b, "]");
}

/* A number as the decoder reads it back. */
static void write_u64(struct rpc_buf *b, uint64_t v)
{
	/* Above 2^63-1 as hex: no reader needs big integers. */
	if (v > (uint64_t)INT64_MAX)
		rpc_buf_printf(b, "\"0x%llx\"", (unsigned long long)v);
	else
		rpc_buf_put_u64(b, v);
}

void rpc_request_write(struct rpc_buf *b, const struct rpc_request *req)
{
	const struct rpc_method_row *row = &rpc_methods[req->method];
	bool first = true;
	size_t k;

	rpc_buf_puts(b, "{\"jsonrpc\":\"2.0\",\"method\":\"");
	rpc_buf_puts(b, row->name);
	rpc_buf_puts(b, "\",\"params\":{");
	for (k = 0; k < row->nr_params; k++) {
		const struct rpc_param *p = &row->params[k];
		const char *field = (const char *)req + p->off;
		size_t mark = b->len;

		rpc_buf_puts(b, first ? "\"" : ",\"");
		rpc_buf_puts(b, p->name);
		rpc_buf_puts(b, "\":");
		switch (p->type) {
		case P_U64: {
			const struct rpc_u64 *u = (const void *)field;

			if (!u->present)
				goto absent;
			write_u64(b, u->v);
			break;
		}
		case P_SPACE: {
			const struct rpc_space_ref *s = (const void *)field;

			if (!s->present)
				goto absent;
			if (s->by_name && s->has_owner)
				rpc_buf_printf(b, "\"~%u/%s\"",
					       (unsigned)s->owner, s->name);
			else if (s->by_name)
				rpc_buf_put_string(b, s->name, strlen(s->name));
			else
				rpc_buf_put_u64(b, s->id);
			break;
		}
		case P_PROT: {
			unsigned prot = *(const unsigned *)field;

			rpc_buf_printf(b, "\"%s%s%s\"",
				       prot & VAS_PROT_READ ? "r" : "",
				       prot & VAS_PROT_WRITE ? "w" : "",
				       prot & VAS_PROT_EXEC ? "x" : "");
			break;
		}
		case P_MAP_FLAGS:
			write_flags(b, *(const unsigned *)field, map_flag_names,
				    sizeof(map_flag_names) / sizeof(char *));
			break;
		case P_MREMAP_FLAGS:
			write_flags(b, *(const unsigned *)field,
				    mremap_flag_names,
				    sizeof(mremap_flag_names) / sizeof(char *));
			break;
		case P_ACCESS:
			rpc_buf_printf(
				b, "\"%s\"",
				access_names[*(const enum vas_access *)field]);
			break;
		case P_NAME:
		case P_FILE:
			if (!field[0])
				goto absent;
			rpc_buf_put_string(b, field, strlen(field));
			break;
		case P_BOOL:
			rpc_buf_puts(b,
				     *(const bool *)field ? "true" : "false");
			break;
		case P_OPT_BOOL: {
			const struct rpc_opt_bool *ob = (const void *)field;

			if (!ob->present)
				goto absent;
			rpc_buf_puts(b, ob->v ? "true" : "false");
			break;
		}
		case P_ADVICE:
			rpc_buf_printf(b, "%d", *(const int *)field);
			break;
		case P_MLOCK_FLAGS:
			write_flags(b, *(const unsigned *)field,
				    mlock_flag_names, 1);
			break;
		case P_MCL_FLAGS:
			write_flags(b, *(const unsigned *)field, mcl_flag_names,
				    3);
			break;
		case P_ANON_NAME: {
			const struct rpc_vmflags_params *vp = &req->p.vmf;

			if (vp->has_name)
				rpc_buf_put_string(b, vp->name,
						   strlen(vp->name));
			else
				rpc_buf_puts(b, "null");
			break;
		}
		case P_TEXT: {
			const struct rpc_text *bl = (const void *)field;

			if (!bl->present)
				goto absent;
			rpc_buf_put_string(b, bl->s, bl->len);
			break;
		}
		case P_RANGES: {
			const struct rpc_ranges *r = (const void *)field;
			size_t i;

			if (!r->present)
				goto absent;
			rpc_buf_puts(b, "[");
			for (i = 0; i < r->nr; i++) {
				struct vas_import_guard g;
				const json_t *pair = json_array_get(r->json, i);

				g.start = range_u64(json_array_get(pair, 0));
				g.end = range_u64(json_array_get(pair, 1));
				rpc_buf_puts(b, i ? ",[" : "[");
				write_u64(b, g.start);
				rpc_buf_puts(b, ",");
				write_u64(b, g.end);
				rpc_buf_puts(b, "]");
			}
			rpc_buf_puts(b, "]");
			break;
		}
		}
		first = false;
		continue;
	absent:
		b->len = mark;
	}
	rpc_buf_puts(b, "}}");
}
