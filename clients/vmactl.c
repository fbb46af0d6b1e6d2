// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl - command-line client of vmad
 *
 * One subcommand per method. A table (vmactl_cmds[]) names each
 * subcommand's method, its positional parameters and the options it takes;
 * a second table (vmactl_params[]) gives each parameter's type, so that
 * "--old-length 8K" becomes "old_length": 8192 on the wire. Results are
 * printed for people by default (a maps text, one line per fault) and as the
 * raw JSON result with --json.
 *
 * Exit status: 0 success, 1 the daemon reported a failure, 2 usage error
 * (also JSON-RPC -32600/-32601/-32602 answers, which mean the request was
 * malformed), 3 the daemon cannot be reached.
 */
#include "vmactl.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmc.h"

static const char vmactl_help[] =
	"NAME\n"
	"    vmactl - control the vmad virtual-memory-area simulator\n"
	"\n"
	"SYNOPSIS\n"
	"    vmactl [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]\n"
	"    vmactl [--socket PATH] call METHOD [PARAMS-JSON]\n"
	"    vmactl [--socket PATH] -  < requests.jsonl\n"
	"\n"
	"DESCRIPTION\n"
	"    vmactl sends one JSON-RPC request to vmad over its Unix socket "
	"and\n"
	"    prints the result for people, or as JSON with --json. Every "
	"method\n"
	"    of the daemon has a subcommand; parameters are given "
	"positionally\n"
	"    in the order shown or as --name VALUE options (dashes or\n"
	"    underscores). Addresses and lengths accept decimal, 0x-hex and "
	"the\n"
	"    suffixes K, M, G, T. A SPACE is the id or the name of a space.\n"
	"\n"
	"COMMANDS\n"
	"    space create [NAME] [--task-size N] [--mmap-base N]\n"
	"                 [--stack-guard-gap PAGES] [--max-map-count N]\n"
	"                 [--stack-rlimit BYTES] [--stack]\n"
	"    space destroy SPACE\n"
	"    space fork SPACE [NAME]\n"
	"    space list\n"
	"    space import NAME (--maps FILE | --pid PID) [--start-brk A]\n"
	"                 [--brk A] [--start-stack A] [--task-size N] ...\n"
	"        A space holding exactly the VMAs of /proc/PID/maps or smaps\n"
	"        text (FILE, - for standard input) or of a live process.\n"
	"    mmap SPACE [--addr A] --length L --prot P --flags F[,F...]\n"
	"                 [--file NAME] [--offset O]\n"
	"        PROT is letters from rwx, or none; FLAGS from private, "
	"shared,\n"
	"        anonymous, fixed, fixed_noreplace, growsdown, growsup,\n"
	"        populate, noreserve. Prints the address.\n"
	"    munmap SPACE ADDR LENGTH\n"
	"    mprotect SPACE ADDR LENGTH PROT\n"
	"    mremap SPACE OLD_ADDR OLD_LENGTH NEW_LENGTH [--flags "
	"maymove,fixed,\n"
	"                 dontunmap] [--new-addr A]\n"
	"    brk SPACE [ADDR]\n"
	"    fault SPACE ADDR [--read | --write | --exec | --access A]\n"
	"        Prints the outcome in one line: ok (with the VMA, and "
	"whether\n"
	"        the page was populated or the stack expanded) or segv with\n"
	"        SEGV_MAPERR or SEGV_ACCERR. A segv exits 0: it is a result.\n"
	"    lookup SPACE ADDR\n"
	"    maps SPACE\n"
	"        Prints the /proc/PID/maps text.\n"
	"    stats [SPACE]\n"
	"    show SPACE [--svg FILE] [--html FILE] [--guard-gap PAGES]\n"
	"        Draws the address space: VMAs as bands on a log-scaled axis,\n"
	"        coloured by permissions, with gaps and stack guard gaps. Text "
	"on\n"
	"        the terminal. --svg: a picture of the whole space in a "
	"bounded\n"
	"        canvas (VMAs of one object in one band, gaps compressed, "
	"markers\n"
	"        for mmap_base, start_brk, brk). --html: one self-contained "
	"page\n"
	"        that zooms into ranges and shows each band's maps lines.\n"
	"    call METHOD [PARAMS-JSON]\n"
	"        Sends any request and prints its result as JSON.\n"
	"    -   Reads requests, one JSON value per line, from standard input\n"
	"        and prints each response on one line. jsonrpc and id are "
	"added\n"
	"        when missing. Blank lines and lines starting with # are "
	"skipped.\n"
	"\n"
	"OPTIONS\n"
	"    -s, --socket PATH   Socket of the daemon.\n"
	"    -c, --config FILE   Read the socket path from FILE (\"socket "
	"PATH\").\n"
	"    -j, --json          Print the raw JSON result (error responses "
	"are\n"
	"                        printed whole on standard output too).\n"
	"    -h, --help          Print this help.\n"
	"    -V, --version       Print the version.\n"
	"\n"
	"EXIT STATUS\n"
	"    0   Success.\n"
	"    1   The operation failed (an errno from the daemon, printed as\n"
	"        \"vmactl: mmap: EINVAL (invalid argument)\"); with -, at "
	"least\n"
	"        one response was an error.\n"
	"    2   Usage error, including requests the daemon rejects as "
	"invalid\n"
	"        (JSON-RPC -32600, -32601, -32602).\n"
	"    3   The daemon cannot be reached (the message names the socket).\n"
	"\n"
	"ENVIRONMENT\n"
	"    VMAD_SOCKET       Socket path when --socket is not given.\n"
	"    VMAD_CONFIG       Config file when --config is not given.\n"
	"    XDG_RUNTIME_DIR   The default socket is "
	"$XDG_RUNTIME_DIR/vmad.sock,\n"
	"                      or /tmp/vmad-$UID.sock when it is not set.\n"
	"\n"
	"EXAMPLES\n"
	"    vmactl space create p\n"
	"    vmactl mmap --space p --length 8192 --prot rw \\\n"
	"           --flags private,anonymous\n"
	"    vmactl fault p 0x7ffff7ffe000 --write\n"
	"    vmactl maps p\n"
	"    vmactl show p --svg p.svg\n"
	"    vmactl call mprotect "
	"'{\"space\":\"p\",\"addr\":\"0x7ffff7ffe000\","
	"\"length\":4096,\"prot\":\"r\"}'\n"
	"    echo '{\"method\":\"space.list\"}' | vmactl -\n";

enum vmactl_type {
	VMACTL_U64,   /* integer, decimal/hex/suffixed on the command line */
	VMACTL_STR,   /* string */
	VMACTL_SPACE, /* integer id or name */
	VMACTL_FLAGS, /* comma-separated list -> array of strings */
	VMACTL_BOOL,  /* option without value */
};

static const struct {
	const char *name;
	enum vmactl_type type;
} vmactl_params[] = {
	{"space", VMACTL_SPACE},       {"name", VMACTL_STR},
	{"addr", VMACTL_U64},	       {"length", VMACTL_U64},
	{"prot", VMACTL_STR},	       {"flags", VMACTL_FLAGS},
	{"file", VMACTL_STR},	       {"offset", VMACTL_U64},
	{"old_addr", VMACTL_U64},      {"old_length", VMACTL_U64},
	{"new_length", VMACTL_U64},    {"new_addr", VMACTL_U64},
	{"access", VMACTL_STR},	       {"task_size", VMACTL_U64},
	{"mmap_base", VMACTL_U64},     {"stack_guard_gap", VMACTL_U64},
	{"max_map_count", VMACTL_U64}, {"stack_rlimit", VMACTL_U64},
	{"stack", VMACTL_BOOL},	       {"maps", VMACTL_STR},
	{"pid", VMACTL_U64},	       {"start_brk", VMACTL_U64},
	{"brk", VMACTL_U64},	       {"start_stack", VMACTL_U64},
};

enum vmactl_out {
	VMACTL_OUT_NONE,
	VMACTL_OUT_SPACE,
	VMACTL_OUT_LIST,
	VMACTL_OUT_ADDR,
	VMACTL_OUT_BRK,
	VMACTL_OUT_FAULT,
	VMACTL_OUT_LOOKUP,
	VMACTL_OUT_MAPS,
	VMACTL_OUT_STATS,
	VMACTL_OUT_SHOW,
};

struct vmactl_cmd {
	const char *name;     /* "space create", "mmap", ... */
	const char *method;   /* JSON-RPC method */
	const char *pos[4];   /* positional parameters, in order */
	const char *opts[10]; /* further parameters allowed as options */
	const char *required[4];
	enum vmactl_out out;
};

static const struct vmactl_cmd vmactl_cmds[] = {
	{"space create",
	 "space.create",
	 {"name"},
	 {"task_size", "mmap_base", "stack_guard_gap", "max_map_count",
	  "stack_rlimit", "stack"},
	 {},
	 VMACTL_OUT_SPACE},
	{"space destroy",
	 "space.destroy",
	 {"space"},
	 {},
	 {"space"},
	 VMACTL_OUT_NONE},
	{"space fork",
	 "space.fork",
	 {"space", "name"},
	 {},
	 {"space"},
	 VMACTL_OUT_SPACE},
	{"space list", "space.list", {}, {}, {}, VMACTL_OUT_LIST},
	{"space import",
	 "space.import",
	 {"name"},
	 {"maps", "pid", "start_brk", "brk", "start_stack", "task_size",
	  "mmap_base", "stack_guard_gap", "max_map_count", "stack_rlimit"},
	 {},
	 VMACTL_OUT_SPACE},
	{"mmap",
	 "mmap",
	 {"space"},
	 {"addr", "length", "prot", "flags", "file", "offset"},
	 {"space", "length", "prot", "flags"},
	 VMACTL_OUT_ADDR},
	{"munmap",
	 "munmap",
	 {"space", "addr", "length"},
	 {},
	 {"space", "addr", "length"},
	 VMACTL_OUT_NONE},
	{"mprotect",
	 "mprotect",
	 {"space", "addr", "length", "prot"},
	 {},
	 {"space", "addr", "length", "prot"},
	 VMACTL_OUT_NONE},
	{"mremap",
	 "mremap",
	 {"space", "old_addr", "old_length", "new_length"},
	 {"flags", "new_addr"},
	 {"space", "old_addr", "old_length", "new_length"},
	 VMACTL_OUT_ADDR},
	{"brk", "brk", {"space", "addr"}, {}, {"space"}, VMACTL_OUT_BRK},
	{"fault",
	 "fault",
	 {"space", "addr"},
	 {"access"},
	 {"space", "addr"},
	 VMACTL_OUT_FAULT},
	{"lookup",
	 "lookup",
	 {"space", "addr"},
	 {},
	 {"space", "addr"},
	 VMACTL_OUT_LOOKUP},
	{"maps", "maps", {"space"}, {}, {"space"}, VMACTL_OUT_MAPS},
	{"stats", "stats", {"space"}, {}, {}, VMACTL_OUT_STATS},
	{"show", "maps", {"space"}, {}, {"space"}, VMACTL_OUT_SHOW},
};

struct vmactl {
	char socket[4096];
	bool json;
	const char *svg;     /* show --svg FILE */
	const char *html;    /* show --html FILE */
	long long guard_gap; /* show --guard-gap PAGES, -1 = ask the daemon */
	struct vmc_conn conn;
	bool connected;
};

static void vmactl_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "vmactl: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'vmactl --help'.\n");
}

static int vmactl_param_type(const char *name, enum vmactl_type *type)
{
	size_t i;

	for (i = 0; i < sizeof(vmactl_params) / sizeof(vmactl_params[0]); i++)
		if (!strcmp(vmactl_params[i].name, name)) {
			*type = vmactl_params[i].type;
			return 0;
		}
	return -ENOENT;
}

/* Convert a command-line value to the JSON value sent for @name. */
static json_t *vmactl_param_value(const char *name, const char *arg)
{
	enum vmactl_type type = VMACTL_STR;
	uint64_t v;
	json_t *arr;
	char *copy, *tok, *save;

	vmactl_param_type(name, &type);
	switch (type) {
	case VMACTL_U64:
		if (vmc_parse_u64(arg, &v) || v > (uint64_t)INT64_MAX)
			return NULL;
		return json_integer((json_int_t)v);
	case VMACTL_SPACE:
		if (!vmc_parse_u64(arg, &v) && v <= (uint64_t)INT64_MAX)
			return json_integer((json_int_t)v);
		return json_string(arg);
	case VMACTL_FLAGS:
		arr = json_array();
		copy = strdup(arg);
		for (tok = strtok_r(copy, ",|", &save); tok;
		     tok = strtok_r(NULL, ",|", &save))
			json_array_append_new(arr, json_string(tok));
		free(copy);
		return arr;
	case VMACTL_BOOL:
		if (!strcmp(arg, "true") || !strcmp(arg, "1"))
			return json_true();
		if (!strcmp(arg, "false") || !strcmp(arg, "0"))
			return json_false();
		return NULL;
	case VMACTL_STR:
	default:
		return json_string(arg);
	}
}

static bool vmactl_cmd_allows(const struct vmactl_cmd *cmd, const char *name)
{
	size_t i;

	for (i = 0; i < 4 && cmd->pos[i]; i++)
		if (!strcmp(cmd->pos[i], name))
			return true;
	for (i = 0; i < 10 && cmd->opts[i]; i++)
		if (!strcmp(cmd->opts[i], name))
			return true;
	return false;
}

/*
 * Parse the arguments after the subcommand into @params. Returns 0 or -1
 * after printing a usage error.
 */
static int vmactl_parse_args(struct vmactl *vc, const struct vmactl_cmd *cmd,
			     int argc, char **argv, json_t *params)
{
	int npos = 0, i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		char name[64], *eq;
		const char *val = NULL;
		enum vmactl_type type;
		json_t *jv;
		size_t k;

		if (a[0] != '-' || a[1] != '-' || !a[2]) {
			if (npos >= 4 || !cmd->pos[npos]) {
				vmactl_usage_error("unexpected argument '%s'",
						   a);
				return -1;
			}
			jv = vmactl_param_value(cmd->pos[npos], a);
			if (!jv) {
				vmactl_usage_error("invalid value '%s'", a);
				return -1;
			}
			json_object_set_new(params, cmd->pos[npos++], jv);
			continue;
		}
		snprintf(name, sizeof(name), "%s", a + 2);
		eq = strchr(name, '=');
		if (eq) {
			*eq = 0;
			val = strchr(a, '=') + 1;
		}
		for (k = 0; name[k]; k++)
			if (name[k] == '-')
				name[k] = '_';
		if (cmd->out == VMACTL_OUT_FAULT &&
		    (!strcmp(name, "read") || !strcmp(name, "write") ||
		     !strcmp(name, "exec"))) {
			json_object_set_new(params, "access",
					    json_string(name));
			continue;
		}
		if (cmd->out == VMACTL_OUT_SHOW &&
		    (!strcmp(name, "svg") || !strcmp(name, "html"))) {
			if (!val && i + 1 < argc)
				val = argv[++i];
			if (!val || !*val) {
				vmactl_usage_error("%s needs a file", a);
				return -1;
			}
			*(name[0] == 's' ? &vc->svg : &vc->html) = val;
			continue;
		}
		if (cmd->out == VMACTL_OUT_SHOW && !strcmp(name, "guard_gap")) {
			uint64_t g;

			if (!val && i + 1 < argc)
				val = argv[++i];
			if (!val || vmc_parse_u64(val, &g) || g > 1u << 30) {
				vmactl_usage_error("%s needs a page count", a);
				return -1;
			}
			vc->guard_gap = (long long)g;
			continue;
		}
		if (!strcmp(name, "json")) {
			vc->json = true;
			continue;
		}
		if (!vmactl_cmd_allows(cmd, name) ||
		    vmactl_param_type(name, &type)) {
			vmactl_usage_error("unknown option '%s'", a);
			return -1;
		}
		if (type == VMACTL_BOOL && !val)
			val = "true";
		if (!val) {
			if (i + 1 >= argc) {
				vmactl_usage_error("option '%s' needs a value",
						   a);
				return -1;
			}
			val = argv[++i];
		}
		jv = vmactl_param_value(name, val);
		if (!jv) {
			vmactl_usage_error("invalid value '%s'", val);
			return -1;
		}
		json_object_set_new(params, name, jv);
	}
	if (cmd->out == VMACTL_OUT_FAULT && !json_object_get(params, "access"))
		json_object_set_new(params, "access", json_string("read"));
	for (i = 0; i < 4 && cmd->required[i]; i++)
		if (!json_object_get(params, cmd->required[i])) {
			char opt[64];
			size_t k;

			snprintf(opt, sizeof(opt), "%s", cmd->required[i]);
			for (k = 0; opt[k]; k++)
				if (opt[k] == '_')
					opt[k] = '-';
			vmactl_usage_error("missing parameter '%s'", opt);
			return -1;
		}
	return 0;
}

static int vmactl_connect(struct vmactl *vc)
{
	int ret;

	if (vc->connected)
		return 0;
	ret = vmc_connect(&vc->conn, vc->socket);
	if (ret) {
		fprintf(stderr, "vmactl: cannot reach vmad at %s: %s\n",
			vc->socket, strerror(-ret));
		return VMC_EXIT_UNREACHABLE;
	}
	vc->connected = true;
	return 0;
}

/*
 * Report the error of @resp for @what. Returns the exit status: 2 for
 * malformed requests, 1 otherwise.
 */
static int vmactl_report_error(struct vmactl *vc, const char *what,
			       const json_t *resp)
{
	const json_t *err = json_object_get(resp, "error");
	const char *en = vmc_response_errno(resp);
	json_int_t code = json_integer_value(json_object_get(err, "code"));
	const char *msg = json_string_value(json_object_get(err, "message"));

	if (vc->json) {
		json_dumpf(resp, stdout, JSON_COMPACT);
		putchar('\n');
	}
	if (en)
		fprintf(stderr, "vmactl: %s: %s (%s)\n", what, en,
			vmc_errno_message(en));
	else
		fprintf(stderr, "vmactl: %s: %s (code %lld)\n", what,
			msg ? msg : "error", (long long)code);
	if (code == -32600 || code == -32601 || code == -32602)
		return VMC_EXIT_USAGE;
	return VMC_EXIT_FAIL;
}

/* Send @method(@params) and return the result in *@out (new reference). */
static int vmactl_request(struct vmactl *vc, const char *method, json_t *params,
			  json_t **resp)
{
	int ret = vmactl_connect(vc);

	if (ret) {
		json_decref(params);
		return ret;
	}
	ret = vmc_call(&vc->conn, method, params, resp);
	if (ret) {
		fprintf(stderr, "vmactl: %s: lost the connection to %s: %s\n",
			method, vc->socket, strerror(-ret));
		return VMC_EXIT_UNREACHABLE;
	}
	if (json_object_get(*resp, "error")) {
		ret = vmactl_report_error(vc, method, *resp);
		json_decref(*resp);
		*resp = NULL;
		return ret;
	}
	return 0;
}

static uint64_t vmactl_u64(const json_t *v)
{
	uint64_t x = 0;

	vmc_json_u64(v, &x);
	return x;
}

char *vmactl_format_vma(const json_t *vma, char *buf, size_t len)
{
	const char *perms = json_string_value(json_object_get(vma, "perms"));
	const char *file = json_string_value(json_object_get(vma, "file"));
	const char *name = json_string_value(json_object_get(vma, "name"));
	const char *label = name ? name : file ? file : "";
	int n;

	n = snprintf(
		buf, len, "%08llx-%08llx %s %08llx 00:00 0",
		(unsigned long long)vmactl_u64(json_object_get(vma, "start")),
		(unsigned long long)vmactl_u64(json_object_get(vma, "end")),
		perms ? perms : "????",
		(unsigned long long)vmactl_u64(json_object_get(vma, "offset")));
	if (*label && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%*s%s", n < 73 ? 73 - n : 1,
			 "", label);
	return buf;
}

static void vmactl_print_flat(const char *prefix, const json_t *v)
{
	const char *key;
	json_t *m;
	char name[256];

	if (!json_is_object(v)) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		printf("%s: %s\n", prefix, s ? s : "?");
		free(s);
		return;
	}
	json_object_foreach((json_t *)v, key, m)
	{
		if (*prefix)
			snprintf(name, sizeof(name), "%s.%s", prefix, key);
		else
			snprintf(name, sizeof(name), "%s", key);
		vmactl_print_flat(name, m);
	}
}

/* Write a picture of @maps to @path ("-": standard output). */
static int vmactl_show_file(const char *path, const char *title,
			    const json_t *maps,
			    const struct vmactl_space_layout *l, bool html)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	int ret;

	if (!f) {
		fprintf(stderr, "vmactl: show: cannot write %s: %s\n", path,
			strerror(errno));
		return VMC_EXIT_FAIL;
	}
	ret = html ? vmactl_show_html(f, title, maps, l)
		   : vmactl_show_svg(f, title, maps, l);
	if (ret)
		fprintf(stderr, "vmactl: show: %s: %s\n", path,
			ret == -ENOMEM ? "out of memory"
				       : "no VMAs in the result");
	if (fflush(f) || (f != stdout && fclose(f))) {
		fprintf(stderr, "vmactl: show: cannot write %s: %s\n", path,
			strerror(errno));
		ret = -EIO;
	}
	return ret ? VMC_EXIT_FAIL : 0;
}

static int vmactl_show(struct vmactl *vc, const json_t *params,
		       const json_t *result)
{
	const json_t *space = json_object_get(params, "space");
	struct vmactl_space_layout l;
	char title[256];
	int ret = 0;

	vmactl_show_layout(&vc->conn, space, &l);
	if (vc->guard_gap >= 0)
		l.guard = (uint64_t)vc->guard_gap * 4096;
	if (json_is_string(space))
		snprintf(title, sizeof(title), "space %s",
			 json_string_value(space));
	else
		snprintf(title, sizeof(title), "space %lld",
			 (long long)json_integer_value(space));
	if (vc->svg)
		ret = vmactl_show_file(vc->svg, title, result, &l, false);
	if (!ret && vc->html)
		ret = vmactl_show_file(vc->html, title, result, &l, true);
	if (!vc->svg && !vc->html)
		vmactl_show_text(stdout, json_object_get(result, "vmas"),
				 l.guard, isatty(STDOUT_FILENO));
	return ret;
}

static void vmactl_print_fault(const json_t *params, const json_t *r)
{
	const char *st = json_string_value(json_object_get(r, "status"));
	uint64_t addr = vmactl_u64(json_object_get(params, "addr"));
	const char *access =
		json_string_value(json_object_get(params, "access"));
	char line[512];

	if (!access)
		access = "read";
	if (st && !strcmp(st, "ok")) {
		bool pop = json_is_true(json_object_get(r, "populated"));
		bool exp = json_is_true(json_object_get(r, "expanded"));

		const json_t *vma = json_object_get(r, "vma");
		const char *perms =
			json_string_value(json_object_get(vma, "perms"));
		const char *name =
			json_string_value(json_object_get(vma, "name"));

		snprintf(line, sizeof(line), "%llx-%llx %s%s%s",
			 (unsigned long long)vmactl_u64(
				 json_object_get(vma, "start")),
			 (unsigned long long)vmactl_u64(
				 json_object_get(vma, "end")),
			 perms ? perms : "?", name ? " " : "",
			 name ? name : "");
		printf("%#llx %s: ok%s%s in %s\n", (unsigned long long)addr,
		       access, pop ? ", populated" : "",
		       exp ? ", stack expanded" : "", line);
		return;
	}
	/* An x86 fetch from a page not present maps it, then fails. */
	printf("%#llx %s: %s %s%s\n", (unsigned long long)addr, access,
	       st ? st : "?",
	       json_string_value(json_object_get(r, "code"))
		       ? json_string_value(json_object_get(r, "code"))
		       : "",
	       json_is_true(json_object_get(r, "populated")) ? ", populated"
							     : "");
}

static void vmactl_print(struct vmactl *vc, const struct vmactl_cmd *cmd,
			 const json_t *params, const json_t *r)
{
	char line[512];
	const json_t *v;
	bool first;
	size_t i;

	switch (cmd->out) {
	case VMACTL_OUT_NONE:
		break;
	case VMACTL_OUT_SPACE:
		v = json_object_get(r, "name");
		printf("space %lld", (long long)json_integer_value(
					     json_object_get(r, "space")));
		if (json_is_string(v))
			printf(" (%s)", json_string_value(v));
		putchar('\n');
		break;
	case VMACTL_OUT_LIST:
		json_array_foreach(json_object_get(r, "spaces"), i, v)
		{
			const char *key;
			json_t *m;

			if (!json_is_object(v)) {
				char *s = json_dumps(v, JSON_ENCODE_ANY);

				printf("%s\n", s ? s : "?");
				free(s);
				continue;
			}
			first = true;
			json_object_foreach((json_t *)v, key, m)
			{
				char *s = json_dumps(m, JSON_ENCODE_ANY |
								JSON_COMPACT);

				printf("%s%s=%s", first ? "" : " ", key,
				       s ? s : "?");
				first = false;
				free(s);
			}
			putchar('\n');
		}
		break;
	case VMACTL_OUT_ADDR:
		printf("%#llx\n", (unsigned long long)vmactl_u64(
					  json_object_get(r, "addr")));
		break;
	case VMACTL_OUT_BRK:
		printf("%#llx\n", (unsigned long long)vmactl_u64(
					  json_object_get(r, "brk")));
		break;
	case VMACTL_OUT_FAULT:
		vmactl_print_fault(params, r);
		break;
	case VMACTL_OUT_LOOKUP:
		v = json_object_get(r, "vma");
		if (json_is_object(v))
			printf("%s\n",
			       vmactl_format_vma(v, line, sizeof(line)));
		else
			printf("%#llx: not mapped\n",
			       (unsigned long long)vmactl_u64(
				       json_object_get(params, "addr")));
		break;
	case VMACTL_OUT_MAPS:
		v = json_object_get(r, "text");
		if (json_is_string(v)) {
			fputs(json_string_value(v), stdout);
			break;
		}
		json_array_foreach(json_object_get(r, "vmas"), i, v) printf(
			"%s\n", vmactl_format_vma(v, line, sizeof(line)));
		break;
	case VMACTL_OUT_STATS:
		vmactl_print_flat("", r);
		break;
	case VMACTL_OUT_SHOW:
		break;
	}
	(void)vc;
}

static int vmactl_run_cmd(struct vmactl *vc, const struct vmactl_cmd *cmd,
			  int argc, char **argv)
{
	json_t *params = json_object(), *resp = NULL;
	int ret;

	if (vmactl_parse_args(vc, cmd, argc, argv, params) ||
	    (!strcmp(cmd->method, "space.import") &&
	     vmactl_import_prepare(params))) {
		json_decref(params);
		return VMC_EXIT_USAGE;
	}
	json_incref(params);
	ret = vmactl_request(vc, cmd->method, params, &resp);
	if (ret)
		goto out;
	if (cmd->out == VMACTL_OUT_SHOW) {
		ret = vmactl_show(vc, params, json_object_get(resp, "result"));
	} else if (vc->json) {
		json_dumpf(json_object_get(resp, "result"), stdout,
			   JSON_COMPACT | JSON_ENCODE_ANY);
		putchar('\n');
	} else {
		vmactl_print(vc, cmd, params, json_object_get(resp, "result"));
	}
out:
	json_decref(resp);
	json_decref(params);
	return ret;
}

static int vmactl_call(struct vmactl *vc, int argc, char **argv)
{
	json_t *params = NULL, *resp = NULL;
	json_error_t jerr;
	int ret;

	if (argc < 1 || argc > 2) {
		vmactl_usage_error("%s", "usage: vmactl call METHOD [JSON]");
		return VMC_EXIT_USAGE;
	}
	if (argc == 2) {
		params = json_loads(argv[1], JSON_DECODE_ANY, &jerr);
		if (!params) {
			vmactl_usage_error("invalid JSON: %s", jerr.text);
			return VMC_EXIT_USAGE;
		}
	}
	ret = vmactl_request(vc, argv[0], params, &resp);
	if (ret)
		return ret;
	json_dumpf(json_object_get(resp, "result"), stdout,
		   JSON_ENCODE_ANY |
			   (vc->json ? JSON_COMPACT : JSON_INDENT(2)));
	putchar('\n');
	json_decref(resp);
	return 0;
}

/* Add "jsonrpc" and "id" to a request object that lacks them. */
static void vmactl_complete_request(json_t *req, long long *id)
{
	if (!json_is_object(req))
		return;
	if (!json_object_get(req, "jsonrpc"))
		json_object_set_new(req, "jsonrpc", json_string("2.0"));
	if (!json_object_get(req, "id"))
		json_object_set_new(req, "id", json_integer((*id)++));
}

/* Whether @req gets a response: notifications (objects with a null-free
 * missing id cannot happen after completion) and all-notification batches
 * get none; everything else gets exactly one. */
static bool vmactl_expects_response(const json_t *req)
{
	size_t i;
	const json_t *e;

	if (json_is_object(req))
		return json_object_get(req, "id") != NULL;
	if (json_is_array(req)) {
		json_array_foreach(req, i,
				   e) if (!json_is_object(e) ||
					  json_object_get(e, "id")) return true;
		return json_array_size(req) == 0;
	}
	return true;
}

static bool vmactl_is_error(const json_t *resp)
{
	size_t i;
	const json_t *e;

	if (json_is_array(resp)) {
		json_array_foreach(
			resp, i,
			e) if (json_object_get(e, "error")) return true;
		return false;
	}
	return json_object_get(resp, "error") != NULL;
}

static int vmactl_stdin(struct vmactl *vc)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long long id = 1;
	int ret, status = 0, lineno = 0;

	ret = vmactl_connect(vc);
	if (ret)
		return ret;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		json_error_t jerr;
		json_t *req, *resp;
		char *p = line;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || !*p || *p == '#')
			continue;
		req = json_loads(p, JSON_DECODE_ANY, &jerr);
		if (!req) {
			/* Let the daemon answer a malformed line itself. */
			ret = vmc_send(&vc->conn, p, strlen(p));
			if (!ret && p[strlen(p) - 1] != '\n')
				ret = vmc_send(&vc->conn, "\n", 1);
			req = json_null();
		} else {
			if (json_is_array(req)) {
				size_t i;
				json_t *e;

				json_array_foreach(req, i, e)
					vmactl_complete_request(e, &id);
			} else {
				vmactl_complete_request(req, &id);
			}
			ret = vmc_send_json(&vc->conn, req);
		}
		if (ret)
			goto lost;
		if (!vmactl_expects_response(req)) {
			json_decref(req);
			continue;
		}
		json_decref(req);
		ret = vmc_recv_json(&vc->conn, &resp);
		if (ret)
			goto lost;
		json_dumpf(resp, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
		putchar('\n');
		fflush(stdout);
		if (vmactl_is_error(resp))
			status = VMC_EXIT_FAIL;
		json_decref(resp);
	}
	free(line);
	return status;
lost:
	free(line);
	fprintf(stderr, "vmactl: line %d: lost the connection to %s: %s\n",
		lineno, vc->socket, strerror(-ret));
	return VMC_EXIT_UNREACHABLE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct vmactl vc = {.guard_gap = -1};
	const char *sock = NULL, *config = NULL;
	char name[64];
	size_t i;
	int c, ret;

	vc.conn.fd = -1;
	/* '+': stop at the subcommand; its options are parsed per command. */
	while ((c = getopt_long(argc, argv, "+s:c:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			vc.json = true;
			break;
		case 'h':
			fputs(vmactl_help, stdout);
			return 0;
		case 'V':
			printf("vmactl %s\n", VMAD_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'vmactl --help'.\n");
			return VMC_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		vmactl_usage_error("%s", "missing command");
		return VMC_EXIT_USAGE;
	}
	ret = vmc_socket_path(sock, config, vc.socket, sizeof(vc.socket));
	if (ret) {
		fprintf(stderr,
			"vmactl: cannot determine the socket path: %s\n",
			strerror(-ret));
		return VMC_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(argv[0], "-")) {
		ret = vmactl_stdin(&vc);
		goto out;
	}
	if (!strcmp(argv[0], "call")) {
		ret = vmactl_call(&vc, argc - 1, argv + 1);
		goto out;
	}
	if (!strcmp(argv[0], "space") && argc >= 2) {
		snprintf(name, sizeof(name), "space %s", argv[1]);
		argc--;
		argv++;
	} else {
		snprintf(name, sizeof(name), "%s", argv[0]);
	}
	for (i = 0; i < sizeof(vmactl_cmds) / sizeof(vmactl_cmds[0]); i++)
		if (!strcmp(vmactl_cmds[i].name, name)) {
			ret = vmactl_run_cmd(&vc, &vmactl_cmds[i], argc - 1,
					     argv + 1);
			goto out;
		}
	vmactl_usage_error("unknown command '%s'", name);
	ret = VMC_EXIT_USAGE;
out:
	if (vc.connected)
		vmc_close(&vc.conn);
	fflush(stdout);
	return ret;
}
