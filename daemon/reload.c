// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: SIGHUP: reload the configuration.
 *
 * `systemctl reload vmad` (or kill -HUP) makes the main thread build the
 * configuration again exactly as at start-up (vmad_configure(): the
 * defaults, the file named by --config, then the command line, which
 * still wins), compare it option by option with the running one, and:
 *
 *   - apply each changed option of vmad_reloadable[] and log
 *     "reload: NAME: OLD -> NEW" at info level;
 *   - log each changed option that is not in that list with a warning
 *     that it needs a restart, and keep its running value;
 *   - reopen the log (for logrotate), in any case.
 *
 * A configuration that does not load (a syntax error, an unknown option,
 * inconsistent values) is logged with its file, line and reason, and
 * nothing changes. The changes are logged before they are applied, so
 * that a reload lowering log_level or moving log_file still records them
 * in the log that was in use.
 *
 * Why these options and not the others: each reloadable option is one
 * word that its readers read afresh at each use (a new connection, a
 * request, a space.create, the next blocked write, the next shutdown),
 * stored with one relaxed atomic store by vmad_config_copy(), so a worker
 * reading it meanwhile sees the old or the new value and either is valid.
 * The socket and its mode, the pidfile and daemonize name resources the
 * daemon opened at start; workers and job_threads size thread pools that
 * are started once. Options added to the table later are not reloadable
 * until they are listed here.
 */
#include "vmad.h"

#include <string.h>

/* The options SIGHUP applies to the running daemon. */
static const char *const vmad_reloadable[] = {
	"log_level",
	"log_file",
	"syslog",
	"max_connections",
	"max_message",
	"max_batch",
	"max_spaces_per_uid",
	"default_max_map_count",
	"max_map_count_limit",
	"tree_in_place",
	"zero_page",
	"output_high_water",
	"output_low_water",
	"output_timeout",
	"shutdown_timeout",
	/* Issue 19's limits: read at each use too. */
	"superuser_reserved_connections",
	"max_connections_per_uid",
	"max_spaces",
	"max_memory", /* and libvma's limit, by vmad_memory_apply() */
	"client_output_buffer_limit_hard",
	"client_output_buffer_limit_soft",
	"client_output_buffer_limit_soft_seconds",
	"timeout",
	"request_timeout",
};

bool vmad_config_reloadable(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(vmad_reloadable) / sizeof(vmad_reloadable[0]);
	     i++)
		if (!strcmp(vmad_reloadable[i], name))
			return true;
	return false;
}

void vmad_reload(struct vmad_server *srv)
{
	/* Large: static, and only the main thread reloads. */
	static struct vmad_config next;
	char err[512], was[VMAD_PATH_MAX + 8], now[VMAD_PATH_MAX + 8];
	const char *name;
	unsigned nr_changed = 0, nr_kept = 0;
	size_t i;
	int ret;

	ret = vmad_configure(&next, srv->config_path, srv->argc, srv->argv,
			     NULL, err, sizeof(err));
	if (ret) {
		vmad_log(VMAD_LOG_ERROR,
			 "reload: %s; the configuration is unchanged", err);
		if (vmad_log_open(&srv->cfg))
			vmad_log(VMAD_LOG_ERROR,
				 "reload: cannot open log file %s",
				 srv->cfg.log_file);
		return;
	}
	/* What start-up settled (fitted limits, max_memory 0) stays so. */
	vmad_limits_settle(srv, &next);
	vmad_memory_settle(srv, &next);
	for (i = 0; (name = vmad_config_name(i)); i++) {
		vmad_config_format(&srv->cfg, name, was, sizeof(was));
		vmad_config_format(&next, name, now, sizeof(now));
		if (!strcmp(was, now))
			continue;
		if (!vmad_config_reloadable(name)) {
			vmad_log(VMAD_LOG_WARN,
				 "reload: %s: %s -> %s needs a restart; "
				 "keeping %s",
				 name, was, now, was);
			nr_kept++;
			continue;
		}
		vmad_log(VMAD_LOG_INFO, "reload: %s: %s -> %s", name, was, now);
		vmad_config_copy(&srv->cfg, &next, name);
		nr_changed++;
	}
	vmad_memory_apply(srv);
	if (vmad_log_open(&srv->cfg))
		vmad_log(VMAD_LOG_ERROR, "reload: cannot open log file %s",
			 srv->cfg.log_file);
	vmad_log(VMAD_LOG_INFO,
		 "reloaded%s%s: %u options changed, %u need a restart; logs "
		 "reopened",
		 srv->config_path ? " " : "",
		 srv->config_path ? srv->config_path : "", nr_changed, nr_kept);
}
