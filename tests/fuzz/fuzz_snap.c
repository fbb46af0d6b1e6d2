// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: libFuzzer target: space snapshots from anywhere.
 *
 * The input is handed to vas_restore() as a snapshot. It must be refused
 * with -EINVAL and a message (or -ENOMEM), or give a space that passes
 * vas_validate(), whose own snapshot restores again to a space with the
 * same snapshot, and on which the same faults and munmaps give the same
 * results as on that copy. The seed corpus holds snapshots of spaces
 * with stacks, heaps, files, shared anonymous memory, forked anon_vmas,
 * zero pages and moved VMAs, so mutations reach every section.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "vma/vas.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "fuzz_snap: " __VA_ARGS__);                    \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

static void snapshot(struct vas *v, void **buf, size_t *len)
{
	int ret = vas_snapshot(v, buf, len);

	if (ret)
		FAIL("vas_snapshot of a restored space: %d", ret);
}

static void same_bytes(struct vas *a, struct vas *b, const char *when)
{
	void *x, *y;
	size_t lx, ly;

	snapshot(a, &x, &lx);
	snapshot(b, &y, &ly);
	if (lx != ly || memcmp(x, y, lx))
		FAIL("%s: the copies' snapshots differ (%zu, %zu bytes)", when,
		     lx, ly);
	vma_free(x);
	vma_free(y);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("VMA_RECLAIM_PACE_US", "0", 0);
	urcu_memb_register_thread();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vas_vma_info *vmas;
	struct vas *v, *c;
	char msg[256] = "";
	void *buf;
	size_t len, nr, i;
	int ret = vas_restore(data, size, &v, msg, sizeof(msg));

	if (ret == -ENOMEM)
		return 0;
	if (ret) {
		if (ret != -EINVAL || !msg[0])
			FAIL("refused with %d and message '%s'", ret, msg);
		return 0;
	}
	if (vas_validate(v, msg, sizeof(msg)))
		FAIL("restored an invalid space: %s", msg);
	snapshot(v, &buf, &len);
	ret = vas_restore(buf, len, &c, msg, sizeof(msg));
	vma_free(buf);
	if (ret)
		FAIL("its own snapshot is refused: %s", msg);
	same_bytes(v, c, "after restore");
	/* The same operations on both copies give the same answers. */
	if (vas_maps(v, &vmas, &nr))
		FAIL("vas_maps");
	for (i = 0; i < nr && i < 64; i++) {
		struct vas_fault_result ra, rb;
		uint64_t addr =
			vmas[i].start + (vmas[i].end - vmas[i].start) / 2;
		enum vas_access acc = (enum vas_access)(i % 3);
		int ea = vas_fault(v, addr, acc, &ra);
		int eb = vas_fault(c, addr, acc, &rb);

		if (ea != eb ||
		    (!ea && (ra.status != rb.status || ra.code != rb.code ||
			     ra.populated != rb.populated ||
			     ra.changed != rb.changed)))
			FAIL("fault at %#llx differs",
			     (unsigned long long)addr);
		if (i % 4 == 3 && vas_munmap(v, addr & ~4095ULL, 4096) !=
					  vas_munmap(c, addr & ~4095ULL, 4096))
			FAIL("munmap at %#llx differs",
			     (unsigned long long)addr);
	}
	vma_free(vmas);
	same_bytes(v, c, "after the same operations");
	vas_free(c);
	vas_free(v);
	return 0;
}
