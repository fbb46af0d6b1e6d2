// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vmad's command line.
 *
 * Order of configuration: the table's defaults, then the file named by
 * --config (if any; without it vmad runs on the embedded defaults), then
 * the command line, where every option of the table is also "--name
 * value" (dashes or underscores, or --name=value). The socket path follows
 * CONTRACT §1: --socket, then $VMAD_SOCKET, then the file, then the
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

#define EX_USAGE_  64
#define EX_CONFIG_ 78

static void usage(FILE *f)
{
	fprintf(f, "usage: vmad [OPTIONS]\n"
		   "Serve simulated address spaces over JSON-RPC on a Unix "
		   "socket.\n\n"
		   "  -h, --help                 show this help and exit\n"
		   "  -V, --version              show the version and exit\n"
		   "  -c, --config FILE          read options from FILE "
		   "(\"name value\" lines)\n"
		   "  -s, --socket PATH          listen on PATH\n"
		   "  -w, --workers N            worker threads (0 = one per "
		   "CPU)\n"
		   "  -f, --foreground           stay in the foreground (the "
		   "default)\n"
		   "  -d, --daemon               fork to the background, "
		   "setsid, write --pidfile\n"
		   "  -p, --pidfile FILE         write the pid to FILE\n"
		   "  -l, --log-level LEVEL      error, warn, info, verbose, "
		   "debug\n"
		   "      --dump-config          print the effective "
		   "configuration and exit\n\n"
		   "Every option of the configuration file is also accepted "
		   "as --name VALUE:\n");
	vmad_config_usage(f);
	fprintf(f, "\nSocket path: --socket, else $VMAD_SOCKET, else the "
		   "config file, else\n$XDG_RUNTIME_DIR/vmad.sock, else "
		   "/tmp/vmad-$UID.sock.\n");
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

/* Turn a relative path into an absolute one (before chdir). */
static void make_absolute(char *path, size_t len)
{
	char cwd[PATH_MAX], tmp[VMAD_PATH_MAX];

	if (!path[0] || path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path) < len)
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
			printf("vmad listening on %s (pid %d)\n",
			       srv->sock_path, (int)pid);
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
		if (srv->cfg.log_file[0] || srv->cfg.syslog)
			dup2(devnull, STDERR_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	srv->ready_fd = pfd[1];
	return 0;
}

int main(int argc, char **argv)
{
	static struct vmad_server srv; /* large: keep it off the stack */
	const char *config = NULL;
	bool dump = false;
	char err[512];
	int i, ret;

	srv.ready_fd = -1;
	srv.lock_fd = -1;
	srv.pid_fd = -1;
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
	vmad_config_defaults(&srv.cfg);
	if (config) {
		ret = vmad_config_load(&srv.cfg, config, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "vmad: %s\n", err);
			return EX_CONFIG_;
		}
	}
	/* Pass 2: the command line overrides the file. */
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *value;
		char namebuf[64];
		const char *eq;

		if (!strcmp(a, "-f") || !strcmp(a, "--foreground")) {
			srv.cfg.daemonize = false;
			continue;
		}
		if (!strcmp(a, "-d") || !strcmp(a, "--daemon")) {
			srv.cfg.daemonize = true;
			continue;
		}
		if (!strcmp(a, "--dump-config")) {
			dump = true;
			continue;
		}
		name = alias(a);
		if (!name || !*name) {
			fprintf(stderr,
				"vmad: unexpected argument \"%s\"\n"
				"Try 'vmad --help'.\n",
				a);
			return EX_USAGE_;
		}
		eq = strchr(name, '=');
		if (eq) {
			snprintf(namebuf, sizeof(namebuf), "%.*s",
				 (int)(eq - name), name);
			name = namebuf;
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			fprintf(stderr, "vmad: %s needs a value\n", a);
			return EX_USAGE_;
		}
		if (!strcmp(name, "config"))
			continue; /* pass 1 */
		ret = vmad_config_set(&srv.cfg, name, value, VMAD_CFG_CLI, err,
				      sizeof(err));
		if (ret) {
			fprintf(stderr, "vmad: %s: %s\nTry 'vmad --help'.\n", a,
				err);
			return EX_USAGE_;
		}
	}
	if (vmad_config_check(&srv.cfg, err, sizeof(err))) {
		fprintf(stderr, "vmad: %s%s%s\n", config ? config : "",
			config ? ": " : "", err);
		return EX_CONFIG_;
	}
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
	ret = vmad_log_open(&srv.cfg);
	if (ret) {
		fprintf(stderr, "vmad: cannot open log file %s: %s\n",
			srv.cfg.log_file, strerror(-ret));
		return EX_CONFIG_;
	}
	signal(SIGPIPE, SIG_IGN);
	if (srv.cfg.daemonize) {
		make_absolute(srv.sock_path, sizeof(srv.sock_path));
		make_absolute(srv.cfg.pidfile, sizeof(srv.cfg.pidfile));
		make_absolute(srv.cfg.log_file, sizeof(srv.cfg.log_file));
		ret = vmad_log_open(&srv.cfg);
		if (ret)
			return EX_CONFIG_;
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
