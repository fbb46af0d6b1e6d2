// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Configuration: one table drives everything.
 *
 * Each option is one row of vmad_options[]: its name, type, the offset of
 * its field in struct vmad_config, its default (as text, parsed like a
 * config file value) and its bounds. The same rows fill the defaults,
 * parse "name value" lines of a config file ("#" starts a comment), apply
 * "--name value" command-line overrides (dashes or underscores), print
 * --dump-config (a valid config file) and the option list of --help.
 *
 * Values: integers in decimal or 0x hex; sizes may end in K, M or G
 * (powers of 1024); modes are octal; booleans are yes/no, true/false,
 * on/off or 1/0; log levels are error, warn, info, verbose, debug.
 */
#include "vmad.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rpc/suggest.h"

enum vmad_opt_type {
	OPT_STRING,
	OPT_UINT,  /* unsigned */
	OPT_SIZE,  /* uint64_t, with K/M/G suffixes */
	OPT_MODE,  /* unsigned, octal */
	OPT_BOOL,  /* bool */
	OPT_LEVEL, /* unsigned, a log level name */
	OPT_FSYNC, /* unsigned, enum vmad_fsync by name */
	OPT_MS,	   /* uint64_t milliseconds: N seconds, or N followed by ms */
};

struct vmad_option {
	const char *name;
	enum vmad_opt_type type;
	size_t off;
	const char *def;
	uint64_t min, max;
	const char *help;
};

#define O(f) offsetof(struct vmad_config, f)

static const struct vmad_option vmad_options[] = {
	{"socket", OPT_STRING, O(socket), "", 0, VMAD_PATH_MAX - 1,
	 "Unix socket path (\"\" = $VMAD_SOCKET, else the default)"},
	{"socket_mode", OPT_MODE, O(socket_mode), "0660", 0, 0777,
	 "permission bits of the socket file"},
	{"socket_group", OPT_STRING, O(socket_group), "", 0, 63,
	 "group of the socket file, a name or a number (\"\" = the daemon's)"},
	{"workers", OPT_UINT, O(workers), "0", 0, 256,
	 "worker threads (0 = one per CPU)"},
	{"job_threads", OPT_UINT, O(job_threads), "2", 1, 64,
	 "threads for long operations (fork, maps, freeing spaces)"},
	{"max_connections", OPT_UINT, O(max_connections), "1024", 1, 1000000,
	 "connections served at once (lowered to fit RLIMIT_NOFILE); one "
	 "more gets an error and is closed"},
	{"superuser_reserved_connections", OPT_UINT,
	 O(superuser_reserved_connections), "4", 0, 1000,
	 "of max_connections, kept for root and the daemon's own uid"},
	{"max_connections_per_uid", OPT_UINT, O(max_connections_per_uid), "256",
	 0, 1000000,
	 "connections one uid other than root and the daemon's may hold (0 = "
	 "no limit)"},
	{"listen_backlog", OPT_UINT, O(listen_backlog), "1024", 1, 1000000,
	 "connections the kernel queues before vmad accepts them "
	 "(capped by net.core.somaxconn)"},
	{"max_message", OPT_SIZE, O(max_message), "1M", 256, 1ULL << 30,
	 "largest JSON value accepted, in bytes"},
	{"max_batch", OPT_UINT, O(max_batch), "10000", 1, 1000000,
	 "most requests in one batch"},
	{"max_spaces_per_uid", OPT_UINT, O(max_spaces_per_uid), "1024", 1,
	 1000000, "address spaces one uid may own"},
	{"max_spaces", OPT_UINT, O(max_spaces), "4096", 1, 10000000,
	 "address spaces of all uids together"},
	{"max_memory", OPT_SIZE, O(max_memory), "0", 0, 1ULL << 50,
	 "memory of spaces and buffers past which mutations that add to it "
	 "fail with ENOMEM (0 = half of the physical memory)"},
	{"default_max_map_count", OPT_SIZE, O(default_max_map_count), "65530",
	 1, 1ULL << 32, "max_map_count of a new space"},
	{"max_map_count_limit", OPT_SIZE, O(max_map_count_limit), "4194304", 1,
	 1ULL << 32, "largest max_map_count a client may ask for"},
	{"tree_in_place", OPT_BOOL, O(tree_in_place), "yes", 0, 1,
	 "VMA trees store a changed subtree into the published parent "
	 "(no: every mutation publishes a new root)"},
	{"zero_page", OPT_BOOL, O(zero_page), "yes", 0, 1,
	 "read faults of private anonymous memory map the shared zero page "
	 "(no: model a kernel without it)"},
	{"output_high_water", OPT_SIZE, O(output_high_water), "1M", 4096,
	 1ULL << 34, "stop reading a connection whose output exceeds this"},
	{"output_low_water", OPT_SIZE, O(output_low_water), "256K", 0,
	 1ULL << 34, "resume reading once its output is below this"},
	{"output_timeout", OPT_UINT, O(output_timeout), "30", 1, 86400,
	 "seconds a connection's output may go unread, or stay above "
	 "output_low_water, before it is closed"},
	{"client_output_buffer_limit_hard", OPT_SIZE, O(output_limit_hard),
	 "32M", 0, 1ULL << 40,
	 "close a connection whose pending output exceeds this (0 = no "
	 "limit)"},
	{"client_output_buffer_limit_soft", OPT_SIZE, O(output_limit_soft),
	 "4M", 0, 1ULL << 40,
	 "close a connection whose pending output stays above this for "
	 "client_output_buffer_limit_soft_seconds (0 = no limit)"},
	{"client_output_buffer_limit_soft_seconds", OPT_UINT,
	 O(output_limit_soft_seconds), "60", 1, 86400,
	 "see client_output_buffer_limit_soft"},
	{"timeout", OPT_UINT, O(timeout), "0", 0, 31536000,
	 "close a connection idle for this many seconds (0 = never)"},
	{"request_timeout", OPT_UINT, O(request_timeout), "10", 0, 86400,
	 "close a connection that leaves a request incomplete this long (0 = "
	 "never)"},
	{"shutdown_timeout", OPT_UINT, O(shutdown_timeout), "10", 1, 3600,
	 "seconds to flush responses on SIGTERM before closing"},
	{"state_dir", OPT_STRING, O(state_dir), "", 0, VMAD_PATH_MAX - 1,
	 "keep every space in this directory across restarts (\"\" = in "
	 "memory only)"},
	{"save_interval", OPT_MS, O(save_interval_ms), "60", 0, 86400ULL * 1000,
	 "seconds (or N followed by ms) between saves of changed spaces "
	 "(0 = only at shutdown)"},
	{"appendonly", OPT_BOOL, O(appendonly), "no", 0, 1,
	 "journal every change of a space before answering it"},
	{"appendfsync", OPT_FSYNC, O(appendfsync), "everysec", 0, 2,
	 "when the journal reaches the disk: always (before the answer), "
	 "everysec or no"},
	{"daemonize", OPT_BOOL, O(daemonize), "no", 0, 1,
	 "fork to the background (--daemon / --foreground); without "
	 "log_file it logs to syslog"},
	{"pidfile", OPT_STRING, O(pidfile), "", 0, VMAD_PATH_MAX - 1,
	 "write (and lock) the pid here once listening (\"\" = none)"},
	{"log_level", OPT_LEVEL, O(log_level), "info", 0, VMAD_LOG_DEBUG,
	 "error, warn, info, verbose or debug"},
	{"log_file", OPT_STRING, O(log_file), "", 0, VMAD_PATH_MAX - 1,
	 "log to this file (\"\" = stderr); reopened on SIGHUP"},
	{"syslog", OPT_BOOL, O(syslog), "no", 0, 1,
	 "log to syslog instead of stderr or log_file"},
};

#define NR_OPTIONS (sizeof(vmad_options) / sizeof(vmad_options[0]))

static const char *const level_names[] = {
	"error", "warn", "info", "verbose", "debug",
};

static const char *const fsync_names[] = {
	[VMAD_FSYNC_ALWAYS] = "always",
	[VMAD_FSYNC_EVERYSEC] = "everysec",
	[VMAD_FSYNC_NO] = "no",
};

static enum vmad_config_origin origins[NR_OPTIONS];

static const struct vmad_option *find_option(const char *name, size_t *idx)
{
	char norm[64];
	size_t i;

	for (i = 0; name[i] && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '-' ? '_' : name[i];
	norm[i] = '\0';
	for (i = 0; i < NR_OPTIONS; i++)
		if (!strcmp(vmad_options[i].name, norm)) {
			if (idx)
				*idx = i;
			return &vmad_options[i];
		}
	return NULL;
}

static int parse_u64(const char *s, bool suffix, int base, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || end == s)
		return -EINVAL;
	if (suffix && *end) {
		unsigned shift = 0;

		switch (toupper((unsigned char)*end)) {
		case 'K':
			shift = 10;
			break;
		case 'M':
			shift = 20;
			break;
		case 'G':
			shift = 30;
			break;
		default:
			return -EINVAL;
		}
		end++;
		if (v > (UINT64_MAX >> shift))
			return -EINVAL;
		v <<= shift;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int apply(struct vmad_config *cfg, const struct vmad_option *o,
		 const char *value, char *errbuf, size_t len)
{
	char *field = (char *)cfg + o->off;
	uint64_t v = 0;
	size_t i;

	switch (o->type) {
	case OPT_STRING:
		if (strlen(value) > o->max) {
			snprintf(errbuf, len, "%s: longer than %llu bytes",
				 o->name, (unsigned long long)o->max);
			return -EINVAL;
		}
		strcpy(field, value);
		return 0;
	case OPT_BOOL:
		if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") ||
		    !strcasecmp(value, "on") || !strcmp(value, "1")) {
			*(bool *)field = true;
			return 0;
		}
		if (!strcasecmp(value, "no") || !strcasecmp(value, "false") ||
		    !strcasecmp(value, "off") || !strcmp(value, "0")) {
			*(bool *)field = false;
			return 0;
		}
		snprintf(errbuf, len, "%s: expected yes or no, got \"%.40s\"",
			 o->name, value);
		return -EINVAL;
	case OPT_LEVEL:
		for (i = 0; i < sizeof(level_names) / sizeof(char *); i++)
			if (!strcasecmp(value, level_names[i])) {
				*(unsigned *)field = (unsigned)i;
				return 0;
			}
		snprintf(errbuf, len,
			 "%s: expected error, warn, info, verbose or debug, "
			 "got \"%.40s\"",
			 o->name, value);
		return -EINVAL;
	case OPT_FSYNC:
		for (i = 0; i < sizeof(fsync_names) / sizeof(char *); i++)
			if (!strcasecmp(value, fsync_names[i])) {
				*(unsigned *)field = (unsigned)i;
				return 0;
			}
		snprintf(errbuf, len,
			 "%s: expected always, everysec or no, got \"%.40s\"",
			 o->name, value);
		return -EINVAL;
	case OPT_MS: {
		size_t n = strlen(value);
		bool ms = n > 2 && !strcasecmp(value + n - 2, "ms");
		char num[32];

		if (n >= sizeof(num) ||
		    (snprintf(num, sizeof(num), "%.*s", (int)(ms ? n - 2 : n),
			      value),
		     parse_u64(num, false, 10, &v)) ||
		    (!ms && v > UINT64_MAX / 1000)) {
			snprintf(errbuf, len,
				 "%s: expected seconds or N followed by ms, "
				 "got \"%.40s\"",
				 o->name, value);
			return -EINVAL;
		}
		if (!ms)
			v *= 1000;
		if (v < o->min || v > o->max) {
			snprintf(errbuf, len,
				 "%s: %s is out of range [0, %llu s]", o->name,
				 value, (unsigned long long)o->max / 1000);
			return -EINVAL;
		}
		*(uint64_t *)field = v;
		return 0;
	}
	case OPT_UINT:
	case OPT_SIZE:
	case OPT_MODE:
		if (parse_u64(value, o->type == OPT_SIZE,
			      o->type == OPT_MODE ? 8 : 0, &v)) {
			snprintf(errbuf, len, "%s: not a valid %s: \"%.40s\"",
				 o->name,
				 o->type == OPT_MODE   ? "octal mode"
				 : o->type == OPT_SIZE ? "size"
						       : "number",
				 value);
			return -EINVAL;
		}
		if (v < o->min || v > o->max) {
			snprintf(errbuf, len,
				 "%s: %llu is out of range [%llu, %llu]",
				 o->name, (unsigned long long)v,
				 (unsigned long long)o->min,
				 (unsigned long long)o->max);
			return -EINVAL;
		}
		if (o->type == OPT_SIZE)
			*(uint64_t *)field = v;
		else
			*(unsigned *)field = (unsigned)v;
		return 0;
	}
	return -EINVAL;
}

void vmad_config_defaults(struct vmad_config *cfg)
{
	char err[128];
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < NR_OPTIONS; i++) {
		int ret = apply(cfg, &vmad_options[i], vmad_options[i].def, err,
				sizeof(err));

		/* The table's defaults are valid by construction. */
		if (ret)
			abort();
		origins[i] = VMAD_CFG_DEFAULT;
	}
}

int vmad_config_set(struct vmad_config *cfg, const char *name,
		    const char *value, enum vmad_config_origin origin,
		    char *errbuf, size_t len)
{
	size_t idx;
	const struct vmad_option *o = find_option(name, &idx);
	int ret;

	if (!o) {
		struct rpc_suggest s;
		const char *guess;

		rpc_suggest_init(&s, name);
		vmad_config_suggest(&s);
		guess = rpc_suggest_best(&s);
		if (guess)
			snprintf(errbuf, len,
				 "unknown option \"%.40s\"; did you mean "
				 "\"%s\"?",
				 name, guess);
		else
			snprintf(errbuf, len, "unknown option \"%.40s\"", name);
		return -ENOENT;
	}
	ret = apply(cfg, o, value, errbuf, len);
	if (!ret)
		origins[idx] = origin;
	return ret;
}

enum vmad_config_origin vmad_config_origin_of(const char *name)
{
	size_t idx;

	if (!find_option(name, &idx))
		return VMAD_CFG_DEFAULT;
	return origins[idx];
}

/*
 * Unquote the value at @q (which starts with '"') in place: \" and \\ stand
 * for themselves, and only whitespace or a comment may follow the closing
 * quote. The value is left at @q + 1.
 * Return: NULL, or what is wrong with *@col set to its offset from @q.
 */
static const char *unquote(char *q, size_t *col)
{
	char *r = q + 1, *w = q + 1;

	for (;; r++) {
		if (!*r || *r == '\n') {
			*col = 0;
			return "unterminated quoted value";
		}
		if (*r == '"')
			break;
		if (*r == '\\') {
			if (r[1] != '"' && r[1] != '\\') {
				*col = (size_t)(r - q);
				return "unknown escape in a quoted value (only "
				       "\\\" and \\\\)";
			}
			r++;
		}
		*w++ = *r;
	}
	*w = '\0';
	for (r++; isspace((unsigned char)*r); r++)
		;
	if (*r && *r != '#') {
		*col = (size_t)(r - q);
		return "text after the closing quote";
	}
	return NULL;
}

int vmad_config_load(struct vmad_config *cfg, const char *path, char *errbuf,
		     size_t len)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned lineno = 0;
	int ret = 0;

	if (!f) {
		ret = -errno;
		snprintf(errbuf, len, "%s: %s", path, strerror(errno));
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *name, *value, *end;
		char why[160];

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(errbuf, len, "%s:%u: line too long", path,
				 lineno);
			ret = -EINVAL;
			break;
		}
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		name = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
		while (isspace((unsigned char)*p))
			p++;
		value = p;
		if (*value == '"') {
			size_t col = 0;
			const char *what = unquote(value, &col);

			if (what) {
				snprintf(errbuf, len, "%s:%u:%zu: %s: %s", path,
					 lineno,
					 (size_t)(value - line) + col + 1, name,
					 what);
				ret = -EINVAL;
				break;
			}
			value++;
		} else {
			/* Strip a trailing comment and whitespace. */
			end = strchr(value, '#');
			if (end)
				*end = '\0';
			end = value + strlen(value);
			while (end > value && isspace((unsigned char)end[-1]))
				*--end = '\0';
			if (!*value) {
				snprintf(errbuf, len,
					 "%s:%u: %s: missing value", path,
					 lineno, name);
				ret = -EINVAL;
				break;
			}
		}
		ret = vmad_config_set(cfg, name, value, VMAD_CFG_FILE, why,
				      sizeof(why));
		if (ret) {
			snprintf(errbuf, len, "%s:%u: %s", path, lineno, why);
			ret = -EINVAL;
			break;
		}
	}
	if (!ret && ferror(f)) {
		snprintf(errbuf, len, "%s: read error", path);
		ret = -EIO;
	}
	fclose(f);
	return ret;
}

int vmad_config_check(const struct vmad_config *cfg, char *errbuf, size_t len)
{
	if (cfg->output_low_water >= cfg->output_high_water) {
		snprintf(errbuf, len,
			 "output_low_water must be below output_high_water");
		return -EINVAL;
	}
	if (cfg->default_max_map_count > cfg->max_map_count_limit) {
		snprintf(errbuf, len,
			 "default_max_map_count must not exceed "
			 "max_map_count_limit");
		return -EINVAL;
	}
	return 0;
}

static void format_value(const struct vmad_config *cfg,
			 const struct vmad_option *o, char *buf, size_t len)
{
	const char *field = (const char *)cfg + o->off;

	switch (o->type) {
	case OPT_STRING: {
		/* Quoted so that vmad_config_load() reads it back. */
		size_t n = 0;

		if (len < 3)
			break;
		buf[n++] = '"';
		for (; *field && n + 3 < len; field++) {
			if (*field == '"' || *field == '\\')
				buf[n++] = '\\';
			buf[n++] = *field;
		}
		buf[n++] = '"';
		buf[n] = '\0';
		break;
	}
	case OPT_UINT:
		snprintf(buf, len, "%u", *(const unsigned *)field);
		break;
	case OPT_SIZE:
		snprintf(buf, len, "%llu",
			 (unsigned long long)*(const uint64_t *)field);
		break;
	case OPT_MODE:
		snprintf(buf, len, "0%o", *(const unsigned *)field);
		break;
	case OPT_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "yes" : "no");
		break;
	case OPT_LEVEL:
		snprintf(buf, len, "%s", level_names[*(const unsigned *)field]);
		break;
	case OPT_FSYNC:
		snprintf(buf, len, "%s", fsync_names[*(const unsigned *)field]);
		break;
	case OPT_MS: {
		uint64_t ms = *(const uint64_t *)field;

		if (ms % 1000)
			snprintf(buf, len, "%llums", (unsigned long long)ms);
		else
			snprintf(buf, len, "%llu",
				 (unsigned long long)ms / 1000);
		break;
	}
	}
}

void vmad_config_dump(const struct vmad_config *cfg, FILE *f)
{
	char val[VMAD_PATH_MAX + 8];
	size_t i;

	fprintf(f, "# vmad %s configuration\n", VMAD_VERSION);
	for (i = 0; i < NR_OPTIONS; i++) {
		format_value(cfg, &vmad_options[i], val, sizeof(val));
		fprintf(f, "%s %s\n", vmad_options[i].name, val);
	}
}

void vmad_config_usage(FILE *f)
{
	size_t i;

	for (i = 0; i < NR_OPTIONS; i++) {
		char opt[64];
		size_t j;

		snprintf(opt, sizeof(opt), "--%s", vmad_options[i].name);
		for (j = 2; opt[j]; j++)
			if (opt[j] == '_')
				opt[j] = '-';
		fprintf(f, "    %-26s %s (default %s%s)\n", opt,
			vmad_options[i].help,
			vmad_options[i].def[0] ? vmad_options[i].def : "\"\"",
			vmad_config_reloadable(vmad_options[i].name)
				? ", reloadable"
				: "");
	}
}

bool vmad_config_known(const char *name)
{
	return find_option(name, NULL) != NULL;
}

void vmad_config_suggest(struct rpc_suggest *s)
{
	size_t i;

	for (i = 0; i < NR_OPTIONS; i++)
		rpc_suggest_consider(s, vmad_options[i].name);
}

const char *vmad_config_name(size_t i)
{
	return i < NR_OPTIONS ? vmad_options[i].name : NULL;
}

int vmad_config_format(const struct vmad_config *cfg, const char *name,
		       char *buf, size_t len)
{
	const struct vmad_option *o = find_option(name, NULL);

	if (!o)
		return -ENOENT;
	format_value(cfg, o, buf, len);
	return 0;
}

int vmad_config_copy(struct vmad_config *dst, const struct vmad_config *src,
		     const char *name)
{
	const struct vmad_option *o = find_option(name, NULL);
	const char *from;
	char *to;

	if (!o)
		return -ENOENT;
	from = (const char *)src + o->off;
	to = (char *)dst + o->off;
	switch (o->type) {
	case OPT_STRING:
		strcpy(to, from);
		break;
	case OPT_SIZE:
	case OPT_MS:
		__atomic_store_n((uint64_t *)to, *(const uint64_t *)from,
				 __ATOMIC_RELAXED);
		break;
	case OPT_BOOL:
		__atomic_store_n((bool *)to, *(const bool *)from,
				 __ATOMIC_RELAXED);
		break;
	case OPT_UINT:
	case OPT_MODE:
	case OPT_LEVEL:
	case OPT_FSYNC:
		__atomic_store_n((unsigned *)to, *(const unsigned *)from,
				 __ATOMIC_RELAXED);
		break;
	}
	return 0;
}

void vmad_config_log_default(struct vmad_config *cfg)
{
	if (cfg->daemonize && !cfg->log_file[0])
		cfg->syslog = true;
}
