// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: The fault path and the per-VMA read lock.
 *
 * vas_fault() mirrors lock_vma_under_rcu(): under rcu_read_lock() it
 * walks the tree to the VMA, takes the VMA's read lock, rechecks that the
 * VMA still covers the address and is neither marked nor detached, checks
 * permissions (access_error(), with x86's rule that a fetch from a page
 * not present is a read), maps the page (the zero page for a read of
 * private anonymous memory) and drops the lock. If
 * the VMA is being replaced it counts a retry and starts again from the
 * root; nothing of a walk survives a dropped read lock.
 *
 * The per-VMA read lock is a hazard slot per thread rather than a count
 * in the VMA, so that two threads faulting in the same VMA write no
 * shared cache line: a reader publishes the VMA pointer in its own slot,
 * issues a full barrier and then checks the VMA's state; a writer marks
 * the VMA, issues a full barrier and then waits until no slot holds the
 * VMA (vas__drain()). Either the reader sees the mark and backs off, or
 * the writer sees the slot and waits; readers hold a slot only for a few
 * hundred instructions and never block while holding it. Before its
 * first publication of a VMA a fault also flags the VMA as entered (once
 * per VMA, so faults keep writing no shared line); the writer reads the
 * slots only if one of the VMAs it replaces carries the flag, so that
 * replacing VMAs no fault ever used leaves the readers' lines alone.
 *
 * The first write fault of a private VMA (or, without the zero page, the
 * first read of a private anonymous one) gives it an anon_vma. The id is
 * kept in the otherwise immutable VMA object and set once, from 0, with a
 * compare-and-swap, so faults keep publishing nothing and taking no lock
 * on their fast path. As Linux's vmf_anon_prepare() does with mmap_lock,
 * the fault takes the space's write lock with a trylock for that step
 * (backing off and retrying if a writer holds it), so that writers, which
 * decide merges from anon_vma ids, never see one change under them.
 *
 * Counters are striped by thread slot over cache lines.
 */
#include "vas_op.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#ifdef VMAD_TEST_HOOKS
void (*vas_test_fault_held)(struct vas *vas, uint64_t addr);
#endif

#define VAS_MAX_READERS	 256
#define VAS_SPIN_RETRIES 64

struct vas_reader {
	struct vas_area *hazard; /* the VMA this thread holds, or NULL */
	int used;
	unsigned id;
} __attribute__((aligned(64)));

static struct vas_reader vas_readers[VAS_MAX_READERS];
static unsigned vas_readers_hw; /* slots ever used: scan bound */
static pthread_key_t vas_reader_key;
static pthread_once_t vas_reader_once = PTHREAD_ONCE_INIT;
static __thread struct vas_reader *vas_self;
static __thread unsigned vas_self_stripe = -1u;

static void reader_release(void *arg)
{
	struct vas_reader *r = arg;

	uatomic_set(&r->hazard, NULL);
	vas_store_release(&r->used, 0);
}

static void reader_key_init(void)
{
	(void)pthread_key_create(&vas_reader_key, reader_release);
}

/* This thread's slot, claimed on first use; NULL if all are taken. */
static struct vas_reader *reader_self(void)
{
	unsigned i, hw;

	if (caa_likely(vas_self != NULL))
		return vas_self;
	(void)pthread_once(&vas_reader_once, reader_key_init);
	for (i = 0; i < VAS_MAX_READERS; i++) {
		if (uatomic_read(&vas_readers[i].used) ||
		    uatomic_cmpxchg(&vas_readers[i].used, 0, 1) != 0)
			continue;
		vas_readers[i].id = i;
		vas_self = &vas_readers[i];
		(void)pthread_setspecific(vas_reader_key, vas_self);
		do {
			hw = uatomic_read(&vas_readers_hw);
		} while (hw < i + 1 &&
			 uatomic_cmpxchg(&vas_readers_hw, hw, i + 1) != hw);
		return vas_self;
	}
	return NULL;
}

/*
 * Counter stripes: a thread whose reader slot id is below
 * VAS_NR_STRIPES - 1 owns the stripe of that number alone (a slot has one
 * owner at a time) and increments it with a plain load and store, no
 * locked instruction; every other thread shares the last stripe and adds
 * atomically.
 */
#define VAS_STRIPE_SHARED (VAS_NR_STRIPES - 1)

/**
 * vas__stripe() - The counter stripe of the calling thread.
 * Context: Any context.
 */
unsigned vas__stripe(void)
{
	if (caa_unlikely(vas_self_stripe == -1u)) {
		struct vas_reader *r = reader_self();

		vas_self_stripe = r && r->id < VAS_STRIPE_SHARED
					  ? r->id
					  : VAS_STRIPE_SHARED;
	}
	return vas_self_stripe;
}

static inline void stripe_add(uint64_t *c, unsigned stripe)
{
	if (caa_likely(stripe != VAS_STRIPE_SHARED))
		vas_store_release(c, vas_load_relaxed(c) + 1);
	else
		__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

#define stripe_inc(vas, field)                                                 \
	do {                                                                   \
		unsigned s_ = vas__stripe();                                   \
		stripe_add(&(vas)->stripes[s_].field, s_);                     \
	} while (0)

/**
 * vas__mark() - Mark a published VMA: faults that find it will retry.
 * Context: Writer.
 */
void vas__mark(struct vas_area *a)
{
	uatomic_set(&a->state, VAS_AREA_MARKED);
}

/**
 * vas__unmark() - Undo vas__mark() (the operation was aborted).
 * Context: Writer.
 */
void vas__unmark(struct vas_area *a)
{
	vas_store_release(&a->state, VAS_AREA_LIVE);
}

/**
 * vas__drain() - Wait until no fault holds the read lock of marked @a.
 * Context: Writer, not in an RCU read-side section.
 */
void vas__drain(struct vas_area *a)
{
	vas__drain_all(&a, 1);
}

static bool area_in(struct vas_area *const *v, size_t n,
		    const struct vas_area *h)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == h)
			return true;
	return false;
}

/**
 * vas__drain_all() - Wait until no fault holds the read lock of any of the
 * @n marked areas @v: one pass over the reader slots for all of them, so
 * that an operation reads each reader's slot (and takes its cache line
 * away from the reader) once, not once per area.
 * Context: Writer, not in an RCU read-side section.
 */
void vas__drain_all(struct vas_area *const *v, size_t n)
{
	unsigned i, nr;
	size_t j;

	if (!n)
		return;
	cmm_smp_mb(); /* order the marks before reading the flags and slots */
	/*
	 * A fault sets a->faulted, then (full barrier) publishes its hazard
	 * and reads the mark; we marked, then (full barrier) read the flag.
	 * So if no area of @v is flagged, any fault still to flag one will
	 * see its mark and back off: no slot needs to be read, and the
	 * readers' slot lines stay theirs.
	 */
	for (j = 0; j < n; j++)
		if (uatomic_read(&v[j]->faulted))
			break;
	if (j == n)
		return;
	nr = uatomic_read(&vas_readers_hw);
	for (i = 0; i < nr; i++) {
		struct vas_area *h = vas_load_acquire(&vas_readers[i].hazard);

		/* A slot can only come to hold a marked area again briefly:
		 * the reader sees the mark and backs off. */
		while (h && area_in(v, n, h)) {
			caa_cpu_relax();
			h = vas_load_acquire(&vas_readers[i].hazard);
		}
	}
}

/* access_error() */
static bool access_error(const struct vas_area *a, enum vas_access access)
{
	switch (access) {
	case VAS_ACCESS_WRITE:
		return !(a->flags & VAS_F_WRITE);
	case VAS_ACCESS_EXEC:
		return !(a->flags & VAS_F_EXEC);
	case VAS_ACCESS_READ:
	default:
		return !(a->flags & VAS_F_ACCESS);
	}
}

/*
 * x86's access_error() tells an instruction fetch from a read only by the
 * page being present: a fetch from a page that is not present, in an
 * accessible VMA without VM_EXEC, is handled as a read fault ("read, not
 * present"), so the page is mapped, and only the retried fetch, now a
 * protection fault, fails with SEGV_ACCERR. Return the access to handle
 * (a read for such a fetch) and set *@accerr_after when the fault must
 * still end in SEGV_ACCERR.
 * Context: Holds @a's read lock (or the writer lock).
 */
static enum vas_access fault_access(const struct vas *vas,
				    const struct vas_area *a, uint64_t addr,
				    enum vas_access access, bool *accerr_after)
{
	*accerr_after = false;
	if (access != VAS_ACCESS_EXEC || (a->flags & VAS_F_EXEC) ||
	    !(a->flags & VAS_F_ACCESS) ||
	    vas__pt_test(&vas->pt, addr >> VAS_PAGE_SHIFT))
		return access;
	*accerr_after = true;
	return VAS_ACCESS_READ;
}

/*
 * Map the page at @addr of @a for @access: the zero page for a read of
 * private anonymous memory, else a page of its own (counted in rss).
 * Context: Holds @a's read lock (or the writer lock); @a has the anon_vma
 * the fault needs.
 * Return: false if the page table could not take the page.
 */
static bool fault_map_page(struct vas *vas, struct vas_area *a, uint64_t addr,
			   enum vas_access access, bool *populated,
			   bool *changed)
{
	bool zero = access != VAS_ACCESS_WRITE &&
		    vas_read_maps_zero_page(&vas->layout, a);
	bool counted;

	if (!vas__pt_test_set(&vas->pt, addr >> VAS_PAGE_SHIFT, zero, populated,
			      &counted))
		return false;
	if (counted)
		uatomic_inc(&a->rss);
	if (*populated || counted)
		*changed = true;
	return true;
}

/*
 * Give @a an anon_vma (vmf_anon_prepare()): under the write lock, taken
 * with a trylock. Return: true if @a has one now, false to retry.
 */
static bool fault_anon_prepare(struct vas *vas, struct vas_area *a)
{
	struct vas_area *prev, *next;
	uint32_t anon;

	if (pthread_mutex_trylock(&vas->write_lock))
		return false;
	if (vas_load_acquire(&a->state) != VAS_AREA_LIVE) {
		pthread_mutex_unlock(&vas->write_lock);
		return false;
	}
	vas->write_held = 1;
	if (!vas_area_anon(a)) {
		next = vt_next(vas->vt, a->end, NULL, NULL);
		prev = a->start ? vt_prev(vas->vt, a->start - 1, NULL, NULL)
				: NULL;
		anon = vas__find_mergeable_anon(vas, a, prev, next);
		uatomic_set(&a->anon, anon);
	}
	vas->write_held = 0;
	pthread_mutex_unlock(&vas->write_lock);
	return true;
}

/* Wait for the writer that made us retry, politely. */
static void fault_backoff(struct vas *vas, unsigned retries)
{
	if (retries < VAS_SPIN_RETRIES) {
		sched_yield();
		return;
	}
	pthread_mutex_lock(&vas->write_lock);
	pthread_mutex_unlock(&vas->write_lock);
}

/* Slow path without a reader slot: fault under the write lock. */
static int fault_locked(struct vas *vas, uint64_t addr, enum vas_access access,
			struct vas_fault_result *res, bool *done)
{
	struct vas_area *a;

	*done = false;
	vas__lock(vas);
	a = vt_load(vas->vt, addr, NULL, NULL);
	if (a) {
		bool accerr_after;

		*done = true;
		access = fault_access(vas, a, addr, access, &accerr_after);
		if (access_error(a, access)) {
			res->status = VAS_FAULT_SEGV;
			res->code = VAS_SEGV_ACCERR;
		} else if (vas__guard_test(vas->guards, addr)) {
			/* A guard marker: VM_FAULT_SIGSEGV, SEGV_MAPERR. */
			res->status = VAS_FAULT_SEGV;
			res->code = VAS_SEGV_MAPERR;
		} else {
			if (vas_fault_needs_anon(&vas->layout, a,
						 access == VAS_ACCESS_WRITE) &&
			    !vas_area_anon(a)) {
				struct vas_area *p, *n;

				n = vt_next(vas->vt, a->end, NULL, NULL);
				p = a->start ? vt_prev(vas->vt, a->start - 1,
						       NULL, NULL)
					     : NULL;
				uatomic_set(&a->anon, vas__find_mergeable_anon(
							      vas, a, p, n));
				res->changed = true;
			}
			if (!fault_map_page(vas, a, addr, access,
					    &res->populated, &res->changed)) {
				vas__unlock(vas);
				return -ENOMEM;
			}
			if (accerr_after) {
				res->status = VAS_FAULT_SEGV;
				res->code = VAS_SEGV_ACCERR;
			} else {
				res->status = VAS_FAULT_OK;
				vas__fill_info(vas, a, &res->vma);
			}
		}
	}
	vas__unlock(vas);
	return 0;
}

/*
 * Attempts at deciding under RCU alone whether an unmapped address has a
 * stack to grow into it, before the decision is taken under the lock.
 */
#define VAS_NO_VMA_TRIES 4

/*
 * Look @addr up, and if no VMA holds it, whether a stack (growsdown above
 * it, growsup below) could grow to cover it, in one state of the tree:
 * the lookup and its neighbours are three walks, and a mutation between
 * them could turn "unmapped with a stack above" and "mapped" into "unmapped
 * and nothing to grow", which no state says (a SEGV_MAPERR that never
 * was). The first lookup by the caller is not repeated when it finds a
 * VMA: a single walk is one state, and faults that hit pay nothing.
 * Context: RCU reader.
 * Return: the VMA containing @addr, or NULL with *@grow set; NULL with
 * *@locked set if mutations kept invalidating the reads (the caller
 * decides under the lock).
 */
static struct vas_area *fault_find_stack(struct vas *vas, uint64_t addr,
					 bool *grow, bool *locked)
{
	struct vas_area *a, *n;
	unsigned long seq;

	*locked = false;
	for (unsigned tries = 0; tries < VAS_NO_VMA_TRIES; tries++) {
		*grow = false;
		seq = vt_read_begin(vas->vt);
		a = vt_load(vas->vt, addr, NULL, NULL);
		if (!a) {
			n = vt_next(vas->vt, addr, NULL, NULL);
			if (n && (n->flags & VAS_F_GROWSDOWN)) {
				*grow = true;
			} else {
				n = vt_prev(vas->vt, addr, NULL, NULL);
				*grow = n && (n->flags & VAS_F_GROWSUP);
			}
		}
		if (!vt_read_retry(vas->vt, seq))
			return a;
	}
	*locked = true;
	return NULL;
}

/*
 * fault_find_stack() under the writer lock: is @addr still unmapped, and
 * is there a stack to grow?
 * Context: Takes vas->write_lock (not inside an RCU read-side section).
 * Return: true if @addr is unmapped (*@grow says whether to grow).
 */
static bool fault_find_stack_locked(struct vas *vas, uint64_t addr, bool *grow)
{
	struct vas_area *n;
	bool unmapped;

	vas__lock(vas);
	unmapped = !vt_load(vas->vt, addr, NULL, NULL);
	n = vt_next(vas->vt, addr, NULL, NULL);
	*grow = n && (n->flags & VAS_F_GROWSDOWN);
	if (!*grow) {
		n = vt_prev(vas->vt, addr, NULL, NULL);
		*grow = n && (n->flags & VAS_F_GROWSUP);
	}
	vas__unlock(vas);
	return unmapped;
}

int vas_fault(struct vas *vas, uint64_t addr, enum vas_access access,
	      struct vas_fault_result *res)
{
	struct vas_reader *self = reader_self();
	unsigned retries = 0;
	bool expanded, grew_anon, refused = false;
	int err;

	stripe_inc(vas, faults);
	res->status = VAS_FAULT_OK;
	res->code = VAS_SEGV_NONE;
	res->populated = false;
	res->expanded = false;
	res->changed = false;

	for (;;) {
		struct vas_area *a;
		enum vas_access handled;
		bool grow = false, locked = false, accerr_after, ok;

		if (caa_unlikely(!self)) {
			bool done;

			err = fault_locked(vas, addr, access, res, &done);
			if (err)
				return err;
			if (done)
				goto out;
			/* Unmapped: a stack to grow? Under the lock. */
			a = NULL;
			locked = true;
		} else {
			urcu_memb_read_lock();
			a = vt_load(vas->vt, addr, NULL, NULL);
			if (!a) /* Is there a stack to grow? */
				a = fault_find_stack(vas, addr, &grow, &locked);
			if (!a)
				urcu_memb_read_unlock();
		}
		if (!a) {
			if (locked &&
			    !fault_find_stack_locked(vas, addr, &grow)) {
				stripe_inc(vas, retries);
				continue; /* mapped meanwhile: look again */
			}
			if (!grow || refused)
				goto no_vma;
			/*
			 * The page table must be able to take the page before
			 * the stack grows, so that -ENOMEM changes nothing.
			 * Under the writer lock: addr is in no VMA, and only a
			 * writer may fold the nodes of an unmapped range.
			 */
			vas__lock(vas);
			ok = vas__pt_leaf(&vas->pt, addr >> VAS_PAGE_SHIFT,
					  true) != NULL;
			vas__unlock(vas);
			if (!ok)
				return -ENOMEM;
			err = vas__grow_stack(vas, addr, &expanded, &grew_anon);
			if (grew_anon)
				res->changed = true;
			if (err < 0)
				return err;
			if (err > 0)
				continue; /* covered meanwhile: look again */
			if (expanded) {
				res->expanded = true;
				res->changed = true;
				stripe_inc(vas, expansions);
			} else {
				/*
				 * Refused. After a growth (ours or another
				 * fault's), a writer may cut the stack again
				 * before we look, so growing again is
				 * allowed then.
				 */
				refused = true;
			}
			continue;
		}

		/*
		 * vma_start_read(): flag the area as entered by a fault
		 * (once), publish, then check the mark. The exchange is the
		 * full barrier between the stores and the check (cheaper
		 * than a store and a separate fence).
		 */
		if (caa_unlikely(!vas_load_relaxed(&a->faulted)))
			uatomic_set(&a->faulted, 1);
		(void)uatomic_xchg(&self->hazard, a);
		if (uatomic_read(&a->state) != VAS_AREA_LIVE ||
		    addr < a->start || addr >= a->end) {
			vas_store_release(&self->hazard, NULL);
			urcu_memb_read_unlock();
			stripe_inc(vas, retries);
			fault_backoff(vas, ++retries);
			continue;
		}
#ifdef VMAD_TEST_HOOKS
		if (vas_test_fault_held)
			vas_test_fault_held(vas, addr);
#endif
		handled = fault_access(vas, a, addr, access, &accerr_after);
		if (access_error(a, handled)) {
			vas_store_release(&self->hazard, NULL);
			urcu_memb_read_unlock();
			res->status = VAS_FAULT_SEGV;
			res->code = VAS_SEGV_ACCERR;
			stripe_inc(vas, accerr);
			return 0;
		}
		if (caa_unlikely(vas__guard_test(rcu_dereference(vas->guards),
						 addr))) {
			/*
			 * handle_pte_marker(): a guard page is
			 * VM_FAULT_SIGSEGV, which x86 reports as SEGV_MAPERR.
			 * The markers change only while the areas they cover
			 * are drained, so holding @a makes this read stable.
			 */
			vas_store_release(&self->hazard, NULL);
			urcu_memb_read_unlock();
			res->status = VAS_FAULT_SEGV;
			res->code = VAS_SEGV_MAPERR;
			stripe_inc(vas, maperr);
			return 0;
		}
		if (vas_fault_needs_anon(&vas->layout, a,
					 handled == VAS_ACCESS_WRITE) &&
		    !vas_area_anon(a)) {
			if (!fault_anon_prepare(vas, a)) {
				vas_store_release(&self->hazard, NULL);
				urcu_memb_read_unlock();
				stripe_inc(vas, retries);
				fault_backoff(vas,
					      VAS_SPIN_RETRIES + ++retries);
				continue;
			}
			/* Ours, or a racing fault's: either way, a change. */
			res->changed = true;
		}
		if (!fault_map_page(vas, a, addr, handled, &res->populated,
				    &res->changed)) {
			vas_store_release(&self->hazard, NULL);
			urcu_memb_read_unlock();
			return -ENOMEM;
		}
		if (!accerr_after)
			vas__fill_info(vas, a, &res->vma);
		vas_store_release(&self->hazard, NULL);
		urcu_memb_read_unlock();
		if (accerr_after) {
			res->status = VAS_FAULT_SEGV;
			res->code = VAS_SEGV_ACCERR;
			stripe_inc(vas, accerr);
		}
		goto out;
	}
no_vma:
	res->status = VAS_FAULT_SEGV;
	res->code = VAS_SEGV_MAPERR;
	stripe_inc(vas, maperr);
	return 0;
out:
	return 0;
}
