/* check_config.c: quotapool-admin check-config. */
#include <stdio.h>

#include "admin.h"

int
cmd_check_config(struct admin *a, int argc, char **argv)
{
	int i, accounts = 0;

	(void)argv;
	if (argc != 1) {
		admin_err("usage: quotapool-admin check-config");
		return 1;
	}
	if (admin_load_config(a) != 0)
		return 1;
	for (i = 0; i < a->cfg->nproviders; i++)
		accounts += a->cfg->providers[i].naccounts;
	printf("%s: valid (%d provider%s, %d account%s)\n", a->config_path,
	    a->cfg->nproviders, a->cfg->nproviders == 1 ? "" : "s",
	    accounts, accounts == 1 ? "" : "s");
	return 0;
}
