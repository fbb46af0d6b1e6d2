// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Logging.
 *
 * vmad_log() checks the level before evaluating its arguments (a macro);
 * vmad_log_write() formats one line with a timestamp and the level and
 * writes it with a single write(2), so lines from different threads do not
 * interleave. The destination is stderr, a log file (reopened on SIGHUP by
 * vmad_log_open()) or syslog. The level and the destination are process
 * state set during start-up or by the main thread; workers only read them.
 *
 * A daemon that detaches (--daemon) logs to its log_file, or to syslog
 * when it has none: its stderr is the caller's terminal only until it
 * listens. Until then every line is also written to stderr
 * (vmad_log_tee_stderr()), so that a start-up failure is seen where the
 * daemon was started; vmad_log_ready() then points stderr at /dev/null.
 *
 * Lines a client can trigger again and again go through
 * vmad_log_ratelimited(): a burst per interval per call site, then a
 * count of what was dropped, so that a flood of errors cannot fill the
 * disk or cost the CPU it takes to format them.
 */
#include "vmad.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int vmad_log_level = VMAD_LOG_INFO;
static int vmad_log_fd = STDERR_FILENO;
static bool vmad_log_syslog;
static bool vmad_log_tee; /* also to stderr until the daemon listens */

static const char *const level_tag[] = {"error", "warn", "info", "verbose",
					"debug"};

int vmad_log_open(const struct vmad_config *cfg)
{
	int fd = -1;

	/* Workers read these words racily: each sees the old or the new. */
	__atomic_store_n(&vmad_log_level, (int)cfg->log_level,
			 __ATOMIC_RELAXED);
	if (cfg->syslog) {
		if (!vmad_log_syslog)
			openlog("vmad", LOG_PID, LOG_DAEMON);
		__atomic_store_n(&vmad_log_syslog, true, __ATOMIC_RELAXED);
		return 0;
	}
	if (cfg->log_file[0]) {
		fd = open(cfg->log_file,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return -errno;
	}
	if (vmad_log_syslog) {
		__atomic_store_n(&vmad_log_syslog, false, __ATOMIC_RELAXED);
		closelog();
	}
	if (fd < 0) {
		/* Keep the descriptor's number: workers may be using it. */
		if (vmad_log_fd != STDERR_FILENO)
			dup2(STDERR_FILENO, vmad_log_fd);
		return 0;
	}
	if (vmad_log_fd != STDERR_FILENO) {
		/* Atomically replace the old descriptor. */
		dup2(fd, vmad_log_fd);
		close(fd);
	} else {
		__atomic_store_n(&vmad_log_fd, fd, __ATOMIC_RELAXED);
	}
	return 0;
}

void vmad_log_write(int level, const char *fmt, ...)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_INFO,
				   LOG_DEBUG};
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (level < 0)
		level = 0;
	if (level > VMAD_LOG_DEBUG)
		level = VMAD_LOG_DEBUG;
	if (vmad_log_syslog) {
		va_start(ap, fmt);
		vsyslog(prio[level], fmt, ap);
		va_end(ap);
		if (!vmad_log_tee)
			return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n,
		      ".%03ld vmad[%d] %s: ", ts.tv_nsec / 1000000,
		      (int)getpid(), level_tag[level]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (!vmad_log_syslog && write(vmad_log_fd, line, (size_t)n) < 0) {
		/* Nowhere left to report it. */
	}
	if (vmad_log_tee && (vmad_log_syslog || vmad_log_fd != STDERR_FILENO) &&
	    write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* The caller's terminal went away. */
	}
}

void vmad_log_tee_stderr(void)
{
	vmad_log_tee = true;
}

void vmad_log_ready(void)
{
	int fd;

	if (!vmad_log_tee)
		return;
	vmad_log_tee = false;
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

void vmad_log_signal_safe(const char *msg)
{
	if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
		/* Nothing to do in a signal handler. */
	}
}

static pthread_mutex_t ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

bool vmad_ratelimit_ok(struct vmad_ratelimit *rl, unsigned long *lost)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	pthread_mutex_lock(&ratelimit_lock);
	if (!rl->window || ts.tv_sec - rl->window >= VMAD_RATELIMIT_INTERVAL) {
		rl->window = ts.tv_sec ? ts.tv_sec : 1;
		rl->printed = 0;
	}
	ok = rl->printed < VMAD_RATELIMIT_BURST;
	*lost = 0;
	if (ok) {
		rl->printed++;
		*lost = rl->lost;
		rl->lost = 0;
	} else {
		rl->lost++;
	}
	pthread_mutex_unlock(&ratelimit_lock);
	return ok;
}
