// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: The socket path every program agrees on.
 *
 * One function decides the default path and one applies the documented
 * order (option, environment, config file, default), so the daemon and
 * every client find each other without configuration.
 */
#include "rpc/defaults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

static int put_path(char *buf, size_t len, int n)
{
	if (n < 0 || (size_t)n >= len || (size_t)n >= SUN_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int rpc_default_socket_path(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (xdg && xdg[0] == '/')
		return put_path(
			buf, len,
			snprintf(buf, len, "%s/%s", xdg, RPC_SOCKET_NAME));
	return put_path(buf, len,
			snprintf(buf, len, RPC_PRIVATE_DIR_FMT "/%s",
				 (unsigned)getuid(), RPC_SOCKET_NAME));
}

int rpc_socket_path(const char *option, const char *config, char *buf,
		    size_t len)
{
	const char *env = getenv(RPC_SOCKET_ENV);
	const char *pick = NULL;

	if (option && *option)
		pick = option;
	else if (env && *env)
		pick = env;
	else if (config && *config)
		pick = config;
	if (!pick)
		return rpc_default_socket_path(buf, len);
	return put_path(buf, len, snprintf(buf, len, "%s", pick));
}
