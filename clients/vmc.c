// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmc - the client library
 *
 * Connect, send, read one response. The reader is a boundary scanner, not a
 * parser: it tracks strings, escapes and bracket depth so that a value can
 * be cut out of the stream without parsing it, which lets vma-bench count
 * responses without allocating while vmactl and vma-replay hand the cut
 * bytes to jansson.
 *
 * The socket path is chosen in the daemon's order by rpc_socket_path() of
 * the protocol library: --socket, $VMAD_SOCKET, the "socket" setting of a
 * config file (only when one is named with --config or $VMAD_CONFIG; the
 * daemon itself runs on an embedded default configuration), and the default
 * of rpc_default_socket_path() if that socket exists, else the system
 * service's socket if it exists (so that a user in the `vmad` group needs
 * no configuration), else the per-user default.
 *
 * vmc_connect() checks the server's credentials (SO_PEERCRED) before the
 * caller sends anything: the caller's uid, root, or one uid trusted
 * explicitly. A socket in a directory others can write (such as /tmp) can
 * be bound by anyone; the daemon keeps its default in a private directory,
 * and this check catches the rest.
 */
#include "vmc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <vma/err.h>

#include <rpc/defaults.h>

void vmc_reader_init(struct vmc_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void vmc_reader_fini(struct vmc_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* Drop consumed bytes so that the value being scanned starts at 0. */
static void vmc_reader_compact(struct vmc_reader *r)
{
	if (!r->start)
		return;
	memmove(r->buf, r->buf + r->start, r->len - r->start);
	r->len -= r->start;
	r->scan -= r->start;
	r->start = 0;
}

char *vmc_reader_space(struct vmc_reader *r, size_t want, size_t *avail)
{
	vmc_reader_compact(r);
	if (r->cap - r->len < want) {
		size_t cap = r->cap ? r->cap : 4096;
		char *nb;

		while (cap - r->len < want)
			cap *= 2;
		if (cap > VMC_MAX_VALUE + 65536)
			return NULL;
		nb = realloc(r->buf, cap);
		if (!nb)
			return NULL;
		r->buf = nb;
		r->cap = cap;
	}
	*avail = r->cap - r->len;
	return r->buf + r->len;
}

void vmc_reader_commit(struct vmc_reader *r, size_t n)
{
	r->len += n;
}

int vmc_reader_feed(struct vmc_reader *r, const void *data, size_t n)
{
	size_t avail;
	char *p = vmc_reader_space(r, n, &avail);

	if (!p)
		return -ENOMEM;
	memcpy(p, data, n);
	vmc_reader_commit(r, n);
	return 0;
}

static bool vmc_is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static bool vmc_ends_scalar(char c)
{
	return vmc_is_ws(c) || c == '{' || c == '[' || c == '"' || c == ']' ||
	       c == '}' || c == ',';
}

int vmc_reader_next(struct vmc_reader *r, const char **val, size_t *len)
{
	char *b = r->buf;

	if (!r->kind) {
		while (r->start < r->len && vmc_is_ws(b[r->start]))
			r->start++;
		if (r->start == r->len) {
			r->scan = r->start;
			return 0;
		}
		r->kind = b[r->start];
		r->scan = r->start + 1;
		r->depth = 0;
		r->in_str = r->kind == '"';
		r->esc = false;
		if (r->kind == '{' || r->kind == '[')
			r->depth = 1;
		else if (r->kind == '}' || r->kind == ']')
			return -EPROTO;
	}
	while (r->scan < r->len) {
		char c = b[r->scan];

		if (r->in_str) {
			r->scan++;
			if (r->esc)
				r->esc = false;
			else if (c == '\\')
				r->esc = true;
			else if (c == '"') {
				r->in_str = false;
				if (r->kind == '"')
					goto done;
			}
			continue;
		}
		if (r->kind != '{' && r->kind != '[') {
			/* A bare scalar ends at the first delimiter. */
			if (vmc_ends_scalar(c))
				goto done;
			r->scan++;
			continue;
		}
		r->scan++;
		if (c == '"') {
			r->in_str = true;
		} else if (c == '{' || c == '[') {
			r->depth++;
		} else if (c == '}' || c == ']') {
			if (--r->depth == 0)
				goto done;
		}
	}
	if (r->scan - r->start > VMC_MAX_VALUE)
		return -EPROTO;
	return 0;
done:
	*val = b + r->start;
	*len = r->scan - r->start;
	r->start = r->scan;
	r->kind = 0;
	return 1;
}

bool vmc_reader_pending(const struct vmc_reader *r)
{
	size_t i;

	if (r->kind)
		return true;
	for (i = r->start; i < r->len; i++)
		if (!vmc_is_ws(r->buf[i]))
			return true;
	return false;
}

int vmc_default_socket_path(char *buf, size_t len)
{
	return rpc_default_socket_path(buf, len);
}

/* Trim leading and trailing blanks (and one pair of quotes) in place. */
static char *vmc_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
		s[n - 1] = 0;
		s++;
	}
	return s;
}

/*
 * Read "socket" from a config file. Accepted lines: "socket PATH",
 * "socket = PATH", "socket: PATH"; '#' and ';' start comments and
 * "[section]" headers are ignored. Returns 1 if found, 0 if not, -ENOENT if
 * the file cannot be read.
 */
static int vmc_config_socket(const char *file, char *buf, size_t len)
{
	char line[4096];
	int found = 0;
	FILE *f = fopen(file, "r");

	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *s = vmc_trim(line), *v;
		size_t k;

		if (!*s || *s == '#' || *s == ';' || *s == '[')
			continue;
		k = strcspn(s, " \t=:");
		if (k != 6 || strncmp(s, "socket", 6))
			continue;
		v = s + k;
		while (*v == ' ' || *v == '\t' || *v == '=' || *v == ':')
			v++;
		v[strcspn(v, "#")] = 0;
		v = vmc_trim(v);
		if (*v && strlen(v) < len) {
			strcpy(buf, v);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

int vmc_socket_path(const char *opt, const char *config, char *buf, size_t len)
{
	char from_config[4096] = "";
	int ret;

	if (!config || !*config)
		config = getenv("VMAD_CONFIG");
	if (config && *config) {
		ret = vmc_config_socket(config, from_config,
					sizeof(from_config));
		if (ret < 0)
			return ret;
	}
	if ((opt && *opt) ||
	    (getenv(RPC_SOCKET_ENV) && *getenv(RPC_SOCKET_ENV)) ||
	    from_config[0])
		return rpc_socket_path(opt, from_config, buf, len);
	ret = rpc_default_socket_path(buf, len);
	if (!ret && access(buf, F_OK) < 0 && errno == ENOENT &&
	    access(RPC_SYSTEM_SOCKET, F_OK) == 0 &&
	    strlen(RPC_SYSTEM_SOCKET) < len)
		strcpy(buf, RPC_SYSTEM_SOCKET);
	return ret;
}

/* A uid trusted besides ours and root's: -2 not set yet, -1 none. */
static long vmc_trusted_uid = -2;

static int vmc_parse_uid(const char *text, long *uid)
{
	char *end;
	unsigned long v;

	if (!text || *text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (*end || errno || v >= (uid_t)-1)
		return -EINVAL;
	*uid = (long)v;
	return 0;
}

int vmc_trust_server_uid(const char *text)
{
	return vmc_parse_uid(text, &vmc_trusted_uid);
}

/* Is the server at the other end of @fd one we may talk to? */
static int vmc_check_peer(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (cred.uid == getuid() || cred.uid == 0)
		return 0;
	if (vmc_trusted_uid == -2 &&
	    vmc_parse_uid(getenv("VMAD_SERVER_UID"), &vmc_trusted_uid))
		vmc_trusted_uid = -1;
	if (vmc_trusted_uid >= 0 && cred.uid == (uid_t)vmc_trusted_uid)
		return 0;
	return -EPERM;
}

const char *vmc_strerror(int err)
{
	if (err == -EPERM)
		return "the server runs as another user, neither you nor root "
		       "(--server-uid UID or VMAD_SERVER_UID trusts it)";
	return strerror(-err);
}

int vmc_connect(struct vmc_conn *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int ret;

	c->fd = -1;
	c->next_id = 1;
	vmc_reader_init(&c->rd);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(c->fd);
		c->fd = -1;
		return err;
	}
	ret = vmc_check_peer(c->fd);
	if (ret) {
		close(c->fd);
		c->fd = -1;
		return ret;
	}
	return 0;
}

void vmc_close(struct vmc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	vmc_reader_fini(&c->rd);
}

int vmc_send(struct vmc_conn *c, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int vmc_send_json(struct vmc_conn *c, const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n;
	int ret;

	if (!s)
		return -ENOMEM;
	n = strlen(s);
	s[n] = '\n'; /* overwrite the NUL; length is known */
	ret = vmc_send(c, s, n + 1);
	free(s);
	return ret;
}

int vmc_recv_raw(struct vmc_conn *c, const char **val, size_t *len)
{
	for (;;) {
		size_t avail;
		ssize_t n;
		char *p;
		int ret = vmc_reader_next(&c->rd, val, len);

		if (ret)
			return ret < 0 ? ret : 0;
		p = vmc_reader_space(&c->rd, 65536, &avail);
		if (!p)
			return -ENOMEM;
		n = recv(c->fd, p, avail, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			/* A scalar at the very end of the stream is complete.
			 */
			if (c->rd.kind && c->rd.kind != '{' &&
			    c->rd.kind != '[' && !c->rd.in_str) {
				*val = c->rd.buf + c->rd.start;
				*len = c->rd.len - c->rd.start;
				c->rd.start = c->rd.len;
				c->rd.kind = 0;
				return 0;
			}
			return -ECONNRESET;
		}
		vmc_reader_commit(&c->rd, (size_t)n);
	}
}

/*
 * A copy of the JSON text @val with every integer of 19 digits or more
 * outside strings written as a "0x..." string (new; NULL on ENOMEM or a
 * number above 2^64-1): responses carry integers up to 2^64-1 (the gate
 * area's address, for one), which jansson refuses above 2^63-1, and
 * vmc_json_u64() reads the string back.
 */
static char *vmc_hex_big_ints(const char *val, size_t len, size_t *out_len)
{
	char *out = malloc(len + len / 19 * 4 + 1);
	size_t i = 0, o = 0;
	bool in_str = false;

	while (out && i < len) {
		char ch = val[i];

		if (in_str) {
			out[o++] = val[i++];
			if (ch == '\\' && i < len)
				out[o++] = val[i++];
			else if (ch == '"')
				in_str = false;
		} else if (ch >= '0' && ch <= '9' &&
			   (!i || !strchr("0123456789.eE+-", val[i - 1]))) {
			size_t j = i;
			unsigned long long v;
			char *end;

			while (j < len && val[j] >= '0' && val[j] <= '9')
				j++;
			if (j - i < 19 || (j < len && strchr(".eE", val[j]))) {
				memcpy(out + o, val + i, j - i);
				o += j - i;
			} else {
				char num[32];

				if (j - i > 20) {
					free(out);
					return NULL;
				}
				memcpy(num, val + i, j - i);
				num[j - i] = 0;
				errno = 0;
				v = strtoull(num, &end, 10);
				if (errno) {
					free(out);
					return NULL;
				}
				o += (size_t)sprintf(out + o, "\"%#llx\"", v);
			}
			i = j;
		} else {
			in_str = ch == '"';
			out[o++] = val[i++];
		}
	}
	*out_len = o;
	return out;
}

int vmc_recv_json(struct vmc_conn *c, json_t **out)
{
	const char *val;
	size_t len, n;
	json_error_t jerr;
	char *hex;
	int ret = vmc_recv_raw(c, &val, &len);

	if (ret)
		return ret;
	*out = json_loadb(val, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK,
			  &jerr);
	if (!*out && json_error_code(&jerr) == json_error_numeric_overflow) {
		hex = vmc_hex_big_ints(val, len, &n);
		if (hex)
			*out = json_loadb(hex, n,
					  JSON_DECODE_ANY |
						  JSON_DISABLE_EOF_CHECK,
					  &jerr);
		free(hex);
	}
	return *out ? 0 : -EPROTO;
}

int vmc_call(struct vmc_conn *c, const char *method, json_t *params,
	     json_t **out)
{
	json_t *req = json_object();
	int ret;

	json_object_set_new(req, "jsonrpc", json_string("2.0"));
	json_object_set_new(req, "id", json_integer(c->next_id++));
	json_object_set_new(req, "method", json_string(method));
	if (params)
		json_object_set_new(req, "params", params);
	ret = vmc_send_json(c, req);
	json_decref(req);
	if (ret)
		return ret;
	return vmc_recv_json(c, out);
}

const char *vmc_response_errno(const json_t *resp)
{
	const json_t *e = json_object_get(resp, "error");
	const json_t *d = e ? json_object_get(e, "data") : NULL;
	const json_t *n = d ? json_object_get(d, "errno") : NULL;

	return json_is_string(n) ? json_string_value(n) : NULL;
}

const char *vmc_errno_message(const char *name)
{
	static const struct {
		const char *name;
		const char *msg;
	} map[] = {
#define VMC_X(n, m) {#n, m},
		VMA_ERRNO_MAP(VMC_X)
#undef VMC_X
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].name, name))
			return map[i].msg;
	return "unknown error";
}

int vmc_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned int shift = 0;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 0:
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'b' || *end == 'B')
			end++;
		if (*end || (v << shift) >> shift != v)
			return -EINVAL;
		v <<= shift;
	}
	*out = v;
	return 0;
}

int vmc_json_u64(const json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0)
			return -EINVAL;
		*out = (uint64_t)i;
		return 0;
	}
	if (json_is_string(v))
		return vmc_parse_u64(json_string_value(v), out);
	return -EINVAL;
}

char *vmc_human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%lluB", (unsigned long long)bytes);
	else if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
	return buf;
}

uint64_t vmc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
