/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * replay_trace.h - vma-replay's report of a recorded trace (--report) and
 * its pipelined mode (--pipeline); see replay_trace.c.
 *
 * Locking: vma-replay's main thread only (the pipelined sender is a
 * thread of replay_trace_run() that only writes the socket).
 */
#ifndef REPLAY_TRACE_H
#define REPLAY_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "vmc.h"

struct replay_trace_opts {
	bool pipeline; /* send everything before reading */
	bool quiet;    /* no line per mismatch */
};

/**
 * replay_match() - Is @exp a subset of @act (the scenario format of vma-replay(1))? On a
 * mismatch @path names where (vma-replay.c).
 */
bool replay_match(const json_t *exp, const json_t *act, char *path,
		  size_t plen);

/**
 * replay_trace_run() - Replay the requests of @text (the contents of
 * @file, modified in place) on @conn and judge each response.
 * @report: receives the file's report (new), also on failure when some
 *          requests ran.
 * Return: 0 when every request got a response; -1 when the file is
 *         malformed or the daemon stopped answering (printed).
 */
int replay_trace_run(const char *file, char *text, struct vmc_conn *conn,
		     const struct replay_trace_opts *o, json_t **report);

/**
 * replay_trace_print() - Print a report for people on standard output.
 */
void replay_trace_print(const json_t *report);

#endif /* REPLAY_TRACE_H */
