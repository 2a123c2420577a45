/* health.c: liveness and readiness endpoints. */
#include <cjson/cJSON.h>

#include "health.h"

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

void
health_readyz(struct worker *w, struct http_req *r)
{

	if (server_worker_ready(w) != QP_OK) {
		health_reply(r, 503, "degraded", w->reason);
		return;
	}
	health_reply(r, 200, "ok", NULL);
}
