// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Listener, workers and connections.
 *
 * The main thread owns the listening socket and its event_base. It
 * accepts each connection, reads the peer's credentials (SO_PEERCRED: the
 * uid owns the spaces it creates), refuses it with a JSON-RPC error if the
 * connection limit is reached, and otherwise hands it to the next worker
 * round-robin: it queues the descriptor in the worker's inbox and writes
 * the worker's eventfd.
 *
 * Each worker runs its own event_base with a read and a write event per
 * connection (plain events on the socket, no bufferevent). A readable
 * socket is read straight into the connection's rpc_decoder; every
 * complete value is parsed and run at once, and its responses are
 * appended to a per-worker scratch buffer that is sent once per burst:
 * one read and one send for a burst of pipelined requests, whatever its
 * size. Only what the socket does not take goes to the connection's
 * output evbuffer, and the write event is armed while it holds bytes.
 * A large slice of job output is handed to that evbuffer by reference,
 * written a bounded amount per callback, and freed by the reaper.
 *
 * Ordering: a connection runs its requests one after the other. A request
 * that may take long (vmad_msg_needs_job()) goes to the job pool with the
 * whole value it came in; the connection stops reading until the job is
 * done. The job comes back through the inbox after every slice; its
 * output is appended in order and its next slice queued, or the job is
 * parked while the connection's output is above output_high_water (the
 * write callback queues it again once the output is at or below
 * output_low_water). Other connections of the worker are served in the
 * meantime.
 *
 * Back-pressure: when a connection's output exceeds output_high_water the
 * worker stops reading it; the write callback resumes it once the output
 * is at or below output_low_water. Once a second the worker sweeps its
 * connections (on_sweep()): output unread for output_timeout, or above
 * output_low_water that long however slowly it is read, or above the
 * soft limit for its seconds, closes the connection, as do a request
 * left incomplete for request_timeout and idleness for `timeout`; output
 * above the hard limit closes it at once. Buffers are counted in
 * max_memory (conn_account()).
 *
 * Protocol errors that break the stream (a parse error, a value too large
 * or too deep) are answered, then the connection is closed once the
 * answer is flushed.
 *
 * The listener admits a connection against the limits of limits.c and
 * answers a refused one with an error; out of descriptors, it pauses
 * until a connection closes (vmad_listener_wake()).
 *
 * Shutdown (SIGTERM, SIGINT): requests not started are cancelled (they
 * are answered with ECANCELED); the listener closes and removes the
 * socket file; each worker stops reading, flushes every connection's
 * pending responses (waiting for jobs in flight, three quarters of
 * shutdown_timeout at most), closes them and exits; then the registry
 * frees every space. At shutdown_timeout the daemon exits whatever still
 * runs (shutdown_late()), after saving the changed spaces if it has a
 * state directory.
 */
#include "vmad.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <urcu/uatomic.h>

/* ---- Connections (worker thread) ---------------------------------------- */

static bool conn_process(struct vmad_conn *c);
static void conn_account(struct vmad_conn *c);
static void job_discard(struct vmad_server *srv, struct vmad_job *job);
static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);

static void conn_free_final(struct vmad_conn *c)
{
	struct vmad_worker *w = c->w;
	uid_t uid = c->uid;

	vmad_memory_charge(w->srv, -(int64_t)c->charged);
	rpc_decoder_fini(&c->dec);
	free(c);
	vmad_conn_release(w->srv, uid);
	w->nr_conns--;
	if (w->stopping && !w->nr_conns)
		event_base_loopexit(w->base, NULL);
}

/* Close now; the struct waits for a job in flight. */
static void conn_close(struct vmad_conn *c)
{
	if (c->fd >= 0) {
		event_free(c->read_ev);
		event_free(c->write_ev);
		evbuffer_free(c->out);
		close(c->fd);
		c->fd = -1;
		conn_account(c);
		c->reading = c->writing = false;
		cds_list_del(&c->node);
	}
	if (c->job && c->job->parked) {
		/* Neither queued nor running: ours to drop. */
		job_discard(c->w->srv, c->job);
		c->job = NULL;
	}
	if (c->job) {
		c->dead = true;
		return;
	}
	conn_free_final(c);
}

static size_t conn_out_len(struct vmad_conn *c)
{
	return evbuffer_get_length(c->out);
}

/* Monotonic milliseconds, never 0 (0 means "not running" in the timers). */
static long mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

#define SEC(s) ((long)(s)*1000)

/*
 * Count the connection's buffers (output, request bytes) in max_memory.
 * Context: Loop thread only (the connection's worker).
 */
static void conn_account(struct vmad_conn *c)
{
	size_t now = rpc_decoder_memory(&c->dec) +
		     (c->fd >= 0 ? evbuffer_get_length(c->out) : 0);

	if (now != c->charged) {
		vmad_memory_charge(c->w->srv,
				   (int64_t)now - (int64_t)c->charged);
		c->charged = now;
	}
}

/*
 * The output changed (@progress: bytes reached the socket): keep the
 * timers of the output timeout and the soft limit. The timeout restarts
 * when bytes are written only while the output is at or below
 * output_low_water; above it, it runs from when the output rose above.
 * Context: Loop thread only.
 */
static void conn_out_note(struct vmad_conn *c, bool progress)
{
	const struct vmad_config *cfg = &c->w->srv->cfg;
	size_t len = conn_out_len(c);
	long now = mono_now();

	conn_account(c);
	if (progress)
		c->last_active = now;
	if (!len) {
		c->out_progress = c->out_above_since = c->out_soft_since = 0;
		return;
	}
	if (progress || !c->out_progress)
		c->out_progress = now;
	if (len <= cfg->output_low_water)
		c->out_above_since = 0;
	else if (!c->out_above_since)
		c->out_above_since = now;
	if (!cfg->output_limit_soft || len <= cfg->output_limit_soft)
		c->out_soft_since = 0;
	else if (!c->out_soft_since)
		c->out_soft_since = now;
}

static void conn_want_read(struct vmad_conn *c, bool on)
{
	if (c->fd < 0 || on == c->reading)
		return;
	c->reading = on;
	if (on)
		event_add(c->read_ev, NULL);
	else
		event_del(c->read_ev);
}

/* The peer is gone: drop what it will never read and wind down. */
static void conn_broken(struct vmad_conn *c, int err)
{
	vmad_log(VMAD_LOG_VERBOSE, "conn %llu: %s; closing",
		 (unsigned long long)c->serial, strerror(err));
	evbuffer_drain(c->out, conn_out_len(c));
	conn_out_note(c, false);
	c->closing = true;
	conn_want_read(c, false);
}

/*
 * Push queued output to the socket; keep the write event armed while
 * bytes remain (the sweep applies the output timeout).
 */
static void conn_push(struct vmad_conn *c)
{
	bool progress = false;
	int budget = 4;

	/* A bounded amount per call: other connections wait meanwhile. */
	while (conn_out_len(c) && budget) {
		int n = evbuffer_write_atmost(c->out, c->fd, 256 << 10);

		budget--;
		if (n > 0) {
			progress = true;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			conn_broken(c, errno);
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (c->fd < 0)
		return;
	conn_out_note(c, progress);
	if (conn_out_len(c) && !c->writing) {
		c->writing = true;
		event_add(c->write_ev, NULL);
	} else if (!conn_out_len(c) && c->writing) {
		c->writing = false;
		event_del(c->write_ev);
	}
}

/*
 * Send @len bytes: straight to the socket when nothing is queued (the
 * common case: one send per burst of responses), the rest to c->out.
 */
static void conn_send(struct vmad_conn *c, const char *data, size_t len)
{
	if (!conn_out_len(c)) {
		while (len) {
			ssize_t n = send(c->fd, data, len,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				data += n;
				len -= (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_broken(c, errno);
				return;
			}
			break;
		}
		c->last_active = mono_now();
		if (!len)
			return;
	}
	if (evbuffer_add(c->out, data, len)) {
		conn_broken(c, ENOMEM);
		return;
	}
	conn_push(c);
}

/* Move the worker's scratch responses to the connection. */
static void conn_flush_scratch(struct vmad_conn *c)
{
	struct rpc_buf *s = &c->w->scratch;

	/* The journal records of the changes answered here go first. */
	if (!vmad_persist_flush() && c->fd >= 0) {
		vmad_log(VMAD_LOG_ERROR,
			 "conn %llu: changes could not be journaled; closing "
			 "without answering",
			 (unsigned long long)c->serial);
		rpc_buf_reset(s);
		conn_broken(c, EIO);
		return;
	}

	if (s->len && c->fd >= 0)
		conn_send(c, s->data, s->len);
	rpc_buf_reset(s);
}

/* Enter the closing state: no more reading, close once flushed. */
static void conn_set_closing(struct vmad_conn *c)
{
	c->closing = true;
	conn_want_read(c, false);
}

/*
 * After output was added: apply the high-water mark, and close a closing
 * connection whose output is flushed. Return false if @c is gone.
 */
static bool conn_check_output(struct vmad_conn *c)
{
	const struct vmad_config *cfg = &c->w->srv->cfg;
	size_t len = conn_out_len(c);

	if (cfg->output_limit_hard && len > cfg->output_limit_hard) {
		vmad_log_ratelimited(VMAD_LOG_VERBOSE,
				     "conn %llu (uid %u): %zu bytes of output "
				     "pending, over the hard limit; closing",
				     (unsigned long long)c->serial,
				     (unsigned)c->uid, len);
		uatomic_inc(&c->w->nr_closed_output);
		conn_close(c);
		return false;
	}
	if (c->closing) {
		/* A parked job of a client gone: nobody will read it. */
		if (c->job && c->job->parked && !c->w->stopping) {
			job_discard(c->w->srv, c->job);
			c->job = NULL;
		}
		if (!len && !c->job) {
			conn_close(c);
			return false;
		}
		return true;
	}
	if (!c->paused && len > cfg->output_high_water) {
		c->paused = true;
		conn_want_read(c, false);
		vmad_log(VMAD_LOG_DEBUG, "conn %llu: output %zu bytes, paused",
			 (unsigned long long)c->serial, len);
	}
	return true;
}

static void conn_protocol_error(struct vmad_conn *c,
				const struct rpc_error *err)
{
	rpc_write_error(&c->w->scratch, NULL, err);
	rpc_buf_put(&c->w->scratch, "\n", 1);
	vmad_log(VMAD_LOG_VERBOSE, "conn %llu (uid %u): %s; closing",
		 (unsigned long long)c->serial, (unsigned)c->uid, err->msg);
	c->closing = true;
}

/*
 * A slice of a request job: this much time, or this much output, whichever
 * comes first (at least one request); then the job goes back to its
 * worker and, if not done, to the end of its uid's turn.
 */
#define VMAD_SLICE_NS  (5u * 1000 * 1000)
#define VMAD_SLICE_OUT (256u << 10)

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Job thread: parse the value if it came as a large frame (a batch of
 * thousands of requests takes milliseconds to parse), run a slice of it,
 * and hand the job back to the worker.
 * Context: A job thread, which owns @job until it posts it; of the
 *          connection it reads only the worker pointer, set at creation.
 */
static void request_slice(struct vmad_job *job)
{
	struct vmad_conn *c = job->conn;
	struct vmad_worker *w = c->w;
	struct vmad_ctx ctx = {.srv = w->srv, .w = NULL, .uid = job->uid};
	struct rpc_error err;
	size_t before;
	int ret;

	if (!job->parsed) {
		ret = rpc_msg_parse(&job->msg, job->frame, job->frame_len,
				    job->frame_big, w->srv->cfg.max_batch,
				    &err);
		if (ret) {
			if (ret == -ENOMEM)
				rpc_error_set(&err, RPC_INTERNAL_ERROR,
					      "out of memory");
			else
				uatomic_inc(&w->nr_errors);
			rpc_write_error(&job->out, NULL, &err);
			rpc_buf_put(&job->out, "\n", 1);
			job->close_after =
				ret == -ENOMEM || err.code == RPC_PARSE_ERROR;
			job->done = true;
			vmad_worker_post_job(w, job);
			return;
		}
		job->parsed = true;
		vmad_run_init(&job->run, &job->msg);
	}
	ctx.cancel = vmad_jobs_cancelled(w->srv);
	/* A response streamed from a snapshot takes a slot of the uid's. */
	if (!ctx.cancel && !job->stream_slot &&
	    vmad_run_next_streams(&job->run) &&
	    !vmad_jobs_stream_get(w->srv, job))
		return; /* it waits for a slot; queued again with one */
	before = job->run.next;
	job->done = vmad_run_step(&ctx, &job->run, &job->out, VMAD_SLICE_OUT,
				  mono_ns() + VMAD_SLICE_NS);
	if (job->stream_slot && !job->run.stream &&
	    !vmad_run_next_streams(&job->run))
		vmad_jobs_stream_put(w->srv, job); /* its stream is done */
	if (job->done) {
		rpc_msg_fini(&job->msg); /* a big tree: free it here */
		job->parsed = false;
	}
	uatomic_add(&w->nr_requests, job->run.next - before);
	uatomic_add(&w->nr_errors, ctx.nr_errors);
	uatomic_add(&w->nr_faults, ctx.nr_faults);
	vmad_worker_post_job(w, job);
}

/* Values larger than this are parsed and run on the job pool. */
#define VMAD_INLINE_FRAME_MAX (64u << 10)

static void job_free(struct vmad_job *job)
{
	vmad_run_fini(&job->run);
	if (job->parsed)
		rpc_msg_fini(&job->msg);
	rpc_buf_fini(&job->out);
	free(job);
}

static void job_free_fn(struct vmad_job *job)
{
	job_free(job);
}

/*
 * Drop a job that will not run again (its connection is gone): a large
 * parsed batch takes a while to free, so the reaper does that.
 * Context: Loop thread only, holding the job (parked or returned).
 */
static void job_discard(struct vmad_server *srv, struct vmad_job *job)
{
	vmad_jobs_stream_put(srv, job);
	if (job->parsed && job->msg.nr > 1000) {
		job->fn = job_free_fn;
		job->conn = NULL;
		vmad_jobs_reap(srv, job);
		return;
	}
	job_free(job);
}

/* Hand a value to the job pool; the connection reads no more meanwhile. */
static struct vmad_job *conn_new_job(struct vmad_conn *c)
{
	struct vmad_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->fn = request_slice;
	job->conn = c;
	job->uid = c->uid;
	rpc_buf_init(&job->out);
	return job;
}

static void conn_submit(struct vmad_conn *c, struct vmad_job *job)
{
	c->job = job;
	conn_want_read(c, false);
	vmad_jobs_submit(c->w->srv, job);
}

/* Run one complete JSON value. */
static void conn_frame(struct vmad_conn *c, const char *frame, size_t len)
{
	struct vmad_worker *w = c->w;
	struct vmad_ctx ctx = {.srv = w->srv, .w = w, .uid = c->uid};
	struct rpc_error err;
	struct rpc_msg msg;
	size_t n;
	int ret;

	if (len > VMAD_INLINE_FRAME_MAX) {
		struct vmad_job *job = conn_new_job(c);

		if (!job) {
			rpc_error_set(&err, RPC_INTERNAL_ERROR,
				      "out of memory");
			conn_protocol_error(c, &err);
			return;
		}
		job->frame = frame;
		job->frame_len = len;
		job->frame_big = rpc_decoder_frame_has_big_int(&c->dec);
		conn_submit(c, job);
		return;
	}
	ret = rpc_msg_parse(&msg, frame, len,
			    rpc_decoder_frame_has_big_int(&c->dec),
			    w->srv->cfg.max_batch, &err);
	if (ret == -ENOMEM) {
		rpc_error_set(&err, RPC_INTERNAL_ERROR, "out of memory");
		conn_protocol_error(c, &err);
		return;
	}
	if (ret) {
		uatomic_inc(&w->nr_errors);
		if (err.code == RPC_PARSE_ERROR) {
			conn_protocol_error(c, &err);
			return;
		}
		rpc_write_error(&w->scratch, NULL, &err);
		rpc_buf_put(&w->scratch, "\n", 1);
		return;
	}
	if (vmad_msg_needs_job(&msg)) {
		struct vmad_job *job = conn_new_job(c);

		if (!job) {
			rpc_msg_fini(&msg);
			rpc_error_set(&err, RPC_INTERNAL_ERROR,
				      "out of memory");
			conn_protocol_error(c, &err);
			return;
		}
		job->msg = msg;
		job->parsed = true;
		vmad_run_init(&job->run, &job->msg);
		conn_submit(c, job);
		return;
	}
	n = vmad_handle_msg(&ctx, &msg, &w->scratch);
	rpc_msg_fini(&msg);
	uatomic_add(&w->nr_requests, n);
	if (ctx.nr_errors)
		uatomic_add(&w->nr_errors, ctx.nr_errors);
	if (ctx.nr_faults)
		uatomic_add(&w->nr_faults, ctx.nr_faults);
	if (w->scratch.oom) {
		rpc_buf_reset(&w->scratch);
		rpc_error_set(&err, RPC_INTERNAL_ERROR, "out of memory");
		conn_protocol_error(c, &err);
	}
}

/*
 * Run every complete value buffered in the decoder, reading more from the
 * socket (straight into the decoder's buffer) while it has some; answer
 * the whole burst with one send. Return false if @c was closed and freed.
 */
static bool conn_process(struct vmad_conn *c)
{
	const struct vmad_config *cfg = &c->w->srv->cfg;
	bool drained = false, may_read = c->reading;
	int reads = 0;

	while (!c->job && !c->closing && !c->paused) {
		struct rpc_error err;
		const char *frame;
		size_t len;
		long room;
		ssize_t n;
		char *p;
		int ret;

		ret = rpc_decoder_next(&c->dec, &frame, &len, &err);
		if (ret == 1) {
			c->req_since = 0;
			conn_frame(c, frame, len);
			/* Keep the output bounded inside one read burst. */
			if (c->w->scratch.len > cfg->output_high_water ||
			    c->job) {
				conn_flush_scratch(c);
				if (!conn_check_output(c))
					return false;
			}
			continue;
		}
		if (ret < 0) {
			conn_protocol_error(c, &err);
			break;
		}
		if (c->eof) {
			drained = true;
			break;
		}
		if (!may_read)
			break;
		room = rpc_decoder_space(&c->dec, &p);
		if (room <= 0) {
			rpc_error_set(
				&err,
				room ? RPC_INTERNAL_ERROR : RPC_INVALID_REQUEST,
				room ? "out of memory" : "message too large");
			conn_protocol_error(c, &err);
			break;
		}
		n = read(c->fd, p, (size_t)room);
		if (n > 0) {
			rpc_decoder_commit(&c->dec, (size_t)n);
			c->last_active = mono_now();
			/*
			 * A short read emptied the socket: stop after these.
			 * A few full ones at most: the event loop comes back.
			 */
			if (n < room || ++reads >= 4)
				may_read = false;
			continue;
		}
		if (n == 0) {
			c->eof = true;
			conn_want_read(c, false);
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		/* A reset: nobody will read the answers. */
		rpc_buf_reset(&c->w->scratch);
		vmad_log(VMAD_LOG_VERBOSE, "conn %llu: %s; closing",
			 (unsigned long long)c->serial, strerror(errno));
		conn_close(c);
		return false;
	}
	if (drained && c->eof && !c->closing) {
		/* Values complete before EOF were run; a partial one is not. */
		if (rpc_decoder_pending(&c->dec)) {
			struct rpc_error err;

			rpc_error_set(&err, RPC_PARSE_ERROR,
				      "end of stream inside a value "
				      "(%zu bytes)",
				      rpc_decoder_pending(&c->dec));
			/* Where the stream ended, from the value's start. */
			err.offset = rpc_decoder_pending(&c->dec);
			conn_protocol_error(c, &err);
		}
		/* The peer may still read (shutdown(SHUT_WR)): flush first. */
		c->closing = true;
	}
	conn_flush_scratch(c);
	if (c->closing)
		conn_set_closing(c);
	/* A big value came through: give its buffer back. */
	if (!c->job && c->fd >= 0)
		rpc_decoder_shrink(&c->dec);
	conn_account(c);
	/* The request timeout runs while a value waits for its end. */
	if (c->fd >= 0 && c->reading && !c->job &&
	    rpc_decoder_pending(&c->dec)) {
		if (!c->req_since)
			c->req_since = mono_now();
	} else {
		c->req_since = 0;
	}
	return conn_check_output(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	conn_process(arg);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct vmad_conn *c = arg;
	const struct vmad_config *cfg = &c->w->srv->cfg;

	conn_push(c);
	if (c->fd >= 0 && c->job && c->job->parked &&
	    conn_out_len(c) <= cfg->output_low_water) {
		/* The client read enough: the job's next slice. */
		c->job->parked = false;
		vmad_jobs_submit(c->w->srv, c->job);
	}
	if (c->closing) {
		conn_check_output(c);
		return;
	}
	if (c->paused && conn_out_len(c) <= cfg->output_low_water) {
		c->paused = false;
		if (!c->job && !c->eof)
			conn_want_read(c, true);
		vmad_log(VMAD_LOG_DEBUG, "conn %llu: resumed",
			 (unsigned long long)c->serial);
		conn_process(c);
	}
}

static void conn_new(struct vmad_worker *w, const struct vmad_pending_conn *pc)
{
	const struct vmad_config *cfg = &w->srv->cfg;
	struct vmad_conn *c = calloc(1, sizeof(*c));
	static uint64_t serial; /* per process; for log lines only */

	w->nr_conns++;
	if (!c)
		goto out_close;
	c->w = w;
	c->fd = pc->fd;
	c->uid = pc->uid;
	c->pid = pc->pid;
	c->serial = uatomic_add_return(&serial, 1);
	evutil_make_socket_nonblocking(pc->fd);
	c->read_ev =
		event_new(w->base, pc->fd, EV_READ | EV_PERSIST, on_read, c);
	c->write_ev =
		event_new(w->base, pc->fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->out = evbuffer_new();
	if (!c->read_ev || !c->write_ev || !c->out) {
		if (c->read_ev)
			event_free(c->read_ev);
		if (c->write_ev)
			event_free(c->write_ev);
		if (c->out)
			evbuffer_free(c->out);
		free(c);
		goto out_close;
	}
	rpc_decoder_init(&c->dec, cfg->max_message);
	c->last_active = mono_now();
	cds_list_add(&c->node, &w->conns);
	conn_want_read(c, true);
	vmad_log(VMAD_LOG_VERBOSE, "conn %llu: uid %u pid %d on worker %u",
		 (unsigned long long)c->serial, (unsigned)c->uid, (int)c->pid,
		 w->idx);
	return;
out_close:
	close(pc->fd);
	vmad_conn_release(w->srv, pc->uid);
	w->nr_conns--;
}

/* The reaper: free a large response buffer off the worker. */
static void free_job_fn(struct vmad_job *job)
{
	rpc_buf_fini(&job->out);
	free(job);
}

/*
 * The evbuffer is done with a job's response buffer: freeing hundreds of
 * megabytes returns them to the kernel page by page, which would stall
 * the worker; a big one is freed by the reaper.
 */
static void job_out_cleanup(const void *data, size_t len, void *arg)
{
	struct vmad_server *srv = arg;
	struct vmad_job *job;

	if (len < (1u << 20) || !(job = calloc(1, sizeof(*job)))) {
		free((void *)data);
		return;
	}
	job->fn = free_job_fn;
	job->out.data = (void *)data;
	job->out.len = job->out.cap = len;
	job->free_bytes = len;
	vmad_jobs_reap(srv, job);
}

/*
 * A slice of a job came back: append what it wrote, in order. If the
 * message is not done, queue the next slice, or park the job until the
 * client has read what is pending (on_write() queues it again); else
 * resume reading.
 * Context: Loop thread only (the job came back through the inbox).
 */
static void conn_job_done(struct vmad_job *job)
{
	struct vmad_conn *c = job->conn;
	struct vmad_worker *w = c->w;
	const struct vmad_config *cfg = &w->srv->cfg;

	c->last_active = mono_now();
	if (c->dead) {
		c->job = NULL;
		job_discard(w->srv, job);
		conn_free_final(c);
		return;
	}
	if (job->out.oom) {
		struct rpc_error err;

		rpc_error_set(&err, RPC_INTERNAL_ERROR, "out of memory");
		conn_protocol_error(c, &err);
		conn_flush_scratch(c);
		job->done = true;
	} else if (job->close_after) {
		/* A value that broke the stream: answer, then close. */
		vmad_log(VMAD_LOG_VERBOSE, "conn %llu (uid %u): %.*s",
			 (unsigned long long)c->serial, (unsigned)c->uid,
			 (int)(job->out.len > 200 ? 200 : job->out.len - 1),
			 job->out.data);
		c->closing = true;
		conn_send(c, job->out.data, job->out.len);
	} else if (job->out.len < 65536) {
		conn_send(c, job->out.data, job->out.len);
	} else if (!evbuffer_add_reference(c->out, job->out.data, job->out.len,
					   job_out_cleanup, w->srv)) {
		/* Handed over without copying: it may be large. */
		rpc_buf_init(&job->out);
		conn_push(c);
	} else {
		conn_send(c, job->out.data, job->out.len);
	}
	rpc_buf_reset(&job->out);
	if (!job->done && c->fd >= 0 && (!c->closing || w->stopping)) {
		if (conn_out_len(c) > cfg->output_high_water)
			job->parked = true;
		else
			vmad_jobs_submit(w->srv, job);
		conn_check_output(c);
		return;
	}
	c->job = NULL;
	job_discard(w->srv, job);
	if (c->closing) {
		conn_set_closing(c);
		conn_check_output(c);
		return;
	}
	if (!c->paused && !c->eof)
		conn_want_read(c, true);
	conn_process(c);
}

/* ---- Workers ------------------------------------------------------------- */

static void worker_begin_stop(struct vmad_worker *w)
{
	struct vmad_conn *c, *tmp;
	/* Three quarters of shutdown_timeout; the rest frees the spaces. */
	long ms = (long)w->srv->cfg.shutdown_timeout * 750;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = ms % 1000 * 1000};

	w->stopping = true;
	cds_list_for_each_entry_safe(c, tmp, &w->conns, node)
	{
		/* Parked jobs finish too: their requests get ECANCELED. */
		if (c->job && c->job->parked) {
			c->job->parked = false;
			vmad_jobs_submit(w->srv, c->job);
		}
		conn_set_closing(c);
		conn_check_output(c);
	}
	if (!w->nr_conns)
		event_base_loopexit(w->base, NULL);
	else
		evtimer_add(w->stop_timer, &tv);
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct vmad_worker *w = arg;
	struct vmad_conn *c, *tmp;

	vmad_log(VMAD_LOG_WARN,
		 "worker %u: %u connections not flushed in "
		 "time; closing them",
		 w->idx, w->nr_conns);
	cds_list_for_each_entry_safe(c, tmp, &w->conns, node) conn_close(c);
	/* Connections waiting for a job end when it returns. */
}

/*
 * Send an error response with id null (errno -@err, message @msg) on a
 * connection about to be closed, without blocking, and read away what
 * the client sent (up to a bound), so that closing does not reset the
 * connection before the client reads the answer.
 * Context: Any context (the caller owns @fd).
 */
static void send_last_error(int fd, int err, const char *msg)
{
	struct rpc_error e;
	struct rpc_buf b;
	char sink[4096];
	int i;

	rpc_buf_init(&b);
	rpc_error_errno(&e, err);
	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	rpc_write_error(&b, NULL, &e);
	rpc_buf_put(&b, "\n", 1);
	if (!b.oom &&
	    send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* The client is gone already. */
	}
	rpc_buf_fini(&b);
	for (i = 0; i < 16; i++)
		if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

/*
 * Answer @c with an error (best effort, never blocking) and close it.
 * Context: Loop thread only.
 */
static void conn_abort(struct vmad_conn *c, int err, const char *msg)
{
	if (!conn_out_len(c))
		send_last_error(c->fd, err, msg);
	conn_close(c);
}

/*
 * Once a second: close connections that hold a slot or memory without
 * making progress. Output: unread for output_timeout, above
 * output_low_water for output_timeout however slowly it is read, above
 * the soft limit for its seconds. Input: a value left incomplete for
 * request_timeout (slowloris). Idle: nothing in or out for timeout.
 * Context: Loop thread only (a timer of the worker).
 */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct vmad_worker *w = arg;
	const struct vmad_config *cfg = &w->srv->cfg;
	struct vmad_conn *c, *tmp;
	long now = mono_now();

	cds_list_for_each_entry_safe(c, tmp, &w->conns, node)
	{
		const char *why = NULL;
		size_t len = conn_out_len(c);

		if (len && now - c->out_progress >= SEC(cfg->output_timeout))
			why = "output unread";
		else if (c->out_above_since &&
			 now - c->out_above_since >= SEC(cfg->output_timeout))
			why = "output read too slowly";
		else if (c->out_soft_since &&
			 now - c->out_soft_since >=
				 SEC(cfg->output_limit_soft_seconds))
			why = "output over the soft limit";
		if (why) {
			vmad_log_ratelimited(
				VMAD_LOG_VERBOSE,
				"conn %llu (uid %u): %s (%zu bytes pending); "
				"closing",
				(unsigned long long)c->serial, (unsigned)c->uid,
				why, len);
			uatomic_inc(&w->nr_closed_output);
			conn_close(c);
			continue;
		}
		if (cfg->request_timeout && c->req_since &&
		    now - c->req_since >= SEC(cfg->request_timeout)) {
			char msg[RPC_MSG_MAX];

			snprintf(msg, sizeof(msg),
				 "request not completed within %u s",
				 cfg->request_timeout);
			vmad_log_ratelimited(VMAD_LOG_VERBOSE,
					     "conn %llu (uid %u): %s; closing",
					     (unsigned long long)c->serial,
					     (unsigned)c->uid, msg);
			uatomic_inc(&w->nr_closed_timeout);
			conn_abort(c, -ETIMEDOUT, msg);
			continue;
		}
		if (cfg->timeout && !c->job && !len && !c->closing &&
		    !rpc_decoder_pending(&c->dec) &&
		    now - c->last_active >= SEC(cfg->timeout)) {
			vmad_log_ratelimited(VMAD_LOG_VERBOSE,
					     "conn %llu (uid %u): idle for %u "
					     "s; closing",
					     (unsigned long long)c->serial,
					     (unsigned)c->uid, cfg->timeout);
			uatomic_inc(&w->nr_closed_timeout);
			conn_close(c);
		}
	}
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct vmad_worker *w = arg;
	struct vmad_pending_conn *pc, *pcs;
	struct vmad_job *job, *jobs, *rev = NULL;
	uint64_t v;
	bool stop;

	if (read(w->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained by an earlier callback. */
	}
	pthread_mutex_lock(&w->lock);
	pcs = w->new_conns;
	jobs = w->done_jobs;
	stop = w->stop;
	w->new_conns = NULL;
	w->done_jobs = NULL;
	pthread_mutex_unlock(&w->lock);

	while (pcs) {
		pc = pcs;
		pcs = pc->next;
		if (w->stopping) {
			close(pc->fd);
			vmad_conn_release(w->srv, pc->uid);
		} else {
			conn_new(w, pc);
		}
		free(pc);
	}
	/* The inbox is LIFO; jobs of different connections, any order. */
	while (jobs) {
		job = jobs;
		jobs = job->next;
		job->next = rev;
		rev = job;
	}
	while (rev) {
		job = rev;
		rev = job->next;
		conn_job_done(job);
	}
	if (stop && !w->stopping)
		worker_begin_stop(w);
}

static void worker_post(struct vmad_worker *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice. */
	}
}

void vmad_worker_post_job(struct vmad_worker *w, struct vmad_job *job)
{
	pthread_mutex_lock(&w->lock);
	job->next = w->done_jobs;
	w->done_jobs = job;
	pthread_mutex_unlock(&w->lock);
	worker_post(w);
}

static void *worker_main(void *arg)
{
	struct vmad_worker *w = arg;

	urcu_memb_register_thread();
	event_base_dispatch(w->base);
	/* What a closed connection left queued; the thread's list. */
	vmad_persist_thread_exit();
	urcu_memb_unregister_thread();
	return NULL;
}

static int worker_init(struct vmad_server *srv, struct vmad_worker *w,
		       unsigned idx)
{
	w->srv = srv;
	w->idx = idx;
	pthread_mutex_init(&w->lock, NULL);
	CDS_INIT_LIST_HEAD(&w->conns);
	rpc_buf_init(&w->scratch);
	w->base = event_base_new();
	if (!w->base)
		return -ENOMEM;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	w->notify_ev =
		event_new(w->base, w->efd, EV_READ | EV_PERSIST, on_notify, w);
	w->stop_timer = evtimer_new(w->base, on_stop_timeout, w);
	w->sweep_ev = event_new(w->base, -1, EV_PERSIST, on_sweep, w);
	if (!w->notify_ev || !w->stop_timer || !w->sweep_ev)
		return -ENOMEM;
	event_add(w->notify_ev, NULL);
	{
		struct timeval sec = {.tv_sec = 1};

		event_add(w->sweep_ev, &sec);
	}
	return 0;
}

static void worker_fini(struct vmad_worker *w)
{
	struct vmad_conn *c, *tmp;

	/* Only left-overs of a forced stop remain here. */
	cds_list_for_each_entry_safe(c, tmp, &w->conns, node) conn_close(c);
	if (w->notify_ev)
		event_free(w->notify_ev);
	if (w->stop_timer)
		event_free(w->stop_timer);
	if (w->sweep_ev)
		event_free(w->sweep_ev);
	if (w->base)
		event_base_free(w->base);
	if (w->efd > 0)
		close(w->efd);
	rpc_buf_fini(&w->scratch);
	pthread_mutex_destroy(&w->lock);
}

/* ---- Listener (main thread) -----------------------------------------------
 */

/*
 * Answer a connection over a limit with an error (id null) and close it.
 * Context: Main thread.
 */
static void refuse(struct vmad_server *srv, int fd, const struct ucred *cred,
		   int err, const char *why)
{
	send_last_error(fd, err, why);
	close(fd);
	uatomic_inc(&srv->conns_refused);
	vmad_log_ratelimited(VMAD_LOG_VERBOSE,
			     "connection of uid %u pid %d refused: %s",
			     (unsigned)cred->uid, (int)cred->pid, why);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	struct vmad_server *srv = arg;
	struct vmad_pending_conn *pc;
	struct vmad_worker *w;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char why[RPC_MSG_MAX];
	int ret;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		vmad_log_ratelimited(VMAD_LOG_WARN, "SO_PEERCRED: %s",
				     strerror(errno));
		close(fd);
		return;
	}
	ret = vmad_conn_admit(srv, cred.uid, why, sizeof(why));
	if (ret) {
		refuse(srv, fd, &cred, ret, why);
		return;
	}
	pc = calloc(1, sizeof(*pc));
	if (!pc) {
		close(fd);
		vmad_conn_release(srv, cred.uid);
		return;
	}
	pc->fd = fd;
	pc->uid = cred.uid;
	pc->pid = cred.pid;
	uatomic_inc(&srv->conns_total);
	w = &srv->workers[srv->next_worker++ % srv->nr_workers];
	pthread_mutex_lock(&w->lock);
	pc->next = w->new_conns;
	w->new_conns = pc;
	pthread_mutex_unlock(&w->lock);
	worker_post(w);
}

/*
 * Out of descriptors (EMFILE, ENFILE) or kernel memory: the listening
 * socket stays readable, so accepting again at once would spin. Pause the
 * listener until a connection closes (vmad_listener_wake()) or a second
 * has passed (ENFILE may be another process's doing), as memcached does.
 * Context: Main thread (the listener's loop).
 */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct vmad_server *srv = arg;
	struct timeval tv = {.tv_sec = 1};
	int err = errno;

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		vmad_log_ratelimited(VMAD_LOG_WARN, "accept: %s",
				     strerror(err));
		return;
	}
	evconnlistener_disable(l);
	uatomic_set(&srv->accept_paused, 1);
	evtimer_add(srv->accept_timer, &tv);
	vmad_log_ratelimited(VMAD_LOG_WARN,
			     "accept: %s; not accepting until a connection "
			     "closes (%ld open)",
			     strerror(err), uatomic_read(&srv->nr_conns));
}

static void listener_resume(struct vmad_server *srv)
{
	if (!uatomic_read(&srv->accept_paused) || !srv->listener)
		return;
	uatomic_set(&srv->accept_paused, 0);
	evtimer_del(srv->accept_timer);
	evconnlistener_enable(srv->listener);
	vmad_log_ratelimited(VMAD_LOG_INFO, "accepting connections again");
}

static void on_accept_timer(evutil_socket_t fd, short what, void *arg)
{
	listener_resume(arg);
}

static void on_main_notify(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing new. */
	}
	listener_resume(arg);
}

void vmad_listener_wake(struct vmad_server *srv)
{
	uint64_t one = 1;

	if (!uatomic_read(&srv->accept_paused) || srv->main_efd < 0)
		return;
	if (write(srv->main_efd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice. */
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct vmad_server *srv = arg;

	if (sig == SIGHUP) {
		vmad_reload(srv);
		return;
	}
	vmad_log(VMAD_LOG_INFO, "signal %d: shutting down", (int)sig);
	event_base_loopbreak(srv->base);
}

/*
 * Bind the socket, replacing a stale file but never a live daemon's
 * socket or a file that is not a socket.
 */
static int vmad_listen(struct vmad_server *srv)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = srv->sock_path;
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		vmad_log(VMAD_LOG_ERROR, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			vmad_log(VMAD_LOG_ERROR,
				 "%s exists and is not a socket; not "
				 "replacing it",
				 path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		ret = connect(probe, (struct sockaddr *)&sun, sizeof(sun));
		close(probe);
		if (ret == 0) {
			vmad_log(VMAD_LOG_ERROR,
				 "another vmad is already listening on %s",
				 path);
			return -EADDRINUSE;
		}
		vmad_log(VMAD_LOG_INFO, "removing stale socket %s", path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		vmad_log(VMAD_LOG_ERROR, "bind %s: %s", path, strerror(-ret));
		goto out_close;
	}
	vmad_instance_remember_socket(srv);
	if (srv->cfg.socket_group[0]) {
		gid_t gid;

		ret = vmad_group_id(srv->cfg.socket_group, &gid);
		if (ret) {
			vmad_log(VMAD_LOG_ERROR,
				 "socket_group %s: no such group",
				 srv->cfg.socket_group);
			goto out_unlink;
		}
		if (chown(path, (uid_t)-1, gid) < 0) {
			ret = -errno;
			vmad_log(VMAD_LOG_ERROR, "chown %s to group %s: %s",
				 path, srv->cfg.socket_group, strerror(-ret));
			goto out_unlink;
		}
	}
	if (chmod(path, srv->cfg.socket_mode) < 0) {
		ret = -errno;
		vmad_log(VMAD_LOG_ERROR, "chmod %s: %s", path, strerror(-ret));
		goto out_unlink;
	}
	if (listen(fd, (int)srv->cfg.listen_backlog) < 0) {
		ret = -errno;
		goto out_unlink;
	}
	srv->listen_fd = fd;
	return 0;
out_unlink:
	vmad_instance_unlink_socket(srv);
out_close:
	close(fd);
	return ret;
}

/*
 * shutdown_timeout passed with a thread still busy (one long request, or
 * freeing huge spaces): remove the socket and the pidfile and exit now;
 * the kernel takes back the memory. Context: Main thread.
 */
static void shutdown_late(struct vmad_server *srv, const char *what)
{
	vmad_log(VMAD_LOG_WARN,
		 "shutdown_timeout (%u s) passed with %s still running; "
		 "exiting without waiting%s",
		 srv->cfg.shutdown_timeout, what,
		 srv->persist ? " once the changed spaces are saved" : "");
	/*
	 * What was answered is not lost: with a state directory the changed
	 * spaces are saved first (a save waits at most for the one request
	 * running on its space).
	 */
	vmad_persist_stop(srv);
	vmad_instance_unlink_socket(srv);
	vmad_instance_release(srv);
	vmad_log(VMAD_LOG_INFO, "stopped");
	_exit(0);
}

int vmad_server_run(struct vmad_server *srv)
{
	static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
	const struct timespec *dl = NULL; /* shutdown deadline */
	struct timespec deadline;
	sigset_t mask, old;
	unsigned i, nr_started = 0;
	int ret;

	srv->started = (uint64_t)time(NULL);
	srv->listen_fd = -1;
	srv->main_efd = -1;
	srv->nr_workers = srv->cfg.workers ? srv->cfg.workers : vmad_nr_cpus();
	vmad_limits_init(srv);
	vmad_memory_init(srv);
	ret = vmad_limits_fit_fds(srv);
	if (ret) {
		vmad_limits_fini(srv);
		return ret;
	}
	/* The lock first: only its holder may replace a stale socket. */
	ret = vmad_instance_lock(srv);
	if (ret)
		return ret;
	ret = vmad_listen(srv);
	if (!ret)
		ret = vmad_instance_pidfile(srv);
	if (ret) {
		if (srv->listen_fd >= 0) {
			close(srv->listen_fd);
			srv->listen_fd = -1;
			vmad_instance_unlink_socket(srv);
		}
		vmad_instance_release(srv);
		vmad_limits_fini(srv);
		return ret;
	}

	/* Threads inherit a mask without our signals: main handles them. */
	sigemptyset(&mask);
	for (i = 0; i < 3; i++)
		sigaddset(&mask, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	urcu_memb_register_thread();

	/* Before the workers start: they read it to wake the listener. */
	srv->main_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->main_efd < 0) {
		ret = -errno;
		goto out_jobs;
	}
	ret = vmad_registry_init(&srv->reg);
	if (!ret)
		vmad_log(VMAD_LOG_INFO,
			 "space ids start at %llu this time (a fresh base at "
			 "every start: ids are never reused)",
			 (unsigned long long)srv->reg.first_id);
	if (ret)
		goto out_jobs;
	ret = vmad_jobs_start(srv);
	if (ret)
		goto out_jobs;
	/* Every space of the state directory, before the first client. */
	ret = vmad_persist_start(srv);
	if (ret)
		goto out_jobs;
	vmad_memory_check_loaded(srv);
	srv->workers = calloc(srv->nr_workers, sizeof(*srv->workers));
	if (!srv->workers) {
		ret = -ENOMEM;
		goto out_jobs;
	}
	for (i = 0; i < srv->nr_workers; i++) {
		ret = worker_init(srv, &srv->workers[i], i);
		if (ret)
			goto out_workers;
	}
	for (i = 0; i < srv->nr_workers; i++) {
		ret = -pthread_create(&srv->workers[i].thread, NULL,
				      worker_main, &srv->workers[i]);
		if (ret)
			goto out_workers;
		nr_started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	srv->base = event_base_new();
	if (!srv->base) {
		ret = -ENOMEM;
		goto out_workers;
	}
	/*
	 * Backlog 0: the socket listens already, with listen_backlog; any
	 * other value would make libevent call listen() again with it (-1
	 * is its default of 128).
	 */
	srv->listener = evconnlistener_new(srv->base, on_accept, srv,
					   LEV_OPT_CLOSE_ON_FREE |
						   LEV_OPT_CLOSE_ON_EXEC,
					   0, srv->listen_fd);
	if (!srv->listener) {
		ret = -ENOMEM;
		goto out_workers;
	}
	srv->listen_fd = -1; /* owned by the listener now */
	evconnlistener_set_error_cb(srv->listener, on_accept_error);
	srv->main_ev = event_new(srv->base, srv->main_efd, EV_READ | EV_PERSIST,
				 on_main_notify, srv);
	srv->accept_timer = evtimer_new(srv->base, on_accept_timer, srv);
	if (!srv->main_ev || !srv->accept_timer ||
	    event_add(srv->main_ev, NULL)) {
		ret = -ENOMEM;
		goto out_workers;
	}
	for (i = 0; i < 3; i++) {
		srv->sig_ev[i] =
			evsignal_new(srv->base, sigs[i], on_signal, srv);
		if (!srv->sig_ev[i] || event_add(srv->sig_ev[i], NULL)) {
			ret = -ENOMEM;
			goto out_workers;
		}
	}

	vmad_log(VMAD_LOG_INFO,
		 "vmad %s listening on %s (%u workers, %u job threads)",
		 VMAD_VERSION, srv->sock_path, srv->nr_workers,
		 srv->cfg.job_threads);
	printf("vmad listening on %s\n", srv->sock_path);
	fflush(stdout);
	if (srv->ready_fd >= 0) {
		if (write(srv->ready_fd, "", 1) < 0) {
			/* The parent went away; carry on. */
		}
		close(srv->ready_fd);
		srv->ready_fd = -1;
		vmad_log_ready();
	}

	event_base_dispatch(srv->base);
	ret = 0;

	/*
	 * Everything below ends by shutdown_timeout: requests not started
	 * are answered with ECANCELED, connections get until three quarters
	 * of it to take their answers, and whatever still runs at the end
	 * (one long request, freeing huge spaces) is left to the exit.
	 */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += srv->cfg.shutdown_timeout;
	dl = &deadline;
	vmad_jobs_cancel(srv);
	/* Stop accepting; the socket file goes first. */
	evconnlistener_free(srv->listener);
	srv->listener = NULL;
	vmad_instance_unlink_socket(srv);
out_workers:
	for (i = 0; i < nr_started; i++) {
		struct vmad_worker *w = &srv->workers[i];

		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_mutex_unlock(&w->lock);
		worker_post(w);
	}
	for (i = 0; i < nr_started; i++)
		if (!vmad_join_until(srv->workers[i].thread, dl))
			shutdown_late(srv, "connections waiting for requests");
	if (srv->workers)
		for (i = 0; i < srv->nr_workers; i++)
			worker_fini(&srv->workers[i]);
	free(srv->workers);
	srv->workers = NULL;
	srv->nr_workers = 0;
	vmad_persist_stop(srv); /* saves the changed spaces */
	if (srv->reg.by_id)
		vmad_registry_fini(srv);
out_jobs:
	if (vmad_jobs_stop(srv, dl))
		shutdown_late(srv, "requests or frees");
	urcu_memb_barrier(); /* every space's call_rcu free has run */
	vmad_persist_fini(srv);
	if (srv->reg.by_id)
		cds_lfht_destroy(srv->reg.by_id, NULL);
	if (srv->reg.by_name)
		cds_lfht_destroy(srv->reg.by_name, NULL);
	free(srv->reg.uids);
	urcu_memb_unregister_thread();
	for (i = 0; i < 3; i++)
		if (srv->sig_ev[i])
			event_free(srv->sig_ev[i]);
	if (srv->main_ev)
		event_free(srv->main_ev);
	if (srv->accept_timer)
		event_free(srv->accept_timer);
	if (srv->listener)
		evconnlistener_free(srv->listener);
	if (srv->base)
		event_base_free(srv->base);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	vmad_instance_unlink_socket(srv); /* no-op if already removed */
	vmad_instance_release(srv);
	if (srv->main_efd >= 0)
		close(srv->main_efd);
	srv->main_efd = -1;
	vmad_limits_fini(srv);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	vmad_log(VMAD_LOG_INFO, "stopped");
	return ret;
}
