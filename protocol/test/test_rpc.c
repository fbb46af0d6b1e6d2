// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Unit tests of the JSON-RPC codec.
 *
 * Data-driven part: every folder tests/data/rpc/{valid,invalid}/<case>
 * holds an "input" (bytes of a stream: one or more JSON values) and an
 * "expected" text: one line per request, either the canonical form of the
 * decoded request (rpc_request_format()) or "error CODE MESSAGE", then
 * "pending N" if N bytes of an incomplete value remain at the end. Each
 * input is fed whole and again one byte at a time; both must give the
 * expected text. Cases under valid/ must decode without error lines,
 * cases under invalid/ must produce at least one.
 *
 * The other tests check framing limits, big numbers and the writers.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc/defaults.h"
#include "rpc/jsonrpc.h"

#ifndef RPC_VECTORS
#error "RPC_VECTORS must name tests/data/rpc"
#endif

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	ck_assert(buf);
	ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/*
 * rpc_request_write() gives text that decodes to the same request (the
 * daemon's journal relies on it): same canonical line, id aside.
 */
static void check_write_round_trip(const struct rpc_request *req,
				   const char *line)
{
	struct rpc_request again;
	struct rpc_error err;
	struct rpc_msg msg;
	struct rpc_buf b;
	char line2[1024];

	rpc_buf_init(&b);
	rpc_request_write(&b, req);
	ck_assert(!b.oom);
	ck_assert_msg(rpc_msg_parse(&msg, b.data, b.len, false, 1, &err) == 0,
		      "%.*s: %s", (int)b.len, b.data, err.msg);
	ck_assert_msg(rpc_msg_request(&msg, 0, &again, &err) == 0, "%.*s: %s",
		      (int)b.len, b.data, err.msg);
	ck_assert(!again.has_id);
	again.has_id = req->has_id;
	memcpy(again.id, req->id, sizeof(again.id));
	rpc_request_format(&again, line2, sizeof(line2));
	ck_assert_msg(!strcmp(line, line2), "%s\nwritten %.*s\nread %s", line,
		      (int)b.len, b.data, line2);
	rpc_msg_fini(&msg);
	rpc_buf_fini(&b);
}

/* Run the codec over a stream fed in @chunk-byte pieces; text in @out. */
static void run_stream(const char *in, size_t len, size_t chunk,
		       struct rpc_buf *out)
{
	struct rpc_decoder dec;
	struct rpc_error err;
	size_t off = 0;
	int ret = 0;
	bool failed = false;

	rpc_decoder_init(&dec, 4096);
	while (ret >= 0) {
		const char *frame;
		size_t flen, i;
		struct rpc_msg msg;

		ret = rpc_decoder_next(&dec, &frame, &flen, &err);
		if (ret < 0) {
			rpc_buf_printf(out, "error %d %s\n", err.code, err.msg);
			failed = true;
			break;
		}
		if (ret == 0) {
			size_t n = len - off < chunk ? len - off : chunk;

			if (!n)
				break;
			ret = rpc_decoder_feed(&dec, in + off, n);
			ck_assert_int_eq(ret, 0);
			off += n;
			continue;
		}
		ret = rpc_msg_parse(&msg, frame, flen,
				    rpc_decoder_frame_has_big_int(&dec), 8,
				    &err);
		if (ret) {
			ck_assert_int_eq(ret, -EPROTO);
			rpc_buf_printf(out, "error %d %s\n", err.code, err.msg);
			continue;
		}
		for (i = 0; i < msg.nr; i++) {
			struct rpc_request req;
			char line[1024];

			if (rpc_msg_request(&msg, i, &req, &err)) {
				rpc_buf_printf(out, "error %d %s id=%s\n",
					       err.code, err.msg,
					       req.has_id ? req.id : "-");
				continue;
			}
			rpc_request_format(&req, line, sizeof(line));
			rpc_buf_printf(out, "%s\n", line);
			check_write_round_trip(&req, line);
		}
		rpc_msg_fini(&msg);
	}
	if (!failed && rpc_decoder_pending(&dec))
		rpc_buf_printf(out, "pending %zu\n", rpc_decoder_pending(&dec));
	rpc_decoder_fini(&dec);
	rpc_buf_put(out, "", 1);
}

static void run_dir(const char *kind)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int nr = 0;

	snprintf(path, sizeof(path), "%s/%s", RPC_VECTORS, kind);
	d = opendir(path);
	ck_assert_msg(d, "no vector folder %s", path);
	while ((de = readdir(d))) {
		char *in, *exp;
		size_t in_len, exp_len;
		struct rpc_buf whole, bytes;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s/input", RPC_VECTORS,
			 kind, de->d_name);
		in = read_file(path, &in_len);
		snprintf(path, sizeof(path), "%s/%s/%s/expected", RPC_VECTORS,
			 kind, de->d_name);
		exp = read_file(path, &exp_len);
		rpc_buf_init(&whole);
		rpc_buf_init(&bytes);
		run_stream(in, in_len, in_len ? in_len : 1, &whole);
		run_stream(in, in_len, 1, &bytes);
		ck_assert_msg(!strcmp(whole.data, exp),
			      "case %s/%s:\n--- expected\n%s--- got\n%s", kind,
			      de->d_name, exp, whole.data);
		ck_assert_msg(!strcmp(bytes.data, exp),
			      "case %s/%s fed bytewise:\n--- expected\n%s"
			      "--- got\n%s",
			      kind, de->d_name, exp, bytes.data);
		if (!strcmp(kind, "valid"))
			ck_assert_msg(!strstr(exp, "error "),
				      "valid case %s expects an error",
				      de->d_name);
		else
			ck_assert_msg(strstr(exp, "error ") ||
					      strstr(exp, "pending "),
				      "invalid case %s expects no error",
				      de->d_name);
		rpc_buf_fini(&whole);
		rpc_buf_fini(&bytes);
		free(in);
		free(exp);
		nr++;
	}
	closedir(d);
	ck_assert_msg(nr >= 5, "only %d %s vectors", nr, kind);
}

START_TEST(test_vectors_valid)
{
	run_dir("valid");
}
END_TEST

START_TEST(test_vectors_invalid)
{
	run_dir("invalid");
}
END_TEST

/* A value over the maximum is refused before it is buffered whole. */
START_TEST(test_frame_too_large)
{
	struct rpc_decoder dec;
	struct rpc_error err;
	const char *frame;
	size_t len, fed = 0;
	char *p;
	long room;
	int ret;

	rpc_decoder_init(&dec, 1000);
	ck_assert_int_eq(rpc_decoder_feed(&dec, "[\"", 2), 0);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), 0);
	for (;;) {
		room = rpc_decoder_space(&dec, &p);
		ck_assert_int_ge(room, 0);
		if (!room) {
			ret = rpc_decoder_next(&dec, &frame, &len, &err);
			break;
		}
		memset(p, 'a', (size_t)room);
		rpc_decoder_commit(&dec, (size_t)room);
		fed += (size_t)room;
		ck_assert_int_le(fed, 1000);
		ret = rpc_decoder_next(&dec, &frame, &len, &err);
		if (ret < 0)
			break;
		ck_assert_int_eq(ret, 0);
	}
	ck_assert_int_eq(ret, -EMSGSIZE);
	ck_assert_int_eq(err.code, RPC_INVALID_REQUEST);
	ck_assert_uint_le(dec.cap, 1000 + 65536 + 1);
	/* The decoder stays failed. */
	ck_assert_int_lt(rpc_decoder_next(&dec, &frame, &len, &err), 0);
	rpc_decoder_fini(&dec);
}
END_TEST

/* A value of exactly the maximum passes; one byte more does not. */
START_TEST(test_frame_limit_exact)
{
	struct rpc_decoder dec;
	struct rpc_error err;
	const char *frame;
	size_t len;
	char buf[102];

	memset(buf, ' ', sizeof(buf));
	buf[0] = '[';
	buf[99] = ']';
	rpc_decoder_init(&dec, 100);
	ck_assert_int_eq(rpc_decoder_feed(&dec, buf, 100), 0);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), 1);
	ck_assert_uint_eq(len, 100);
	buf[99] = ' ';
	buf[100] = ']';
	ck_assert_int_eq(rpc_decoder_feed(&dec, buf, 101), 0);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), -EMSGSIZE);
	rpc_decoder_fini(&dec);
}
END_TEST

START_TEST(test_depth_limit)
{
	struct rpc_decoder dec;
	struct rpc_error err;
	const char *frame;
	size_t len;
	char buf[RPC_MAX_DEPTH + 1];

	memset(buf, '[', sizeof(buf));
	rpc_decoder_init(&dec, 4096);
	ck_assert_int_eq(rpc_decoder_feed(&dec, buf, RPC_MAX_DEPTH), 0);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), 0);
	ck_assert_int_eq(rpc_decoder_feed(&dec, buf, 1), 0);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), -ELOOP);
	ck_assert_int_eq(err.code, RPC_PARSE_ERROR);
	rpc_decoder_fini(&dec);
}
END_TEST

/* Many small values in one buffer: each found once, in order. */
START_TEST(test_many_values)
{
	struct rpc_decoder dec;
	struct rpc_error err;
	struct rpc_buf in;
	const char *frame;
	size_t len;
	int i, n = 0, ret;

	rpc_buf_init(&in);
	for (i = 0; i < 5000; i++)
		rpc_buf_printf(&in, "{\"i\":%d}%s", i, i % 2 ? "\n" : "");
	rpc_decoder_init(&dec, 1u << 20);
	ck_assert_int_eq(rpc_decoder_feed(&dec, in.data, in.len), 0);
	while ((ret = rpc_decoder_next(&dec, &frame, &len, &err)) == 1) {
		char want[32];

		snprintf(want, sizeof(want), "{\"i\":%d}", n);
		ck_assert_uint_eq(len, strlen(want));
		ck_assert(!memcmp(frame, want, len));
		n++;
	}
	ck_assert_int_eq(ret, 0);
	ck_assert_int_eq(n, 5000);
	rpc_decoder_fini(&dec);
	rpc_buf_fini(&in);
}
END_TEST

static void write_vma_expect(const struct vas_vma_info *v, const char *want)
{
	struct rpc_buf b;

	rpc_buf_init(&b);
	rpc_write_vma(&b, v);
	rpc_buf_put(&b, "", 1);
	ck_assert_str_eq(b.data, want);
	rpc_buf_fini(&b);
}

START_TEST(test_write_vma)
{
	struct vas_vma_info v;

	memset(&v, 0, sizeof(v));
	v.start = 0x7ffffffde000ULL;
	v.end = 0x7ffffffff000ULL;
	v.prot = VAS_PROT_READ | VAS_PROT_WRITE;
	v.flags = VAS_VM_ANON | VAS_VM_GROWSDOWN | VAS_VM_STACK;
	v.rss_pages = 3;
	v.name = "[stack]";
	write_vma_expect(&v, "{\"start\":140737488216064,\"end\":"
			     "140737488351232,\"perms\":\"rw-p\",\"offset\":0,"
			     "\"file\":null,\"name\":\"[stack]\",\"flags\":["
			     "\"private\",\"anonymous\",\"growsdown\","
			     "\"stack\"],\"rss_pages\":3,\"dev\":\"00:00\","
			     "\"inode\":0,\"anon_name\":null,"
			     "\"vm_flags\":\"rd wr mr mw me gd\"}");
	v.prot = VAS_PROT_EXEC;
	v.flags = VAS_VM_SHARED;
	v.start = 0;
	v.end = UINT64_MAX;
	v.offset = 4096;
	v.rss_pages = 0;
	v.name = NULL;
	v.inode = 123456;
	strcpy(v.file, "/lib/a \"b\"\n");
	write_vma_expect(&v, "{\"start\":0,\"end\":18446744073709551615,"
			     "\"perms\":\"--xs\",\"offset\":4096,\"file\":"
			     "\"/lib/a \\\"b\\\"\\n\",\"name\":null,\"flags\":"
			     "[\"shared\"],\"rss_pages\":0,\"dev\":\"fe:01\","
			     "\"inode\":123456,\"anon_name\":null,"
			     "\"vm_flags\":\"ex sh mr mw me ms\"}");
	/* A named, locked, sealed VMA: [anon:NAME], the flags, VmFlags. */
	memset(&v, 0, sizeof(v));
	v.start = 0x10000;
	v.end = 0x12000;
	v.prot = VAS_PROT_READ | VAS_PROT_WRITE;
	v.flags = VAS_VM_ANON | VAS_VM_ACCOUNT | VAS_VM_LOCKED |
		  VAS_VM_DONTCOPY | VAS_VM_NOHUGEPAGE | VAS_VM_SEALED |
		  VAS_VM_FORKED;
	strcpy(v.anon_name, "a \"q\"");
	write_vma_expect(&v, "{\"start\":65536,\"end\":73728,\"perms\":"
			     "\"rw-p\",\"offset\":0,\"file\":null,\"name\":"
			     "\"[anon:a \\\"q\\\"]\",\"flags\":[\"private\","
			     "\"anonymous\",\"account\",\"locked\","
			     "\"dontfork\",\"nohugepage\",\"sealed\"],"
			     "\"rss_pages\":0,\"dev\":\"00:00\",\"inode\":0,"
			     "\"anon_name\":\"a \\\"q\\\"\","
			     "\"vm_flags\":\"rd wr mr mw me lo dc ac nh sl\"}");
}
END_TEST

/* The maps result written in small parts is the result written whole. */
START_TEST(test_write_maps_parts)
{
	static struct vas_vma_info v[300];
	struct rpc_buf whole, parts;
	size_t i, max;

	memset(v, 0, sizeof(v));
	for (i = 0; i < 300; i++) {
		v[i].start = 0x100000000000ULL + i * 8192;
		v[i].end = v[i].start + 4096;
		v[i].prot = VAS_PROT_READ;
		v[i].flags = i % 3 ? VAS_VM_ANON : 0;
		if (!(i % 3))
			snprintf(v[i].file, sizeof(v[i].file),
				 "/lib/\"x\"\t%zu \xc3\xa9", i);
	}
	rpc_buf_init(&whole);
	rpc_write_maps(&whole, v, 300);
	ck_assert(!whole.oom);
	for (max = 1; max < 70000; max = max * 3 + 7) {
		struct rpc_maps_cursor cur = {0};
		int calls = 0;

		rpc_buf_init(&parts);
		while (!rpc_write_maps_part(&parts, v, 300, &cur, max))
			calls++;
		ck_assert_uint_eq(parts.len, whole.len);
		ck_assert(!memcmp(parts.data, whole.data, whole.len));
		if (max < 1000)
			ck_assert_int_gt(calls, 10);
		rpc_buf_fini(&parts);
	}
	/* No VMAs at all. */
	rpc_buf_reset(&whole);
	rpc_write_maps(&whole, NULL, 0);
	rpc_buf_put(&whole, "", 1);
	ck_assert_str_eq(whole.data, "{\"vmas\":[],\"text\":\"\"}");
	rpc_buf_fini(&whole);
}
END_TEST

/* A large value's buffer goes once it is consumed; decoding goes on. */
START_TEST(test_decoder_shrink)
{
	struct rpc_decoder dec;
	struct rpc_error err;
	const char *frame;
	size_t len, n = 300000;
	char *big = malloc(n + 3);

	ck_assert_ptr_nonnull(big);
	big[0] = '"';
	memset(big + 1, 'a', n);
	big[n + 1] = '"';
	big[n + 2] = '\n';
	rpc_decoder_init(&dec, 1 << 20);
	ck_assert_int_eq(rpc_decoder_feed(&dec, big, n + 3), 0);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), 1);
	ck_assert_uint_eq(len, n + 2);
	ck_assert_uint_ge(rpc_decoder_memory(&dec), n);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), 0);
	rpc_decoder_shrink(&dec);
	ck_assert_uint_eq(rpc_decoder_memory(&dec), 0);
	ck_assert_int_eq(rpc_decoder_feed(&dec, "[1]\n{\"a\"", 9), 0);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), 1);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(rpc_decoder_next(&dec, &frame, &len, &err), 0);
	/* Not while a value is incomplete. */
	rpc_decoder_shrink(&dec);
	ck_assert_uint_gt(rpc_decoder_memory(&dec), 0);
	ck_assert_uint_ge(rpc_decoder_pending(&dec), 4);
	rpc_decoder_fini(&dec);
	free(big);
}
END_TEST

START_TEST(test_write_error)
{
	struct rpc_error err;
	struct rpc_buf b;

	rpc_buf_init(&b);
	rpc_error_errno(&err, -EINVAL);
	rpc_write_error(&b, "7", &err);
	rpc_buf_put(&b, "", 1);
	ck_assert_str_eq(b.data,
			 "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{"
			 "\"code\":-32000,\"message\":\"invalid "
			 "argument\",\"data\":{\"errno\":\"EINVAL\"}}}");
	rpc_buf_reset(&b);
	rpc_error_set(&err, RPC_INVALID_PARAMS, "'%s' bad", "addr");
	rpc_write_error(&b, NULL, &err);
	rpc_buf_put(&b, "", 1);
	ck_assert_str_eq(b.data, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
				 "{\"code\":-32602,\"message\":\"'addr' "
				 "bad\"}}");
	/* Every member is set, whatever the struct held before. */
	memset(&err, 0xa5, sizeof(err));
	rpc_error_set(&err, RPC_PARSE_ERROR, "bad");
	ck_assert_uint_eq(err.offset, 0);
	ck_assert_int_eq(err.err, 0);
	rpc_buf_fini(&b);
}
END_TEST

START_TEST(test_write_fault)
{
	struct vas_fault_result r;
	struct rpc_buf b;

	memset(&r, 0, sizeof(r));
	r.status = VAS_FAULT_SEGV;
	r.code = VAS_SEGV_ACCERR;
	rpc_buf_init(&b);
	rpc_write_fault(&b, &r);
	rpc_buf_put(&b, "", 1);
	ck_assert_str_eq(b.data, "{\"status\":\"segv\",\"code\":"
				 "\"SEGV_ACCERR\"}");
	rpc_buf_fini(&b);
}
END_TEST

START_TEST(test_socket_path)
{
	char buf[108], want[108];

	unsetenv("VMAD_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/5", 1);
	ck_assert_int_eq(rpc_default_socket_path(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "/run/user/5/vmad.sock");
	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_int_eq(rpc_default_socket_path(buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "/tmp/vmad-%u/vmad.sock",
		 (unsigned)getuid());
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(rpc_socket_path(NULL, "/etc/x.sock", buf, 108), 0);
	ck_assert_str_eq(buf, "/etc/x.sock");
	setenv("VMAD_SOCKET", "/env.sock", 1);
	ck_assert_int_eq(rpc_socket_path(NULL, "/etc/x.sock", buf, 108), 0);
	ck_assert_str_eq(buf, "/env.sock");
	ck_assert_int_eq(rpc_socket_path("/opt.sock", "/c", buf, 108), 0);
	ck_assert_str_eq(buf, "/opt.sock");
	ck_assert_int_eq(rpc_socket_path("/a", NULL, buf, 2), -ENAMETOOLONG);
}
END_TEST

/* The tree path alone must pass the same vectors. */
START_TEST(test_vectors_tree_path)
{
	rpc_fast_path = 0;
	run_dir("valid");
	run_dir("invalid");
	rpc_fast_path = 1;
}
END_TEST

/* What rpc_msg_parse() and rpc_msg_request() make of @frame, as text. */
static void describe(const char *frame, size_t len, bool fast, char *out,
		     size_t cap, bool *was_fast)
{
	struct rpc_error err;
	struct rpc_msg msg;
	size_t i, n = 0;
	int ret;

	rpc_fast_path = fast;
	ret = rpc_msg_parse(&msg, frame, len, false, 8, &err);
	rpc_fast_path = 1;
	if (ret) {
		snprintf(out, cap, "parse %d %d %s", ret, err.code, err.msg);
		*was_fast = false;
		return;
	}
	*was_fast = msg.fast;
	for (i = 0; i < msg.nr && n < cap; i++) {
		struct rpc_request req;
		bool has_space;
		int m = rpc_msg_peek(&msg, i, &has_space);

		n += (size_t)snprintf(out + n, cap - n, "[peek %d %d] ", m,
				      m >= 0 && has_space);
		if (n >= cap)
			break;
		if (rpc_msg_request(&msg, i, &req, &err)) {
			n += (size_t)snprintf(out + n, cap - n,
					      "error %d %s id=%s has_id=%d\n",
					      err.code, err.msg, req.id,
					      req.has_id);
			continue;
		}
		n += (size_t)rpc_request_format(&req, out + n, cap - n);
		if (n < cap)
			n += (size_t)snprintf(out + n, cap - n, "\n");
	}
	rpc_msg_fini(&msg);
}

static const char *const fp_templates[] = {
	"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"fault\",\"params\":"
	"{\"space\":1,\"addr\":17592186044416,\"access\":\"write\"}}",
	"{\"jsonrpc\": \"2.0\", \"id\": \"a-b\", \"method\": \"lookup\", "
	"\"params\": {\"space\": \"demo\", \"addr\": \"0x100000000000\"}}",
	"{\"jsonrpc\":\"2.0\",\"id\":-12,\"method\":\"mmap\",\"params\":{"
	"\"space\":3,\"addr\":\"0X7fff0000\",\"length\":8192,\"prot\":\"rw\","
	"\"flags\":[\"private\",\"anonymous\",\"fixed\"],\"file\":null,"
	"\"offset\":0}}",
	"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"mmap\",\"params\":{"
	"\"space\":\"s.1\",\"length\":4096,\"prot\":\"none\",\"flags\":"
	"[\"shared\"],\"file\":\"/lib/x.so\",\"offset\":4096}}",
	"{\"jsonrpc\":\"2.0\",\"method\":\"munmap\",\"params\":{\"space\":1,"
	"\"addr\":4096,\"length\":4096}}",
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"mprotect\",\"params\":{"
	"\"space\":1,\"addr\":4096,\"length\":4096,\"prot\":\"xr\"}}",
	"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"mremap\",\"params\":{"
	"\"space\":1,\"old_addr\":4096,\"old_length\":4096,\"new_length\":"
	"8192,\"flags\":[\"maymove\",\"fixed\"],\"new_addr\":65536}}",
	"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"space.create\",\"params\":"
	"{\"name\":\"demo\",\"task_size\":\"0x7ffffffff000\",\"stack\":true,"
	"\"max_map_count\":100,\"stack_guard_gap\":0}}",
	"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"space.fork\",\"params\":{"
	"\"space\":1,\"name\":\"child\"}}",
	"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"stats\"}",
	"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"stats\",\"params\":{"
	"\"space\":2}}",
	"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"brk\",\"params\":{"
	"\"space\":1,\"addr\":0}}",
	"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":{}}",
	" {\n\"jsonrpc\" : \"2.0\" ,\t\"id\" : 0 , \"method\" : \"maps\" , "
	"\"params\" : { \"space\" : 1 } } ",
	"{\"id\":10,\"method\":\"space.list\",\"jsonrpc\":\"2.0\"}",
	/* params before method: left to the tree path */
	"{\"jsonrpc\":\"2.0\",\"params\":{\"space\":1},\"id\":11,"
	"\"method\":\"maps\"}",
};

/* Bytes worth inserting: structure, escapes, digits, letters. */
static const char fp_alphabet[] = "{}[],:\" \\0123456789-+.eExXabfrwnul\x01";

/*
 * The fast path must decode every value it accepts exactly as the tree
 * path does, and leave every other value alone: compare both on the
 * templates and on thousands of random mutations of them.
 */
START_TEST(test_fast_path_matches_tree)
{
	static char a[4096], b[4096], buf[1024];
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	size_t t, nr_fast = 0, nr_cases = 0;
	int iter;

	for (t = 0; t < sizeof(fp_templates) / sizeof(fp_templates[0]); t++) {
		size_t len = strlen(fp_templates[t]);
		bool fa, fb;

		describe(fp_templates[t], len, true, a, sizeof(a), &fa);
		describe(fp_templates[t], len, false, b, sizeof(b), &fb);
		ck_assert_msg(!strcmp(a, b), "template %zu:\n%s\nvs\n%s", t, a,
			      b);
		ck_assert_msg(fa == (t != 15), "template %zu not fast", t);
		ck_assert(!fb);
		ck_assert_msg(!strstr(a, "error"), "template %zu: %s", t, a);
		for (iter = 0; iter < 3000; iter++) {
			size_t n = len, pos, k, edits;

			memcpy(buf, fp_templates[t], len);
			rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
			edits = 1 + rnd % 3;
			for (k = 0; k < edits; k++) {
				rnd ^= rnd << 13, rnd ^= rnd >> 7,
					rnd ^= rnd << 17;
				pos = (rnd >> 8) % n;
				switch (rnd % 3) {
				case 0: /* delete */
					memmove(buf + pos, buf + pos + 1,
						n - pos - 1);
					n--;
					break;
				case 1: /* insert */
					memmove(buf + pos + 1, buf + pos,
						n - pos);
					buf[pos] = fp_alphabet
						[(rnd >> 24) %
						 (sizeof(fp_alphabet) - 1)];
					n++;
					break;
				default: /* replace */
					buf[pos] = fp_alphabet
						[(rnd >> 24) %
						 (sizeof(fp_alphabet) - 1)];
				}
				if (n < 2)
					break;
			}
			describe(buf, n, true, a, sizeof(a), &fa);
			describe(buf, n, false, b, sizeof(b), &fb);
			ck_assert_msg(
				!strcmp(a, b),
				"mutation of %zu: %.*s\nfast: %s\ntree: %s", t,
				(int)n, buf, a, b);
			nr_fast += fa;
			nr_cases++;
		}
	}
	/* Some mutations keep the value valid (a digit for a digit). */
	ck_assert_msg(nr_fast > nr_cases / 50, "only %zu of %zu fast", nr_fast,
		      nr_cases);
}
END_TEST

/* Base64 both ways, every length up to 300, and what is not base64. */
/* space.import's "guards" come out as the numbers given, in order. */
START_TEST(test_ranges_copy)
{
	static const char req[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"space.import\","
		"\"params\":{\"maps\":\"\",\"guards\":[[4096,8192],"
		"[\"0x3000\",\"0x5000\"],[\"0xffffffffffffe000\","
		"18446744073709547520]]}}";
	struct vas_import_guard g[4] = {{0}};
	struct rpc_request r;
	struct rpc_error err;
	struct rpc_msg msg;

	ck_assert_int_eq(rpc_msg_parse(&msg, req, strlen(req), true, 1, &err),
			 0);
	ck_assert_msg(rpc_msg_request(&msg, 0, &r, &err) == 0, "%s", err.msg);
	ck_assert(r.p.import.guards.present);
	ck_assert_uint_eq(r.p.import.guards.nr, 3);
	rpc_ranges_copy(&r.p.import.guards, g);
	ck_assert_uint_eq(g[0].start, 0x1000);
	ck_assert_uint_eq(g[0].end, 0x2000);
	ck_assert_uint_eq(g[1].start, 0x3000);
	ck_assert_uint_eq(g[1].end, 0x5000);
	ck_assert_uint_eq(g[2].start, 0xffffffffffffe000ULL);
	ck_assert_uint_eq(g[2].end, 0xfffffffffffff000ULL);
	ck_assert_uint_eq(g[3].end, 0);
	rpc_msg_fini(&msg);
}
END_TEST

START_TEST(test_base64)
{
	static const char *const bad[] = {
		"A",	"AB",	"ABC",	    "AB=C", "A===", "AB==AB==", "AB\n=",
		"AB C", "ABC-", "ABCD====", "AB=D", "AR==", "ABD=",
	};
	unsigned char in[300], out[300];
	struct rpc_buf b;
	size_t len, i;
	long n;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 151 + 7);
	for (len = 0; len <= sizeof(in); len++) {
		rpc_buf_init(&b);
		rpc_buf_put_base64(&b, in, len);
		ck_assert_uint_eq(b.len, 2 + (len + 2) / 3 * 4);
		ck_assert(b.data[0] == '"' && b.data[b.len - 1] == '"');
		ck_assert_uint_le(rpc_base64_max(b.len - 2), sizeof(out) + 2);
		n = rpc_base64_decode(b.data + 1, b.len - 2, out);
		ck_assert_int_eq(n, (long)len);
		ck_assert(!memcmp(in, out, len));
		rpc_buf_fini(&b);
	}
	n = rpc_base64_decode("TWFu", 4, out);
	ck_assert_int_eq(n, 3);
	ck_assert(!memcmp(out, "Man", 3));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(rpc_base64_decode(bad[i], strlen(bad[i]), out) ==
				      -EINVAL,
			      "'%s' accepted", bad[i]);
}
END_TEST

static Suite *rpc_suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *tc = tcase_create("codec");

	/*
	 * Check's default of 4 s per test is a machine speed, not a bound:
	 * the fast-path comparison took longer under ASan on a loaded
	 * machine. ctest's own timeout still bounds the program.
	 */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_vectors_valid);
	tcase_add_test(tc, test_vectors_invalid);
	tcase_add_test(tc, test_frame_too_large);
	tcase_add_test(tc, test_frame_limit_exact);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_many_values);
	tcase_add_test(tc, test_write_vma);
	tcase_add_test(tc, test_write_maps_parts);
	tcase_add_test(tc, test_decoder_shrink);
	tcase_add_test(tc, test_write_error);
	tcase_add_test(tc, test_write_fault);
	tcase_add_test(tc, test_socket_path);
	tcase_add_test(tc, test_vectors_tree_path);
	tcase_add_test(tc, test_fast_path_matches_tree);
	tcase_add_test(tc, test_base64);
	tcase_add_test(tc, test_ranges_copy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rpc_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
