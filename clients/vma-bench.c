// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vma-bench - load generator for vmad
 *
 * Shape: a few client threads, each running an epoll loop over its share of
 * the connections. Requests are formatted with snprintf straight into a
 * per-connection output buffer and responses are cut out of the input
 * stream at their newlines without being parsed (an error response is
 * recognised by its "error" member after the id), so the steady state does
 * not allocate. Responses come back in request order, so each connection
 * keeps a ring of (operation, send time) for its requests in flight.
 *
 * Closed loop (default): every connection keeps --pipeline requests in
 * flight. Open loop (--rate R): each thread sends at R/threads requests/s on
 * a timerfd tick, whatever the responses do, and latency is measured from
 * the intended send time, so a slow daemon cannot hide its queueing delay
 * (no coordinated omission). The tick is at least 100 us: on virtual
 * machines a wake-up costs tens of microseconds of CPU, so finer ticks made
 * the client, not the daemon, the bottleneck.
 *
 * Operations: fault and lookup hit random pages of --vmas stable VMAs per
 * space; mmap and munmap alternate on one page slot private to the
 * connection (mmap uses fixed_noreplace, so their weights are summed and
 * they take turns); mprotect toggles the middle page of a random stable VMA
 * between r and rw (splitting it into three and merging it back); fixed
 * cuts an 8-page zone private to the connection into 8 VMAs with 4
 * mprotects (reported as "fixed_prep") and then maps over all of them with
 * one MAP_FIXED ("fixed").
 *
 * Latencies go into log-linear histograms (32 sub-buckets per power of two,
 * about 3% resolution) per thread and operation, merged at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <jansson.h>

#include "vmc.h"

static const char bench_help[] =
	"NAME\n"
	"    vma-bench - measure vmad's throughput and latency end to end\n"
	"\n"
	"SYNOPSIS\n"
	"    vma-bench [OPTIONS]\n"
	"\n"
	"DESCRIPTION\n"
	"    vma-bench creates --spaces address spaces with --vmas VMAs each,\n"
	"    opens --connections connections spread over --threads client\n"
	"    threads, and sends a mix of requests for --duration seconds (or\n"
	"    --requests requests) after a --warmup period that is not "
	"counted.\n"
	"    It prints a live progress line on a terminal, then the "
	"throughput\n"
	"    and the latency percentiles (p50, p90, p99, p99.9, max) overall\n"
	"    and per operation, the client's CPU time (getrusage) and, with\n"
	"    --daemon-pid, the daemon's CPU time over the same interval.\n"
	"\n"
	"    Operations (--mix NAME=WEIGHT,...):\n"
	"      fault     fault a random page of a stable VMA (--access)\n"
	"      lookup    look up a random address of a stable VMA\n"
	"      mmap, munmap\n"
	"                map / unmap one page in a slot private to the\n"
	"                connection; the two alternate, so their weights add "
	"up\n"
	"      mprotect  toggle the middle page of a stable VMA between r and\n"
	"                rw (split into three, merge back)\n"
	"      fixed     cut an 8-page zone into 8 VMAs with 4 mprotects\n"
	"                (reported as fixed_prep), then MAP_FIXED over all 8\n"
	"      mremap    move the connection's mapped slot page to the other\n"
	"                end of its slot (MREMAP_MAYMOVE|MREMAP_FIXED) and\n"
	"                back; where the slot is unmapped, map it (mmap)\n"
	"\n"
	"    Closed loop by default: each connection keeps --pipeline "
	"requests\n"
	"    in flight. With --rate the load is open loop: requests are sent "
	"at\n"
	"    a fixed rate, in batches on a timer tick of at least 100 us, and\n"
	"    latency counts from each request's intended send time.\n"
	"\n"
	"OPTIONS\n"
	"    -s, --socket PATH      Socket of the daemon.\n"
	"        --config FILE      Read the socket path from FILE.\n"
	"        --server-uid UID   Also trust a daemon running as UID.\n"
	"    -c, --connections N    Connections (default 4).\n"
	"    -p, --pipeline N       Requests in flight per connection, 1..256\n"
	"                           (default 1). With --rate: requests sent\n"
	"                           to one connection in a row.\n"
	"    -t, --threads N        Client threads (default 2, at most one "
	"per\n"
	"                           connection).\n"
	"    -m, --mix SPEC         Operation mix (default fault=1).\n"
	"        --spaces N         Address spaces (default 1).\n"
	"        --vmas N           Stable VMAs per space (default 64).\n"
	"        --access A         read, write or exec for fault (default "
	"read).\n"
	"    -d, --duration SEC     Measured time (default 5).\n"
	"    -n, --requests N       Stop after N measured requests instead.\n"
	"    -w, --warmup SEC       Unmeasured time first (default 1).\n"
	"    -R, --rate R           Open loop at R requests/s in total.\n"
	"        --mutators N       Extra connections (1 in flight each) "
	"running\n"
	"                           --mutator-mix on the same spaces (default "
	"0).\n"
	"        --mutator-mix SPEC Default mmap=1,munmap=1,fixed=1.\n"
	"        --daemon-pid PID   Report the daemon's CPU time "
	"(/proc/PID/stat).\n"
	"        --keep             Do not destroy the spaces at the end.\n"
	"    -j, --json             Print one JSON object with the results.\n"
	"    -h, --help             Print this help.\n"
	"    -V, --version          Print the version.\n"
	"\n"
	"    If the daemon goes away during the run (a connection is closed\n"
	"    or reset), sending stops at once: the figures cover the time\n"
	"    actually measured, up to the first broken connection; requests\n"
	"    left unanswered are counted as lost (and as errors); the failure\n"
	"    is printed (\"failed\" and \"failure\" with --json), and the "
	"exit\n"
	"    status is 2.\n"
	"\n"
	"EXIT STATUS\n"
	"    0   The run completed (error responses are counted, not fatal).\n"
	"    1   The setup failed (the daemon refused to create spaces/VMAs).\n"
	"    2   Usage error, or the daemon cannot be reached or went away.\n"
	"\n"
	"ENVIRONMENT\n"
	"    VMAD_SOCKET, VMAD_CONFIG, VMAD_SERVER_UID, XDG_RUNTIME_DIR\n"
	"                           As for vmactl.\n"
	"\n"
	"SOCKET\n" VMC_HELP_SOCKET "\n"
	"EXAMPLES\n"
	"    vma-bench -c 50 -p 1 -d 5\n"
	"    vma-bench -c 50 -p 32 -d 5 --json\n"
	"    vma-bench -c 50 -R 50000 -d 5\n"
	"    vma-bench -c 8 --mix fault=90,lookup=5,mprotect=5 --mutators 1\n";

enum bench_op {
	OP_FAULT,
	OP_LOOKUP,
	OP_MMAP,
	OP_MUNMAP,
	OP_MPROTECT,
	OP_FIXED,
	OP_MREMAP,
	OP_FIXED_PREP, /* after every op a --mix may name */
	NR_OPS,
};

static const char *const bench_op_names[NR_OPS] = {
	"fault",    "lookup", "mmap",	"munmap",
	"mprotect", "fixed",  "mremap", "fixed_prep",
};

#define BENCH_RING   256 /* max pipeline depth */
#define BENCH_OUTCAP (BENCH_RING * 512)
#define BENCH_INCAP  (BENCH_RING * 1024)
#define BENCH_HBITS  5
#define BENCH_HSUB   (1 << BENCH_HBITS)
#define BENCH_HSIZE  (64 * BENCH_HSUB)
#define PAGE	     4096ull
#define VMA_PAGES    16ull
#define STABLE_BASE  0x100000000ull
#define SCRATCH_BASE 0x400000000ull
#define SCRATCH_SIZE 0x100000ull
#define ZONE_OFF     0x10000ull

struct bench_hist {
	uint64_t count;
	uint64_t errors;
	uint64_t max;
	double sum;
	uint64_t b[BENCH_HSIZE];
};

struct bench_opts {
	char socket[4096];
	int connections, pipeline, threads, spaces, vmas, mutators;
	double duration, warmup, rate;
	uint64_t requests;
	int mix[NR_OPS], mix_total;
	int mmix[NR_OPS], mmix_total;
	const char *access;
	int daemon_pid;
	bool json, keep;
};

struct bench_conn {
	int fd;
	int idx;
	long long space; /* id */
	bool mutator;
	uint64_t scratch;
	uint64_t slot_addr; /* where the slot's page is while mapped */
	bool slot_mapped;
	int fixed_step;
	uint64_t rnd;
	unsigned int id;
	/* in-flight ring */
	uint64_t sent[BENCH_RING];
	uint8_t op[BENCH_RING];
	unsigned int head, tail;
	/* output */
	char *out;
	size_t out_len, out_off;
	bool want_out;
	/* input: responses end at their newline (PROTOCOL.md, Framing) */
	char *in;
	size_t in_start, in_len;
};

struct bench_thread {
	pthread_t thread;
	int idx;
	struct bench_conn *conns;
	int nr_conns;
	struct bench_hist hist[NR_OPS];
	atomic_ullong done;
	int failed;    /* negative errno when a connection broke */
	uint64_t lost; /* measured requests left unanswered by a failure */
};

static struct bench_opts bo;
static long long *bench_space_ids;
static uint64_t bench_t_start, bench_t_measure, bench_t_end;
static atomic_bool bench_stop_sending;
static atomic_ullong bench_measured; /* sent after the warm-up (-n mode) */
static atomic_ullong bench_t_fail;   /* when the first connection broke */

static unsigned int bench_hidx(uint64_t v)
{
	unsigned int k;

	if (v < 2 * BENCH_HSUB)
		return (unsigned int)v;
	k = 63 - (unsigned int)__builtin_clzll(v);
	return (k - BENCH_HBITS) * BENCH_HSUB +
	       (unsigned int)(v >> (k - BENCH_HBITS));
}

static double bench_hval(unsigned int i)
{
	unsigned int k, m;

	if (i < 2 * BENCH_HSUB)
		return i;
	k = i / BENCH_HSUB - 1 + BENCH_HBITS;
	m = i % BENCH_HSUB + BENCH_HSUB;
	/* middle of the bucket */
	return ((double)m + 0.5) * (double)(1ull << (k - BENCH_HBITS));
}

static void bench_record(struct bench_hist *h, uint64_t ns, bool err)
{
	unsigned int i = bench_hidx(ns);

	if (i >= BENCH_HSIZE)
		i = BENCH_HSIZE - 1;
	h->b[i]++;
	h->count++;
	h->errors += err;
	h->sum += (double)ns;
	if (ns > h->max)
		h->max = ns;
}

static void bench_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	unsigned int i;

	for (i = 0; i < BENCH_HSIZE; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->errors += src->errors;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* Percentile @p (0..100) in microseconds. */
static double bench_pct(const struct bench_hist *h, double p)
{
	uint64_t want, seen = 0;
	unsigned int i;

	if (!h->count)
		return 0;
	want = (uint64_t)ceil((double)h->count * p / 100.0);
	if (!want)
		want = 1;
	for (i = 0; i < BENCH_HSIZE; i++) {
		seen += h->b[i];
		if (seen >= want) {
			double v = bench_hval(i);

			return (v > (double)h->max ? (double)h->max : v) / 1e3;
		}
	}
	return (double)h->max / 1e3;
}

static uint64_t bench_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static enum bench_op bench_pick(struct bench_conn *c)
{
	const int *mix = c->mutator ? bo.mmix : bo.mix;
	int total = c->mutator ? bo.mmix_total : bo.mix_total;
	int r = (int)(bench_rand(&c->rnd) % (uint64_t)total), op;

	for (op = 0; op < NR_OPS; op++) {
		if (r < mix[op])
			break;
		r -= mix[op];
	}
	if (op == OP_MMAP || op == OP_MUNMAP)
		op = c->slot_mapped ? OP_MUNMAP : OP_MMAP;
	if (op == OP_MREMAP && !c->slot_mapped)
		op = OP_MMAP;
	if (op == OP_FIXED && c->fixed_step < 4)
		op = OP_FIXED_PREP;
	return (enum bench_op)op;
}

static uint64_t bench_stable_addr(struct bench_conn *c, uint64_t *vma)
{
	uint64_t r = bench_rand(&c->rnd);

	*vma = STABLE_BASE + (r % (uint64_t)bo.vmas) * 2 * VMA_PAGES * PAGE;
	return *vma + ((r >> 32) % VMA_PAGES) * PAGE + ((r >> 8) & 0xff8);
}

/* Append one request to @c's output; returns its operation. */
static enum bench_op bench_gen(struct bench_conn *c)
{
	enum bench_op op = bench_pick(c);
	char *p = c->out + c->out_len;
	size_t room = BENCH_OUTCAP - c->out_len;
	uint64_t vma, a;
	int n = 0;

	switch (op) {
	case OP_FAULT:
		a = bench_stable_addr(c, &vma);
		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"fault\",\"params\":{\"space\":%lld,\"addr\":"
			     "%llu,\"access\":\"%s\"}}\n",
			     c->id, c->space, (unsigned long long)a, bo.access);
		break;
	case OP_LOOKUP:
		a = bench_stable_addr(c, &vma);
		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"lookup\",\"params\":{\"space\":%lld,\"addr\":"
			     "%llu}}\n",
			     c->id, c->space, (unsigned long long)a);
		break;
	case OP_MMAP:
		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"mmap\",\"params\":{\"space\":%lld,\"addr\":"
			     "%llu,\"length\":4096,\"prot\":\"rw\",\"flags\":"
			     "[\"private\",\"anonymous\",\"fixed_noreplace\"]"
			     "}}\n",
			     c->id, c->space, (unsigned long long)c->scratch);
		c->slot_mapped = true;
		c->slot_addr = c->scratch;
		break;
	case OP_MUNMAP:
		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"munmap\",\"params\":{\"space\":%lld,\"addr\":"
			     "%llu,\"length\":4096}}\n",
			     c->id, c->space, (unsigned long long)c->slot_addr);
		c->slot_mapped = false;
		break;
	case OP_MREMAP: {
		/* Between the slot's first page and its last below the
		 * fixed zone. */
		uint64_t to = c->slot_addr == c->scratch
				      ? c->scratch + ZONE_OFF - PAGE
				      : c->scratch;

		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"mremap\",\"params\":{\"space\":%lld,"
			     "\"old_addr\":%llu,\"old_length\":4096,"
			     "\"new_length\":4096,\"flags\":[\"maymove\","
			     "\"fixed\"],\"new_addr\":%llu}}\n",
			     c->id, c->space, (unsigned long long)c->slot_addr,
			     (unsigned long long)to);
		c->slot_addr = to;
		break;
	}
	case OP_MPROTECT:
		bench_stable_addr(c, &vma);
		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"mprotect\",\"params\":{\"space\":%lld,\"addr\":"
			     "%llu,\"length\":4096,\"prot\":\"%s\"}}\n",
			     c->id, c->space,
			     (unsigned long long)(vma + VMA_PAGES / 2 * PAGE),
			     bench_rand(&c->rnd) & 1 ? "r" : "rw");
		break;
	case OP_FIXED_PREP:
		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"mprotect\",\"params\":{\"space\":%lld,\"addr\":"
			     "%llu,\"length\":4096,\"prot\":\"r\"}}\n",
			     c->id, c->space,
			     (unsigned long long)(c->scratch + ZONE_OFF +
						  2 * (uint64_t)c->fixed_step *
							  PAGE));
		c->fixed_step++;
		break;
	case OP_FIXED:
		n = snprintf(p, room,
			     "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":"
			     "\"mmap\",\"params\":{\"space\":%lld,\"addr\":"
			     "%llu,\"length\":32768,\"prot\":\"rw\",\"flags\":"
			     "[\"private\",\"anonymous\",\"fixed\"]}}\n",
			     c->id, c->space,
			     (unsigned long long)(c->scratch + ZONE_OFF));
		c->fixed_step = 0;
		break;
	default:
		break;
	}
	c->id++;
	c->out_len += (size_t)n;
	return op;
}

/* Queue one request with intended send time @t. */
static void bench_queue(struct bench_conn *c, uint64_t t)
{
	enum bench_op op = bench_gen(c);

	c->op[c->head % BENCH_RING] = (uint8_t)op;
	c->sent[c->head % BENCH_RING] = t;
	c->head++;
}

static unsigned int bench_inflight(const struct bench_conn *c)
{
	return c->head - c->tail;
}

static int bench_flush(int ep, struct bench_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			if (!c->want_out) {
				struct epoll_event ev = {
					.events = EPOLLIN | EPOLLOUT,
					.data.ptr = c,
				};

				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				c->want_out = true;
			}
			return 0;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	if (c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->want_out = false;
	}
	return 0;
}

static bool bench_may_send(void)
{
	if (atomic_load_explicit(&bench_stop_sending, memory_order_relaxed))
		return false;
	return true;
}

/* Count a request towards -n; false once the budget is spent. */
static bool bench_take_budget(uint64_t now)
{
	if (!bo.requests || now < bench_t_measure)
		return true;
	if (atomic_fetch_add(&bench_measured, 1) >= bo.requests) {
		atomic_store(&bench_stop_sending, true);
		return false;
	}
	return true;
}

/* Closed loop: refill @c up to its depth. */
static void bench_refill(struct bench_conn *c, uint64_t now)
{
	unsigned int depth = c->mutator ? 1 : (unsigned int)bo.pipeline;

	while (bench_inflight(c) < depth && bench_may_send() &&
	       c->out_len + 512 < BENCH_OUTCAP && bench_take_budget(now))
		bench_queue(c, now);
}

/*
 * Read what the socket holds and account every complete response. vmad
 * ends each response with a newline and never puts one inside (strings
 * escape it), so responses are cut with memchr, without a JSON scanner:
 * the load generator must cost less than the daemon it measures.
 */
static int bench_read(struct bench_thread *t, struct bench_conn *c)
{
	for (;;) {
		size_t avail;
		ssize_t n;
		uint64_t now;
		char *nl;

		if (c->in_start) {
			memmove(c->in, c->in + c->in_start,
				c->in_len - c->in_start);
			c->in_len -= c->in_start;
			c->in_start = 0;
		}
		avail = BENCH_INCAP - c->in_len;
		if (!avail)
			return -EPROTO; /* a response larger than the buffer */
		n = recv(c->fd, c->in + c->in_len, avail, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		c->in_len += (size_t)n;
		now = vmc_now_ns();
		while ((nl = memchr(c->in + c->in_start, '\n',
				    c->in_len - c->in_start))) {
			const char *val = c->in + c->in_start;
			size_t len = (size_t)(nl - val);
			unsigned int slot = c->tail % BENCH_RING;
			bool err;

			c->in_start += len + 1;
			if (c->tail == c->head)
				return -EPROTO; /* unsolicited response */
			c->tail++;
			/* "error" follows the (numeric) id at the start. */
			err = memmem(val, len < 64 ? len : 64, "\"error\"",
				     7) != NULL;
			if (c->sent[slot] >= bench_t_measure &&
			    c->sent[slot] < bench_t_end) {
				bench_record(&t->hist[c->op[slot]],
					     now - c->sent[slot], err);
				atomic_fetch_add_explicit(&t->done, 1,
							  memory_order_relaxed);
			}
		}
		if (c->in_start == c->in_len)
			c->in_start = c->in_len = 0;
		if ((size_t)n < avail)
			return 0;
	}
}

static void *bench_thread_main(void *arg)
{
	struct bench_thread *t = arg;
	struct epoll_event evs[64];
	int ep = epoll_create1(EPOLL_CLOEXEC), tfd = -1, i, rr = 0, burst = 0;
	uint64_t next_send = 0, interval = 0, stop_deadline = 0;
	double rate = bo.rate / bo.threads;

	for (i = 0; i < t->nr_conns; i++) {
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.ptr = &t->conns[i]};

		epoll_ctl(ep, EPOLL_CTL_ADD, t->conns[i].fd, &ev);
	}
	if (bo.rate > 0) {
		struct itimerspec its = {0};
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		interval = (uint64_t)(1e9 / rate);
		if (!interval)
			interval = 1;
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
		its.it_interval.tv_nsec = interval < 100000 ? 100000 : interval;
		if (its.it_interval.tv_nsec >= 1000000000)
			its.it_interval.tv_nsec = 999999999;
		its.it_value = its.it_interval;
		timerfd_settime(tfd, 0, &its, NULL);
		epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
		next_send = vmc_now_ns();
	}
	/* Prime: closed-loop connections and mutators fill their pipelines. */
	for (i = 0; i < t->nr_conns; i++) {
		struct bench_conn *c = &t->conns[i];

		if (bo.rate <= 0 || c->mutator)
			bench_refill(c, vmc_now_ns());
		if (bench_flush(ep, c) < 0)
			t->failed = -EPIPE;
	}
	while (!t->failed) {
		int n = epoll_wait(ep, evs, 64, 50), k;
		uint64_t now = vmc_now_ns();
		bool idle = true;

		if (now >= bench_t_end)
			atomic_store(&bench_stop_sending, true);
		for (k = 0; k < n; k++) {
			struct bench_conn *c = evs[k].data.ptr;
			int ret;

			if (!c) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				continue;
			}
			if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				ret = bench_read(t, c);
				if (ret < 0) {
					t->failed = ret;
					break;
				}
			}
			if (bo.rate <= 0 || c->mutator)
				bench_refill(c, now);
			if (bench_flush(ep, c) < 0) {
				t->failed = -EPIPE;
				break;
			}
		}
		if (bo.rate > 0 && bench_may_send()) {
			/* Open loop: send everything that is due. */
			while (next_send <= now && bench_may_send()) {
				struct bench_conn *c = NULL;
				int tries;

				/*
				 * Round robin; with --pipeline N, up to N
				 * requests in a row go to one connection (a
				 * pipelining client in open loop).
				 */
				for (tries = 0; tries <= t->nr_conns; tries++) {
					struct bench_conn *x =
						&t->conns[rr % t->nr_conns];

					if (burst < bo.pipeline &&
					    !x->mutator &&
					    bench_inflight(x) < BENCH_RING &&
					    x->out_len + 512 < BENCH_OUTCAP) {
						c = x;
						burst++;
						break;
					}
					rr++;
					burst = 0;
				}
				if (!c || !bench_take_budget(next_send))
					break; /* saturated: keep the debt */
				bench_queue(c, next_send);
				next_send += interval;
			}
			for (i = 0; i < t->nr_conns; i++)
				if (t->conns[i].out_len &&
				    bench_flush(ep, &t->conns[i]) < 0)
					t->failed = -EPIPE;
		}
		for (i = 0; i < t->nr_conns; i++)
			if (bench_inflight(&t->conns[i]))
				idle = false;
		if (!bench_may_send()) {
			if (!stop_deadline)
				stop_deadline = now + 5000000000ull;
			if (idle || now > stop_deadline)
				break;
		}
	}
	if (t->failed) {
		uint64_t zero = 0;

		/* The first failure ends the measured window for everyone. */
		atomic_compare_exchange_strong(&bench_t_fail, &zero,
					       vmc_now_ns());
		atomic_store(&bench_stop_sending, true);
		for (i = 0; i < t->nr_conns; i++) {
			struct bench_conn *c = &t->conns[i];
			unsigned int k;

			for (k = c->tail; k != c->head; k++) {
				uint64_t sent = c->sent[k % BENCH_RING];

				if (sent >= bench_t_measure &&
				    sent < bench_t_end)
					t->lost++;
			}
		}
	}
	if (tfd >= 0)
		close(tfd);
	close(ep);
	return NULL;
}

static int bench_parse_mix(const char *spec, int *mix, int *total)
{
	char *copy = strdup(spec), *tok, *save;
	int ret = 0;

	memset(mix, 0, sizeof(int) * NR_OPS);
	*total = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		long w = 1;
		int op;

		if (eq) {
			*eq++ = 0;
			w = strtol(eq, NULL, 10);
		}
		for (op = 0; op < OP_FIXED_PREP; op++)
			if (!strcmp(tok, bench_op_names[op]))
				break;
		if (op == OP_FIXED_PREP || w < 0 || w > 1000000) {
			ret = -EINVAL;
			break;
		}
		mix[op] += (int)w;
		*total += (int)w;
	}
	free(copy);
	return ret || !*total ? -EINVAL : 0;
}

static double bench_cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of @pid in seconds, or -1. */
static double bench_cpu_pid(int pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
			 "%llu",
			 &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* A blocking call during setup; returns 0 or prints and returns -1. */
static int bench_setup_call(struct vmc_conn *c, const char *method,
			    json_t *params, json_t **result)
{
	json_t *resp = NULL;
	int ret = vmc_call(c, method, params, &resp);

	if (ret) {
		fprintf(stderr, "vma-bench: %s: connection lost: %s\n", method,
			strerror(-ret));
		return -2;
	}
	if (json_object_get(resp, "error")) {
		char *s = json_dumps(json_object_get(resp, "error"),
				     JSON_COMPACT);

		fprintf(stderr, "vma-bench: setup %s failed: %s\n", method,
			s ? s : "?");
		free(s);
		json_decref(resp);
		return -1;
	}
	if (result) {
		*result = json_object_get(resp, "result");
		json_incref(*result);
	}
	json_decref(resp);
	return 0;
}

static json_t *bench_flags(const char *third)
{
	return json_pack("[s, s, s]", "private", "anonymous", third);
}

static int bench_setup(struct vmc_conn *c, int total_conns)
{
	int s, v, ret;

	bench_space_ids = calloc((size_t)bo.spaces, sizeof(long long));
	for (s = 0; s < bo.spaces; s++) {
		char name[64];
		json_t *res;

		snprintf(name, sizeof(name), "bench-%d-%d", (int)getpid(), s);
		ret = bench_setup_call(c, "space.create",
				       json_pack("{s:s}", "name", name), &res);
		if (ret)
			return ret;
		bench_space_ids[s] =
			json_integer_value(json_object_get(res, "space"));
		json_decref(res);
		for (v = 0; v < bo.vmas; v++) {
			ret = bench_setup_call(
				c, "mmap",
				json_pack(
					"{s:I, s:I, s:I, s:s, s:o}", "space",
					(json_int_t)bench_space_ids[s], "addr",
					(json_int_t)(STABLE_BASE +
						     (uint64_t)v * 2 *
							     VMA_PAGES * PAGE),
					"length",
					(json_int_t)(VMA_PAGES * PAGE), "prot",
					"rw", "flags",
					bench_flags("fixed_noreplace")),
				NULL);
			if (ret)
				return ret;
		}
	}
	/* Each connection's fixed zone starts as one 8-page rw VMA. */
	for (v = 0; v < total_conns; v++) {
		ret = bench_setup_call(
			c, "mmap",
			json_pack("{s:I, s:I, s:I, s:s, s:o}", "space",
				  (json_int_t)bench_space_ids[v % bo.spaces],
				  "addr",
				  (json_int_t)(SCRATCH_BASE +
					       (uint64_t)v * SCRATCH_SIZE +
					       ZONE_OFF),
				  "length", (json_int_t)(8 * PAGE), "prot",
				  "rw", "flags", bench_flags("fixed")),
			NULL);
		if (ret)
			return ret;
	}
	return 0;
}

static void bench_teardown(struct vmc_conn *c)
{
	int s;

	for (s = 0; s < bo.spaces && !bo.keep; s++)
		bench_setup_call(c, "space.destroy",
				 json_pack("{s:I}", "space",
					   (json_int_t)bench_space_ids[s]),
				 NULL);
}

static json_t *bench_lat_json(const struct bench_hist *h)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "p50",
			 bench_pct(h, 50), "p90", bench_pct(h, 90), "p99",
			 bench_pct(h, 99), "p999", bench_pct(h, 99.9), "max",
			 (double)h->max / 1e3, "mean",
			 h->count ? h->sum / (double)h->count / 1e3 : 0.0);
}

/* Requests per second over @secs (0 for an empty window). */
static double bench_rate(uint64_t count, double secs)
{
	return secs > 0 ? (double)count / secs : 0.0;
}

static void bench_print_row(const char *name, const struct bench_hist *h,
			    double secs)
{
	printf("%-11s %10llu %10.0f %6llu %9.1f %9.1f %9.1f %9.1f %9.1f\n",
	       name, (unsigned long long)h->count,
	       secs > 0 ? (double)h->count / secs : 0.0,
	       (unsigned long long)h->errors, bench_pct(h, 50),
	       bench_pct(h, 90), bench_pct(h, 99), bench_pct(h, 99.9),
	       (double)h->max / 1e3);
}

static char *bench_mix_string(const int *mix, char *buf, size_t len)
{
	size_t used = 0;
	int op;

	buf[0] = 0;
	for (op = 0; op < OP_FIXED_PREP; op++)
		if (mix[op] && used < len)
			used += (size_t)snprintf(buf + used, len - used,
						 "%s%s=%d", used ? "," : "",
						 bench_op_names[op], mix[op]);
	return buf;
}

static int bench_usage(const char *what, const char *arg)
{
	fprintf(stderr, "vma-bench: invalid %s '%s'\nTry 'vma-bench --help'.\n",
		what, arg);
	return VMC_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 1},
		{"server-uid", required_argument, NULL, 'U'},
		{"connections", required_argument, NULL, 'c'},
		{"pipeline", required_argument, NULL, 'p'},
		{"threads", required_argument, NULL, 't'},
		{"mix", required_argument, NULL, 'm'},
		{"spaces", required_argument, NULL, 2},
		{"vmas", required_argument, NULL, 3},
		{"access", required_argument, NULL, 4},
		{"duration", required_argument, NULL, 'd'},
		{"requests", required_argument, NULL, 'n'},
		{"warmup", required_argument, NULL, 'w'},
		{"rate", required_argument, NULL, 'R'},
		{"mutators", required_argument, NULL, 5},
		{"mutator-mix", required_argument, NULL, 6},
		{"daemon-pid", required_argument, NULL, 7},
		{"keep", no_argument, NULL, 8},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	const char *sock = NULL, *config = NULL;
	struct bench_thread *threads;
	struct bench_hist total = {0}, per[NR_OPS];
	struct bench_conn *conns;
	struct vmc_conn ctl;
	double cpu0, cpu1 = 0, dcpu0 = -1, dcpu1 = -1, secs;
	uint64_t last_print = 0, last_done = 0, seed;
	char mixs[256], mmixs[256];
	bool tty = isatty(STDOUT_FILENO);
	int c, i, ret, nconns, broken = 0;
	char failure[160] = "";
	uint64_t lost = 0, t_stop;
	char *end;

	bo.connections = 4;
	bo.pipeline = 1;
	bo.threads = 2;
	bo.spaces = 1;
	bo.vmas = 64;
	bo.duration = 5;
	bo.warmup = 1;
	bo.access = "read";
	bench_parse_mix("fault=1", bo.mix, &bo.mix_total);
	bench_parse_mix("mmap=1,munmap=1,fixed=1", bo.mmix, &bo.mmix_total);
	while ((c = getopt_long(argc, argv, "s:c:p:t:m:d:n:w:R:jhV", lopts,
				NULL)) != -1) {
		uint64_t v = 0;
		double d;

		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'U':
			if (vmc_trust_server_uid(optarg))
				return bench_usage("server uid", optarg);
			break;
		case 1:
			config = optarg;
			break;
		case 'c':
		case 'p':
		case 't':
		case 2:
		case 3:
		case 5:
		case 7:
			if (vmc_parse_u64(optarg, &v) || v > 100000 ||
			    (!v && c != 5))
				return bench_usage("number", optarg);
			if (c == 'c')
				bo.connections = (int)v;
			else if (c == 'p') {
				if (v > BENCH_RING)
					return bench_usage("pipeline", optarg);
				bo.pipeline = (int)v;
			} else if (c == 't')
				bo.threads = (int)v;
			else if (c == 2)
				bo.spaces = (int)v;
			else if (c == 3)
				bo.vmas = (int)v;
			else if (c == 5)
				bo.mutators = (int)v;
			else
				bo.daemon_pid = (int)v;
			break;
		case 'n':
			if (vmc_parse_u64(optarg, &v) || !v)
				return bench_usage("request count", optarg);
			bo.requests = v;
			bo.duration = 3600;
			break;
		case 'd':
		case 'w':
		case 'R':
			d = strtod(optarg, &end);
			if (*end || end == optarg || d < 0 || d > 1e9 ||
			    (c != 'w' && d == 0))
				return bench_usage("number", optarg);
			if (c == 'd')
				bo.duration = d;
			else if (c == 'w')
				bo.warmup = d;
			else
				bo.rate = d;
			break;
		case 'm':
			if (bench_parse_mix(optarg, bo.mix, &bo.mix_total))
				return bench_usage("mix", optarg);
			break;
		case 6:
			if (bench_parse_mix(optarg, bo.mmix, &bo.mmix_total))
				return bench_usage("mutator mix", optarg);
			break;
		case 4:
			if (strcmp(optarg, "read") && strcmp(optarg, "write") &&
			    strcmp(optarg, "exec"))
				return bench_usage("access", optarg);
			bo.access = optarg;
			break;
		case 8:
			bo.keep = true;
			break;
		case 'j':
			bo.json = true;
			break;
		case 'h':
			fputs(bench_help, stdout);
			return 0;
		case 'V':
			printf("vma-bench %s\n", VMAD_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'vma-bench --help'.\n");
			return VMC_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return bench_usage("argument", argv[optind]);
	if (vmc_socket_path(sock, config, bo.socket, sizeof(bo.socket))) {
		fprintf(stderr,
			"vma-bench: cannot determine the socket path\n");
		return VMC_EXIT_USAGE;
	}
	nconns = bo.connections + bo.mutators;
	if (bo.threads > nconns)
		bo.threads = nconns;
	ret = vmc_connect(&ctl, bo.socket);
	if (ret) {
		fprintf(stderr, "vma-bench: cannot reach vmad at %s: %s\n",
			bo.socket, vmc_strerror(ret));
		return VMC_EXIT_USAGE;
	}
	ret = bench_setup(&ctl, nconns);
	if (ret) {
		vmc_close(&ctl);
		return ret == -2 ? VMC_EXIT_USAGE : VMC_EXIT_FAIL;
	}
	conns = calloc((size_t)nconns, sizeof(*conns));
	seed = vmc_now_ns() | 1;
	for (i = 0; i < nconns; i++) {
		struct vmc_conn vc;

		ret = vmc_connect(&vc, bo.socket);
		if (ret) {
			fprintf(stderr,
				"vma-bench: connection %d to %s failed: %s\n",
				i, bo.socket, vmc_strerror(ret));
			return VMC_EXIT_USAGE;
		}
		vmc_reader_fini(&vc.rd);
		conns[i].fd = vc.fd;
		fcntl(vc.fd, F_SETFL, fcntl(vc.fd, F_GETFL) | O_NONBLOCK);
		conns[i].idx = i;
		conns[i].space = bench_space_ids[i % bo.spaces];
		conns[i].mutator = i >= bo.connections;
		conns[i].scratch = SCRATCH_BASE + (uint64_t)i * SCRATCH_SIZE;
		conns[i].rnd = seed * (uint64_t)(2 * i + 1) | 1;
		conns[i].id = 1;
		conns[i].out = malloc(BENCH_OUTCAP);
		conns[i].in = malloc(BENCH_INCAP);
	}
	threads = calloc((size_t)bo.threads, sizeof(*threads));
	for (i = 0; i < bo.threads; i++) {
		threads[i].idx = i;
		threads[i].conns = calloc((size_t)nconns, sizeof(*conns));
	}
	/* Deal connections to threads round-robin, mutators included. */
	{
		struct bench_conn *tmp = conns;

		for (i = 0; i < nconns; i++) {
			struct bench_thread *t = &threads[i % bo.threads];

			t->conns[t->nr_conns++] = tmp[i];
		}
		free(conns);
	}
	bench_t_start = vmc_now_ns();
	bench_t_measure = bench_t_start + (uint64_t)(bo.warmup * 1e9);
	bench_t_end = bench_t_measure + (uint64_t)(bo.duration * 1e9);
	cpu0 = bench_cpu_self();
	for (i = 0; i < bo.threads; i++)
		pthread_create(&threads[i].thread, NULL, bench_thread_main,
			       &threads[i]);
	/* Progress, and CPU sampling at the edges of the measured window. */
	{
		bool measuring = false;

		for (;;) {
			struct timespec ts = {0, 20000000};
			uint64_t now, done = 0;

			nanosleep(&ts, NULL);
			now = vmc_now_ns();
			if (!measuring && now >= bench_t_measure &&
			    !atomic_load(&bench_t_fail)) {
				measuring = true;
				cpu0 = bench_cpu_self();
				if (bo.daemon_pid)
					dcpu0 = bench_cpu_pid(bo.daemon_pid);
			}
			if (atomic_load(&bench_t_fail) ||
			    (measuring && (atomic_load(&bench_stop_sending) ||
					   now >= bench_t_end))) {
				cpu1 = bench_cpu_self();
				if (bo.daemon_pid)
					dcpu1 = bench_cpu_pid(bo.daemon_pid);
				break;
			}
			for (i = 0; i < bo.threads; i++)
				done += atomic_load(&threads[i].done);
			if (tty && !bo.json &&
			    now - last_print > 500000000ull) {
				double el = (double)(now - bench_t_start) / 1e9;
				double rps = 0;

				if (last_print && measuring)
					rps = (double)(done - last_done) /
					      ((double)(now - last_print) /
					       1e9);
				printf("\r\033[K%5.1f s  %s  %llu requests  "
				       "%.0f req/s",
				       el, measuring ? "measuring" : "warm-up",
				       (unsigned long long)done, rps);
				fflush(stdout);
				last_print = now;
				last_done = done;
			}
		}
	}
	for (i = 0; i < bo.threads; i++)
		pthread_join(threads[i].thread, NULL);
	if (tty && !bo.json) {
		printf("\r\033[K");
		fflush(stdout);
	}
	memset(per, 0, sizeof(per));
	for (i = 0; i < bo.threads; i++) {
		int op, k;

		if (threads[i].failed) {
			if (!broken)
				snprintf(failure, sizeof(failure),
					 "connection to the daemon lost: %s",
					 strerror(-threads[i].failed));
			broken = 1;
			lost += threads[i].lost;
		}
		for (op = 0; op < NR_OPS; op++) {
			bench_merge(&per[op], &threads[i].hist[op]);
			bench_merge(&total, &threads[i].hist[op]);
		}
		for (k = 0; k < threads[i].nr_conns; k++) {
			close(threads[i].conns[k].fd);
			free(threads[i].conns[k].out);
			free(threads[i].conns[k].in);
		}
		free(threads[i].conns);
	}
	/*
	 * The measured window: until the end, until -n was reached, or until
	 * the first connection broke, whichever came first.
	 */
	t_stop = bo.requests ? vmc_now_ns() : bench_t_end;
	if (broken && atomic_load(&bench_t_fail) < t_stop)
		t_stop = atomic_load(&bench_t_fail);
	if (t_stop > bench_t_end)
		t_stop = bench_t_end;
	secs = t_stop > bench_t_measure
		       ? (double)(t_stop - bench_t_measure) / 1e9
		       : 0.0;
	total.errors += lost;
	if (broken)
		fprintf(stderr,
			"vma-bench: %s after %.2f s measured; the daemon may "
			"have died; %llu requests unanswered\n",
			failure, secs, (unsigned long long)lost);
	else
		bench_teardown(&ctl);
	vmc_close(&ctl);
	bench_mix_string(bo.mix, mixs, sizeof(mixs));
	bench_mix_string(bo.mmix, mmixs, sizeof(mmixs));
	if (bo.json) {
		json_t *o = json_object(), *ops = json_object();
		int op;

		json_object_set_new(o, "bench", json_string("vma-bench"));
		json_object_set_new(o, "figure", json_string("requests"));
		json_object_set_new(o, "impl", json_string("vmad"));
		json_object_set_new(o, "value",
				    json_real(bench_rate(total.count, secs)));
		json_object_set_new(o, "unit", json_string("req/s"));
		json_object_set_new(o, "requests_per_s",
				    json_real(bench_rate(total.count, secs)));
		json_object_set_new(o, "requests",
				    json_integer((json_int_t)total.count));
		json_object_set_new(o, "errors",
				    json_integer((json_int_t)total.errors));
		json_object_set_new(o, "elapsed_s", json_real(secs));
		json_object_set_new(o, "lost", json_integer((json_int_t)lost));
		json_object_set_new(o, "failed", json_boolean(broken));
		json_object_set_new(o, "failure",
				    broken ? json_string(failure)
					   : json_null());
		json_object_set_new(o, "warmup_s", json_real(bo.warmup));
		json_object_set_new(o, "connections",
				    json_integer(bo.connections));
		json_object_set_new(o, "pipeline", json_integer(bo.pipeline));
		json_object_set_new(o, "threads", json_integer(bo.threads));
		json_object_set_new(o, "rate",
				    bo.rate > 0 ? json_real(bo.rate)
						: json_null());
		json_object_set_new(o, "mix", json_string(mixs));
		json_object_set_new(o, "mutators", json_integer(bo.mutators));
		if (bo.mutators)
			json_object_set_new(o, "mutator_mix",
					    json_string(mmixs));
		json_object_set_new(o, "spaces", json_integer(bo.spaces));
		json_object_set_new(o, "vmas", json_integer(bo.vmas));
		json_object_set_new(o, "latency_us", bench_lat_json(&total));
		for (op = 0; op < NR_OPS; op++) {
			json_t *x;

			if (!per[op].count)
				continue;
			x = json_pack("{s:I, s:I, s:f, s:o}", "requests",
				      (json_int_t)per[op].count, "errors",
				      (json_int_t)per[op].errors,
				      "requests_per_s",
				      bench_rate(per[op].count, secs),
				      "latency_us", bench_lat_json(&per[op]));
			json_object_set_new(ops, bench_op_names[op], x);
		}
		json_object_set_new(o, "ops", ops);
		json_object_set_new(o, "client_cpu_s", json_real(cpu1 - cpu0));
		json_object_set_new(
			o, "client_cpu_us_per_request",
			json_real(total.count ? (cpu1 - cpu0) * 1e6 /
							(double)total.count
					      : 0.0));
		if (bo.daemon_pid && dcpu0 >= 0 && dcpu1 >= 0)
			json_object_set_new(o, "daemon_cpu_s",
					    json_real(dcpu1 - dcpu0));
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
	} else {
		int op;

		printf("vma-bench: %d connections x %d %s, %d threads, %.1f s "
		       "measured after %.1f s warm-up, mix %s",
		       bo.connections, bo.pipeline,
		       bo.pipeline > 1 ? "pipelined" : "in flight", bo.threads,
		       secs, bo.warmup, mixs);
		if (bo.rate > 0)
			printf(", open loop at %.0f req/s", bo.rate);
		if (bo.mutators)
			printf(", %d mutators (%s)", bo.mutators, mmixs);
		printf("\n%-11s %10s %10s %6s %9s %9s %9s %9s %9s\n", "op",
		       "requests", "req/s", "errors", "p50 us", "p90 us",
		       "p99 us", "p99.9 us", "max us");
		bench_print_row("all", &total, secs);
		for (op = 0; op < NR_OPS; op++)
			if (per[op].count)
				bench_print_row(bench_op_names[op], &per[op],
						secs);
		printf("client CPU %.2f s (%.2f us/request)", cpu1 - cpu0,
		       total.count ? (cpu1 - cpu0) * 1e6 / (double)total.count
				   : 0.0);
		if (bo.daemon_pid && dcpu0 >= 0 && dcpu1 >= 0)
			printf(", daemon CPU %.2f s (%.2f us/request)",
			       dcpu1 - dcpu0,
			       total.count ? (dcpu1 - dcpu0) * 1e6 /
						     (double)total.count
					   : 0.0);
		printf("\n");
	}
	free(threads);
	free(bench_space_ids);
	return broken ? VMC_EXIT_USAGE : VMC_EXIT_OK;
}
