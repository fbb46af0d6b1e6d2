// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Where the socket lives, and who may reach it.
 *
 * Without XDG_RUNTIME_DIR the default socket is /tmp/vmad-UID/vmad.sock. A
 * socket directly in /tmp could be bound first by another user, who would
 * then keep the owner's daemon from starting and receive the owner's
 * requests. So, as tmux does with /tmp/tmux-UID, the daemon creates the
 * directory 0700 and refuses it unless it is a real directory (lstat: not
 * a symlink) owned by its uid that others cannot enter. Nobody else can
 * then create, replace or remove anything inside it. The clients check the
 * other end as well (SO_PEERCRED in clients/vmc.c).
 *
 * socket_group gives the socket file a group (the service's `vmad`), so
 * that socket_mode 0660 lets that group's members in.
 */
#include "vmad.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc/defaults.h"

/**
 * vmad_group_id() - The gid of @name, a group name or a decimal number.
 * Context: Init only (getgrnam() is not thread-safe).
 * Return: 0; -ENOENT if there is no such group.
 */
int vmad_group_id(const char *name, gid_t *gid)
{
	const struct group *gr;
	char *end;
	unsigned long v;

	if (*name >= '0' && *name <= '9') {
		errno = 0;
		v = strtoul(name, &end, 10);
		if (*end || errno || v > (gid_t)-2)
			return -ENOENT;
		*gid = (gid_t)v;
		return 0;
	}
	gr = getgrnam(name);
	if (!gr)
		return -ENOENT;
	*gid = gr->gr_gid;
	return 0;
}

/**
 * vmad_private_dir() - If @sock_path is in the private directory of the
 * default socket (RPC_PRIVATE_DIR_FMT), create the directory 0700 and
 * check it: a directory, not a symlink, owned by us, no access for group
 * or others.
 * @err: receives a message on failure.
 * Context: Init only.
 * Return: 0 (also when the path is elsewhere); -EACCES, or the errno of
 *         mkdir() or lstat().
 */
int vmad_private_dir(const char *sock_path, char *err, size_t len)
{
	char dir[64];
	size_t n;
	struct stat st;
	uid_t uid = geteuid();

	n = (size_t)snprintf(dir, sizeof(dir), RPC_PRIVATE_DIR_FMT,
			     (unsigned)getuid());
	if (strncmp(sock_path, dir, n) || sock_path[n] != '/')
		return 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;

		snprintf(err, len, "cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	if (lstat(dir, &st) < 0) {
		int e = errno;

		snprintf(err, len, "%s: %s", dir, strerror(e));
		return -e;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, len,
			 "%s is not a directory (a symlink or a file): "
			 "refusing it, another user may have put it there",
			 dir);
		return -EACCES;
	}
	if (st.st_uid != uid) {
		snprintf(err, len,
			 "%s is owned by uid %u, not %u: refusing it, its "
			 "owner could take over the socket",
			 dir, (unsigned)st.st_uid, (unsigned)uid);
		return -EACCES;
	}
	if (st.st_mode & 077) {
		snprintf(err, len,
			 "%s has mode %04o: refusing it until others have no "
			 "access (chmod 700 %s)",
			 dir, (unsigned)(st.st_mode & 07777), dir);
		return -EACCES;
	}
	return 0;
}
