// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Connection limits: descriptors, uids and the superuser's slots.
 *
 * Every connection costs a file descriptor. At start the daemon raises
 * its soft RLIMIT_NOFILE to the hard limit and fits max_connections to
 * what is left once its own descriptors (standard streams, log, lock
 * file, pidfile, listener, the event loops and eventfds of every thread,
 * one to accept and refuse a connection over the limit) are set aside, as
 * Redis fits maxclients. It logs what it chose. The daemon then runs out
 * of descriptors only if something else takes them (ENFILE: the whole
 * system); the listener then pauses (server.c) instead of spinning.
 *
 * Admission, on the main thread for every accepted connection:
 *
 *   privileged (root, or the daemon's own uid)   up to max_connections
 *   any other uid                                up to max_connections -
 *                                                superuser_reserved_
 *                                                connections in all, and
 *                                                max_connections_per_uid
 *                                                of its own
 *
 * so that neither one uid nor all of them together can lock the
 * administrator out. Counts are taken on admission (main thread) and
 * dropped when a worker frees the connection, under limits_lock.
 */
#include "vmad.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <urcu/uatomic.h>

/*
 * Descriptors the daemon may open after the fit besides its connections:
 * the lock file, the pidfile, the listener, the main loop's epoll and
 * signal pipe, its eventfd, a log file reopened on SIGHUP, the connection
 * accepted only to be refused, and some slack for libraries.
 */
#define VMAD_FD_SLACK 24

/* Descriptors open now (before the listener and the threads exist). */
static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 3;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n ? n - 1 : 0; /* the directory's own descriptor */
}

int vmad_limits_fit_fds(struct vmad_server *srv)
{
	struct vmad_config *cfg = &srv->cfg;
	unsigned reserved, fit;
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			vmad_log(VMAD_LOG_INFO,
				 "RLIMIT_NOFILE: soft limit raised from %llu "
				 "to the hard limit %llu",
				 (unsigned long long)old,
				 (unsigned long long)want);
		else
			rl.rlim_cur = old;
	}
	/* Two per worker (event loop, eventfd), per the main thread. */
	reserved = open_fds() + 2 * (srv->nr_workers + 1) + VMAD_FD_SLACK;
	fit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 0x7fffffff
		      ? 0x7fffffff
		      : (unsigned)rl.rlim_cur;
	fit = fit > reserved ? fit - reserved : 0;
	if (fit < 2) {
		vmad_log(VMAD_LOG_ERROR,
			 "RLIMIT_NOFILE is %llu: too low for a single "
			 "connection (the daemon needs %u descriptors of its "
			 "own)",
			 (unsigned long long)rl.rlim_cur, reserved);
		return -EMFILE;
	}
	srv->limits.fd_fit = fit;
	srv->limits.nofile = (unsigned long long)rl.rlim_cur;
	vmad_limits_settle(srv, cfg);
	vmad_log(VMAD_LOG_INFO,
		 "max_connections %u (%u kept for root and uid %u), "
		 "RLIMIT_NOFILE %llu",
		 cfg->max_connections, cfg->superuser_reserved_connections,
		 (unsigned)geteuid(), (unsigned long long)rl.rlim_cur);
	return 0;
}

void vmad_limits_settle(struct vmad_server *srv, struct vmad_config *cfg)
{
	unsigned fit = srv->limits.fd_fit;

	if (fit && cfg->max_connections > fit) {
		vmad_log(VMAD_LOG_WARN,
			 "max_connections lowered from %u to %u to fit "
			 "RLIMIT_NOFILE %llu (raise it with LimitNOFILE= or "
			 "ulimit -n)",
			 cfg->max_connections, fit, srv->limits.nofile);
		cfg->max_connections = fit;
	}
	if (cfg->superuser_reserved_connections >= cfg->max_connections) {
		unsigned r = cfg->max_connections / 2;

		vmad_log(VMAD_LOG_WARN,
			 "superuser_reserved_connections lowered from %u to "
			 "%u (max_connections is %u)",
			 cfg->superuser_reserved_connections, r,
			 cfg->max_connections);
		cfg->superuser_reserved_connections = r;
	}
}

bool vmad_uid_privileged(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* The count of @uid's connections. Context: limits_lock held. */
static struct vmad_uid_conns *uid_conns(struct vmad_server *srv, uid_t uid,
					bool create)
{
	struct vmad_conn_limits *l = &srv->limits;
	size_t i;

	for (i = 0; i < l->nr; i++)
		if (l->uids[i].uid == uid)
			return &l->uids[i];
	if (!create)
		return NULL;
	if (l->nr == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct vmad_uid_conns *n = realloc(l->uids, ncap * sizeof(*n));

		if (!n)
			return NULL;
		l->uids = n;
		l->cap = ncap;
	}
	l->uids[l->nr].uid = uid;
	l->uids[l->nr].nr = 0;
	return &l->uids[l->nr++];
}

int vmad_conn_admit(struct vmad_server *srv, uid_t uid, char *why, size_t len)
{
	const struct vmad_config *cfg = &srv->cfg;
	struct vmad_conn_limits *l = &srv->limits;
	long total = uatomic_read(&srv->nr_conns);
	struct vmad_uid_conns *u;
	bool priv = vmad_uid_privileged(uid);
	int ret = 0;

	if (total >= (long)cfg->max_connections) {
		snprintf(why, len, "too many connections (limit %u)",
			 cfg->max_connections);
		return -EAGAIN;
	}
	if (!priv && total >= (long)(cfg->max_connections -
				     cfg->superuser_reserved_connections)) {
		snprintf(why, len,
			 "too many connections (limit %u; the last %u are "
			 "kept for root)",
			 cfg->max_connections,
			 cfg->superuser_reserved_connections);
		return -EAGAIN;
	}
	pthread_mutex_lock(&l->lock);
	u = uid_conns(srv, uid, true);
	if (!u) {
		snprintf(why, len, "out of memory");
		ret = -ENOMEM;
	} else if (!priv && cfg->max_connections_per_uid &&
		   u->nr >= cfg->max_connections_per_uid) {
		snprintf(why, len, "too many connections for uid %u (limit %u)",
			 (unsigned)uid, cfg->max_connections_per_uid);
		ret = -EAGAIN;
	} else {
		u->nr++;
		uatomic_inc(&srv->nr_conns);
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

void vmad_conn_release(struct vmad_server *srv, uid_t uid)
{
	struct vmad_conn_limits *l = &srv->limits;
	struct vmad_uid_conns *u;

	pthread_mutex_lock(&l->lock);
	u = uid_conns(srv, uid, false);
	if (u && u->nr)
		u->nr--;
	uatomic_dec(&srv->nr_conns);
	pthread_mutex_unlock(&l->lock);
	vmad_listener_wake(srv);
}

void vmad_limits_init(struct vmad_server *srv)
{
	pthread_mutex_init(&srv->limits.lock, NULL);
}

void vmad_limits_fini(struct vmad_server *srv)
{
	free(srv->limits.uids);
	srv->limits.uids = NULL;
	srv->limits.nr = srv->limits.cap = 0;
	pthread_mutex_destroy(&srv->limits.lock);
}
