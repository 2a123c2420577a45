/* health.c: endpoints for operators' tools: liveness, readiness and Prometheus metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "catalog.h"
#include "authfail.h"
#include "log.h"
#include "metrics.h"

#include "health.h"
#include "workers_view.h"

/* Answers {"status":status[,"reason":reason]}. */
static void
health_reply(struct http_req *r, int code, const char *status, const char *reason)
{
	cJSON *o;

	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "status", status) == NULL ||
	    (reason != NULL && cJSON_AddStringToObject(o, "reason", reason) == NULL)) {
		cJSON_Delete(o);
		http_error(r, 503, "server_error", "out of memory");
		return;
	}
	http_reply_json(r, code, o);
	cJSON_Delete(o);
}

void
health_healthz(struct worker *w, struct http_req *r)
{

	(void)w;
	health_reply(r, 200, "ok", NULL);
}

/*
 * Answers readiness from the catalog: names the providers that serve no
 * model yet; 503 when no provider serves any.
 */
static void
health_catalog(struct worker *w, struct http_req *r)
{
	const struct config *cfg = w->cfg;
	struct catalog_db *c = NULL;
	cJSON *o = NULL, *arr;
	char errbuf[256], reason[512];
	int *missing = NULL, i, n = 0, served = 0, code;
	size_t len;
	enum qp_err err;

	if ((c = catalog_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL ||
	    (missing = calloc(cfg->nproviders > 0 ? (size_t)cfg->nproviders : 1,
	    sizeof(*missing))) == NULL ||
	    (err = catalog_missing(c, cfg, missing, &n)) != QP_OK) {
		health_reply(r, 503, "degraded", "the model catalog cannot be read");
		goto out;
	}
	if (n == 0) {
		health_reply(r, 200, "ok", NULL);
		goto out;
	}
	for (i = 0; i < cfg->nproviders; i++)
		served += catalog_provider_served(&cfg->providers[i]);
	snprintf(reason, sizeof(reason), "no usable model catalog: no models from");
	for (i = 0; i < cfg->nproviders; i++)
		if (missing[i] && (len = strlen(reason)) < sizeof(reason))
			snprintf(reason + len, sizeof(reason) - len, " %s",
			    cfg->providers[i].id);
	/* Other providers serve their models: ready, with the gaps named. */
	code = n < served ? 200 : 503;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "status", code == 200 ? "ok" : "degraded") == NULL ||
	    (code != 200 && cJSON_AddStringToObject(o, "reason", reason) == NULL) ||
	    (arr = cJSON_AddArrayToObject(o, "providers_without_catalog")) == NULL) {
		http_error(r, 503, "server_error", "out of memory");
		goto out;
	}
	for (i = 0; i < cfg->nproviders; i++)
		if (missing[i] && !cJSON_AddItemToArray(arr,
		    cJSON_CreateString(cfg->providers[i].id))) {
			http_error(r, 503, "server_error", "out of memory");
			goto out;
		}
	http_reply_json(r, code, o);
out:
	cJSON_Delete(o);
	free(missing);
	catalog_db_free(c);
}

void
health_readyz(struct worker *w, struct http_req *r)
{

	if (server_worker_ready(w) != QP_OK) {
		health_reply(r, 503, "degraded", w->reason);
		return;
	}
	if (server_process_id(w->srv) == 0) {
		health_reply(r, 503, "degraded", "starting: this process is not "
		    "registered in the database yet");
		return;
	}
	health_catalog(w, r);
}

/* Largest exposition sent; a pool of this size never comes near it. */
#define HEALTH_METRICS_MAX	(4 * 1024 * 1024)

void
health_metrics(struct worker *w, struct http_req *r)
{
	struct metrics_db *m = NULL;
	struct authfail_counts af;
	struct metrics_auth ma;
	char errbuf[256], *buf = NULL;
	size_t len = 0;
	enum qp_err err;

	if (server_worker_ready(w) != QP_OK) {
		http_error(r, 503, "server_error", w->reason);
		return;
	}
	if ((m = metrics_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		log_msg(LOG_ERROR, "metrics: %s", errbuf);
		http_error(r, 503, "server_error", "metrics unavailable");
		return;
	}
	if ((buf = malloc(HEALTH_METRICS_MAX)) == NULL) {
		http_error(r, 503, "server_error", "out of memory");
		goto out;
	}
	err = metrics_render(m, w->cfg, atomic_load(&w->srv->in_flight), buf,
	    HEALTH_METRICS_MAX, &len);
	if (err == QP_OK) {
		authfail_counts(w->srv->authfail, &af);
		ma.key_failures = af.failures[AUTHFAIL_KEY];
		ma.login_failures = af.failures[AUTHFAIL_LOGIN];
		ma.throttled = af.throttled;
		err = metrics_render_auth(&ma, buf, HEALTH_METRICS_MAX, &len);
	}
	if (err == QP_OK)
		err = workers_view_metrics(w->db, w->cfg, buf, HEALTH_METRICS_MAX, &len);
	if (err != QP_OK) {
		log_msg(LOG_ERROR, "metrics: %s", qp_strerror(err));
		http_error(r, 503, "server_error", "metrics unavailable");
		goto out;
	}
	http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
out:
	free(buf);
	metrics_db_free(m);
}
