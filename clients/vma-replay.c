// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vma-replay - replay scenario files against vmad
 *
 * A scenario is a file of JSON values, one per line (the scenario format of vma-replay(1)). Each
 * request line is sent on one connection and its response compared with the
 * line's "expect" member as a subset. "stable"/"unstable" lines maintain a
 * set of address ranges that must stay mapped; --readers N threads, each on
 * its own connection, fault and look up addresses of that set continuously
 * and report every time one was seen unmapped.
 *
 * Stable set protocol: a reader holds the set's read lock from choosing an
 * address until its response has arrived; "stable" and "unstable" take the
 * write lock. So an "unstable" line waits for the readers' in-flight
 * requests, and the munmap that follows it can never be blamed on a
 * request sent while the range was still declared stable.
 *
 * With --spawn every file gets a fresh private daemon on a temporary socket,
 * so scenario files may use any space names. Without it, files run one after
 * the other against the daemon given by --socket; the scenario library uses
 * a space name unique to each file and destroys it at the end so that it
 * can be replayed against a shared daemon as well.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "replay_trace.h"
#include "vmc.h"

static const char replay_help[] =
	"NAME\n"
	"    vma-replay - replay vmad scenario files and check the responses\n"
	"\n"
	"SYNOPSIS\n"
	"    vma-replay [OPTIONS] FILE...\n"
	"\n"
	"DESCRIPTION\n"
	"    A scenario file holds JSON values, one per line; blank lines and\n"
	"    lines starting with # are skipped. Each value is a JSON-RPC "
	"request\n"
	"    (jsonrpc and id may be omitted) with optional extra members:\n"
	"\n"
	"      \"expect\": {\"result\": {...}} or {\"error\": {...}}\n"
	"          The response must contain this as a subset: objects "
	"compare\n"
	"          the members named only, arrays element by element (and "
	"must\n"
	"          have the same length), numbers by value. A \"0x...\" "
	"string\n"
	"          matches the integer it spells. An array whose first "
	"element\n"
	"          is \"...\" matches an array that holds elements "
	"matching the\n"
	"          others, in that order, among any others (so that a file "
	"need\n"
	"          not assume an empty daemon: [\"...\", {\"name\": "
	"\"a\"}]).\n"
	"      \"repeat\": N   (extension) send the request N times, checking\n"
	"          the expectation each time.\n"
	"\n"
	"    A line {\"stable\": [START, END]} (optionally with \"space\")\n"
	"    declares that every address in [START, END) of the space (by\n"
	"    default the one named by the latest request) must be mapped at\n"
	"    every instant until a line {\"unstable\": [START, END]}. With\n"
	"    --readers N, N reader connections fault and look up addresses of\n"
	"    the stable ranges throughout the replay; a fault answered\n"
	"    SEGV_MAPERR or a lookup answered null is reported as a stable\n"
	"    address seen unmapped. SEGV_ACCERR counts as mapped. Readers "
	"fault\n"
	"    with read access, so they may populate pages of stable ranges.\n"
	"\n"
	"    Every failed expectation prints the file, the line, the request,\n"
	"    and each member that differs: where (\"result.vmas[1].end\"), "
	"the\n"
	"    expected and the actual value, addresses in hex. A summary "
	"follows\n"
	"    (requests, failures, elapsed time, reader checks). On a "
	"terminal a\n"
	"    progress line is shown while replaying.\n"
	"\n"
	"    With --spawn each file is replayed against a fresh private vmad "
	"on\n"
	"    a temporary socket, stopped with SIGTERM afterwards; a daemon "
	"that\n"
	"    does not exit cleanly fails the file. Without --spawn the files "
	"run\n"
	"    one after the other against one running daemon, so they must use\n"
	"    distinct space names.\n"
	"\n"
	"OPTIONS\n"
	"    -s, --socket PATH   Socket of a running daemon.\n"
	"    -c, --config FILE   Read the socket path from FILE.\n"
	"        --server-uid UID  Also trust a daemon running as UID.\n"
	"    -S, --spawn         Start a private daemon for each file.\n"
	"        --vmad PATH     Daemon binary for --spawn (default: "
	"../daemon/vmad\n"
	"                        next to this program's directory, then vmad "
	"next\n"
	"                        to it, then vmad on PATH).\n"
	"    -r, --readers N     Concurrent reader connections (default 0).\n"
	"    -t, --timeout SEC   Fail when a response takes longer (default "
	"30).\n"
	"    -j, --json          Print a JSON report on standard output.\n"
	"    -R, --report        Judge a recorded trace (vma-record): per "
	"file,\n"
	"                        requests matched, mismatched (line, "
	"request,\n"
	"                        expected and actual in hex), skipped "
	"because\n"
	"                        vmad does not model them (by method, with "
	"the\n"
	"                        calls the recorder wrote as comments), and "
	"the\n"
	"                        final maps: matched or the first differing "
	"VMA.\n"
	"                        Skipped requests do not fail the file.\n"
	"    -P, --pipeline      Like --report, but send the whole file "
	"before\n"
	"                        reading the responses (requests/s in the\n"
	"                        report). No stable ranges, no --readers.\n"
	"    -q, --quiet         Print only failures and the summary.\n"
	"    -h, --help          Print this help.\n"
	"    -V, --version       Print the version.\n"
	"\n"
	"EXIT STATUS\n"
	"    0   Every expectation held and no stable address was seen "
	"unmapped.\n"
	"    1   An expectation failed, a stable address was seen unmapped, or "
	"a\n"
	"        spawned daemon exited abnormally.\n"
	"    2   Usage error, unreadable or malformed scenario, daemon\n"
	"        unreachable or not answering.\n"
	"\n"
	"ENVIRONMENT\n"
	"    VMAD_SOCKET, VMAD_CONFIG, VMAD_SERVER_UID, XDG_RUNTIME_DIR\n"
	"                        As for vmactl.\n"
	"\n"
	"SOCKET\n" VMC_HELP_SOCKET "\n"
	"EXAMPLES\n"
	"    vma-replay --spawn tests/scenarios/*.jsonl\n"
	"    vma-replay --spawn --readers 2 "
	"tests/scenarios/hazard-map-fixed-8.jsonl\n"
	"    vma-replay --socket /tmp/vmad.sock --json my-scenario.jsonl\n";

/* One declared stable range. */
struct replay_range {
	uint64_t start, end;
	char *space; /* JSON text of the space param */
	int line;
};

struct replay_opts {
	const char *socket;
	const char *config;
	const char *vmad;
	bool spawn;
	bool json;
	bool quiet;
	int readers;
	int timeout;
	bool report;   /* --report: judge a recorded trace */
	bool pipeline; /* --pipeline: send all before reading */
};

/* State of the file being replayed, shared with the reader threads. */
struct replay_file {
	const char *name;
	char socket[4096];
	/* stable set, see DOC */
	pthread_rwlock_t lock;
	struct replay_range *ranges;
	size_t nr_ranges;
	atomic_int line;	/* line being replayed */
	atomic_bool stop;	/* readers stop */
	atomic_ullong checks;	/* reader requests answered */
	atomic_ullong unmapped; /* stable addresses seen unmapped */
	atomic_ullong reader_errors;
	pthread_mutex_t print_lock;
	int timeout;
	/* results */
	unsigned long long requests;
	unsigned long long failures;
	bool broken; /* I/O or malformed scenario */
	bool daemon_failed;
	double elapsed;
	json_t *errors; /* array for --json */
	json_t *trace;	/* --report/--pipeline: the file's report */
	int nr_lines;
	bool progress;
};

struct replay_reader {
	struct replay_file *rf;
	int idx;
	pthread_t thread;
};

/* Seconds, rounded to the millisecond (reports print no float noise). */
static double replay_seconds(uint64_t ns)
{
	return (double)((ns + 500000) / 1000000) / 1e3;
}

static void replay_set_timeout(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Whether @exp is ["...", A, B, ...]: "these elements, among others". */
static bool replay_is_contains(const json_t *exp)
{
	const char *s = json_string_value(json_array_get(exp, 0));

	return json_is_array(exp) && s && !strcmp(s, "...");
}

/*
 * ["...", A, B]: every element after "..." matches an element of @act, in
 * this order (other elements may come before, between and after).
 */
static bool replay_match_contains(const json_t *exp, const json_t *act,
				  char *path, size_t plen)
{
	size_t used = strlen(path), i, j = 0;

	if (!json_is_array(act))
		return false;
	for (i = 1; i < json_array_size(exp); i++) {
		for (; j < json_array_size(act); j++) {
			char scratch[512] = "";

			if (replay_match(json_array_get(exp, i),
					 json_array_get(act, j), scratch,
					 sizeof(scratch)))
				break;
		}
		if (j == json_array_size(act)) {
			snprintf(path + used, plen - used, "%s(contains %zu)",
				 used ? "." : "", i);
			return false;
		}
		j++;
	}
	return true;
}

/* Compare @exp as a subset of @act; on mismatch write the path to @path. */
bool replay_match(const json_t *exp, const json_t *act, char *path, size_t plen)
{
	size_t used = strlen(path);
	uint64_t a, b;

	if (json_is_object(exp)) {
		const char *key;
		json_t *v;

		if (!json_is_object(act))
			return false;
		json_object_foreach((json_t *)exp, key, v)
		{
			snprintf(path + used, plen - used, "%s%s",
				 used ? "." : "", key);
			if (!replay_match(v, json_object_get(act, key), path,
					  plen))
				return false;
			path[used] = 0;
		}
		return true;
	}
	if (replay_is_contains(exp))
		return replay_match_contains(exp, act, path, plen);
	if (json_is_array(exp)) {
		size_t i;
		json_t *v;

		if (!json_is_array(act) ||
		    json_array_size(act) != json_array_size(exp)) {
			snprintf(path + used, plen - used, "%s(length)",
				 used ? "." : "");
			return false;
		}
		json_array_foreach(exp, i, v)
		{
			snprintf(path + used, plen - used, "[%zu]", i);
			if (!replay_match(v, json_array_get(act, i), path,
					  plen))
				return false;
			path[used] = 0;
		}
		return true;
	}
	if (!act)
		return false;
	if (json_is_number(exp) && json_is_number(act))
		return json_number_value(exp) == json_number_value(act) &&
		       (!json_is_integer(exp) || !json_is_integer(act) ||
			json_integer_value(exp) == json_integer_value(act));
	if ((json_is_string(exp) && json_is_integer(act)) ||
	    (json_is_integer(exp) && json_is_string(act))) {
		const json_t *s = json_is_string(exp) ? exp : act;

		if (strncmp(json_string_value(s), "0x", 2))
			return false;
		return !vmc_json_u64(exp, &a) && !vmc_json_u64(act, &b) &&
		       a == b;
	}
	return json_equal((json_t *)exp, (json_t *)act);
}

/* Members whose integers are addresses: printed "0x..." in reports. */
static bool replay_is_addr_key(const char *key)
{
	static const char *const keys[] = {
		"addr",	    "start",	 "end",	      "brk",	  "start_brk",
		"brk_base", "mmap_base", "task_size", "old_addr", "new_addr",
	};
	size_t i;

	for (i = 0; key && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

/*
 * A copy of @v in which the integers of address members are "0x..."
 * strings, as scenario files write them (new reference).
 */
static json_t *replay_hexify(const json_t *v, const char *key)
{
	const char *k;
	json_t *m, *out;
	size_t i;
	char hex[24];

	if (json_is_integer(v) && replay_is_addr_key(key)) {
		snprintf(hex, sizeof(hex), "%#llx",
			 (unsigned long long)json_integer_value(v));
		return json_string(hex);
	}
	if (json_is_object(v)) {
		out = json_object();
		json_object_foreach((json_t *)v, k, m)
			json_object_set_new(out, k, replay_hexify(m, k));
		return out;
	}
	if (json_is_array(v)) {
		out = json_array();
		json_array_foreach(v, i, m)
			json_array_append_new(out, replay_hexify(m, key));
		return out;
	}
	return json_deep_copy(v);
}

/* One compact line of @v with hex addresses (new string, or NULL). */
static char *replay_dump(const json_t *v, const char *key)
{
	json_t *h;
	char *s;

	if (!v)
		return strdup("(none)");
	h = replay_hexify(v, key);
	s = json_dumps(h, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(h);
	return s;
}

/*
 * Every difference between @exp (a subset pattern) and @act, as
 * {"at": PATH, "expected": ..., "actual": ...} objects appended to @out:
 * the members that differ, not the whole response. Unlike replay_match()
 * it does not stop at the first one.
 */
static void replay_diff(const json_t *exp, const json_t *act, const char *key,
			const char *path, json_t *out)
{
	char sub[512];
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(exp) && json_is_object(act)) {
		json_object_foreach((json_t *)exp, k, v)
		{
			snprintf(sub, sizeof(sub), "%s%s%s", path,
				 *path ? "." : "", k);
			replay_diff(v, json_object_get(act, k), k, sub, out);
		}
		return;
	}
	if (json_is_array(exp) && json_is_array(act) &&
	    !replay_is_contains(exp)) {
		size_t ne = json_array_size(exp), na = json_array_size(act);

		if (ne != na) {
			snprintf(sub, sizeof(sub), "%s (length)", path);
			json_array_append_new(
				out, json_pack("{s:s,s:I,s:I}", "at", sub,
					       "expected", (json_int_t)ne,
					       "actual", (json_int_t)na));
		}
		for (i = 0; i < ne || i < na; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			replay_diff(json_array_get(exp, i),
				    json_array_get(act, i), key, sub, out);
		}
		return;
	}
	if (exp && act) {
		char scratch[512] = "";

		if (replay_match(exp, act, scratch, sizeof(scratch)))
			return;
	}
	/* A side that is missing has no member. */
	v = json_pack("{s:s}", "at", *path ? path : "(response)");
	if (exp)
		json_object_set_new(v, "expected", replay_hexify(exp, key));
	if (act)
		json_object_set_new(v, "actual", replay_hexify(act, key));
	json_array_append_new(out, v);
}

static void replay_print_json_line(FILE *f, const char *label, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	fprintf(f, "  %-9s %s\n", label, s ? s : "(none)");
	free(s);
}

static void replay_clear_progress(struct replay_file *rf)
{
	if (rf->progress) {
		printf("\r\033[K");
		fflush(stdout);
	}
}

static void replay_reader_report(struct replay_file *rf, int idx,
				 const char *what, uint64_t addr,
				 const struct replay_range *r, const char *how)
{
	pthread_mutex_lock(&rf->print_lock);
	replay_clear_progress(rf);
	fprintf(stderr,
		"%s:%d: reader %d: stable address %#llx (range %#llx-%#llx "
		"declared at line %d) %s: %s\n",
		rf->name, atomic_load(&rf->line), idx, (unsigned long long)addr,
		(unsigned long long)r->start, (unsigned long long)r->end,
		r->line, what, how);
	if (rf->errors) {
		json_t *e =
			json_pack("{s:i, s:s, s:i, s:I, s:s, s:s}", "line",
				  atomic_load(&rf->line), "kind", "unmapped",
				  "reader", idx, "addr", (json_int_t)addr,
				  "seen_by", what, "detail", how);
		json_array_append_new(rf->errors, e);
	}
	pthread_mutex_unlock(&rf->print_lock);
}

static void *replay_reader_main(void *arg)
{
	struct replay_reader *rd = arg;
	struct replay_file *rf = rd->rf;
	struct vmc_conn conn;
	unsigned long long n = 0;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (uint64_t)(rd->idx + 1);
	char req[1024];
	int ret;

	ret = vmc_connect(&conn, rf->socket);
	if (ret) {
		pthread_mutex_lock(&rf->print_lock);
		fprintf(stderr, "%s: reader %d: cannot connect to %s: %s\n",
			rf->name, rd->idx, rf->socket, vmc_strerror(ret));
		pthread_mutex_unlock(&rf->print_lock);
		atomic_fetch_add(&rf->reader_errors, 1);
		return NULL;
	}
	replay_set_timeout(conn.fd, rf->timeout);
	while (!atomic_load(&rf->stop)) {
		struct replay_range *r;
		uint64_t pages, addr;
		const char *val;
		size_t len, i;
		json_t *resp, *res;
		bool fault = n & 1;
		int nn;

		pthread_rwlock_rdlock(&rf->lock);
		if (!rf->nr_ranges) {
			struct timespec ts = {0, 100000};

			pthread_rwlock_unlock(&rf->lock);
			nanosleep(&ts, NULL);
			continue;
		}
		/* xorshift: spread the probes over every stable page. */
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		r = &rf->ranges[rnd % rf->nr_ranges];
		pages = (r->end - r->start) / 4096;
		if (!pages)
			pages = 1;
		i = (size_t)((rnd >> 20) % pages);
		/* Edges are where the hazards are: probe them often. */
		if ((rnd >> 8) % 4 == 0)
			i = 0;
		else if ((rnd >> 8) % 4 == 1)
			i = pages - 1;
		addr = r->start + i * 4096 + ((rnd >> 40) % 4096);
		if (fault)
			nn = snprintf(req, sizeof(req),
				      "{\"jsonrpc\":\"2.0\",\"id\":%llu,"
				      "\"method\":\"fault\",\"params\":"
				      "{\"space\":%s,\"addr\":%llu,"
				      "\"access\":\"read\"}}\n",
				      n, r->space, (unsigned long long)addr);
		else
			nn = snprintf(req, sizeof(req),
				      "{\"jsonrpc\":\"2.0\",\"id\":%llu,"
				      "\"method\":\"lookup\",\"params\":"
				      "{\"space\":%s,\"addr\":%llu}}\n",
				      n, r->space, (unsigned long long)addr);
		n++;
		ret = nn > 0 && (size_t)nn < sizeof(req)
			      ? vmc_send(&conn, req, (size_t)nn)
			      : -EINVAL;
		if (!ret)
			ret = vmc_recv_raw(&conn, &val, &len);
		if (ret) {
			pthread_mutex_lock(&rf->print_lock);
			replay_clear_progress(rf);
			fprintf(stderr, "%s: reader %d: connection lost: %s\n",
				rf->name, rd->idx, strerror(-ret));
			pthread_mutex_unlock(&rf->print_lock);
			atomic_fetch_add(&rf->reader_errors, 1);
			pthread_rwlock_unlock(&rf->lock);
			break;
		}
		resp = json_loadb(val, len, 0, NULL);
		res = json_object_get(resp, "result");
		atomic_fetch_add(&rf->checks, 1);
		if (!res) {
			char *s = json_dumps(resp, JSON_COMPACT);

			atomic_fetch_add(&rf->reader_errors, 1);
			atomic_fetch_add(&rf->unmapped, 1);
			replay_reader_report(rf, rd->idx,
					     fault ? "fault failed"
						   : "lookup failed",
					     addr, r, s ? s : "bad response");
			free(s);
		} else if (fault) {
			const char *code =
				json_string_value(json_object_get(res, "code"));

			if (code && !strcmp(code, "SEGV_MAPERR")) {
				atomic_fetch_add(&rf->unmapped, 1);
				replay_reader_report(rf, rd->idx,
						     "seen unmapped by fault",
						     addr, r, code);
			}
		} else if (!json_is_object(json_object_get(res, "vma"))) {
			atomic_fetch_add(&rf->unmapped, 1);
			replay_reader_report(rf, rd->idx,
					     "seen unmapped by lookup", addr, r,
					     "vma null");
		}
		json_decref(resp);
		pthread_rwlock_unlock(&rf->lock);
	}
	vmc_close(&conn);
	return NULL;
}

/* Remove [s, e) from every stable range. Caller holds the write lock. */
static int replay_unstable(struct replay_file *rf, uint64_t s, uint64_t e)
{
	size_t i;

	for (i = 0; i < rf->nr_ranges; i++) {
		struct replay_range *r = &rf->ranges[i];

		if (r->end <= s || r->start >= e)
			continue;
		if (r->start < s && r->end > e) {
			/* Punch a hole: keep [start, s), add [e, end). */
			struct replay_range *nr =
				realloc(rf->ranges, (rf->nr_ranges +
						     1) * sizeof(*rf->ranges));

			if (!nr)
				return -ENOMEM;
			rf->ranges = nr;
			r = &rf->ranges[i];
			rf->ranges[rf->nr_ranges] = *r;
			rf->ranges[rf->nr_ranges].start = e;
			rf->ranges[rf->nr_ranges].space = strdup(r->space);
			rf->nr_ranges++;
			r->end = s;
		} else if (r->start >= s && r->end <= e) {
			free(r->space);
			rf->ranges[i--] = rf->ranges[--rf->nr_ranges];
		} else if (r->start < s) {
			r->end = s;
		} else {
			r->start = e;
		}
	}
	return 0;
}

static int replay_range_of(const json_t *v, uint64_t *s, uint64_t *e)
{
	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    vmc_json_u64(json_array_get(v, 0), s) ||
	    vmc_json_u64(json_array_get(v, 1), e) || *e <= *s)
		return -EINVAL;
	return 0;
}

static void replay_fail(struct replay_file *rf, int line, const char *why,
			const json_t *req, const json_t *exp, const json_t *act)
{
	json_t *diffs = json_array(), *d;
	size_t i;

	replay_diff(exp, act, NULL, "", diffs);
	/* An error where a result was expected: show the error itself. */
	if (json_object_get(act, "error") && !json_object_get(exp, "error"))
		json_array_append_new(
			diffs, json_pack("{s:s,s:O}", "at", "error", "actual",
					 json_object_get(act, "error")));
	pthread_mutex_lock(&rf->print_lock);
	replay_clear_progress(rf);
	fprintf(stderr, "%s:%d: %s\n", rf->name, line, why);
	replay_print_json_line(stderr, "request:", req);
	json_array_foreach(diffs, i, d)
	{
		char *e = replay_dump(json_object_get(d, "expected"), NULL);
		char *a = replay_dump(json_object_get(d, "actual"), NULL);

		fprintf(stderr,
			"  at %s:\n    expected: %s\n    actual:   %s\n",
			json_string_value(json_object_get(d, "at")),
			e ? e : "?", a ? a : "?");
		free(e);
		free(a);
	}
	if (rf->errors) {
		json_t *err = json_pack(
			"{s:i, s:s, s:s, s:o?, s:o?, s:o?, s:O}", "line", line,
			"kind", "expectation", "why", why, "request",
			json_deep_copy(req), "expected", json_deep_copy(exp),
			"actual", replay_hexify(act, NULL), "differences",
			diffs);

		json_array_append_new(rf->errors, err);
	}
	json_decref(diffs);
	pthread_mutex_unlock(&rf->print_lock);
}

static void replay_progress(struct replay_file *rf, int line, uint64_t *last)
{
	uint64_t now;

	if (!rf->progress)
		return;
	now = vmc_now_ns();
	if (now - *last < 100000000ull)
		return;
	*last = now;
	pthread_mutex_lock(&rf->print_lock);
	printf("\r\033[K%s: line %d/%d, %llu requests, %llu failed, %llu "
	       "reader checks",
	       rf->name, line, rf->nr_lines, rf->requests, rf->failures,
	       (unsigned long long)atomic_load(&rf->checks));
	fflush(stdout);
	pthread_mutex_unlock(&rf->print_lock);
}

/*
 * Replay the lines of @text on @conn. Returns 0 when the file could be
 * replayed (failures are counted in @rf), -1 when it is malformed or the
 * daemon stopped answering.
 */
static int replay_lines(struct replay_file *rf, struct vmc_conn *conn,
			char *text)
{
	char *save, *p, *cur_space = NULL;
	long long id = 1;
	int lineno = 0, ret = 0;
	uint64_t last = 0;

	for (p = text; *p; p++)
		if (*p == '\n')
			rf->nr_lines++;
	for (p = text; p; p = save) {
		json_error_t jerr;
		json_t *v, *exp, *params;
		json_int_t repeat = 1, k;
		char *s = p;

		save = strchr(p, '\n');
		if (save)
			*save++ = 0;
		lineno++;
		atomic_store(&rf->line, lineno);
		replay_progress(rf, lineno, &last);
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (!*s || *s == '#')
			continue;
		v = json_loads(s, 0, &jerr);
		if (!json_is_object(v)) {
			pthread_mutex_lock(&rf->print_lock);
			replay_clear_progress(rf);
			fprintf(stderr, "%s:%d: not a JSON object: %s\n",
				rf->name, lineno,
				v ? "another JSON value" : jerr.text);
			pthread_mutex_unlock(&rf->print_lock);
			json_decref(v);
			ret = -1;
			break;
		}
		if (!json_object_get(v, "method") &&
		    (json_object_get(v, "stable") ||
		     json_object_get(v, "unstable"))) {
			bool stable = json_object_get(v, "stable");
			json_t *sp = json_object_get(v, "space");
			uint64_t st, en;
			char *spj = sp ? json_dumps(sp, JSON_ENCODE_ANY)
				    : cur_space ? strdup(cur_space)
						: NULL;

			if (replay_range_of(
				    json_object_get(v, stable ? "stable"
							      : "unstable"),
				    &st, &en) ||
			    (stable && !spj)) {
				fprintf(stderr,
					"%s:%d: bad %s line (need [START, END] "
					"and a space)\n",
					rf->name, lineno,
					stable ? "stable" : "unstable");
				free(spj);
				json_decref(v);
				ret = -1;
				break;
			}
			pthread_rwlock_wrlock(&rf->lock);
			if (stable) {
				struct replay_range *nr =
					realloc(rf->ranges, (rf->nr_ranges +
							     1) * sizeof(*nr));

				if (nr) {
					rf->ranges = nr;
					nr[rf->nr_ranges++] =
						(struct replay_range){
							st, en, spj, lineno};
					spj = NULL;
				}
			} else {
				replay_unstable(rf, st, en);
			}
			pthread_rwlock_unlock(&rf->lock);
			free(spj);
			json_decref(v);
			continue;
		}
		exp = json_object_get(v, "expect");
		json_incref(exp);
		json_object_del(v, "expect");
		if (json_is_integer(json_object_get(v, "repeat"))) {
			repeat = json_integer_value(
				json_object_get(v, "repeat"));
			json_object_del(v, "repeat");
		}
		if (!json_object_get(v, "jsonrpc"))
			json_object_set_new(v, "jsonrpc", json_string("2.0"));
		params = json_object_get(v, "params");
		if (json_object_get(params, "space")) {
			free(cur_space);
			cur_space = json_dumps(json_object_get(params, "space"),
					       JSON_ENCODE_ANY);
		}
		for (k = 0; k < repeat; k++) {
			json_t *resp;
			char path[512] = "";

			json_object_set_new(v, "id", json_integer(id++));
			ret = vmc_send_json(conn, v);
			if (!ret)
				ret = vmc_recv_json(conn, &resp);
			if (ret) {
				pthread_mutex_lock(&rf->print_lock);
				replay_clear_progress(rf);
				fprintf(stderr,
					"%s:%d: no response from %s: %s\n",
					rf->name, lineno, rf->socket,
					ret == -EAGAIN ? "timed out"
						       : strerror(-ret));
				pthread_mutex_unlock(&rf->print_lock);
				ret = -1;
				break;
			}
			rf->requests++;
			if (exp &&
			    !replay_match(exp, resp, path, sizeof(path))) {
				char why[600];

				snprintf(why, sizeof(why),
					 "expectation failed at %s",
					 *path ? path : "(top)");
				rf->failures++;
				replay_fail(rf, lineno, why, v, exp, resp);
			}
			json_decref(resp);
		}
		json_decref(exp);
		json_decref(v);
		if (ret)
			break;
	}
	free(cur_space);
	replay_clear_progress(rf);
	return ret;
}

static char *replay_read_file(const char *name)
{
	FILE *f = fopen(name, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 65536) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n);
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[len] = 0;
	return buf;
}

/* Find the daemon for --spawn; see the help text for the order. */
static int replay_find_vmad(const char *opt, char *buf, size_t len)
{
	char self[PATH_MAX], *dir;
	ssize_t n;

	if (opt) {
		snprintf(buf, len, "%s", opt);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		dir = dirname(self);
		snprintf(buf, len, "%s/../daemon/vmad", dir);
		if (!access(buf, X_OK))
			return 0;
		snprintf(buf, len, "%s/vmad", dir);
		if (!access(buf, X_OK))
			return 0;
	}
	snprintf(buf, len, "vmad");
	return 0;
}

struct replay_daemon {
	pid_t pid;
	char dir[256];
	char socket[300];
	char log[300];
};

static void replay_print_log(const char *log)
{
	char *text = replay_read_file(log);

	if (text && *text)
		fprintf(stderr, "--- daemon output ---\n%s--- end ---\n", text);
	free(text);
}

/* Start a private daemon; returns 0 when its socket accepts connections. */
static int replay_spawn(struct replay_daemon *d, const char *vmad, int timeout)
{
	uint64_t deadline;
	int status;

	snprintf(d->dir, sizeof(d->dir), "/tmp/vma-replay.XXXXXX");
	if (!mkdtemp(d->dir)) {
		fprintf(stderr, "vma-replay: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(d->socket, sizeof(d->socket), "%s/sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
	d->pid = fork();
	if (d->pid < 0) {
		fprintf(stderr, "vma-replay: fork: %s\n", strerror(errno));
		return -1;
	}
	if (!d->pid) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		if (strchr(vmad, '/'))
			execl(vmad, vmad, "--socket", d->socket, (char *)NULL);
		else
			execlp(vmad, vmad, "--socket", d->socket, (char *)NULL);
		fprintf(stderr, "vma-replay: cannot run %s: %s\n", vmad,
			strerror(errno));
		_exit(127);
	}
	deadline = vmc_now_ns() + (uint64_t)timeout * 1000000000ull;
	while (vmc_now_ns() < deadline) {
		struct vmc_conn c;
		struct timespec ts = {0, 5000000};

		if (!vmc_connect(&c, d->socket)) {
			vmc_close(&c);
			return 0;
		}
		vmc_close(&c);
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			fprintf(stderr,
				"vma-replay: daemon %s exited before "
				"listening (status %d)\n",
				vmad, status);
			replay_print_log(d->log);
			d->pid = 0;
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "vma-replay: daemon %s did not listen on %s\n", vmad,
		d->socket);
	replay_print_log(d->log);
	return -1;
}

/*
 * Stop the daemon with SIGTERM. Returns 0 if it exited with status 0, -1
 * otherwise (its log is printed).
 */
static int replay_reap(struct replay_daemon *d)
{
	uint64_t deadline = vmc_now_ns() + 10000000000ull;
	int status = 0, ret = 0;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (;;) {
			pid_t p = waitpid(d->pid, &status, WNOHANG);
			struct timespec ts = {0, 2000000};

			if (p == d->pid)
				break;
			if (vmc_now_ns() > deadline) {
				fprintf(stderr,
					"vma-replay: daemon did not "
					"stop on SIGTERM; killing it\n");
				kill(d->pid, SIGKILL);
				waitpid(d->pid, &status, 0);
				ret = -1;
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (!ret && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			fprintf(stderr,
				"vma-replay: daemon exited abnormally (%s "
				"%d)\n",
				WIFSIGNALED(status) ? "signal" : "status",
				WIFSIGNALED(status) ? WTERMSIG(status)
						    : WEXITSTATUS(status));
			ret = -1;
		}
		if (ret)
			replay_print_log(d->log);
	}
	unlink(d->socket);
	unlink(d->log);
	rmdir(d->dir);
	return ret;
}

static void replay_file_run(struct replay_file *rf, const struct replay_opts *o)
{
	struct replay_reader *readers = NULL;
	struct replay_daemon d = {0};
	struct vmc_conn conn = {.fd = -1};
	uint64_t t0 = vmc_now_ns();
	char vmad[PATH_MAX];
	char *text;
	int i, ret;

	text = replay_read_file(rf->name);
	if (!text) {
		fprintf(stderr, "vma-replay: %s: %s\n", rf->name,
			strerror(errno));
		rf->broken = true;
		return;
	}
	if (o->spawn) {
		replay_find_vmad(o->vmad, vmad, sizeof(vmad));
		if (replay_spawn(&d, vmad, o->timeout)) {
			rf->broken = true;
			replay_reap(&d);
			free(text);
			return;
		}
		snprintf(rf->socket, sizeof(rf->socket), "%s", d.socket);
	}
	ret = vmc_connect(&conn, rf->socket);
	if (ret) {
		fprintf(stderr, "vma-replay: cannot reach vmad at %s: %s\n",
			rf->socket, vmc_strerror(ret));
		rf->broken = true;
		goto out;
	}
	replay_set_timeout(conn.fd, o->timeout);
	if (o->readers > 0) {
		readers = calloc((size_t)o->readers, sizeof(*readers));
		for (i = 0; i < o->readers; i++) {
			readers[i].rf = rf;
			readers[i].idx = i + 1;
			pthread_create(&readers[i].thread, NULL,
				       replay_reader_main, &readers[i]);
		}
	}
	if (o->report || o->pipeline) {
		struct replay_trace_opts to = {.pipeline = o->pipeline,
					       .quiet = o->quiet};

		if (replay_trace_run(rf->name, text, &conn, &to, &rf->trace))
			rf->broken = true;
		if (rf->trace) {
			rf->requests = (unsigned long long)json_integer_value(
				json_object_get(rf->trace, "requests"));
			rf->failures = (unsigned long long)json_integer_value(
				json_object_get(rf->trace, "mismatched"));
		}
	} else if (replay_lines(rf, &conn, text)) {
		rf->broken = true;
	}
	atomic_store(&rf->stop, true);
	for (i = 0; readers && i < o->readers; i++)
		pthread_join(readers[i].thread, NULL);
	if (atomic_load(&rf->reader_errors) && atomic_load(&rf->checks) == 0)
		rf->broken = true;
	free(readers);
	vmc_close(&conn);
out:
	if (o->spawn && replay_reap(&d))
		rf->daemon_failed = true;
	rf->elapsed = replay_seconds(vmc_now_ns() - t0);
	free(text);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"spawn", no_argument, NULL, 'S'},
		{"vmad", required_argument, NULL, 'v'},
		{"readers", required_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"report", no_argument, NULL, 'R'},
		{"pipeline", no_argument, NULL, 'P'},
		{"server-uid", required_argument, NULL, 'U'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct replay_opts o = {.timeout = 30};
	unsigned long long requests = 0, failures = 0, checks = 0, unmapped = 0;
	bool broken = false, failed = false;
	json_t *report = NULL, *files = NULL;
	char socket[4096];
	uint64_t t0;
	int c, i;

	while ((c = getopt_long(argc, argv, "s:c:Sr:t:jqRPhV", lopts, NULL)) !=
	       -1) {
		uint64_t v;

		switch (c) {
		case 's':
			o.socket = optarg;
			break;
		case 'c':
			o.config = optarg;
			break;
		case 'S':
			o.spawn = true;
			break;
		case 'U':
			if (vmc_trust_server_uid(optarg)) {
				fprintf(stderr,
					"vma-replay: --server-uid: invalid uid "
					"'%s'\n",
					optarg);
				return VMC_EXIT_USAGE;
			}
			break;
		case 'v':
			o.vmad = optarg;
			o.spawn = true;
			break;
		case 'r':
			if (vmc_parse_u64(optarg, &v) || v > 256) {
				fprintf(stderr,
					"vma-replay: bad --readers "
					"'%s' (0..256)\n",
					optarg);
				return VMC_EXIT_USAGE;
			}
			o.readers = (int)v;
			break;
		case 't':
			if (vmc_parse_u64(optarg, &v) || !v || v > 3600) {
				fprintf(stderr,
					"vma-replay: bad --timeout "
					"'%s'\n",
					optarg);
				return VMC_EXIT_USAGE;
			}
			o.timeout = (int)v;
			break;
		case 'j':
			o.json = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'R':
			o.report = true;
			break;
		case 'P':
			o.pipeline = true;
			break;
		case 'h':
			fputs(replay_help, stdout);
			return 0;
		case 'V':
			printf("vma-replay %s\n", VMAD_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'vma-replay --help'.\n");
			return VMC_EXIT_USAGE;
		}
	}
	if (o.pipeline && o.readers) {
		fprintf(stderr, "vma-replay: --pipeline cannot run with "
				"--readers\n");
		return VMC_EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "vma-replay: no scenario file\n"
				"Try 'vma-replay --help'.\n");
		return VMC_EXIT_USAGE;
	}
	if (!o.spawn &&
	    vmc_socket_path(o.socket, o.config, socket, sizeof(socket))) {
		fprintf(stderr, "vma-replay: cannot determine the socket "
				"path\n");
		return VMC_EXIT_USAGE;
	}
	if (o.json) {
		report = json_object();
		files = json_array();
	}
	t0 = vmc_now_ns();
	for (i = optind; i < argc; i++) {
		struct replay_file rf = {.name = argv[i], .timeout = o.timeout};
		size_t k;

		pthread_rwlockattr_t ra;

		/* Writer preference: "unstable" must not starve behind
		 * readers that re-take the lock back to back. */
		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(
			&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&rf.lock, &ra);
		pthread_rwlockattr_destroy(&ra);
		pthread_mutex_init(&rf.print_lock, NULL);
		rf.progress = !o.json && isatty(STDOUT_FILENO);
		if (o.json)
			rf.errors = json_array();
		if (!o.spawn)
			snprintf(rf.socket, sizeof(rf.socket), "%s", socket);
		replay_file_run(&rf, &o);
		requests += rf.requests;
		failures += rf.failures;
		checks += atomic_load(&rf.checks);
		unmapped += atomic_load(&rf.unmapped);
		broken |= rf.broken;
		failed |= rf.failures || atomic_load(&rf.unmapped) ||
			  rf.daemon_failed;
		if (rf.trace && !o.json)
			replay_trace_print(rf.trace);
		if (rf.trace && o.json) {
			json_object_set(rf.trace, "passed",
					json_boolean(!rf.broken &&
						     !rf.failures &&
						     !rf.daemon_failed));
			json_array_append(files, rf.trace);
		}
		if (!o.json && !o.quiet && !rf.trace) {
			const char *verdict =
				rf.broken ? "ERROR"
				: rf.failures || atomic_load(&rf.unmapped) ||
						rf.daemon_failed
					? "FAIL"
					: "ok";

			printf("%-5s %s: %llu requests, %llu failed", verdict,
			       rf.name, rf.requests, rf.failures);
			if (o.readers)
				printf(", %llu reader checks, %llu unmapped",
				       (unsigned long long)atomic_load(
					       &rf.checks),
				       (unsigned long long)atomic_load(
					       &rf.unmapped));
			printf(", %.3f s\n", rf.elapsed);
		}
		if (o.json && !rf.trace)
			json_array_append_new(
				files,
				json_pack("{s:s, s:b, s:b, s:I, s:I, s:I, "
					  "s:I, s:b, s:f, s:o}",
					  "file", rf.name, "passed",
					  !rf.broken && !rf.failures &&
						  !atomic_load(&rf.unmapped) &&
						  !rf.daemon_failed,
					  "broken", rf.broken, "requests",
					  (json_int_t)rf.requests, "failures",
					  (json_int_t)rf.failures,
					  "reader_checks",
					  (json_int_t)atomic_load(&rf.checks),
					  "unmapped",
					  (json_int_t)atomic_load(&rf.unmapped),
					  "daemon_failed", rf.daemon_failed,
					  "elapsed_s", rf.elapsed, "errors",
					  rf.errors));
		json_decref(rf.trace);
		if (rf.trace)
			json_decref(rf.errors);
		for (k = 0; k < rf.nr_ranges; k++)
			free(rf.ranges[k].space);
		free(rf.ranges);
		pthread_rwlock_destroy(&rf.lock);
		pthread_mutex_destroy(&rf.print_lock);
	}
	if (o.json) {
		json_object_set_new(report, "files", files);
		json_object_set_new(report, "requests",
				    json_integer((json_int_t)requests));
		json_object_set_new(report, "failures",
				    json_integer((json_int_t)failures));
		json_object_set_new(report, "readers", json_integer(o.readers));
		json_object_set_new(report, "reader_checks",
				    json_integer((json_int_t)checks));
		json_object_set_new(report, "unmapped",
				    json_integer((json_int_t)unmapped));
		json_object_set_new(
			report, "elapsed_s",
			json_real(replay_seconds(vmc_now_ns() - t0)));
		json_object_set_new(report, "passed",
				    json_boolean(!broken && !failed));
		/* Ten digits print a millisecond count exactly. */
		json_dumpf(report, stdout,
			   JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		putchar('\n');
		json_decref(report);
	} else {
		printf("vma-replay: %d files, %llu requests, %llu failed "
		       "expectations, %llu reader checks, %llu stable "
		       "addresses seen unmapped, %.3f s: %s\n",
		       argc - optind, requests, failures, checks, unmapped,
		       replay_seconds(vmc_now_ns() - t0),
		       broken	? "ERROR"
		       : failed ? "FAILED"
				: "passed");
	}
	return broken ? VMC_EXIT_USAGE : failed ? VMC_EXIT_FAIL : VMC_EXIT_OK;
}
