// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmactl - command-line client of vmad
 *
 * One subcommand per method. A table (vmactl_cmds[]) names each
 * subcommand's method, its positional parameters, the options it takes,
 * its own flags and a line of help; a second table (vmactl_params[]) gives
 * each parameter's type, so that "--old-length 8K" becomes "old_length":
 * 8192 on the wire. Everything else is generated from the two tables: the
 * COMMANDS section of --help (and so of the manual page), `vmactl help
 * CMD` and `vmactl CMD --help`, the "did you mean" suggestions for unknown
 * commands and options (rpc/suggest.h, shared with vmad; the global
 * options before the command are suggested from getopt's table), and the
 * errors, which name the option ("--length: invalid value '4Q'"). A new
 * subcommand is one row.
 *
 * Results are printed for people by default (hexadecimal addresses, as
 * /proc and pmap print them; a maps text; one line per fault; a table of
 * spaces) and as the raw JSON result with --json. Errors print the
 * daemon's own message with the errno name.
 *
 * Exit status: 0 success, 1 the daemon reported a failure (or brk did not
 * move the break where asked), 2 usage error (also JSON-RPC
 * -32600/-32601/-32602 answers, which mean the request was malformed), 3
 * the daemon cannot be reached.
 */
#include "vmactl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmc.h"
#include "rpc/suggest.h"

static const char vmactl_help_head[] =
	"NAME\n"
	"    vmactl - control the vmad virtual-memory-area simulator\n"
	"\n"
	"SYNOPSIS\n"
	"    vmactl [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]\n"
	"    vmactl [--socket PATH] call METHOD [PARAMS-JSON]\n"
	"    vmactl [--socket PATH] -  < requests.jsonl\n"
	"    vmactl help [COMMAND]\n"
	"\n"
	"DESCRIPTION\n"
	"    vmactl sends one JSON-RPC request to vmad over its Unix socket "
	"and\n"
	"    prints the result for people, or as JSON with --json. Every "
	"method\n"
	"    of the daemon has a subcommand; parameters are given "
	"positionally\n"
	"    in the order shown or as --name VALUE options (dashes or\n"
	"    underscores). Addresses, lengths and sizes accept decimal, "
	"0x-hex\n"
	"    and the suffixes K, M, G, T (powers of 1024); page counts and "
	"other\n"
	"    counts take no suffix. A SPACE is the id or the name of a "
	"space;\n"
	"    names are your own (root names another owner's ~UID/NAME), and "
	"a\n"
	"    new space's name cannot look like an id (digits, 0x-hex).\n"
	"    Addresses are printed in hexadecimal.\n"
	"\n"
	"COMMANDS\n";

static const char vmactl_help_tail[] =
	"    call METHOD [PARAMS-JSON]\n"
	"        Sends any request and prints its result as JSON.\n"
	"    -   Reads requests, one JSON value per line, from standard input\n"
	"        and prints each response on one line. jsonrpc and id are "
	"added\n"
	"        when missing. Blank lines and lines starting with # are "
	"skipped.\n"
	"        A line that is not JSON is reported (on standard error, and "
	"as a\n"
	"        -32700 response with id null on standard output) and the "
	"next\n"
	"        lines are still sent.\n"
	"    help [COMMAND]\n"
	"        Prints this help, or the help of one command (also COMMAND "
	"--help).\n"
	"\n"
	"OPTIONS\n"
	"    -s, --socket PATH   Socket of the daemon.\n"
	"    -c, --config FILE   Read the socket path from FILE (\"socket "
	"PATH\").\n"
	"        --server-uid UID  Also trust a daemon running as UID.\n"
	"    -j, --json          Print the raw JSON result (error responses "
	"are\n"
	"                        printed whole on standard output too).\n"
	"    -h, --help          Print this help.\n"
	"    -V, --version       Print the version.\n"
	"\n"
	"EXIT STATUS\n"
	"    0   Success.\n"
	"    1   The operation failed: the daemon's message and errno are "
	"printed,\n"
	"        as \"vmactl: maps: no such space: 'dmo' (ENOENT)\"; brk did "
	"not move\n"
	"        the break where asked; with -, at least one response was an "
	"error.\n"
	"    2   Usage error, including requests the daemon rejects as "
	"invalid\n"
	"        (JSON-RPC -32600, -32601, -32602).\n"
	"    3   The daemon cannot be reached (the message names the socket).\n"
	"\n"
	"ENVIRONMENT\n"
	"    VMAD_SOCKET       Socket path when --socket is not given.\n"
	"    VMAD_CONFIG       Config file when --config is not given.\n"
	"    VMAD_SERVER_UID   As --server-uid.\n"
	"    XDG_RUNTIME_DIR   The default socket is "
	"$XDG_RUNTIME_DIR/vmad.sock,\n"
	"                      or /tmp/vmad-$UID/vmad.sock when it is not "
	"set.\n"
	"\n"
	"SOCKET\n" VMC_HELP_SOCKET "\n"
	"EXAMPLES\n"
	"    vmactl space create p --stack\n"
	"    vmactl mmap p --length 8192 --prot rw --flags private,anonymous\n"
	"    vmactl fault p 0x7ffff7ffe000 --write\n"
	"    vmactl maps p\n"
	"    vmactl pmap p -x\n"
	"    vmactl show p --svg p.svg\n"
	"    vmactl call mprotect "
	"'{\"space\":\"p\",\"addr\":\"0x7ffff7ffe000\","
	"\"length\":4096,\"prot\":\"r\"}'\n"
	"    echo '{\"method\":\"space.list\"}' | vmactl -\n";

enum vmactl_type {
	VMACTL_U64,	   /* address or size: decimal/hex, K/M/G/T suffix */
	VMACTL_PAGES,	   /* a number of pages: decimal/hex, no suffix */
	VMACTL_COUNT,	   /* a count: decimal/hex, no suffix */
	VMACTL_STR,	   /* string */
	VMACTL_SPACE,	   /* integer id or name */
	VMACTL_FLAGS,	   /* comma-separated list -> array of strings */
	VMACTL_BOOL,	   /* option without value */
	VMACTL_INT_OR_STR, /* a number if it reads as one, else a string */
};

/* What each type accepts, for errors and per-command help. */
static const char *const vmactl_type_help[] = {
	[VMACTL_U64] = "decimal, 0x hex, or with a suffix K, M, G or T",
	[VMACTL_PAGES] = "a number of pages, decimal or 0x hex, no size suffix",
	[VMACTL_COUNT] = "a count, decimal or 0x hex, no suffix",
	[VMACTL_STR] = "a string",
	[VMACTL_SPACE] = "the id or the name of a space",
	[VMACTL_FLAGS] = "comma-separated words",
	[VMACTL_BOOL] = "alone, or =true or =false",
	[VMACTL_INT_OR_STR] = "a name, or a number",
};

/* @meta: the value's name in usage lines (NULL: the name in capitals). */
static const struct vmactl_param {
	const char *name;
	enum vmactl_type type;
	const char *meta;
} vmactl_params[] = {
	{"space", VMACTL_SPACE, NULL},
	{"name", VMACTL_STR, NULL},
	{"addr", VMACTL_U64, NULL},
	{"length", VMACTL_U64, NULL},
	{"prot", VMACTL_STR, NULL},
	{"flags", VMACTL_FLAGS, "F[,F...]"},
	{"file", VMACTL_STR, NULL},
	{"offset", VMACTL_U64, NULL},
	{"old_addr", VMACTL_U64, NULL},
	{"old_length", VMACTL_U64, NULL},
	{"new_length", VMACTL_U64, NULL},
	{"new_addr", VMACTL_U64, "ADDR"},
	{"access", VMACTL_STR, "read|write|exec"},
	{"task_size", VMACTL_U64, "BYTES"},
	{"mmap_base", VMACTL_U64, "ADDR"},
	{"stack_guard_gap", VMACTL_PAGES, "PAGES"},
	{"max_map_count", VMACTL_COUNT, "N"},
	{"stack_rlimit", VMACTL_U64, "BYTES"},
	{"brk_base", VMACTL_U64, "ADDR"},
	{"stack", VMACTL_BOOL, NULL},
	{"maps", VMACTL_STR, "FILE"},
	{"pid", VMACTL_COUNT, "PID"},
	{"start_brk", VMACTL_U64, "ADDR"},
	{"brk", VMACTL_U64, "ADDR"},
	{"start_stack", VMACTL_U64, "ADDR"},
	{"memlock_rlimit", VMACTL_U64, "BYTES"},
	{"thp_align", VMACTL_BOOL, NULL},
	{"advice", VMACTL_INT_OR_STR, "ADVICE"},
	{"snapshot", VMACTL_STR, "FILE"},
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
	VMACTL_OUT_PMAP,
	VMACTL_OUT_EXPORT,
};

/* A flag of one command that is not a parameter of its method. */
struct vmactl_flag {
	const char *name; /* "svg" for --svg; one letter for -x */
	const char *meta; /* its value's name, NULL if it takes none */
	const char *help;
};

static const struct vmactl_flag vmactl_fault_flags[] = {
	{"read", NULL, "a read access (the default)"},
	{"write", NULL, "a write access"},
	{"exec", NULL, "an instruction fetch"},
	{NULL, NULL, NULL},
};

static const struct vmactl_flag vmactl_show_flags[] = {
	{"svg", "FILE", "write an SVG picture to FILE (- for stdout)"},
	{"html", "FILE", "write a self-contained HTML view to FILE"},
	{"guard_gap", "PAGES", "stack guard gap drawn (default: the space's)"},
	{NULL, NULL, NULL},
};

static const struct vmactl_flag vmactl_pmap_flags[] = {
	{"x", NULL, "extended format: Kbytes and RSS columns, as pmap -x"},
	{"extended", NULL, "the same as -x"},
	{NULL, NULL, NULL},
};

/**
 * struct vmactl_cmd - One subcommand.
 * @name:     "space create", "mmap", ...
 * @method:   The JSON-RPC method it sends.
 * @pos:      Parameters given positionally, in order.
 * @opts:     Further parameters, given as --name VALUE.
 * @required: Parameters that must be given (either way).
 * @out:      How the result is printed for people.
 * @flags:    The command's own flags ({NULL}-terminated), or NULL.
 * @help:     What it does, in lines of at most 66 characters.
 *
 * A row written without @flags and @help still works (its usage line is
 * generated from the parameters).
 */
struct vmactl_cmd {
	const char *name;
	const char *method;
	const char *pos[4];
	const char *opts[12];
	const char *required[4];
	enum vmactl_out out;
	const struct vmactl_flag *flags;
	const char *help;
};

#define VMACTL_NR_OPTS (sizeof(((struct vmactl_cmd *)0)->opts) / sizeof(char *))

static const struct vmactl_cmd vmactl_cmds[] = {
	{
		.name = "space create",
		.method = "space.create",
		.pos = {"name"},
		.opts = {"task_size", "mmap_base", "stack_guard_gap",
			 "max_map_count", "stack_rlimit", "brk_base", "stack",
			 "memlock_rlimit"},
		.out = VMACTL_OUT_SPACE,
		.help = "Creates a space (--stack: with an initial [stack] "
			"VMA).\nPrints its id and name.",
	},
	{
		.name = "space destroy",
		.method = "space.destroy",
		.pos = {"space"},
		.required = {"space"},
		.out = VMACTL_OUT_NONE,
		.help = "Destroys a space.",
	},
	{
		.name = "space fork",
		.method = "space.fork",
		.pos = {"space", "name"},
		.required = {"space"},
		.out = VMACTL_OUT_SPACE,
		.help = "Copies a space as fork(2) does.",
	},
	{
		.name = "space list",
		.method = "space.list",
		.out = VMACTL_OUT_LIST,
		.help = "Lists your spaces (root: all) with their layout.",
	},
	{
		.name = "space export",
		.method = "space.export",
		.pos = {"space", "file"},
		.required = {"space", "file"},
		.out = VMACTL_OUT_EXPORT,
		.help = "Writes the complete snapshot of SPACE (every VMA and "
			"property,\nits layout, owner and name) to FILE (- for "
			"standard output),\nfor space import here or on "
			"another daemon.",
	},
	{
		.name = "space import",
		.method = "space.import",
		.pos = {"name"},
		.opts = {"maps", "pid", "start_brk", "brk", "start_stack",
			 "task_size", "mmap_base", "stack_guard_gap",
			 "max_map_count", "stack_rlimit", "memlock_rlimit",
			 "snapshot"},
		.out = VMACTL_OUT_SPACE,
		.help = "A space holding exactly the VMAs of /proc/PID/maps or "
			"smaps\ntext (--maps FILE, - for standard input) or of "
			"a live process\n(--pid PID); or a copy of a space "
			"from "
			"a snapshot FILE of space\nexport (--snapshot FILE): "
			"every later answer equals the original's.\n"
			"Anonymous names ([anon:NAME]) and smaps VmFlags of "
			"mlock, madvise\nand mseal (lo lf dc wf dd hg nh sr rr "
			"mg sl gu) are kept; locked\nVMAs count into "
			"locked_vm, "
			"which --memlock-rlimit limits. With --pid, the\n"
			"guard markers of the VMAs with gu are read from "
			"/proc/PID/pagemap\n(Linux 6.14+; said on stderr "
			"when the kernel does not report them).",
	},
	{
		.name = "mmap",
		.method = "mmap",
		.pos = {"space"},
		.opts = {"addr", "length", "prot", "flags", "file", "offset",
			 "thp_align"},
		.required = {"space", "length", "prot", "flags"},
		.out = VMACTL_OUT_ADDR,
		.help = "PROT is letters from rwx, or none; FLAGS from "
			"private, shared,\nanonymous, fixed, "
			"fixed_noreplace, growsdown, growsup,\npopulate, "
			"noreserve, stack, locked, denywrite, executable,\n"
			"nonblock, uninitialized (shared,private is "
			"MAP_SHARED_VALIDATE).\n--thp-align=false: the file's "
			"filesystem does not place large\nmappings 2 "
			"MiB-aligned (ext4 and xfs do; the default).\nPrints "
			"the address.",
	},
	{
		.name = "munmap",
		.method = "munmap",
		.pos = {"space", "addr", "length"},
		.required = {"space", "addr", "length"},
		.out = VMACTL_OUT_NONE,
		.help = "Unmaps [ADDR, ADDR+LENGTH).",
	},
	{
		.name = "mprotect",
		.method = "mprotect",
		.pos = {"space", "addr", "length", "prot"},
		.required = {"space", "addr", "length", "prot"},
		.out = VMACTL_OUT_NONE,
		.help = "Changes the protection of [ADDR, ADDR+LENGTH).",
	},
	{
		.name = "mremap",
		.method = "mremap",
		.pos = {"space", "old_addr", "old_length", "new_length"},
		.opts = {"flags", "new_addr"},
		.required = {"space", "old_addr", "old_length", "new_length"},
		.out = VMACTL_OUT_ADDR,
		.help = "FLAGS from maymove, fixed, dontunmap. Prints the new "
			"address.",
	},
	{
		.name = "brk",
		.method = "brk",
		.pos = {"space", "addr"},
		.required = {"space"},
		.out = VMACTL_OUT_BRK,
		.help = "Without ADDR prints the program break. With ADDR "
			"moves "
			"it and\nprints \"OLD -> NEW\"; if the break is not at "
			"ADDR afterwards\n(brk(2) refused and returned the old "
			"break) it says so and\nexits 1, as glibc's brk() "
			"fails "
			"with ENOMEM.",
	},
	{
		.name = "fault",
		.method = "fault",
		.pos = {"space", "addr"},
		.opts = {"access"},
		.required = {"space", "addr"},
		.flags = vmactl_fault_flags,
		.out = VMACTL_OUT_FAULT,
		.help = "Prints the outcome in one line: ok (with the VMA, and "
			"whether\nthe page was populated or the stack "
			"expanded) "
			"or segv with\nSEGV_MAPERR or SEGV_ACCERR. A segv "
			"exits "
			"0: it is a result.",
	},
	{
		.name = "lookup",
		.method = "lookup",
		.pos = {"space", "addr"},
		.required = {"space", "addr"},
		.out = VMACTL_OUT_LOOKUP,
		.help = "Prints the maps line of the VMA holding ADDR (--json: "
			"also its\nsmaps VmFlags, vm_flags).",
	},
	{
		.name = "madvise",
		.method = "madvise",
		.pos = {"space", "addr", "length", "advice"},
		.required = {"space", "addr", "length", "advice"},
		.out = VMACTL_OUT_NONE,
		.help = "ADVICE is a name (dontneed, free, remove, dontfork, "
			"dofork,\nwipeonfork, keeponfork, dontdump, dodump, "
			"hugepage,\nnohugepage, sequential, random, normal, "
			"mergeable,\nunmergeable, willneed, cold, "
			"dontneed_locked, guard_install,\nguard_remove, "
			"populate_read, populate_write) or the\nnumber of a "
			"MADV_* constant.",
	},
	{
		.name = "mlock",
		.method = "mlock",
		.pos = {"space", "addr", "length"},
		.opts = {"flags"},
		.required = {"space", "addr", "length"},
		.out = VMACTL_OUT_NONE,
		.help = "mlock(2), or mlock2(2) with --flags onfault.",
	},
	{
		.name = "mlock2",
		.method = "mlock2",
		.pos = {"space", "addr", "length"},
		.opts = {"flags"},
		.required = {"space", "addr", "length"},
		.out = VMACTL_OUT_NONE,
		.help = "mlock2(2): --flags onfault for MLOCK_ONFAULT.",
	},
	{
		.name = "munlock",
		.method = "munlock",
		.pos = {"space", "addr", "length"},
		.required = {"space", "addr", "length"},
		.out = VMACTL_OUT_NONE,
		.help = "munlock(2).",
	},
	{
		.name = "mlockall",
		.method = "mlockall",
		.pos = {"space", "flags"},
		.required = {"space", "flags"},
		.out = VMACTL_OUT_NONE,
		.help = "mlockall(2): FLAGS from current, future, onfault.",
	},
	{
		.name = "munlockall",
		.method = "munlockall",
		.pos = {"space"},
		.required = {"space"},
		.out = VMACTL_OUT_NONE,
		.help = "munlockall(2).",
	},
	{
		.name = "mseal",
		.method = "mseal",
		.pos = {"space", "addr", "length"},
		.required = {"space", "addr", "length"},
		.out = VMACTL_OUT_NONE,
		.help = "mseal(2): later munmap, mprotect, mremap fail with "
			"EPERM.",
	},
	{
		.name = "set-vma-anon-name",
		.method = "set_vma_anon_name",
		.pos = {"space", "addr", "length", "name"},
		.required = {"space", "addr", "length"},
		.out = VMACTL_OUT_NONE,
		.help = "prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME): [anon:NAME] "
			"in maps;\nwithout NAME the names are cleared.",
	},
	{
		.name = "maps",
		.method = "maps",
		.pos = {"space"},
		.required = {"space"},
		.out = VMACTL_OUT_MAPS,
		.help = "Prints the /proc/PID/maps text.",
	},
	{
		.name = "pmap",
		.method = "maps",
		.pos = {"space"},
		.required = {"space"},
		.flags = vmactl_pmap_flags,
		.out = VMACTL_OUT_PMAP,
		.help = "Prints the mappings as pmap(1) does: address, "
			"Kbytes,\nmode, mapping and a total line; with -x "
			"also RSS.\n(No Dirty column: the simulator does not "
			"track dirty\npages.)",
	},
	{
		.name = "stats",
		.method = "stats",
		.pos = {"space"},
		.out = VMACTL_OUT_STATS,
		.help = "The daemon's counters, or a space's.",
	},
	{
		.name = "show",
		.method = "maps",
		.pos = {"space"},
		.required = {"space"},
		.flags = vmactl_show_flags,
		.out = VMACTL_OUT_SHOW,
		.help = "Draws the address space: VMAs as bands on a "
			"log-scaled axis,\ncoloured by permissions, with gaps "
			"and stack guard gaps. Text\non the terminal. --svg: a "
			"picture of the whole space in a bounded\ncanvas (VMAs "
			"of one object in one band, gaps compressed, markers\n"
			"for mmap_base, start_brk, brk). --html: one "
			"self-contained page\nthat zooms into ranges and shows "
			"each band's maps lines.",
	},
};

#define NR_CMDS (sizeof(vmactl_cmds) / sizeof(vmactl_cmds[0]))

struct vmactl {
	char socket[4096];
	bool json;
	const char *svg;     /* show --svg FILE */
	const char *html;    /* show --html FILE */
	long long guard_gap; /* show --guard-gap PAGES, -1 = ask the daemon */
	bool extended;	     /* pmap -x */
	struct vmc_conn conn;
	bool connected;
};

/* ---- Names, suggestions and errors -------------------------------------- */

/* "old_length" -> "--old-length" (or "-x" for a one-letter flag). */
static const char *vmactl_opt_name(const char *name, char *buf, size_t len)
{
	size_t k;

	snprintf(buf, len, "%s%s", name[1] ? "--" : "-", name);
	for (k = 2; buf[k]; k++)
		if (buf[k] == '_')
			buf[k] = '-';
	return buf;
}

/* "old_length" -> "OLD_LENGTH" */
static const char *vmactl_meta_name(const char *name, char *buf, size_t len)
{
	size_t k;

	for (k = 0; name[k] && k + 1 < len; k++)
		buf[k] = (char)(name[k] >= 'a' && name[k] <= 'z'
					? name[k] - 'a' + 'A'
					: name[k]);
	buf[k] = '\0';
	return buf;
}

/* The command closest to @typed ("space destory", "destroy", "mapz"). */
static const char *vmactl_suggest_cmd(const char *typed)
{
	static const char *const extra[] = {"call", "help"};
	struct rpc_suggest s;
	size_t i;

	rpc_suggest_init(&s, typed);
	for (i = 0; i < NR_CMDS; i++) {
		const char *n = vmactl_cmds[i].name, *last = strrchr(n, ' ');

		rpc_suggest_consider(&s, n);
		/* "destroy" alone for "space destroy" */
		if (last)
			rpc_suggest_consider(&s, last + 1);
		if (s.best && last && s.best == last + 1)
			s.best = n;
	}
	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		rpc_suggest_consider(&s, extra[i]);
	return rpc_suggest_best(&s);
}

static const struct vmactl_param *vmactl_param(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(vmactl_params) / sizeof(vmactl_params[0]); i++)
		if (!strcmp(vmactl_params[i].name, name))
			return &vmactl_params[i];
	return NULL;
}

static const struct vmactl_flag *vmactl_cmd_flag(const struct vmactl_cmd *cmd,
						 const char *name)
{
	const struct vmactl_flag *f;

	for (f = cmd->flags; f && f->name; f++)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

static bool vmactl_cmd_allows(const struct vmactl_cmd *cmd, const char *name)
{
	size_t i;

	for (i = 0; i < 4 && cmd->pos[i]; i++)
		if (!strcmp(cmd->pos[i], name))
			return true;
	for (i = 0; i < VMACTL_NR_OPTS && cmd->opts[i]; i++)
		if (!strcmp(cmd->opts[i], name))
			return true;
	return false;
}

/* The option of @cmd closest to @typed (underscores, without dashes). */
static const char *vmactl_suggest_opt(const struct vmactl_cmd *cmd,
				      const char *typed)
{
	const struct vmactl_flag *f;
	struct rpc_suggest s;
	size_t i;

	rpc_suggest_init(&s, typed);
	for (i = 0; i < 4 && cmd->pos[i]; i++)
		rpc_suggest_consider(&s, cmd->pos[i]);
	for (i = 0; i < VMACTL_NR_OPTS && cmd->opts[i]; i++)
		rpc_suggest_consider(&s, cmd->opts[i]);
	for (f = cmd->flags; f && f->name; f++)
		rpc_suggest_consider(&s, f->name);
	rpc_suggest_consider(&s, "json");
	rpc_suggest_consider(&s, "help");
	return rpc_suggest_best(&s);
}

/*
 * Print "vmactl: CMD: message" and the way to help. @cmd may be NULL (the
 * global command line).
 */
static void vmactl_usage_error(const struct vmactl_cmd *cmd, const char *fmt,
			       ...) __attribute__((format(printf, 2, 3)));
static void vmactl_usage_error(const struct vmactl_cmd *cmd, const char *fmt,
			       ...)
{
	va_list ap;

	fprintf(stderr, "vmactl: %s%s", cmd ? cmd->name : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry 'vmactl %s --help'.\n", cmd->name);
	else
		fprintf(stderr, "\nTry 'vmactl help'.\n");
}

/* ---- Help ---------------------------------------------------------------- */

/* Append @word to a usage line at *@col, wrapping at 78 columns. */
static void vmactl_usage_word(FILE *f, const char *word, size_t *col,
			      size_t indent)
{
	size_t n = strlen(word);

	if (*col + 1 + n > 78) {
		fprintf(f, "\n%*s", (int)indent, "");
		*col = indent;
	} else {
		fputc(' ', f);
		(*col)++;
	}
	fputs(word, f);
	*col += n;
}

static bool vmactl_is_required(const struct vmactl_cmd *cmd, const char *name)
{
	size_t i;

	for (i = 0; i < 4 && cmd->required[i]; i++)
		if (!strcmp(cmd->required[i], name))
			return true;
	return false;
}

/*
 * "mmap SPACE [--addr ADDR] --length LENGTH ...", from the table, after
 * @lead; continuation lines are indented by @indent + 4.
 */
static void vmactl_print_usage(FILE *f, const struct vmactl_cmd *cmd,
			       const char *lead, size_t indent)
{
	const struct vmactl_flag *fl;
	char word[160], opt[64], meta[64];
	size_t col = strlen(lead) + strlen(cmd->name), i;

	fprintf(f, "%s%s", lead, cmd->name);
	for (i = 0; i < 4 && cmd->pos[i]; i++) {
		vmactl_meta_name(cmd->pos[i], meta, sizeof(meta));
		snprintf(word, sizeof(word),
			 vmactl_is_required(cmd, cmd->pos[i]) ? "%s" : "[%s]",
			 meta);
		vmactl_usage_word(f, word, &col, indent + 4);
	}
	for (i = 0; i < VMACTL_NR_OPTS && cmd->opts[i]; i++) {
		const struct vmactl_param *p = vmactl_param(cmd->opts[i]);
		bool req = vmactl_is_required(cmd, cmd->opts[i]);

		vmactl_opt_name(cmd->opts[i], opt, sizeof(opt));
		vmactl_meta_name(cmd->opts[i], meta, sizeof(meta));
		if (p && p->meta)
			snprintf(meta, sizeof(meta), "%s", p->meta);
		if (p && p->type == VMACTL_BOOL)
			snprintf(word, sizeof(word), "[%s]", opt);
		else
			snprintf(word, sizeof(word), req ? "%s %s" : "[%s %s]",
				 opt, meta);
		vmactl_usage_word(f, word, &col, indent + 4);
	}
	for (fl = cmd->flags; fl && fl->name; fl++) {
		vmactl_opt_name(fl->name, opt, sizeof(opt));
		if (fl->meta)
			snprintf(word, sizeof(word), "[%s %s]", opt, fl->meta);
		else
			snprintf(word, sizeof(word), "[%s]", opt);
		vmactl_usage_word(f, word, &col, indent + 4);
	}
	fputc('\n', f);
}

/* Print @text with every line indented by @indent. */
static void vmactl_print_indented(FILE *f, const char *text, size_t indent)
{
	while (text && *text) {
		size_t n = strcspn(text, "\n");

		fprintf(f, "%*s%.*s\n", (int)indent, "", (int)n, text);
		text += n;
		if (*text)
			text++;
	}
}

static void vmactl_help_all(FILE *f)
{
	size_t i;

	fputs(vmactl_help_head, f);
	for (i = 0; i < NR_CMDS; i++) {
		vmactl_print_usage(f, &vmactl_cmds[i], "    ", 4);
		vmactl_print_indented(f, vmactl_cmds[i].help, 8);
	}
	fputs(vmactl_help_tail, f);
}

/* `vmactl help CMD`, `vmactl CMD --help`. */
static void vmactl_help_cmd(FILE *f, const struct vmactl_cmd *cmd)
{
	const struct vmactl_flag *fl;
	char opt[64], meta[64], left[160];
	size_t i;

	vmactl_print_usage(f, cmd, "usage: vmactl ", 10);
	fputc('\n', f);
	vmactl_print_indented(f, cmd->help, 0);
	fputc('\n', f);
	for (i = 0; i < 14; i++) {
		const char *name = i < 4 ? cmd->pos[i] : cmd->opts[i - 4];
		const struct vmactl_param *p;

		if (!name)
			continue;
		p = vmactl_param(name);
		vmactl_meta_name(name, meta, sizeof(meta));
		if (i >= 4 && p && p->meta)
			snprintf(meta, sizeof(meta), "%s", p->meta);
		if (i < 4)
			snprintf(left, sizeof(left), "%s (or %s)", meta,
				 vmactl_opt_name(name, opt, sizeof(opt)));
		else
			snprintf(left, sizeof(left), "%s %s",
				 vmactl_opt_name(name, opt, sizeof(opt)),
				 p && p->type == VMACTL_BOOL ? "" : meta);
		fprintf(f, "  %-28s %s\n", left,
			vmactl_type_help[p ? p->type : VMACTL_STR]);
	}
	for (fl = cmd->flags; fl && fl->name; fl++) {
		snprintf(left, sizeof(left), "%s%s%s",
			 vmactl_opt_name(fl->name, opt, sizeof(opt)),
			 fl->meta ? " " : "", fl->meta ? fl->meta : "");
		fprintf(f, "  %-28s %s\n", left, fl->help);
	}
	fprintf(f, "  %-28s %s\n", "--json", "print the raw JSON result");
	fprintf(f, "\nSends the JSON-RPC method \"%s\" (see PROTOCOL.md).\n",
		cmd->method);
}

/* ---- Parameters ---------------------------------------------------------- */

/*
 * Convert a command-line value to the JSON value sent for @name. Returns
 * NULL (and prints why, naming @shown) if it is not valid.
 */
static json_t *vmactl_param_value(const struct vmactl_cmd *cmd,
				  const char *name, const char *shown,
				  const char *arg)
{
	const struct vmactl_param *p = vmactl_param(name);
	enum vmactl_type type = p ? p->type : VMACTL_STR;
	uint64_t v;
	json_t *arr;
	char *copy, *tok, *save;

	switch (type) {
	case VMACTL_U64:
		if (vmc_parse_u64(arg, &v) || v > (uint64_t)INT64_MAX)
			break;
		return json_integer((json_int_t)v);
	case VMACTL_PAGES:
	case VMACTL_COUNT: {
		char *end;

		errno = 0;
		v = strtoull(arg, &end, 0);
		if (!errno && end != arg && !*end && *arg != '-' &&
		    v <= (uint64_t)INT64_MAX)
			return json_integer((json_int_t)v);
		if (type == VMACTL_PAGES && !vmc_parse_u64(arg, &v)) {
			vmactl_usage_error(
				cmd,
				"%s: invalid value '%s': a number of pages "
				"takes no size suffix (%s bytes would be "
				"%llu pages)",
				shown, arg, arg,
				(unsigned long long)(v / 4096));
			return NULL;
		}
		break;
	}
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
		break;
	case VMACTL_STR:
		return json_string(arg);
	case VMACTL_INT_OR_STR:
		if (!vmc_parse_u64(arg, &v) && v <= (uint64_t)INT64_MAX)
			return json_integer((json_int_t)v);
		return json_string(arg);
	}
	vmactl_usage_error(cmd, "%s: invalid value '%s' (%s)", shown, arg,
			   vmactl_type_help[type]);
	return NULL;
}

/*
 * A flag of @cmd's own (--svg FILE, --write, -x). Returns 0, or -1 after
 * printing a usage error.
 */
static int vmactl_local_flag(struct vmactl *vc, const struct vmactl_cmd *cmd,
			     const char *name, const char *shown,
			     const char *val, json_t *params)
{
	uint64_t g;

	switch (cmd->out) {
	case VMACTL_OUT_FAULT:
		json_object_set_new(params, "access", json_string(name));
		return 0;
	case VMACTL_OUT_SHOW:
		if (!strcmp(name, "svg") || !strcmp(name, "html")) {
			*(name[0] == 's' ? &vc->svg : &vc->html) = val;
			return 0;
		}
		if (vmc_parse_u64(val, &g) || g > 1u << 30 ||
		    strspn(val, "0123456789xabcdefABCDEF") != strlen(val)) {
			vmactl_usage_error(cmd, "%s: invalid value '%s' (%s)",
					   shown, val,
					   vmactl_type_help[VMACTL_PAGES]);
			return -1;
		}
		vc->guard_gap = (long long)g;
		return 0;
	case VMACTL_OUT_PMAP:
		vc->extended = true;
		return 0;
	default:
		return 0;
	}
}

/*
 * Parse the arguments after the subcommand into @params. Returns 0, 1 if
 * help was printed, or -1 after printing a usage error.
 */
static int vmactl_parse_args(struct vmactl *vc, const struct vmactl_cmd *cmd,
			     int argc, char **argv, json_t *params)
{
	int npos = 0, i;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		char name[64], shown[80], meta[64], *eq;
		const char *val = NULL, *guess;
		const struct vmactl_param *p;
		const struct vmactl_flag *fl;
		json_t *jv;
		size_t k;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			vmactl_help_cmd(stdout, cmd);
			return 1;
		}
		if (a[0] != '-' || !a[1]) {
			if (npos >= 4 || !cmd->pos[npos]) {
				vmactl_usage_error(
					cmd, "unexpected argument '%s'", a);
				return -1;
			}
			vmactl_meta_name(cmd->pos[npos], meta, sizeof(meta));
			jv = vmactl_param_value(cmd, cmd->pos[npos], meta, a);
			if (!jv)
				return -1;
			json_object_set_new(params, cmd->pos[npos++], jv);
			continue;
		}
		/* --name, --name=value, or a one-letter flag -x. */
		snprintf(name, sizeof(name), "%s", a + (a[1] == '-' ? 2 : 1));
		eq = strchr(name, '=');
		if (eq) {
			*eq = 0;
			val = strchr(a, '=') + 1;
		}
		for (k = 0; name[k]; k++)
			if (name[k] == '-')
				name[k] = '_';
		snprintf(shown, sizeof(shown), "%.*s",
			 eq ? (int)(strchr(a, '=') - a) : (int)strlen(a), a);
		if (!strcmp(name, "json")) {
			vc->json = true;
			continue;
		}
		fl = vmactl_cmd_flag(cmd, name);
		p = vmactl_param(name);
		if (!fl && (!vmactl_cmd_allows(cmd, name) || !p)) {
			guess = vmactl_suggest_opt(cmd, name);
			if (guess) {
				char g[64];

				vmactl_usage_error(
					cmd,
					"unknown option '%s'; did you mean "
					"'%s'?",
					shown,
					vmactl_opt_name(guess, g, sizeof(g)));
			} else {
				vmactl_usage_error(cmd, "unknown option '%s'",
						   shown);
			}
			return -1;
		}
		if ((fl && !fl->meta) || (!fl && p->type == VMACTL_BOOL)) {
			if (fl && val) {
				vmactl_usage_error(cmd, "%s takes no value",
						   shown);
				return -1;
			}
			if (!val)
				val = "true";
		}
		if (!val) {
			if (i + 1 >= argc) {
				vmactl_usage_error(cmd, "%s needs a value",
						   shown);
				return -1;
			}
			val = argv[++i];
		}
		if (fl) {
			if (!*val) {
				vmactl_usage_error(cmd, "%s needs a value",
						   shown);
				return -1;
			}
			if (vmactl_local_flag(vc, cmd, name, shown, val,
					      params))
				return -1;
			continue;
		}
		jv = vmactl_param_value(cmd, name, shown, val);
		if (!jv)
			return -1;
		json_object_set_new(params, name, jv);
	}
	if (cmd->out == VMACTL_OUT_FAULT && !json_object_get(params, "access"))
		json_object_set_new(params, "access", json_string("read"));
	/* set-vma-anon-name without a NAME clears the names. */
	if (!strcmp(cmd->method, "set_vma_anon_name") &&
	    !json_object_get(params, "name"))
		json_object_set_new(params, "name", json_null());
	for (i = 0; i < 4 && cmd->required[i]; i++)
		if (!json_object_get(params, cmd->required[i])) {
			char opt[64], meta[64];
			bool positional = false;
			size_t k;

			for (k = 0; k < 4 && cmd->pos[k]; k++)
				positional |=
					!strcmp(cmd->pos[k], cmd->required[i]);
			vmactl_usage_error(
				cmd, "missing %s",
				positional
					? vmactl_meta_name(cmd->required[i],
							   meta, sizeof(meta))
					: vmactl_opt_name(cmd->required[i], opt,
							  sizeof(opt)));
			return -1;
		}
	return 0;
}

/* ---- Talking to the daemon ------------------------------------------------
 */

static int vmactl_connect(struct vmactl *vc)
{
	int ret;

	if (vc->connected)
		return 0;
	ret = vmc_connect(&vc->conn, vc->socket);
	if (ret) {
		fprintf(stderr, "vmactl: cannot reach vmad at %s: %s\n",
			vc->socket, vmc_strerror(ret));
		return VMC_EXIT_UNREACHABLE;
	}
	vc->connected = true;
	return 0;
}

/*
 * Report the error of @resp for @what: the daemon's message, then the
 * errno name ("no such space: 'dmo' (ENOENT)"). Returns the exit status:
 * 2 for malformed requests, 1 otherwise.
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
	if (!msg || !*msg)
		msg = en ? vmc_errno_message(en) : "error";
	if (en)
		fprintf(stderr, "vmactl: %s: %s (%s)\n", what, msg, en);
	else
		fprintf(stderr, "vmactl: %s: %s\n", what, msg);
	if (code == -32600 || code == -32601 || code == -32602)
		return VMC_EXIT_USAGE;
	return VMC_EXIT_FAIL;
}

/*
 * Send @method(@params) (stolen) and return the whole response in *@resp
 * (a new reference). An error response is reported under @what and
 * returned as its exit status with *@resp NULL.
 */
static int vmactl_request(struct vmactl *vc, const char *what,
			  const char *method, json_t *params, json_t **resp)
{
	int ret = vmactl_connect(vc);

	*resp = NULL;
	if (ret) {
		json_decref(params);
		return ret;
	}
	ret = vmc_call(&vc->conn, method, params, resp);
	if (ret) {
		fprintf(stderr, "vmactl: %s: lost the connection to %s: %s\n",
			what, vc->socket, strerror(-ret));
		return VMC_EXIT_UNREACHABLE;
	}
	if (json_object_get(*resp, "error")) {
		ret = vmactl_report_error(vc, what, *resp);
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

/* The space.list entry of @space (an id or a name), or NULL. New ref. */
static json_t *vmactl_space_info(struct vmactl *vc, const json_t *space)
{
	json_t *resp = NULL, *sp, *found = NULL;
	size_t i;

	if (vmactl_connect(vc) ||
	    vmc_call(&vc->conn, "space.list", NULL, &resp))
		return NULL;
	json_array_foreach(
		json_object_get(json_object_get(resp, "result"), "spaces"), i,
		sp)
	{
		json_t *id = json_object_get(sp, "space");
		json_t *nm = json_object_get(sp, "name");

		if ((json_is_integer(space) && json_equal(id, space)) ||
		    (json_is_string(space) && json_equal(nm, space))) {
			found = json_incref(sp);
			break;
		}
	}
	json_decref(resp);
	return found;
}

/* ---- Printing --------------------------------------------------------------
 */

char *vmactl_format_vma(const json_t *vma, char *buf, size_t len)
{
	const char *perms = json_string_value(json_object_get(vma, "perms"));
	const char *file = json_string_value(json_object_get(vma, "file"));
	const char *name = json_string_value(json_object_get(vma, "name"));
	const char *dev = json_string_value(json_object_get(vma, "dev"));
	const char *label = file ? file : name ? name : "";
	int n;

	/* show_vma_header_prefix(), as vas_format_maps_line(). */
	n = snprintf(
		buf, len, "%08llx-%08llx %s %08llx %s %llu ",
		(unsigned long long)vmactl_u64(json_object_get(vma, "start")),
		(unsigned long long)vmactl_u64(json_object_get(vma, "end")),
		perms ? perms : "????",
		(unsigned long long)vmactl_u64(json_object_get(vma, "offset")),
		dev ? dev : "00:00",
		(unsigned long long)vmactl_u64(json_object_get(vma, "inode")));
	if (*label && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "%*s%s", n < 72 ? 73 - n : 1,
			 "", label);
	return buf;
}

/* Members printed as addresses (hex) and as sizes (bytes, then 4K...). */
static bool vmactl_is_addr_key(const char *key)
{
	static const char *const keys[] = {
		"addr",	     "start",	 "end",		"brk",
		"start_brk", "brk_base", "mmap_base",	"task_size",
		"old_addr",  "new_addr", "start_stack",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

static bool vmactl_is_size_key(const char *key)
{
	size_t n = strlen(key);

	return (n >= 5 && !strcmp(key + n - 5, "bytes")) ||
	       !strcmp(key, "stack_rlimit") || !strcmp(key, "memlock_rlimit");
}

/* One value for people: hex addresses, sizes with their unit. */
static void vmactl_print_value(FILE *f, const char *key, const json_t *v)
{
	char hs[32];

	if (json_is_integer(v) && vmactl_is_addr_key(key)) {
		fprintf(f, "%#llx", (unsigned long long)json_integer_value(v));
	} else if (json_is_integer(v) && vmactl_is_size_key(key)) {
		uint64_t b = (uint64_t)json_integer_value(v);

		fprintf(f, "%llu", (unsigned long long)b);
		if (b >= 1024)
			fprintf(f, " (%s)", vmc_human_size(b, hs, sizeof(hs)));
	} else if (json_is_string(v)) {
		fputs(json_string_value(v), f);
	} else if (json_is_null(v)) {
		fputc('-', f);
	} else {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		fputs(s ? s : "?", f);
		free(s);
	}
}

static void vmactl_print_flat(const char *prefix, const char *key,
			      const json_t *v)
{
	const char *k;
	json_t *m;
	char name[256];

	if (!json_is_object(v)) {
		printf("%s: ", prefix);
		vmactl_print_value(stdout, key, v);
		putchar('\n');
		return;
	}
	json_object_foreach((json_t *)v, k, m)
	{
		if (*prefix)
			snprintf(name, sizeof(name), "%s.%s", prefix, k);
		else
			snprintf(name, sizeof(name), "%s", k);
		vmactl_print_flat(name, k, m);
	}
}

/*
 * space list as a table, one space a line. The columns are the members the
 * daemon reports; members it adds later are printed as NAME=VALUE after
 * them.
 */
static void vmactl_print_list(const json_t *r)
{
	static const struct {
		const char *key, *title;
		int width; /* negative: left-aligned */
	} cols[] = {
		{"space", "SPACE", 5},
		{"name", "NAME", -16},
		{"owner", "OWNER", 5},
		{"task_size", "TASK_SIZE", 14},
		{"mmap_base", "MMAP_BASE", 14},
		{"stack_guard_gap", "GUARD", 5},
		{"max_map_count", "MAX_MAP", 7},
		{"stack_rlimit", "STACK", 5},
		{"memlock_rlimit", "MEMLOCK", 7},
	};
	const size_t nr = sizeof(cols) / sizeof(cols[0]);
	const json_t *sp;
	size_t i, c;

	for (c = 0; c < nr; c++)
		printf("%s%*s", c ? " " : "", cols[c].width, cols[c].title);
	putchar('\n');
	json_array_foreach(json_object_get(r, "spaces"), i, sp)
	{
		const char *key;
		json_t *m;

		for (c = 0; c < nr; c++) {
			const json_t *v = json_object_get(sp, cols[c].key);
			char cell[64], hs[32];

			if (json_is_string(v))
				snprintf(cell, sizeof(cell), "%s",
					 json_string_value(v));
			else if (!json_is_integer(v))
				snprintf(cell, sizeof(cell), "-");
			else if (vmactl_is_addr_key(cols[c].key))
				snprintf(cell, sizeof(cell), "%#llx",
					 (unsigned long long)json_integer_value(
						 v));
			else if (vmactl_is_size_key(cols[c].key))
				vmc_human_size((uint64_t)json_integer_value(v),
					       hs, sizeof(hs)),
					snprintf(cell, sizeof(cell), "%s", hs);
			else
				snprintf(cell, sizeof(cell), "%lld",
					 (long long)json_integer_value(v));
			printf("%s%*s", c ? " " : "", cols[c].width, cell);
		}
		json_object_foreach((json_t *)sp, key, m)
		{
			for (c = 0; c < nr && strcmp(cols[c].key, key); c++)
				;
			if (c < nr)
				continue;
			printf(" %s=", key);
			vmactl_print_value(stdout, key, m);
		}
		putchar('\n');
	}
}

/*
 * pmap(1) (procps-ng): "ADDRESS  SIZEK MODE MAPPING" lines and " total
 * NK"; with -x, "Address Kbytes RSS Mode Mapping" columns and a "total kB"
 * line. The mapping is the file's base name, "[ stack ]" for the stack and
 * "[ anon ]" for other anonymous memory (the heap included), as procps
 * prints them.
 */
static void vmactl_print_pmap(const json_t *info, const json_t *space,
			      const json_t *vmas, bool extended)
{
	uint64_t total_kb = 0, total_rss = 0;
	const json_t *v;
	size_t i;

	if (info && json_is_string(json_object_get(info, "name")))
		printf("%lld:   %s\n",
		       (long long)json_integer_value(
			       json_object_get(info, "space")),
		       json_string_value(json_object_get(info, "name")));
	else if (json_is_integer(space))
		printf("%lld:\n", (long long)json_integer_value(space));
	else
		printf("%s:\n", json_string_value(space));
	if (extended)
		printf("Address           Kbytes     RSS Mode  Mapping\n");
	json_array_foreach(vmas, i, v)
	{
		uint64_t start = vmactl_u64(json_object_get(v, "start"));
		uint64_t kb =
			(vmactl_u64(json_object_get(v, "end")) - start) >> 10;
		uint64_t rss = vmactl_u64(json_object_get(v, "rss_pages")) * 4;
		const char *perms =
			json_string_value(json_object_get(v, "perms"));
		const char *file =
			json_string_value(json_object_get(v, "file"));
		const char *name =
			json_string_value(json_object_get(v, "name"));
		const char *mapping, *slash;
		char mode[6];

		if (!perms || strlen(perms) != 4)
			perms = "----";
		snprintf(mode, sizeof(mode), "%c%c%c%c-", perms[0], perms[1],
			 perms[2], perms[3] == 's' ? 's' : '-');
		if (file) {
			slash = strrchr(file, '/');
			mapping = slash && slash[1] ? slash + 1 : file;
		} else if (name && !strcmp(name, "[stack]")) {
			mapping = "  [ stack ]";
		} else if (name && name[0] == '/') {
			/* "/dev/zero (deleted)" */
			mapping = strrchr(name, '/') + 1;
		} else {
			mapping = "  [ anon ]";
		}
		total_kb += kb;
		total_rss += rss;
		if (extended)
			printf("%016llx %7llu %7llu %s %s\n",
			       (unsigned long long)start,
			       (unsigned long long)kb, (unsigned long long)rss,
			       mode, mapping);
		else
			printf("%016llx %6lluK %s %s\n",
			       (unsigned long long)start,
			       (unsigned long long)kb, mode, mapping);
	}
	if (extended)
		printf("---------------- ------- ------- \n"
		       "total kB %15llu %7llu\n",
		       (unsigned long long)total_kb,
		       (unsigned long long)total_rss);
	else
		printf(" total %16lluK\n", (unsigned long long)total_kb);
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

static void vmactl_print(const struct vmactl_cmd *cmd, const json_t *params,
			 const json_t *r)
{
	char line[512];
	const json_t *v;
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
		vmactl_print_list(r);
		break;
	case VMACTL_OUT_ADDR:
		printf("%#llx\n", (unsigned long long)vmactl_u64(
					  json_object_get(r, "addr")));
		break;
	case VMACTL_OUT_BRK: /* vmactl_brk() */
	case VMACTL_OUT_SHOW:
	case VMACTL_OUT_PMAP:
	case VMACTL_OUT_EXPORT:
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
		/* The lookup formatter: the same bytes as the daemon's text. */
		json_array_foreach(json_object_get(r, "vmas"), i, v) printf(
			"%s\n", vmactl_format_vma(v, line, sizeof(line)));
		break;
	case VMACTL_OUT_STATS:
		vmactl_print_flat("", "", r);
		break;
	}
}

/*
 * brk SPACE [ADDR]: with ADDR, the break before and after (@was), and a
 * failure when it is not where asked: brk(2) returns the old break when it
 * refuses, and glibc's brk() then fails with ENOMEM.
 */
static int vmactl_brk(struct vmactl *vc, const json_t *params,
		      const json_t *result, const uint64_t *was)
{
	uint64_t now = vmactl_u64(json_object_get(result, "brk"));
	uint64_t want = vmactl_u64(json_object_get(params, "addr"));

	if (!was) {
		if (!vc->json)
			printf("%#llx\n", (unsigned long long)now);
		return 0;
	}
	if (!vc->json)
		printf("%#llx -> %#llx\n", (unsigned long long)*was,
		       (unsigned long long)now);
	if (now == want)
		return 0;
	fprintf(stderr,
		"vmactl: brk: the break did not move to %#llx: it is at %#llx "
		"(refused: ENOMEM)\n",
		(unsigned long long)want, (unsigned long long)now);
	return VMC_EXIT_FAIL;
}

static int vmactl_run_cmd(struct vmactl *vc, const struct vmactl_cmd *cmd,
			  int argc, char **argv)
{
	json_t *params = json_object(), *resp = NULL, *info = NULL;
	const json_t *result;
	char *output = NULL;
	uint64_t was = 0;
	bool moving;
	int ret;

	ret = vmactl_parse_args(vc, cmd, argc, argv, params);
	if (!ret && !strcmp(cmd->method, "space.import") &&
	    (json_object_get(params, "snapshot")
		     ? vmactl_snapshot_prepare(params)
		     : vmactl_import_prepare(params)))
		ret = -1;
	if (ret) {
		json_decref(params);
		return ret > 0 ? 0 : VMC_EXIT_USAGE;
	}
	/* The file space export writes to is vmactl's, not a parameter. */
	if (cmd->out == VMACTL_OUT_EXPORT) {
		output = strdup(
			json_string_value(json_object_get(params, "file")));
		json_object_del(params, "file");
	}
	moving = cmd->out == VMACTL_OUT_BRK &&
		 vmactl_u64(json_object_get(params, "addr"));
	if (moving) {
		/* The break before, to print beside the result. */
		ret = vmactl_request(
			vc, cmd->name, cmd->method,
			json_pack("{s:O}", "space",
				  json_object_get(params, "space")),
			&resp);
		if (ret)
			goto out;
		was = vmactl_u64(json_object_get(
			json_object_get(resp, "result"), "brk"));
		json_decref(resp);
	}
	json_incref(params);
	ret = vmactl_request(vc, cmd->name, cmd->method, params, &resp);
	if (ret)
		goto out;
	result = json_object_get(resp, "result");
	if (cmd->out == VMACTL_OUT_SHOW) {
		ret = vmactl_show(vc, params, result);
		goto out;
	}
	if (cmd->out == VMACTL_OUT_EXPORT) {
		ret = vmactl_export_write(result, output) ? VMC_EXIT_FAIL : 0;
		json_object_del((json_t *)result, "snapshot");
		if (!ret && vc->json && strcmp(output, "-")) {
			json_dumpf(result, stdout, JSON_COMPACT);
			putchar('\n');
		} else if (!ret && strcmp(output, "-")) {
			printf("space %lld exported to %s (%lld bytes)\n",
			       (long long)json_integer_value(
				       json_object_get(result, "space")),
			       output,
			       (long long)json_integer_value(
				       json_object_get(result, "bytes")));
		}
		goto out;
	}
	if (vc->json) {
		json_dumpf(result, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
		putchar('\n');
	} else if (cmd->out == VMACTL_OUT_PMAP) {
		info = vmactl_space_info(vc, json_object_get(params, "space"));
		vmactl_print_pmap(info, json_object_get(params, "space"),
				  json_object_get(result, "vmas"),
				  vc->extended);
	} else {
		vmactl_print(cmd, params, result);
	}
	if (cmd->out == VMACTL_OUT_BRK)
		ret = vmactl_brk(vc, params, result, moving ? &was : NULL);
out:
	free(output);
	json_decref(info);
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
		vmactl_usage_error(NULL, "usage: vmactl call METHOD [JSON]");
		return VMC_EXIT_USAGE;
	}
	if (argc == 2) {
		params = json_loads(argv[1], JSON_DECODE_ANY, &jerr);
		if (!params) {
			vmactl_usage_error(
				NULL, "call: invalid JSON at column %d: %s",
				jerr.column, jerr.text);
			return VMC_EXIT_USAGE;
		}
	}
	ret = vmactl_request(vc, argv[0], argv[0], params, &resp);
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

/*
 * A line of - that is not JSON: say so on stderr, and answer it on stdout
 * as the daemon would (-32700, id null), so that responses stay one per
 * request line.
 */
static void vmactl_stdin_bad_line(int lineno, const json_error_t *jerr)
{
	json_t *resp =
		json_pack("{s:s,s:n,s:{s:i,s:s}}", "jsonrpc", "2.0", "id",
			  "error", "code", -32700, "message", "parse error");

	fprintf(stderr, "vmactl: line %d: not JSON (column %d: %s); skipped\n",
		lineno, jerr->column, jerr->text);
	if (resp) {
		json_dumpf(resp, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(resp);
	}
}

static int vmactl_reconnect(struct vmactl *vc)
{
	vmc_close(&vc->conn);
	vc->connected = false;
	return vmactl_connect(vc);
}

/*
 * vmactl -: one request per line, one response per request. A malformed
 * line is reported and skipped; if the daemon closes the connection (it
 * does after a message it cannot frame), the line is reported and the
 * next ones go over a new connection.
 */
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
		if (*p == '\n' || *p == '\r' || !*p || *p == '#')
			continue;
		req = json_loads(p, JSON_DECODE_ANY, &jerr);
		if (!req) {
			vmactl_stdin_bad_line(lineno, &jerr);
			status = VMC_EXIT_FAIL;
			continue;
		}
		if (json_is_array(req)) {
			size_t i;
			json_t *e;

			json_array_foreach(req, i, e)
				vmactl_complete_request(e, &id);
		} else {
			vmactl_complete_request(req, &id);
		}
		resp = NULL;
		ret = vmc_send_json(&vc->conn, req);
		if (ret) {
			/* Not delivered: the daemon had closed the connection
			 * after an earlier line. Send it again on a new one. */
			ret = vmactl_reconnect(vc);
			if (ret) {
				json_decref(req);
				goto out;
			}
			ret = vmc_send_json(&vc->conn, req);
		}
		if (!ret && vmactl_expects_response(req))
			ret = vmc_recv_json(&vc->conn, &resp);
		json_decref(req);
		if (ret) {
			/* Sent, but no response: it may or may not have run. */
			fprintf(stderr,
				"vmactl: line %d: no response (%s); "
				"reconnecting for the next lines\n",
				lineno, strerror(-ret));
			status = VMC_EXIT_FAIL;
			ret = vmactl_reconnect(vc);
			if (ret)
				goto out;
			continue;
		}
		if (!resp)
			continue;
		json_dumpf(resp, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
		putchar('\n');
		fflush(stdout);
		if (vmactl_is_error(resp))
			status = VMC_EXIT_FAIL;
		/*
		 * An error without an id answers a message the daemon could
		 * not frame, and it may close the connection after it: were
		 * the next line sent now, it could meet that close and be
		 * lost. The next lines go over a new connection.
		 */
		if (vmactl_is_error(resp) && json_is_object(resp) &&
		    json_is_null(json_object_get(resp, "id"))) {
			ret = vmactl_reconnect(vc);
			if (ret) {
				json_decref(resp);
				goto out;
			}
		}
		json_decref(resp);
	}
	ret = status;
out:
	free(line);
	return ret;
}

static const struct vmactl_cmd *vmactl_find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NR_CMDS; i++)
		if (!strcmp(vmactl_cmds[i].name, name))
			return &vmactl_cmds[i];
	return NULL;
}

/* "space" "create" -> "space create"; returns the words used (1 or 2). */
static int vmactl_cmd_name(int argc, char **argv, char *name, size_t len)
{
	if (!strcmp(argv[0], "space") && argc >= 2 && argv[1][0] != '-') {
		snprintf(name, len, "space %s", argv[1]);
		return 2;
	}
	snprintf(name, len, "%s", argv[0]);
	return 1;
}

/*
 * @next: the word after @name, or NULL: "spce create" is "space create"
 * mistyped when "spce" alone is close to no command.
 */
static int vmactl_unknown_cmd(const char *name, const char *next)
{
	const char *guess = vmactl_suggest_cmd(name);
	char two[64];

	if (!guess && next && next[0] != '-' && !strchr(name, ' ')) {
		snprintf(two, sizeof(two), "%s %s", name, next);
		guess = vmactl_suggest_cmd(two);
		if (guess)
			name = two;
	}

	if (guess)
		vmactl_usage_error(NULL,
				   "unknown command '%s'; did you mean '%s'?",
				   name, guess);
	else
		vmactl_usage_error(NULL, "unknown command '%s'", name);
	return VMC_EXIT_USAGE;
}

/* vmactl help [COMMAND] */
static int vmactl_help(int argc, char **argv)
{
	const struct vmactl_cmd *cmd;
	char name[64];

	if (argc == 0) {
		vmactl_help_all(stdout);
		return 0;
	}
	if (!strcmp(argv[0], "call") || !strcmp(argv[0], "-") ||
	    !strcmp(argv[0], "help")) {
		vmactl_help_all(stdout);
		return 0;
	}
	vmactl_cmd_name(argc, argv, name, sizeof(name));
	cmd = vmactl_find_cmd(name);
	if (!cmd)
		return vmactl_unknown_cmd(name, argc > 1 ? argv[1] : NULL);
	vmactl_help_cmd(stdout, cmd);
	return 0;
}

/*
 * "unknown option '--sockt'; did you mean '--socket'?" for an option
 * before the command (@opts: the global options; @arg: what was typed).
 */
static void vmactl_unknown_global(const struct option *opts, const char *arg)
{
	const char *eq = strchr(arg, '=');
	int len = eq ? (int)(eq - arg) : (int)strlen(arg);
	struct rpc_suggest s;
	char typed[RPC_SUGGEST_MAX];

	if (strncmp(arg, "--", 2) || len < 3) {
		vmactl_usage_error(NULL, "unknown option '%.*s'", len, arg);
		return;
	}
	snprintf(typed, sizeof(typed), "%.*s", len - 2, arg + 2);
	rpc_suggest_init(&s, typed);
	for (; opts->name; opts++)
		rpc_suggest_consider(&s, opts->name);
	if (rpc_suggest_best(&s))
		vmactl_usage_error(NULL,
				   "unknown option '%.*s'; did you mean "
				   "'--%s'?",
				   len, arg, rpc_suggest_best(&s));
	else
		vmactl_usage_error(NULL, "unknown option '%.*s'", len, arg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"server-uid", required_argument, NULL, 'U'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct vmactl vc = {.guard_gap = -1};
	const struct vmactl_cmd *cmd;
	const char *sock = NULL, *config = NULL;
	char name[64];
	int c, ret, used;

	vc.conn.fd = -1;
	opterr = 0;
	/* '+': stop at the subcommand; its options are parsed per command. */
	while ((c = getopt_long(argc, argv, "+:s:c:jhV", opts, NULL)) != -1) {
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
		case 'U':
			if (vmc_trust_server_uid(optarg)) {
				vmactl_usage_error(
					NULL, "--server-uid: invalid uid '%s'",
					optarg);
				return VMC_EXIT_USAGE;
			}
			break;
		case 'h':
			vmactl_help_all(stdout);
			return 0;
		case 'V':
			printf("vmactl %s\n", VMAD_VERSION);
			return 0;
		case ':':
			vmactl_usage_error(NULL, "%s needs a value",
					   argv[optind - 1]);
			return VMC_EXIT_USAGE;
		default:
			vmactl_unknown_global(opts, argv[optind - 1]);
			return VMC_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		vmactl_usage_error(NULL, "missing command");
		return VMC_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(argv[0], "help"))
		return vmactl_help(argc - 1, argv + 1);
	ret = vmc_socket_path(sock, config, vc.socket, sizeof(vc.socket));
	if (ret) {
		fprintf(stderr,
			"vmactl: cannot determine the socket path: %s\n",
			strerror(-ret));
		return VMC_EXIT_USAGE;
	}
	if (!strcmp(argv[0], "-")) {
		ret = vmactl_stdin(&vc);
		goto out;
	}
	if (!strcmp(argv[0], "call")) {
		ret = vmactl_call(&vc, argc - 1, argv + 1);
		goto out;
	}
	used = vmactl_cmd_name(argc, argv, name, sizeof(name));
	cmd = vmactl_find_cmd(name);
	if (!cmd) {
		ret = vmactl_unknown_cmd(name, argc > 1 ? argv[1] : NULL);
		goto out;
	}
	ret = vmactl_run_cmd(&vc, cmd, argc - used, argv + used);
out:
	if (vc.connected)
		vmc_close(&vc.conn);
	fflush(stdout);
	return ret;
}
