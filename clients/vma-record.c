// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: vma-record - record a program's memory-management system calls as
 * a vmad scenario.
 *
 * The program runs under ptrace (libc only; no daemon is involved). A
 * seccomp filter installed just before execve makes the kernel stop it
 * only at the system calls that change VMAs (SECCOMP_RET_TRACE); every
 * other system call runs at full speed. At each such stop the recorder
 * reads the arguments, lets the call run to its syscall-exit stop, and
 * writes one request with the kernel's result as "expect".
 *
 * Scenario (the scenario format of vma-replay(1)): a space.import of the layout right after the
 * successful execve (/proc/PID/smaps reduced to the VMA lines, Anonymous
 * and VmFlags; start_brk, start_stack from /proc/PID/stat; brk equals
 * start_brk then), one request per system call, fault requests that
 * reproduce what page faults did between calls, and at exit a "maps"
 * whose expectation is the exit-time layout. A process made by fork (or
 * clone without CLONE_VM) becomes a space.fork of its parent's space; a
 * process that execs gets a space.import of its new image.
 *
 * Open files. Linux merges file VMAs only if they map the same struct
 * file (one open file description), so two open()s of one path give
 * VMAs that never merge. vmad names files by string, one name one open
 * file, so the recorder names the first open file description of a path
 * mapped by the program by its path, and the Nth "path#N" (N >= 2); the
 * files the kernel mapped at execve (the program and its interpreter)
 * count as the first of their paths. It tells descriptions apart with
 * kcmp(KCMP_FILE) against a duplicate of each one it has seen
 * (pidfd_getfd()), which also keeps them from being reused. A private
 * mapping of /dev/zero keeps /dev/zero as its file (mmap_zero() only
 * makes it anonymous in behaviour); a shared one is shared anonymous
 * memory (shmem_zero_setup()).
 *
 * Threads. System calls of the threads of one process are recorded in
 * the order they complete. So that this is also the order in which they
 * took mmap_lock, the recorder never lets two of them run at once: a
 * thread that reaches a recorded call while another thread of the same
 * address space is inside one is held at its seccomp stop until the
 * other has returned. Recorded calls of one address space are therefore
 * serialized, and the recorded order is the kernel's order.
 *
 * Page faults are invisible to a syscall tracer, but change later answers
 * (a stack that grew; an anon_vma decides merges). Before each recorded
 * call and at exit the recorder reads smaps: a growsdown VMA whose start
 * moved down gets a write fault at its new start; a private VMA with
 * anonymous pages that has none in the recorder's bookkeeping gets a
 * write fault at its start (or a comment if it is not writable).
 *
 * What vmad cannot model is written as a comment line ("# unmodelled:
 * ...") and counted in the summary on stderr.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rpc/maps.h"

#ifndef VMAD_VERSION
#define VMAD_VERSION "0.1.0"
#endif

#ifndef __NR_mseal
#define __NR_mseal 462
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA	     0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_UNINITIALIZED
#define MAP_UNINITIALIZED 0x4000000
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

#define PG 4096ULL

static const char record_help[] =
	"NAME\n"
	"    vma-record - record a program's memory-management system calls "
	"as\n"
	"    a vmad scenario\n"
	"\n"
	"SYNOPSIS\n"
	"    vma-record [OPTIONS] [--] CMD [ARGS...]\n"
	"\n"
	"DESCRIPTION\n"
	"    Runs CMD under ptrace with address-space randomization off (as\n"
	"    setarch -R) and writes a scenario that vma-replay replays "
	"against\n"
	"    vmad: a space.import of the layout right after execve, one "
	"request\n"
	"    per mmap, munmap, mprotect, pkey_mprotect, mremap, brk, madvise,\n"
	"    mlock, mlock2, munlock, mlockall, munlockall, mseal and\n"
	"    prctl(PR_SET_VMA) of every thread, with the kernel's result as\n"
	"    \"expect\", the page faults that explain what changed between "
	"calls\n"
	"    (stack growth, first anonymous pages), and a final maps whose\n"
	"    expectation is the layout at exit. fork becomes space.fork, a\n"
	"    later execve a new space.import. Calls vmad cannot model\n"
	"    (shmat, shmdt, remap_file_pages, protection keys, hugetlb, ...)\n"
	"    are written as '# unmodelled:' comment lines and counted in the\n"
	"    summary printed on standard error. The program's own standard\n"
	"    streams are left alone.\n"
	"\n"
	"    File names: the first open file description of a path is named "
	"by\n"
	"    the path, the Nth by PATH#N (Linux never merges mappings of "
	"two\n"
	"    open()s of one file; vmad merges mappings of one name).\n"
	"\n"
	"OPTIONS\n"
	"    -o, --output FILE   Write the scenario to FILE (default\n"
	"                        vma-record.jsonl; - for standard output).\n"
	"    -n, --name NAME     Space name of the program (default rec); "
	"later\n"
	"                        processes get NAME.2, NAME.3, ...\n"
	"    -R, --aslr          Keep address-space randomization on.\n"
	"        --no-fork       Leave child processes out (their calls are "
	"not\n"
	"                        recorded).\n"
	"        --no-faults     Do not reconstruct page faults.\n"
	"    -q, --quiet         No progress line and no summary.\n"
	"    -h, --help          Print this help.\n"
	"    -V, --version       Print the version.\n"
	"\n"
	"EXIT STATUS\n"
	"    The program's exit status (128 + N if it was killed by signal "
	"N);\n"
	"    125 if the recording failed, 127 if CMD could not be run.\n"
	"\n"
	"EXAMPLES\n"
	"    vma-record -o ls.jsonl -- ls -l /usr/lib\n"
	"    vma-replay --spawn --report ls.jsonl\n";

/* ------------------------------------------------------------------ */
/* Output                                                              */

static FILE *out;

/* A JSON string literal of @s (@n bytes). */
static void put_json_string(FILE *f, const char *s, size_t n)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* ------------------------------------------------------------------ */
/* Ranges: which file (name) and whether an anon_vma, per address       */

struct rng {
	uint64_t s, e;
	int name; /* index into names[], -1 for anonymous */
	bool anon;
};

struct rmap {
	struct rng *v;
	size_t nr, cap;
};

static void rmap_push(struct rmap *m, struct rng r)
{
	if (m->nr == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		if (!m->v) {
			perror("vma-record");
			exit(125);
		}
	}
	m->v[m->nr++] = r;
}

static int rng_cmp(const void *a, const void *b)
{
	const struct rng *x = a, *y = b;

	return x->s < y->s ? -1 : x->s > y->s;
}

/* Remove [s, e), splitting what straddles its edges. */
static void rmap_clear(struct rmap *m, uint64_t s, uint64_t e)
{
	size_t i, n = m->nr;

	for (i = 0; i < n; i++) {
		struct rng *r = &m->v[i];

		if (r->e <= s || r->s >= e)
			continue;
		if (r->s < s && r->e > e) {
			struct rng right = *r;

			right.s = e;
			r->e = s;
			rmap_push(m, right);
		} else if (r->s < s) {
			r->e = s;
		} else if (r->e > e) {
			r->s = e;
		} else {
			r->s = r->e = 0; /* dropped below */
		}
	}
	for (i = n = 0; i < m->nr; i++)
		if (m->v[i].s < m->v[i].e)
			m->v[n++] = m->v[i];
	m->nr = n;
	if (m->nr > 1)
		qsort(m->v, m->nr, sizeof(*m->v), rng_cmp);
}

static void rmap_set(struct rmap *m, uint64_t s, uint64_t e, int name,
		     bool anon)
{
	rmap_clear(m, s, e);
	rmap_push(m, (struct rng){s, e, name, anon});
	if (m->nr > 1)
		qsort(m->v, m->nr, sizeof(*m->v), rng_cmp);
}

static struct rng *rmap_find(struct rmap *m, uint64_t addr)
{
	size_t i;

	for (i = 0; i < m->nr; i++)
		if (m->v[i].s <= addr && addr < m->v[i].e)
			return &m->v[i];
	return NULL;
}

static bool rmap_any_anon(const struct rmap *m, uint64_t s, uint64_t e)
{
	size_t i;

	for (i = 0; i < m->nr; i++)
		if (m->v[i].anon && m->v[i].s < e && m->v[i].e > s)
			return true;
	return false;
}

static void rmap_mark_anon(struct rmap *m, uint64_t s, uint64_t e)
{
	struct rng *r;
	int name;

	/* Keep the names of what is there; mark the whole range. */
	for (;;) {
		size_t i;
		bool done = true;

		for (i = 0; i < m->nr; i++) {
			r = &m->v[i];
			if (r->s < e && r->e > s && !r->anon) {
				uint64_t rs = r->s > s ? r->s : s;
				uint64_t re = r->e < e ? r->e : e;

				name = r->name;
				rmap_set(m, rs, re, name, true);
				done = false;
				break;
			}
		}
		if (done)
			break;
	}
	/* Parts with no entry at all: anonymous. */
	{
		uint64_t a = s;

		while (a < e) {
			r = rmap_find(m, a);
			if (r) {
				a = r->e;
				continue;
			}
			{
				uint64_t b = e;
				size_t i;

				for (i = 0; i < m->nr; i++)
					if (m->v[i].s > a && m->v[i].s < b)
						b = m->v[i].s;
				rmap_set(m, a, b, -1, true);
				a = b;
			}
		}
	}
}

/* mremap: move [os, os + olen) to [ns, ns + nlen). */
static void rmap_move(struct rmap *m, uint64_t os, uint64_t olen, uint64_t ns,
		      uint64_t nlen, bool keep_old)
{
	struct rng *tmp = NULL;
	size_t i, n = 0;
	uint64_t len = olen < nlen ? olen : nlen;

	for (i = 0; i < m->nr; i++) {
		struct rng r = m->v[i];

		if (r.e <= os || r.s >= os + len)
			continue;
		if (r.s < os)
			r.s = os;
		if (r.e > os + len)
			r.e = os + len;
		tmp = realloc(tmp, (n + 1) * sizeof(*tmp));
		if (!tmp) {
			perror("vma-record");
			exit(125);
		}
		r.s = r.s - os + ns;
		r.e = r.e - os + ns;
		tmp[n++] = r;
	}
	if (!keep_old)
		rmap_clear(m, os, os + olen);
	rmap_clear(m, ns, ns + nlen);
	for (i = 0; i < n; i++) {
		if (i + 1 == n && nlen > olen)
			tmp[i].e = ns + nlen;
		rmap_push(m, tmp[i]);
	}
	if (m->nr > 1)
		qsort(m->v, m->nr, sizeof(*m->v), rng_cmp);
	free(tmp);
}

/* ------------------------------------------------------------------ */
/* Open file descriptions                                              */

struct ofd {
	char *path;
	int fd; /* our duplicate (pidfd_getfd), -1 if none */
	int name;
	int thp; /* its filesystem 2 MiB-aligns mappings: 1, 0, -1 unknown */
};

static struct ofd *ofds;
static size_t nr_ofds;
static char **names; /* scenario file names */
static size_t nr_names;
static bool have_kcmp = true;

static int name_add(const char *s)
{
	names = realloc(names, (nr_names + 1) * sizeof(*names));
	if (!names || !(names[nr_names] = strdup(s))) {
		perror("vma-record");
		exit(125);
	}
	return (int)nr_names++;
}

/* How many open file descriptions of @path have names already. */
static unsigned path_count(const char *path)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < nr_ofds; i++)
		n += !strcmp(ofds[i].path, path);
	return n;
}

static void ofd_add(const char *path, int fd, int name)
{
	ofds = realloc(ofds, (nr_ofds + 1) * sizeof(*ofds));
	if (!ofds || !(ofds[nr_ofds].path = strdup(path))) {
		perror("vma-record");
		exit(125);
	}
	ofds[nr_ofds].fd = fd;
	ofds[nr_ofds].name = name;
	ofds[nr_ofds].thp = -1;
	nr_ofds++;
}

/* ------------------------------------------------------------------ */
/* Tracees                                                             */

struct space;

struct thread {
	pid_t tid;
	struct space *sp;
	bool in_call;  /* between its recorded entry and exit */
	bool parked;   /* held at its seccomp stop */
	bool new_stop; /* its first (SIGSTOP) stop is expected */
	bool adopted;  /* its parent's fork/clone event was seen */
	bool waiting;  /* stopped before adoption: resume at adoption */
	struct user_regs_struct regs; /* at entry */
	uint64_t entry_brk;
	uint64_t seq; /* park order */
};

struct space {
	char name[80];
	pid_t tgid;
	int pidfd;
	unsigned users;	     /* threads using this mm */
	struct thread *busy; /* thread inside a recorded call */
	struct rmap map;
	/* growsdown VMAs seen: their end and lowest start */
	uint64_t gd_end[16], gd_start[16];
	unsigned nr_gd;
	uint64_t brk;
	bool dead;
	/* Anonymous pages (statm resident - shared) right after the last
	 * look or recorded call; UINT64_MAX: unknown. */
	uint64_t anon_pages;
	bool finished;	  /* final maps written */
	char *final_maps; /* the last exit-time look */
};

static struct thread **threads;
static size_t nr_threads;
static struct space **spaces;
static size_t nr_spaces;
static uint64_t park_seq;

struct opts {
	const char *output;
	const char *name;
	bool aslr;
	bool no_fork;
	bool no_faults;
	bool quiet;
};
static struct opts o = {.output = "vma-record.jsonl", .name = "rec"};

/* Counters for the summary. */
static unsigned long long nr_recorded, nr_comments, nr_faults, nr_stops;
static struct {
	const char *name;
	unsigned long long n;
} unmodelled[32];

static void count_unmodelled(const char *name)
{
	size_t i;

	nr_comments++;
	for (i = 0; i < 32 && unmodelled[i].name; i++)
		if (!strcmp(unmodelled[i].name, name))
			break;
	if (i == 32)
		return;
	unmodelled[i].name = name;
	unmodelled[i].n++;
}

static struct thread *thread_find(pid_t tid)
{
	size_t i;

	for (i = 0; i < nr_threads; i++)
		if (threads[i]->tid == tid)
			return threads[i];
	return NULL;
}

static struct thread *thread_new(pid_t tid, struct space *sp)
{
	struct thread *t = calloc(1, sizeof(*t));

	threads = realloc(threads, (nr_threads + 1) * sizeof(*threads));
	if (!t || !threads) {
		perror("vma-record");
		exit(125);
	}
	t->tid = tid;
	t->sp = sp;
	if (sp)
		sp->users++;
	threads[nr_threads++] = t;
	return t;
}

static void thread_del(struct thread *t)
{
	size_t i;

	for (i = 0; i < nr_threads; i++)
		if (threads[i] == t) {
			threads[i] = threads[--nr_threads];
			break;
		}
	if (t->sp) {
		if (t->sp->busy == t)
			t->sp->busy = NULL;
		t->sp->users--;
	}
	free(t);
}

static struct space *space_new(pid_t tgid)
{
	struct space *sp = calloc(1, sizeof(*sp));

	spaces = realloc(spaces, (nr_spaces + 1) * sizeof(*spaces));
	if (!sp || !spaces) {
		perror("vma-record");
		exit(125);
	}
	if (!nr_spaces)
		snprintf(sp->name, sizeof(sp->name), "%s", o.name);
	else
		snprintf(sp->name, sizeof(sp->name), "%s.%zu", o.name,
			 nr_spaces + 1);
	sp->tgid = tgid;
	sp->anon_pages = UINT64_MAX;
	sp->pidfd = (int)syscall(__NR_pidfd_open, tgid, 0);
	spaces[nr_spaces++] = sp;
	return sp;
}

/* ------------------------------------------------------------------ */
/* /proc                                                               */

/* The whole of a file (new), or NULL. */
static char *read_file(const char *path)
{
	size_t cap = 65536, n = 0;
	ssize_t got;
	char *buf = malloc(cap + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((got = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (n == cap) {
			char *nb = realloc(buf, cap * 2 + 1);

			if (!nb) {
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[n] = '\0';
	return buf;
}

/* /proc/PID/WHAT (new), or NULL. */
static char *read_proc(pid_t pid, const char *what)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	return read_file(path);
}

/* One VMA of smaps text. */
struct pvma {
	uint64_t s, e, off, anon_kb;
	char perms[5];
	char path[4096];
	bool gd;
};

/* Iterate the VMAs of smaps (or maps) text: returns the next position. */
static const char *pvma_next(const char *p, struct pvma *v)
{
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		unsigned long long s, e, off, ino;
		unsigned maj, min;
		int pos = 0;

		if (sscanf(p, "%llx-%llx %4s %llx %x:%x %llu%n", &s, &e,
			   v->perms, &off, &maj, &min, &ino, &pos) >= 7 &&
		    pos && (size_t)pos <= n) {
			const char *q = p + pos;
			size_t k;

			while (q < p + n && *q == ' ')
				q++;
			k = (size_t)(p + n - q);

			v->s = s;
			v->e = e;
			v->off = off;
			v->anon_kb = 0;
			v->gd = false;
			if (k >= sizeof(v->path))
				k = sizeof(v->path) - 1;
			memcpy(v->path, q, k);
			v->path[k] = '\0';
			while (k && v->path[k - 1] == ' ')
				v->path[--k] = '\0';
			/* its fields */
			p = eol ? eol + 1 : p + n;
			while (*p && !(p[0] >= '0' && p[0] <= '9') &&
			       !(p[0] >= 'a' && p[0] <= 'f' && strchr(p, '-') &&
				 strchr(p, '-') < strchr(p, ':'))) {
				const char *fe = strchr(p, '\n');
				unsigned long long kb;

				if (sscanf(p, "Anonymous: %llu kB", &kb) == 1)
					v->anon_kb = kb;
				if (!strncmp(p, "VmFlags:", 8)) {
					const char *g = strstr(p, " gd");

					v->gd = g && (!fe || g < fe);
				}
				p = fe ? fe + 1 : p + strlen(p);
			}
			return p;
		}
		p = eol ? eol + 1 : p + n;
	}
	return NULL;
}

/* start_stack (field 28) and start_brk (field 47) of /proc/PID/stat. */
static int read_stat(pid_t pid, uint64_t *start_stack, uint64_t *start_brk)
{
	char *buf = read_proc(pid, "stat"), *p;
	int field = 3;

	if (!buf)
		return -1;
	p = strrchr(buf, ')');
	if (!p) {
		free(buf);
		return -1;
	}
	p += 2;
	while (*p && field <= 47) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);

		if (field == 28)
			*start_stack = v;
		if (field == 47)
			*start_brk = v;
		while (*end && *end != ' ')
			end++;
		p = *end ? end + 1 : end;
		field++;
	}
	free(buf);
	return field > 47 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* The platform                                                        */

struct platform {
	uint64_t stack_rlimit;
	uint64_t max_map_count;
	uint64_t guard_gap; /* pages */
	bool vsyscall;
	int thp_file_align; /* -1 unknown, 0 no, 1 yes (of the cwd's fs) */
	char kernel[160];
};
static struct platform plat;

/*
 * Does the filesystem of @fd place a private mapping that covers an
 * aligned 2 MiB of the file 2 MiB-aligned (thp_get_unmapped_area())?
 * Mapped here three times, each after a small mapping that shifts the
 * free space, so that chance alignment does not count. 1, 0, or -1.
 */
static int probe_thp_fd(int fd)
{
	int hits = 0, i;

	for (i = 0; i < 3; i++) {
		void *pad = mmap(NULL, (size_t)(i + 1) * 4096, PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		void *p = mmap(NULL, 4 << 20, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			if (pad != MAP_FAILED)
				munmap(pad, (size_t)(i + 1) * 4096);
			return -1;
		}
		hits += ((uintptr_t)p & ((2 << 20) - 1)) == 0;
		munmap(p, 4 << 20);
		if (pad != MAP_FAILED)
			munmap(pad, (size_t)(i + 1) * 4096);
	}
	return hits == 3;
}

/* The same for the filesystem of /tmp (a file of its own). */
static int probe_thp_file_align(void)
{
	char path[] = "/tmp/vma-record-thp.XXXXXX";
	int fd = mkstemp(path), ret;

	if (fd < 0)
		return -1;
	unlink(path);
	ret = ftruncate(fd, 8 << 20) ? -1 : probe_thp_fd(fd);
	close(fd);
	return ret;
}

/* Filesystems probed: st_dev -> 1, 0, -1. */
static struct {
	dev_t dev;
	int thp;
} fs_thp[64];
static unsigned nr_fs_thp;

/* probe_thp_fd() once per filesystem; a comment line says what it found. */
static int fs_thp_of(int fd, const char *path)
{
	struct stat st;
	unsigned i;
	int thp;

	if (fd < 0 || fstat(fd, &st))
		return -1;
	for (i = 0; i < nr_fs_thp; i++)
		if (fs_thp[i].dev == st.st_dev)
			return fs_thp[i].thp;
	thp = probe_thp_fd(fd);
	if (nr_fs_thp < 64) {
		fs_thp[nr_fs_thp].dev = st.st_dev;
		fs_thp[nr_fs_thp++].thp = thp;
	}
	fprintf(out, "# filesystem %u:%u (of %s): large file mappings %s\n",
		major(st.st_dev), minor(st.st_dev), path,
		thp < 0	  ? "could not be probed"
		: thp > 0 ? "2 MiB-aligned (thp_get_unmapped_area)"
			  : "not 2 MiB-aligned (\"thp_align\": false)");
	return thp;
}

static void platform_probe(void)
{
	struct rlimit rl;
	struct utsname u;
	char *s;

	plat.stack_rlimit = 8 << 20;
	if (!getrlimit(RLIMIT_STACK, &rl))
		plat.stack_rlimit =
			rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
	plat.max_map_count = 65530;
	s = read_file("/proc/sys/vm/max_map_count");
	if (s) {
		plat.max_map_count = strtoull(s, NULL, 10);
		free(s);
	}
	plat.guard_gap = 256;
	s = read_file("/proc/cmdline");
	if (s) {
		char *g = strstr(s, "stack_guard_gap=");

		if (g)
			plat.guard_gap = strtoull(g + 16, NULL, 0);
		free(s);
	}
	plat.thp_file_align = probe_thp_file_align();
	if (!uname(&u))
		snprintf(plat.kernel, sizeof(plat.kernel), "%s %s", u.release,
			 u.machine);
}

/* ------------------------------------------------------------------ */
/* Writing requests                                                    */

static void put_u64(const char *key, uint64_t v, bool comma)
{
	fprintf(out, "%s\"%s\":\"0x%llx\"", comma ? "," : "", key,
		(unsigned long long)v);
}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EINTR:
		return "EINTR";
	case EIO:
		return "EIO";
	case EBADF:
		return "EBADF";
	case EAGAIN:
		return "EAGAIN";
	case ENOMEM:
		return "ENOMEM";
	case EACCES:
		return "EACCES";
	case EFAULT:
		return "EFAULT";
	case EBUSY:
		return "EBUSY";
	case EEXIST:
		return "EEXIST";
	case ENODEV:
		return "ENODEV";
	case EINVAL:
		return "EINVAL";
	case ETXTBSY:
		return "ETXTBSY";
	case EFBIG:
		return "EFBIG";
	case ENOSPC:
		return "ENOSPC";
	case ERANGE:
		return "ERANGE";
	case ENOSYS:
		return "ENOSYS";
	case EOVERFLOW:
		return "EOVERFLOW";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	default:
		return NULL;
	}
}

/* The "expect" member for a raw result: an address/value or an errno. */
static void put_expect(long ret, const char *key)
{
	if (ret < 0 && ret > -4096) {
		const char *en = errno_name((int)-ret);

		if (en)
			fprintf(out,
				",\"expect\":{\"error\":{\"data\":{\"errno\":"
				"\"%s\"}}}",
				en);
		else
			fprintf(out, ",\"expect\":{\"error\":{}}");
		return;
	}
	if (key)
		fprintf(out, ",\"expect\":{\"result\":{\"%s\":\"0x%lx\"}}", key,
			ret);
	else
		fprintf(out, ",\"expect\":{\"result\":{}}");
}

static void begin_req(const char *method, const struct space *sp)
{
	fprintf(out, "{\"method\":\"%s\",\"params\":{\"space\":", method);
	put_json_string(out, sp->name, strlen(sp->name));
}

static void comment(const char *count_as, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void comment(const char *count_as, const char *fmt, ...)
{
	va_list ap;

	fputs("# ", out);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	if (count_as)
		count_unmodelled(count_as);
}

static void put_prot(unsigned long prot)
{
	fprintf(out, ",\"prot\":\"%s%s%s\"", prot & PROT_READ ? "r" : "",
		prot & PROT_WRITE ? "w" : "", prot & PROT_EXEC ? "x" : "");
}

/* ------------------------------------------------------------------ */
/* Faults from smaps                                                   */

/*
 * Compare @sp's current smaps with what the scenario has so far, and emit
 * the faults that explain the difference (see DOC).
 */
static void look(struct space *sp, const char *smaps)
{
	struct pvma v;
	const char *p = smaps;

	if (o.no_faults || !smaps)
		return;
	while ((p = pvma_next(p, &v)) != NULL) {
		bool writable = v.perms[1] == 'w', priv = v.perms[3] == 'p';
		unsigned i;

		if (v.gd) {
			for (i = 0; i < sp->nr_gd; i++)
				if (sp->gd_end[i] == v.e)
					break;
			if (i == sp->nr_gd && i < 16) {
				sp->gd_end[i] = v.e;
				sp->gd_start[i] = v.s;
				sp->nr_gd++;
			} else if (i < sp->nr_gd && v.s < sp->gd_start[i]) {
				/* The stack grew: one fault at its new start.
				 */
				begin_req("fault", sp);
				put_u64("addr", v.s, true);
				fprintf(out,
					",\"access\":\"write\"},\"expect\":"
					"{\"result\":{\"status\":\"ok\","
					"\"expanded\":true}}}\n");
				sp->gd_start[i] = v.s;
				rmap_mark_anon(&sp->map, v.s, v.e);
				nr_faults++;
			}
		}
		if (!v.anon_kb || !priv || rmap_any_anon(&sp->map, v.s, v.e))
			continue;
		if (!writable) {
			comment(NULL,
				"anonymous pages appeared in %llx-%llx %s "
				"while it was not writable (no fault can "
				"give it an anon_vma)",
				(unsigned long long)v.s,
				(unsigned long long)v.e, v.perms);
			rmap_mark_anon(&sp->map, v.s, v.e);
			continue;
		}
		begin_req("fault", sp);
		put_u64("addr", v.s, true);
		fprintf(out, ",\"access\":\"write\"},\"expect\":{\"result\":"
			     "{\"status\":\"ok\"}}}\n");
		rmap_mark_anon(&sp->map, v.s, v.e);
		nr_faults++;
	}
}

/* The process's anonymous pages (MM_ANONPAGES), from statm: O(1). */
static uint64_t anon_pages_of(pid_t pid)
{
	unsigned long long size, resident, shared;
	char *s = read_proc(pid, "statm");
	uint64_t n = UINT64_MAX;

	if (s && sscanf(s, "%llu %llu %llu", &size, &resident, &shared) == 3)
		n = resident - shared;
	free(s);
	return n;
}

/*
 * After a recorded call: what look_now() compares with. Alone in its
 * address space, the calling thread could not fault during the call, so
 * the count after it is the baseline. With other threads, their faults
 * during the call are in that count too, unseen: the baseline stays only
 * if the count did not move and the call cannot have freed anonymous
 * pages (which could hide a fault: munmap, mremap, MAP_FIXED, madvise, a
 * shrinking brk); otherwise the next call looks.
 */
static void after_call(struct thread *t, long ret)
{
	struct space *sp = t->sp;
	long nr = (long)t->regs.orig_rax;
	uint64_t anon;
	bool frees;

	if (o.no_faults || !sp)
		return;
	anon = anon_pages_of(sp->tgid);
	if (sp->users == 1) {
		sp->anon_pages = anon;
		return;
	}
	frees = nr == SYS_munmap || nr == SYS_mremap || nr == SYS_madvise ||
		(nr == SYS_mmap && (t->regs.r10 & MAP_FIXED)) ||
		(nr == SYS_brk && (uint64_t)ret < t->entry_brk) ||
		nr == SYS_shmdt;
	if (frees || anon != sp->anon_pages)
		sp->anon_pages = UINT64_MAX;
}

/*
 * Look at smaps, unless nothing can have changed: if the anonymous page
 * count is the baseline after_call() kept, no fault made a page since
 * (stack growth writes its pages, so it counts too). Reading smaps walks
 * every page table; statm is a counter.
 */
static void look_now(struct space *sp)
{
	uint64_t anon;
	char *s;

	if (o.no_faults)
		return;
	anon = anon_pages_of(sp->tgid);
	if (anon != UINT64_MAX && anon == sp->anon_pages)
		return;
	s = read_proc(sp->tgid, "smaps");
	look(sp, s);
	free(s);
	sp->anon_pages = anon;
}

/* ------------------------------------------------------------------ */
/* Import and final maps                                               */

/*
 * The mmap_base the layout shows: the end of the highest VMA below the
 * stack and above 3/4 of the 47-bit space, where the program (at 2/3,
 * ELF_ET_DYN_BASE, plus at most 1 TiB of randomization) never is: the
 * interpreter, placed top-down from mmap_base first.
 */
static uint64_t infer_mmap_base(const char *smaps, uint64_t stack_start)
{
	const char *p = smaps;
	uint64_t best = 0;
	struct pvma v;

	while ((p = pvma_next(p, &v)) != NULL)
		if (v.e <= stack_start && !v.gd && v.e > best &&
		    v.s >= 0x600000000000ULL)
			best = v.e;
	return best;
}

/* The scenario file name of the file VMA @v of @sp (exit or exec). */
static const char *vma_file_name(struct space *sp, const struct pvma *v)
{
	struct rng *r = rmap_find(&sp->map, v->s);
	const char *n;
	size_t len;

	if (!r || r->name < 0)
		return v->path;
	n = names[r->name];
	len = strlen(v->path);
	/* The name the recorder gave must be this path, or path#N. */
	if (!strncmp(n, v->path, len) && (!n[len] || n[len] == '#'))
		return n;
	return v->path;
}

static bool is_bracket_name(const char *path)
{
	return path[0] == '[';
}

static bool is_file_path(const char *path, const char *perms)
{
	if (!path[0] || is_bracket_name(path))
		return false;
	/* Shared anonymous memory shows as /dev/zero (deleted). */
	if (perms[3] == 's' && !strcmp(path, "/dev/zero (deleted)"))
		return false;
	return true;
}

/* Write the space.import of @sp's layout now (right after execve). */
static void import_space(struct space *sp, pid_t pid, const char *what)
{
	char *smaps = read_proc(pid, "smaps");
	uint64_t start_stack = 0, start_brk = 0, stack_start = UINT64_MAX;
	const char *p;
	struct pvma v;

	if (!smaps || read_stat(pid, &start_stack, &start_brk)) {
		fprintf(stderr, "vma-record: cannot read /proc/%d: %s\n",
			(int)pid, strerror(errno));
		exit(125);
	}
	rpc_smaps_reduce(smaps);
	sp->map.nr = 0;
	sp->nr_gd = 0;
	p = smaps;
	while ((p = pvma_next(p, &v)) != NULL) {
		int name = -1;

		if (is_file_path(v.path, v.perms)) {
			if (!path_count(v.path)) {
				name = name_add(v.path);
				ofd_add(v.path, -1, name);
			} else {
				size_t i;

				for (i = 0; i < nr_ofds; i++)
					if (!strcmp(ofds[i].path, v.path) &&
					    ofds[i].fd < 0)
						name = ofds[i].name;
				if (name < 0) {
					name = name_add(v.path);
					ofd_add(v.path, -1, name);
				}
			}
		}
		if (!strcmp(v.path, "[stack]"))
			stack_start = v.s;
		/* As the import decides (rpc_maps_to_import()). */
		rmap_set(&sp->map, v.s, v.e, name,
			 v.anon_kb && v.perms[3] == 'p');
		if (v.gd && sp->nr_gd < 16) {
			sp->gd_end[sp->nr_gd] = v.e;
			sp->gd_start[sp->nr_gd++] = v.s;
		}
	}
	sp->brk = start_brk;
	fprintf(out, "# %s: %s\n", sp->name, what);
	fprintf(out, "{\"method\":\"space.import\",\"params\":{\"name\":");
	put_json_string(out, sp->name, strlen(sp->name));
	fprintf(out, ",\"maps\":");
	put_json_string(out, smaps, strlen(smaps));
	put_u64("start_brk", start_brk, true);
	put_u64("brk", start_brk, true);
	put_u64("start_stack", start_stack, true);
	{
		uint64_t base = infer_mmap_base(smaps, stack_start);

		if (base)
			put_u64("mmap_base", base, true);
	}
	if (plat.stack_rlimit != UINT64_MAX)
		put_u64("stack_rlimit", plat.stack_rlimit, true);
	fprintf(out, ",\"stack_guard_gap\":%llu,\"max_map_count\":%llu}",
		(unsigned long long)plat.guard_gap,
		(unsigned long long)plat.max_map_count);
	fprintf(out, ",\"expect\":{\"result\":{\"name\":");
	put_json_string(out, sp->name, strlen(sp->name));
	fprintf(out, "}}}\n");
	nr_recorded++;
	free(smaps);
}

/* Write the maps request whose expectation is the layout in @smaps. */
static void final_maps(struct space *sp, const char *smaps, const char *why)
{
	const char *p = smaps;
	struct pvma v;
	bool first = true;

	fprintf(out, "# %s: %s\n", sp->name, why);
	begin_req("maps", sp);
	fprintf(out, "},\"expect\":{\"result\":{\"vmas\":[");
	while ((p = pvma_next(p, &v)) != NULL) {
		const char *file = NULL, *name = NULL;

		if (is_file_path(v.path, v.perms))
			file = vma_file_name(sp, &v);
		else if (v.path[0])
			name = v.path;
		fprintf(out,
			"%s{\"start\":\"0x%llx\",\"end\":\"0x%llx\","
			"\"perms\":\"%s\",\"offset\":%llu",
			first ? "" : ",", (unsigned long long)v.s,
			(unsigned long long)v.e, v.perms,
			(unsigned long long)(file || (name && v.perms[3] == 's')
						     ? v.off
						     : 0));
		if (file) {
			fprintf(out, ",\"file\":");
			put_json_string(out, file, strlen(file));
		} else if (name && !strncmp(name, "[anon:", 6)) {
			/* The name is compared only where vmad models it. */
			fprintf(out, ",\"file\":null");
		} else {
			fprintf(out, ",\"file\":null,\"name\":");
			if (name)
				put_json_string(out, name, strlen(name));
			else
				fprintf(out, "null");
		}
		fputc('}', out);
		first = false;
	}
	fprintf(out, "]}}}\n");
	begin_req("space.destroy", sp);
	fprintf(out, "}}\n");
	nr_recorded++;
}

/* ------------------------------------------------------------------ */
/* Recorded calls                                                      */

static const struct {
	unsigned long bit;
	const char *name;
} map_flag_names[] = {
	{MAP_SHARED, "shared"},	      {MAP_PRIVATE, "private"},
	{MAP_FIXED, "fixed"},	      {MAP_ANONYMOUS, "anonymous"},
	{MAP_GROWSDOWN, "growsdown"}, {MAP_NORESERVE, "noreserve"},
	{MAP_POPULATE, "populate"},   {MAP_FIXED_NOREPLACE, "fixed_noreplace"},
	{MAP_STACK, "stack"},	      {MAP_LOCKED, "locked"},
	{MAP_NONBLOCK, "nonblock"},
};

/* What the filesystem of the open file named @name does (1, 0, -1). */
static int ofd_thp(int name)
{
	size_t i;

	for (i = 0; i < nr_ofds; i++)
		if (ofds[i].name == name)
			return ofds[i].thp;
	return -1;
}

/* The file name of the mapping of @fd by @t: see DOC. */
static int fd_name(struct thread *t, int fd, char *path, size_t len)
{
	char link[64];
	ssize_t n;
	size_t i;
	int dup;

	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)t->tid, fd);
	n = readlink(link, path, len - 1);
	if (n < 0)
		return -1;
	path[n] = '\0';
	for (i = 0; i < nr_ofds; i++) {
		if (ofds[i].fd < 0 || strcmp(ofds[i].path, path))
			continue;
		if (!have_kcmp)
			return ofds[i].name;
		if (syscall(SYS_kcmp, getpid(), t->tid, KCMP_FILE, ofds[i].fd,
			    fd) == 0)
			return ofds[i].name;
	}
	/* A new open file description. */
	dup = t->sp->pidfd >= 0
		      ? (int)syscall(__NR_pidfd_getfd, t->sp->pidfd, fd, 0)
		      : -1;
	if (dup < 0)
		have_kcmp = false;
	{
		unsigned c = path_count(path);
		char nm[4200];
		int name;

		if (c)
			snprintf(nm, sizeof(nm), "%s#%u", path, c + 1);
		else
			snprintf(nm, sizeof(nm), "%s", path);
		name = name_add(nm);
		ofd_add(path, dup, name);
		ofds[nr_ofds - 1].thp = fs_thp_of(dup, path);
		return name;
	}
}

static void rec_mmap(struct thread *t, long ret)
{
	struct user_regs_struct *r = &t->regs;
	unsigned long addr = r->rdi, len = r->rsi, prot = r->rdx;
	unsigned long flags = r->r10, off = r->r9;
	int fd = (int)r->r8, name = -1;
	char path[4096] = "";
	bool anon = flags & MAP_ANONYMOUS, shared_zero = false, first = true;
	size_t i;

	if (flags & (MAP_HUGETLB | MAP_SYNC | MAP_32BIT)) {
		comment("mmap",
			"unmodelled: mmap(%#lx, %#lx, %#lx, %#lx, %d, %#lx) "
			"= %#lx (hugetlb, MAP_SYNC or MAP_32BIT)",
			addr, len, prot, flags, fd, off, ret);
		if (ret >= 0)
			rmap_set(&t->sp->map, (uint64_t)ret,
				 (uint64_t)ret + ((len + PG - 1) & ~(PG - 1)),
				 -1, false);
		return;
	}
	if (!anon) {
		name = fd_name(t, fd, path, sizeof(path));
		if (name >= 0 && (flags & MAP_TYPE) != MAP_PRIVATE &&
		    !strcmp(path, "/dev/zero"))
			shared_zero = true;
		if (ret < 0 && ret != -EINVAL && ret != -ENOMEM &&
		    ret != -EEXIST && ret != -EOVERFLOW) {
			/* EACCES, ENODEV, ETXTBSY, EPERM (noexec), ...: what
			 * the file or its open mode allows. */
			comment("mmap",
				"unmodelled: mmap(%#lx, %#lx, %#lx, %#lx, "
				"%d=%s, %#lx) = -%s (depends on the file)",
				addr, len, prot, flags, fd, path, off,
				errno_name((int)-ret) ? errno_name((int)-ret)
						      : "?");
			return;
		}
	}
	begin_req("mmap", t->sp);
	if (addr)
		put_u64("addr", addr, true);
	put_u64("length", len, true);
	put_prot(prot);
	fprintf(out, ",\"flags\":[");
	for (i = 0; i < sizeof(map_flag_names) / sizeof(map_flag_names[0]);
	     i++) {
		unsigned long b = map_flag_names[i].bit;

		if (b == MAP_SHARED || b == MAP_PRIVATE
			    ? (flags & MAP_TYPE & b) != 0
			    : (flags & b) != 0) {
			fprintf(out, "%s\"%s\"", first ? "" : ",",
				map_flag_names[i].name);
			first = false;
		}
	}
	if (shared_zero)
		fprintf(out, "%s\"anonymous\"", first ? "" : ",");
	fprintf(out, "]");
	if (!anon && !shared_zero && name >= 0) {
		fprintf(out, ",\"file\":");
		put_json_string(out, names[name], strlen(names[name]));
	}
	if (!anon && off)
		put_u64("offset", off, true);
	if (!anon && !shared_zero && name >= 0 && ofd_thp(name) == 0)
		fprintf(out, ",\"thp_align\":false");
	fputc('}', out);
	put_expect(ret, "addr");
	fputs("}\n", out);
	nr_recorded++;
	if (ret >= 0 || ret <= -4096)
		rmap_set(&t->sp->map, (uint64_t)ret,
			 (uint64_t)ret + ((len + PG - 1) & ~(PG - 1)),
			 shared_zero ? -1 : name, false);
}

static void rec_range(struct thread *t, const char *method, long ret,
		      bool with_prot)
{
	struct user_regs_struct *r = &t->regs;

	if (with_prot && (r->rdx & (PROT_GROWSDOWN | PROT_GROWSUP))) {
		comment(method,
			"unmodelled: %s(%#llx, %#llx, %#llx) = %ld "
			"(PROT_GROWSDOWN/PROT_GROWSUP)",
			method, r->rdi, r->rsi, r->rdx, ret);
		return;
	}

	begin_req(method, t->sp);
	put_u64("addr", r->rdi, true);
	put_u64("length", r->rsi, true);
	if (with_prot)
		put_prot(r->rdx);
	fputc('}', out);
	put_expect(ret, NULL);
	fputs("}\n", out);
	nr_recorded++;
	if (!strcmp(method, "munmap") && !ret)
		rmap_clear(&t->sp->map, r->rdi,
			   r->rdi + ((r->rsi + PG - 1) & ~(PG - 1)));
}

static void rec_mremap(struct thread *t, long ret)
{
	struct user_regs_struct *r = &t->regs;
	unsigned long flags = r->r10;
	bool first = true;

	if (flags & ~(unsigned long)(MREMAP_MAYMOVE | MREMAP_FIXED |
				     MREMAP_DONTUNMAP)) {
		comment("mremap",
			"unmodelled: mremap(%#llx, %#llx, %#llx, %#lx, %#llx) "
			"= %#lx (unknown flags)",
			r->rdi, r->rsi, r->rdx, flags, r->r8, ret);
		return;
	}
	begin_req("mremap", t->sp);
	put_u64("old_addr", r->rdi, true);
	put_u64("old_length", r->rsi, true);
	put_u64("new_length", r->rdx, true);
	fprintf(out, ",\"flags\":[");
	if (flags & MREMAP_MAYMOVE) {
		fprintf(out, "\"maymove\"");
		first = false;
	}
	if (flags & MREMAP_FIXED) {
		fprintf(out, "%s\"fixed\"", first ? "" : ",");
		first = false;
	}
	if (flags & MREMAP_DONTUNMAP)
		fprintf(out, "%s\"dontunmap\"", first ? "" : ",");
	fputc(']', out);
	if (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))
		put_u64("new_addr", r->r8, true);
	fputc('}', out);
	put_expect(ret, "addr");
	fputs("}\n", out);
	nr_recorded++;
	if (ret >= 0 || ret <= -4096)
		rmap_move(&t->sp->map, r->rdi, (r->rsi + PG - 1) & ~(PG - 1),
			  (uint64_t)ret, (r->rdx + PG - 1) & ~(PG - 1),
			  flags & MREMAP_DONTUNMAP);
}

static void rec_brk(struct thread *t, long ret)
{
	struct space *sp = t->sp;
	uint64_t old = (sp->brk + PG - 1) & ~(PG - 1);
	uint64_t now = ((uint64_t)ret + PG - 1) & ~(PG - 1);

	begin_req("brk", sp);
	if (t->regs.rdi)
		put_u64("addr", t->regs.rdi, true);
	fputc('}', out);
	put_expect(ret, "brk");
	fputs("}\n", out);
	nr_recorded++;
	if (now < old)
		rmap_clear(&sp->map, now, old);
	sp->brk = (uint64_t)ret;
}

static const char *const madv_names[] = {
	[MADV_NORMAL] = "normal",
	[MADV_RANDOM] = "random",
	[MADV_SEQUENTIAL] = "sequential",
	[MADV_WILLNEED] = "willneed",
	[MADV_DONTNEED] = "dontneed",
	[8] = "free",
	[9] = "remove",
	[10] = "dontfork",
	[11] = "dofork",
	[12] = "mergeable",
	[13] = "unmergeable",
	[14] = "hugepage",
	[15] = "nohugepage",
	[16] = "dontdump",
	[17] = "dodump",
	[18] = "wipeonfork",
	[19] = "keeponfork",
	[20] = "cold",
	[21] = "pageout",
	[22] = "populate_read",
	[23] = "populate_write",
	[24] = "dontneed_locked",
	[25] = "collapse",
};

static void rec_madvise(struct thread *t, long ret)
{
	struct user_regs_struct *r = &t->regs;
	unsigned long adv = r->rdx;
	const char *an = adv < sizeof(madv_names) / sizeof(madv_names[0])
				 ? madv_names[adv]
			 : adv == 102 ? "guard_install"
			 : adv == 103 ? "guard_remove"
				      : NULL;

	if (!an) {
		comment("madvise",
			"unmodelled: madvise(%#llx, %#llx, %lu) = %ld "
			"(advice unknown to vmad)",
			r->rdi, r->rsi, adv, ret);
		return;
	}
	begin_req("madvise", t->sp);
	put_u64("addr", r->rdi, true);
	put_u64("length", r->rsi, true);
	fprintf(out, ",\"advice\":\"%s\"}", an);
	put_expect(ret, NULL);
	fputs("}\n", out);
	nr_recorded++;
}

static void rec_mlock(struct thread *t, long nr, long ret)
{
	struct user_regs_struct *r = &t->regs;

	switch (nr) {
	case SYS_mlock:
	case SYS_munlock:
	case SYS_mlock2:
		begin_req(nr == SYS_munlock  ? "munlock"
			  : nr == SYS_mlock2 ? "mlock2"
					     : "mlock",
			  t->sp);
		put_u64("addr", r->rdi, true);
		put_u64("length", r->rsi, true);
		if (nr == SYS_mlock2 && (r->rdx & MLOCK_ONFAULT))
			fprintf(out, ",\"flags\":[\"onfault\"]");
		if (nr == SYS_mlock2 &&
		    (r->rdx & ~(unsigned long)MLOCK_ONFAULT))
			fprintf(out, ",\"flags\":[\"0x%llx\"]", r->rdx);
		break;
	case SYS_mlockall: {
		bool first = true;

		begin_req("mlockall", t->sp);
		fprintf(out, ",\"flags\":[");
		if (r->rdi & MCL_CURRENT) {
			fprintf(out, "\"current\"");
			first = false;
		}
		if (r->rdi & MCL_FUTURE) {
			fprintf(out, "%s\"future\"", first ? "" : ",");
			first = false;
		}
		if (r->rdi & MCL_ONFAULT)
			fprintf(out, "%s\"onfault\"", first ? "" : ",");
		fputc(']', out);
		break;
	}
	default:
		begin_req("munlockall", t->sp);
		break;
	}
	fputc('}', out);
	put_expect(ret, NULL);
	fputs("}\n", out);
	nr_recorded++;
}

/* Read a NUL-terminated string of the tracee (at most @len - 1 bytes). */
static int read_string(pid_t tid, uint64_t addr, char *buf, size_t len)
{
	struct iovec local = {buf, len - 1}, remote = {(void *)addr, len - 1};
	ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return memchr(buf, '\0', (size_t)n) ? 0 : -1;
}

static void rec_prctl(struct thread *t, long ret)
{
	struct user_regs_struct *r = &t->regs;
	char name[128];

	if (r->rsi != PR_SET_VMA_ANON_NAME) {
		comment("prctl",
			"unmodelled: prctl(PR_SET_VMA, %llu, ...) = %ld",
			r->rsi, ret);
		return;
	}
	begin_req("set_vma_anon_name", t->sp);
	put_u64("addr", r->rdx, true);
	put_u64("length", r->r10, true);
	fprintf(out, ",\"name\":");
	if (!r->r8)
		fprintf(out, "null");
	else if (read_string(t->tid, r->r8, name, sizeof(name)))
		fprintf(out, "\"?\"");
	else
		put_json_string(out, name, strlen(name));
	fputc('}', out);
	put_expect(ret, NULL);
	fputs("}\n", out);
	nr_recorded++;
}

/* A recorded call @t entered has returned @ret: write it. */
static void record(struct thread *t, long ret)
{
	long nr = (long)t->regs.orig_rax;

	switch (nr) {
	case SYS_mmap:
		rec_mmap(t, ret);
		break;
	case SYS_munmap:
		rec_range(t, "munmap", ret, false);
		break;
	case SYS_mprotect:
		rec_range(t, "mprotect", ret, true);
		break;
	case SYS_pkey_mprotect:
		if ((long)t->regs.r10 == -1) {
			rec_range(t, "mprotect", ret, true);
		} else {
			comment("pkey_mprotect",
				"unmodelled: pkey_mprotect(%#llx, %#llx, "
				"%#llx, %lld) = %ld (protection keys)",
				t->regs.rdi, t->regs.rsi, t->regs.rdx,
				(long long)t->regs.r10, ret);
		}
		break;
	case SYS_mremap:
		rec_mremap(t, ret);
		break;
	case SYS_brk:
		rec_brk(t, ret);
		break;
	case SYS_madvise:
		rec_madvise(t, ret);
		break;
	case SYS_mlock:
	case SYS_munlock:
	case SYS_mlock2:
	case SYS_mlockall:
	case SYS_munlockall:
		rec_mlock(t, nr, ret);
		break;
	case __NR_mseal:
		begin_req("mseal", t->sp);
		put_u64("addr", t->regs.rdi, true);
		put_u64("length", t->regs.rsi, true);
		if (t->regs.rdx)
			put_u64("flags", t->regs.rdx, true);
		fputc('}', out);
		put_expect(ret, NULL);
		fputs("}\n", out);
		nr_recorded++;
		break;
	case SYS_prctl:
		rec_prctl(t, ret);
		break;
	case SYS_shmat:
		comment("shmat", "unmodelled: shmat(%lld, %#llx, %#llx) = %#lx",
			(long long)t->regs.rdi, t->regs.rsi, t->regs.rdx, ret);
		break;
	case SYS_shmdt:
		comment("shmdt", "unmodelled: shmdt(%#llx) = %ld", t->regs.rdi,
			ret);
		break;
	case SYS_remap_file_pages:
		comment("remap_file_pages",
			"unmodelled: remap_file_pages(%#llx, %#llx, ...) = %ld",
			t->regs.rdi, t->regs.rsi, ret);
		break;
	case SYS_process_madvise:
		comment("process_madvise",
			"unmodelled: process_madvise(...) = %ld", ret);
		break;
	default:
		comment(NULL, "unexpected system call %ld = %ld", nr, ret);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* The seccomp filter                                                  */

static const int traced_calls[] = {
	SYS_mmap,
	SYS_munmap,
	SYS_mprotect,
	SYS_pkey_mprotect,
	SYS_mremap,
	SYS_brk,
	SYS_madvise,
	SYS_mlock,
	SYS_munlock,
	SYS_mlock2,
	SYS_mlockall,
	SYS_munlockall,
	__NR_mseal,
	SYS_remap_file_pages,
	SYS_shmat,
	SYS_shmdt,
	SYS_process_madvise,
	SYS_execve,
	SYS_execveat,
};

static int install_filter(void)
{
	enum { N = sizeof(traced_calls) / sizeof(traced_calls[0]) };
	struct sock_filter f[N + 12];
	struct sock_fprog prog;
	unsigned i, k = 0;

	/* x86-64 only; anything else runs untraced. */
	f[k++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					      AUDIT_ARCH_X86_64, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (i = 0; i < N; i++)
		/* equal: jump to the TRACE return (N - i - 1 + 4 ahead) */
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						      (unsigned)traced_calls[i],
						      N - i - 1 + 4, 0);
	/* prctl(PR_SET_VMA, ...) */
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					      SYS_prctl, 0, 2);
	f[k++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					      PR_SET_VMA, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_TRACE | 1);
	prog.len = (unsigned short)k;
	prog.filter = f;
	if (geteuid() && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* ------------------------------------------------------------------ */
/* The tracing loop                                                    */

static void resume(pid_t tid, int how, int sig)
{
	if (ptrace(how, tid, NULL, (void *)(long)sig) && errno != ESRCH)
		fprintf(stderr, "vma-record: ptrace(%d, %d): %s\n", how,
			(int)tid, strerror(errno));
}

/* @t is at the seccomp stop of a recorded call and may go on. */
static void enter_call(struct thread *t)
{
	struct space *sp = t->sp;

	sp->busy = t;
	t->in_call = true;
	t->parked = false;
	t->entry_brk = sp->brk;
	look_now(sp);
	resume(t->tid, PTRACE_SYSCALL, 0);
}

/* The parked thread of @sp that came first, if any. */
static struct thread *next_parked(struct space *sp)
{
	struct thread *best = NULL;
	size_t i;

	for (i = 0; i < nr_threads; i++) {
		struct thread *t = threads[i];

		if (t->sp == sp && t->parked && (!best || t->seq < best->seq))
			best = t;
	}
	return best;
}

/*
 * Do @a and @b share one mm? kcmp(KCMP_VM) says it exactly; -1 if it
 * cannot tell.
 */
static int same_mm(pid_t a, pid_t b)
{
	long r = syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0);

	return r < 0 ? -1 : r == 0;
}

/* The clone flags of the fork/clone call @parent is stopped in. */
static unsigned long clone_flags(pid_t parent)
{
	struct user_regs_struct r;

	if (ptrace(PTRACE_GETREGS, parent, NULL, &r))
		return 0;
	if (r.orig_rax == SYS_clone)
		return r.rdi;
	if (r.orig_rax == SYS_clone3) {
		uint64_t flags = 0;
		struct iovec l = {&flags, 8}, rm = {(void *)r.rdi, 8};

		if (process_vm_readv(parent, &l, 1, &rm, 1, 0) == 8)
			return flags;
	}
	if (r.orig_rax == SYS_vfork)
		return CLONE_VM | CLONE_VFORK;
	return 0;
}

/* The exit-time look: faults, then the final maps of @sp. */
static void space_final(struct space *sp)
{
	if (sp->finished)
		return;
	sp->finished = true;
	if (!sp->final_maps) {
		comment(NULL, "%s: no exit-time layout (killed?)", sp->name);
		return;
	}
	look(sp, sp->final_maps);
	final_maps(sp, sp->final_maps, "the layout at exit");
}

static void on_exit_event(struct thread *t)
{
	struct space *sp = t->sp;
	char *s;

	if (!sp)
		return;
	/* The mm is still there: keep the latest look of it. */
	s = read_proc(t->tid, "smaps");
	if (s) {
		rpc_smaps_reduce(s);
		free(sp->final_maps);
		sp->final_maps = s;
	}
}

static void progress(void)
{
	static time_t last;
	time_t now = time(NULL);

	if (o.quiet || !isatty(STDERR_FILENO) || now == last)
		return;
	last = now;
	fprintf(stderr,
		"\rvma-record: %llu calls recorded, %llu faults, %llu "
		"comments, %zu processes\033[K",
		nr_recorded, nr_faults, nr_comments, nr_spaces);
}

static int trace(pid_t child)
{
	int status, exit_code = 125;
	pid_t tid;
	struct thread *t;

	/* The child stops itself before installing the filter. */
	if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status)) {
		fprintf(stderr, "vma-record: the child did not stop\n");
		return 125;
	}
	if (ptrace(PTRACE_SETOPTIONS, child, NULL,
		   (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC |
				  PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
				  PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT |
				  PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL))) {
		fprintf(stderr, "vma-record: PTRACE_SETOPTIONS: %s\n",
			strerror(errno));
		return 125;
	}
	t = thread_new(child, NULL);
	t->adopted = true;
	resume(child, PTRACE_CONT, 0);

	while (nr_threads) {
		int sig, ev;

		tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		nr_stops++;
		progress();
		t = thread_find(tid);
		if (!t) {
			/* A new thread whose stop came before its parent's
			 * event: it waits there until the event says which
			 * address space it uses. */
			t = thread_new(tid, NULL);
			if (WIFSTOPPED(status)) {
				t->waiting = true;
				continue;
			}
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			struct space *sp = t->sp;

			if (tid == child)
				exit_code = WIFEXITED(status)
						    ? WEXITSTATUS(status)
						    : 128 + WTERMSIG(status);
			thread_del(t);
			if (sp && !sp->users)
				space_final(sp);
			else if (sp && !sp->busy && next_parked(sp))
				enter_call(next_parked(sp));
			continue;
		}
		if (!WIFSTOPPED(status))
			continue;
		sig = WSTOPSIG(status);
		ev = status >> 16;
		if (ev == PTRACE_EVENT_SECCOMP) {
			if (!t->sp) {
				resume(tid, PTRACE_CONT, 0);
				continue;
			}
			if (ptrace(PTRACE_GETREGS, tid, NULL, &t->regs)) {
				resume(tid, PTRACE_CONT, 0);
				continue;
			}
			if (t->regs.orig_rax == SYS_execve ||
			    t->regs.orig_rax == SYS_execveat) {
				/* The last look at this image, should the
				 * execve succeed. */
				on_exit_event(t);
				resume(tid, PTRACE_CONT, 0);
				continue;
			}
			if (t->sp->busy && t->sp->busy != t) {
				t->parked = true;
				t->seq = park_seq++;
				continue; /* held until the other returns */
			}
			enter_call(t);
			continue;
		}
		if (sig == (SIGTRAP | 0x80)) {
			/* syscall-exit stop of a recorded call */
			struct user_regs_struct r;

			if (t->in_call &&
			    !ptrace(PTRACE_GETREGS, tid, NULL, &r)) {
				t->in_call = false;
				record(t, (long)r.rax);
				after_call(t, (long)r.rax);
				if (t->sp->busy == t)
					t->sp->busy = NULL;
			}
			resume(tid, PTRACE_CONT, 0);
			if (t->sp && !t->sp->busy && next_parked(t->sp))
				enter_call(next_parked(t->sp));
			continue;
		}
		if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK ||
		    ev == PTRACE_EVENT_CLONE) {
			unsigned long msg = 0, flags = clone_flags(tid);
			struct thread *c;

			ptrace(PTRACE_GETEVENTMSG, tid, NULL, &msg);
			c = thread_find((pid_t)msg);
			if (!c) {
				c = thread_new((pid_t)msg, NULL);
				c->new_stop = true;
			}
			c->adopted = true;
			if (ev == PTRACE_EVENT_VFORK)
				flags |= CLONE_VM;
			switch (same_mm(tid, (pid_t)msg)) {
			case 1:
				flags |= CLONE_VM;
				break;
			case 0:
				flags &= ~(unsigned long)CLONE_VM;
				break;
			}
			if (flags & CLONE_VM) {
				c->sp = t->sp;
				if (c->sp)
					c->sp->users++;
			} else if (!o.no_fork && t->sp) {
				struct space *n = space_new((pid_t)msg);

				look_now(t->sp);
				begin_req("space.fork", t->sp);
				fprintf(out, ",\"name\":");
				put_json_string(out, n->name, strlen(n->name));
				fprintf(out, "},\"expect\":{\"result\":{"
					     "\"name\":");
				put_json_string(out, n->name, strlen(n->name));
				fprintf(out, "}}}\n");
				nr_recorded++;
				n->map = t->sp->map;
				n->map.v = malloc((n->map.cap + 1) *
						  sizeof(*n->map.v));
				if (!n->map.v) {
					perror("vma-record");
					exit(125);
				}
				if (n->map.nr)
					memcpy(n->map.v, t->sp->map.v,
					       n->map.nr * sizeof(*n->map.v));
				memcpy(n->gd_end, t->sp->gd_end,
				       sizeof(n->gd_end));
				memcpy(n->gd_start, t->sp->gd_start,
				       sizeof(n->gd_start));
				n->nr_gd = t->sp->nr_gd;
				n->brk = t->sp->brk;
				c->sp = n;
				n->users++;
			}
			if (c->waiting) {
				c->waiting = false;
				resume(c->tid, PTRACE_CONT, 0);
			}
			resume(tid, PTRACE_CONT, 0);
			continue;
		}
		if (ev == PTRACE_EVENT_EXEC) {
			unsigned long former = 0;
			struct space *n;

			ptrace(PTRACE_GETEVENTMSG, tid, NULL, &former);
			if (former != (unsigned long)tid) {
				/* A non-leader exec'd: it took the leader's
				 * tid; the old thread record is stale. */
				struct thread *old = thread_find((pid_t)former);

				if (old && old != t)
					thread_del(old);
			}
			if (t->sp) {
				t->sp->users--;
				if (!t->sp->users)
					space_final(t->sp);
				else if (!t->sp->busy && next_parked(t->sp))
					enter_call(next_parked(t->sp));
			}
			t->sp = NULL;
			if (!o.no_fork || !nr_spaces) {
				char what[256];
				char *cmd = read_proc(tid, "cmdline");

				n = space_new(tid);
				snprintf(what, sizeof(what),
					 "pid %d after execve of %s", (int)tid,
					 cmd ? cmd : "?");
				for (char *w = what; *w; w++)
					if ((unsigned char)*w < 0x20)
						*w = '?'; /* one comment line */
				import_space(n, tid, what);
				free(cmd);
				t->sp = n;
				n->users++;
			}
			resume(tid, PTRACE_CONT, 0);
			continue;
		}
		if (ev == PTRACE_EVENT_EXIT) {
			on_exit_event(t);
			resume(tid, PTRACE_CONT, 0);
			continue;
		}
		if (ev == PTRACE_EVENT_STOP) {
			resume(tid, PTRACE_CONT, 0);
			continue;
		}
		if (t->new_stop && sig == SIGSTOP) {
			t->new_stop = false;
			resume(tid, PTRACE_CONT, 0);
			continue;
		}
		/* A signal for the program: deliver it. */
		resume(tid, PTRACE_CONT, sig == SIGTRAP ? 0 : sig);
	}
	return exit_code;
}

static void summary(void)
{
	size_t i;

	if (o.quiet)
		return;
	if (isatty(STDERR_FILENO))
		fputs("\r\033[K", stderr);
	fprintf(stderr,
		"vma-record: %llu requests (%llu reconstructed faults), %zu "
		"processes, %llu unmodelled calls written as comments",
		nr_recorded + nr_faults, nr_faults, nr_spaces, nr_comments);
	for (i = 0; i < 32 && unmodelled[i].name; i++)
		fprintf(stderr, "%s %s %llu", i ? "," : ":", unmodelled[i].name,
			unmodelled[i].n);
	fputc('\n', stderr);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"output", required_argument, NULL, 'o'},
		{"name", required_argument, NULL, 'n'},
		{"aslr", no_argument, NULL, 'R'},
		{"no-fork", no_argument, NULL, 'F'},
		{"no-faults", no_argument, NULL, 'P'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int c, ret, pipefd[2];
	pid_t child;
	char err[256];
	ssize_t n;

	while ((c = getopt_long(argc, argv, "+o:n:RqhV", lopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o.output = optarg;
			break;
		case 'n':
			o.name = optarg;
			break;
		case 'R':
			o.aslr = true;
			break;
		case 'F':
			o.no_fork = true;
			break;
		case 'P':
			o.no_faults = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			fputs(record_help, stdout);
			return 0;
		case 'V':
			printf("vma-record %s\n", VMAD_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'vma-record --help'.\n");
			return 125;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vma-record: no command\n"
				"Try 'vma-record --help'.\n");
		return 125;
	}
	if (strlen(o.name) > 50 || !*o.name) {
		fprintf(stderr, "vma-record: --name must have 1 to 50 bytes\n");
		return 125;
	}
	out = strcmp(o.output, "-") ? fopen(o.output, "w") : stdout;
	if (!out) {
		fprintf(stderr, "vma-record: %s: %s\n", o.output,
			strerror(errno));
		return 125;
	}
	setvbuf(out, NULL, _IOFBF, 1 << 20);
	platform_probe();
	if (pipe2(pipefd, O_CLOEXEC)) {
		perror("vma-record: pipe");
		return 125;
	}
	child = fork();
	if (child < 0) {
		perror("vma-record: fork");
		return 125;
	}
	if (!child) {
		close(pipefd[0]);
		if (!o.aslr &&
		    personality((unsigned long)personality(0xffffffff) |
				ADDR_NO_RANDOMIZE) < 0) {
			n = snprintf(err, sizeof(err), "personality: %s",
				     strerror(errno));
			(void)!write(pipefd[1], err, (size_t)n);
			_exit(125);
		}
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL)) {
			n = snprintf(err, sizeof(err), "ptrace: %s",
				     strerror(errno));
			(void)!write(pipefd[1], err, (size_t)n);
			_exit(125);
		}
		raise(SIGSTOP);
		if (install_filter()) {
			n = snprintf(err, sizeof(err), "seccomp: %s",
				     strerror(errno));
			(void)!write(pipefd[1], err, (size_t)n);
			_exit(125);
		}
		execvp(argv[optind], argv + optind);
		n = snprintf(err, sizeof(err), "cannot run %s: %s",
			     argv[optind], strerror(errno));
		(void)!write(pipefd[1], err, (size_t)n);
		_exit(127);
	}
	close(pipefd[1]);
	fprintf(out,
		"# vma-record %s: kernel %s; randomization %s; "
		"stack rlimit %llu; max_map_count %llu; "
		"stack_guard_gap %llu pages; 2 MiB-aligned file mappings "
		"on the filesystem of /tmp: %s\n",
		VMAD_VERSION, plat.kernel, o.aslr ? "on" : "off",
		(unsigned long long)plat.stack_rlimit,
		(unsigned long long)plat.max_map_count,
		(unsigned long long)plat.guard_gap,
		plat.thp_file_align < 0	  ? "unknown"
		: plat.thp_file_align > 0 ? "yes"
					  : "no");
	if (plat.stack_rlimit == UINT64_MAX)
		fprintf(out, "# the stack rlimit is unlimited: Linux uses the "
			     "legacy bottom-up layout, which vmad does not "
			     "model\n");
	{
		int i;

		fputs("# command:", out);
		for (i = optind; i < argc; i++) {
			const char *a;

			fputc(' ', out);
			for (a = argv[i]; *a; a++)
				if (*a == '\n')
					fputs("\\n", out);
				else
					fputc(*a, out);
		}
		fputc('\n', out);
	}
	ret = trace(child);
	n = read(pipefd[0], err, sizeof(err) - 1);
	if (n > 0) {
		err[n] = '\0';
		fprintf(stderr, "vma-record: %s\n", err);
	}
	{
		size_t i;

		for (i = 0; i < nr_spaces; i++)
			space_final(spaces[i]);
	}
	summary();
	if (fflush(out) || (out != stdout && fclose(out))) {
		fprintf(stderr, "vma-record: %s: %s\n", o.output,
			strerror(errno));
		return 125;
	}
	return ret;
}
