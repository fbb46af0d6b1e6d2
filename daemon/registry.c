// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: The space registry: ids and names to spaces.
 *
 * Two RCU lock-free hash tables (cds_lfht) map ids and (owner, name) pairs
 * to struct vmad_space. Lookups run on any worker without locks: under the
 * RCU read lock they find the node and take a reference with a
 * compare-and-swap that never revives a count that reached zero. Additions
 * and removals are serialised by registry->lock, which also guards the id
 * counter and the per-uid space counts.
 *
 * Names are scoped per owner (issue 19): two users may both have a space
 * "demo", and nobody can take a name first to make root act on the
 * squatter's space by name; root names another owner's space "~UID/NAME".
 * A space the caller may not see answers exactly as one that does not
 * exist ("no such space", ENOENT): ids and names of others are no oracle.
 *
 * Ids are never reused: each daemon life starts at a fresh base, the
 * microseconds since the epoch when the registry is made (logged; below
 * 2^53 until the year 2255, so that clients that keep numbers as doubles
 * are exact), and counts up; an id handed out in one life is below the
 * next life's base unless a life hands out more than one id per
 * microsecond of the time until the next start, or the clock steps back.
 * A persisted counter closes that gap: id_hook sees every id handed out,
 * vmad_registry_reserve_ids() restores it.
 *
 * With a state directory, the registry tells persistence (persist.c) when
 * a space comes and goes (a new space gets its files before it is
 * listed), lists spaces loaded from it under their own ids, and reserves
 * ids on disk in blocks before it hands them out (vmad_persist_reserve_ids()),
 * so that an id is never used twice even if the clock steps back.
 *
 * Lifetime: the registry holds one reference while a space is listed;
 * each request holds one while it uses the space. space.destroy unlists
 * the space and drops the registry's reference; whoever drops the last
 * one queues a reap job: vas_free() runs on a job thread (it waits for RCU
 * callbacks, so it must not run inside a read-side section, in a call_rcu
 * callback or on a worker that has other connections to serve), and the
 * struct itself is freed by urcu_memb_call_rcu() because a concurrent lookup
 * may still be looking at its hash node.
 */
#include "vmad.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/uatomic.h>

static unsigned long hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	v *= 0xc4ceb9fe1a85ec53ULL;
	v ^= v >> 33;
	return (unsigned long)v;
}

static unsigned long hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return hash_u64(h);
}

static int match_id(struct cds_lfht_node *node, const void *key)
{
	struct vmad_space *sp =
		caa_container_of(node, struct vmad_space, id_node);

	return sp->id == *(const uint64_t *)key;
}

struct name_key {
	uid_t owner;
	const char *name;
};

static unsigned long hash_name(uid_t owner, const char *name)
{
	return hash_str(name) ^ hash_u64((uint64_t)owner + 1);
}

static int match_name(struct cds_lfht_node *node, const void *key)
{
	struct vmad_space *sp =
		caa_container_of(node, struct vmad_space, name_node);
	const struct name_key *k = key;

	return sp->owner == k->owner && !strcmp(sp->name, k->name);
}

int vmad_registry_init(struct vmad_registry *reg)
{
	struct timespec ts;

	memset(reg, 0, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	reg->next_id =
		(uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (!reg->next_id)
		reg->next_id = 1;
	reg->first_id = reg->next_id;
	reg->by_id = cds_lfht_new_flavor(
		64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
		&urcu_memb_flavor, NULL);
	reg->by_name = cds_lfht_new_flavor(
		64, 64, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
		&urcu_memb_flavor, NULL);
	if (!reg->by_id || !reg->by_name)
		return -ENOMEM;
	return 0;
}

/* Take a reference unless the count already dropped to zero. */
static bool space_tryget(struct vmad_space *sp)
{
	long old = uatomic_read(&sp->refs);

	while (old > 0) {
		long seen = uatomic_cmpxchg(&sp->refs, old, old + 1);

		if (seen == old)
			return true;
		old = seen;
	}
	return false;
}

static void space_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct vmad_space, rcu));
}

/* Job: free the model of an unreferenced space (job thread). */
static void space_reap(struct vmad_job *job)
{
	struct vmad_space *sp = job->space;

	vas_free(sp->vas);
	sp->vas = NULL;
	vmad_persist_free(sp);
	urcu_memb_call_rcu(&sp->rcu, space_free_rcu);
	free(job);
}

void vmad_space_put(struct vmad_space *sp)
{
	struct vmad_job *job;

	if (uatomic_sub_return(&sp->refs, 1) != 0)
		return;
	job = calloc(1, sizeof(*job));
	if (!job) {
		/* Cannot defer: leak the model rather than free it here. */
		vmad_log(VMAD_LOG_ERROR, "out of memory freeing space %llu",
			 (unsigned long long)sp->id);
		return;
	}
	job->fn = space_reap;
	job->space = sp;
	vmad_jobs_reap(sp->srv, job);
}

int vmad_registry_lookup(struct vmad_server *srv,
			 const struct rpc_space_ref *ref, uid_t uid,
			 struct vmad_space **out)
{
	struct vmad_registry *reg = &srv->reg;
	struct vmad_space *sp = NULL;
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	urcu_memb_read_lock();
	if (ref->by_name) {
		struct name_key key = {ref->has_owner ? (uid_t)ref->owner : uid,
				       ref->name};

		cds_lfht_lookup(reg->by_name, hash_name(key.owner, key.name),
				match_name, &key, &iter);
		node = cds_lfht_iter_get_node(&iter);
		if (node)
			sp = caa_container_of(node, struct vmad_space,
					      name_node);
	} else {
		cds_lfht_lookup(reg->by_id, hash_u64(ref->id), match_id,
				&ref->id, &iter);
		node = cds_lfht_iter_get_node(&iter);
		if (node)
			sp = caa_container_of(node, struct vmad_space, id_node);
	}
	if (sp && !space_tryget(sp))
		sp = NULL;
	urcu_memb_read_unlock();
	if (!sp)
		return -ENOENT;
	if (sp->owner != uid && uid != 0) {
		/* Not the caller's: as if it did not exist. */
		vmad_space_put(sp);
		return -ENOENT;
	}
	*out = sp;
	return 0;
}

static struct vmad_uid_count *uid_slot(struct vmad_registry *reg, uid_t uid,
				       bool create)
{
	size_t i;

	for (i = 0; i < reg->nr_uids; i++)
		if (reg->uids[i].uid == uid)
			return &reg->uids[i];
	if (!create)
		return NULL;
	if (reg->nr_uids == reg->cap_uids) {
		size_t ncap = reg->cap_uids ? reg->cap_uids * 2 : 8;
		struct vmad_uid_count *n =
			realloc(reg->uids, ncap * sizeof(*n));

		if (!n)
			return NULL;
		reg->uids = n;
		reg->cap_uids = ncap;
	}
	reg->uids[reg->nr_uids].uid = uid;
	reg->uids[reg->nr_uids].nr = 0;
	return &reg->uids[reg->nr_uids++];
}

/*
 * List @vas as a new space: under a fresh id (@id == 0, counted against
 * the uid's limit) or as a space loaded from the state directory under
 * its own @id. A fresh space gets its files (vmad_persist_added()) before
 * anyone can see it.
 */
static int registry_insert(struct vmad_server *srv, uint64_t id,
			   const char *name, uid_t uid, struct vas *vas,
			   struct vmad_space **out)
{
	struct vmad_registry *reg = &srv->reg;
	struct vmad_uid_count *cnt;
	struct cds_lfht_iter iter;
	struct vmad_space *sp;
	int ret = 0;

	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	snprintf(sp->name, sizeof(sp->name), "%s", name ? name : "");
	sp->owner = uid;
	sp->vas = vas;
	vas_get_layout(vas, &sp->layout);
	sp->refs = 2; /* the registry's and the caller's */
	sp->srv = srv;
	cds_lfht_node_init(&sp->id_node);
	cds_lfht_node_init(&sp->name_node);

	pthread_mutex_lock(&reg->lock);
	cnt = uid_slot(reg, uid, true);
	if (!cnt) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	/* Spaces loaded at start are not refused: they exist already. */
	if (!id &&
	    (cnt->nr >= srv->cfg.max_spaces_per_uid ||
	     uatomic_read(&reg->nr_spaces) >= (long)srv->cfg.max_spaces)) {
		ret = -EAGAIN;
		goto out_unlock;
	}
	/* Adds hold the lock: what is free now is free when listed. */
	urcu_memb_read_lock();
	if (id) {
		cds_lfht_lookup(reg->by_id, hash_u64(id), match_id, &id, &iter);
		if (cds_lfht_iter_get_node(&iter))
			ret = -EEXIST;
	}
	if (!ret && sp->name[0]) {
		struct name_key key = {uid, sp->name};

		cds_lfht_lookup(reg->by_name, hash_name(uid, sp->name),
				match_name, &key, &iter);
		if (cds_lfht_iter_get_node(&iter))
			ret = -EEXIST;
	}
	urcu_memb_read_unlock();
	if (ret)
		goto out_unlock;
	if (id) {
		sp->id = id;
		if (id >= reg->next_id)
			reg->next_id = id + 1;
	} else {
		if (srv->persist && reg->next_id >= reg->id_limit) {
			ret = vmad_persist_reserve_ids(srv, reg->next_id,
						       &reg->id_limit);
			if (ret)
				goto out_unlock;
		}
		sp->id = reg->next_id++;
		if (reg->id_hook)
			reg->id_hook(reg->id_hook_arg, sp->id);
		if (srv->persist) {
			ret = vmad_persist_added(srv, sp);
			if (ret)
				goto out_unlock;
		}
	}
	urcu_memb_read_lock();
	if (sp->name[0])
		cds_lfht_add(reg->by_name, hash_name(uid, sp->name),
			     &sp->name_node);
	cds_lfht_add(reg->by_id, hash_u64(sp->id), &sp->id_node);
	urcu_memb_read_unlock();
	cnt->nr++;
	uatomic_inc(&reg->nr_spaces);
	pthread_mutex_unlock(&reg->lock);
	*out = sp;
	return 0;

out_unlock:
	pthread_mutex_unlock(&reg->lock);
	vmad_persist_free(sp);
	free(sp); /* never published: no grace period needed */
	return ret;
}

int vmad_registry_add(struct vmad_server *srv, const char *name, uid_t uid,
		      struct vas *vas, struct vmad_space **out)
{
	return registry_insert(srv, 0, name, uid, vas, out);
}

int vmad_registry_add_restored(struct vmad_server *srv, uint64_t id,
			       const char *name, uid_t uid, struct vas *vas,
			       struct vmad_space **out)
{
	if (!id)
		return -EINVAL;
	return registry_insert(srv, id, name, uid, vas, out);
}

int vmad_registry_remove(struct vmad_server *srv, struct vmad_space *sp)
{
	struct vmad_registry *reg = &srv->reg;
	struct vmad_uid_count *cnt;
	int ret;

	pthread_mutex_lock(&reg->lock);
	urcu_memb_read_lock();
	ret = cds_lfht_del(reg->by_id, &sp->id_node);
	if (!ret && sp->name[0])
		cds_lfht_del(reg->by_name, &sp->name_node);
	urcu_memb_read_unlock();
	if (!ret) {
		cnt = uid_slot(reg, sp->owner, false);
		if (cnt && cnt->nr)
			cnt->nr--;
		uatomic_dec(&reg->nr_spaces);
	}
	pthread_mutex_unlock(&reg->lock);
	if (ret)
		return -ENOENT;
	if (sp->ps)
		vmad_persist_removed(srv, sp);
	vmad_space_put(sp); /* the registry's reference */
	return 0;
}

long vmad_registry_collect(struct vmad_server *srv, struct vmad_space ***out)
{
	struct vmad_registry *reg = &srv->reg;
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct vmad_space *sp, **all = NULL, **n;
	size_t nr = 0, cap = 0;
	long ret = 0;

	urcu_memb_read_lock();
	cds_lfht_for_each(reg->by_id, &iter, node)
	{
		sp = caa_container_of(node, struct vmad_space, id_node);
		if (nr == cap) {
			cap = cap ? cap * 2 : 16;
			n = realloc(all, cap * sizeof(*n));
			if (!n) {
				ret = -ENOMEM;
				break;
			}
			all = n;
		}
		if (space_tryget(sp))
			all[nr++] = sp;
	}
	urcu_memb_read_unlock();
	if (ret) {
		while (nr)
			vmad_space_put(all[--nr]);
		free(all);
		return ret;
	}
	*out = all;
	return (long)nr;
}

void vmad_registry_reserve_ids(struct vmad_registry *reg, uint64_t last)
{
	pthread_mutex_lock(&reg->lock);
	if (reg->next_id <= last)
		reg->next_id = last + 1;
	pthread_mutex_unlock(&reg->lock);
}

void vmad_registry_counts(struct vmad_server *srv, uid_t uid,
			  struct rpc_buf *out)
{
	struct vmad_registry *reg = &srv->reg;
	struct vmad_uid_count *cnt;
	size_t i;
	bool first = true;

	pthread_mutex_lock(&reg->lock);
	if (uid != 0) {
		cnt = uid_slot(reg, uid, false);
		rpc_buf_puts(out, ",\"spaces\":");
		rpc_buf_put_u64(out, cnt ? cnt->nr : 0);
		pthread_mutex_unlock(&reg->lock);
		return;
	}
	rpc_buf_puts(out, ",\"spaces\":");
	rpc_buf_put_u64(out, (uint64_t)uatomic_read(&reg->nr_spaces));
	rpc_buf_puts(out, ",\"spaces_by_uid\":{");
	for (i = 0; i < reg->nr_uids; i++) {
		char key[16];

		if (!reg->uids[i].nr)
			continue;
		snprintf(key, sizeof(key), "%u", (unsigned)reg->uids[i].uid);
		if (!first)
			rpc_buf_puts(out, ",");
		first = false;
		rpc_buf_put_string(out, key, strlen(key));
		rpc_buf_puts(out, ":");
		rpc_buf_put_u64(out, reg->uids[i].nr);
	}
	rpc_buf_puts(out, "}");
	pthread_mutex_unlock(&reg->lock);
}

struct list_ent {
	uint64_t id;
	uid_t owner;
	char name[RPC_NAME_MAX];
	struct vas_layout layout;
};

/* The layout members of a space.list entry (as space.create names them). */
static void put_layout(struct rpc_buf *out, const struct vas_layout *l)
{
	rpc_buf_puts(out, ",\"task_size\":");
	rpc_buf_put_u64(out, l->task_size);
	rpc_buf_puts(out, ",\"mmap_base\":");
	rpc_buf_put_u64(out, l->mmap_base);
	rpc_buf_puts(out, ",\"stack_guard_gap\":");
	rpc_buf_put_u64(out, l->stack_guard_gap);
	rpc_buf_puts(out, ",\"max_map_count\":");
	rpc_buf_put_u64(out, l->max_map_count);
	rpc_buf_puts(out, ",\"stack_rlimit\":");
	rpc_buf_put_u64(out, l->stack_rlimit);
	rpc_buf_puts(out, ",\"memlock_rlimit\":");
	rpc_buf_put_u64(out, l->memlock_rlimit);
}

static int cmp_ent(const void *a, const void *b)
{
	const struct list_ent *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

void vmad_registry_list(struct vmad_server *srv, uid_t uid, struct rpc_buf *out)
{
	struct vmad_registry *reg = &srv->reg;
	struct list_ent *ents = NULL;
	size_t nr = 0, cap = 0, i;
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct vmad_space *sp;

	urcu_memb_read_lock();
	cds_lfht_for_each(reg->by_id, &iter, node)
	{
		sp = caa_container_of(node, struct vmad_space, id_node);
		if (sp->owner != uid && uid != 0)
			continue;
		if (nr == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct list_ent *n = realloc(ents, ncap * sizeof(*n));

			if (!n) {
				out->oom = true;
				break;
			}
			ents = n;
			cap = ncap;
		}
		ents[nr].id = sp->id;
		ents[nr].owner = sp->owner;
		memcpy(ents[nr].name, sp->name, sizeof(sp->name));
		ents[nr].layout = sp->layout;
		nr++;
	}
	urcu_memb_read_unlock();
	if (nr)
		qsort(ents, nr, sizeof(*ents), cmp_ent);
	rpc_buf_puts(out, "[");
	for (i = 0; i < nr; i++) {
		rpc_buf_puts(out, i ? ",{\"space\":" : "{\"space\":");
		rpc_buf_put_u64(out, ents[i].id);
		rpc_buf_puts(out, ",\"name\":");
		if (ents[i].name[0])
			rpc_buf_put_string(out, ents[i].name,
					   strlen(ents[i].name));
		else
			rpc_buf_puts(out, "null");
		rpc_buf_puts(out, ",\"owner\":");
		rpc_buf_put_u64(out, ents[i].owner);
		put_layout(out, &ents[i].layout);
		rpc_buf_puts(out, "}");
	}
	rpc_buf_puts(out, "]");
	free(ents);
}

/*
 * Unlist every space (shutdown). The reap jobs this queues run before the
 * job pool stops.
 */
void vmad_registry_fini(struct vmad_server *srv)
{
	struct vmad_registry *reg = &srv->reg;
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct vmad_space *sp, **all = NULL;
	size_t nr = 0, cap = 0, i;

	urcu_memb_read_lock();
	cds_lfht_for_each(reg->by_id, &iter, node)
	{
		sp = caa_container_of(node, struct vmad_space, id_node);
		if (nr == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct vmad_space **n = realloc(all, ncap * sizeof(*n));

			if (!n)
				break;
			all = n;
			cap = ncap;
		}
		all[nr++] = sp;
	}
	urcu_memb_read_unlock();
	for (i = 0; i < nr; i++)
		vmad_registry_remove(srv, all[i]);
	free(all);
}
