/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmc.h - The client library shared by vmactl, vma-replay and vma-bench,
 * installed as libvmc (this header, libvmc.so, `pkg-config libvmc`) for
 * programs of their own. libvmc exports the vmc_* functions below and
 * nothing else (symbol version VMC_0); its JSON values are jansson's.
 *
 * It does four small things and nothing else:
 *   - choose the socket path (--socket, VMAD_SOCKET, config file, default),
 *   - connect to the daemon's Unix socket,
 *   - split a byte stream into JSON values (struct vmc_reader),
 *   - send one request and read one response (struct vmc_conn).
 *
 * Locking: nothing here is thread-safe unless stated; a struct vmc_conn or
 * struct vmc_reader belongs to one thread at a time. The functions that take
 * no such object are Any context.
 */
#ifndef VMC_H
#define VMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Exit statuses shared by the clients. */
#define VMC_EXIT_OK	     0
#define VMC_EXIT_FAIL	     1
#define VMC_EXIT_USAGE	     2
#define VMC_EXIT_UNREACHABLE 3

/* Largest JSON value the reader accepts (a "maps" of a huge space fits). */
#define VMC_MAX_VALUE (64u << 20)

/**
 * struct vmc_reader - Splits a byte stream into JSON values.
 * @buf:   Buffered bytes; values are returned as pointers into it.
 * @len:   Bytes in @buf.
 * @cap:   Allocated size of @buf.
 * @start: Offset of the value being scanned (or of the next one).
 * @scan:  Offset up to which the value at @start has been scanned.
 * @depth: Open brackets and braces of the value being scanned.
 * @in_str: Inside a string literal.
 * @esc:   The previous character was a backslash inside a string.
 * @kind:  First character of the value being scanned, 0 before it starts.
 *
 * The scanner only finds value boundaries (brackets, braces, strings and
 * scalars); it does not validate. Whitespace between values is skipped, so
 * both newline-delimited and concatenated values are split correctly.
 */
struct vmc_reader {
	char *buf;
	size_t len;
	size_t cap;
	size_t start;
	size_t scan;
	unsigned int depth;
	bool in_str;
	bool esc;
	char kind;
};

void vmc_reader_init(struct vmc_reader *r);
void vmc_reader_fini(struct vmc_reader *r);

/**
 * vmc_reader_space() - Make room for at least @want more bytes.
 * @r:    Reader.
 * @want: Bytes the caller wants to append.
 * @avail: Set to the bytes available at the returned pointer.
 *
 * Context: Owner thread of @r. Moves consumed bytes out; pointers returned
 *          by an earlier vmc_reader_next() become invalid.
 * Return: where to append (then call vmc_reader_commit()), or NULL if the
 *         buffer cannot grow (out of memory or value over VMC_MAX_VALUE).
 */
char *vmc_reader_space(struct vmc_reader *r, size_t want, size_t *avail);

/** vmc_reader_commit() - Account @n bytes written at vmc_reader_space(). */
void vmc_reader_commit(struct vmc_reader *r, size_t n);

/**
 * vmc_reader_feed() - Append @n bytes to the reader.
 * Context: Owner thread of @r.
 * Return: 0, or -ENOMEM.
 */
int vmc_reader_feed(struct vmc_reader *r, const void *data, size_t n);

/**
 * vmc_reader_next() - Return the next complete JSON value, if any.
 * @r:   Reader.
 * @val: Set to the first byte of the value (not NUL-terminated).
 * @len: Set to its length.
 *
 * The value stays valid until the next call that adds data.
 * Context: Owner thread of @r.
 * Return: 1 if a value is ready, 0 if more bytes are needed, -EPROTO if
 *         the stream is malformed (an unmatched closing bracket).
 */
int vmc_reader_next(struct vmc_reader *r, const char **val, size_t *len);

/** vmc_reader_pending() - Whether bytes of an incomplete value are held. */
bool vmc_reader_pending(const struct vmc_reader *r);

/**
 * struct vmc_conn - One connection to the daemon.
 * @fd:     Socket, -1 when closed.
 * @rd:     Response reader.
 * @next_id: Next request id vmc_call() uses.
 */
struct vmc_conn {
	int fd;
	struct vmc_reader rd;
	long long next_id;
};

/**
 * vmc_default_socket_path() - The documented default socket path, from
 * rpc_default_socket_path(): $XDG_RUNTIME_DIR/vmad.sock if XDG_RUNTIME_DIR
 * is set, else /tmp/vmad-$UID/vmad.sock.
 * Context: Any context.
 * Return: 0, or -ENAMETOOLONG if it does not fit in @len bytes.
 */
int vmc_default_socket_path(char *buf, size_t len);

/**
 * vmc_socket_path() - Choose the socket path as the daemon does.
 * @opt:    Value of --socket, or NULL.
 * @config: Value of --config, or NULL (then $VMAD_CONFIG is tried; without
 *          either no config file is read).
 * @buf:    Output buffer.
 * @len:    Its size.
 *
 * Order: @opt, $VMAD_SOCKET, "socket" in the config file, the per-user
 * default (vmc_default_socket_path()) if it exists, else the system
 * service's socket (RPC_SYSTEM_SOCKET, /run/vmad/vmad.sock) if that
 * exists, else the per-user default (so that errors name it).
 * VMC_HELP_SOCKET says so for --help.
 * Context: Any context.
 * Return: 0, or -ENAMETOOLONG, or -ENOENT if an explicit @config cannot be
 *         read.
 */
int vmc_socket_path(const char *opt, const char *config, char *buf, size_t len);

/**
 * vmc_connect() - Connect @c to the daemon listening on @path, and check
 * who listens before anything is sent: the server's uid (SO_PEERCRED) must
 * be ours, root's, or the one given to vmc_trust_server_uid() (else
 * $VMAD_SERVER_UID). Another user could have bound a socket where ours was
 * expected; we would hand it our requests.
 * Context: Any context (initialises @c).
 * Return: 0, or a negative errno (-ENOENT, -ECONNREFUSED, -ENAMETOOLONG...;
 *         -EPERM: the server runs as another user, see vmc_strerror()).
 */
int vmc_connect(struct vmc_conn *c, const char *path);

/**
 * vmc_trust_server_uid() - Also accept a server running as @uid (the
 * clients' --server-uid option); -1: only our uid and root.
 * Context: Init only.
 * Return: 0; -EINVAL if @text is not a uid.
 */
int vmc_trust_server_uid(const char *text);

/**
 * vmc_strerror() - strerror() of -@err, with vmc_connect()'s -EPERM
 * explained.
 * Context: Any context.
 */
const char *vmc_strerror(int err);

/* The lines of --help that say how the socket and its server are chosen. */
#define VMC_HELP_SOCKET                                                        \
	"    The socket is, in order: --socket PATH, $VMAD_SOCKET, "           \
	"\"socket\" in\n"                                                      \
	"    the --config file (or $VMAD_CONFIG), then the per-user default\n" \
	"    ($XDG_RUNTIME_DIR/vmad.sock, or /tmp/vmad-$UID/vmad.sock when\n"  \
	"    XDG_RUNTIME_DIR is not set) if it exists, else the system\n"      \
	"    service's /run/vmad/vmad.sock if that exists. Before sending\n"   \
	"    anything the client checks that the server runs as the caller "   \
	"or\n"                                                                 \
	"    as root (SO_PEERCRED); --server-uid UID (or $VMAD_SERVER_UID)\n"  \
	"    trusts one more uid.\n"

/** vmc_close() - Close @c and free its buffers. Safe on a closed conn. */
void vmc_close(struct vmc_conn *c);

/**
 * vmc_send() - Write all @len bytes of @buf to @c.
 * Context: Owner thread of @c.
 * Return: 0, or a negative errno (-EPIPE when the daemon went away).
 */
int vmc_send(struct vmc_conn *c, const char *buf, size_t len);

/**
 * vmc_send_json() - Write @v compactly followed by "\n".
 * Context: Owner thread of @c. @v is borrowed.
 * Return: 0, or a negative errno.
 */
int vmc_send_json(struct vmc_conn *c, const json_t *v);

/**
 * vmc_recv_raw() - Read the next JSON value from @c without parsing it.
 * @c:   Connection.
 * @val: Set to the value's bytes (valid until the next receive).
 * @len: Set to its length.
 * Context: Owner thread of @c. Blocks.
 * Return: 0, -ECONNRESET at end of stream, -EPROTO, or another -errno.
 */
int vmc_recv_raw(struct vmc_conn *c, const char **val, size_t *len);

/**
 * vmc_recv_json() - Read and parse the next JSON value from @c.
 * Context: Owner thread of @c. Blocks.
 * Return: 0 with *@out set (a new reference), or a negative errno
 *         (-EPROTO when the value does not parse).
 */
int vmc_recv_json(struct vmc_conn *c, json_t **out);

/**
 * vmc_call() - Send one request and read its response.
 * @c:      Connection.
 * @method: Method name.
 * @params: Parameters (stolen; may be NULL).
 * @out:    Set to the whole response object (new reference).
 * Context: Owner thread of @c. Blocks.
 * Return: 0 (the response may still hold an error), or a negative errno
 *         for transport failures.
 */
int vmc_call(struct vmc_conn *c, const char *method, json_t *params,
	     json_t **out);

/**
 * vmc_response_errno() - Symbolic errno ("EINVAL") of an error response.
 * Context: Any context. @resp is borrowed.
 * Return: the name, borrowed from @resp, or NULL if there is none.
 */
const char *vmc_response_errno(const json_t *resp);

/**
 * vmc_errno_message() - Message for a symbolic errno name.
 * Context: Any context.
 * Return: a static string ("invalid argument"), "unknown error" if unknown.
 */
const char *vmc_errno_message(const char *name);

/**
 * vmc_parse_u64() - Parse a number: decimal, 0x-hex, with an optional
 * binary suffix K, M, G or T (case-insensitive).
 * Context: Any context.
 * Return: 0, or -EINVAL.
 */
int vmc_parse_u64(const char *s, uint64_t *out);

/**
 * vmc_json_u64() - Read an address or length from a JSON value: an integer
 * or a "0x..." string.
 * Context: Any context.
 * Return: 0, or -EINVAL.
 */
int vmc_json_u64(const json_t *v, uint64_t *out);

/**
 * vmc_human_size() - Format @bytes as "4K", "1.5M", "8G"...
 * Context: Any context.
 * Return: @buf.
 */
char *vmc_human_size(uint64_t bytes, char *buf, size_t len);

/** vmc_now_ns() - CLOCK_MONOTONIC in nanoseconds. Any context. */
uint64_t vmc_now_ns(void);

#endif /* VMC_H */
