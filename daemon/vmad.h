/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmad.h - The daemon's shared declarations: configuration, logging, the
 * server, its workers and connections, the space registry and the job
 * pool.
 *
 * Threads (memcached's shape):
 *   main       parses the configuration, owns the listening socket and
 *              the listener event_base; accepts connections and hands
 *              each to a worker round-robin; handles signals.
 *   workers    N threads, each with its own event_base and the
 *              connections it was handed. Registered urcu-memb readers:
 *              fault and lookup run here without locks, mutations take
 *              the space's writer lock inside the vas_* calls.
 *   jobs       a small pool for long operations (fork, maps, validate,
 *              stats of a space, long batches), run in slices that take
 *              turns between uids and connections, so that a worker's
 *              other connections are never stalled.
 *   reaper     frees destroyed spaces and large buffers.
 *
 * Everything a worker owns (its connections, its event_base, its scratch
 * buffer) is not thread-safe unless stated; other threads reach a worker
 * only through vmad_worker_post(), which takes the worker's lock and
 * writes its eventfd.
 *
 * Locking:
 *   vmad_registry_lookup, _list       RCU reader (takes the read lock)
 *   vmad_registry_add, _remove        Takes registry->lock
 *   vmad_space_put                    Any context (the last put queues
 *                                     the free on the reaper)
 *   vmad_jobs_submit, _reap           Any context
 *   vmad_conn_admit                   Main thread (takes limits->lock)
 *   vmad_conn_release                 Any context (takes limits->lock)
 *   vmad_memory_*                     Any context (atomic counters)
 */
#ifndef VMAD_VMAD_H
#define VMAD_VMAD_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>
#include <urcu/list.h>

#include "rpc/jsonrpc.h"
#include "vma/vas.h"

/* ---- Configuration (config.c) ------------------------------------------ */

enum vmad_log_level {
	VMAD_LOG_ERROR,
	VMAD_LOG_WARN,
	VMAD_LOG_INFO,
	VMAD_LOG_VERBOSE,
	VMAD_LOG_DEBUG,
};

#define VMAD_PATH_MAX 256

/* Every field is a row of the table in config.c. */
struct vmad_config {
	/* Listening socket */
	char socket[VMAD_PATH_MAX]; /* "" = VMAD_SOCKET or the default */
	char socket_group[64];	    /* group of the socket file, "" = ours */
	unsigned socket_mode;	    /* permission bits of the socket file */
	/* Threads */
	unsigned workers;     /* 0 = one per CPU */
	unsigned job_threads; /* threads for long operations */
	/* Limits */
	unsigned max_connections; /* fitted to RLIMIT_NOFILE at start */
	unsigned superuser_reserved_connections; /* of max_connections */
	unsigned max_connections_per_uid;	 /* 0 = no limit */
	unsigned listen_backlog;		 /* listen(2) backlog */
	uint64_t max_message;			 /* bytes of one JSON value */
	unsigned max_batch;			 /* requests in one batch */
	unsigned max_spaces_per_uid;
	unsigned max_spaces;		/* of all uids together */
	uint64_t max_memory;		/* 0 = half of RAM (set at start) */
	uint64_t default_max_map_count; /* of a new space */
	uint64_t max_map_count_limit;	/* most a client may ask for */
	bool tree_in_place;		/* vas_layout.tree_in_place */
	bool zero_page;			/* !vas_layout.no_zero_page */
	uint64_t output_high_water;	/* stop reading above this */
	uint64_t output_low_water;	/* resume below this */
	unsigned output_timeout;	/* seconds output may stay undrained */
	uint64_t output_limit_hard;	/* close above this (0 = none) */
	uint64_t output_limit_soft;	/* close above this for ... */
	unsigned output_limit_soft_seconds; /* ... this long */
	unsigned timeout;		    /* idle seconds (0 = never) */
	unsigned request_timeout;  /* seconds to complete a value (0 = never) */
	unsigned shutdown_timeout; /* seconds to flush on SIGTERM */
	/* Durable spaces (persist.c) */
	char state_dir[VMAD_PATH_MAX]; /* "" = spaces live in memory only */
	uint64_t save_interval_ms;     /* between saves of changed spaces */
	bool appendonly;      /* journal each change before answering */
	unsigned appendfsync; /* enum vmad_fsync */
	/* Process */
	bool daemonize;
	char pidfile[VMAD_PATH_MAX];
	/* Logging */
	unsigned log_level;
	char log_file[VMAD_PATH_MAX]; /* "" = stderr */
	bool syslog;
};

/* appendfsync: when the journal of a space reaches the disk. */
enum vmad_fsync {
	VMAD_FSYNC_ALWAYS,   /* before each change is answered */
	VMAD_FSYNC_EVERYSEC, /* once a second, in the background */
	VMAD_FSYNC_NO,	     /* when the kernel writes it back */
};

/* Where a value came from, for the socket order of PROTOCOL.md, Transport. */
enum vmad_config_origin {
	VMAD_CFG_DEFAULT,
	VMAD_CFG_FILE,
	VMAD_CFG_CLI,
};

/**
 * vmad_config_defaults() - Fill @cfg from the table's defaults.
 * Context: Init only.
 */
void vmad_config_defaults(struct vmad_config *cfg);

/**
 * vmad_config_load() - Apply the "name value" lines of @path.
 * @errbuf: receives "FILE:LINE: reason" on error.
 * Context: Init only.
 * Return: 0; -EINVAL (a config error: exit with EX_CONFIG); -errno if the
 *         file cannot be read.
 */
int vmad_config_load(struct vmad_config *cfg, const char *path, char *errbuf,
		     size_t len);

/**
 * vmad_config_set() - Set option @name (dashes or underscores) to @value.
 * Context: Init only.
 * Return: 0; -ENOENT for an unknown option; -EINVAL for a bad value
 *         (@errbuf says why).
 */
int vmad_config_set(struct vmad_config *cfg, const char *name,
		    const char *value, enum vmad_config_origin origin,
		    char *errbuf, size_t len);

/**
 * vmad_config_origin() - Where option @name got its value.
 * Context: Init only.
 */
enum vmad_config_origin vmad_config_origin_of(const char *name);

/**
 * vmad_config_check() - Cross-option checks (low < high water, ...).
 * Context: Init only.
 * Return: 0; -EINVAL with @errbuf.
 */
int vmad_config_check(const struct vmad_config *cfg, char *errbuf, size_t len);

/**
 * vmad_config_dump() - Print every option as a config file would hold it.
 * Context: Init only.
 */
void vmad_config_dump(const struct vmad_config *cfg, FILE *f);

/**
 * vmad_config_usage() - Print one line per option for --help.
 * Context: Init only.
 */
void vmad_config_usage(FILE *f);

/**
 * vmad_config_known() - Whether @name (dashes or underscores) is an option.
 * Context: Any context.
 */
bool vmad_config_known(const char *name);

struct rpc_suggest;

/**
 * vmad_config_suggest() - Offer every option's name (with underscores, in
 * the table's order) to @s, the search for "did you mean ...?".
 * Context: Any context.
 */
void vmad_config_suggest(struct rpc_suggest *s);

/**
 * vmad_config_name() - The name of the @i-th option, NULL past the last.
 * Context: Any context.
 */
const char *vmad_config_name(size_t i);

/**
 * vmad_config_format() - Write option @name of @cfg as a config file
 * holds it ("0660", "yes", a quoted string).
 * Context: Any context; @cfg must not change meanwhile.
 * Return: 0; -ENOENT for an unknown option.
 */
int vmad_config_format(const struct vmad_config *cfg, const char *name,
		       char *buf, size_t len);

/**
 * vmad_config_copy() - Copy option @name from @src to the live @dst: a
 * number or boolean with one relaxed atomic store of its aligned word, so
 * that a thread reading it meanwhile reads the old or the new value; a
 * string with strcpy() (strings are read by the main thread only).
 * Context: Main thread.
 * Return: 0; -ENOENT for an unknown option.
 */
int vmad_config_copy(struct vmad_config *dst, const struct vmad_config *src,
		     const char *name);

/**
 * vmad_config_log_default() - A daemon that detaches without a log_file
 * logs to syslog (its stderr is /dev/null once it listens).
 * Context: Init only, or the main thread on SIGHUP.
 */
void vmad_config_log_default(struct vmad_config *cfg);

/**
 * vmad_configure() - Build the effective configuration: the defaults, then
 * the file @config (NULL: none), then the command line @argv (every option
 * but --config, --help and --version), then the cross-option checks.
 * @dump: set when --dump-config is given (may be NULL).
 * @err:  receives what is wrong, without the program name.
 * Context: Init only, or the main thread on SIGHUP (main.c).
 * Return: 0; 64 (EX_USAGE) for a bad command line; 78 (EX_CONFIG) for a
 *         bad file or an inconsistent configuration.
 */
int vmad_configure(struct vmad_config *cfg, const char *config, int argc,
		   char **argv, bool *dump, char *err, size_t len);

/**
 * vmad_config_reloadable() - Whether SIGHUP applies option @name (exact,
 * underscores) to a running daemon (reload.c).
 * Context: Any context.
 */
bool vmad_config_reloadable(const char *name);

/**
 * vmad_reload() - SIGHUP: re-read the configuration file and the command
 * line, apply the options that can change at run time, log each change,
 * warn about changed options that need a restart, and reopen the log.
 * A configuration error is logged and changes nothing.
 * Context: Main thread (the listener's signal callback).
 */
struct vmad_server;
void vmad_reload(struct vmad_server *srv);

/* ---- Logging (log.c) ----------------------------------------------------- */

extern int vmad_log_level;

/*
 * vmad_log() - Log at @level if enabled; the level is checked before the
 * arguments are evaluated.
 */
#define vmad_log(level, ...)                                                   \
	do {                                                                   \
		if ((int)(level) <= vmad_log_level)                            \
			vmad_log_write((level), __VA_ARGS__);                  \
	} while (0)

void vmad_log_write(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Rate limiting of log lines that clients can trigger over and over (an
 * accept loop out of descriptors, refused connections, the memory limit):
 * each call site of vmad_log_ratelimited() prints at most
 * VMAD_RATELIMIT_BURST lines per VMAD_RATELIMIT_INTERVAL seconds; the
 * first line after a suppression says how many were dropped, as the
 * kernel's printk_ratelimited() does.
 */
#define VMAD_RATELIMIT_INTERVAL 5
#define VMAD_RATELIMIT_BURST	10

struct vmad_ratelimit {
	long window;	    /* start of the current window (monotonic s) */
	unsigned printed;   /* lines printed in the window */
	unsigned long lost; /* lines suppressed since the last printed */
};

/**
 * vmad_ratelimit_ok() - Whether a line of call site @rl may be printed now.
 * @lost: receives the number of lines suppressed before this one.
 * Context: Any context (takes a lock of log.c).
 */
bool vmad_ratelimit_ok(struct vmad_ratelimit *rl, unsigned long *lost);

#define vmad_log_ratelimited(level, ...)                                       \
	do {                                                                   \
		static struct vmad_ratelimit rl_;                              \
		unsigned long lost_;                                           \
		if ((int)(level) <= vmad_log_level &&                          \
		    vmad_ratelimit_ok(&rl_, &lost_)) {                         \
			if (lost_)                                             \
				vmad_log_write((level),                        \
					       "(%lu similar lines "           \
					       "suppressed)",                  \
					       lost_);                         \
			vmad_log_write((level), __VA_ARGS__);                  \
		}                                                              \
	} while (0)

/**
 * vmad_log_open() - Direct logs to @cfg's file, syslog or stderr.
 * Context: Init only, or the main thread on SIGHUP (reopens the file).
 * Return: 0; -errno if the log file cannot be opened.
 */
int vmad_log_open(const struct vmad_config *cfg);

/**
 * vmad_log_tee_stderr() - Also write every log line to stderr (a detaching
 * daemon, until it listens: start-up errors reach the caller's terminal).
 * Context: Init only.
 */
void vmad_log_tee_stderr(void);

/**
 * vmad_log_ready() - The daemon listens: stop writing log lines to stderr
 * and, if they were teed there, point stderr at /dev/null.
 * Context: Main thread.
 */
void vmad_log_ready(void);

/**
 * vmad_log_signal_safe() - Write @msg to stderr with write(2) only.
 * Context: Any context, including signal handlers.
 */
void vmad_log_signal_safe(const char *msg);

/* ---- Spaces (registry.c) ------------------------------------------------- */

/**
 * struct vmad_space - A named address space and who owns it.
 * @refs: one for the registry while listed, one per user; the last put
 *        frees @vas on the job pool and the struct after a grace period.
 */
struct vmad_space {
	uint64_t id;
	char name[RPC_NAME_MAX]; /* "" if unnamed */
	uid_t owner;
	struct vas *vas;
	struct vas_layout layout; /* a copy: space.list reads it under RCU */
	long refs;
	struct cds_lfht_node id_node;
	struct cds_lfht_node name_node;
	struct rcu_head rcu;
	struct vmad_server *srv;
	struct vmad_space *reap_next;
	struct vmad_pspace *ps; /* its files (persist.c); NULL without */
};

struct vmad_uid_count {
	uid_t uid;
	unsigned nr;
};

/*
 * Called under registry->lock with each id handed out (the persistence of
 * issue 18 can record a high-water mark with it, and on restore call
 * vmad_registry_reserve_ids() with what it recorded).
 */
typedef void (*vmad_id_hook)(void *arg, uint64_t id);

struct vmad_registry {
	struct cds_lfht *by_id;	  /* id -> space */
	struct cds_lfht *by_name; /* (owner, name) -> space (named ones) */
	pthread_mutex_t lock;	  /* serialises add and remove */
	uint64_t next_id;	  /* under lock */
	uint64_t first_id;	  /* this daemon life's base (logged) */
	vmad_id_hook id_hook;	  /* or NULL; under lock */
	void *id_hook_arg;
	uint64_t id_limit;	     /* ids below it are reserved on disk
					(with a state_dir), under lock */
	struct vmad_uid_count *uids; /* spaces per uid, under lock */
	size_t nr_uids, cap_uids;
	long nr_spaces; /* atomic */
};

int vmad_registry_init(struct vmad_registry *reg);
void vmad_registry_fini(struct vmad_server *srv);

/**
 * vmad_registry_reserve_ids() - Hand out only ids above @last from now on
 * (a restored counter; ids are never reused).
 * Context: Takes registry->lock.
 */
void vmad_registry_reserve_ids(struct vmad_registry *reg, uint64_t last);

/**
 * vmad_registry_lookup() - Find a space @uid may see, by id or by name,
 * and take a reference. Names are scoped per owner: a plain name is one
 * of @uid's spaces; "~UID/NAME" (@ref->has_owner) names another owner's,
 * which only root may see. A space the caller may not see is not found:
 * nothing tells it apart from one that does not exist.
 * Context: Any registered RCU thread (takes the read lock itself).
 * Return: 0 and *@out (put it with vmad_space_put()); -ENOENT.
 */
int vmad_registry_lookup(struct vmad_server *srv,
			 const struct rpc_space_ref *ref, uid_t uid,
			 struct vmad_space **out);

/**
 * vmad_registry_add() - List a new space owning @vas (stolen on success).
 * Context: Takes registry->lock.
 * Return: 0 and *@out (a new reference); -EEXIST if @uid has a space of
 *         that name; -EAGAIN if @uid owns max_spaces_per_uid spaces or
 *         the daemon max_spaces; -ENOMEM.
 */
int vmad_registry_add(struct vmad_server *srv, const char *name, uid_t uid,
		      struct vas *vas, struct vmad_space **out);

/**
 * vmad_registry_add_restored() - List a space loaded from the state
 * directory under its own @id (not counted against max_spaces_per_uid).
 * Context: Takes registry->lock.
 * Return: 0 and *@out (a new reference); -EEXIST if the id or the name is
 *         taken; -ENOMEM.
 */
int vmad_registry_add_restored(struct vmad_server *srv, uint64_t id,
			       const char *name, uid_t uid, struct vas *vas,
			       struct vmad_space **out);

/**
 * vmad_registry_collect() - A reference to every listed space.
 * @out: new array of the return value's length (free() it after putting
 *       each space).
 * Context: Any registered RCU thread.
 * Return: the number of spaces, or -ENOMEM.
 */
long vmad_registry_collect(struct vmad_server *srv, struct vmad_space ***out);

/**
 * vmad_registry_remove() - Unlist @sp (destroy); its memory goes when the
 * last reference is put.
 * Context: Takes registry->lock.
 * Return: 0; -ENOENT if already removed.
 */
int vmad_registry_remove(struct vmad_server *srv, struct vmad_space *sp);

void vmad_space_put(struct vmad_space *sp);

/**
 * vmad_registry_list() - Write the spaces visible to @uid as a JSON array.
 * Context: Any registered RCU thread.
 */
void vmad_registry_list(struct vmad_server *srv, uid_t uid,
			struct rpc_buf *out);

/**
 * vmad_registry_counts() - Write the space counts @uid may see as JSON
 * members: ,"spaces":N for the caller's own; for root the total and
 * ,"spaces_by_uid":{"UID":N,...}.
 * Context: Takes registry->lock.
 */
void vmad_registry_counts(struct vmad_server *srv, uid_t uid,
			  struct rpc_buf *out);

/* ---- Requests run in parts (handlers.c) -----------------------------------
 */

/**
 * struct vmad_stream - A response written in parts: a handler that sets
 * ctx->stream has written the start of its result; the runner calls
 * @step until it returns true (the result is complete), between slices
 * of the job if need be, then @free. Owns what the response is made of
 * (a snapshot of the space).
 * @step: append about @max more bytes to @out; true once done.
 */
struct vmad_stream {
	bool (*step)(struct vmad_stream *s, struct rpc_buf *out, size_t max);
	void (*free)(struct vmad_stream *s);
};

/**
 * struct vmad_run - Where a message's run stands, so that it can be
 * continued: the next request, whether the batch's "[" is out, a
 * response being streamed.
 */
struct vmad_run {
	const struct rpc_msg *msg;
	size_t next;		    /* the next request to run */
	size_t nr_out;		    /* responses written (batch members) */
	struct vmad_stream *stream; /* the response of next - 1, in parts */
	bool stream_batch;	    /* it is a batch member */
	bool done;
};

/* ---- Jobs (jobs.c) ------------------------------------------------------- */

struct vmad_conn;
struct vmad_job;
typedef void (*vmad_job_fn)(struct vmad_job *job);

/**
 * struct vmad_job - A unit of work for the job threads or the reaper.
 * @fn: what to run on a job thread.
 * @conn: for request jobs, the connection to answer (its worker gets the
 *        job back through vmad_worker_post_job() after every slice);
 *        NULL for reaper jobs.
 * @uid: whose turn it takes (the connection's uid).
 */
struct vmad_job {
	vmad_job_fn fn;
	struct vmad_conn *conn;
	uid_t uid;
	struct rpc_msg msg;
	bool parsed; /* @msg holds the value (else @frame does) */
	struct vmad_run run;
	bool done;	    /* answered completely: do not queue again */
	bool stream_slot;   /* holds one of its uid's stream slots */
	bool parked;	    /* waiting for its client to read (worker's) */
	struct rpc_buf out; /* what this slice wrote */
	bool close_after;   /* the stream is broken: close after @out */
	/* A large value parsed on the job thread (in the connection's
	 * decoder buffer, which stays put while the job runs). */
	const char *frame;
	size_t frame_len;
	bool frame_big;
	struct vmad_space *space; /* reap jobs */
	uint64_t free_bytes;	  /* reaper jobs: about how much they free */
	struct vmad_job *next;
};

/*
 * Responses streamed from a snapshot (maps) that one uid may have going
 * at once; its other jobs that would start one wait (vmad_jobs_stream_get()).
 * A client that does not read holds a snapshot while its job is parked:
 * this bounds what a uid's idle connections pin.
 */
#define VMAD_STREAMS_PER_UID 8

/* The jobs of one uid, and its place in the round robin. */
struct vmad_job_owner {
	uid_t uid;
	struct vmad_job *head, *tail;
	struct cds_list_head node; /* in vmad_jobs.active while queued */
	unsigned streams;	   /* streams going (slots taken) */
	struct vmad_job *wait_head, *wait_tail; /* waiting for a slot */
};

struct vmad_jobs {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cds_list_head active;	/* owners with jobs, in turn */
	struct vmad_job_owner **owners; /* every uid seen, under lock */
	size_t nr_owners, cap_owners;
	long nr_queued;	 /* under lock */
	long nr_waiting; /* under lock: waiting for a stream slot */
	bool stop;	 /* under lock */
	int cancel;	 /* atomic: answer requests not started with an error */
	pthread_t *threads;
	unsigned nr_threads;
	long nr_run; /* atomic: slices run */
	/* The reaper: frees destroyed spaces and large buffers. */
	pthread_mutex_t reap_lock;
	pthread_cond_t reap_cond;
	struct vmad_job *reap_head, *reap_tail; /* under reap_lock */
	bool reap_stop;				/* under reap_lock */
	pthread_t reaper;
	bool reaper_started;
	long nr_reaping; /* atomic: reaper jobs not done */
};

int vmad_jobs_start(struct vmad_server *srv);

/**
 * vmad_jobs_stop() - Let the job threads finish what is queued and exit,
 * then the reaper.
 * @deadline: CLOCK_REALTIME instant to give up waiting (NULL: wait).
 * Context: Main thread, after the workers stopped.
 * Return: 0; -ETIMEDOUT if a thread was still running at @deadline.
 */
int vmad_jobs_stop(struct vmad_server *srv, const struct timespec *deadline);

/**
 * vmad_jobs_submit() - Queue request job @job for its uid's next turn.
 * Context: Any context (takes jobs->lock).
 */
void vmad_jobs_submit(struct vmad_server *srv, struct vmad_job *job);

/**
 * vmad_jobs_reap() - Queue @job (a free) on the reaper.
 * Context: Any context (takes jobs->reap_lock).
 */
void vmad_jobs_reap(struct vmad_server *srv, struct vmad_job *job);

/**
 * vmad_join_until() - pthread_join() @t, giving up at @deadline
 * (CLOCK_REALTIME; NULL: wait).
 * Return: false if @t was still running at @deadline.
 */
bool vmad_join_until(pthread_t t, const struct timespec *deadline);

/**
 * vmad_jobs_stream_get() - Take one of @job's uid's stream slots before
 * it starts a request that streams from a snapshot; if none is free, the
 * job waits on its uid (it is the owner's then: the caller lets go of it)
 * and is queued again with the slot when one is put back.
 * Context: A job thread holding @job (takes jobs->lock).
 * Return: true with the slot (@job->stream_slot set); false if it waits.
 */
bool vmad_jobs_stream_get(struct vmad_server *srv, struct vmad_job *job);

/**
 * vmad_jobs_stream_put() - Give @job's stream slot back (its stream is
 * done, or the job is dropped), handing it to a waiting job of the uid.
 * Context: Any context (takes jobs->lock).
 */
void vmad_jobs_stream_put(struct vmad_server *srv, struct vmad_job *job);

/* Shutdown: requests not started yet are answered with ECANCELED. */
void vmad_jobs_cancel(struct vmad_server *srv);
bool vmad_jobs_cancelled(struct vmad_server *srv);
long vmad_jobs_queued(struct vmad_server *srv);

/* ---- Memory (memory.c) --------------------------------------------------- */

/**
 * vmad_memory_init() - Settle max_memory (0: half of the physical
 * memory), log it, and set libvma's limit with the room that releasing
 * memory needs above it.
 * Context: Init only.
 */
void vmad_memory_init(struct vmad_server *srv);

/**
 * vmad_memory_settle() - max_memory 0 in @cfg becomes the value chosen at
 * start (for a reload, which reads the configuration again).
 * Context: Main thread.
 */
void vmad_memory_settle(struct vmad_server *srv, struct vmad_config *cfg);

/**
 * vmad_memory_apply() - Set libvma's process-wide limit from max_memory
 * (at start, and after a reload that changed it).
 * Context: Main thread.
 */
void vmad_memory_apply(struct vmad_server *srv);

/**
 * vmad_memory_room() - What a mutation that adds to a space may take
 * libvma's memory to: max_memory less the connections' buffers.
 * Context: Any context.
 */
uint64_t vmad_memory_room(struct vmad_server *srv);

/* Bytes accounted: libvma's and the buffers'. Context: Any context. */
uint64_t vmad_memory_used(struct vmad_server *srv);

/**
 * vmad_memory_check_loaded() - Warn if the spaces loaded at start (never
 * refused) already hold more than max_memory, and keep the process-wide
 * limit above what they hold.
 * Context: Init only.
 */
void vmad_memory_check_loaded(struct vmad_server *srv);

/**
 * vmad_memory_charge() - Count @delta bytes of connection buffers.
 * Context: Any context.
 */
void vmad_memory_charge(struct vmad_server *srv, int64_t delta);

/* ---- Connection limits (limits.c) ---------------------------------------- */

struct vmad_uid_conns {
	uid_t uid;
	unsigned nr;
};

struct vmad_conn_limits {
	unsigned fd_fit;	   /* most connections the descriptors allow */
	unsigned long long nofile; /* RLIMIT_NOFILE (soft) at start */
	pthread_mutex_t lock;	   /* guards the table and nr_conns' moves */
	struct vmad_uid_conns *uids; /* connections per uid */
	size_t nr, cap;
};

/**
 * vmad_limits_fit_fds() - Raise the soft RLIMIT_NOFILE to the hard limit
 * and lower max_connections to what the descriptors allow; log the choice.
 * Context: Init only (before the listener and the threads).
 * Return: 0; -EMFILE if not even two connections fit.
 */
int vmad_limits_fit_fds(struct vmad_server *srv);

/**
 * vmad_limits_settle() - Apply to @cfg what start-up settled: max_connections
 * at most what the descriptors allow, the superuser's slots below it (a
 * reload applies the same to the configuration it reads).
 * Context: Main thread.
 */
void vmad_limits_settle(struct vmad_server *srv, struct vmad_config *cfg);

/* Root and the daemon's own uid: they get the reserved slots. */
bool vmad_uid_privileged(uid_t uid);

/**
 * vmad_conn_admit() - Count a new connection of @uid, or refuse it.
 * @why: receives the reason of a refusal (sent to the client).
 * Context: Main thread (takes limits->lock).
 * Return: 0; -EAGAIN over a limit; -ENOMEM.
 */
int vmad_conn_admit(struct vmad_server *srv, uid_t uid, char *why, size_t len);

/**
 * vmad_conn_release() - Uncount a connection of @uid (it was freed), and
 * wake a listener paused for want of descriptors.
 * Context: Any context (takes limits->lock).
 */
void vmad_conn_release(struct vmad_server *srv, uid_t uid);

void vmad_limits_init(struct vmad_server *srv);
void vmad_limits_fini(struct vmad_server *srv);

/* ---- Server (server.c) --------------------------------------------------- */

struct vmad_worker {
	/* Set up by main, then read-only */
	struct vmad_server *srv;
	unsigned idx;
	pthread_t thread;
	struct event_base *base;
	int efd; /* eventfd: "look at your inbox" */
	struct event *notify_ev;
	struct event *stop_timer;
	struct event *sweep_ev; /* once a second: timeouts, output limits */
	/* Inbox: written by other threads under lock */
	pthread_mutex_t lock;
	struct vmad_pending_conn *new_conns;
	struct vmad_job *done_jobs;
	bool stop;
	/* Worker-owned: not thread-safe */
	struct cds_list_head conns;
	unsigned nr_conns;
	bool stopping;
	struct rpc_buf scratch;
	/* Counters: written by the worker, read racily by "stats" */
	uint64_t nr_requests;
	uint64_t nr_errors;
	uint64_t nr_faults;
	uint64_t nr_closed_output;  /* output limits and timeouts */
	uint64_t nr_closed_timeout; /* idle and request timeouts */
};

struct vmad_pending_conn {
	int fd;
	uid_t uid;
	pid_t pid;
	struct vmad_pending_conn *next;
};

/**
 * struct vmad_conn - One client connection. Owned by its worker.
 */
struct vmad_conn {
	struct vmad_worker *w;
	int fd;			/* -1 once closed */
	struct event *read_ev;	/* added while reading */
	struct event *write_ev; /* added while @out holds bytes */
	struct evbuffer *out;	/* responses the socket did not take yet */
	bool reading;		/* read_ev is added */
	bool writing;		/* write_ev is added */
	uid_t uid;
	pid_t pid;
	uint64_t serial;
	struct rpc_decoder dec;
	struct vmad_job *job; /* the request job in flight, at most one */
	bool closing;	      /* close once the output is flushed */
	bool dead;	      /* closed while a job ran: free on return */
	bool paused;	      /* reading stopped by the high-water mark */
	bool eof;	      /* the peer will send nothing more */
	struct cds_list_head node;
	/* Timeouts (monotonic ms; 0 = not running) */
	long last_active;     /* last byte read, written, or job answered */
	size_t charged;	      /* buffer bytes counted in mem_buffers */
	long req_since;	      /* a value is incomplete since */
	long out_progress;    /* output pending, last written to at */
	long out_above_since; /* output above output_low_water since */
	long out_soft_since;  /* output above output_limit_soft since */
};

struct vmad_server {
	/* Configuration */
	struct vmad_config cfg;
	char sock_path[VMAD_PATH_MAX];
	int ready_fd; /* --daemon: tell the parent we listen (-1: none) */
	const char *config_path; /* --config FILE, re-read on SIGHUP (NULL) */
	int argc;		 /* the command line, re-applied on SIGHUP */
	char **argv;
	/* Instance (main thread; instance.c) */
	int lock_fd;	 /* flock()ed SOCKET.lock, held for life (-1) */
	int pid_fd;	 /* flock()ed pidfile we wrote (-1: none) */
	bool sock_bound; /* sock_dev/sock_ino name the socket we bound */
	dev_t sock_dev;
	ino_t sock_ino;
	/* Listener (main thread) */
	struct event_base *base;
	int listen_fd;
	struct evconnlistener *listener;
	struct event *sig_ev[3];
	int main_efd;		    /* eventfd: workers wake the main loop */
	struct event *main_ev;	    /* reads main_efd */
	struct event *accept_timer; /* retries a paused listener */
	int accept_paused;	    /* atomic: out of descriptors */
	struct vmad_conn_limits limits;
	/* Workers and jobs */
	struct vmad_worker *workers;
	unsigned nr_workers;
	unsigned next_worker;
	struct vmad_jobs jobs;
	/* Spaces */
	struct vmad_registry reg;
	struct vmad_persist *persist; /* the state directory; NULL without */
	/* Memory (memory.c) */
	int64_t mem_buffers; /* atomic: connections' and journals' buffers */
	uint64_t mem_loaded; /* held by the spaces loaded, if > max_memory */
	/* Counters (atomic) */
	long nr_conns;
	uint64_t conns_total;
	uint64_t conns_refused;
	uint64_t started; /* time(NULL) at start */
};

/* ---- One daemon per socket (instance.c) --------------------------------- */

/*
 * vmad_instance_lock() - Take SOCKET.lock, before touching the socket.
 * Return: 0; -EADDRINUSE if another daemon holds it (logged).
 */
int vmad_instance_lock(struct vmad_server *srv);
/*
 * vmad_instance_pidfile() - Write and lock the pidfile, if one is set,
 * once the socket is bound. Return: 0; -EEXIST if another daemon holds it.
 */
int vmad_instance_pidfile(struct vmad_server *srv);
/* Record the identity of the socket just bound. */
void vmad_instance_remember_socket(struct vmad_server *srv);
/* Unlink the socket path only if it is still the socket we bound. */
void vmad_instance_unlink_socket(struct vmad_server *srv);
/* Remove our pidfile and drop both locks (at exit). */
void vmad_instance_release(struct vmad_server *srv);

/**
 * vmad_server_run() - Listen, serve until SIGTERM/SIGINT, clean up.
 * Context: Init only (the main thread).
 * Return: 0 on a clean shutdown; a negative errno if startup failed.
 */
int vmad_server_run(struct vmad_server *srv);

/* sockdir.c */
int vmad_group_id(const char *name, gid_t *gid);
int vmad_private_dir(const char *sock_path, char *err, size_t len);

/**
 * vmad_listener_wake() - Let a listener paused for want of descriptors
 * try again (a connection was closed).
 * Context: Any context.
 */
void vmad_listener_wake(struct vmad_server *srv);

/**
 * vmad_worker_post() - Hand a finished request job back to its worker.
 * Context: Any context.
 */
void vmad_worker_post_job(struct vmad_worker *w, struct vmad_job *job);

/* ---- Requests (handlers.c) ----------------------------------------------- */

/* Who is asking: passed to every handler. */
struct vmad_ctx {
	struct vmad_server *srv;
	struct vmad_worker *w; /* NULL on a job thread */
	uid_t uid;
	uint64_t nr_faults; /* faults served (added to the worker's count) */
	uint64_t nr_errors;
	bool changed;	/* set by a handler whose change the mutation count
			   of the space does not show (a fault, brk) */
	bool replaying; /* running a journal at start: record nothing */
	/* A handler may leave the rest of its result to a stream. */
	struct vmad_stream *stream;
	bool cancel; /* shutting down: answer requests with ECANCELED */
};

/**
 * vmad_msg_needs_job() - Whether @msg holds a request that may take long
 * (it then runs on the job pool, and the connection waits for it).
 * Context: Any context.
 */
bool vmad_msg_needs_job(const struct rpc_msg *msg);

/**
 * vmad_handle_msg() - Run every request of @msg and append the responses
 * (a value and "\n", or nothing if all were notifications) to @out.
 * Context: Any registered RCU thread, outside read-side sections.
 * Return: the number of requests executed.
 */
size_t vmad_handle_msg(struct vmad_ctx *ctx, const struct rpc_msg *msg,
		       struct rpc_buf *out);

/**
 * vmad_replay() - Run the request in @json (a journal record) as root,
 * recording nothing.
 * @why: receives what was wrong with a record that could not be run.
 * Context: Init only (loading the state directory).
 * Return: 0 (whatever the request's own result); -EINVAL if @json is not
 *         a request of a method that changes a space.
 */
int vmad_replay(struct vmad_server *srv, const char *json, size_t len,
		char *why, size_t whylen);

/**
 * vmad_run_init() - Prepare to run @msg in parts with vmad_run_step().
 * Context: Any context.
 */
void vmad_run_init(struct vmad_run *run, const struct rpc_msg *msg);

/**
 * vmad_run_step() - Run the requests of @run (and stream their responses)
 * into @out until the message is done or the budget is spent: @out holds
 * @max_out bytes or the CLOCK_MONOTONIC time passed @deadline_ns (0: no
 * such bound). Always makes progress: at least one request or part.
 * Context: Any registered RCU thread, outside read-side sections.
 * Return: true once every response of the message is written; the number
 *         of requests executed so far is @run->next.
 */
bool vmad_run_step(struct vmad_ctx *ctx, struct vmad_run *run,
		   struct rpc_buf *out, size_t max_out, uint64_t deadline_ns);

/**
 * vmad_run_next_streams() - Whether the next request of @run would stream
 * its response from a snapshot (maps): vmad_run_step() starts such a
 * request only at the start of a step, so that the caller can take a
 * stream slot first.
 * Context: Any context.
 */
bool vmad_run_next_streams(const struct vmad_run *run);

/* Release what a run left (a stream cut short by a closed connection). */
void vmad_run_fini(struct vmad_run *run);

/**
 * vmad_nr_cpus() - Online CPUs (at least 1).
 * Context: Any context.
 */
unsigned vmad_nr_cpus(void);

/* ---- Durable spaces (persist.c, spacefile.c) ---------------------------- */

/*
 * What a space file holds besides the snapshot (spacefile.c describes
 * the format).
 */
#define VMAD_SPACEFILE_VERSION 1
struct vmad_spacefile {
	uint64_t id;
	uid_t owner;
	uint64_t jgen, joff; /* the journal position the snapshot includes */
	uint64_t saved;	     /* seconds since the epoch */
	char name[RPC_NAME_MAX];
};

/* @n bytes of @v little-endian at @p, and back (space and journal files). */
void vmad_put_le(unsigned char *p, uint64_t v, int n);
uint64_t vmad_get_le(const unsigned char *p, int n);

/* CRC-32 (IEEE, as zlib's crc32()) of @len bytes, continuing @crc. */
uint32_t vmad_crc32(uint32_t crc, const void *data, size_t len);

/**
 * vmad_spacefile_encode() - The bytes of a space file: @sf and @snap.
 * @out: new buffer (free()).
 * Context: Any context.
 * Return: 0; -ENOMEM.
 */
int vmad_spacefile_encode(const struct vmad_spacefile *sf, const void *snap,
			  size_t snap_len, void **out, size_t *out_len);

/**
 * vmad_spacefile_decode() - Check the bytes of a space file and find its
 * parts; *@snap points into @data.
 * @msg: receives what is wrong (a sentence), when refused.
 * Context: Any context.
 * Return: 0; -EINVAL.
 */
int vmad_spacefile_decode(const void *data, size_t len,
			  struct vmad_spacefile *sf, const void **snap,
			  size_t *snap_len, char *msg, size_t msglen);

/**
 * vmad_space_export() - The space file of @sp (its snapshot, id, owner,
 * name), with journal position (@jgen, @joff).
 * @out: new buffer (free()).
 * Context: Takes the space's write lock (vas_snapshot()).
 * Return: 0; -ENOMEM.
 */
int vmad_space_export(struct vmad_space *sp, uint64_t jgen, uint64_t joff,
		      void **out, size_t *len);

/**
 * vmad_space_import() - Check a space file and build its space.
 * @msg: receives what is wrong, when refused.
 * Context: Any registered RCU thread.
 * Return: 0 with *@sf and *@out; -EINVAL; -ENOMEM.
 */
int vmad_space_import(const void *data, size_t len, struct vmad_spacefile *sf,
		      struct vas **out, char *msg, size_t msglen);

/**
 * vmad_persist_start() - With a state_dir: lock it, load every space in it
 * (snapshots, then their journals), start the saver thread.
 * Context: Init only, after the registry and the job pool started.
 * Return: 0; a negative errno if the directory cannot be used (logged).
 */
int vmad_persist_start(struct vmad_server *srv);

/**
 * vmad_persist_stop() - Save every changed space (SIGTERM), stop the saver;
 * spaces unlisted after this keep their files. Only the first call does
 * anything.
 * Context: Init only, after the workers stopped (or at shutdown_timeout,
 *          with some still running: saves run beside changes anyway).
 */
void vmad_persist_stop(struct vmad_server *srv);

/**
 * vmad_persist_fini() - Close the state directory (after every space was
 * freed).
 * Context: Init only.
 */
void vmad_persist_fini(struct vmad_server *srv);

/**
 * vmad_persist_added() - A new space @sp (created, forked, imported) is
 * about to be listed: give it its files. With appendonly, its first
 * snapshot is written before this returns.
 * Context: Holds registry->lock (the space is not listed yet).
 * Return: 0; -ENOMEM; -EIO if the snapshot could not be written (logged).
 */
int vmad_persist_added(struct vmad_server *srv, struct vmad_space *sp);

/**
 * vmad_persist_removed() - @sp was destroyed: remove its files.
 * Context: Any context, after it was unlisted.
 */
void vmad_persist_removed(struct vmad_server *srv, struct vmad_space *sp);

/**
 * vmad_persist_free() - Release what persistence kept for @sp.
 * Context: The space's last reference is gone.
 */
void vmad_persist_free(struct vmad_space *sp);

/**
 * vmad_persist_reserve_ids() - Ids at or above @next are about to be used:
 * write a new reservation to the state directory first, so that no id is
 * handed out twice across restarts.
 * @limit: receives the new end of the reservation.
 * Context: Holds registry->lock.
 * Return: 0; a negative errno (logged).
 */
int vmad_persist_reserve_ids(struct vmad_server *srv, uint64_t next,
			     uint64_t *limit);

/*
 * Around a request that may change a space (handlers.c): begin takes the
 * space's journal lock with appendonly, so that journal order is the
 * order of the changes; end records the request if it changed the space
 * (the mutation count moved, or ctx->changed) and, with appendfsync
 * always, waits until it is on disk.
 */
struct vmad_pchange {
	struct vmad_space *sp; /* a reference; NULL: nothing to record */
	uint64_t mutations;
	bool locked;
};

/**
 * vmad_persist_begin() - Before running @req.
 * Context: Any registered RCU thread (a worker or a job thread).
 * Return: 0; -EIO with @err filled if the space's journal failed and
 *         changes are refused until its next successful save.
 */
int vmad_persist_begin(struct vmad_ctx *ctx, const struct rpc_request *req,
		       struct vmad_pchange *pc, struct rpc_error *err);

/**
 * vmad_persist_flush() - Before a worker sends the answers of a burst of
 * requests: write the journal records of its changes (one write() per
 * space) and, with appendfsync always, sync them (one fdatasync()).
 * Context: A worker (the records it queued itself).
 * Return: true; false if a change could not be journaled (the caller
 *         must not answer it: it closes the connection).
 */
bool vmad_persist_flush(void);

/**
 * vmad_persist_thread_exit() - vmad_persist_flush(), then free the calling
 * worker's list of deferred records.
 * Context: Worker thread, as it exits.
 */
void vmad_persist_thread_exit(void);

/**
 * vmad_persist_end() - After running @req.
 * Return: 0; -EIO with @err filled if the change could not be journaled
 *         (the caller answers with @err instead of the result).
 */
int vmad_persist_end(struct vmad_ctx *ctx, const struct rpc_request *req,
		     struct vmad_pchange *pc, struct rpc_error *err);

#endif /* VMAD_VMAD_H */
