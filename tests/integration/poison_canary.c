// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Prints what an uninitialised stack variable and a new heap block hold in
 * this build, for test_uninit.py: with -ftrivial-auto-var-init=pattern the
 * stack is 0xfe... (gcc) or 0xaa... (clang); under ASan malloc() fills new
 * blocks with 0xbe.
 */
#include <stdio.h>
#include <stdlib.h>

static void __attribute__((noinline)) stack_byte(void)
{
	unsigned char buf[16];

	/* The compiler must assume the asm wrote buf: no warning. */
	__asm__ volatile("" : : "r"(buf) : "memory");
	printf("stack %02x\n", buf[7]);
}

int main(void)
{
	unsigned char *heap = malloc(64);

	stack_byte();
	if (!heap)
		return 1;
	__asm__ volatile("" : : "r"(heap) : "memory");
	printf("heap %02x\n", heap[7]);
	free(heap);
	return 0;
}
