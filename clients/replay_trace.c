// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vma-replay --report and --pipeline: replay a recorded trace and say
 * how far vmad agrees with the kernel.
 *
 * A trace (what vma-record writes) is a scenario whose expectations are
 * the kernel's results. The report counts, per file: requests whose
 * response matched the expectation; mismatches (line, request, expected
 * and actual, integers in hex); requests vmad does not model, by method
 * (answered -32601, or -32602 for a parameter or flag it does not know
 * or an argument it says is not modelled: they are skipped, not failed)
 * together with the calls the recorder already wrote as "# unmodelled:
 * NAME(...)" comments; and the final maps: matched, or the first VMA that
 * differs. A mismatch that follows a skipped request is marked as such: the
 * model may have diverged there.
 *
 * --pipeline sends every request of the file from a second thread while
 * the first reads the responses, so the daemon is never idle waiting for
 * the client (requests/s in the report). Stable ranges and --readers need
 * the sequential mode.
 */
#include "replay_trace.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct trace_req {
	int line;
	json_t *req; /* the request (with jsonrpc and id) */
	json_t *exp; /* its expectation, or NULL */
	char *text;  /* the request serialized, with "\n" */
	size_t len;
};

struct trace {
	struct trace_req *v;
	size_t nr;
	json_t *unmodelled; /* comment lines: name -> count */
};

static void trace_free(struct trace *t)
{
	size_t i;

	for (i = 0; i < t->nr; i++) {
		json_decref(t->v[i].req);
		json_decref(t->v[i].exp);
		free(t->v[i].text);
	}
	free(t->v);
	json_decref(t->unmodelled);
}

/* "# unmodelled: NAME(...)" -> NAME */
static void count_comment(struct trace *t, const char *s)
{
	const char *p = strstr(s, "unmodelled: ");
	char name[64];
	size_t n = 0;
	json_t *c;

	if (!p)
		return;
	p += strlen("unmodelled: ");
	while (p[n] && p[n] != '(' && p[n] != ' ' && n < sizeof(name) - 1)
		n++;
	memcpy(name, p, n);
	name[n] = '\0';
	c = json_object_get(t->unmodelled, name);
	json_object_set_new(t->unmodelled, name,
			    json_integer(c ? json_integer_value(c) + 1 : 1));
}

/* Parse @text into requests; -1 (printed) if a line is not an object. */
static int trace_parse(const char *name, char *text, struct trace *t)
{
	char *save, *p;
	long long id = 1;
	int lineno = 0;

	memset(t, 0, sizeof(*t));
	t->unmodelled = json_object();
	for (p = text; p; p = save) {
		json_error_t jerr;
		json_t *v;
		char *s = p;

		save = strchr(p, '\n');
		if (save)
			*save++ = 0;
		lineno++;
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '#')
			count_comment(t, s);
		if (!*s || *s == '#')
			continue;
		v = json_loads(s, 0, &jerr);
		if (!json_is_object(v) || !json_object_get(v, "method")) {
			fprintf(stderr,
				"%s:%d: not a request (--report and "
				"--pipeline take requests only): %s\n",
				name, lineno, v ? "no \"method\"" : jerr.text);
			json_decref(v);
			return -1;
		}
		if (t->nr % 1024 == 0) {
			struct trace_req *nv =
				realloc(t->v, (t->nr + 1024) * sizeof(*nv));

			if (!nv) {
				json_decref(v);
				return -1;
			}
			t->v = nv;
		}
		t->v[t->nr].line = lineno;
		t->v[t->nr].exp = json_incref(json_object_get(v, "expect"));
		json_object_del(v, "expect");
		if (!json_object_get(v, "jsonrpc"))
			json_object_set_new(v, "jsonrpc", json_string("2.0"));
		json_object_set_new(v, "id", json_integer(id++));
		t->v[t->nr].req = v;
		t->v[t->nr].text = json_dumps(v, JSON_COMPACT);
		if (!t->v[t->nr].text)
			return -1;
		t->v[t->nr].len = strlen(t->v[t->nr].text);
		t->nr++;
	}
	return 0;
}

/*
 * A copy of @v for people: integers from 4096 up as "0x..." strings, and
 * the bulky members ("text" of maps, "maps" of space.import) cut short.
 */
static json_t *hexify(const json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) >= 4096) {
		char buf[32];

		snprintf(buf, sizeof(buf), "0x%llx",
			 (unsigned long long)json_integer_value(v));
		return json_string(buf);
	}
	if (json_is_object(v)) {
		json_t *o = json_object(), *x;
		const char *k;

		json_object_foreach((json_t *)v, k, x)
		{
			if ((!strcmp(k, "text") || !strcmp(k, "maps")) &&
			    json_is_string(x) && json_string_length(x) > 64)
				json_object_set_new(o, k, json_string("..."));
			else
				json_object_set_new(o, k, hexify(x));
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array(), *x;
		size_t i;

		json_array_foreach(v, i, x) json_array_append_new(a, hexify(x));
		return a;
	}
	return json_deep_copy(v);
}

/* A VMA object (expected or actual) as one maps-like line. */
static void vma_line(const json_t *v, char *buf, size_t len)
{
	uint64_t s = 0, e = 0, off = 0;
	const char *perms = json_string_value(json_object_get(v, "perms"));
	const char *file = json_string_value(json_object_get(v, "file"));
	const char *name = json_string_value(json_object_get(v, "name"));

	if (!v) {
		snprintf(buf, len, "(none)");
		return;
	}
	vmc_json_u64(json_object_get(v, "start"), &s);
	vmc_json_u64(json_object_get(v, "end"), &e);
	vmc_json_u64(json_object_get(v, "offset"), &off);
	snprintf(buf, len, "%" PRIx64 "-%" PRIx64 " %s %08" PRIx64 " %s", s, e,
		 perms ? perms : "?", off,
		 file	? file
		 : name ? name
			: "");
}

struct trace_result {
	unsigned long long matched, mismatched, skipped, unchecked;
	unsigned long long after_skip; /* mismatches after a skip */
	int first_skip_line;
	json_t *skipped_by_name; /* method -> count (responses) */
	json_t *mismatches;	 /* array */
	int final;		 /* 0 none, 1 all matched, -1 one differs */
	json_t *final_diff;	 /* the first difference */
	size_t final_nr;	 /* VMAs of the last matched maps */
	unsigned maps_checked, maps_matched;
};

/* Is @resp the answer of a daemon that does not model @req? */
static bool not_modelled(const json_t *resp)
{
	const json_t *err = json_object_get(resp, "error");
	json_int_t code = json_integer_value(json_object_get(err, "code"));
	const char *msg = json_string_value(json_object_get(err, "message"));

	if (code == -32601)
		return true;
	return code == -32602 && msg &&
	       (strstr(msg, "unknown flag") ||
		strstr(msg, "unknown parameter") ||
		strstr(msg, "not modelled"));
}

static void judge(const struct replay_trace_opts *o, const char *file,
		  const struct trace_req *r, const json_t *resp,
		  struct trace_result *res)
{
	const char *method =
		json_string_value(json_object_get(r->req, "method"));
	const json_t *vmas =
		json_object_get(json_object_get(r->exp, "result"), "vmas");
	char path[512] = "";

	if (not_modelled(resp)) {
		json_t *c = json_object_get(res->skipped_by_name, method);

		json_object_set_new(
			res->skipped_by_name, method,
			json_integer(c ? json_integer_value(c) + 1 : 1));
		res->skipped++;
		if (!res->first_skip_line)
			res->first_skip_line = r->line;
		return;
	}
	if (!r->exp) {
		res->unchecked++;
		return;
	}
	if (replay_match(r->exp, resp, path, sizeof(path))) {
		res->matched++;
		if (vmas && !strcmp(method, "maps")) {
			res->maps_checked++;
			res->maps_matched++;
			if (res->final >= 0)
				res->final = 1;
			res->final_nr = json_array_size(vmas);
		}
		return;
	}
	res->mismatched++;
	if (res->first_skip_line)
		res->after_skip++;
	if (vmas && !strcmp(method, "maps")) {
		/* The first VMA that differs. */
		const json_t *act = json_object_get(
			json_object_get(resp, "result"), "vmas");
		size_t i, n = json_array_size(vmas), m = json_array_size(act);
		char el[600], al[600];
		char p2[64];

		for (i = 0; i < n && i < m; i++) {
			p2[0] = 0;
			if (!replay_match(json_array_get(vmas, i),
					  json_array_get(act, i), p2,
					  sizeof(p2)))
				break;
		}
		vma_line(json_array_get(vmas, i), el, sizeof(el));
		vma_line(json_array_get(act, i), al, sizeof(al));
		res->maps_checked++;
		if (res->final < 0)
			goto printed; /* the first difference is kept */
		res->final = -1;
		res->final_diff =
			json_pack("{s:i, s:I, s:I, s:I, s:s, s:s}", "line",
				  r->line, "index", (json_int_t)i,
				  "expected_vmas", (json_int_t)n, "actual_vmas",
				  (json_int_t)m, "expected", el, "actual", al);
		if (!o->quiet)
			fprintf(stderr,
				"%s:%d: final maps differ at VMA %zu "
				"(%zu expected, %zu actual)\n"
				"  expected: %s\n  actual:   %s\n",
				file, r->line, i, n, m, el, al);
	printed:
		return;
	}
	{
		json_t *req = hexify(r->req), *exp = hexify(r->exp);
		json_t *act = hexify(resp);
		char *rs, *es, *as;

		json_object_del(req, "jsonrpc");
		json_object_del(req, "id");
		json_object_del(act, "jsonrpc");
		json_object_del(act, "id");
		rs = json_dumps(req, JSON_COMPACT);
		es = json_dumps(exp, JSON_COMPACT);
		as = json_dumps(act, JSON_COMPACT);
		if (!o->quiet)
			fprintf(stderr,
				"%s:%d: %s mismatch at %s%s\n"
				"  request:  %s\n  expected: %s\n"
				"  actual:   %s\n",
				file, r->line, method, path,
				res->first_skip_line
					? " (after a skipped request)"
					: "",
				rs, es, as);
		json_array_append_new(
			res->mismatches,
			json_pack("{s:i, s:s, s:s, s:b, s:o, s:o, s:o}", "line",
				  r->line, "method", method, "at", path,
				  "after_skip", res->first_skip_line != 0,
				  "request", req, "expected", exp, "actual",
				  act));
		free(rs);
		free(es);
		free(as);
	}
}

struct sender {
	struct vmc_conn *conn;
	const struct trace *t;
	int err;
};

/* Send every request, in large writes. */
static void *send_all(void *arg)
{
	struct sender *s = arg;
	char *buf = malloc(1 << 20);
	size_t used = 0, i;

	if (!buf) {
		s->err = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < s->t->nr && !s->err; i++) {
		const struct trace_req *r = &s->t->v[i];

		if (used + r->len + 1 > (1 << 20) && used) {
			s->err = vmc_send(s->conn, buf, used);
			used = 0;
		}
		if (r->len + 1 > (1 << 20)) {
			s->err = vmc_send(s->conn, r->text, r->len);
			if (!s->err)
				s->err = vmc_send(s->conn, "\n", 1);
			continue;
		}
		memcpy(buf + used, r->text, r->len);
		used += r->len;
		buf[used++] = '\n';
	}
	if (!s->err && used)
		s->err = vmc_send(s->conn, buf, used);
	free(buf);
	return NULL;
}

int replay_trace_run(const char *file, char *text, struct vmc_conn *conn,
		     const struct replay_trace_opts *o, json_t **report)
{
	struct trace t;
	struct trace_result res = {0};
	struct sender snd = {.conn = conn};
	pthread_t th;
	uint64_t t0;
	double secs;
	size_t i;
	int ret = 0;

	*report = NULL;
	if (trace_parse(file, text, &t)) {
		trace_free(&t);
		return -1;
	}
	res.skipped_by_name = json_object();
	res.mismatches = json_array();
	t0 = vmc_now_ns();
	snd.t = &t;
	if (o->pipeline && pthread_create(&th, NULL, send_all, &snd)) {
		trace_free(&t);
		return -1;
	}
	for (i = 0; i < t.nr; i++) {
		json_t *resp = NULL;

		if (!o->pipeline) {
			ret = vmc_send(conn, t.v[i].text, t.v[i].len);
			if (!ret)
				ret = vmc_send(conn, "\n", 1);
		}
		if (!ret)
			ret = vmc_recv_json(conn, &resp);
		if (ret) {
			fprintf(stderr, "%s:%d: no response: %s\n", file,
				t.v[i].line,
				ret == -EAGAIN ? "timed out" : strerror(-ret));
			break;
		}
		judge(o, file, &t.v[i], resp, &res);
		json_decref(resp);
	}
	if (o->pipeline) {
		if (ret)
			shutdown(conn->fd, SHUT_RDWR);
		pthread_join(th, NULL);
		if (!ret && snd.err)
			ret = snd.err;
	}
	secs = (double)(vmc_now_ns() - t0) / 1e9;
	{
		json_t *um = t.unmodelled, *v;
		const char *k;
		unsigned long long nr_comments = 0;

		json_object_foreach(um, k, v) nr_comments +=
			(unsigned long long)json_integer_value(v);
		*report = json_pack(
			"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:O, s:o, "
			"s:f, s:f, s:b}",
			"file", file, "requests", (json_int_t)i, "matched",
			(json_int_t)res.matched, "mismatched",
			(json_int_t)res.mismatched, "skipped",
			(json_int_t)res.skipped, "unchecked",
			(json_int_t)res.unchecked, "unmodelled_comments",
			(json_int_t)nr_comments, "skipped_by_name",
			res.skipped_by_name, "unmodelled_by_name", um,
			"mismatches", res.mismatches, "elapsed_s", secs,
			"requests_per_s", secs > 0 ? (double)i / secs : 0.0,
			"complete", !ret);
		json_object_set_new(*report, "mismatched_after_skip",
				    json_integer((json_int_t)res.after_skip));
		if (res.first_skip_line)
			json_object_set_new(*report, "first_skip_line",
					    json_integer(res.first_skip_line));
		if (res.final == 1)
			json_object_set_new(
				*report, "final_maps",
				json_pack("{s:b, s:I, s:i}", "matched", 1,
					  "vmas", (json_int_t)res.final_nr,
					  "checked", res.maps_checked));
		else if (res.final == -1)
			json_object_set_new(
				*report, "final_maps",
				json_pack("{s:b, s:O, s:i, s:i}", "matched", 0,
					  "first_difference", res.final_diff,
					  "checked", res.maps_checked,
					  "matched_checks", res.maps_matched));
		else
			json_object_set_new(*report, "final_maps", json_null());
		json_decref(res.final_diff);
		json_decref(res.skipped_by_name);
	}
	trace_free(&t);
	return ret ? -1 : 0;
}

void replay_trace_print(const json_t *r)
{
	const json_t *fm = json_object_get(r, "final_maps");
	json_t *sk = json_object_get(r, "skipped_by_name");
	json_t *um = json_object_get(r, "unmodelled_by_name"), *v;
	const char *k;
	bool first = true;

	printf("%s: %lld requests: %lld matched, %lld mismatched, %lld "
	       "skipped, %lld unchecked",
	       json_string_value(json_object_get(r, "file")),
	       json_integer_value(json_object_get(r, "requests")),
	       json_integer_value(json_object_get(r, "matched")),
	       json_integer_value(json_object_get(r, "mismatched")),
	       json_integer_value(json_object_get(r, "skipped")),
	       json_integer_value(json_object_get(r, "unchecked")));
	printf("; %.0f requests/s\n",
	       json_real_value(json_object_get(r, "requests_per_s")));
	if (json_object_size(sk) || json_object_size(um)) {
		printf("  skipped (not modelled):");
		json_object_foreach(sk, k, v)
		{
			printf("%s %s %lld", first ? "" : ",", k,
			       json_integer_value(v));
			first = false;
		}
		json_object_foreach(um, k, v)
		{
			printf("%s %s %lld (recorded as comments)",
			       first ? "" : ",", k, json_integer_value(v));
			first = false;
		}
		printf("\n");
	}
	if (json_integer_value(json_object_get(r, "mismatched_after_skip")))
		printf("  %lld mismatches after the first skipped request "
		       "(line %lld): the model may have diverged there\n",
		       json_integer_value(
			       json_object_get(r, "mismatched_after_skip")),
		       json_integer_value(
			       json_object_get(r, "first_skip_line")));
	if (!fm || json_is_null(fm))
		printf("  final maps: not checked\n");
	else if (json_is_true(json_object_get(fm, "matched")))
		printf("  final maps: matched (%lld VMAs; %lld spaces "
		       "checked)\n",
		       json_integer_value(json_object_get(fm, "vmas")),
		       json_integer_value(json_object_get(fm, "checked")));
	else {
		const json_t *d = json_object_get(fm, "first_difference");

		printf("  final maps: %lld of %lld differ, the first at VMA "
		       "%lld (line %lld)\n"
		       "    expected: %s\n    actual:   %s\n",
		       json_integer_value(json_object_get(fm, "checked")) -
			       json_integer_value(
				       json_object_get(fm, "matched_checks")),
		       json_integer_value(json_object_get(fm, "checked")),
		       json_integer_value(json_object_get(d, "index")),
		       json_integer_value(json_object_get(d, "line")),
		       json_string_value(json_object_get(d, "expected")),
		       json_string_value(json_object_get(d, "actual")));
	}
}
