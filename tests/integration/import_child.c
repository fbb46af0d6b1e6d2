// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: The child of test_import_kernel.py: a process whose VMAs carry the
 * flags of mlock, mlock2, madvise and mseal and, where the kernel has
 * CONFIG_ANON_VMA_NAME, anonymous names, so that its /proc/PID/smaps can
 * be imported into vmad and compared with the kernel.
 *
 * It maps one private anonymous region of NR_PAGES pages, writes every
 * page (as memory in use: the pieces the calls split keep one anon_vma),
 * then applies one call to every other page, so that each call's VMA
 * stands apart; and a shared anonymous region of four pages, named and
 * locked in part. It prints one line
 *
 *   base ADDR shared ADDR mlock E mlock2 E dontfork E ... name E
 *
 * (E: 0 or the errno name of each call; the test decides from them what
 * the kernel supports), then runs commands from stdin, one per line, and
 * answers each with "0" or an errno name:
 *
 *   munmap ADDR LEN | mprotect ADDR LEN PROT | madvise ADDR LEN ADVICE |
 *   mlock ADDR LEN | munlock ADDR LEN | mseal ADDR LEN |
 *   name ADDR LEN NAME|- | touch ADDR LEN
 *
 * (numbers in hex, ADVICE and PROT in decimal). touch reads the byte at
 * ADDR and answers "0", or the si_code of the SIGSEGV it raised
 * ("SEGV_MAPERR", "SEGV_ACCERR"). EOF ends it.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef PR_SET_VMA_ANON_NAME
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
#ifndef SYS_mlock2
#define SYS_mlock2 325
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define NR_PAGES 40

static long page;

static const char *result(long r)
{
	static char buf[32];

	if (r == 0)
		return "0";
	switch (errno) {
	case EINVAL:
		return "EINVAL";
	case ENOMEM:
		return "ENOMEM";
	case EPERM:
		return "EPERM";
	case EAGAIN:
		return "EAGAIN";
	case EACCES:
		return "EACCES";
	case EBADF:
		return "EBADF";
	case EFAULT:
		return "EFAULT";
	case ENOSYS:
		return "ENOSYS";
	}
	snprintf(buf, sizeof(buf), "E%d", errno);
	return buf;
}

static long set_name(void *addr, size_t len, const char *name)
{
	return prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)addr,
		     (unsigned long)len, (unsigned long)name);
}

static sigjmp_buf touch_env;
static volatile sig_atomic_t touch_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	touch_code = si->si_code;
	siglongjmp(touch_env, 1);
}

/* Read the byte at @addr: "0", or the si_code of its SIGSEGV. */
static const char *touch(unsigned long addr)
{
	static char buf[32];
	struct sigaction sa = {0}, old;
	const char *res = "0";

	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(touch_env, 1) == 0) {
		(void)*(volatile char *)addr;
	} else if (touch_code == SEGV_MAPERR) {
		res = "SEGV_MAPERR";
	} else if (touch_code == SEGV_ACCERR) {
		res = "SEGV_ACCERR";
	} else {
		snprintf(buf, sizeof(buf), "SEGV_%d", (int)touch_code);
		res = buf;
	}
	sigaction(SIGSEGV, &old, NULL);
	return res;
}

/* One command of stdin; the answer on stdout. */
static void run(char *line)
{
	char op[16], arg[96];
	unsigned long addr, len, x = 0;
	long r;
	int n = sscanf(line, "%15s %lx %lx %95s", op, &addr, &len, arg);

	if (n < 3) {
		printf("bad command\n");
		return;
	}
	if (n == 4)
		x = strtoul(arg, NULL, 10);
	if (!strcmp(op, "touch")) {
		printf("%s\n", touch(addr));
		return;
	}
	if (!strcmp(op, "munmap"))
		r = munmap((void *)addr, len);
	else if (!strcmp(op, "mprotect"))
		r = mprotect((void *)addr, len, (int)x);
	else if (!strcmp(op, "madvise"))
		r = madvise((void *)addr, len, (int)x);
	else if (!strcmp(op, "mlock"))
		r = mlock((void *)addr, len);
	else if (!strcmp(op, "munlock"))
		r = munlock((void *)addr, len);
	else if (!strcmp(op, "mseal"))
		r = syscall(SYS_mseal, addr, len, 0UL);
	else if (!strcmp(op, "name"))
		r = set_name((void *)addr, len,
			     n == 4 && strcmp(arg, "-") ? arg : NULL);
	else {
		printf("bad command\n");
		return;
	}
	printf("%s\n", result(r));
}

int main(void)
{
	static const struct {
		const char *what;
		int advice; /* -1: not madvise */
	} calls[] = {
		{"mlock", -1},
		{"mlock2", -1},
		{"dontfork", MADV_DONTFORK},
		{"wipeonfork", MADV_WIPEONFORK},
		{"dontdump", MADV_DONTDUMP},
		{"hugepage", MADV_HUGEPAGE},
		{"nohugepage", MADV_NOHUGEPAGE},
		{"sequential", MADV_SEQUENTIAL},
		{"random", MADV_RANDOM},
		{"mergeable", MADV_MERGEABLE},
		{"mseal", -1},
		{"guard", MADV_GUARD_INSTALL},
		{"name", -1},
	};
	char line[256], *base, *shared;
	size_t i;

	page = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	base = mmap(NULL, NR_PAGES * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || shared == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(base, 1, NR_PAGES * page);
	printf("base %lx shared %lx", (unsigned long)base,
	       (unsigned long)shared);
	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		char *p = base + (2 * i + 1) * page;
		long r;

		if (!strcmp(calls[i].what, "mlock"))
			r = mlock(p, page);
		else if (!strcmp(calls[i].what, "mlock2"))
			r = syscall(SYS_mlock2, p, page, MLOCK_ONFAULT);
		else if (!strcmp(calls[i].what, "mseal"))
			r = syscall(SYS_mseal, p, page, 0UL);
		else if (!strcmp(calls[i].what, "name"))
			r = set_name(p, page, "myarena");
		else
			r = madvise(p, page, calls[i].advice);
		printf(" %s %s", calls[i].what, result(r));
	}
	/* The shared region: its middle locked; named where names exist. */
	memset(shared, 2, 4 * page);
	printf(" shmlock %s", result(mlock(shared + page, 2 * page)));
	printf(" shmname %s\n",
	       result(set_name(shared + 2 * page, 2 * page, "shm")));
	while (fgets(line, sizeof(line), stdin))
		run(line);
	return 0;
}
