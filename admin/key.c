/* key.c: quotapool-admin key new|list|revoke|rotate. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "crypto.h"
#include "db.h"
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

/* Parses a rate limit: 1 to KEYLIMIT_RATE_MAX, or none (0). Returns 0, or -1. */
static int
key_parse_rate(const char *s, int64_t *v)
{
	int64_t n = 0;
	const char *p;

	if (strcmp(s, "none") == 0) {
		*v = 0;
		return 0;
	}
	for (p = s; *p >= '0' && *p <= '9'; p++)
		if ((n = n * 10 + (*p - '0')) > KEYLIMIT_RATE_MAX)
			return -1;
	if (p == s || *p != '\0' || n == 0)
		return -1;
	*v = n;
	return 0;
}

/* Reads one limit option at argv[*i] into c; 1 if it was one, 0 if not, -1 if invalid. */
static int
key_limit_opt(int argc, char **argv, int *i, struct keys_limits_change *c)
{
	const char *opt = argv[*i], *v;

	if (strcmp(opt, "--rpm") != 0 && strcmp(opt, "--tpm") != 0 &&
	    strcmp(opt, "--budget") != 0 && strcmp(opt, "--models") != 0)
		return 0;
	if (*i + 1 >= argc) {
		admin_err("%s needs a value", opt);
		return -1;
	}
	v = argv[++*i];
	if (strcmp(opt, "--rpm") == 0 || strcmp(opt, "--tpm") == 0) {
		if (key_parse_rate(v, opt[2] == 'r' ? &c->to.rpm : &c->to.tpm) != 0) {
			admin_err("%s: a whole number from 1 to %lld, or none, not '%s'", opt,
			    (long long)KEYLIMIT_RATE_MAX, v);
			return -1;
		}
		if (opt[2] == 'r')
			c->set_rpm = 1;
		else
			c->set_tpm = 1;
	} else if (strcmp(opt, "--budget") == 0) {
		c->set_budget = 1;
		c->to.budget = 0;
		c->to.period = KEYLIMIT_PERIOD_NONE;
		if (strcmp(v, "none") != 0 && keylimit_parse_budget(v, &c->to.budget,
		    &c->to.period) != 0) {
			admin_err("--budget: USD per UTC day or month, e.g. 20/day or 300/month "
			    "(at most 6 decimals, up to %lld), or none, not '%s'",
			    (long long)KEYLIMIT_BUDGET_MAX_USD, v);
			return -1;
		}
	} else {
		c->set_models = 1;
		c->to.models[0] = '\0';
		if (strcmp(v, "none") != 0 && keylimit_models_normalize(v, c->to.models) != 0) {
			admin_err("--models: comma-separated globs of printable characters (at "
			    "most %d bytes), e.g. 'gpt-4o*,claude-*', or none, not '%s'",
			    KEYLIMIT_MODELS_MAX, v);
			return -1;
		}
	}
	return 1;
}

/* Formats a key's limits for the table ("-" when none). */
static void
key_limits_text(const struct keylimit_policy *l, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (l->rpm > 0)
		n += (size_t)snprintf(buf + n, len - n, "rpm=%lld ", (long long)l->rpm);
	if (n < len && l->tpm > 0)
		n += (size_t)snprintf(buf + n, len - n, "tpm=%lld ", (long long)l->tpm);
	if (n < len && l->budget > 0)
		n += (size_t)snprintf(buf + n, len - n, "budget=%lld.%06lld/%s ",
		    (long long)(l->budget / 1000000), (long long)(l->budget % 1000000),
		    keylimit_period_name(l->period));
	if (n < len && l->models[0] != '\0')
		n += (size_t)snprintf(buf + n, len - n, "models=%s ", l->models);
	if (n == 0)
		snprintf(buf, len, "-");
	else if (n < len)
		buf[n - 1] = '\0';
	else
		buf[len - 1] = '\0';
}

/* Adds a key's limits to its JSON object (null for none). */
static void
key_limits_json(cJSON *o, const struct keylimit_policy *l)
{

	if (l->rpm > 0)
		cJSON_AddNumberToObject(o, "rpm", (double)l->rpm);
	else
		cJSON_AddNullToObject(o, "rpm");
	if (l->tpm > 0)
		cJSON_AddNumberToObject(o, "tpm", (double)l->tpm);
	else
		cJSON_AddNullToObject(o, "tpm");
	if (l->budget > 0) {
		cJSON_AddNumberToObject(o, "budget_usd", (double)l->budget / 1e6);
		cJSON_AddStringToObject(o, "budget_period", keylimit_period_name(l->period));
	} else {
		cJSON_AddNullToObject(o, "budget_usd");
		cJSON_AddNullToObject(o, "budget_period");
	}
	if (l->models[0] != '\0')
		cJSON_AddStringToObject(o, "models", l->models);
	else
		cJSON_AddNullToObject(o, "models");
}

/* What key_print() needs: the time of the listing, and the JSON array with --json. */
struct key_listing {
	int64_t		 now;
	cJSON		*json;		/* NULL for the table */
};

static int
key_print(const struct keys_info *k, void *arg)
{
	struct key_listing *l = arg;
	char created[32], used[32], revoked[32], expires[40], limits[KEYLIMIT_MODELS_MAX + 96];
	cJSON *o;

	if (l->json != NULL) {
		if ((o = cJSON_CreateObject()) == NULL)
			return 1;
		cJSON_AddItemToArray(l->json, o);
		cJSON_AddStringToObject(o, "name", k->name);
		cJSON_AddStringToObject(o, "prefix", k->prefix);
		cJSON_AddStringToObject(o, "role", keys_role_name(k->role));
		cJSON_AddStringToObject(o, "created_at", admin_iso_time(k->created_at, created,
		    sizeof(created)));
		if (k->last_used_at > 0)
			cJSON_AddStringToObject(o, "last_used_at", admin_iso_time(k->last_used_at,
			    used, sizeof(used)));
		else
			cJSON_AddNullToObject(o, "last_used_at");
		if (k->revoked_at > 0)
			cJSON_AddStringToObject(o, "revoked_at", admin_iso_time(k->revoked_at,
			    revoked, sizeof(revoked)));
		else
			cJSON_AddNullToObject(o, "revoked_at");
		if (k->expires_at > 0)
			cJSON_AddStringToObject(o, "expires_at", admin_iso_time(k->expires_at,
			    expires, sizeof(expires)));
		else
			cJSON_AddNullToObject(o, "expires_at");
		key_limits_json(o, &k->limits);
		cJSON_AddBoolToObject(o, "valid", k->revoked_at == 0 &&
		    (k->expires_at == 0 || k->expires_at > l->now));
		return 0;
	}
	key_time(k->created_at, created, sizeof(created));
	key_time(k->last_used_at, used, sizeof(used));
	key_time(k->revoked_at, revoked, sizeof(revoked));
	key_time(k->expires_at, expires, sizeof(expires));
	if (k->expires_at > 0 && k->expires_at <= l->now)
		snprintf(expires + strlen(expires), sizeof(expires) - strlen(expires),
		    " (expired)");
	key_limits_text(&k->limits, limits, sizeof(limits));
	printf("%-24s %-12s %-7s %-17s %-17s %-27s %-17s %s\n", k->name, k->prefix,
	    keys_role_name(k->role), created, used, expires,
	    k->revoked_at > 0 ? revoked : "-", limits);
	return 0;
}

static int
key_usage(void)
{

	admin_err("usage: quotapool-admin key new NAME [--admin | --worker] [--expires DURATION] "
	    "[LIMITS] | set NAME LIMITS | list [--json] | revoke NAME | rotate NAME [--expires DURATION | "
	    "--no-expiry]; LIMITS: [--rpm N] [--tpm N] [--budget USD/day|USD/month] "
	    "[--models 'GLOB,...'] (none removes one)");
	return 2;
}

static void
key_help(void)
{

	printf("usage: quotapool-admin key new NAME [--admin | --worker] [--expires DURATION] "
	    "[LIMITS]\n"
	    "       quotapool-admin key set NAME LIMITS\n"
	    "       quotapool-admin key list [--json]\n"
	    "       quotapool-admin key revoke NAME\n"
	    "       quotapool-admin key rotate NAME [--expires DURATION | --no-expiry]\n\n"
	    "new     issues a client key (an admin key with --admin: also the dashboard,\n"
	    "        the stats API and /metrics; a remote worker's key with --worker: only\n"
	    "        /worker/v1/..., see docs/workers.md), valid for DURATION (days or hours: 30d,\n"
	    "        12h) or forever. The key is printed once, alone on standard output,\n"
	    "        and only its SHA-256 is stored.\n"
	    "set     changes the limits of the key NAME; the others are kept. Every\n"
	    "        gateway process applies them from its next request.\n"
	    "LIMITS  --rpm N     requests per minute (429 with Retry-After beyond)\n"
	    "        --tpm N     tokens per minute, in flight estimated (429)\n"
	    "        --budget 20/day | 300/month  USD per UTC day or month; once spent,\n"
	    "                    429 (OpenAI type insufficient_quota) until it resets\n"
	    "        --models 'gpt-4o*,claude-*'  globs of the models allowed (403 else)\n"
	    "        Each takes 'none' to remove that limit.\n"
	    "list    names, visible prefixes, roles, creation, last use, expiry and\n"
	    "        revocation; never a secret.\n"
	    "revoke  refuses the key from the next request on.\n"
	    "rotate  gives the key NAME a new secret with the same name and role, printed\n"
	    "        once; the old secret is refused from the next request on and the\n"
	    "        dashboard sessions opened with it end. The new secret keeps the old\n"
	    "        one's term (its expiry minus its creation) unless --expires or\n"
	    "        --no-expiry says otherwise.\n\n"
	    "A key past its expiry gets a 401 saying that it expired. Keys are never taken\n"
	    "as arguments. Exit 0 on success, 1 on a failure, 2 on bad usage.\n");
}

/* Prints a new secret alone on stdout and what it is on stderr; wipes it. */
static void
key_show(char key[KEYS_TEXT_LEN + 1], const char *what, const char *name,
    enum keys_role role, int64_t expires_at)
{
	char until[40];

	printf("%s\n", key);
	fflush(stdout);
	crypto_wipe(key, KEYS_TEXT_LEN + 1);
	if (expires_at > 0)
		fprintf(stderr, "%s key '%s' %s, valid until %s: it is shown only once, store "
		    "it now\n", keys_role_name(role), name, what, admin_iso_time(expires_at,
		    until, sizeof(until)));
	else
		fprintf(stderr, "%s key '%s' %s: it is shown only once, store it now\n",
		    keys_role_name(role), name, what);
}

/* Finds the role of the valid key name (for the message after a rotation). */
static int
key_role_of(const struct keys_info *k, void *arg)
{
	struct { const char *name; enum keys_role role; } *want = arg;

	if (k->revoked_at == 0 && strcmp(k->name, want->name) == 0)
		want->role = k->role;
	return 0;
}

int
cmd_key(struct admin *a, int argc, char **argv)
{
	struct keys_db *k = NULL;
	struct keys_limits_change change;
	struct key_listing listing;
	struct { const char *name; enum keys_role role; } found;
	enum keys_role role = KEYS_ROLE_CLIENT;
	char key[KEYS_TEXT_LEN + 1], errbuf[256];
	const char *sub = NULL, *name = NULL, *expires = NULL;
	int64_t term_ms = -1, expires_at = 0;
	enum qp_err err;
	int i, rc = 1, json = 0, admin_role = 0, no_expiry = 0, lim, limits = 0;

	memset(&change, 0, sizeof(change));
	for (i = 1; i < argc; i++) {
		if ((lim = key_limit_opt(argc, argv, &i, &change)) < 0)
			return 2;
		if (lim > 0) {
			limits = 1;
			continue;
		}
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			key_help();
			return 0;
		} else if (strcmp(argv[i], "--admin") == 0)
			admin_role |= 1;
		else if (strcmp(argv[i], "--worker") == 0)
			admin_role |= 2;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--no-expiry") == 0)
			no_expiry = 1;
		else if (strcmp(argv[i], "--expires") == 0 && i + 1 < argc)
			expires = argv[++i];
		else if (strncmp(argv[i], "--expires=", 10) == 0)
			expires = argv[i] + 10;
		else if (argv[i][0] == '-')
			return key_usage();
		else if (sub == NULL)
			sub = argv[i];
		else if (name == NULL)
			name = argv[i];
		else
			return key_usage();
	}
	if (sub == NULL)
		return key_usage();
	if (expires != NULL && admin_parse_duration(expires, &term_ms) != 0) {
		admin_err("--expires: a number of days or hours with its unit, 1h to 36500d "
		    "(e.g. 30d or 12h), not '%s'", expires);
		return 2;
	}
	/* Each subcommand takes only its own options. */
	if (strcmp(sub, "new") == 0) {
		if (name == NULL || json || no_expiry)
			return key_usage();
		if (!keys_name_valid(name)) {
			admin_err("invalid key name: use 1-%d letters, digits, '_', '.' or '-'",
			    KEYS_NAME_MAX);
			return 2;
		}
		/* A worker key calls /worker/v1/... only: no data-plane limits apply to it. */
		if (admin_role == 3 || (admin_role == 2 && limits))
			return key_usage();
		role = admin_role == 1 ? KEYS_ROLE_ADMIN : admin_role == 2 ? KEYS_ROLE_WORKER :
		    KEYS_ROLE_CLIENT;
	} else if (strcmp(sub, "set") == 0) {
		if (name == NULL || !limits || admin_role || json || expires != NULL || no_expiry)
			return key_usage();
	} else if (strcmp(sub, "list") == 0) {
		if (name != NULL || admin_role || expires != NULL || no_expiry || limits)
			return key_usage();
	} else if (strcmp(sub, "revoke") == 0) {
		if (name == NULL || admin_role || json || expires != NULL || no_expiry || limits)
			return key_usage();
	} else if (strcmp(sub, "rotate") == 0) {
		if (name == NULL || admin_role || json || (expires != NULL && no_expiry) || limits)
			return key_usage();
		if (no_expiry)
			term_ms = 0;
	} else {
		admin_err("unknown key command '%s' (new, set, list, revoke, rotate)", sub);
		return 2;
	}

	if (admin_open_migrated_db(a) != 0)
		return 1;
	if ((k = keys_db_new(a->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		admin_err("%s", errbuf);
		return 1;
	}
	key[0] = '\0';
	if (strcmp(sub, "new") == 0) {
		expires_at = expires != NULL ? db_now_ms() + term_ms : 0;
		/* The key and its limits come into being together. */
		if ((err = db_begin_write(a->db)) == QP_OK) {
			err = keys_create(k, name, role, expires_at, key);
			if (err == QP_OK && limits)
				err = keys_set_limits(k, name, &change);
			if (err == QP_OK)
				err = db_commit(a->db);
			else
				db_rollback(a->db);
			if (err != QP_OK)
				crypto_wipe(key, sizeof(key));
		}
		if (err == QP_EEXIST)
			admin_err("a key named '%s' already exists (revoked keys keep their name; "
			    "key rotate gives it a new secret)", name);
		else if (err != QP_OK)
			admin_err("cannot create key: %s", qp_strerror(err));
		else {
			key_show(key, "created", name, role, expires_at);
			rc = 0;
		}
	} else if (strcmp(sub, "list") == 0) {
		listing.now = db_now_ms();
		listing.json = json ? cJSON_CreateArray() : NULL;
		if (!json)
			printf("%-24s %-12s %-7s %-17s %-17s %-27s %-17s %s\n", "NAME", "PREFIX",
			    "ROLE", "CREATED (UTC)", "LAST USED", "EXPIRES", "REVOKED", "LIMITS");
		if (json && listing.json == NULL)
			admin_err("out of memory");
		else if (keys_list(k, key_print, &listing) != QP_OK) {
			admin_err("cannot list keys: %s", sqlite3_errmsg(a->db));
			cJSON_Delete(listing.json);
		} else
			rc = json ? admin_print_json(listing.json) : 0;
	} else if (strcmp(sub, "set") == 0) {
		err = keys_set_limits(k, name, &change);
		if (err == QP_ENOTFOUND)
			admin_err("no valid key named '%s'", name);
		else if (err != QP_OK)
			admin_err("cannot set the key's limits: %s", err == QP_EDB ?
			    sqlite3_errmsg(a->db) : qp_strerror(err));
		else {
			printf("key '%s': limits changed\n", name);
			rc = 0;
		}
	} else if (strcmp(sub, "revoke") == 0) {
		err = keys_revoke(k, name);
		if (err == QP_ENOTFOUND)
			admin_err("no valid key named '%s'", name);
		else if (err != QP_OK)
			admin_err("cannot revoke key: %s", qp_strerror(err));
		else {
			printf("key '%s' revoked\n", name);
			rc = 0;
		}
	} else {
		err = keys_rotate(k, name, term_ms, key, &expires_at);
		if (err == QP_ENOTFOUND)
			admin_err("no valid key named '%s' (a revoked key cannot be rotated: issue "
			    "a new one)", name);
		else if (err == QP_EINVAL)
			admin_err("key '%s' has no term to keep (its expiry is not after its "
			    "creation): give --expires DURATION or --no-expiry", name);
		else if (err != QP_OK)
			admin_err("cannot rotate key: %s", err == QP_EDB ? sqlite3_errmsg(a->db) :
			    qp_strerror(err));
		else {
			found.name = name;
			found.role = KEYS_ROLE_CLIENT;
			(void)keys_list(k, key_role_of, &found);
			key_show(key, "rotated (the old secret is refused from now on)", name,
			    found.role, expires_at);
			rc = 0;
		}
	}
	crypto_wipe(key, sizeof(key));
	keys_db_free(k);
	return rc;
}
