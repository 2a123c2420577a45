/*
 * test_refresh.c: the token store and its lease, against a token endpoint
 * served by a thread of the test on 127.0.0.1 and a migrated database in a
 * scratch directory: a first refresh, the cached token, a renewal after a
 * refused version carrying the rotated refresh token, another "process"
 * adopting the stored token, two "processes" due at once refreshing once,
 * a failure noted and the lease given back, the stored token read apart
 * and unreadable under another body, and no token in the database files.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../tap.h"
#include "crypto.h"
#include "db.h"
#include "migrate.h"
#include "refresh.h"

/* The token endpoint: one connection at a time, the answer the test set. */
struct endpoint {
	int		 fd;		/* listening socket */
	int		 port;		/* its port */
	pthread_t	 t;		/* the serving thread */
	pthread_mutex_t	 mu;		/* guards the fields below */
	int		 calls;		/* requests answered */
	int		 status;	/* status of the next answers */
	char		 answer[512];	/* their body */
	char		 body[1024];	/* the last request's body */
	int		 delay_ms;	/* wait before answering */
};

static struct endpoint ep;

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void *
endpoint_main(void *arg)
{
	struct endpoint *e = arg;
	char req[4096], out[1024], *hend, *cl;
	size_t n;
	ssize_t r;
	long len;
	int c, delay;

	while ((c = accept(e->fd, NULL, NULL)) >= 0) {
		n = 0;
		len = -1;
		hend = NULL;
		while (n < sizeof(req) - 1) {
			if ((r = read(c, req + n, sizeof(req) - 1 - n)) <= 0)
				break;
			n += (size_t)r;
			req[n] = '\0';
			if (hend == NULL && (hend = strstr(req, "\r\n\r\n")) != NULL) {
				cl = strcasestr(req, "Content-Length:");
				len = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
			}
			if (hend != NULL && (long)(n - (size_t)(hend + 4 - req)) >= len)
				break;
		}
		pthread_mutex_lock(&e->mu);
		e->calls++;
		snprintf(e->body, sizeof(e->body), "%s", hend != NULL ? hend + 4 : "");
		delay = e->delay_ms;
		snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", e->status,
		    strlen(e->answer), e->answer);
		pthread_mutex_unlock(&e->mu);
		sleep_ms(delay);
		/* A client that gave up gets nothing: the write may fail. */
		r = write(c, out, strlen(out));
		(void)r;
		close(c);
	}
	return NULL;
}

static void
endpoint_set(int status, const char *answer, int delay_ms)
{

	pthread_mutex_lock(&ep.mu);
	ep.status = status;
	snprintf(ep.answer, sizeof(ep.answer), "%s", answer);
	ep.delay_ms = delay_ms;
	pthread_mutex_unlock(&ep.mu);
}

static int
endpoint_calls(void)
{
	int n;

	pthread_mutex_lock(&ep.mu);
	n = ep.calls;
	pthread_mutex_unlock(&ep.mu);
	return n;
}

/* The database work of one "process": its own connection, its own lease holder id. */
struct proc {
	sqlite3		*db;
	struct refresh	*rf;
	struct refresh_io io;
};

static enum qp_err
batch(void *ctx, enum qp_err (*job)(sqlite3 *, void *), void *arg)
{
	sqlite3 *db = ctx;
	enum qp_err err;

	if ((err = db_begin_write(db)) != QP_OK)
		return err;
	if ((err = job(db, arg)) != QP_OK) {
		db_rollback(db);
		return err;
	}
	return db_commit(db);
}

static char dbpath[PATH_MAX - 64];

static void
proc_open(struct proc *p, int64_t id)
{
	struct db_opts o;
	enum qp_err err;
	char errbuf[256];

	memset(&o, 0, sizeof(o));
	o.busy_timeout_ms = 5000;
	if ((p->db = db_open(dbpath, &o, &err, errbuf, sizeof(errbuf))) == NULL ||
	    (p->rf = refresh_new()) == NULL) {
		printf("Bail out! cannot open %s: %s\n", dbpath, errbuf);
		exit(1);
	}
	p->io.batch = batch;
	p->io.ctx = p->db;
	p->io.process_id = id;
}

static void
proc_close(struct proc *p)
{

	refresh_free(p->rf);
	db_close(p->db);
}

/* One integer of the first row of sql on db, or -1. */
static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static struct config_provider prov;
static struct config_account account;

/* A "process" asking for the token at once with another. */
struct racer {
	struct proc	*p;
	int64_t		 stale;
	enum qp_err	 err;
	char		*tok;
	int64_t		 ver;
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;
	char why[REFRESH_WHY_MAX + 1];

	r->err = refresh_token(r->p->rf, &r->p->io, &prov, &account, r->stale, &r->tok, &r->ver,
	    why, sizeof(why), NULL);
	return NULL;
}

/* 1 if the file at path (and its -wal) holds the bytes of s. */
static int
file_has(const char *path, const char *s)
{
	char wal[PATH_MAX + 8], *buf;
	const char *paths[2] = { path, wal };
	size_t n, i, sl = strlen(s);
	FILE *f;
	int found = 0, k;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	for (k = 0; k < 2 && !found; k++) {
		if ((f = fopen(paths[k], "rb")) == NULL)
			continue;
		if ((buf = malloc(16 << 20)) != NULL) {
			n = fread(buf, 1, 16 << 20, f);
			for (i = 0; i + sl <= n && !found; i++)
				found = memcmp(buf + i, s, sl) == 0;
			free(buf);
		}
		fclose(f);
	}
	return found;
}

int
main(void)
{
	char tmpl[] = "/tmp/qp-test-refresh-XXXXXX", dir[PATH_MAX + 16], url[128], errbuf[256];
	char why[REFRESH_WHY_MAX + 1], *tok = NULL, body2[256];
	struct migrate_set set = { NULL, 0 };
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct proc p1, p2, p3;
	struct config_account other;
	struct racer ra, rb;
	int ran;
	pthread_t ta, tb;
	sqlite3 *db;
	enum qp_err err;
	int64_t ver = -1;
	int n, on = 1;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (mkdtemp(tmpl) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/q.db", tmpl);
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	proc_open(&p1, 1);
	if (migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(p1.db, &set, &n, errbuf, sizeof(errbuf)) != QP_OK) {
		printf("Bail out! schema: %s\n", errbuf);
		return 1;
	}
	migrate_set_free(&set);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ep.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(ep.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(ep.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ep.fd, 8) != 0 ||
	    getsockname(ep.fd, (struct sockaddr *)&sa, &sl) != 0) {
		printf("Bail out! endpoint socket: %s\n", strerror(errno));
		return 1;
	}
	ep.port = ntohs(sa.sin_port);
	pthread_mutex_init(&ep.mu, NULL);
	pthread_create(&ep.t, NULL, endpoint_main, &ep);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/token", ep.port);
	prov.id = "p";
	account.name = "account";
	account.refresh.url = url;
	account.refresh.body = "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"r0\"}";
	account.refresh.method = CONFIG_REFRESH_POST;
	account.refresh.form = 0;
	account.refresh.token_field = "access_token";
	account.refresh.expires_field = "expires_in";
	account.refresh.refresh_token_field = "refresh_token";
	account.refresh.skew_ms = 60000;
	account.refresh.timeout_ms = 5000;

	/* First: nothing stored, no configured key: a refresh. */
	endpoint_set(200, "{\"access_token\":\"AT-SECRET-one\",\"expires_in\":3600,"
	    "\"refresh_token\":\"RT-SECRET-one\"}", 0);
	err = refresh_token(p1.rf, &p1.io, &prov, &account, -1, &tok, &ver, why, sizeof(why), NULL);
	ok(err == QP_OK && tok != NULL && strcmp(tok, "AT-SECRET-one") == 0 && ver == 1,
	    "first token refreshed (%s, %s)", qp_strerror(err), why);
	is_int(endpoint_calls(), 1, "one call");
	ok(strstr(ep.body, "\"r0\"") != NULL, "with the configured refresh token: %s", ep.body);
	crypto_free_secret(tok);

	/* The cached token: no call. */
	err = refresh_token(p1.rf, &p1.io, &prov, &account, -1, &tok, &ver, why, sizeof(why), NULL);
	ok(err == QP_OK && tok != NULL && strcmp(tok, "AT-SECRET-one") == 0 && ver == 1,
	    "cached token given again");
	is_int(endpoint_calls(), 1, "without a call");
	crypto_free_secret(tok);

	/* Version 1 refused: renewed with the rotated refresh token. */
	endpoint_set(200, "{\"access_token\":\"AT-SECRET-two\",\"expires_in\":3600}", 0);
	ran = -1;
	err = refresh_token(p1.rf, &p1.io, &prov, &account, 1, &tok, &ver, why, sizeof(why), &ran);
	ok(err == QP_OK && tok != NULL && strcmp(tok, "AT-SECRET-two") == 0 && ver == 2,
	    "version 1 refused: version 2");
	is_int(endpoint_calls(), 2, "one more call");
	is_int(ran, 1, "the call says it sent the token request");
	ok(strstr(ep.body, "\"RT-SECRET-one\"") != NULL && strstr(ep.body, "\"r0\"") == NULL,
	    "it carried the rotated refresh token");
	crypto_free_secret(tok);

	/* Another process reads the stored token: no call. */
	proc_open(&p2, 2);
	ran = -1;
	err = refresh_token(p2.rf, &p2.io, &prov, &account, -1, &tok, &ver, why, sizeof(why), &ran);
	ok(err == QP_OK && tok != NULL && strcmp(tok, "AT-SECRET-two") == 0 && ver == 2,
	    "another process adopts the stored token");
	is_int(endpoint_calls(), 2, "without a call");
	is_int(ran, 0, "and says it sent none");
	crypto_free_secret(tok);

	/* Both refused version 2 at once: one refresh, one adopts it. */
	endpoint_set(200, "{\"access_token\":\"AT-SECRET-three\",\"expires_in\":3600,"
	    "\"refresh_token\":\"RT-SECRET-three\"}", 300);
	memset(&ra, 0, sizeof(ra));
	memset(&rb, 0, sizeof(rb));
	ra.p = &p1;
	rb.p = &p2;
	ra.stale = rb.stale = 2;
	pthread_create(&ta, NULL, racer_main, &ra);
	pthread_create(&tb, NULL, racer_main, &rb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	is_int(endpoint_calls(), 3, "two processes due at once: one call");
	ok(ra.err == QP_OK && rb.err == QP_OK && ra.ver == 3 && rb.ver == 3 &&
	    ra.tok != NULL && rb.tok != NULL && strcmp(ra.tok, "AT-SECRET-three") == 0 &&
	    strcmp(rb.tok, "AT-SECRET-three") == 0, "both have version 3");
	crypto_free_secret(ra.tok);
	crypto_free_secret(rb.tok);
	ok(strstr(ep.body, "\"RT-SECRET-one\"") != NULL,
	    "the rotated refresh token kept when an answer has none");
	is_int(query_int(p1.db, "SELECT count(*) FROM leases"), 0, "no lease left behind");

	/* Due by expiry (skew past the lifetime): renewed. */
	endpoint_set(200, "{\"access_token\":\"AT-SECRET-four\",\"expires_in\":30}", 0);
	err = refresh_token(p1.rf, &p1.io, &prov, &account, 3, &tok, &ver, why, sizeof(why), NULL);
	crypto_free_secret(tok);
	n = endpoint_calls();
	err = refresh_token(p1.rf, &p1.io, &prov, &account, -1, &tok, &ver, why, sizeof(why), NULL);
	is_int(endpoint_calls(), n + 1, "a token within skew_s of its expiry is renewed at once");
	crypto_free_secret(tok);

	/* A failure: noted, the lease given back, nothing adopted. */
	endpoint_set(400, "{\"error\":\"invalid_grant\"}", 0);
	err = refresh_token(p1.rf, &p1.io, &prov, &account, ver, &tok, &ver, why, sizeof(why), NULL);
	ok(err == QP_EAUTH && tok == NULL, "a 400 fails the refresh (%s)", qp_strerror(err));
	is_str(why, "http_400", "why");
	is_int(query_int(p1.db, "SELECT failures FROM account_tokens"), 1, "one failure counted");
	is_int(query_int(p1.db, "SELECT count(*) FROM leases"), 0, "the lease given back");
	endpoint_set(200, "{\"token\":\"x\"}", 0);
	err = refresh_token(p1.rf, &p1.io, &prov, &account, 99, &tok, &ver, why, sizeof(why), NULL);
	ok(err == QP_EAUTH && strcmp(why, "no_token") == 0, "an answer without the token field: "
	    "no_token (%s)", why);
	is_int(query_int(p1.db, "SELECT failures FROM account_tokens"), 2, "two failures counted");

	/* Read apart (the catalog), and not under another body. */
	endpoint_set(200, "{\"access_token\":\"AT-SECRET-five\"}", 0);
	err = refresh_token(p1.rf, &p1.io, &prov, &account, 99, &tok, &ver, why, sizeof(why), NULL);
	ok(err == QP_OK && tok != NULL && strcmp(tok, "AT-SECRET-five") == 0,
	    "a success after failures");
	is_int(query_int(p1.db, "SELECT failures FROM account_tokens"), 0, "failures cleared");
	crypto_free_secret(tok);
	db = p2.db;
	err = refresh_stored(db, &account, db_now_ms(), &tok);
	ok(err == QP_OK && tok != NULL && strcmp(tok, "AT-SECRET-five") == 0,
	    "refresh_stored reads the stored token");
	crypto_free_secret(tok);
	other = account;
	snprintf(body2, sizeof(body2), "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"new\"}");
	other.refresh.body = body2;
	err = refresh_stored(db, &other, db_now_ms(), &tok);
	ok(err == QP_OK && tok == NULL, "under another body it does not open");
	proc_open(&p3, 3);
	n = endpoint_calls();
	err = refresh_token(p3.rf, &p3.io, &prov, &other, -1, &tok, &ver, why, sizeof(why), NULL);
	ok(err == QP_OK && tok != NULL && strcmp(tok, "AT-SECRET-five") == 0 &&
	    endpoint_calls() == n + 1 && strstr(ep.body, "\"new\"") != NULL,
	    "so a new body refreshes with itself, not with the stored refresh token");
	crypto_free_secret(tok);

	sqlite3_exec(p1.db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	ok(!file_has(dbpath, "AT-SECRET") && !file_has(dbpath, "RT-SECRET"),
	    "no token in the database files in clear");

	proc_close(&p3);
	proc_close(&p2);
	proc_close(&p1);
	shutdown(ep.fd, SHUT_RDWR);
	close(ep.fd);
	pthread_join(ep.t, NULL);
	unlink(dbpath);
	snprintf(dir, sizeof(dir), "%s-wal", dbpath);
	unlink(dir);
	snprintf(dir, sizeof(dir), "%s-shm", dbpath);
	unlink(dir);
	rmdir(tmpl);
	curl_global_cleanup();
	return done_testing();
}
