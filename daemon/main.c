// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmad's command line.
 *
 * Order of configuration: the table's defaults, then the file named by
 * --config (if any; without it vmad runs on the embedded defaults), then
 * the command line, where every option of the table is also "--name
 * value" (dashes or underscores, or --name=value). The socket path follows
 * PROTOCOL.md, Transport: --socket, then $VMAD_SOCKET, then the file, then the
 * default of rpc_default_socket_path().
 *
 * Exit status: 0 after a clean shutdown (or --help, --version,
 * --dump-config); 1 if the server cannot start (for example another vmad
 * listens on the socket); 64 (EX_USAGE) for a bad command line; 78
 * (EX_CONFIG) for a bad configuration, reported as FILE:LINE: reason.
 */
#include "vmad.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rpc/defaults.h"
#include "rpc/suggest.h"

#define EX_USAGE_  64
#define EX_CONFIG_ 78

static void usage(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    vmad - virtual-memory-area simulator daemon\n"
		"\n"
		"SYNOPSIS\n"
		"    vmad [--config FILE] [--socket PATH] [--daemon] "
		"[--OPTION VALUE...]\n"
		"    vmad --dump-config [OPTIONS]\n"
		"\n"
		"DESCRIPTION\n"
		"    vmad serves simulated Linux x86-64 address spaces over "
		"JSON-RPC 2.0\n"
		"    on a Unix stream socket, one JSON value per line "
		"(protocol/PROTOCOL.md).\n"
		"    Clients: vmactl(1), vma-replay(1), vma-bench(1).\n"
		"\n"
		"    The configuration is the built-in defaults, then the file "
		"named by\n"
		"    --config (without it, none is read), then the command "
		"line.\n"
		"\n"
		"OPTIONS\n"
		"    -h, --help                 show this help and exit\n"
		"    -V, --version              show the version and exit\n"
		"    -c, --config FILE          read options from FILE "
		"(\"name value\" lines)\n"
		"    -s, --socket PATH          listen on PATH\n"
		"    -w, --workers N            worker threads (0 = one per "
		"CPU)\n"
		"    -f, --foreground           stay in the foreground (the "
		"default)\n"
		"    -d, --daemon               fork to the background, "
		"setsid, write --pidfile;\n"
		"                               log to --log-file, else to "
		"syslog\n"
		"    -p, --pidfile FILE         write the pid to FILE\n"
		"    -l, --log-level LEVEL      error, warn, info, verbose, "
		"debug\n"
		"        --dump-config          print the effective "
		"configuration and exit\n"
		"\n"
		"    Every option of the configuration file is also accepted "
		"as --name VALUE\n"
		"    (dashes or underscores, or --name=VALUE):\n");
	vmad_config_usage(f);
	fprintf(f,
		"\n"
		"SIGNALS\n"
		"    SIGTERM, SIGINT  Stop accepting, finish the requests in "
		"flight, remove\n"
		"                     the socket and the pidfile, exit 0.\n"
		"    SIGHUP           (systemctl reload) Re-read --config and "
		"the command\n"
		"                     line, apply the options marked "
		"\"reloadable\", log each\n"
		"                     change, warn about changed options that "
		"need a restart\n"
		"                     (their value is kept), reopen the log.\n"
		"\n"
		"FILES\n"
		"    The socket path: --socket, else $VMAD_SOCKET, else the "
		"config file,\n"
		"    else $XDG_RUNTIME_DIR/vmad.sock, else "
		"/tmp/vmad-$UID/vmad.sock (a\n"
		"    directory of its own, 0700, refused unless it is ours). "
		"Beside it,\n"
		"    SOCKET.lock (one daemon per socket).\n"
		"\n"
		"EXIT STATUS\n"
		"    0    Clean shutdown, --help, --version, --dump-config.\n"
		"    1    The server cannot start (another vmad on the "
		"socket...).\n"
		"    64   Bad command line (EX_USAGE). A mistyped option "
		"names the closest\n"
		"         one: unknown option '--apendonly'; did you mean "
		"'--appendonly'?\n"
		"    78   Bad configuration, as FILE:LINE: reason "
		"(EX_CONFIG); an unknown\n"
		"         option names the closest one, as above.\n"
		"\n"
		"ENVIRONMENT\n"
		"    VMAD_SOCKET       Socket path when --socket is not "
		"given.\n"
		"    XDG_RUNTIME_DIR   Directory of the default socket.\n"
		"\n"
		"EXAMPLES\n"
		"    vmad                                  # foreground, "
		"default socket\n"
		"    vmad --daemon --pidfile vmad.pid --log-file vmad.log\n"
		"    vmad --config /etc/vmad/vmad.conf --dump-config\n");
}

/* Short options and flags that are not config rows. */
static const char *alias(const char *arg)
{
	static const struct {
		const char *from, *to;
	} map[] = {
		{"-s", "socket"},    {"-w", "workers"}, {"-p", "pidfile"},
		{"-l", "log_level"}, {"-c", "config"},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(arg, map[i].from))
			return map[i].to;
	if (!strncmp(arg, "--", 2))
		return arg + 2;
	return NULL;
}

/* The directory vmad was started in: relative paths are relative to it,
 * also when a detached daemon (in "/") re-reads its configuration. */
static char start_cwd[PATH_MAX];

/* Turn a relative path into an absolute one. */
static void make_absolute(char *path, size_t len)
{
	char tmp[VMAD_PATH_MAX];

	if (!path[0] || path[0] == '/' || !start_cwd[0])
		return;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", start_cwd, path) < len)
		strcpy(path, tmp);
}

/*
 * Fork to the background. The parent waits until the child listens (a
 * byte on the pipe) or fails (EOF), prints the socket path and exits.
 */
static int daemonize(struct vmad_server *srv)
{
	int pfd[2], devnull;
	pid_t pid;
	char c;

	if (pipe(pfd) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pfd[1]);
		if (read(pfd[0], &c, 1) == 1) {
			printf("vmad listening on %s (pid %d), logging to %s\n",
			       srv->sock_path, (int)pid,
			       srv->cfg.syslog ? "syslog" : srv->cfg.log_file);
			exit(0);
		}
		fprintf(stderr, "vmad: the daemon failed to start\n");
		exit(1);
	}
	close(pfd[0]);
	setsid();
	if (chdir("/") < 0) {
		/* Stay where we are. */
	}
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	/* stderr stays the caller's until we listen (vmad_log_ready()). */
	vmad_log_tee_stderr();
	srv->ready_fd = pfd[1];
	return 0;
}

/* Flags of the command line that are not rows of the option table. */
static bool is_flag(const char *a)
{
	return !strcmp(a, "-f") || !strcmp(a, "--foreground") ||
	       !strcmp(a, "-d") || !strcmp(a, "--daemon") ||
	       !strcmp(a, "--dump-config");
}

/*
 * "unknown option '--apendonly'; did you mean '--appendonly'?": @a is the
 * argument as typed (its first @alen bytes are the option), @name the
 * option's name without dashes. The candidates are the option table's
 * rows and the flags that are not rows, spelt with dashes.
 */
static void unknown_option(const char *a, int alen, const char *name, char *err,
			   size_t len)
{
	static const char *const flags[] = {
		"config",      "foreground", "daemon",
		"dump_config", "help",	     "version",
	};
	const char *guess = NULL;
	char shown[RPC_SUGGEST_MAX];
	size_t i;

	if (!strncmp(a, "--", 2)) {
		struct rpc_suggest s;

		rpc_suggest_init(&s, name);
		vmad_config_suggest(&s);
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			rpc_suggest_consider(&s, flags[i]);
		guess = rpc_suggest_best(&s);
	}
	if (!guess) {
		snprintf(err, len, "unknown option '%.*s'", alen, a);
		return;
	}
	for (i = 0; guess[i] && i + 1 < sizeof(shown); i++)
		shown[i] = guess[i] == '_' ? '-' : guess[i];
	shown[i] = '\0';
	snprintf(err, len, "unknown option '%.*s'; did you mean '--%s'?", alen,
		 a, shown);
}

int vmad_configure(struct vmad_config *cfg, const char *config, int argc,
		   char **argv, bool *dump, char *err, size_t len)
{
	char why[256];
	int i, ret;

	vmad_config_defaults(cfg);
	if (config) {
		ret = vmad_config_load(cfg, config, err, len);
		if (ret)
			return EX_CONFIG_;
	}
	/* The command line overrides the file. */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *value;
		char namebuf[64];
		const char *eq;

		if (is_flag(a)) {
			if (!strcmp(a, "--dump-config")) {
				if (dump)
					*dump = true;
			} else {
				cfg->daemonize = !strcmp(a, "-d") ||
						 !strcmp(a, "--daemon");
			}
			continue;
		}
		name = alias(a);
		if (!name || !*name) {
			snprintf(err, len, "unexpected argument '%s'", a);
			return EX_USAGE_;
		}
		eq = strchr(name, '=');
		if (eq) {
			snprintf(namebuf, sizeof(namebuf), "%.*s",
				 (int)(eq - name), name);
			name = namebuf;
		}
		if (strcmp(name, "config") && !vmad_config_known(name)) {
			unknown_option(a, eq ? (int)(eq - a) : (int)strlen(a),
				       name, err, len);
			return EX_USAGE_;
		}
		if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			snprintf(err, len, "%s needs a value", a);
			return EX_USAGE_;
		}
		if (!strcmp(name, "config"))
			continue; /* read before the file */
		ret = vmad_config_set(cfg, name, value, VMAD_CFG_CLI, why,
				      sizeof(why));
		if (ret) {
			/* why starts with the option's name: say it once. */
			const char *reason = strstr(why, ": ");

			snprintf(err, len, "%.*s: %s",
				 eq ? (int)(eq - a) : (int)strlen(a), a,
				 reason ? reason + 2 : why);
			return EX_USAGE_;
		}
	}
	if (vmad_config_check(cfg, why, sizeof(why))) {
		snprintf(err, len, "%s%s%s", config ? config : "",
			 config ? ": " : "", why);
		return EX_CONFIG_;
	}
	make_absolute(cfg->pidfile, sizeof(cfg->pidfile));
	make_absolute(cfg->log_file, sizeof(cfg->log_file));
	make_absolute(cfg->state_dir, sizeof(cfg->state_dir));
	vmad_config_log_default(cfg);
	return 0;
}

int main(int argc, char **argv)
{
	static struct vmad_server srv; /* large: keep it off the stack */
	static char config_abs[VMAD_PATH_MAX];
	const char *config = NULL;
	bool dump = false;
	char err[512];
	int i, ret;

	srv.ready_fd = -1;
	srv.lock_fd = -1;
	srv.pid_fd = -1;
	if (!getcwd(start_cwd, sizeof(start_cwd)))
		start_cwd[0] = '\0';
	/* Pass 1: --help, --version and where the config file is. */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("vmad %s\n", VMAD_VERSION);
			return 0;
		}
		if ((!strcmp(a, "-c") || !strcmp(a, "--config")) &&
		    i + 1 < argc)
			config = argv[++i];
		else if (!strncmp(a, "--config=", 9))
			config = a + 9;
	}
	/* Pass 2: the defaults, the file, the command line. */
	ret = vmad_configure(&srv.cfg, config, argc, argv, &dump, err,
			     sizeof(err));
	if (ret) {
		fprintf(stderr, "vmad: %s\n%s", err,
			ret == EX_USAGE_ ? "Try 'vmad --help'.\n" : "");
		return ret;
	}
	if (config) {
		snprintf(config_abs, sizeof(config_abs), "%s", config);
		make_absolute(config_abs, sizeof(config_abs));
		srv.config_path = config_abs;
	}
	srv.argc = argc;
	srv.argv = argv;
	ret = rpc_socket_path(
		vmad_config_origin_of("socket") == VMAD_CFG_CLI ? srv.cfg.socket
								: NULL,
		srv.cfg.socket, srv.sock_path, sizeof(srv.sock_path));
	if (ret) {
		fprintf(stderr, "vmad: socket path too long\n");
		return EX_CONFIG_;
	}
	if (dump) {
		snprintf(srv.cfg.socket, sizeof(srv.cfg.socket), "%s",
			 srv.sock_path);
		vmad_config_dump(&srv.cfg, stdout);
		return 0;
	}
	ret = vmad_private_dir(srv.sock_path, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "vmad: cannot start: %s\n", err);
		return 1;
	}
	ret = vmad_log_open(&srv.cfg);
	if (ret) {
		fprintf(stderr, "vmad: cannot open log file %s: %s\n",
			srv.cfg.log_file, strerror(-ret));
		return EX_CONFIG_;
	}
	signal(SIGPIPE, SIG_IGN);
	if (srv.cfg.daemonize) {
		make_absolute(srv.sock_path, sizeof(srv.sock_path));
		ret = daemonize(&srv);
		if (ret) {
			fprintf(stderr, "vmad: cannot daemonize: %s\n",
				strerror(-ret));
			return 1;
		}
	}
	/* It writes the pidfile once the socket is bound, and removes it. */
	ret = vmad_server_run(&srv);
	if (ret) {
		fprintf(stderr, "vmad: cannot start: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}
