/*
 * bench_accounting.c: how many full request lifecycles per second the
 * accounting transactions sustain on a file database (WAL,
 * synchronous=NORMAL). Each lifecycle is what a worker does for one
 * request served by one attempt: attempt start (request, attempt,
 * reservation and decision rows) and attempt end (attempt closed,
 * reservation released, backoff cleared, request finalized, dashboard
 * rollups through accounting's final hook, as the server installs it).
 * Prints the rate without and with account selection, of
 * selection alone, with 1 and with T threads (one connection each), by
 * wall clock and per CPU second used (the latter is steadier on a busy
 * machine).
 * Usage: bench_accounting [REQUESTS_PER_THREAD [THREADS [DIR]]]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accounting.h"
#include "config.h"
#include "db.h"
#include "migrate.h"
#include "select.h"
#include "stats.h"

#define BENCH_ACCOUNTS	8

static char *bench_models[] = { "bench-model" };
static struct config_account bench_accts[BENCH_ACCOUNTS];
static char bench_names[BENCH_ACCOUNTS][16];
static struct config_provider bench_prov;
static struct config bench_cfg;

/* One thread's run. */
struct bench_run {
	const char	*path;		/* database file */
	int		 n;		/* lifecycles to run */
	int		 with_select;	/* 1: choose the account each time, 2: only choose */
	int		 failed;	/* lifecycles that failed */
	double		 cpu;		/* CPU seconds the thread used */
	char		 err[256];	/* first failure */
};

static double
bench_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
bench_now(void)
{

	return bench_clock(CLOCK_MONOTONIC);
}

static void
bench_config(void)
{
	int i;

	for (i = 0; i < BENCH_ACCOUNTS; i++) {
		snprintf(bench_names[i], sizeof(bench_names[i]), "acct%d", i);
		memset(&bench_accts[i], 0, sizeof(bench_accts[i]));
		bench_accts[i].name = bench_names[i];
		bench_accts[i].api_key = "k";
		bench_accts[i].weight = 1;
		bench_accts[i].enabled = 1;
		bench_accts[i].quota[CONFIG_WINDOW_5H].requests = 2500;
		bench_accts[i].quota[CONFIG_WINDOW_WEEK].tokens = 7000000000LL;
	}
	bench_prov.id = "bench";
	bench_prov.base_url = "http://127.0.0.1:1";
	bench_prov.protocols = CONFIG_PROTO_OPENAI;
	bench_prov.enabled = 1;
	bench_prov.models = bench_models;
	bench_prov.nmodels = 1;
	bench_prov.accounts = bench_accts;
	bench_prov.naccounts = BENCH_ACCOUNTS;
	bench_cfg.providers = &bench_prov;
	bench_cfg.nproviders = 1;
	bench_cfg.routing.backoff_base_s = 5;
	bench_cfg.routing.backoff_max_s = 1800;
	bench_cfg.routing.quota_backoff_s = 3600;
	bench_cfg.routing.transient_backoff_s = 10;
	bench_cfg.routing.circuit_failures = 5;
	bench_cfg.routing.circuit_open_s = 300;
	bench_cfg.routing.auth_quarantine_s = 1800;
}

static void *
bench_thread(void *arg)
{
	struct bench_run *r = arg;
	struct db_opts o = { 10000, "NORMAL", 0, 0 };
	struct accounting_db *acc = NULL;
	struct stats_rollup *ru = NULL;
	struct select_db *sel = NULL;
	struct accounting_request req;
	struct accounting_attempt att;
	struct accounting_final fin;
	struct failover_verdict v;
	struct failover_input in;
	struct select_result res;
	struct select_query q;
	sqlite3 *db = NULL;
	enum qp_err err;
	int64_t now;
	double cpu0 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
	int i;

	if ((db = db_open(r->path, &o, &err, r->err, sizeof(r->err))) == NULL ||
	    (acc = accounting_new(db, &err, r->err, sizeof(r->err))) == NULL ||
	    (ru = stats_rollup_new(db, &err, r->err, sizeof(r->err))) == NULL ||
	    (sel = select_new(db, &bench_cfg, &err, r->err, sizeof(r->err))) == NULL) {
		r->failed = r->n;
		goto out;
	}
	accounting_set_final_hook(acc, stats_rollup_hook, ru);
	memset(&in, 0, sizeof(in));
	in.status = 200;
	failover_classify(&in, &v);
	memset(&res, 0, sizeof(res));
	res.status = SELECT_OK;
	res.provider = &bench_prov;
	res.tier = 0;
	res.candidates = res.eligible = BENCH_ACCOUNTS;
	res.model = "bench-model";
	res.detail_json = "{}";
	res.detail_len = 2;
	for (i = 0; i < r->n; i++) {
		now = db_now_ms();
		if (accounting_request_init(&req, 0, now) != QP_OK)
			goto fail;
		req.protocol = CONFIG_PROTO_OPENAI;
		req.endpoint = "/v1/chat/completions";
		req.model = "bench-model";
		req.model_base = "bench-model";
		req.streamed = 1;
		req.client_ip = "127.0.0.1";
		req.bytes_in = 2048;
		req.est_tokens = 1000;
		if (r->with_select) {
			memset(&q, 0, sizeof(q));
			q.model = "bench-model";
			q.provider = NULL;
			q.protocol = CONFIG_PROTO_OPENAI;
			q.tried = NULL;
			q.ntried = 0;
			q.now = now;
			if (select_choose(sel, &q, &res) != QP_OK || res.status != SELECT_OK)
				goto fail;
			if (r->with_select == 2)
				continue;
		} else {
			res.account = &bench_accts[i % BENCH_ACCOUNTS];
			res.decided_at = now;
		}
		if ((err = accounting_attempt_start(acc, &req, &res, now)) != QP_OK)
			goto fail;
		memset(&att, 0, sizeof(att));
		att.ended_at = now + 1;
		att.connect_ms = att.first_byte_ms = -1;
		att.bytes_sent = 2048;
		att.bytes_received = 8192;
		accounting_final_init(&fin, ACCOUNTING_COMPLETED, 200, now + 1);
		fin.input_tokens = 500;
		fin.output_tokens = 200;
		fin.cost_microdollars = 1500;
		fin.cost_exactness = "derived";
		fin.bytes_out = 8192;
		fin.ttft_ms = 1;
		if ((err = accounting_attempt_end(acc, &req, &att, &v, &bench_cfg.routing, &fin)) !=
		    QP_OK)
			goto fail;
		continue;
fail:
		if (r->failed++ == 0)
			snprintf(r->err, sizeof(r->err), "lifecycle %d: %s (%s)", i,
			    qp_strerror(err), sqlite3_errmsg(db));
	}
out:
	select_free(sel);
	stats_rollup_free(ru);
	accounting_free(acc);
	db_close(db);
	r->cpu = bench_clock(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	return NULL;
}

/* Runs threads x n lifecycles and prints the rate. */
static int
bench_measure(const char *path, int n, int threads, int with_select)
{
	struct bench_run runs[64];
	pthread_t tid[64];
	double t0, t1, cpu = 0;
	int i, failed = 0;

	for (i = 0; i < threads; i++) {
		memset(&runs[i], 0, sizeof(runs[i]));
		runs[i].path = path;
		runs[i].n = n;
		runs[i].with_select = with_select;
	}
	t0 = bench_now();
	for (i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, bench_thread, &runs[i]) != 0) {
			fprintf(stderr, "cannot start thread\n");
			return 1;
		}
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	t1 = bench_now();
	for (i = 0; i < threads; i++) {
		failed += runs[i].failed;
		cpu += runs[i].cpu;
		if (runs[i].failed)
			fprintf(stderr, "thread %d: %s\n", i, runs[i].err);
	}
	printf("%-22s threads=%-2d n=%-7d %7.0f /s wall (%6.1f us each), %7.0f /s of CPU "
	    "(%6.1f us CPU each)%s\n",
	    with_select == 2 ? "select only (reads)" : with_select ? "select + start + end" :
	    "start + end", threads, n * threads,
	    (double)(n * threads - failed) / (t1 - t0), (t1 - t0) * 1e6 / (double)(n * threads),
	    (double)(n * threads) / cpu, cpu * 1e6 / (double)(n * threads),
	    failed ? "  FAILURES" : "");
	return failed ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct migrate_set set = { NULL, 0 };
	struct db_opts o = { 10000, "NORMAL", 0, 0 };
	char dir[512], tmpl[] = "/tmp/qp-bench-accounting-XXXXXX", path[600], errbuf[512];
	char side[620];
	const char *base;
	sqlite3 *db;
	enum qp_err err;
	int n = 20000, threads = 2, applied, rc = 0;
	long v;
	char *end;

	if (argc > 1) {
		v = strtol(argv[1], &end, 10);
		if (*end != '\0' || v < 1 || v > 10000000) {
			fprintf(stderr, "usage: bench_accounting [REQUESTS [THREADS [DIR]]]\n");
			return 2;
		}
		n = (int)v;
	}
	if (argc > 2) {
		v = strtol(argv[2], &end, 10);
		if (*end != '\0' || v < 1 || v > 64) {
			fprintf(stderr, "THREADS must be 1-64\n");
			return 2;
		}
		threads = (int)v;
	}
	if (argc > 3)
		base = argv[3];
	else if ((base = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/bench.db", base);
	snprintf(dir, sizeof(dir), "%s/schema", QP_SRCDIR);
	if ((db = db_open(path, &o, &err, errbuf, sizeof(errbuf))) == NULL ||
	    migrate_load(dir, &set, errbuf, sizeof(errbuf)) != QP_OK ||
	    migrate_apply(db, &set, &applied, errbuf, sizeof(errbuf)) != QP_OK) {
		fprintf(stderr, "cannot set up %s: %s\n", path, errbuf);
		return 1;
	}
	migrate_set_free(&set);
	bench_config();
	printf("database %s (WAL, synchronous=NORMAL), %d accounts, sqlite %s\n", path,
	    BENCH_ACCOUNTS, sqlite3_libversion());
	rc |= bench_measure(path, n, 1, 0);
	rc |= bench_measure(path, n, 1, 1);
	rc |= bench_measure(path, n, 1, 2);
	if (threads > 1) {
		rc |= bench_measure(path, n, threads, 0);
		rc |= bench_measure(path, n, threads, 1);
	}
	db_close(db);
	if (argc <= 3) {
		unlink(path);
		snprintf(side, sizeof(side), "%s-wal", path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", path);
		unlink(side);
		rmdir(base);
	}
	return rc;
}
