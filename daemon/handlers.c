// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Method handlers.
 *
 * vmad_handlers[] has one row per enum rpc_method: the handler and
 * whether the method may take long (it then runs on the job pool). The
 * codec has already checked every parameter's type and range; a handler
 * resolves the space (taking a reference), calls the model and writes the
 * result object. A failed model call becomes error -32000 with
 * data.errno; the dispatcher rolls back whatever the handler wrote.
 *
 * fault and lookup are RCU readers inside vas_fault()/vas_lookup() and
 * take no lock here: the registry lookup is lock-free and the reference
 * count is one atomic operation each way.
 */
#include "vmad.h"

#include "rpc/maps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu/uatomic.h>

typedef int (*vmad_handler_fn)(struct vmad_ctx *ctx,
			       const struct rpc_request *req,
			       struct rpc_buf *out, struct rpc_error *err);

enum {
	H_JOB = 1u << 0,       /* may take long: run on the job pool */
	H_JOB_SPACE = 1u << 1, /* only when a space is named */
	H_CHANGES = 1u << 2,   /* may change its space: journaled (persist.c) */
	H_GROWS = 1u << 3,     /* adds to a space: refused past max_memory */
	H_STREAM = 1u << 4,    /* streams from a snapshot: takes a slot */
};

struct vmad_handler {
	vmad_handler_fn fn;
	unsigned flags;
};

#define LIT(b, s) rpc_buf_put(b, s, sizeof(s) - 1)

static int get_space(struct vmad_ctx *ctx, const struct rpc_space_ref *ref,
		     struct vmad_space **sp, struct rpc_error *err)
{
	int ret = vmad_registry_lookup(ctx->srv, ref, ctx->uid, sp);

	if (ret == -ENOENT) {
		rpc_error_errno(err, ret);
		if (ref->by_name && ref->has_owner)
			snprintf(err->msg, sizeof(err->msg),
				 "no such space: '~%u/%s'",
				 (unsigned)ref->owner, ref->name);
		else if (ref->by_name)
			snprintf(err->msg, sizeof(err->msg),
				 "no such space: '%s'", ref->name);
		else
			snprintf(err->msg, sizeof(err->msg),
				 "no such space: %llu",
				 (unsigned long long)ref->id);
		return -EPROTO;
	}
	if (ret)
		return rpc_error_errno(err, ret);
	return 0;
}

/* "space": ID, "name": NAME | null (without the braces). */
static void put_space_members(struct rpc_buf *out, const struct vmad_space *sp)
{
	LIT(out, "\"space\":");
	rpc_buf_put_u64(out, sp->id);
	LIT(out, ",\"name\":");
	if (sp->name[0])
		rpc_buf_put_string(out, sp->name, strlen(sp->name));
	else
		LIT(out, "null");
}

static void put_space_result(struct rpc_buf *out, const struct vmad_space *sp)
{
	LIT(out, "{");
	put_space_members(out, sp);
	LIT(out, "}");
}

/* Which limit refused a new space (racy, for the message only). */
static void space_limit_msg(struct vmad_ctx *ctx, struct rpc_error *err)
{
	const struct vmad_config *cfg = &ctx->srv->cfg;

	if (uatomic_read(&ctx->srv->reg.nr_spaces) >= (long)cfg->max_spaces)
		snprintf(err->msg, sizeof(err->msg),
			 "the daemon holds the most spaces allowed (%u)",
			 cfg->max_spaces);
	else
		snprintf(err->msg, sizeof(err->msg),
			 "uid %u owns the most spaces allowed (%u)",
			 (unsigned)ctx->uid, cfg->max_spaces_per_uid);
}

/*
 * The layout of a new space from the params of space.create (or of
 * space.import): the daemon's defaults, then what the client gave.
 */
static int layout_from_params(struct vmad_ctx *ctx,
			      const struct rpc_create_params *p,
			      struct vas_layout *layout, struct rpc_error *err)
{
	const struct vmad_config *cfg = &ctx->srv->cfg;

	vas_layout_default(layout);
	layout->max_map_count = cfg->default_max_map_count;
	layout->tree_in_place = cfg->tree_in_place;
	layout->no_zero_page = !cfg->zero_page;
	if (p->task_size.present)
		layout->task_size = p->task_size.v;
	if (p->mmap_base.present)
		layout->mmap_base = p->mmap_base.v;
	else if (p->task_size.present && layout->mmap_base > layout->task_size)
		layout->mmap_base =
			layout->task_size; /* follow a smaller task */
	if (p->stack_guard_gap.present)
		layout->stack_guard_gap = p->stack_guard_gap.v;
	if (p->max_map_count.present) {
		if (p->max_map_count.v > cfg->max_map_count_limit)
			return rpc_error_set(
				err, RPC_INVALID_PARAMS,
				"'max_map_count' above the "
				"limit of %llu",
				(unsigned long long)cfg->max_map_count_limit);
		layout->max_map_count = p->max_map_count.v;
	}
	if (p->stack_rlimit.present)
		layout->stack_rlimit = p->stack_rlimit.v;
	if (p->brk_base.present)
		layout->brk_base = p->brk_base.v;
	if (p->memlock_rlimit.present)
		layout->memlock_rlimit = p->memlock_rlimit.v;
	layout->stack = p->stack;
	return 0;
}

/* Register @vas under @name for the caller; on failure @vas is freed. */
static int add_space(struct vmad_ctx *ctx, const char *name, struct vas *vas,
		     struct rpc_buf *out, struct rpc_error *err)
{
	struct vmad_space *sp;
	int ret = vmad_registry_add(ctx->srv, name, ctx->uid, vas, &sp);

	if (ret) {
		vas_free(vas);
		rpc_error_errno(err, ret);
		if (ret == -EEXIST)
			snprintf(err->msg, sizeof(err->msg),
				 "a space named '%s' exists", name);
		else if (ret == -EAGAIN)
			space_limit_msg(ctx, err);
		return -EPROTO;
	}
	put_space_result(out, sp);
	vmad_space_put(sp);
	return 0;
}

static int h_space_create(struct vmad_ctx *ctx, const struct rpc_request *req,
			  struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_create_params *p = &req->p.create;
	struct vas_layout layout;
	struct vas *vas;
	int ret;

	ret = layout_from_params(ctx, p, &layout, err);
	if (ret)
		return ret;
	ret = vas_new(&layout, &vas);
	if (ret)
		return rpc_error_errno(err, ret);
	return add_space(ctx, p->name, vas, out, err);
}

/*
 * space.import with "maps": a space holding the VMAs of the text exactly
 * (rpc_maps_parse(), rpc_maps_to_import(), vas_import()). start_brk and
 * brk default to the [heap] VMA's start and end (without a heap, to the
 * end of the last VMA below 2/3 of the task size, where the program and
 * its bss are: the kernel puts start_brk right above the bss),
 * start_stack to the last word of the [stack] VMA. "guards" (checked for
 * shape by the codec) become the guard markers of the new space.
 */
static int import_maps(struct vmad_ctx *ctx, const struct rpc_request *req,
		       struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_import_params *p = &req->p.import;
	struct vas_import_area *areas = NULL;
	struct vas_import_guard *guards = NULL;
	struct vas_import imp = {0};
	struct vas_layout layout;
	struct rpc_maps m;
	struct vas *vas;
	size_t i, bad;
	int ret;

	ret = layout_from_params(ctx, &p->create, &layout, err);
	if (ret)
		return ret;
	ret = rpc_maps_parse(p->maps.s, p->maps.len, &m, err);
	if (ret == -ENOMEM)
		return rpc_error_set(err, RPC_INTERNAL_ERROR, "out of memory");
	if (ret)
		return ret;
	if (!m.nr) {
		rpc_maps_fini(&m);
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'maps' holds no VMA");
	}
	areas = calloc(m.nr ? m.nr : 1, sizeof(*areas));
	if (!areas) {
		rpc_maps_fini(&m);
		return rpc_error_set(err, RPC_INTERNAL_ERROR, "out of memory");
	}
	rpc_maps_to_import(&m, areas);
	imp.areas = areas;
	imp.nr = m.nr;
	if (p->guards.nr) {
		guards = calloc(p->guards.nr, sizeof(*guards));
		if (!guards) {
			free(areas);
			rpc_maps_fini(&m);
			return rpc_error_set(err, RPC_INTERNAL_ERROR,
					     "out of memory");
		}
		rpc_ranges_copy(&p->guards, guards);
		imp.guards = guards;
		imp.nr_guards = p->guards.nr;
	}
	for (i = 0; i < m.nr; i++) {
		if (!strcmp(m.v[i].path, "[heap]") &&
		    !p->create.brk_base.present)
			layout.brk_base = m.v[i].start;
		if (!strcmp(m.v[i].path, "[heap]"))
			imp.brk = m.v[i].end;
		if (!strcmp(m.v[i].path, "[stack]"))
			imp.start_stack = m.v[i].end - 8;
	}
	if (!imp.brk && !p->create.brk_base.present) {
		/* No heap yet: right above the program (the VMAs below
		 * ELF_ET_DYN_BASE's region, 2/3 of the task size). */
		for (i = 0; i < m.nr; i++)
			if (m.v[i].start < layout.task_size / 3 * 2 &&
			    m.v[i].end <= layout.task_size)
				layout.brk_base = m.v[i].end;
	}
	if (!imp.brk)
		imp.brk = layout.brk_base;
	if (p->brk.present)
		imp.brk = p->brk.v;
	if (p->start_stack.present)
		imp.start_stack = p->start_stack.v;
	ret = vas_import(&layout, &imp, &vas, &bad);
	if (ret == -EINVAL && bad > m.nr && bad - m.nr - 1 < imp.nr_guards) {
		bad -= m.nr + 1;
		rpc_error_set(err, RPC_INVALID_PARAMS,
			      "'guards[%zu]' [%#llx, %#llx) not wholly inside "
			      "VMAs that can hold guard markers (not "
			      "VM_LOCKED, not special)",
			      bad, (unsigned long long)guards[bad].start,
			      (unsigned long long)guards[bad].end);
	} else if (ret == -EINVAL && bad < m.nr) {
		rpc_error_set(err, RPC_INVALID_PARAMS,
			      "'maps' line %u: VMA %#llx-%#llx outside the "
			      "space, or flags its kind cannot have",
			      m.v[bad].line, (unsigned long long)m.v[bad].start,
			      (unsigned long long)m.v[bad].end);
	} else if (ret == -EINVAL) {
		rpc_error_set(err, RPC_INVALID_PARAMS,
			      "bad layout: more VMAs than max_map_count, brk "
			      "outside [start_brk, task_size], or bad "
			      "task_size/mmap_base");
	} else if (ret) {
		rpc_error_errno(err, ret);
	}
	free(guards);
	free(areas);
	rpc_maps_fini(&m);
	if (ret)
		return -EPROTO;
	return add_space(ctx, p->create.name, vas, out, err);
}

static int h_space_destroy(struct vmad_ctx *ctx, const struct rpc_request *req,
			   struct rpc_buf *out, struct rpc_error *err)
{
	struct vmad_space *sp;
	int ret = get_space(ctx, &req->p.addr.space, &sp, err);

	if (ret)
		return ret;
	ret = vmad_registry_remove(ctx->srv, sp);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	LIT(out, "{}");
	return 0;
}

static int h_space_fork(struct vmad_ctx *ctx, const struct rpc_request *req,
			struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_fork_params *p = &req->p.fork;
	struct vmad_space *sp, *child;
	struct vas *vas;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	ret = vas_fork(sp->vas, &vas);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	ret = vmad_registry_add(ctx->srv, p->name, ctx->uid, vas, &child);
	if (ret) {
		vas_free(vas);
		rpc_error_errno(err, ret);
		if (ret == -EEXIST)
			snprintf(err->msg, sizeof(err->msg),
				 "a space named '%s' exists", p->name);
		else if (ret == -EAGAIN)
			space_limit_msg(ctx, err);
		return -EPROTO;
	}
	put_space_result(out, child);
	vmad_space_put(child);
	return 0;
}

static int h_space_list(struct vmad_ctx *ctx, const struct rpc_request *req,
			struct rpc_buf *out, struct rpc_error *err)
{
	LIT(out, "{\"spaces\":");
	vmad_registry_list(ctx->srv, ctx->uid, out);
	LIT(out, "}");
	return 0;
}

static void put_addr(struct rpc_buf *out, const char *key, uint64_t v)
{
	LIT(out, "{\"");
	rpc_buf_puts(out, key);
	LIT(out, "\":");
	rpc_buf_put_u64(out, v);
	LIT(out, "}");
}

static int h_mmap(struct vmad_ctx *ctx, const struct rpc_request *req,
		  struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_mmap_params *p = &req->p.mmap;
	struct vmad_space *sp;
	uint64_t addr;
	int ret = get_space(ctx, &p->space, &sp, err);
	struct vas_mmap_args a = {
		.addr = p->addr.v,
		.length = p->length.v,
		.offset = p->offset.v,
		.prot = p->prot,
		.flags = p->flags,
		.file = p->file[0] ? p->file : NULL,
		.thp_align = p->thp_align.present ? p->thp_align.v : -1,
	};

	if (ret)
		return ret;
	ret = vas_mmap_ex(sp->vas, &a, &addr);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	put_addr(out, "addr", addr);
	return 0;
}

static int h_munmap(struct vmad_ctx *ctx, const struct rpc_request *req,
		    struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_range_params *p = &req->p.range;
	struct vmad_space *sp;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	ret = vas_munmap(sp->vas, p->addr.v, p->length.v);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	LIT(out, "{}");
	return 0;
}

static int h_mprotect(struct vmad_ctx *ctx, const struct rpc_request *req,
		      struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_range_params *p = &req->p.range;
	struct vmad_space *sp;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	ret = vas_mprotect(sp->vas, p->addr.v, p->length.v, p->prot);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	LIT(out, "{}");
	return 0;
}

static int h_mremap(struct vmad_ctx *ctx, const struct rpc_request *req,
		    struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_mremap_params *p = &req->p.mremap;
	struct vmad_space *sp;
	uint64_t addr;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	ret = vas_mremap(sp->vas, p->old_addr.v, p->old_length.v,
			 p->new_length.v, p->flags, p->new_addr.v, &addr);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	put_addr(out, "addr", addr);
	return 0;
}

static int h_brk(struct vmad_ctx *ctx, const struct rpc_request *req,
		 struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_addr_params *p = &req->p.addr;
	struct vmad_space *sp;
	uint64_t brk;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	ret = vas_brk(sp->vas, p->addr.v, &brk);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	/* The break may move within a page: no mutation to count. */
	ctx->changed = p->addr.v != 0;
	put_addr(out, "brk", brk);
	return 0;
}

static int h_fault(struct vmad_ctx *ctx, const struct rpc_request *req,
		   struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_addr_params *p = &req->p.addr;
	struct vas_fault_result res;
	struct vmad_space *sp;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	ret = vas_fault(sp->vas, p->addr.v, p->access, &res);
	vmad_space_put(sp);
	/* Even a fault that ran out of memory may have given an anon_vma. */
	ctx->changed = res.changed;
	if (ret)
		return rpc_error_errno(err, ret);
	ctx->nr_faults++;
	rpc_write_fault(out, &res);
	return 0;
}

static int h_lookup(struct vmad_ctx *ctx, const struct rpc_request *req,
		    struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_addr_params *p = &req->p.addr;
	struct vas_vma_info info;
	struct vmad_space *sp;
	bool found;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	found = vas_lookup(sp->vas, p->addr.v, &info);
	vmad_space_put(sp);
	LIT(out, "{\"vma\":");
	if (found)
		rpc_write_vma(out, &info);
	else
		LIT(out, "null");
	LIT(out, "}");
	return 0;
}

/* The "maps" result, streamed from a snapshot of the space. */
struct maps_stream {
	struct vmad_stream s;
	struct vas_vma_info *vmas;
	size_t nr;
	struct rpc_maps_cursor cur;
};

static bool maps_step(struct vmad_stream *s, struct rpc_buf *out, size_t max)
{
	struct maps_stream *ms = caa_container_of(s, struct maps_stream, s);

	return rpc_write_maps_part(out, ms->vmas, ms->nr, &ms->cur, max);
}

static void maps_free(struct vmad_stream *s)
{
	struct maps_stream *ms = caa_container_of(s, struct maps_stream, s);

	vma_free(ms->vmas);
	free(ms);
}

static int h_maps(struct vmad_ctx *ctx, const struct rpc_request *req,
		  struct rpc_buf *out, struct rpc_error *err)
{
	struct vas_vma_info *vmas = NULL;
	struct maps_stream *ms;
	struct vmad_space *sp;
	size_t nr = 0;
	int ret = get_space(ctx, &req->p.addr.space, &sp, err);

	if (ret)
		return ret;
	ret = vas_maps(sp->vas, &vmas, &nr);
	vmad_space_put(sp);
	if (ret)
		return rpc_error_errno(err, ret);
	ms = calloc(1, sizeof(*ms));
	if (!ms) {
		vma_free(vmas);
		return rpc_error_errno(err, -ENOMEM);
	}
	ms->s.step = maps_step;
	ms->s.free = maps_free;
	ms->vmas = vmas;
	ms->nr = nr;
	ctx->stream = &ms->s; /* the runner writes it, in parts if long */
	return 0;
}

static void put_stat(struct rpc_buf *out, const char *name, uint64_t v)
{
	LIT(out, ",\"");
	rpc_buf_puts(out, name);
	LIT(out, "\":");
	rpc_buf_put_u64(out, v);
}

static int h_stats(struct vmad_ctx *ctx, const struct rpc_request *req,
		   struct rpc_buf *out, struct rpc_error *err)
{
	struct vmad_server *srv = ctx->srv;
	uint64_t requests = 0, errors = 0, faults = 0;
	uint64_t closed_output = 0, closed_timeout = 0;
	unsigned i;

	if (req->p.addr.space.present) {
		struct vas_stats st;
		struct vmad_space *sp;
		int ret = get_space(ctx, &req->p.addr.space, &sp, err);

		if (ret)
			return ret;
		vas_stats(sp->vas, &st);
		LIT(out, "{\"space\":");
		rpc_buf_put_u64(out, sp->id);
		vmad_space_put(sp);
		LIT(out, ",");
		rpc_write_space_stats(out, &st);
		LIT(out, "}");
		return 0;
	}
	for (i = 0; i < srv->nr_workers; i++) {
		struct vmad_worker *w = &srv->workers[i];

		requests += uatomic_read(&w->nr_requests);
		errors += uatomic_read(&w->nr_errors);
		faults += uatomic_read(&w->nr_faults);
		closed_output += uatomic_read(&w->nr_closed_output);
		closed_timeout += uatomic_read(&w->nr_closed_timeout);
	}
	LIT(out, "{\"version\":\"" VMAD_VERSION "\"");
	put_stat(out, "uptime_s", (uint64_t)time(NULL) - srv->started);
	/* Counts of the caller's own; the whole daemon's for root only. */
	vmad_registry_counts(srv, ctx->uid, out);
	if (ctx->uid != 0) {
		put_stat(out, "workers", srv->nr_workers);
		put_stat(out, "job_threads", srv->jobs.nr_threads);
		LIT(out, "}");
		return 0;
	}
	put_stat(out, "requests", requests);
	put_stat(out, "errors", errors);
	put_stat(out, "faults", faults);
	put_stat(out, "connections", (uint64_t)uatomic_read(&srv->nr_conns));
	put_stat(out, "connections_total", uatomic_read(&srv->conns_total));
	put_stat(out, "connections_refused", uatomic_read(&srv->conns_refused));
	put_stat(out, "connections_closed_output", closed_output);
	put_stat(out, "connections_closed_timeout", closed_timeout);
	put_stat(out, "workers", srv->nr_workers);
	put_stat(out, "job_threads", srv->jobs.nr_threads);
	put_stat(out, "jobs", (uint64_t)uatomic_read(&srv->jobs.nr_run));
	put_stat(out, "jobs_queued", (uint64_t)vmad_jobs_queued(srv));
	put_stat(out, "frees_pending",
		 (uint64_t)uatomic_read(&srv->jobs.nr_reaping));
	{
		struct vma_mem_stats ms;
		uint64_t used = vmad_memory_used(srv);

		vma_mem_stats(&ms);
		put_stat(out, "used_memory", used);
		put_stat(out, "used_memory_model", ms.total);
		put_stat(out, "used_memory_nodes", ms.nodes);
		put_stat(out, "used_memory_buffers",
			 used > ms.total ? used - ms.total : 0);
		put_stat(out, "max_memory", srv->cfg.max_memory);
		put_stat(out, "memory_refused", ms.refused);
	}
	LIT(out, "}");
	return 0;
}

static int h_validate(struct vmad_ctx *ctx, const struct rpc_request *req,
		      struct rpc_buf *out, struct rpc_error *err)
{
	struct vmad_space *sp;
	char msg[256] = "";
	int ret = get_space(ctx, &req->p.addr.space, &sp, err);

	if (ret)
		return ret;
	ret = vas_validate(sp->vas, msg, sizeof(msg));
	vmad_space_put(sp);
	if (!ret) {
		LIT(out, "{\"valid\":true}");
		return 0;
	}
	LIT(out, "{\"valid\":false,\"error\":");
	rpc_buf_put_string(out, msg, strnlen(msg, sizeof(msg)));
	LIT(out, "}");
	return 0;
}

/*
 * space.export: the space file of the space (spacefile.c: its snapshot,
 * id, owner and name, with a checksum) in base64.
 */
static int h_space_export(struct vmad_ctx *ctx, const struct rpc_request *req,
			  struct rpc_buf *out, struct rpc_error *err)
{
	struct vmad_space *sp;
	void *data;
	size_t len;
	int ret = get_space(ctx, &req->p.addr.space, &sp, err);

	if (ret)
		return ret;
	ret = vmad_space_export(sp, 0, 0, &data, &len);
	if (ret) {
		vmad_space_put(sp);
		return rpc_error_errno(err, ret);
	}
	LIT(out, "{");
	put_space_members(out, sp);
	LIT(out, ",\"owner\":");
	rpc_buf_put_u64(out, sp->owner);
	LIT(out, ",\"format\":\"vmad-space\",\"version\":");
	rpc_buf_put_u64(out, VMAD_SPACEFILE_VERSION);
	LIT(out, ",\"bytes\":");
	rpc_buf_put_u64(out, len);
	LIT(out, ",\"snapshot\":");
	rpc_buf_put_base64(out, data, len);
	LIT(out, "}");
	vmad_space_put(sp);
	free(data);
	return 0;
}

/*
 * space.import with "snapshot": a space whose every later answer equals
 * the exported one's, owned by the caller, named "name" (else the name
 * in the snapshot). The snapshot is checked whole first: a damaged,
 * truncated or foreign one is -32602 saying what is wrong.
 */
static int import_snapshot(struct vmad_ctx *ctx, const struct rpc_request *req,
			   struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_import_params *p = &req->p.import;
	const struct vmad_config *cfg = &ctx->srv->cfg;
	struct vmad_spacefile sf;
	struct vas_layout layout;
	char msg[RPC_MSG_MAX];
	const char *name;
	struct vas *vas;
	void *data;
	long len;
	int ret;

	data = malloc(rpc_base64_max(p->snapshot.len) + 1);
	if (!data)
		return rpc_error_errno(err, -ENOMEM);
	len = rpc_base64_decode(p->snapshot.s, p->snapshot.len, data);
	if (len < 0) {
		free(data);
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "'snapshot' is not base64");
	}
	ret = vmad_space_import(data, (size_t)len, &sf, &vas, msg, sizeof(msg));
	free(data);
	if (ret == -EINVAL)
		return rpc_error_set(err, RPC_INVALID_PARAMS, "'snapshot': %s",
				     msg);
	if (ret)
		return rpc_error_errno(err, ret);
	vas_get_layout(vas, &layout);
	if (layout.max_map_count > cfg->max_map_count_limit) {
		vas_free(vas);
		return rpc_error_set(
			err, RPC_INVALID_PARAMS,
			"'snapshot': max_map_count %llu above the "
			"limit of %llu",
			(unsigned long long)layout.max_map_count,
			(unsigned long long)cfg->max_map_count_limit);
	}
	name = p->create.name[0] ? p->create.name : sf.name;
	return add_space(ctx, name, vas, out, err);
}

/*
 * space.import: from the text of /proc/PID/maps ("maps", with the layout
 * and break params) or from a snapshot of space.export ("snapshot", which
 * holds all of that itself); exactly one of the two.
 */
static int h_space_import(struct vmad_ctx *ctx, const struct rpc_request *req,
			  struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_import_params *p = &req->p.import;
	const struct rpc_create_params *c = &p->create;

	if (p->maps.present == p->snapshot.present)
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "space.import takes exactly one of "
				     "'maps' and 'snapshot'");
	if (p->maps.present)
		return import_maps(ctx, req, out, err);
	if (c->task_size.present || c->mmap_base.present ||
	    c->stack_guard_gap.present || c->max_map_count.present ||
	    c->stack_rlimit.present || c->memlock_rlimit.present ||
	    c->brk_base.present || p->brk.present || p->start_stack.present ||
	    p->guards.present)
		return rpc_error_set(err, RPC_INVALID_PARAMS,
				     "the layout, break and guard parameters "
				     "go with 'maps': a 'snapshot' holds its "
				     "own");
	return import_snapshot(ctx, req, out, err);
}

static int h_ping(struct vmad_ctx *ctx, const struct rpc_request *req,
		  struct rpc_buf *out, struct rpc_error *err)
{
	LIT(out, "{\"version\":\"" VMAD_VERSION "\"}");
	return 0;
}

/*
 * madvise, mlock, mlock2, munlock, mlockall, munlockall, mseal,
 * set_vma_anon_name: one call into the model on a range, result {}.
 */
static int h_vmflags(struct vmad_ctx *ctx, const struct rpc_request *req,
		     struct rpc_buf *out, struct rpc_error *err)
{
	const struct rpc_vmflags_params *p = &req->p.vmf;
	struct vmad_space *sp;
	int ret = get_space(ctx, &p->space, &sp, err);

	if (ret)
		return ret;
	switch (req->method) {
	case RPC_MADVISE:
		ret = vas_madvise(sp->vas, p->addr.v, p->length.v, p->advice);
		break;
	case RPC_MLOCK:
	case RPC_MLOCK2:
		ret = vas_mlock(sp->vas, p->addr.v, p->length.v, p->flags);
		break;
	case RPC_MUNLOCK:
		ret = vas_munlock(sp->vas, p->addr.v, p->length.v);
		break;
	case RPC_MLOCKALL:
		ret = vas_mlockall(sp->vas, p->flags);
		break;
	case RPC_MUNLOCKALL:
		ret = vas_munlockall(sp->vas);
		break;
	case RPC_MSEAL:
		ret = vas_mseal(sp->vas, p->addr.v, p->length.v,
				p->seal_flags.v);
		break;
	case RPC_SET_VMA_ANON_NAME:
		ret = vas_set_anon_name(sp->vas, p->addr.v, p->length.v,
					p->has_name ? p->name : NULL);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	vmad_space_put(sp);
	/*
	 * Some of these change a space without a commit to count (mlockall's
	 * MCL_FUTURE, advice on pages), and some change part of a range
	 * before they fail: journal each but those that ran out of memory.
	 */
	ctx->changed = ret != -ENOMEM;
	if (ret)
		return rpc_error_errno(err, ret);
	LIT(out, "{}");
	return 0;
}

/* The handler table: one row per method, indexed by enum rpc_method. */
static const struct vmad_handler vmad_handlers[RPC_NR_METHODS] = {
	[RPC_SPACE_CREATE] = {h_space_create, H_GROWS},
	[RPC_SPACE_DESTROY] = {h_space_destroy, 0},
	[RPC_SPACE_FORK] = {h_space_fork, H_JOB | H_GROWS},
	[RPC_SPACE_LIST] = {h_space_list, 0},
	[RPC_MMAP] = {h_mmap, H_CHANGES | H_GROWS},
	[RPC_MUNMAP] = {h_munmap, H_CHANGES},
	[RPC_MPROTECT] = {h_mprotect, H_CHANGES | H_GROWS},
	[RPC_MREMAP] = {h_mremap, H_CHANGES | H_GROWS},
	[RPC_BRK] = {h_brk, H_CHANGES | H_GROWS},
	[RPC_FAULT] = {h_fault, H_CHANGES | H_GROWS},
	[RPC_LOOKUP] = {h_lookup, 0},
	[RPC_MAPS] = {h_maps, H_JOB | H_STREAM},
	[RPC_STATS] = {h_stats, H_JOB_SPACE},
	[RPC_VALIDATE] = {h_validate, H_JOB},
	[RPC_PING] = {h_ping, 0},
	[RPC_SPACE_IMPORT] = {h_space_import, H_JOB | H_GROWS},
	/* Each of these may split VMAs, and mlock and madvise may populate. */
	[RPC_MADVISE] = {h_vmflags, H_CHANGES | H_GROWS},
	[RPC_MLOCK] = {h_vmflags, H_CHANGES | H_GROWS},
	[RPC_MLOCK2] = {h_vmflags, H_CHANGES | H_GROWS},
	[RPC_MUNLOCK] = {h_vmflags, H_CHANGES | H_GROWS},
	[RPC_MLOCKALL] = {h_vmflags, H_JOB | H_CHANGES | H_GROWS},
	[RPC_MUNLOCKALL] = {h_vmflags, H_JOB | H_CHANGES},
	[RPC_MSEAL] = {h_vmflags, H_CHANGES | H_GROWS},
	[RPC_SET_VMA_ANON_NAME] = {h_vmflags, H_CHANGES | H_GROWS},
	[RPC_SPACE_EXPORT] = {h_space_export, H_JOB},
};

/*
 * A batch longer than this runs on the job pool: ten thousand mmaps take
 * tens of milliseconds, which the worker's other connections would wait.
 */
#define VMAD_INLINE_BATCH_MAX 128

bool vmad_msg_needs_job(const struct rpc_msg *msg)
{
	size_t i;

	if (msg->is_batch && msg->nr > VMAD_INLINE_BATCH_MAX)
		return true;
	for (i = 0; i < msg->nr; i++) {
		bool has_space;
		int m = rpc_msg_peek(msg, i, &has_space);
		unsigned f;

		if (m < 0)
			continue;
		f = vmad_handlers[m].flags;
		if ((f & H_JOB) || ((f & H_JOB_SPACE) && has_space))
			return true;
	}
	return false;
}

/*
 * Call @req's handler; a request that adds to a space runs under
 * max_memory: libvma refuses new memory past it for this thread, and the
 * request fails with ENOMEM.
 */
static int call_handler(struct vmad_ctx *ctx, const struct rpc_request *req,
			struct rpc_buf *out, struct rpc_error *err)
{
	struct vmad_server *srv = ctx->srv;
	uint64_t refused, prev;
	int ret;

	if (!(vmad_handlers[req->method].flags & H_GROWS))
		return vmad_handlers[req->method].fn(ctx, req, out, err);
	refused = vma_mem_thread_refused();
	prev = vma_mem_thread_limit(vmad_memory_room(srv));
	ret = vmad_handlers[req->method].fn(ctx, req, out, err);
	vma_mem_thread_limit(prev);
	if (ret && err->err == ENOMEM && vma_mem_thread_refused() != refused) {
		snprintf(err->msg, sizeof(err->msg),
			 "out of memory: max_memory (%llu bytes) reached",
			 (unsigned long long)srv->cfg.max_memory);
		vmad_log_ratelimited(VMAD_LOG_WARN,
				     "max_memory (%llu bytes) reached: %s of "
				     "uid %u refused with ENOMEM (%llu bytes "
				     "in use)",
				     (unsigned long long)srv->cfg.max_memory,
				     rpc_method_name(req->method),
				     (unsigned)ctx->uid,
				     (unsigned long long)vmad_memory_used(srv));
	}
	return ret;
}

/*
 * Run @req's handler; with a state directory, a request that may change
 * its space runs between vmad_persist_begin() and _end(), which journal it
 * (appendonly) or mark the space to be saved. A change the journal could
 * not take is answered with the journal's error, not the result.
 */
static int run_handler(struct vmad_ctx *ctx, const struct rpc_request *req,
		       struct rpc_buf *out, struct rpc_error *err)
{
	const struct vmad_handler *h = &vmad_handlers[req->method];
	struct vmad_pchange pc;
	int ret;

	ctx->changed = false;
	/* brk without an address reads the break: nothing to record. */
	if (!(h->flags & H_CHANGES) || !ctx->srv->persist || ctx->replaying ||
	    (req->method == RPC_BRK && !req->p.addr.addr.v))
		return call_handler(ctx, req, out, err);
	ret = vmad_persist_begin(ctx, req, &pc, err);
	if (ret)
		return ret;
	ret = call_handler(ctx, req, out, err);
	if (vmad_persist_end(ctx, req, &pc, ret ? NULL : err) && !ret)
		return -EPROTO;
	return ret;
}

int vmad_replay(struct vmad_server *srv, const char *json, size_t len,
		char *why, size_t whylen)
{
	struct vmad_ctx ctx = {.srv = srv, .uid = 0, .replaying = true};
	struct rpc_request req;
	struct rpc_error err;
	struct rpc_msg msg;
	struct rpc_buf out;
	int ret;

	ret = rpc_msg_parse(&msg, json, len, false, 1, &err);
	if (ret == -ENOMEM)
		return ret;
	if (!ret && (msg.is_batch || rpc_msg_request(&msg, 0, &req, &err))) {
		rpc_msg_fini(&msg);
		ret = -EPROTO;
	}
	if (ret) {
		snprintf(why, whylen, "not a request: %s", err.msg);
		return -EINVAL;
	}
	if (!(vmad_handlers[req.method].flags & H_CHANGES)) {
		snprintf(why, whylen, "%s does not change a space",
			 rpc_method_name(req.method));
		rpc_msg_fini(&msg);
		return -EINVAL;
	}
	rpc_buf_init(&out);
	vmad_handlers[req.method].fn(&ctx, &req, &out, &err);
	rpc_buf_fini(&out);
	rpc_msg_fini(&msg);
	return 0;
}

enum vmad_one {
	ONE_NONE,   /* no response (a notification) */
	ONE_DONE,   /* the response is written */
	ONE_STREAM, /* begun; the rest comes from ctx->stream */
};

static void drop_stream(struct vmad_ctx *ctx)
{
	if (ctx->stream) {
		ctx->stream->free(ctx->stream);
		ctx->stream = NULL;
	}
}

/* Run one request; append its response (if any) to @out. */
static enum vmad_one vmad_handle_one(struct vmad_ctx *ctx,
				     const struct rpc_msg *msg, size_t i,
				     struct rpc_buf *out)
{
	struct rpc_request req;
	struct rpc_error err;
	size_t mark = out->len;
	int ret;

	ret = rpc_msg_request(msg, i, &req, &err);
	if (ret) {
		ctx->nr_errors++;
		/* A notification gets no response, not even an error. */
		if (!req.has_id && err.code != RPC_INVALID_REQUEST)
			return ONE_NONE;
		rpc_write_error(out, req.has_id ? req.id : NULL, &err);
		return ONE_DONE;
	}
	if (ctx->cancel) {
		ctx->nr_errors++;
		if (!req.has_id)
			return ONE_NONE;
		rpc_error_errno(&err, -ECANCELED);
		snprintf(err.msg, sizeof(err.msg),
			 "cancelled: the daemon is shutting down");
		rpc_write_error(out, req.id, &err);
		return ONE_DONE;
	}
	rpc_write_result_begin(out, req.id);
	ctx->stream = NULL;
	ret = run_handler(ctx, &req, out, &err);
	if (ret) {
		drop_stream(ctx);
		ctx->nr_errors++;
		out->len = mark;
		if (req.has_id)
			rpc_write_error(out, req.id, &err);
		return req.has_id ? ONE_DONE : ONE_NONE;
	}
	if (!req.has_id) {
		drop_stream(ctx);
		out->len = mark;
		return ONE_NONE;
	}
	if (ctx->stream)
		return ONE_STREAM;
	rpc_write_result_end(out);
	return ONE_DONE;
}

void vmad_run_init(struct vmad_run *run, const struct rpc_msg *msg)
{
	memset(run, 0, sizeof(*run));
	run->msg = msg;
}

void vmad_run_fini(struct vmad_run *run)
{
	if (run->stream) {
		run->stream->free(run->stream);
		run->stream = NULL;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool vmad_run_next_streams(const struct vmad_run *run)
{
	bool has_space;
	int m;

	if (run->done || run->stream || run->next >= run->msg->nr)
		return false;
	m = rpc_msg_peek(run->msg, run->next, &has_space);
	return m >= 0 && (vmad_handlers[m].flags & H_STREAM);
}

/*
 * A batch's "[" goes out with its first response (a batch of
 * notifications has none), "," before each later one, and "]" at the
 * end; a single request's response ends with its newline.
 */
bool vmad_run_step(struct vmad_ctx *ctx, struct vmad_run *run,
		   struct rpc_buf *out, size_t max_out, uint64_t deadline_ns)
{
	const struct rpc_msg *msg = run->msg;
	bool progress = false;

	while (!run->done) {
		enum vmad_one r;
		size_t before;

		if (run->stream) {
			size_t room = SIZE_MAX;

			if (max_out)
				room = out->len < max_out ? max_out - out->len
							  : 0;
			if (progress && !room)
				return false;
			if (!run->stream->step(run->stream, out,
					       room ? room : 1))
				return false;
			vmad_run_fini(run);
			rpc_write_result_end(out);
			progress = true;
			if (!run->stream_batch) {
				LIT(out, "\n");
				run->done = true;
				break;
			}
			continue;
		}
		if (run->next == msg->nr) {
			if (msg->is_batch && run->nr_out)
				LIT(out, "]\n");
			run->done = true;
			break;
		}
		if (progress && ((max_out && out->len >= max_out) ||
				 (deadline_ns && now_ns() >= deadline_ns) ||
				 vmad_run_next_streams(run)))
			return false;
		progress = true;
		before = out->len;
		if (msg->is_batch)
			rpc_buf_puts(out, run->nr_out ? "," : "[");
		r = vmad_handle_one(ctx, msg, run->next++, out);
		if (r == ONE_NONE) {
			out->len = before;
			continue;
		}
		run->nr_out++;
		if (r == ONE_STREAM) {
			run->stream = ctx->stream;
			run->stream_batch = msg->is_batch;
			ctx->stream = NULL;
			continue;
		}
		if (!msg->is_batch) {
			LIT(out, "\n");
			run->done = true;
		}
	}
	return true;
}

size_t vmad_handle_msg(struct vmad_ctx *ctx, const struct rpc_msg *msg,
		       struct rpc_buf *out)
{
	struct vmad_run run;

	vmad_run_init(&run, msg);
	while (!vmad_run_step(ctx, &run, out, 0, 0))
		;
	return run.next;
}

unsigned vmad_nr_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}
