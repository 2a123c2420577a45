/* models.c: the GET /v1/models handler. */
#include <stdio.h>

#include "catalog.h"
#include "db.h"
#include "log.h"
#include "models.h"

void
models_list(struct worker *w, struct http_req *r)
{
	struct catalog_db *c = NULL;
	cJSON *list = NULL;
	char errbuf[256];
	enum qp_err err;

	if (server_worker_ready(w) != QP_OK) {
		http_error(r, 503, http_type(r, "server_error", "api_error"),
		    "the model catalog is unavailable: the database is not ready");
		return;
	}
	if ((c = catalog_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL) {
		log_msg(LOG_ERROR, "worker %d: model catalog: %s", w->id, errbuf);
		goto out;
	}
	if ((list = catalog_models_json(c, w->srv->cfg, db_now_ms(), &err)) == NULL) {
		log_msg(LOG_ERROR, "worker %d: model catalog: %s", w->id, qp_strerror(err));
		goto out;
	}
	http_reply_json(r, 200, list);
out:
	if (list == NULL)
		http_error(r, 503, http_type(r, "server_error", "api_error"),
		    "the model catalog cannot be read");
	cJSON_Delete(list);
	catalog_db_free(c);
}
