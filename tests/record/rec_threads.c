// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * DOC: rec_threads - a small multi-threaded program for vma-record's tests.
 *
 * It does, on purpose, what makes recording hard: four threads map,
 * write, protect and unmap memory at the same time; the main thread maps
 * one file through two open() calls side by side (Linux keeps them apart:
 * two struct files) and through one descriptor twice (they merge), grows
 * and moves a mapping with mremap, grows the heap with brk, grows its
 * stack by page faults alone, and forks a child that maps memory of its
 * own. Its output is nothing; its exit status is 0 when every call did
 * what it should. With --sleep it only waits, to be imported live.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

static int failed;

static void *worker(void *arg)
{
	long id = (long)arg;
	int i;

	for (i = 0; i < 40; i++) {
		size_t len = (size_t)(4 + (id + i) % 5) * PG;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			failed = 1;
			break;
		}
		memset(p, (int)id, len);
		if (mprotect(p + PG, PG, PROT_READ))
			failed = 1;
		if (i % 3 == 0) {
			/* keep some: they stay until exit */
			continue;
		}
		if (munmap(p, len))
			failed = 1;
	}
	return NULL;
}

/* Touch the stack far below where it is: growth by page faults only. */
static int __attribute__((noinline)) deep(int n)
{
	volatile char buf[16 * 1024];

	buf[0] = (char)n;
	buf[sizeof(buf) - 1] = (char)n;
	if (n)
		return deep(n - 1) + buf[0];
	return buf[sizeof(buf) - 1];
}

int main(int argc, char **argv)
{
	pthread_t th[4];
	char *a, *b, *c, *r;
	long i;
	int fd1, fd2;
	pid_t pid;
	int st;

	/* --sleep: wait to be looked at (vmactl space import --pid). */
	if (argc > 1 && !strcmp(argv[1], "--sleep")) {
		pause();
		return 0;
	}
	/* One file, two open()s: two struct files, never merged. */
	fd1 = open(argv[0], O_RDONLY);
	fd2 = open(argv[0], O_RDONLY);
	if (fd1 < 0 || fd2 < 0)
		return 2;
	a = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE, fd1, 0);
	b = mmap(a + PG, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd2, PG);
	/* The same descriptor again, adjacent: one VMA. */
	c = mmap(a + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd1,
		 2 * PG);
	if (a == MAP_FAILED || b != a + PG || c != a + 2 * PG)
		return 3;
	close(fd2);

	/* mremap: grow in place if possible, then move. */
	r = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return 4;
	r[0] = 1;
	r = mremap(r, 4 * PG, 64 * PG, MREMAP_MAYMOVE);
	if (r == MAP_FAILED)
		return 5;
	r = mremap(r, 64 * PG, 64 * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
		   (char *)0x200000000);
	if (r != (char *)0x200000000)
		return 6;

	/* The heap. */
	if (sbrk(64 * PG) == (void *)-1)
		return 7;
	memset((char *)sbrk(0) - 64 * PG, 1, 64 * PG);

	if (deep(16) < 0)
		return 8;

	for (i = 0; i < 4; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i))
			return 9;
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);

	pid = fork();
	if (pid < 0)
		return 10;
	if (pid == 0) {
		char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(1);
		p[0] = 1;
		munmap(p + 2 * PG, PG);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return 11;
	return failed ? 12 : 0;
}
