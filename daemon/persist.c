// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: Durable spaces: snapshots, journals, and loading them at start.
 *
 * With a state_dir, every space has files there, named by its id:
 *
 *   space-ID.snap          its last saved space file (spacefile.c): the
 *                          snapshot, and the journal position it includes
 *   space-ID.GEN.journal   with appendonly: the changes made since, one
 *                          record per request (journal generation GEN)
 *   ids                    "next_id N": ids below N may have been used
 *   lock                   flock()ed for the daemon's life: one daemon per
 *                          state directory
 *
 * Saving a space (every save_interval for the spaces that changed, and
 * at SIGTERM) takes its snapshot under the space's journal lock, switches
 * appends to a new journal generation, and writes the space file to
 * "space-ID.snap.tmp", fsync()s it, rename()s it over the old one and
 * fsync()s the directory; only then are the older journals deleted. A
 * save that fails (a full disk) leaves the previous file and journals as
 * they were, is logged as an error, and is tried again at the next
 * interval; the daemon goes on serving.
 *
 * The journal (appendonly): a request that may change a space
 * (handlers.c, H_CHANGES) runs under the space's journal lock; if it
 * changed the space, the request is written back as JSON
 * (rpc_request_write()) in a record [length, CRC-32, text] queued in the
 * space's journal buffer, in the order of the changes. A worker answers a
 * burst of pipelined requests with one send: before it, the buffer is
 * written with one write() (vmad_persist_flush()), so nothing answered is
 * lost when vmad is killed. The records reach the disk: with appendfsync
 * always, before the answer (one fdatasync() per burst and journal, shared
 * by concurrent bursts); with everysec, within a second (the saver
 * thread); with no, when the kernel writes them back.
 * Room for the next record is preallocated (fallocate) before a change is
 * made: on a full disk the request is refused up front with ENOSPC and
 * the change is not made. A write that fails all the same (the change was
 * made, but not recorded) is answered with EIO, and every later change of
 * that space too, until a save (which includes it) succeeds.
 *
 * Loading: every "space-ID.snap" is checked (spacefile.c, then
 * vas_restore()) and listed under its id, owner and name; then its
 * journals from the saved position on are replayed through the same
 * handlers (vmad_replay()). A torn last record (vmad died in the middle of
 * a write) is cut off with a warning. A file that is damaged, truncated or
 * of another version is logged with what is wrong, renamed to
 * "NAME.corrupt" with its journals, and its space is not loaded; every
 * other space is. Journals without a snapshot are those of a space being
 * destroyed (the snapshot goes first) or created (the journal comes first)
 * when vmad stopped: they are removed with a warning. Each space then
 * journals into a new generation, or on into its last journal if that one
 * is empty.
 *
 * Locks of a space, in order: flock (its files: save against destroy),
 * jlock (journal order, the journal's descriptor and length), synclock
 * (fdatasync of the journal). The registry lock is taken before any of
 * them (a new space's first save).
 */
#include "vmad.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#define JOURNAL_MAGIC	"VMADJNL"
#define JOURNAL_VERSION 1
#define JOURNAL_HDR	32 /* magic, version, reserved, space id, gen */
#define RECORD_HDR	8  /* length, CRC-32 */
#define RECORD_MAX	(16u << 20)
#define JOURNAL_CHUNK	(64u << 10) /* preallocated at a time */
#define RECORD_ROOM	(8u << 10)  /* more than any record needs */
#define IDS_BLOCK	1024	    /* ids reserved on disk at a time */
#define JBUF_KEEP	(64u << 10) /* a larger queue is freed once written */

struct vmad_persist {
	struct vmad_server *srv;
	const char *dir;
	int dirfd;
	int lockfd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* guards stop */
	pthread_cond_t cond;
	bool stop;
	bool closed; /* after the final save: unlisted spaces keep files */
	uint64_t saves, save_failures; /* saver thread only */
};

struct vmad_pspace {
	pthread_mutex_t flock; /* the space's files */
	bool removed;	       /* under flock: destroyed, files gone */
	uint64_t jfirst;       /* under flock: oldest journal that may exist */

	pthread_mutex_t jlock; /* journal order */
	int jfd;	       /* -1: not journaling */
	uint64_t jgen;	       /* generation appended to (or next, if none) */
	uint64_t jwritten;     /* bytes in it */
	uint64_t jalloc;       /* bytes preallocated (fallocate) */
	struct rpc_buf jbuf;   /* records queued after jwritten, in order */
	size_t jcharged;       /* jbuf.cap counted in the server's buffers */
	uint64_t jprev_gen;    /* the generation the last save closed */
	bool jprev_ok;	       /* its queued records were written */
	bool jbroken;	       /* a write failed: refuse changes */
	bool jnoroom;	       /* changes refused for want of room (logged) */

	pthread_mutex_t synclock; /* fdatasync of the journal */
	uint64_t jsynced;	  /* bytes of generation jgen on disk */

	int dirty; /* atomic: changed since the last save */
};

/* ---- Files ---------------------------------------------------------------
 */

static void snap_name(char *buf, size_t len, uint64_t id)
{
	snprintf(buf, len, "space-%" PRIu64 ".snap", id);
}

static void journal_name(char *buf, size_t len, uint64_t id, uint64_t gen)
{
	snprintf(buf, len, "space-%" PRIu64 ".%" PRIu64 ".journal", id, gen);
}

/* Write all of @len bytes at the end of @fd. Return 0 or -errno. */
static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOSPC;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Replace @name in the state directory by @len bytes of @data: a
 * temporary file, fsync, rename, fsync of the directory.
 */
static int write_file_atomic(struct vmad_persist *p, const char *name,
			     const void *data, size_t len)
{
	char tmp[VMAD_PATH_MAX];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(p->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -errno;
	ret = write_all(fd, data, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && renameat(p->dirfd, tmp, p->dirfd, name) < 0)
		ret = -errno;
	if (ret) {
		unlinkat(p->dirfd, tmp, 0);
		return ret;
	}
	if (fsync(p->dirfd) < 0)
		return -errno;
	return 0;
}

/* Read the whole of @name. Return 0 with a new buffer, or -errno. */
static int read_file(struct vmad_persist *p, const char *name, char **out,
		     size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

/* Keep @name aside as NAME.corrupt. */
static void move_aside(struct vmad_persist *p, const char *name)
{
	char to[VMAD_PATH_MAX + 8];

	snprintf(to, sizeof(to), "%s.corrupt", name);
	if (renameat(p->dirfd, name, p->dirfd, to) < 0)
		vmad_log(VMAD_LOG_ERROR, "%s/%s: cannot rename to %s: %s",
			 p->dir, name, to, strerror(errno));
}

/* ---- Journals ------------------------------------------------------------
 */

/* Create journal @gen of space @id (header written). Return fd or -errno. */
static int journal_create(struct vmad_persist *p, uint64_t id, uint64_t gen)
{
	unsigned char hdr[JOURNAL_HDR] = JOURNAL_MAGIC;
	char name[VMAD_PATH_MAX], tmp[VMAD_PATH_MAX + 4];
	int fd, ret;

	/* Under its name only once its header is whole. */
	journal_name(name, sizeof(name), id, gen);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = openat(p->dirfd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	vmad_put_le(hdr + 8, JOURNAL_VERSION, 4);
	vmad_put_le(hdr + 16, id, 8);
	vmad_put_le(hdr + 24, gen, 8);
	ret = write_all(fd, hdr, sizeof(hdr));
	/* With always, the new file and its name are durable before use. */
	if (!ret && p->srv->cfg.appendfsync == VMAD_FSYNC_ALWAYS &&
	    fdatasync(fd) < 0)
		ret = -errno;
	if (!ret && renameat(p->dirfd, tmp, p->dirfd, name) < 0)
		ret = -errno;
	if (!ret && p->srv->cfg.appendfsync == VMAD_FSYNC_ALWAYS &&
	    fsync(p->dirfd) < 0)
		ret = -errno;
	if (ret) {
		close(fd);
		unlinkat(p->dirfd, tmp, 0);
		unlinkat(p->dirfd, name, 0);
		return ret;
	}
	return fd;
}

/*
 * Make journal generation @gen durable up to @upto bytes (fdatasync),
 * unless a save already moved past it or someone else synced it.
 * Context: Not holding ps->jlock.
 */
static int journal_sync(struct vmad_pspace *ps, uint64_t gen, uint64_t upto)
{
	int ret = 0;

	pthread_mutex_lock(&ps->synclock);
	/* A save syncs the old generation before it switches. */
	if (ps->jgen == gen && ps->jfd >= 0 && ps->jsynced < upto) {
		uint64_t written = uatomic_read(&ps->jwritten);

		if (fdatasync(ps->jfd) < 0)
			ret = -errno;
		else
			ps->jsynced = written;
	}
	pthread_mutex_unlock(&ps->synclock);
	return ret;
}

/*
 * Switch @ps to a new journal generation (a save). The old one is synced
 * first with appendfsync always. On failure the old journal stays.
 * Context: Holds ps->jlock.
 * Return: 0; -errno.
 */
static int journal_switch(struct vmad_persist *p, struct vmad_space *sp)
{
	struct vmad_pspace *ps = sp->ps;
	int fd = journal_create(p, sp->id, ps->jgen + 1);

	if (fd < 0)
		return fd;
	pthread_mutex_lock(&ps->synclock);
	if (ps->jfd >= 0) {
		if (p->srv->cfg.appendfsync == VMAD_FSYNC_ALWAYS &&
		    ps->jsynced < ps->jwritten && fdatasync(ps->jfd) < 0)
			vmad_log(VMAD_LOG_ERROR,
				 "%s: journal of space %" PRIu64 ": fdatasync: "
				 "%s",
				 p->dir, sp->id, strerror(errno));
		close(ps->jfd);
	}
	ps->jfd = fd;
	ps->jgen++;
	ps->jwritten = ps->jsynced = JOURNAL_HDR;
	ps->jalloc = 0;
	ps->jbroken = false;
	pthread_mutex_unlock(&ps->synclock);
	return 0;
}

/*
 * Make sure the next record has room on disk before the change is made:
 * blocks are preallocated (fallocate) a chunk at a time, so that a full
 * disk refuses a change up front instead of failing its record after the
 * change was made. A file system without fallocate goes without.
 * Context: Holds ps->jlock.
 * Return: 0; -ENOSPC or another -errno (nothing was changed).
 */
static int journal_reserve(struct vmad_persist *p, struct vmad_space *sp)
{
	struct vmad_pspace *ps = sp->ps;
	int ret = 0;

	uint64_t end = ps->jwritten + ps->jbuf.len;

	if (ps->jalloc >= end + RECORD_ROOM)
		return 0;
	if (fallocate(ps->jfd, FALLOC_FL_KEEP_SIZE, (off_t)end,
		      JOURNAL_CHUNK) == 0)
		ps->jalloc = end + JOURNAL_CHUNK;
	else if (errno == EOPNOTSUPP || errno == ENOSYS)
		ps->jalloc = UINT64_MAX;
	else
		ret = -errno;
	if (!ret && ps->jnoroom)
		vmad_log(VMAD_LOG_WARN,
			 "%s: journal of space %" PRIu64 ": room again; "
			 "changes are accepted",
			 p->dir, sp->id);
	else if (ret && !ps->jnoroom)
		vmad_log(VMAD_LOG_ERROR,
			 "%s: journal of space %" PRIu64 ": cannot reserve "
			 "room: %s; its changes are refused (and not made) "
			 "until there is room",
			 p->dir, sp->id, strerror(-ret));
	ps->jnoroom = ret != 0;
	return ret;
}

/*
 * Count the journal queue's buffer in max_memory's buffers (memory.c):
 * what it holds now less what was counted.
 * Context: Holds ps->jlock (or the space is no longer reachable).
 */
static void jbuf_charge(struct vmad_server *srv, struct vmad_pspace *ps)
{
	vmad_memory_charge(srv, (int64_t)ps->jbuf.cap - (int64_t)ps->jcharged);
	ps->jcharged = ps->jbuf.cap;
}

/*
 * Queue one record holding @text: it is written, in order, by the next
 * journal_write_queued() (before the change is answered).
 * Context: Holds ps->jlock.
 * Return: 0; -ENOMEM.
 */
static int journal_queue(struct vmad_server *srv, struct vmad_pspace *ps,
			 const char *text, size_t len)
{
	unsigned char hdr[RECORD_HDR];

	vmad_put_le(hdr, len, 4);
	vmad_put_le(hdr + 4, vmad_crc32(0, text, len), 4);
	rpc_buf_put(&ps->jbuf, hdr, sizeof(hdr));
	rpc_buf_put(&ps->jbuf, text, len);
	if (!ps->jbuf.oom) {
		jbuf_charge(srv, ps);
		return 0;
	}
	rpc_buf_fini(&ps->jbuf);
	jbuf_charge(srv, ps);
	return -ENOMEM;
}

/*
 * Empty the queue; a large one (a long batch of changes) gives its memory
 * back rather than keep it for every space.
 * Context: Holds ps->jlock.
 */
static void jbuf_reset(struct vmad_server *srv, struct vmad_pspace *ps)
{
	if (ps->jbuf.cap > JBUF_KEEP)
		rpc_buf_fini(&ps->jbuf);
	else
		rpc_buf_reset(&ps->jbuf);
	jbuf_charge(srv, ps);
}

/*
 * Write the queued records with one write(). On failure the partial
 * write is cut off (or the journal given up), the queued records are
 * lost and the journal is broken until a save.
 * Context: Holds ps->jlock.
 */
static int journal_write_queued(struct vmad_persist *p, struct vmad_space *sp)
{
	struct vmad_pspace *ps = sp->ps;
	int ret;

	if (!ps->jbuf.len || ps->jfd < 0) {
		jbuf_reset(p->srv, ps);
		return 0;
	}
	ret = write_all(ps->jfd, ps->jbuf.data, ps->jbuf.len);
	if (!ret) {
		uatomic_set(&ps->jwritten, ps->jwritten + ps->jbuf.len);
		jbuf_reset(p->srv, ps);
		return 0;
	}
	jbuf_reset(p->srv, ps);
	ps->jbroken = true;
	if (ftruncate(ps->jfd, (off_t)ps->jwritten) < 0)
		vmad_log(VMAD_LOG_ERROR,
			 "%s: journal of space %" PRIu64 ": cannot cut off a "
			 "partial record: %s",
			 p->dir, sp->id, strerror(errno));
	vmad_log(VMAD_LOG_ERROR,
		 "%s: journal of space %" PRIu64 ": %s; its changes are "
		 "refused until it is saved",
		 p->dir, sp->id, strerror(-ret));
	return ret;
}

/*
 * Make the record that ends at byte @end of journal generation @gen of
 * @sp durable as appendfsync asks: written (with every record queued
 * before it), and with always, on disk.
 * Context: Not holding ps->jlock.
 * Return: true if it is.
 */
static bool journal_flush(struct vmad_persist *p, struct vmad_space *sp,
			  uint64_t gen, uint64_t end)
{
	struct vmad_pspace *ps = sp->ps;
	bool ok;
	int ret;

	pthread_mutex_lock(&ps->jlock);
	if (ps->removed) {
		ok = true; /* destroyed: nothing to keep */
	} else if (ps->jgen != gen) {
		/* A save closed the generation: it wrote what was queued. */
		ok = gen == ps->jprev_gen && ps->jprev_ok;
	} else {
		if (ps->jwritten < end)
			journal_write_queued(p, sp);
		ok = ps->jwritten >= end;
	}
	pthread_mutex_unlock(&ps->jlock);
	if (ok && p->srv->cfg.appendfsync == VMAD_FSYNC_ALWAYS) {
		ret = journal_sync(ps, gen, end);
		if (ret) {
			vmad_log(VMAD_LOG_ERROR,
				 "%s: journal of space %" PRIu64
				 ": fdatasync: %s; its changes are refused "
				 "until it is saved",
				 p->dir, sp->id, strerror(-ret));
			pthread_mutex_lock(&ps->jlock);
			ps->jbroken = true;
			pthread_mutex_unlock(&ps->jlock);
			ok = false;
		}
	}
	return ok;
}

/*
 * Records a worker queued in this burst of requests, to be made durable
 * before the burst is answered (vmad_persist_flush()).
 */
struct pending {
	struct vmad_space *sp; /* a reference */
	uint64_t gen, end;
};
static __thread struct pending *pend;
static __thread size_t nr_pend, cap_pend;

bool vmad_persist_flush(void)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < nr_pend; i++) {
		struct vmad_space *sp = pend[i].sp;

		if (!journal_flush(sp->srv->persist, sp, pend[i].gen,
				   pend[i].end))
			ok = false;
		vmad_space_put(sp);
	}
	nr_pend = 0;
	return ok;
}

void vmad_persist_thread_exit(void)
{
	vmad_persist_flush();
	free(pend);
	pend = NULL;
	cap_pend = 0;
}

/* Defer @sp's record (its reference moves to the list). */
static bool pending_add(struct vmad_space *sp, uint64_t gen, uint64_t end)
{
	if (nr_pend && pend[nr_pend - 1].sp == sp &&
	    pend[nr_pend - 1].gen == gen) {
		/* The same space again: the later record covers both. */
		pend[nr_pend - 1].gen = gen;
		pend[nr_pend - 1].end = end;
		vmad_space_put(sp);
		return true;
	}
	if (nr_pend == cap_pend) {
		size_t cap = cap_pend ? cap_pend * 2 : 16;
		struct pending *n = realloc(pend, cap * sizeof(*n));

		if (!n)
			return false;
		pend = n;
		cap_pend = cap;
	}
	pend[nr_pend++] = (struct pending){sp, gen, end};
	return true;
}

/* ---- Saving ----------------------------------------------------------------
 */

/* Delete the journals of @sp below generation @upto. Context: flock. */
static void journals_delete(struct vmad_persist *p, struct vmad_space *sp,
			    uint64_t upto)
{
	struct vmad_pspace *ps = sp->ps;
	char name[VMAD_PATH_MAX];

	for (; ps->jfirst < upto; ps->jfirst++) {
		journal_name(name, sizeof(name), sp->id, ps->jfirst);
		if (unlinkat(p->dirfd, name, 0) < 0 && errno != ENOENT)
			vmad_log(VMAD_LOG_WARN, "%s/%s: %s", p->dir, name,
				 strerror(errno));
	}
}

/*
 * Save @sp: snapshot (and switch journals) under jlock, then write the
 * file; then delete what it made obsolete. The dirty mark is cleared
 * first and set again if the save fails, so a change made meanwhile is
 * saved next time.
 * Context: the saver thread, or the registry lock held (a new space).
 */
static int save_space(struct vmad_persist *p, struct vmad_space *sp)
{
	const struct vmad_config *cfg = &p->srv->cfg;
	struct vmad_pspace *ps = sp->ps;
	uint64_t gen, off;
	char name[VMAD_PATH_MAX];
	bool queued_ok;
	void *data;
	size_t len;
	int ret;

	pthread_mutex_lock(&ps->flock);
	if (ps->removed) {
		pthread_mutex_unlock(&ps->flock);
		return 0;
	}
	uatomic_set(&ps->dirty, 0);
	pthread_mutex_lock(&ps->jlock);
	/* What is queued precedes the snapshot: into the old journal. */
	queued_ok = !journal_write_queued(p, sp);
	gen = ps->jgen;
	off = ps->jwritten;
	ret = vmad_space_export(sp, gen, off, &data, &len);
	if (!ret && cfg->appendonly && !journal_switch(p, sp)) {
		ps->jprev_gen = gen;
		ps->jprev_ok = queued_ok;
		gen = ps->jgen;
		off = JOURNAL_HDR;
	}
	pthread_mutex_unlock(&ps->jlock);
	snap_name(name, sizeof(name), sp->id);
	if (ret) {
		vmad_log(VMAD_LOG_ERROR, "%s/%s: cannot take a snapshot: %s",
			 p->dir, name, strerror(-ret));
	} else {
		ret = write_file_atomic(p, name, data, len);
		free(data);
		if (ret)
			vmad_log(VMAD_LOG_ERROR,
				 "%s/%s: save failed: %s; the previous "
				 "snapshot and journals are kept",
				 p->dir, name, strerror(-ret));
	}
	if (ret) {
		uatomic_set(&ps->dirty, 1);
		p->save_failures++;
	} else {
		journals_delete(p, sp, gen);
		p->saves++;
		vmad_log(VMAD_LOG_DEBUG, "%s/%s: saved (%zu bytes)", p->dir,
			 name, len);
	}
	pthread_mutex_unlock(&ps->flock);
	return ret;
}

static void sync_journals(struct vmad_persist *p, struct vmad_space **all,
			  long nr)
{
	long i;

	for (i = 0; i < nr; i++) {
		struct vmad_pspace *ps = all[i]->ps;
		int ret;

		if (!ps || uatomic_read(&ps->jfd) < 0 ||
		    uatomic_read(&ps->jwritten) == uatomic_read(&ps->jsynced))
			continue;
		ret = journal_sync(ps, uatomic_read(&ps->jgen), UINT64_MAX);
		if (ret)
			vmad_log(VMAD_LOG_ERROR,
				 "%s: journal of space %" PRIu64
				 ": fdatasync: %s",
				 p->dir, all[i]->id, strerror(-ret));
	}
}

/* fdatasync every journal with unsynced bytes (everysec). */
static void sync_all(struct vmad_persist *p)
{
	struct vmad_space **all;
	long nr = vmad_registry_collect(p->srv, &all), i;

	if (nr < 0)
		return;
	sync_journals(p, all, nr);
	for (i = 0; i < nr; i++)
		vmad_space_put(all[i]);
	free(all);
}

/* Save every changed space (@all: or every one). Saver thread. */
static void save_all(struct vmad_persist *p, bool only_dirty, bool sync)
{
	struct vmad_space **all;
	long nr = vmad_registry_collect(p->srv, &all), i;

	if (nr < 0) {
		vmad_log(VMAD_LOG_ERROR, "%s: out of memory listing spaces",
			 p->dir);
		return;
	}
	for (i = 0; i < nr; i++) {
		if (!all[i]->ps ||
		    (only_dirty && !uatomic_read(&all[i]->ps->dirty)))
			continue;
		save_space(p, all[i]);
	}
	if (sync)
		sync_journals(p, all, nr);
	for (i = 0; i < nr; i++)
		vmad_space_put(all[i]);
	free(all);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Loading, replaying journals and saving are never refused by max_memory
 * (memory.c): a space that exists is not lost, nor its last changes, for
 * want of room to hold or save it. What they take is counted all the same,
 * and requests that add to a space are refused while it is above.
 */
static void mem_unlimited(void)
{
	vma_mem_thread_limit(UINT64_MAX);
}

/*
 * The saver: every second, the journals (everysec); every save_interval,
 * the changed spaces.
 */
static void *saver_main(void *arg)
{
	struct vmad_persist *p = arg;
	const struct vmad_config *cfg = &p->srv->cfg;
	uint64_t next_save = now_ms() + cfg->save_interval_ms;
	bool everysec =
		cfg->appendonly && cfg->appendfsync == VMAD_FSYNC_EVERYSEC;

	mem_unlimited();
	urcu_memb_register_thread();
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		uint64_t now = now_ms(), wake = now + 1000;
		struct timespec ts;

		if (cfg->save_interval_ms && next_save < wake)
			wake = next_save;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)((wake - now) / 1000);
		ts.tv_nsec += (long)((wake - now) % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->lock);
		if (cfg->save_interval_ms && now_ms() >= next_save) {
			save_all(p, true, false);
			next_save = now_ms() + cfg->save_interval_ms;
		}
		if (everysec)
			sync_all(p);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	urcu_memb_unregister_thread();
	return NULL;
}

/* ---- Changes -------------------------------------------------------------
 */

int vmad_persist_begin(struct vmad_ctx *ctx, const struct rpc_request *req,
		       struct vmad_pchange *pc, struct rpc_error *err)
{
	const struct rpc_space_ref *ref = rpc_request_space(req);
	struct vmad_space *sp;

	memset(pc, 0, sizeof(*pc));
	if (!ref || vmad_registry_lookup(ctx->srv, ref, ctx->uid, &sp))
		return 0; /* the handler reports it */
	if (!sp->ps) {
		vmad_space_put(sp);
		return 0;
	}
	pc->sp = sp;
	if (ctx->srv->cfg.appendonly) {
		pthread_mutex_lock(&sp->ps->jlock);
		pc->locked = true;
		int ret = sp->ps->jbroken ? -EIO
			  : sp->ps->jfd >= 0
				  ? journal_reserve(ctx->srv->persist, sp)
				  : 0;

		if (ret) {
			pthread_mutex_unlock(&sp->ps->jlock);
			rpc_error_errno(err, sp->ps->jbroken ? -EIO : ret);
			if (sp->ps->jbroken)
				snprintf(err->msg, sizeof(err->msg),
					 "the journal of space %" PRIu64
					 " failed; changes are refused until "
					 "it is saved",
					 sp->id);
			else
				snprintf(err->msg, sizeof(err->msg),
					 "no room for the journal of space "
					 "%" PRIu64 ": %s; the change was not "
					 "made",
					 sp->id, strerror(-ret));
			vmad_space_put(sp);
			pc->sp = NULL;
			return -EPROTO;
		}
	}
	pc->mutations = vas_mutation_count(sp->vas);
	return 0;
}

int vmad_persist_end(struct vmad_ctx *ctx, const struct rpc_request *req,
		     struct vmad_pchange *pc, struct rpc_error *err)
{
	struct vmad_space *sp = pc->sp;
	struct vmad_pspace *ps;
	struct rpc_request rec;
	struct rpc_buf text;
	uint64_t gen = 0, end = 0;
	bool changed;
	int ret = 0;

	if (!sp)
		return 0;
	ps = sp->ps;
	changed = ctx->changed || vas_mutation_count(sp->vas) != pc->mutations;
	if (changed && !uatomic_read(&ps->dirty))
		uatomic_set(&ps->dirty, 1);
	if (pc->locked && changed && ps->jfd >= 0) {
		/* By id: names may be given to other spaces later. */
		rec = *req;
		((struct rpc_space_ref *)rpc_request_space(&rec))->by_name =
			false;
		((struct rpc_space_ref *)rpc_request_space(&rec))->id = sp->id;
		rpc_buf_init(&text);
		rpc_request_write(&text, &rec);
		ret = text.oom ? -ENOMEM
			       : journal_queue(ctx->srv, ps, text.data,
					       text.len);
		rpc_buf_fini(&text);
		if (ret) {
			/* Made, not recorded: refuse the space's changes. */
			ps->jbroken = true;
			vmad_log(VMAD_LOG_ERROR,
				 "journal of space %" PRIu64 ": out of memory; "
				 "its changes are refused until it is saved",
				 sp->id);
		}
		gen = ps->jgen;
		end = ps->jwritten + ps->jbuf.len;
	}
	if (pc->locked)
		pthread_mutex_unlock(&ps->jlock);
	/*
	 * A worker answers a burst of requests at once: their records are
	 * written (and synced) once for all, before (vmad_persist_flush()).
	 */
	if (!ret && end && ctx->w && pending_add(sp, gen, end))
		return 0;
	if (!ret && end && !journal_flush(ctx->srv->persist, sp, gen, end))
		ret = -EIO;
	if (ret && err) {
		rpc_error_errno(err, -EIO);
		snprintf(err->msg, sizeof(err->msg),
			 "the change could not be journaled: %s",
			 strerror(-ret));
	}
	vmad_space_put(sp);
	return ret ? -EIO : 0;
}

/* ---- Spaces coming and going ----------------------------------------------
 */

static struct vmad_pspace *pspace_new(void)
{
	struct vmad_pspace *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	pthread_mutex_init(&ps->flock, NULL);
	pthread_mutex_init(&ps->jlock, NULL);
	pthread_mutex_init(&ps->synclock, NULL);
	ps->jfd = -1;
	return ps;
}

int vmad_persist_added(struct vmad_server *srv, struct vmad_space *sp)
{
	struct vmad_persist *p = srv->persist;
	int ret;

	sp->ps = pspace_new();
	if (!sp->ps)
		return -ENOMEM;
	sp->ps->jgen = 0;
	sp->ps->dirty = 1;
	if (!srv->cfg.appendonly)
		return 0;
	/*
	 * The space exists once it is answered: its first snapshot (and an
	 * empty journal) are on disk before that.
	 */
	ret = save_space(p, sp);
	/* Past max_memory (the request's limit): ENOMEM, as any growth. */
	return ret == -ENOMEM ? ret : ret ? -EIO : 0;
}

void vmad_persist_removed(struct vmad_server *srv, struct vmad_space *sp)
{
	struct vmad_persist *p = srv->persist;
	struct vmad_pspace *ps = sp->ps;
	char name[VMAD_PATH_MAX];

	if (!p || !ps || p->closed)
		return;
	pthread_mutex_lock(&ps->flock);
	pthread_mutex_lock(&ps->jlock);
	pthread_mutex_lock(&ps->synclock);
	if (ps->jfd >= 0)
		close(ps->jfd);
	ps->jfd = -1;
	ps->removed = true;
	jbuf_reset(srv, ps);
	pthread_mutex_unlock(&ps->synclock);
	pthread_mutex_unlock(&ps->jlock);
	snap_name(name, sizeof(name), sp->id);
	if (unlinkat(p->dirfd, name, 0) < 0 && errno != ENOENT)
		vmad_log(VMAD_LOG_ERROR, "%s/%s: %s", p->dir, name,
			 strerror(errno));
	journals_delete(p, sp, ps->jgen + 1);
	if (srv->cfg.appendonly && srv->cfg.appendfsync == VMAD_FSYNC_ALWAYS)
		fsync(p->dirfd);
	pthread_mutex_unlock(&ps->flock);
}

void vmad_persist_free(struct vmad_space *sp)
{
	struct vmad_pspace *ps = sp->ps;

	if (!ps)
		return;
	if (ps->jfd >= 0)
		close(ps->jfd);
	rpc_buf_fini(&ps->jbuf);
	jbuf_charge(sp->srv, ps);
	pthread_mutex_destroy(&ps->flock);
	pthread_mutex_destroy(&ps->jlock);
	pthread_mutex_destroy(&ps->synclock);
	free(ps);
	sp->ps = NULL;
}

int vmad_persist_reserve_ids(struct vmad_server *srv, uint64_t next,
			     uint64_t *limit)
{
	struct vmad_persist *p = srv->persist;
	char text[64];
	int n, ret;

	n = snprintf(text, sizeof(text), "next_id %" PRIu64 "\n",
		     next + IDS_BLOCK);
	ret = write_file_atomic(p, "ids", text, (size_t)n);
	if (ret) {
		vmad_log(VMAD_LOG_ERROR, "%s/ids: cannot reserve ids: %s",
			 p->dir, strerror(-ret));
		return ret;
	}
	*limit = next + IDS_BLOCK;
	return 0;
}

/* ---- Loading -------------------------------------------------------------
 */

/* A file of the state directory found at start. */
struct found {
	uint64_t id, gen;
	bool journal;
	bool used;
	char name[64];
};

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->journal != y->journal)
		return x->journal ? 1 : -1; /* the snapshot first */
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* Parse "space-ID.snap" or "space-ID.GEN.journal". */
static bool parse_name(const char *s, struct found *f)
{
	char *end;

	memset(f, 0, sizeof(*f));
	if (strncmp(s, "space-", 6) || strlen(s) >= sizeof(f->name))
		return false;
	f->id = strtoull(s + 6, &end, 10);
	if (end == s + 6 || !f->id)
		return false;
	snprintf(f->name, sizeof(f->name), "%s", s);
	if (!strcmp(end, ".snap"))
		return true;
	if (*end != '.')
		return false;
	s = end + 1;
	f->gen = strtoull(s, &end, 10);
	if (end == s || strcmp(end, ".journal"))
		return false;
	f->journal = true;
	return true;
}

/*
 * Replay journal @f of @sp from byte @from. A torn last record is cut off
 * when @last; anything else wrong is reported in @why.
 * Return: 0; 1 if records were replayed; -EINVAL (@why); -errno.
 */
static int replay_journal(struct vmad_persist *p, struct vmad_space *sp,
			  const struct found *f, uint64_t from, bool last,
			  bool *empty, char *why, size_t whylen)
{
	char *buf;
	size_t len, off;
	int ret = read_file(p, f->name, &buf, &len), replayed = 0;

	if (ret) {
		snprintf(why, whylen, "cannot read it: %s", strerror(-ret));
		return -EINVAL;
	}
	if (len < JOURNAL_HDR || memcmp(buf, JOURNAL_MAGIC, 8)) {
		snprintf(why, whylen,
			 len < JOURNAL_HDR ? "truncated header (%zu bytes)"
					   : "not a vmad journal (bad magic)",
			 len);
		ret = -EINVAL;
		goto out;
	}
	if (vmad_get_le((unsigned char *)buf + 8, 4) != JOURNAL_VERSION) {
		snprintf(why, whylen,
			 "format version %" PRIu64 "; this vmad reads "
			 "version %d",
			 vmad_get_le((unsigned char *)buf + 8, 4),
			 JOURNAL_VERSION);
		ret = -EINVAL;
		goto out;
	}
	if (vmad_get_le((unsigned char *)buf + 16, 8) != sp->id ||
	    vmad_get_le((unsigned char *)buf + 24, 8) != f->gen) {
		snprintf(why, whylen,
			 "its header names another space or "
			 "generation");
		ret = -EINVAL;
		goto out;
	}
	*empty = len == JOURNAL_HDR;
	off = from > JOURNAL_HDR ? from : JOURNAL_HDR;
	if (off > len)
		off = len; /* the snapshot includes more than survived */
	while (off < len) {
		size_t n, i;
		const char *rec;
		bool zeros = true;

		if (len - off >= RECORD_HDR) {
			n = (size_t)vmad_get_le((unsigned char *)buf + off, 4);
			rec = buf + off + RECORD_HDR;
			if (n && n <= RECORD_MAX &&
			    n <= len - off - RECORD_HDR &&
			    vmad_crc32(0, rec, n) ==
				    vmad_get_le((unsigned char *)buf + off + 4,
						4)) {
				ret = vmad_replay(p->srv, rec, n, why, whylen);
				if (ret) {
					ret = -EINVAL;
					goto out;
				}
				replayed = 1;
				off += RECORD_HDR + n;
				continue;
			}
		}
		/* A torn end: nothing but this record (or zeros) follows. */
		n = len - off >= RECORD_HDR
			    ? (size_t)vmad_get_le((unsigned char *)buf + off, 4)
			    : 0;
		for (i = off; i < len; i++)
			if (buf[i]) {
				zeros = false;
				break;
			}
		if (last && (zeros || len - off < RECORD_HDR ||
			     n > len - off - RECORD_HDR ||
			     n == len - off - RECORD_HDR)) {
			int fd =
				openat(p->dirfd, f->name, O_WRONLY | O_CLOEXEC);

			vmad_log(VMAD_LOG_WARN,
				 "%s/%s: its last %zu bytes are an incomplete "
				 "record (vmad stopped while writing it): cut "
				 "off; the change they held was never "
				 "acknowledged",
				 p->dir, f->name, len - off);
			if (fd < 0 || ftruncate(fd, (off_t)off) < 0 ||
			    fsync(fd) < 0)
				vmad_log(VMAD_LOG_ERROR, "%s/%s: truncate: %s",
					 p->dir, f->name, strerror(errno));
			if (fd >= 0)
				close(fd);
			*empty = off == JOURNAL_HDR;
			break;
		}
		snprintf(why, whylen, "damaged record at byte %zu", off);
		ret = -EINVAL;
		goto out;
	}
	ret = replayed;
out:
	free(buf);
	return ret;
}

/* Set the space's files aside: the snapshot @f and its journals. */
static void set_aside(struct vmad_persist *p, struct found *v, size_t i,
		      size_t nr)
{
	uint64_t id = v[i].id;

	for (; i < nr && v[i].id == id; i++) {
		move_aside(p, v[i].name);
		v[i].used = true;
	}
}

/*
 * Load the space whose files start at @v[@i] (its snapshot), with its
 * journals. Return the index after its files.
 */
static size_t load_space(struct vmad_persist *p, struct found *v, size_t i,
			 size_t nr, size_t *bad)
{
	struct vmad_server *srv = p->srv;
	struct vmad_spacefile sf;
	struct vmad_space *sp;
	struct vas *vas;
	size_t first = i, end, j;
	char why[256], *buf;
	size_t len;
	uint64_t expect, reuse = 0;
	bool replayed = false, empty = false;
	int ret;

	for (end = i + 1; end < nr && v[end].id == v[i].id; end++)
		;
	ret = read_file(p, v[i].name, &buf, &len);
	if (ret) {
		vmad_log(VMAD_LOG_ERROR,
			 "%s/%s: cannot read it: %s; space "
			 "%" PRIu64 " not loaded",
			 p->dir, v[i].name, strerror(-ret), v[i].id);
		for (j = first; j < end; j++)
			v[j].used = true;
		return end;
	}
	ret = vmad_space_import(buf, len, &sf, &vas, why, sizeof(why));
	free(buf);
	if (!ret && sf.id != v[i].id) {
		vas_free(vas);
		snprintf(why, sizeof(why), "it holds space %" PRIu64, sf.id);
		ret = -EINVAL;
	}
	if (ret) {
		vmad_log(VMAD_LOG_ERROR,
			 "%s/%s: %s; moved to %s.corrupt (with its journals), "
			 "space %" PRIu64 " not loaded",
			 p->dir, v[i].name, why, v[i].name, v[i].id);
		set_aside(p, v, first, nr);
		*bad += end - first;
		return end;
	}
	ret = vmad_registry_add_restored(srv, sf.id, sf.name, sf.owner, vas,
					 &sp);
	if (ret) {
		vas_free(vas);
		vmad_log(VMAD_LOG_ERROR,
			 "%s/%s: %s '%s' is taken; moved to %s.corrupt, "
			 "space %" PRIu64 " not loaded",
			 p->dir, v[i].name, "the name", sf.name, v[i].name,
			 sf.id);
		set_aside(p, v, first, nr);
		*bad += end - first;
		return end;
	}
	sp->ps = pspace_new();
	if (!sp->ps) {
		vmad_log(VMAD_LOG_ERROR, "out of memory loading %s", v[i].name);
		vmad_registry_remove(srv, sp);
		vmad_space_put(sp);
		return end;
	}
	v[i].used = true;
	sp->ps->jfirst = sf.jgen;
	sp->ps->jgen = sf.jgen;
	/* The journals from the saved position on, in generation order. */
	expect = sf.jgen;
	for (j = first + 1; j < end; j++) {
		if (v[j].gen < sf.jgen) {
			/* Left over by a save that could not delete it. */
			if (unlinkat(p->dirfd, v[j].name, 0) == 0)
				vmad_log(VMAD_LOG_INFO,
					 "%s/%s: older than the snapshot; "
					 "removed",
					 p->dir, v[j].name);
			v[j].used = true;
			continue;
		}
		if (v[j].gen != expect &&
		    !(expect == sf.jgen && v[j].gen == sf.jgen + 1)) {
			snprintf(why, sizeof(why),
				 "journal generation %" PRIu64 " is missing",
				 expect);
			ret = -EINVAL;
		} else {
			ret = replay_journal(
				p, sp, &v[j], v[j].gen == sf.jgen ? sf.joff : 0,
				j + 1 == end, &empty, why, sizeof(why));
		}
		if (ret < 0) {
			vmad_log(VMAD_LOG_ERROR,
				 "%s/%s: %s; moved to %s.corrupt with its "
				 "space's other files, space %" PRIu64
				 " not loaded",
				 p->dir, v[j].name, why, v[j].name, sf.id);
			vmad_persist_free(sp);
			vmad_registry_remove(srv, sp);
			vmad_space_put(sp);
			set_aside(p, v, first, nr);
			*bad += end - first;
			return end;
		}
		replayed |= ret > 0;
		v[j].used = true;
		sp->ps->jgen = v[j].gen;
		expect = v[j].gen + 1;
		/* An empty last journal is appended to again. */
		reuse = empty && (v[j].gen > sf.jgen || sf.joff <= JOURNAL_HDR)
				? v[j].gen
				: 0;
	}
	if (srv->cfg.appendonly && reuse) {
		char name[VMAD_PATH_MAX];

		journal_name(name, sizeof(name), sp->id, reuse);
		ret = openat(p->dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (ret >= 0) {
			sp->ps->jfd = ret;
			sp->ps->jwritten = sp->ps->jsynced = JOURNAL_HDR;
		}
	}
	/* Otherwise this life journals into a generation of its own. */
	if (sp->ps->jfd < 0)
		sp->ps->jgen++;
	if (srv->cfg.appendonly && sp->ps->jfd < 0) {
		ret = journal_create(p, sp->id, sp->ps->jgen);
		if (ret < 0) {
			vmad_log(VMAD_LOG_ERROR,
				 "%s: cannot create the journal of space "
				 "%" PRIu64 ": %s; its changes are refused "
				 "until it is saved",
				 p->dir, sp->id, strerror(-ret));
			sp->ps->jbroken = true;
		} else {
			sp->ps->jfd = ret;
			sp->ps->jwritten = sp->ps->jsynced = JOURNAL_HDR;
		}
	}
	/* Fold the journals into the snapshot at the next save. */
	sp->ps->dirty = replayed || (!srv->cfg.appendonly && end > first + 1);
	vmad_log(VMAD_LOG_VERBOSE, "%s/%s: space %" PRIu64 " '%s' loaded%s",
		 p->dir, v[i].name, sf.id, sf.name,
		 replayed ? " with its journal" : "");
	vmad_space_put(sp);
	return end;
}

/* Spaces to load, shared by the loader threads. */
struct loader {
	struct vmad_persist *p;
	struct found *v;
	size_t nr;
	const size_t *starts; /* index in v of each space's snapshot */
	size_t nr_groups;
	size_t next; /* atomic: the next group to take */
	size_t bad;  /* atomic: files set aside */
};

static void load_groups(struct loader *l)
{
	size_t g, bad;

	while ((g = uatomic_add_return(&l->next, 1) - 1) < l->nr_groups) {
		bad = 0;
		load_space(l->p, l->v, l->starts[g], l->nr, &bad);
		if (bad)
			uatomic_add(&l->bad, bad);
	}
}

static void *loader_thread(void *arg)
{
	mem_unlimited();
	urcu_memb_register_thread();
	load_groups(arg);
	urcu_memb_unregister_thread();
	return NULL;
}

static int load_all(struct vmad_persist *p)
{
	struct found *v = NULL, f;
	size_t nr = 0, cap = 0, i, loaded = 0, bad = 0, nr_groups = 0;
	size_t *starts;
	uint64_t max_id = 0, ids = 1;
	struct dirent *de;
	char *buf;
	size_t len;
	DIR *d;
	int fd = dup(p->dirfd);
	uint64_t t0 = now_ms();

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		size_t n = strlen(s);

		if (n > 4 && !strcmp(s + n - 4, ".tmp")) {
			if (unlinkat(p->dirfd, s, 0) == 0)
				vmad_log(VMAD_LOG_INFO,
					 "%s/%s: removed (a save that did not "
					 "finish)",
					 p->dir, s);
			continue;
		}
		if (!parse_name(s, &f))
			continue;
		if (nr == cap) {
			struct found *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[nr++] = f;
	}
	closedir(d);
	if (nr)
		qsort(v, nr, sizeof(*v), cmp_found);
	for (i = 0; i < nr; i++)
		if (v[i].id > max_id)
			max_id = v[i].id; /* set aside or not, it was used */
	/* Groups of files by id: a snapshot and its journals. */
	starts = malloc((nr + 1) * sizeof(*starts));
	if (!starts) {
		free(v);
		return -ENOMEM;
	}
	for (i = 0; i < nr;) {
		size_t j = i;

		while (j < nr && v[j].id == v[i].id)
			j++;
		if (!v[i].journal) {
			starts[nr_groups++] = i;
			i = j;
			continue;
		}
		/*
		 * Journals without a snapshot: of a space destroyed (its
		 * snapshot is unlinked first) or never created (its journal
		 * is made first) when vmad stopped. Without the snapshot
		 * they hold nothing to load.
		 */
		for (; i < j; i++) {
			if (unlinkat(p->dirfd, v[i].name, 0) < 0)
				continue;
			vmad_log(VMAD_LOG_WARN,
				 "%s/%s: a journal without its snapshot "
				 "space-%" PRIu64 ".snap (a space destroyed or "
				 "created while vmad stopped): removed",
				 p->dir, v[i].name, v[i].id);
		}
	}
	/* The spaces load in parallel, one thread per CPU. */
	{
		struct loader l = {p, v, nr, starts, nr_groups, 0, 0};
		unsigned k, nr_threads = vmad_nr_cpus();
		pthread_t *t;

		if (nr_threads > nr_groups)
			nr_threads = (unsigned)nr_groups;
		t = calloc(nr_threads ? nr_threads : 1, sizeof(*t));
		for (k = 0; t && k < nr_threads; k++)
			if (pthread_create(&t[k], NULL, loader_thread, &l))
				break;
		if (!t || k == 0) {
			/* No thread: this one does it. */
			uint64_t prev = vma_mem_thread_limit(UINT64_MAX);

			load_groups(&l);
			vma_mem_thread_limit(prev);
		}
		while (t && k--)
			pthread_join(t[k], NULL);
		free(t);
		bad += l.bad;
	}
	free(starts);
	loaded = (size_t)uatomic_read(&p->srv->reg.nr_spaces);
	free(v);
	/* Never hand out an id that a space had before. */
	if (!read_file(p, "ids", &buf, &len)) {
		buf[len] = '\0';
		if (sscanf(buf, "next_id %" SCNu64, &ids) != 1)
			vmad_log(VMAD_LOG_WARN, "%s/ids: unreadable", p->dir);
		free(buf);
	}
	if (ids <= max_id)
		ids = max_id + 1;
	p->srv->reg.next_id = ids;
	p->srv->reg.id_limit = ids; /* the first new id reserves a block */
	vmad_log(VMAD_LOG_INFO,
		 "%s: %zu spaces loaded in %" PRIu64 " ms (%zu files set "
		 "aside); new ids from %" PRIu64,
		 p->dir, loaded, now_ms() - t0, bad, ids);
	return 0;
}

int vmad_persist_start(struct vmad_server *srv)
{
	const struct vmad_config *cfg = &srv->cfg;
	struct vmad_persist *p;
	int ret;

	if (!cfg->state_dir[0]) {
		if (cfg->appendonly)
			vmad_log(VMAD_LOG_WARN,
				 "appendonly has no effect without state_dir");
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->srv = srv;
	p->dir = cfg->state_dir;
	p->lockfd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (mkdir(p->dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		vmad_log(VMAD_LOG_ERROR, "state_dir %s: %s", p->dir,
			 strerror(errno));
		goto out_free;
	}
	p->dirfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		ret = -errno;
		vmad_log(VMAD_LOG_ERROR, "state_dir %s: %s", p->dir,
			 strerror(errno));
		goto out_free;
	}
	p->lockfd =
		openat(p->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->lockfd < 0 || flock(p->lockfd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		vmad_log(VMAD_LOG_ERROR, "state_dir %s: %s", p->dir,
			 ret == -EADDRINUSE ? "another vmad uses this directory"
					    : strerror(-ret));
		goto out_close;
	}
	srv->persist = p;
	ret = load_all(p);
	if (ret) {
		vmad_log(VMAD_LOG_ERROR, "state_dir %s: cannot read it: %s",
			 p->dir, strerror(-ret));
		goto out_unset;
	}
	ret = -pthread_create(&p->thread, NULL, saver_main, p);
	if (ret)
		goto out_unset;
	p->started = true;
	vmad_log(VMAD_LOG_INFO, "state_dir %s: saves every %" PRIu64 " ms%s%s",
		 p->dir, cfg->save_interval_ms,
		 cfg->appendonly ? ", appendonly, appendfsync " : "",
		 !cfg->appendonly			   ? ""
		 : cfg->appendfsync == VMAD_FSYNC_ALWAYS   ? "always"
		 : cfg->appendfsync == VMAD_FSYNC_EVERYSEC ? "everysec"
							   : "no");
	return 0;

out_unset:
	srv->persist = NULL;
out_close:
	if (p->lockfd >= 0)
		close(p->lockfd);
	close(p->dirfd);
out_free:
	free(p);
	return ret;
}

void vmad_persist_stop(struct vmad_server *srv)
{
	struct vmad_persist *p = srv->persist;
	uint64_t prev;

	if (!p || p->closed)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->thread, NULL);
	/* SIGTERM: every changed space, and the journals. */
	prev = vma_mem_thread_limit(UINT64_MAX);
	save_all(p, true, true);
	vma_mem_thread_limit(prev);
	vmad_log(VMAD_LOG_INFO,
		 "state_dir %s: %" PRIu64 " saves, %" PRIu64 " failed", p->dir,
		 p->saves, p->save_failures);
	p->closed = true;
}

void vmad_persist_fini(struct vmad_server *srv)
{
	struct vmad_persist *p = srv->persist;

	if (!p)
		return;
	srv->persist = NULL;
	close(p->lockfd);
	close(p->dirfd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
