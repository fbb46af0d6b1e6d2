// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: The job pool: long operations off the workers, in fair turns.
 *
 * A worker must never stall its other connections: forking a space of a
 * million VMAs, listing one, validating one or running a batch of
 * thousands of requests takes far longer than the milliseconds a worker
 * may spend on one request. Such a request is queued here and run by a
 * few job threads (job_threads), each a registered RCU thread.
 *
 * Fair turns. A request job runs in slices (server.c: a few milliseconds
 * of requests, or a chunk of output, whichever comes first; at least one
 * request) and goes back to its worker after each, which appends what it
 * wrote and queues it again, or parks it while its client has not read
 * enough. The queue is two-level round robin: uids with queued jobs take
 * turns, and within a uid its jobs (one per connection at most: a
 * connection stops reading while its job is out) take turns. So two
 * connections sending batches of forks cannot make a third client's
 * request wait for more than a slice of each, and one uid with many
 * connections gets no more turns than a uid with one.
 *
 * The reaper. Freeing a destroyed space (vas_free(): its tree, VMAs and
 * pages), or a large response buffer, runs on a thread of its own, not in
 * the request queue: frees neither wait behind long requests (while the
 * memory they hold piles up) nor make requests wait behind them. After
 * it has freed a good deal, the reaper asks malloc to return free memory
 * to the system (malloc_trim()).
 *
 * Shutdown. vmad_jobs_cancel() makes every request not yet started answer
 * with ECANCELED (a request already running completes);
 * vmad_jobs_stop() then lets the threads finish what is queued (cancelled
 * requests take no time) and the reaper free what it holds.
 *
 * Locking: jobs->lock guards the request queue and the owner table;
 * jobs->reap_lock the reaper's FIFO.
 */
#include "vmad.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <urcu/uatomic.h>

/* Nice value of the job threads and the reaper, relative to workers' 0. */
#define VMAD_JOB_NICE 5

/* The reaper trims malloc's free memory after freeing this much. */
#define VMAD_TRIM_BYTES (64ull << 20)

/* Context: jobs->lock held. */
static struct vmad_job_owner *job_owner(struct vmad_jobs *jobs, uid_t uid)
{
	struct vmad_job_owner *o;
	size_t i;

	for (i = 0; i < jobs->nr_owners; i++)
		if (jobs->owners[i]->uid == uid)
			return jobs->owners[i];
	if (jobs->nr_owners == jobs->cap_owners) {
		size_t ncap = jobs->cap_owners ? jobs->cap_owners * 2 : 8;
		struct vmad_job_owner **n =
			realloc(jobs->owners, ncap * sizeof(*n));

		if (!n)
			return NULL;
		jobs->owners = n;
		jobs->cap_owners = ncap;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->uid = uid;
	jobs->owners[jobs->nr_owners++] = o;
	return o;
}

/* Append @job to @o's queue and @o to the turns. Context: jobs->lock. */
static void job_enqueue(struct vmad_jobs *jobs, struct vmad_job_owner *o,
			struct vmad_job *job)
{
	job->next = NULL;
	if (o->tail)
		o->tail->next = job;
	else
		o->head = job;
	o->tail = job;
	if (o->head == job)
		cds_list_add_tail(&o->node, &jobs->active);
	jobs->nr_queued++;
	pthread_cond_signal(&jobs->cond);
}

/* The next job in turn, or NULL. Context: jobs->lock held. */
static struct vmad_job *job_next(struct vmad_jobs *jobs)
{
	struct vmad_job_owner *o;
	struct vmad_job *job;

	if (cds_list_empty(&jobs->active))
		return NULL;
	o = cds_list_first_entry(&jobs->active, struct vmad_job_owner, node);
	job = o->head;
	o->head = job->next;
	if (!o->head)
		o->tail = NULL;
	cds_list_del(&o->node);
	if (o->head)
		cds_list_add_tail(&o->node,
				  &jobs->active); /* next uid's turn */
	jobs->nr_queued--;
	job->next = NULL;
	return job;
}

static void *vmad_job_thread(void *arg)
{
	struct vmad_server *srv = arg;
	struct vmad_jobs *jobs = &srv->jobs;

	/*
	 * Below the workers: on a machine with few cores a job thread must
	 * not hold a worker off the CPU (the nice value of a Linux thread is
	 * its own).
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), VMAD_JOB_NICE) < 0)
		vmad_log(VMAD_LOG_DEBUG, "job thread nice: %s",
			 strerror(errno));
	urcu_memb_register_thread();
	pthread_mutex_lock(&jobs->lock);
	for (;;) {
		struct vmad_job *job = job_next(jobs);

		if (!job) {
			if (jobs->stop)
				break;
			pthread_cond_wait(&jobs->cond, &jobs->lock);
			continue;
		}
		pthread_mutex_unlock(&jobs->lock);
		uatomic_inc(&jobs->nr_run);
		job->fn(job); /* may free job */
		pthread_mutex_lock(&jobs->lock);
	}
	pthread_mutex_unlock(&jobs->lock);
	urcu_memb_unregister_thread();
	return NULL;
}

static void *vmad_reaper_thread(void *arg)
{
	struct vmad_server *srv = arg;
	struct vmad_jobs *jobs = &srv->jobs;
	struct vma_mem_stats before, after;
	uint64_t freed = 0;

	if (setpriority(PRIO_PROCESS, (id_t)gettid(), VMAD_JOB_NICE) < 0)
		vmad_log(VMAD_LOG_DEBUG, "reaper nice: %s", strerror(errno));
	urcu_memb_register_thread();
	pthread_mutex_lock(&jobs->reap_lock);
	for (;;) {
		struct vmad_job *job = jobs->reap_head;

		if (!job) {
			if (freed >= VMAD_TRIM_BYTES) {
				pthread_mutex_unlock(&jobs->reap_lock);
				malloc_trim(0);
				freed = 0;
				pthread_mutex_lock(&jobs->reap_lock);
				continue;
			}
			if (jobs->reap_stop)
				break;
			pthread_cond_wait(&jobs->reap_cond, &jobs->reap_lock);
			continue;
		}
		jobs->reap_head = job->next;
		if (!jobs->reap_head)
			jobs->reap_tail = NULL;
		pthread_mutex_unlock(&jobs->reap_lock);
		job->next = NULL;
		vma_mem_stats(&before);
		freed += job->free_bytes;
		job->fn(job); /* frees job */
		vma_mem_stats(&after);
		if (before.total > after.total)
			freed += before.total - after.total;
		uatomic_dec(&jobs->nr_reaping);
		pthread_mutex_lock(&jobs->reap_lock);
	}
	pthread_mutex_unlock(&jobs->reap_lock);
	urcu_memb_unregister_thread();
	return NULL;
}

int vmad_jobs_start(struct vmad_server *srv)
{
	struct vmad_jobs *jobs = &srv->jobs;
	unsigned i;
	int ret;

	pthread_mutex_init(&jobs->lock, NULL);
	pthread_cond_init(&jobs->cond, NULL);
	pthread_mutex_init(&jobs->reap_lock, NULL);
	pthread_cond_init(&jobs->reap_cond, NULL);
	CDS_INIT_LIST_HEAD(&jobs->active);
	jobs->threads = calloc(srv->cfg.job_threads, sizeof(pthread_t));
	if (!jobs->threads)
		return -ENOMEM;
	ret = -pthread_create(&jobs->reaper, NULL, vmad_reaper_thread, srv);
	if (ret)
		return ret;
	jobs->reaper_started = true;
	for (i = 0; i < srv->cfg.job_threads; i++) {
		ret = pthread_create(&jobs->threads[i], NULL, vmad_job_thread,
				     srv);
		if (ret)
			return -ret;
		jobs->nr_threads++;
	}
	return 0;
}

void vmad_jobs_submit(struct vmad_server *srv, struct vmad_job *job)
{
	struct vmad_jobs *jobs = &srv->jobs;
	struct vmad_job_owner *o;

	job->next = NULL;
	pthread_mutex_lock(&jobs->lock);
	o = job_owner(jobs, job->uid);
	if (!o) {
		/* Out of memory for a new uid: share the first one's turn. */
		o = jobs->nr_owners ? jobs->owners[0] : NULL;
	}
	if (!o) {
		pthread_mutex_unlock(&jobs->lock);
		vmad_log_ratelimited(VMAD_LOG_ERROR,
				     "out of memory queueing a job");
		/* Nowhere to queue it: run it here rather than lose it. */
		job->fn(job);
		return;
	}
	job_enqueue(jobs, o, job);
	pthread_mutex_unlock(&jobs->lock);
}

void vmad_jobs_reap(struct vmad_server *srv, struct vmad_job *job)
{
	struct vmad_jobs *jobs = &srv->jobs;

	job->next = NULL;
	uatomic_inc(&jobs->nr_reaping);
	pthread_mutex_lock(&jobs->reap_lock);
	if (jobs->reap_tail)
		jobs->reap_tail->next = job;
	else
		jobs->reap_head = job;
	jobs->reap_tail = job;
	pthread_cond_signal(&jobs->reap_cond);
	pthread_mutex_unlock(&jobs->reap_lock);
}

bool vmad_jobs_stream_get(struct vmad_server *srv, struct vmad_job *job)
{
	struct vmad_jobs *jobs = &srv->jobs;
	struct vmad_job_owner *o;
	bool ok = true;

	pthread_mutex_lock(&jobs->lock);
	o = job_owner(jobs, job->uid);
	if (o && o->streams >= VMAD_STREAMS_PER_UID &&
	    !uatomic_read(&jobs->cancel)) {
		job->next = NULL;
		if (o->wait_tail)
			o->wait_tail->next = job;
		else
			o->wait_head = job;
		o->wait_tail = job;
		jobs->nr_waiting++;
		ok = false;
	} else if (o) {
		o->streams++;
		job->stream_slot = true;
	}
	pthread_mutex_unlock(&jobs->lock);
	return ok;
}

void vmad_jobs_stream_put(struct vmad_server *srv, struct vmad_job *job)
{
	struct vmad_jobs *jobs = &srv->jobs;
	struct vmad_job_owner *o;
	struct vmad_job *next;

	if (!job->stream_slot)
		return;
	job->stream_slot = false;
	pthread_mutex_lock(&jobs->lock);
	o = job_owner(jobs, job->uid);
	if (o && (next = o->wait_head)) {
		/* The slot goes to the first job waiting for one. */
		o->wait_head = next->next;
		if (!o->wait_head)
			o->wait_tail = NULL;
		jobs->nr_waiting--;
		next->stream_slot = true;
		job_enqueue(jobs, o, next);
	} else if (o && o->streams) {
		o->streams--;
	}
	pthread_mutex_unlock(&jobs->lock);
}

void vmad_jobs_cancel(struct vmad_server *srv)
{
	struct vmad_jobs *jobs = &srv->jobs;
	size_t i;

	uatomic_set(&jobs->cancel, 1);
	/* Jobs waiting for a stream slot run now: they will be cancelled. */
	pthread_mutex_lock(&jobs->lock);
	for (i = 0; i < jobs->nr_owners; i++) {
		struct vmad_job_owner *o = jobs->owners[i];
		struct vmad_job *job;

		while ((job = o->wait_head)) {
			o->wait_head = job->next;
			jobs->nr_waiting--;
			job_enqueue(jobs, o, job);
		}
		o->wait_tail = NULL;
	}
	pthread_mutex_unlock(&jobs->lock);
}

bool vmad_jobs_cancelled(struct vmad_server *srv)
{
	return uatomic_read(&srv->jobs.cancel) != 0;
}

long vmad_jobs_queued(struct vmad_server *srv)
{
	long n;

	pthread_mutex_lock(&srv->jobs.lock);
	n = srv->jobs.nr_queued + srv->jobs.nr_waiting;
	pthread_mutex_unlock(&srv->jobs.lock);
	return n;
}

bool vmad_join_until(pthread_t t, const struct timespec *deadline)
{
	if (!deadline)
		return pthread_join(t, NULL) == 0;
	return pthread_timedjoin_np(t, NULL, deadline) == 0;
}

int vmad_jobs_stop(struct vmad_server *srv, const struct timespec *deadline)
{
	struct vmad_jobs *jobs = &srv->jobs;
	unsigned i;

	pthread_mutex_lock(&jobs->lock);
	jobs->stop = true;
	pthread_cond_broadcast(&jobs->cond);
	pthread_mutex_unlock(&jobs->lock);
	for (; jobs->nr_threads; jobs->nr_threads--)
		if (!vmad_join_until(jobs->threads[jobs->nr_threads - 1],
				     deadline))
			return -ETIMEDOUT;
	free(jobs->threads);
	jobs->threads = NULL;
	pthread_mutex_lock(&jobs->reap_lock);
	jobs->reap_stop = true;
	pthread_cond_signal(&jobs->reap_cond);
	pthread_mutex_unlock(&jobs->reap_lock);
	if (jobs->reaper_started && !vmad_join_until(jobs->reaper, deadline))
		return -ETIMEDOUT;
	jobs->reaper_started = false;
	for (i = 0; i < jobs->nr_owners; i++)
		free(jobs->owners[i]);
	free(jobs->owners);
	jobs->owners = NULL;
	jobs->nr_owners = jobs->cap_owners = 0;
	return 0;
}
