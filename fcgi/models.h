/* models.h: the GET /v1/models handler. */
#ifndef QP_MODELS_H
#define QP_MODELS_H

#include "http.h"
#include "server.h"

/*
 * Answers GET /v1/models with the catalog in the OpenAI list shape
 * (catalog_models_json()): models of enabled providers with a usable
 * account, static models included, ids suffixed "<model>/<provider>"
 * unless [models] collapse_models. 503 in the client's error shape when
 * the database is not ready or cannot be read. Matches route_handler;
 * worker thread only (uses w->db).
 */
void		 models_list(struct worker *w, struct http_req *r);

#endif /* QP_MODELS_H */
