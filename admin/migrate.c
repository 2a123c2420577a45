/* migrate.c: quotapool-admin migrate. */
#include <stdio.h>

#include "admin.h"

int
cmd_migrate(struct admin *a, int argc, char **argv)
{

	(void)argv;
	if (argc != 1) {
		admin_err("usage: quotapool-admin migrate");
		return 1;
	}
	return admin_migrate(a, 0) == 0 ? 0 : 1;
}
