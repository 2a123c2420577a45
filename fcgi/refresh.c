/* refresh.c: access tokens that refresh: the per-process cache, the store in SQLite, and the refresh run once under a lease. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "crypto.h"
#include "db.h"
#include "log.h"
#include "maint.h"
#include "refresh.h"
#include "refresh_wire.h"

/* Bytes of the AES-256-GCM nonce and tag around a stored token. */
#define REFRESH_NONCE_LEN	12
#define REFRESH_TAG_LEN		16
/* Longest lease name ("refresh:" + an account name). */
#define REFRESH_LEASE_MAX	96

/* One account's token as this process knows it. */
struct refresh_entry {
	struct refresh_entry	*next;		/* the next account */
	char			*name;		/* account name, owned */
	pthread_mutex_t		 mu;		/* one refresh of this account at a time here */
	int			 loaded;	/* 1 once the stored row was read */
	char			*token;		/* the token (secret), NULL = none known */
	int64_t			 expires_at;	/* ms, 0 = not said */
	int64_t			 version;	/* stored version, 0 = the configured key */
};

struct refresh {
	pthread_mutex_t		 lock;		/* guards the list */
	struct refresh_entry	*head;		/* every account asked for so far */
};

/* The stored row of an account, decrypted; the tokens are secrets. */
struct refresh_row {
	int		 found;		/* 1 if the row exists */
	char		*token;		/* access token, NULL = none or it did not open */
	int64_t		 expires_at;	/* 0 = not said */
	char		*rt;		/* rotated refresh token, NULL = none */
	int64_t		 version;	/* row version */
	int64_t		 last_attempt_at; /* 0 = never */
	char		 last_result[REFRESH_WHY_MAX + 1]; /* "" = never */
};

enum refresh_stmt {
	REFRESH_STMT_READ,	/* the row of an account */
	REFRESH_STMT_OK,	/* a successful refresh stored */
	REFRESH_STMT_FAIL,	/* a failed refresh noted */
	REFRESH_STMT__MAX
};

/* Prepared per use: refreshes are rare, and they run on whatever connection the batch lends. */
static const char *const refresh_sql[REFRESH_STMT__MAX] = {
	[REFRESH_STMT_READ] = "SELECT access_token, expires_at, refresh_token, version, "
	    "last_attempt_at, last_result FROM account_tokens WHERE account_name = ?1",
	[REFRESH_STMT_OK] = "INSERT INTO account_tokens (account_name, access_token, expires_at, "
	    "refresh_token, version, refreshed_at, refreshes, failures, last_attempt_at, "
	    "last_result, updated_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, 1, 0, ?5, 'ok', ?5) "
	    "ON CONFLICT (account_name) DO UPDATE SET access_token = excluded.access_token, "
	    "expires_at = excluded.expires_at, refresh_token = COALESCE(excluded.refresh_token, "
	    "account_tokens.refresh_token), version = account_tokens.version + 1, "
	    "refreshed_at = ?5, refreshes = account_tokens.refreshes + 1, failures = 0, "
	    "last_attempt_at = ?5, last_result = 'ok', updated_at = ?5",
	[REFRESH_STMT_FAIL] = "INSERT INTO account_tokens (account_name, version, failures, "
	    "last_attempt_at, last_result, updated_at) VALUES (?1, 0, 1, ?2, ?3, ?2) "
	    "ON CONFLICT (account_name) DO UPDATE SET failures = account_tokens.failures + 1, "
	    "last_attempt_at = ?2, last_result = ?3, updated_at = ?2",
};

struct refresh *
refresh_new(void)
{
	struct refresh *rf;

	if ((rf = calloc(1, sizeof(*rf))) == NULL)
		return NULL;
	if (pthread_mutex_init(&rf->lock, NULL) != 0) {
		free(rf);
		return NULL;
	}
	return rf;
}

void
refresh_free(struct refresh *rf)
{
	struct refresh_entry *e, *next;

	if (rf == NULL)
		return;
	for (e = rf->head; e != NULL; e = next) {
		next = e->next;
		crypto_free_secret(e->token);
		free(e->name);
		pthread_mutex_destroy(&e->mu);
		free(e);
	}
	pthread_mutex_destroy(&rf->lock);
	free(rf);
}

/* The entry of account name, made on first use; NULL when out of memory. */
static struct refresh_entry *
refresh_entry(struct refresh *rf, const char *name)
{
	struct refresh_entry *e;

	pthread_mutex_lock(&rf->lock);
	for (e = rf->head; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			goto out;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		goto out;
	if ((e->name = strdup(name)) == NULL || pthread_mutex_init(&e->mu, NULL) != 0) {
		free(e->name);
		free(e);
		e = NULL;
		goto out;
	}
	e->next = rf->head;
	rf->head = e;
out:
	pthread_mutex_unlock(&rf->lock);
	return e;
}

static void
refresh_row_free(struct refresh_row *r)
{

	crypto_free_secret(r->token);
	crypto_free_secret(r->rt);
	memset(r, 0, sizeof(*r));
}

/* ---- sealing ------------------------------------------------------------ */

/* The key of account a: SHA-256 over a label, its name and its refresh body. */
static enum qp_err
refresh_key(const struct config_account *a, unsigned char key[CRYPTO_SHA256_LEN])
{
	static const char label[] = "quotapool account token 1";
	size_t nl = strlen(a->name), bl = strlen(a->refresh.body), len;
	enum qp_err err;
	char *buf;

	len = sizeof(label) + nl + 1 + bl;
	if ((buf = malloc(len)) == NULL)
		return QP_ENOMEM;
	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), a->name, nl + 1);
	memcpy(buf + sizeof(label) + nl + 1, a->refresh.body, bl);
	err = crypto_sha256(buf, len, key);
	crypto_free_wiped(buf, len);
	return err;
}

/* Encrypts secret s for account a into *out (heap, *outlen bytes): nonce || ct || tag. */
static enum qp_err
refresh_seal(const struct config_account *a, const char *s, unsigned char **out,
    size_t *outlen)
{
	unsigned char key[CRYPTO_SHA256_LEN], *buf = NULL;
	size_t len = strlen(s), n;
	EVP_CIPHER_CTX *ctx = NULL;
	enum qp_err err;
	int l1 = 0, l2 = 0;

	*out = NULL;
	if ((err = refresh_key(a, key)) != QP_OK)
		goto out;
	n = REFRESH_NONCE_LEN + len + REFRESH_TAG_LEN;
	err = QP_ENOMEM;
	if ((buf = malloc(n)) == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if ((err = crypto_random(buf, REFRESH_NONCE_LEN)) != QP_OK)
		goto out;
	err = QP_ECRYPTO;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, buf) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &l1, (const unsigned char *)a->name,
	    (int)strlen(a->name)) != 1 ||
	    EVP_EncryptUpdate(ctx, buf + REFRESH_NONCE_LEN, &l1, (const unsigned char *)s,
	    (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, buf + REFRESH_NONCE_LEN + l1, &l2) != 1 ||
	    (size_t)(l1 + l2) != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, REFRESH_TAG_LEN,
	    buf + REFRESH_NONCE_LEN + len) != 1)
		goto out;
	*out = buf;
	*outlen = n;
	buf = NULL;
	err = QP_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(buf);
	crypto_wipe(key, sizeof(key));
	return err;
}

/* Decrypts what refresh_seal() made; NULL if it does not open (another key, altered). */
static char *
refresh_open(const struct config_account *a, const unsigned char *in, size_t n)
{
	unsigned char key[CRYPTO_SHA256_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	char *s = NULL;
	size_t len;
	int l1 = 0, l2 = 0, ok = 0;

	if (in == NULL || n <= REFRESH_NONCE_LEN + REFRESH_TAG_LEN ||
	    n - REFRESH_NONCE_LEN - REFRESH_TAG_LEN > REFRESH_TOKEN_MAX)
		return NULL;
	len = n - REFRESH_NONCE_LEN - REFRESH_TAG_LEN;
	if (refresh_key(a, key) != QP_OK || (s = malloc(len + 1)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, in) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &l1, (const unsigned char *)a->name,
	    (int)strlen(a->name)) != 1 ||
	    EVP_DecryptUpdate(ctx, (unsigned char *)s, &l1, in + REFRESH_NONCE_LEN,
	    (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, REFRESH_TAG_LEN,
	    (void *)(in + REFRESH_NONCE_LEN + len)) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (unsigned char *)s + l1, &l2) != 1 ||
	    (size_t)(l1 + l2) != len)
		goto out;
	s[len] = '\0';
	ok = strlen(s) == len;
out:
	EVP_CIPHER_CTX_free(ctx);
	crypto_wipe(key, sizeof(key));
	if (!ok && s != NULL) {
		crypto_free_wiped(s, len + 1);
		s = NULL;
	}
	return s;
}

/* ---- the database ------------------------------------------------------- */

/* What one batch job of a refresh does and finds. */
struct refresh_job {
	const struct config_account *a;	/* the account */
	int64_t		 process_id;	/* the lease holder */
	int64_t		 now;		/* wall ms */
	int64_t		 lease_ms;	/* lease lifetime */
	int		 take;		/* 1: take the lease unless the row is usable */
	int64_t		 stale;		/* as refresh_token()'s */
	int64_t		 skew_ms;	/* as the account's */
	struct refresh_row row;		/* out: the row read */
	int		 usable;	/* out: the row's token will do */
	int		 held;		/* out: the lease is ours */
	/* storing: */
	const unsigned char *tok_blob;	/* sealed access token, NULL = a failure */
	size_t		 tok_len;
	const unsigned char *rt_blob;	/* sealed rotated refresh token, NULL = none */
	size_t		 rt_len;
	int64_t		 expires_at;	/* 0 = not said */
	const char	*why;		/* a failure's reason */
};

/* Copies a BLOB column into a decrypted secret. */
static char *
refresh_col_open(sqlite3_stmt *st, int col, const struct config_account *a)
{

	if (sqlite3_column_type(st, col) != SQLITE_BLOB)
		return NULL;
	return refresh_open(a, sqlite3_column_blob(st, col), (size_t)sqlite3_column_bytes(st, col));
}

/* 1 if a token of version, expiring at expires_at, will do for stale at now. */
static int
refresh_usable(const char *token, int64_t version, int64_t expires_at, int64_t stale,
    int64_t skew_ms, int64_t now)
{

	if (token == NULL)
		return 0;
	if (stale >= 0 && version <= stale)
		return 0;
	return expires_at == 0 || now < expires_at - skew_ms;
}

/* Reads the row of j->a into j->row. */
static enum qp_err
refresh_read(sqlite3 *db, struct refresh_job *j)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	enum qp_err err = QP_EDB;
	int rc;

	refresh_row_free(&j->row);
	if (sqlite3_prepare_v2(db, refresh_sql[REFRESH_STMT_READ], -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, j->a->name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		j->row.found = 1;
		j->row.token = refresh_col_open(st, 0, j->a);
		j->row.expires_at = sqlite3_column_int64(st, 1);
		j->row.rt = refresh_col_open(st, 2, j->a);
		j->row.version = sqlite3_column_int64(st, 3);
		j->row.last_attempt_at = sqlite3_column_int64(st, 4);
		if ((t = sqlite3_column_text(st, 5)) != NULL)
			snprintf(j->row.last_result, sizeof(j->row.last_result), "%s", t);
	} else if (rc != SQLITE_DONE)
		goto out;
	err = QP_OK;
out:
	sqlite3_finalize(st);
	return err;
}

/* Takes (or gives up) the account's lease with maint's lease code. */
static enum qp_err
refresh_lease(sqlite3 *db, struct refresh_job *j, int take)
{
	char name[REFRESH_LEASE_MAX], errbuf[128];
	struct maint_db *md;
	enum qp_err err;

	snprintf(name, sizeof(name), "refresh:%s", j->a->name);
	if ((md = maint_db_new(db, &err, errbuf, sizeof(errbuf))) == NULL)
		return err;
	if (take)
		err = maint_lease_acquire(md, name, j->process_id, j->now, j->lease_ms, &j->held);
	else
		err = maint_lease_release(md, name, j->process_id);
	maint_db_free(md);
	return err;
}

enum qp_err
refresh_stored(sqlite3 *db, const struct config_account *a, int64_t now, char **token)
{
	struct refresh_job j;
	enum qp_err err;

	*token = NULL;
	if (a->refresh.url == NULL || a->refresh.body == NULL)
		return QP_OK;
	memset(&j, 0, sizeof(j));
	j.a = a;
	if ((err = refresh_read(db, &j)) == QP_OK && j.row.token != NULL &&
	    (j.row.expires_at == 0 || now < j.row.expires_at)) {
		*token = j.row.token;
		j.row.token = NULL;
	}
	refresh_row_free(&j.row);
	return err;
}

/* Batch job: reads the row; takes the lease when asked and the row will not do. */
static enum qp_err
refresh_job_look(sqlite3 *db, void *arg)
{
	struct refresh_job *j = arg;
	enum qp_err err;

	j->held = 0;
	if ((err = refresh_read(db, j)) != QP_OK)
		return err;
	j->usable = refresh_usable(j->row.token, j->row.version, j->row.expires_at, j->stale,
	    j->skew_ms, j->now);
	if (j->usable || !j->take)
		return QP_OK;
	return refresh_lease(db, j, 1);
}

/* Batch job: stores the outcome of the refresh and gives the lease up. */
static enum qp_err
refresh_job_store(sqlite3 *db, void *arg)
{
	struct refresh_job *j = arg;
	sqlite3_stmt *st = NULL;
	enum qp_err err = QP_EDB;
	int ok = j->tok_blob != NULL;

	if (sqlite3_prepare_v2(db, refresh_sql[ok ? REFRESH_STMT_OK : REFRESH_STMT_FAIL], -1,
	    &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, j->a->name, -1, SQLITE_STATIC);
	if (ok) {
		sqlite3_bind_blob(st, 2, j->tok_blob, (int)j->tok_len, SQLITE_STATIC);
		if (j->expires_at > 0)
			sqlite3_bind_int64(st, 3, j->expires_at);
		if (j->rt_blob != NULL)
			sqlite3_bind_blob(st, 4, j->rt_blob, (int)j->rt_len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, j->now);
	} else {
		sqlite3_bind_int64(st, 2, j->now);
		sqlite3_bind_text(st, 3, j->why, -1, SQLITE_STATIC);
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	err = QP_OK;
out:
	sqlite3_finalize(st);
	if (err == QP_OK)
		err = refresh_lease(db, j, 0);
	return err;
}

/* ---- the request -------------------------------------------------------- */

/* The answer being read, bounded. */
struct refresh_answer_buf {
	char	*p;		/* bytes, owned */
	size_t	 len;		/* bytes kept */
	int	 over;		/* 1 once past REFRESH_ANSWER_MAX */
};

static size_t
refresh_on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct refresh_answer_buf *b = arg;
	size_t len = size * n;
	char *np;

	if (b->len + len > REFRESH_ANSWER_MAX) {
		b->over = 1;
		return 0;
	}
	/* The answer holds tokens: grown by copy, the old bytes wiped. */
	if ((np = malloc(b->len + len + 1)) == NULL)
		return 0;
	if (b->p != NULL) {
		memcpy(np, b->p, b->len);
		crypto_free_wiped(b->p, b->len + 1);
	}
	b->p = np;
	memcpy(b->p + b->len, buf, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

#define REFRESH_SET(cc, e, opt, val) do {				\
	if ((cc) == CURLE_OK)						\
		(cc) = curl_easy_setopt((e), (opt), (val));		\
} while (0)

/*
 * Sends the refresh request of a (the body, with rt in it when one was
 * rotated) and reads the answer into *ans. Returns REFRESH_WIRE_OK, or
 * fills why.
 */
static int
refresh_request(const struct config_provider *p, const struct config_account *a,
    const char *rt, struct refresh_wire_answer *ans, char *why, size_t whylen)
{
	const struct config_refresh *c = &a->refresh;
	struct refresh_answer_buf b = { NULL, 0, 0 };
	struct curl_slist *hdrs = NULL, *h;
	enum refresh_wire_result res;
	char *body = NULL, ctype[80];
	size_t blen = 0;
	CURLcode cc = CURLE_OK;
	CURL *e = NULL;
	long status = 0;
	int ok = 0;

	if (refresh_wire_body(c->body, strlen(c->body), (enum refresh_wire_type)c->form,
	    c->refresh_token_field, rt, &body, &blen) != QP_OK) {
		snprintf(why, whylen, "body_unusable");
		goto out;
	}
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", c->form == REFRESH_WIRE_FORM ?
	    "application/x-www-form-urlencoded" : "application/json");
	if ((e = curl_easy_init()) == NULL || (h = curl_slist_append(NULL, ctype)) == NULL) {
		snprintf(why, whylen, "out_of_memory");
		goto out;
	}
	hdrs = h;
	if ((h = curl_slist_append(hdrs, "Accept: application/json")) == NULL ||
	    (hdrs = h, h = curl_slist_append(hdrs, "Expect:")) == NULL) {
		snprintf(why, whylen, "out_of_memory");
		goto out;
	}
	hdrs = h;
	REFRESH_SET(cc, e, CURLOPT_NOSIGNAL, 1L);
	REFRESH_SET(cc, e, CURLOPT_VERBOSE, 0L);
	REFRESH_SET(cc, e, CURLOPT_URL, c->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	REFRESH_SET(cc, e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	REFRESH_SET(cc, e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	REFRESH_SET(cc, e, CURLOPT_FOLLOWLOCATION, 0L);
	REFRESH_SET(cc, e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	REFRESH_SET(cc, e, CURLOPT_PROXY, a->proxy_url != NULL ? a->proxy_url : "");
	REFRESH_SET(cc, e, CURLOPT_NOPROXY, "");
	if (p->ca_file != NULL)
		REFRESH_SET(cc, e, CURLOPT_CAINFO, p->ca_file);
	REFRESH_SET(cc, e, CURLOPT_USERAGENT, "quotapool/" QP_VERSION);
	REFRESH_SET(cc, e, CURLOPT_HTTPHEADER, hdrs);
	REFRESH_SET(cc, e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	REFRESH_SET(cc, e, CURLOPT_POSTFIELDS, body);
	if (c->method == CONFIG_REFRESH_PUT)
		REFRESH_SET(cc, e, CURLOPT_CUSTOMREQUEST, "PUT");
	REFRESH_SET(cc, e, CURLOPT_WRITEFUNCTION, refresh_on_body);
	REFRESH_SET(cc, e, CURLOPT_WRITEDATA, &b);
	if (cc != CURLE_OK) {
		snprintf(why, whylen, "curl_setup");
		goto out;
	}
	if ((cc = curl_easy_perform(e)) != CURLE_OK) {
		if (b.over)
			snprintf(why, whylen, "answer_too_large");
		else if (cc == CURLE_OPERATION_TIMEDOUT)
			snprintf(why, whylen, "timeout");
		else
			snprintf(why, whylen, "network (curl %d)", (int)cc);
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(why, whylen, "http_%ld", status);
		goto out;
	}
	res = refresh_wire_answer(b.p, b.len, c->token_field, c->expires_field,
	    c->refresh_token_field, ans);
	if (res != REFRESH_WIRE_OK) {
		snprintf(why, whylen, "%s", refresh_wire_result_name(res));
		goto out;
	}
	ok = 1;
out:
	curl_slist_free_all(hdrs);
	if (e != NULL)
		curl_easy_cleanup(e);
	if (body != NULL)
		crypto_free_wiped(body, blen);
	if (b.p != NULL)
		crypto_free_wiped(b.p, b.len + 1);
	return ok;
}

/* Sleeps ms milliseconds. */
static void
refresh_sleep(int64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Makes e hold what r holds (r's token moves to e). */
static void
refresh_adopt(struct refresh_entry *e, struct refresh_row *r)
{

	crypto_free_secret(e->token);
	e->token = r->token;
	r->token = NULL;
	e->expires_at = r->expires_at;
	e->version = r->version;
}

/*
 * Runs the refresh as this process's winner (the lease is ours): the
 * request, then the outcome stored and the lease given up.
 */
static enum qp_err
refresh_win(struct refresh_entry *e, const struct refresh_io *io,
    const struct config_provider *p, struct refresh_job *j, char *why, size_t whylen)
{
	const struct config_account *a = j->a;
	struct refresh_wire_answer ans = { NULL, NULL, -1 };
	unsigned char *tb = NULL, *rb = NULL;
	size_t tl = 0, rl = 0;
	enum qp_err err;
	int64_t t0 = db_mono_us();

	if (!refresh_request(p, a, j->row.rt, &ans, why, whylen)) {
		j->tok_blob = NULL;
		j->why = why;
		j->now = db_now_ms();
		if ((err = io->batch(io->ctx, refresh_job_store, j)) != QP_OK)
			log_msg(LOG_ERROR, "account %s: cannot note the failed refresh: %s", a->name,
			    qp_strerror(err));
		log_msg(LOG_WARNING, "account %s: token refresh failed: %s", a->name, why);
		return QP_EAUTH;
	}
	if ((err = refresh_seal(a, ans.access_token, &tb, &tl)) != QP_OK ||
	    (ans.refresh_token != NULL &&
	    (err = refresh_seal(a, ans.refresh_token, &rb, &rl)) != QP_OK))
		goto out;
	j->now = db_now_ms();
	j->tok_blob = tb;
	j->tok_len = tl;
	j->rt_blob = rb;
	j->rt_len = rl;
	j->expires_at = ans.expires_in_ms >= 0 ? j->now + ans.expires_in_ms : 0;
	if ((err = io->batch(io->ctx, refresh_job_store, j)) != QP_OK) {
		log_msg(LOG_ERROR, "account %s: cannot store the refreshed token: %s", a->name,
		    qp_strerror(err));
		goto out;
	}
	crypto_free_secret(e->token);
	e->token = ans.access_token;
	ans.access_token = NULL;
	e->expires_at = j->expires_at;
	e->version = j->row.found ? j->row.version + 1 : 1;
	log_msg(LOG_INFO, "account %s: token refreshed (version %lld, %s, %lld ms%s)", a->name,
	    (long long)e->version, e->expires_at > 0 ? "expiry given" : "no expiry given",
	    (long long)((db_mono_us() - t0) / 1000), rb != NULL ? ", refresh token rotated" : "");
out:
	free(tb);
	free(rb);
	refresh_wire_answer_free(&ans);
	if (err != QP_OK)
		snprintf(why, whylen, "store_failed");
	return err;
}

/* Gets a token that will do into e, as refresh_token() says. Called with e->mu held. */
static enum qp_err
refresh_run(struct refresh_entry *e, const struct refresh_io *io,
    const struct config_provider *p, const struct config_account *a, int64_t stale,
    char *why, size_t whylen, int *ran)
{
	struct refresh_job j;
	enum qp_err err;
	int64_t started = db_now_ms(), deadline;

	memset(&j, 0, sizeof(j));
	j.a = a;
	j.process_id = io->process_id;
	j.lease_ms = a->refresh.timeout_ms + REFRESH_WAIT_EXTRA_MS;
	j.take = 1;
	j.stale = stale;
	j.skew_ms = a->refresh.skew_ms;
	deadline = db_mono_us() / 1000 + a->refresh.timeout_ms + REFRESH_WAIT_EXTRA_MS;
	for (;;) {
		j.now = db_now_ms();
		if ((err = io->batch(io->ctx, refresh_job_look, &j)) != QP_OK) {
			snprintf(why, whylen, "database");
			goto out;
		}
		if (j.usable) {
			refresh_adopt(e, &j.row);
			goto out;
		}
		if (j.held) {
			*ran = 1;
			err = refresh_win(e, io, p, &j, why, whylen);
			goto out;
		}
		/* Another process runs it: its failure is ours too. */
		if (j.row.last_attempt_at >= started && j.row.last_result[0] != '\0' &&
		    strcmp(j.row.last_result, "ok") != 0) {
			snprintf(why, whylen, "%s", j.row.last_result);
			err = QP_EAUTH;
			goto out;
		}
		if (db_mono_us() / 1000 >= deadline) {
			snprintf(why, whylen, "waited_for_another_process");
			err = QP_ETIMEOUT;
			goto out;
		}
		refresh_sleep(REFRESH_POLL_MS);
	}
out:
	refresh_row_free(&j.row);
	return err;
}

enum qp_err
refresh_token(struct refresh *rf, const struct refresh_io *io, const struct config_provider *p,
    const struct config_account *a, int64_t stale, char **token, int64_t *version, char *why,
    size_t whylen, int *ran)
{
	struct refresh_entry *e;
	struct refresh_job j;
	enum qp_err err = QP_OK;
	int ran_here = 0;

	*token = NULL;
	*version = 0;
	why[0] = '\0';
	if (a->refresh.url == NULL || a->refresh.body == NULL)
		return QP_EINVAL;
	if ((e = refresh_entry(rf, a->name)) == NULL)
		return QP_ENOMEM;
	pthread_mutex_lock(&e->mu);
	if (!e->loaded) {
		/* The stored token wins over the configured one: it is the newer. */
		memset(&j, 0, sizeof(j));
		j.a = a;
		j.stale = -1;
		j.now = db_now_ms();
		if ((err = io->batch(io->ctx, refresh_job_look, &j)) != QP_OK) {
			snprintf(why, whylen, "database");
			goto out;
		}
		if (j.row.token != NULL)
			refresh_adopt(e, &j.row);
		else if (a->api_key != NULL && (e->token = strdup(a->api_key)) == NULL)
			err = QP_ENOMEM;
		refresh_row_free(&j.row);
		if (err != QP_OK)
			goto out;
		e->loaded = 1;
	}
	if (!refresh_usable(e->token, e->version, e->expires_at, stale, a->refresh.skew_ms,
	    db_now_ms()) && (err = refresh_run(e, io, p, a, stale, why, whylen, &ran_here)) != QP_OK)
		goto out;
	if ((*token = strdup(e->token)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	*version = e->version;
out:
	pthread_mutex_unlock(&e->mu);
	if (ran != NULL)
		*ran = ran_here;
	return err;
}
