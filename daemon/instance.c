// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: One daemon per socket: the instance lock, the pidfile, the socket's
 * identity.
 *
 * Before it touches the socket path or the pidfile, a daemon takes an
 * exclusive flock() on "SOCKET.lock" and holds it for its whole life, so
 * two daemons started together on one (stale) socket cannot both replace
 * it: the second is refused before it looks at the socket. The lock file
 * is never removed (removing it would let a third daemon lock a new file
 * while the second still holds the old one).
 *
 * The pidfile is written only once the socket is bound, and is itself
 * held with flock(): a second daemon naming the same pidfile is refused
 * instead of overwriting it, and a daemon that fails to start never
 * writes or removes it. At exit the daemon removes the socket only if the
 * path still names the socket it bound (same device and inode), and the
 * pidfile only if the path still names the file it holds locked.
 *
 * All of this runs on the main thread before the workers start or after
 * they stopped: no other thread sees these fields.
 */
#include "vmad.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open @path and take an exclusive lock without waiting. */
static int open_locked(const char *path, int flags, mode_t mode, int *out)
{
	int fd = open(path, flags | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int ret = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;

		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

int vmad_instance_lock(struct vmad_server *srv)
{
	char path[VMAD_PATH_MAX + 8];
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s.lock", srv->sock_path) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	ret = open_locked(path, O_RDWR, 0600, &srv->lock_fd);
	if (ret == -EADDRINUSE)
		vmad_log(VMAD_LOG_ERROR,
			 "another vmad is already listening on %s (it holds "
			 "%s)",
			 srv->sock_path, path);
	else if (ret)
		vmad_log(VMAD_LOG_ERROR, "cannot lock %s: %s", path,
			 strerror(-ret));
	return ret;
}

int vmad_instance_pidfile(struct vmad_server *srv)
{
	const char *path = srv->cfg.pidfile;
	char buf[32];
	int fd, n, ret;

	if (!path[0])
		return 0;
	ret = open_locked(path, O_RDWR, 0644, &fd);
	if (ret == -EADDRINUSE) {
		vmad_log(VMAD_LOG_ERROR,
			 "pidfile %s is held by a running vmad; not "
			 "overwriting it",
			 path);
		return -EEXIST;
	}
	if (ret) {
		vmad_log(VMAD_LOG_ERROR, "cannot write pidfile %s: %s", path,
			 strerror(-ret));
		return ret;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	errno = 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
		ret = errno ? -errno : -EIO;
		vmad_log(VMAD_LOG_ERROR, "cannot write pidfile %s: %s", path,
			 strerror(-ret));
		close(fd);
		return ret;
	}
	srv->pid_fd = fd;
	return 0;
}

void vmad_instance_remember_socket(struct vmad_server *srv)
{
	struct stat st;

	srv->sock_bound = lstat(srv->sock_path, &st) == 0;
	if (srv->sock_bound) {
		srv->sock_dev = st.st_dev;
		srv->sock_ino = st.st_ino;
	}
}

void vmad_instance_unlink_socket(struct vmad_server *srv)
{
	struct stat st;

	if (!srv->sock_bound)
		return;
	srv->sock_bound = false;
	if (lstat(srv->sock_path, &st) < 0)
		return;
	if (st.st_dev != srv->sock_dev || st.st_ino != srv->sock_ino) {
		vmad_log(VMAD_LOG_WARN,
			 "%s is no longer the socket this daemon bound; "
			 "leaving it",
			 srv->sock_path);
		return;
	}
	unlink(srv->sock_path);
}

void vmad_instance_release(struct vmad_server *srv)
{
	struct stat ours, st;

	if (srv->pid_fd >= 0) {
		/*
		 * Ours while the path names the file we hold locked; if it
		 * was removed and written again by someone else, leave it.
		 */
		if (fstat(srv->pid_fd, &ours) == 0 &&
		    lstat(srv->cfg.pidfile, &st) == 0 &&
		    st.st_dev == ours.st_dev && st.st_ino == ours.st_ino)
			unlink(srv->cfg.pidfile);
		else
			vmad_log(VMAD_LOG_WARN,
				 "%s is no longer the pidfile this daemon "
				 "wrote; leaving it",
				 srv->cfg.pidfile);
		close(srv->pid_fd);
		srv->pid_fd = -1;
	}
	if (srv->lock_fd >= 0) {
		close(srv->lock_fd);
		srv->lock_fd = -1;
	}
}
