// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: max_memory: what the daemon holds, and the limit on it.
 *
 * Accounted memory is libvma's (vma_mem_stats(): spaces, trees, VMAs,
 * resident-page state, anonymous VMA names, guard-page ranges, snapshots
 * being streamed or saved) plus the daemon's buffers: the connections'
 * (pending output, the bytes of requests being received), counted by
 * server.c as they change, and the journals' queued records (persist.c).
 *
 * The policy: a request that adds to a space (space.create, space.fork,
 * space.import, mmap, mremap, mprotect, brk, a populating fault, and
 * madvise, mlock, mlock2, munlock, mlockall, mseal, set_vma_anon_name,
 * which may split VMAs or populate; a new method that adds says so with
 * H_GROWS in handlers.c) runs with libvma's
 * limit for its thread set to max_memory less the buffers
 * (vma_mem_thread_limit()), so any new memory it needs past that is
 * refused and it fails with ENOMEM, changing nothing; the daemon logs it.
 * Memory a space recycles is not new, so a mapping that reuses what a
 * munmap freed still succeeds. Everything else (reads, munmap,
 * space.destroy) runs under the process-wide limit, which is max_memory
 * plus a reserve (a quarter of it, at least 64 MiB): releasing memory
 * needs some for a moment (copies of a tree's path, freed after a grace
 * period; a batch of ten thousand munmaps in a big tree takes about 15
 * MiB before the first grace period ends), and reads allocate only what
 * they return. munmap is not free of the limit altogether because a
 * munmap in the middle of a VMA splits it in two: a client could grow a
 * space past max_memory one split at a time; the reserve bounds that.
 *
 * With a state directory, loading the spaces at start (snapshots and
 * journals), the saves and the final save at SIGTERM are never refused:
 * a space is not lost, nor its acknowledged changes, for want of room.
 * What they hold is counted; if the loaded spaces alone exceed max_memory
 * the daemon says so at start and refuses growth until memory is freed,
 * and the process-wide limit is what was loaded plus the reserve (so that
 * munmap, which may split, still works on what was loaded).
 * space.export's snapshot is counted under the process-wide limit.
 *
 * What is not accounted: the daemon's own small structures (connections,
 * jobs, the registry), a job's slice of output before it reaches its
 * connection (256 KiB per job thread at most), and malloc's free memory
 * not yet returned to the system.
 */
#include "vmad.h"

#include <unistd.h>

#include <urcu/uatomic.h>

#define VMAD_MEM_RESERVE_MIN (64ull << 20)

/* max_memory 0: half of the physical memory. */
static uint64_t memory_auto(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);
	long psize = sysconf(_SC_PAGESIZE);

	return pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize / 2
				      : 1ull << 30;
}

void vmad_memory_settle(struct vmad_server *srv, struct vmad_config *cfg)
{
	if (!cfg->max_memory)
		cfg->max_memory = memory_auto();
}

void vmad_memory_init(struct vmad_server *srv)
{
	struct vmad_config *cfg = &srv->cfg;

	if (!cfg->max_memory) {
		vmad_memory_settle(srv, cfg);
		vmad_log(VMAD_LOG_INFO,
			 "max_memory %llu MiB (half of the physical memory)",
			 (unsigned long long)(cfg->max_memory >> 20));
	} else {
		vmad_log(VMAD_LOG_INFO, "max_memory %llu MiB",
			 (unsigned long long)(cfg->max_memory >> 20));
	}
	vmad_memory_apply(srv);
}

void vmad_memory_apply(struct vmad_server *srv)
{
	uint64_t max = uatomic_read(&srv->cfg.max_memory);
	uint64_t reserve = max / 4;

	/* Loaded past max_memory: munmap may still split what was loaded. */
	if (max < srv->mem_loaded)
		max = srv->mem_loaded;

	if (reserve < VMAD_MEM_RESERVE_MIN)
		reserve = VMAD_MEM_RESERVE_MIN;
	vma_mem_set_limit(max + reserve);
}

void vmad_memory_check_loaded(struct vmad_server *srv)
{
	uint64_t used = vmad_memory_used(srv), max = srv->cfg.max_memory;

	if (used <= max)
		return;
	vmad_log(VMAD_LOG_WARN,
		 "the spaces loaded from %s hold %llu MiB, above max_memory "
		 "(%llu MiB): requests that add to a space are refused with "
		 "ENOMEM until memory is freed",
		 srv->cfg.state_dir, (unsigned long long)(used >> 20),
		 (unsigned long long)(max >> 20));
	srv->mem_loaded = used;
	vmad_memory_apply(srv);
}

void vmad_memory_charge(struct vmad_server *srv, int64_t delta)
{
	if (delta)
		uatomic_add(&srv->mem_buffers, delta);
}

static uint64_t buffers(struct vmad_server *srv)
{
	int64_t b = uatomic_read(&srv->mem_buffers);

	return b > 0 ? (uint64_t)b : 0;
}

uint64_t vmad_memory_room(struct vmad_server *srv)
{
	uint64_t b = buffers(srv), max = srv->cfg.max_memory;

	/* 1, not 0: 0 would lift the thread's limit. */
	return max > b ? max - b : 1;
}

uint64_t vmad_memory_used(struct vmad_server *srv)
{
	struct vma_mem_stats st;

	vma_mem_stats(&st);
	return st.total + buffers(srv);
}
