/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rpc/defaults.h - Where vmad listens, shared by the daemon and the clients.
 *
 * The socket path is chosen, in order, by a --socket PATH option, the
 * VMAD_SOCKET environment variable, the config file's "socket" option and
 * the default below. Clients have no config file and pass NULL for it.
 *
 * Locking: every function here is Any context (they read the environment,
 * which no vmad thread modifies).
 */
#ifndef RPC_DEFAULTS_H
#define RPC_DEFAULTS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RPC_SOCKET_ENV	"VMAD_SOCKET"
#define RPC_SOCKET_NAME "vmad.sock"
/*
 * The private directory of the default socket when XDG_RUNTIME_DIR is not
 * set (a printf format of the uid): the daemon creates it 0700 and refuses
 * it unless it is a directory (not a symlink) owned by the uid with no
 * access for others, as tmux does with /tmp/tmux-UID.
 */
#define RPC_PRIVATE_DIR_FMT "/tmp/vmad-%u"
/* The system service's socket (etc/vmad.service), found by the clients
 * when no per-user socket exists. */
#define RPC_SYSTEM_SOCKET   "/run/vmad/vmad.sock"
#define RPC_DEFAULT_MAX_MSG (1u << 20) /* bytes of one JSON value */

/**
 * rpc_default_socket_path() - The default socket path:
 * "$XDG_RUNTIME_DIR/vmad.sock" when XDG_RUNTIME_DIR is set to an absolute
 * path, else "/tmp/vmad-$UID/vmad.sock" (RPC_PRIVATE_DIR_FMT).
 * @buf: receives the NUL-terminated path.
 * @len: size of @buf (108 bytes, the size of sun_path, is always enough
 *       unless XDG_RUNTIME_DIR is very long).
 *
 * Context: Any context.
 * Return: 0; -ENAMETOOLONG if the path does not fit in @buf or in a
 *         sockaddr_un.
 */
int rpc_default_socket_path(char *buf, size_t len);

/**
 * rpc_socket_path() - Apply the documented order: @option (--socket), then
 * $VMAD_SOCKET, then @config (the config file's value), then the default.
 * @option: the command-line value or NULL.
 * @config: the config file's value or NULL/"" (clients pass NULL).
 *
 * Context: Any context.
 * Return: 0; -ENAMETOOLONG as rpc_default_socket_path().
 */
int rpc_socket_path(const char *option, const char *config, char *buf,
		    size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RPC_DEFAULTS_H */
