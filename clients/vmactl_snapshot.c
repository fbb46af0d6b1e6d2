// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl space export / space import --snapshot: moving a space.
 *
 * "vmactl space export SPACE FILE" writes the space file that
 * space.export returns (base64 on the wire) to FILE as bytes: the same
 * bytes a state directory holds for the space. "vmactl space import NAME
 * --snapshot FILE" sends FILE back in base64 to space.import, on this
 * daemon or another one. "-" is standard output or input.
 */
#include "vmactl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/jsonrpc.h"

/* The whole of @path ("-": standard input), new; NULL with errno set. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 65536, n = 0, got;
	char *buf, *nb;
	int err = 0;

	if (!f)
		return NULL;
	buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n < cap)
			continue;
		cap *= 2;
		nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			buf = NULL;
		}
		buf = nb;
	}
	if (!buf)
		err = ENOMEM;
	else if (ferror(f))
		err = errno ? errno : EIO;
	if (f != stdin)
		fclose(f);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	*len = n;
	return buf;
}

int vmactl_snapshot_prepare(json_t *params)
{
	const char *path =
		json_string_value(json_object_get(params, "snapshot"));
	size_t len, n;
	char *data, *text;

	if (!path)
		return 0;
	if (json_object_get(params, "maps") || json_object_get(params, "pid")) {
		fprintf(stderr, "vmactl: space import: give exactly one of "
				"--maps FILE, --pid PID and --snapshot FILE\n");
		return -EINVAL;
	}
	data = slurp(path, &len);
	if (!data) {
		fprintf(stderr, "vmactl: space import: cannot read %s: %s\n",
			path, strerror(errno));
		return -errno;
	}
	text = malloc(rpc_base64_len(len) + 1);
	if (!text) {
		free(data);
		fprintf(stderr, "vmactl: space import: out of memory\n");
		return -ENOMEM;
	}
	n = rpc_base64_encode(data, len, text);
	free(data);
	json_object_set_new(params, "snapshot", json_stringn(text, n));
	free(text);
	return 0;
}

int vmactl_export_write(const json_t *result, const char *path)
{
	const json_t *s = json_object_get(result, "snapshot");
	const char *text = json_string_value(s);
	size_t len = json_string_length(s);
	FILE *f;
	char *data;
	long n;
	int ret = 0;

	if (!text) {
		fprintf(stderr, "vmactl: space export: no snapshot in the "
				"response\n");
		return -EPROTO;
	}
	data = malloc(rpc_base64_max(len) + 1);
	if (!data)
		return -ENOMEM;
	n = rpc_base64_decode(text, len, data);
	if (n < 0) {
		fprintf(stderr, "vmactl: space export: the snapshot is not "
				"base64\n");
		free(data);
		return -EPROTO;
	}
	f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	if (!f || fwrite(data, 1, (size_t)n, f) != (size_t)n ||
	    (f != stdout ? fclose(f) : fflush(f)) != 0) {
		ret = -errno;
		fprintf(stderr, "vmactl: space export: cannot write %s: %s\n",
			path, strerror(errno));
	}
	free(data);
	return ret;
}
