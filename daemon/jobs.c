// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: The job pool: long operations off the workers.
 *
 * A worker must never stall its other connections: forking a space of a
 * million VMAs, listing one, validating one or freeing one takes far
 * longer than the milliseconds a worker may spend on one request. Such
 * work is queued here (FIFO under one mutex) and run by a few threads,
 * each a registered RCU thread. A request job returns to its worker with
 * vmad_worker_post_job(), which appends its responses to the connection
 * in request order; a reap job just frees a space.
 *
 * vmad_jobs_stop() drains the queue before the threads exit, so every
 * queued job runs (shutdown frees every space this way).
 */
#include "vmad.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <urcu/uatomic.h>

/* Nice value of the job threads, relative to the workers' 0. */
#define VMAD_JOB_NICE 5

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
		struct vmad_job *job = jobs->head;

		if (!job) {
			if (jobs->stop)
				break;
			pthread_cond_wait(&jobs->cond, &jobs->lock);
			continue;
		}
		jobs->head = job->next;
		if (!jobs->head)
			jobs->tail = NULL;
		pthread_mutex_unlock(&jobs->lock);
		job->next = NULL;
		uatomic_inc(&jobs->nr_run);
		job->fn(job); /* may free job */
		pthread_mutex_lock(&jobs->lock);
	}
	pthread_mutex_unlock(&jobs->lock);
	urcu_memb_unregister_thread();
	return NULL;
}

int vmad_jobs_start(struct vmad_server *srv)
{
	struct vmad_jobs *jobs = &srv->jobs;
	unsigned i;

	pthread_mutex_init(&jobs->lock, NULL);
	pthread_cond_init(&jobs->cond, NULL);
	jobs->threads = calloc(srv->cfg.job_threads, sizeof(pthread_t));
	if (!jobs->threads)
		return -ENOMEM;
	for (i = 0; i < srv->cfg.job_threads; i++) {
		int ret = pthread_create(&jobs->threads[i], NULL,
					 vmad_job_thread, srv);

		if (ret)
			return -ret;
		jobs->nr_threads++;
	}
	return 0;
}

void vmad_jobs_submit(struct vmad_server *srv, struct vmad_job *job)
{
	struct vmad_jobs *jobs = &srv->jobs;

	job->next = NULL;
	pthread_mutex_lock(&jobs->lock);
	if (jobs->tail)
		jobs->tail->next = job;
	else
		jobs->head = job;
	jobs->tail = job;
	pthread_cond_signal(&jobs->cond);
	pthread_mutex_unlock(&jobs->lock);
}

void vmad_jobs_stop(struct vmad_server *srv)
{
	struct vmad_jobs *jobs = &srv->jobs;
	unsigned i;

	pthread_mutex_lock(&jobs->lock);
	jobs->stop = true;
	pthread_cond_broadcast(&jobs->cond);
	pthread_mutex_unlock(&jobs->lock);
	for (i = 0; i < jobs->nr_threads; i++)
		pthread_join(jobs->threads[i], NULL);
	free(jobs->threads);
	jobs->threads = NULL;
	jobs->nr_threads = 0;
}
