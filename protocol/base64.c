// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Base64 (RFC 4648, standard alphabet, padded), for binary values in
 * JSON strings: a space snapshot travels as one (space.export and
 * space.import).
 */
#include "rpc/jsonrpc.h"

#include <errno.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t rpc_base64_encode(const void *data, size_t len, char *out)
{
	const unsigned char *p = data;
	size_t i = 0, n = 0;

	while (i < len) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		out[n++] = b64_alphabet[v >> 18];
		out[n++] = b64_alphabet[(v >> 12) & 63];
		out[n++] = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[n++] = left > 2 ? b64_alphabet[v & 63] : '=';
		i += left > 2 ? 3 : left;
	}
	return n;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long rpc_base64_decode(const char *s, size_t len, void *out)
{
	unsigned char *o = out;
	size_t i, n = 0;

	if (len % 4)
		return -EINVAL;
	for (i = 0; i < len; i += 4) {
		int a = b64_value(s[i]), b = b64_value(s[i + 1]);
		int c = b64_value(s[i + 2]), d = b64_value(s[i + 3]);
		bool last = i + 4 == len;

		if (a < 0 || b < 0)
			return -EINVAL;
		if (last && s[i + 2] == '=' && s[i + 3] == '=') {
			if (b & 15)
				return -EINVAL; /* bits that belong nowhere */
			o[n++] = (unsigned char)(a << 2 | b >> 4);
			break;
		}
		if (last && s[i + 3] == '=') {
			if (c < 0 || (c & 3))
				return -EINVAL;
			o[n++] = (unsigned char)(a << 2 | b >> 4);
			o[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
			break;
		}
		if (c < 0 || d < 0)
			return -EINVAL;
		o[n++] = (unsigned char)(a << 2 | b >> 4);
		o[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
		o[n++] = (unsigned char)((c & 3) << 6 | d);
	}
	return (long)n;
}
