// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Reclamation of what tree commits replaced.
 *
 * Every commit hands one batch (replaced nodes, and objects the caller
 * deferred) to this reclaimer. One thread per process collects batches for
 * a short pace, waits for a grace period with synchronize_rcu(), and then
 * hands the batches back to their trees (vt.c recycles the nodes) or calls
 * the deferred free functions.
 *
 * Why not call_rcu(): liburcu's call_rcu worker sleeps 10 ms between
 * rounds, so at a million commits per second tens of thousands of nodes are
 * in flight and every recycled node comes back cold from memory; the
 * writer then spends most of its time on cache misses. A pace of
 * VT_RECLAIM_PACE_US (1.5 ms) keeps a few thousand nodes in flight, many
 * of them still in cache, while the reclaimer thread itself (a grace period
 * means membarrier() calls that interrupt every running thread of the
 * process) costs little CPU. Measured on two cores: at a 100 us pace the
 * reclaimer took enough CPU from the writer and readers that commits were
 * slower (684k/s vs 795k/s at 1,000 entries); at 10 ms mmap+munmap pairs
 * fell from about 970k/s to 540k/s. Between 1 ms and 1.5 ms pairs stayed
 * the same (2.13M vs 2.15M/s, medians of 9 alternated runs) while MAP_FIXED
 * over 8 VMAs, whose operations touch more memory each, went from 800k to
 * 878k/s: the writer pays for every grace period more than the interrupt
 * itself (a compute loop loses nothing at 900 grace periods/s), most
 * likely in cache lines lost to the interrupt's exit to the host.
 *
 * The queue is liburcu's wait-free concurrent queue: commits enqueue
 * without a lock; only the reclaimer dequeues. A commit wakes the reclaimer
 * only when it finds the queue empty (the reclaimer sleeps only then), and
 * vt__reclaim_wait() queues a marker and waits for it to come out: the
 * queue is FIFO, so every batch queued before it has been reclaimed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include <urcu/urcu-memb.h>
#include <urcu/wfcqueue.h>

#include "vt_internal.h"

/*
 * How long the reclaimer gathers batches before each grace period; the
 * environment variable VMA_RECLAIM_PACE_US overrides it (for tuning).
 */
#define VT_RECLAIM_PACE_US 1500

static struct {
	struct cds_wfcq_head head;
	struct cds_wfcq_tail tail;
	pthread_mutex_t lock; /* protects the sleep/wake handshake */
	pthread_cond_t wake;  /* reclaimer waits here for work */
	pthread_cond_t done;  /* vt__reclaim_wait() waits for markers */
	bool started;	      /* under lock */
	pthread_t thread;
} rc = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t rc_once = PTHREAD_ONCE_INIT;

#ifdef VMAD_TEST_HOOKS
bool vt_test_skip_grace_period;
#endif

static void *vt_reclaimer(void *arg)
{
	struct cds_wfcq_head batch_head;
	struct cds_wfcq_tail batch_tail;
	struct cds_wfcq_node *node, *next;
	const char *env = getenv("VMA_RECLAIM_PACE_US");
	long us = env ? atol(env) : VT_RECLAIM_PACE_US;
	struct timespec pace;

	(void)arg;
	if (us < 0 || us > 1000000)
		us = VT_RECLAIM_PACE_US;
	pace.tv_sec = us / 1000000;
	pace.tv_nsec = (us % 1000000) * 1000L;
	rcu_register_thread();
	for (;;) {
		pthread_mutex_lock(&rc.lock);
		while (cds_wfcq_empty(&rc.head, &rc.tail))
			pthread_cond_wait(&rc.wake, &rc.lock);
		pthread_mutex_unlock(&rc.lock);

		if (us)
			nanosleep(&pace, NULL);

		cds_wfcq_init(&batch_head, &batch_tail);
		__cds_wfcq_splice_blocking(&batch_head, &batch_tail, &rc.head,
					   &rc.tail);
#ifdef VMAD_TEST_HOOKS
		if (!CMM_LOAD_SHARED(vt_test_skip_grace_period))
			synchronize_rcu();
#else
		synchronize_rcu();
#endif
		__cds_wfcq_for_each_blocking_safe(&batch_head, &batch_tail,
						  node, next)
		{
			struct vt_batch *b =
				caa_container_of(node, struct vt_batch, qnode);

			if (b->vt) {
				vt__batch_reclaim(b);
				continue;
			}
			/* A marker of vt__reclaim_wait(), on its stack. */
			pthread_mutex_lock(&rc.lock);
			b->nr = 1;
			pthread_cond_broadcast(&rc.done);
			pthread_mutex_unlock(&rc.lock);
		}
	}
	return NULL;
}

/* A forked child has no reclaimer thread: start afresh. */
static void rc_atfork_child(void)
{
	cds_wfcq_init(&rc.head, &rc.tail);
	pthread_mutex_init(&rc.lock, NULL);
	pthread_cond_init(&rc.wake, NULL);
	pthread_cond_init(&rc.done, NULL);
	rc.started = false;
}

static void rc_init(void)
{
	cds_wfcq_init(&rc.head, &rc.tail);
	pthread_atfork(NULL, NULL, rc_atfork_child);
}

/* Start the reclaimer thread if this process has none yet. */
static int rc_start(void)
{
	int err = 0;

	pthread_once(&rc_once, rc_init);
	if (caa_likely(CMM_LOAD_SHARED(rc.started)))
		return 0;
	pthread_mutex_lock(&rc.lock);
	if (!rc.started) {
		pthread_attr_t attr;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		err = -pthread_create(&rc.thread, &attr, vt_reclaimer, NULL);
		pthread_attr_destroy(&attr);
		if (!err)
			CMM_STORE_SHARED(rc.started, true);
	}
	pthread_mutex_unlock(&rc.lock);
	return err;
}

/**
 * vt__reclaim_prepare() - Make sure the reclaimer runs, so that a commit
 * can hand it a batch without failing.
 * Context: Writer, before publishing.
 * Return: 0; -EAGAIN if the thread cannot be started.
 */
int vt__reclaim_prepare(void)
{
	return rc_start() ? -EAGAIN : 0;
}

/**
 * vt__reclaim_enqueue() - Reclaim @b after a grace period that starts after
 * this call.
 * Context: Writer, after vt__reclaim_prepare() succeeded.
 */
void vt__reclaim_enqueue(struct vt_batch *b)
{
	cds_wfcq_node_init(&b->qnode);
	if (!cds_wfcq_enqueue(&rc.head, &rc.tail, &b->qnode)) {
		/* The queue was empty: the reclaimer may be asleep. */
		pthread_mutex_lock(&rc.lock);
		pthread_cond_signal(&rc.wake);
		pthread_mutex_unlock(&rc.lock);
	}
}

/**
 * vt__reclaim_wait() - Wait until every batch enqueued before this call
 * has been reclaimed.
 * Context: Not inside an RCU read-side section (it waits for a grace
 *          period), and not from a deferred free function.
 */
void vt__reclaim_wait(void)
{
	struct vt_batch marker = {.vt = NULL, .nr = 0};

	if (!CMM_LOAD_SHARED(rc.started))
		return;
	vt__reclaim_enqueue(&marker);
	pthread_mutex_lock(&rc.lock);
	while (!marker.nr)
		pthread_cond_wait(&rc.done, &rc.lock);
	pthread_mutex_unlock(&rc.lock);
}
