/* key.c: quotapool-admin key new|list|revoke. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "crypto.h"
#include "keys.h"

/* Formats ms since the epoch as UTC "YYYY-MM-DD HH:MM", or "never". */
static void
key_time(int64_t ms, char *buf, size_t len)
{
	time_t t;
	struct tm tm;

	if (ms <= 0) {
		snprintf(buf, len, "never");
		return;
	}
	t = (time_t)(ms / 1000);
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static int
key_print(const struct keys_info *k, void *arg)
{
	char created[32], used[32], revoked[32];

	(void)arg;
	key_time(k->created_at, created, sizeof(created));
	key_time(k->last_used_at, used, sizeof(used));
	key_time(k->revoked_at, revoked, sizeof(revoked));
	printf("%-24s %-12s %-7s %-17s %-17s %s\n", k->name, k->prefix,
	    keys_role_name(k->role), created, used,
	    k->revoked_at > 0 ? revoked : "-");
	return 0;
}

static int
key_usage(void)
{

	admin_err("usage: quotapool-admin key new NAME [--admin] | list | revoke NAME");
	return 1;
}

int
cmd_key(struct admin *a, int argc, char **argv)
{
	struct keys_db *k = NULL;
	enum keys_role role = KEYS_ROLE_CLIENT;
	char key[KEYS_TEXT_LEN + 1], errbuf[256];
	const char *name = NULL;
	enum qp_err err;
	int i, rc = 1;

	if (argc < 2)
		return key_usage();
	if (strcmp(argv[1], "new") == 0) {
		for (i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--admin") == 0)
				role = KEYS_ROLE_ADMIN;
			else if (name == NULL && argv[i][0] != '-')
				name = argv[i];
			else
				return key_usage();
		}
		if (name == NULL)
			return key_usage();
		if (!keys_name_valid(name)) {
			admin_err("invalid key name: use 1-%d letters, digits, '_', "
			    "'.' or '-'", KEYS_NAME_MAX);
			return 1;
		}
	} else if (strcmp(argv[1], "list") == 0) {
		if (argc != 2)
			return key_usage();
	} else if (strcmp(argv[1], "revoke") == 0) {
		if (argc != 3)
			return key_usage();
		name = argv[2];
	} else
		return key_usage();

	if (admin_open_migrated_db(a) != 0)
		return 1;
	if ((k = keys_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return 1;
	}
	if (strcmp(argv[1], "new") == 0) {
		err = keys_create(k, name, role, key);
		if (err == QP_EEXIST)
			admin_err("a key named '%s' already exists", name);
		else if (err != QP_OK)
			admin_err("cannot create key: %s", qp_strerror(err));
		else {
			printf("%s\n", key);
			fflush(stdout);
			fprintf(stderr, "%s key '%s' created: it is shown only once, "
			    "store it now\n", keys_role_name(role), name);
			rc = 0;
		}
		crypto_wipe(key, sizeof(key));
	} else if (strcmp(argv[1], "list") == 0) {
		printf("%-24s %-12s %-7s %-17s %-17s %s\n", "NAME", "PREFIX",
		    "ROLE", "CREATED (UTC)", "LAST USED", "REVOKED");
		rc = keys_list(k, key_print, NULL) == QP_OK ? 0 : 1;
	} else {
		err = keys_revoke(k, name);
		if (err == QP_ENOTFOUND)
			admin_err("no valid key named '%s'", name);
		else if (err != QP_OK)
			admin_err("cannot revoke key: %s", qp_strerror(err));
		else {
			printf("key '%s' revoked\n", name);
			rc = 0;
		}
	}
	keys_db_free(k);
	return rc;
}
