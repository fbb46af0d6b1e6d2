// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * errno_name: print the wire name libvma gives each negative errno on the
 * command line, one per line (the table check of check_errno_names.py).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vma/err.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		printf("%s %s\n", argv[i], vma_errno_name(-atoi(argv[i])));
	return 0;
}
