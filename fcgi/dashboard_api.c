/* dashboard_api.c: the dashboard's JSON API (/api/stats/NAME, /api/backoffs, /api/events). */
#include <stdio.h>
#include <string.h>

#include "dashboard.h"
#include "dashboard_int.h"
#include "db.h"
#include "stats.h"

/* ---- JSON API --------------------------------------------------------- */

/* Answers dataset d (or the runtime tree when d is STATS_DS__MAX) as JSON. */
static void
dashboard_api(struct worker *w, struct http_req *r, enum stats_dataset d, int admin_only)
{
	struct stats_query q;
	struct stats_db *sdb = NULL;
	cJSON *j = NULL;
	char errbuf[256];
	enum qp_err err = QP_OK;
	int admin;

	if (!dashboard_gate(w, r, admin_only, 0, &admin))
		return;
	if (d == STATS_DS__MAX) {
		j = dashboard_runtime_tree(w);
		err = QP_ENOMEM;
		goto out;
	}
	if (stats_query_parse(&q, r->query, strlen(r->query), db_now_ms(), errbuf,
	    sizeof(errbuf)) != QP_OK) {
		http_error(r, 400, "invalid_request_error", errbuf);
		return;
	}
	if ((sdb = stats_db_new(w->db, &err, errbuf, sizeof(errbuf))) == NULL)
		goto out;
	j = stats_dataset_run(sdb, w->cfg, d, &q, &err, errbuf, sizeof(errbuf));
	if (j == NULL && err == QP_EINVAL) {
		http_error(r, 400, "invalid_request_error", errbuf);
		goto done;
	}
out:
	if (j == NULL)
		http_error(r, 500, "server_error", qp_strerror(err));
	else
		dashboard_send_json(r, 200, j);
done:
	cJSON_Delete(j);
	stats_db_free(sdb);
}

void
dashboard_api_stats(struct worker *w, struct http_req *r)
{
	const char *name = r->path + strlen("/api/stats/");
	struct stats_db *sdb = NULL;
	enum stats_dataset d;
	cJSON *j = NULL;
	char errbuf[256];
	enum qp_err err = QP_OK;
	int admin;

	if (strncmp(r->path, "/api/stats/", 11) != 0) {
		http_error(r, 404, "invalid_request_error", "no such endpoint");
		return;
	}
	if (strcmp(name, "runtime") == 0) {
		dashboard_api(w, r, STATS_DS__MAX, 1);
		return;
	}
	if (strncmp(name, "recent/", 7) == 0) {
		if (!dashboard_gate(w, r, 1, 0, &admin))
			return;
		if ((sdb = stats_db_new(w->db, &err, errbuf, sizeof(errbuf))) != NULL)
			j = stats_recent(sdb, w->cfg, name + 7, strlen(name + 7), &err);
		if (j != NULL)
			dashboard_send_json(r, 200, j);
		else if (err == QP_ENOTFOUND)
			http_error(r, 404, "not_found_error", "no request with this id");
		else
			http_error(r, 500, "server_error", qp_strerror(err));
		cJSON_Delete(j);
		stats_db_free(sdb);
		return;
	}
	d = stats_dataset_find(name, strlen(name));
	if (d == STATS_DS__MAX || d == STATS_DS_BACKOFFS) {
		http_error(r, 404, "invalid_request_error", "no such dataset");
		return;
	}
	dashboard_api(w, r, d, dashboard_ds_admin(d));
}

void
dashboard_api_backoffs(struct worker *w, struct http_req *r)
{

	dashboard_api(w, r, STATS_DS_BACKOFFS, 1);
}

void
dashboard_api_events(struct worker *w, struct http_req *r)
{

	dashboard_api(w, r, STATS_DS_OPERATIONAL, 0);
}
