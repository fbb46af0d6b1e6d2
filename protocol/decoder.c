// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Framing of a JSON byte stream.
 *
 * vmad reads a stream of JSON values: newline-delimited (the canonical
 * form), or back to back with no separator at all. The decoder finds where
 * each value ends with a small state machine that knows only what framing
 * needs: whitespace between values, strings and their escapes (a bracket
 * inside a string does not count), and the nesting of arrays and objects.
 * Everything else (is it valid JSON? valid UTF-8?) is left to the parser,
 * which then sees exactly one value.
 *
 * The scan position is kept between calls, so every byte is looked at once
 * however the value is split across reads: linear, never quadratic on
 * partial frames. A value that grows beyond the maximum size is rejected
 * as soon as max + 1 bytes of it have arrived, before it is buffered
 * whole; one that nests deeper than RPC_MAX_DEPTH is rejected at the
 * bracket that crosses the limit. Both errors poison the decoder: the
 * stream cannot be resynchronised, the connection replies and closes.
 *
 * Values at the top level that are not arrays, objects or strings
 * (numbers, literals, garbage) end at the next whitespace or structural
 * character. A run of 19 or more digits outside strings is remembered so
 * that the parser can handle integers beyond the range of json_int_t.
 *
 *   buf: [consumed....|start ... scan ........ end|free ......]cap
 *                      `- current value    `- received bytes end
 */
#include "rpc/jsonrpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/defaults.h"

enum {
	ST_BETWEEN,   /* between values, skipping whitespace */
	ST_CONTAINER, /* inside an array or object, outside strings */
	ST_STRING,    /* inside a string */
	ST_ESCAPE,    /* after a backslash inside a string */
	ST_SCALAR,    /* inside a top-level number or literal */
	ST_ERROR,     /* poisoned */
};

#define RPC_DECODER_MIN	  4096
#define RPC_DECODER_CHUNK 65536

void rpc_decoder_init(struct rpc_decoder *dec, size_t max)
{
	memset(dec, 0, sizeof(*dec));
	dec->max = max ? max : RPC_DEFAULT_MAX_MSG;
	dec->state = ST_BETWEEN;
}

void rpc_decoder_fini(struct rpc_decoder *dec)
{
	free(dec->buf);
	dec->buf = NULL;
	dec->cap = dec->start = dec->scan = dec->end = 0;
}

/* Drop consumed bytes so that the current value starts at offset 0. */
static void rpc_decoder_compact(struct rpc_decoder *dec)
{
	if (!dec->start)
		return;
	memmove(dec->buf, dec->buf + dec->start, dec->end - dec->start);
	dec->scan -= dec->start;
	dec->end -= dec->start;
	dec->start = 0;
}

long rpc_decoder_space(struct rpc_decoder *dec, char **ptr)
{
	size_t limit = dec->max + 1; /* bytes of a value we may hold */
	size_t want, room;

	if (dec->state == ST_ERROR)
		return 0;
	rpc_decoder_compact(dec);
	if (dec->end >= limit && dec->state != ST_BETWEEN)
		return 0;
	/* Grow until there is a chunk of room, but not far beyond limit. */
	if (dec->cap - dec->end < RPC_DECODER_CHUNK / 4 &&
	    dec->cap < limit + RPC_DECODER_CHUNK) {
		size_t ncap = dec->cap ? dec->cap * 2 : RPC_DECODER_MIN;
		char *nbuf;

		while (ncap - dec->end < RPC_DECODER_CHUNK / 4)
			ncap *= 2;
		if (ncap > limit + RPC_DECODER_CHUNK)
			ncap = limit + RPC_DECODER_CHUNK;
		if (ncap > dec->cap) {
			nbuf = realloc(dec->buf, ncap);
			if (!nbuf)
				return -ENOMEM;
			dec->buf = nbuf;
			dec->cap = ncap;
		}
	}
	room = dec->cap - dec->end;
	/* Never hold more than limit bytes of one incomplete value. */
	want = dec->end < limit ? limit - dec->end : 0;
	if (dec->state == ST_BETWEEN)
		want = room; /* whitespace or whole values: no bound needed */
	if (room > want)
		room = want;
	if (room > RPC_DECODER_CHUNK)
		room = RPC_DECODER_CHUNK;
	*ptr = dec->buf + dec->end;
	return (long)room;
}

void rpc_decoder_commit(struct rpc_decoder *dec, size_t n)
{
	dec->end += n;
}

int rpc_decoder_feed(struct rpc_decoder *dec, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		char *dst;
		long room = rpc_decoder_space(dec, &dst);

		if (room < 0)
			return (int)room;
		if (room == 0)
			return -EMSGSIZE;
		if ((size_t)room > len)
			room = (long)len;
		memcpy(dst, p, (size_t)room);
		rpc_decoder_commit(dec, (size_t)room);
		p += room;
		len -= (size_t)room;
	}
	return 0;
}

size_t rpc_decoder_pending(const struct rpc_decoder *dec)
{
	return dec->state == ST_BETWEEN ? 0 : dec->end - dec->start;
}

void rpc_decoder_shrink(struct rpc_decoder *dec)
{
	if (dec->state != ST_BETWEEN || dec->scan != dec->end ||
	    dec->cap <= 2 * RPC_DECODER_CHUNK)
		return;
	rpc_decoder_fini(dec);
}

size_t rpc_decoder_memory(const struct rpc_decoder *dec)
{
	return dec->cap;
}

bool rpc_decoder_frame_has_big_int(const struct rpc_decoder *dec)
{
	return dec->frame_big;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool ends_scalar(char c)
{
	return is_ws(c) || c == '{' || c == '[' || c == '"' || c == '}' ||
	       c == ']' || c == ',' || c == ':';
}

static int rpc_decoder_fail(struct rpc_decoder *dec, struct rpc_error *err,
			    int ret, int code, const char *msg)
{
	dec->state = ST_ERROR;
	err->code = code;
	err->offset = dec->scan - dec->start;
	err->err = 0;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	return ret;
}

/* Return the value [start, end) and move past it. */
static int rpc_decoder_emit(struct rpc_decoder *dec, size_t end,
			    const char **frame, size_t *len,
			    struct rpc_error *err)
{
	if (end - dec->start > dec->max)
		return rpc_decoder_fail(dec, err, -EMSGSIZE,
					RPC_INVALID_REQUEST,
					"message too large");
	*frame = dec->buf + dec->start;
	*len = end - dec->start;
	dec->frame_big = dec->big_int;
	dec->big_int = false;
	dec->digits = 0;
	dec->start = end;
	dec->scan = end;
	dec->state = ST_BETWEEN;
	return 1;
}

static void count_digit(struct rpc_decoder *dec, char c)
{
	if (c >= '0' && c <= '9') {
		if (++dec->digits >= 19)
			dec->big_int = true;
	} else {
		dec->digits = 0;
	}
}

int rpc_decoder_next(struct rpc_decoder *dec, const char **frame, size_t *len,
		     struct rpc_error *err)
{
	const char *buf = dec->buf;

	if (dec->state == ST_ERROR)
		return rpc_decoder_fail(dec, err, -EPROTO, RPC_PARSE_ERROR,
					"stream already failed");
	while (dec->scan < dec->end) {
		char c = buf[dec->scan];

		switch (dec->state) {
		case ST_BETWEEN:
			if (is_ws(c)) {
				dec->scan++;
				dec->start = dec->scan;
				break;
			}
			dec->start = dec->scan;
			dec->scan++;
			if (c == '{' || c == '[') {
				dec->depth = 1;
				dec->state = ST_CONTAINER;
			} else if (c == '"') {
				dec->depth = 0;
				dec->state = ST_STRING;
			} else if (c == '}' || c == ']' || c == ',' ||
				   c == ':') {
				/* Stray structural byte: a value of its own. */
				return rpc_decoder_emit(dec, dec->scan, frame,
							len, err);
			} else {
				dec->state = ST_SCALAR;
				count_digit(dec, c);
			}
			break;
		case ST_CONTAINER:
		case ST_STRING:
		case ST_ESCAPE: {
			/*
			 * The hot loop: containers, strings and escapes with
			 * the state in locals, never past the size limit (so
			 * that the check below fires at the same byte as a
			 * byte-by-byte scan would).
			 */
			const char *p = buf + dec->scan;
			const char *stop = buf + dec->end;
			unsigned st = dec->state, depth = dec->depth;
			unsigned digits = dec->digits;
			bool big = dec->big_int;
			int ret = 0;

			if ((size_t)(stop - p) >
			    dec->start + dec->max + 1 - dec->scan)
				stop = buf + dec->start + dec->max + 1;
			while (p < stop) {
				unsigned char b = (unsigned char)*p++;

				if (st == ST_STRING) {
					if (b == '\\') {
						st = ST_ESCAPE;
					} else if (b == '"') {
						digits = 0;
						if (!depth) {
							ret = 1;
							break;
						}
						st = ST_CONTAINER;
					}
					continue;
				}
				if (st == ST_ESCAPE) {
					st = ST_STRING;
					continue;
				}
				if (b >= '0' && b <= '9') {
					if (++digits >= 19)
						big = true;
					continue;
				}
				digits = 0;
				if (b == '"') {
					st = ST_STRING;
				} else if (b == '{' || b == '[') {
					if (++depth > RPC_MAX_DEPTH) {
						ret = -ELOOP;
						break;
					}
				} else if (b == '}' || b == ']') {
					if (--depth == 0) {
						ret = 1;
						break;
					}
				}
			}
			dec->scan = (size_t)(p - buf);
			dec->state = st;
			dec->depth = depth;
			dec->digits = digits;
			dec->big_int = big;
			if (ret == 1)
				return rpc_decoder_emit(dec, dec->scan, frame,
							len, err);
			if (ret < 0)
				return rpc_decoder_fail(
					dec, err, -ELOOP, RPC_PARSE_ERROR,
					"value nested too deeply");
			break;
		}
		case ST_SCALAR:
			if (ends_scalar(c))
				return rpc_decoder_emit(dec, dec->scan, frame,
							len, err);
			dec->scan++;
			count_digit(dec, c);
			break;
		}
		if (dec->state != ST_BETWEEN &&
		    dec->scan - dec->start > dec->max)
			return rpc_decoder_fail(dec, err, -EMSGSIZE,
						RPC_INVALID_REQUEST,
						"message too large");
	}
	return 0;
}
