// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl space import - the text a space.import request carries.
 *
 * "vmactl space import NAME --maps FILE" sends the text of FILE (a copy of
 * /proc/PID/maps or /proc/PID/smaps; "-" reads standard input);
 * "--pid PID" reads /proc/PID/smaps of a live process, and its start_brk
 * and start_stack from /proc/PID/stat (fields 47 and 28; brk itself is in
 * no /proc file, so the daemon takes the end of the [heap] VMA). Only the
 * smaps lines the import uses are sent (the VMA lines, Anonymous and
 * VmFlags), which keeps large processes below the daemon's message limit.
 */
#include "vmactl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/maps.h"

/* The whole of @f (new, NUL-terminated), or NULL. */
static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap + 1), *nb;

	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
	}
	if (!buf || ferror(f)) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* start_stack (field 28) and start_brk (field 47) of /proc/PID/stat. */
static int read_stat(long pid, uint64_t *start_stack, uint64_t *start_brk)
{
	char path[64], buf[4096], *p;
	unsigned long long v;
	size_t n;
	int field = 3;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold anything */
	if (!p)
		return -EINVAL;
	p++;
	while (*p && field <= 47) {
		while (*p == ' ')
			p++;
		v = strtoull(p, &p, 10);
		if (field == 28)
			*start_stack = v;
		if (field == 47)
			*start_brk = v;
		field++;
		if (*p == ' ' || !*p)
			continue;
		/* field 3 (state) is a letter */
		while (*p && *p != ' ')
			p++;
	}
	return field > 47 ? 0 : -EINVAL;
}

int vmactl_import_prepare(json_t *params)
{
	json_t *maps = json_object_get(params, "maps");
	json_t *pid = json_object_get(params, "pid");
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	if (!!maps == !!pid) {
		fprintf(stderr, "vmactl: space import: give exactly one of "
				"--maps FILE and --pid PID\n");
		return -EINVAL;
	}
	if (maps) {
		const char *name = json_string_value(maps);

		f = strcmp(name, "-") ? fopen(name, "r") : stdin;
		if (!f) {
			fprintf(stderr, "vmactl: %s: %s\n", name,
				strerror(errno));
			return -errno;
		}
		text = read_all(f, &len);
		if (f != stdin)
			fclose(f);
	} else {
		long id = (long)json_integer_value(pid);
		uint64_t stack = 0, brk = 0;
		char path[64];
		int ret;

		snprintf(path, sizeof(path), "/proc/%ld/smaps", id);
		f = fopen(path, "r");
		if (!f) {
			fprintf(stderr, "vmactl: %s: %s\n", path,
				strerror(errno));
			return -errno;
		}
		text = read_all(f, &len);
		fclose(f);
		ret = read_stat(id, &stack, &brk);
		if (ret) {
			fprintf(stderr, "vmactl: /proc/%ld/stat: %s\n", id,
				strerror(-ret));
			free(text);
			return ret;
		}
		if (!json_object_get(params, "start_stack") && stack)
			json_object_set_new(params, "start_stack",
					    json_integer((json_int_t)stack));
		if (!json_object_get(params, "start_brk") && brk)
			json_object_set_new(params, "start_brk",
					    json_integer((json_int_t)brk));
		json_object_del(params, "pid");
	}
	if (!text) {
		fprintf(stderr, "vmactl: space import: cannot read the maps "
				"text\n");
		return -EIO;
	}
	len = rpc_smaps_reduce(text);
	json_object_set_new(params, "maps", json_stringn(text, len));
	free(text);
	return 0;
}
