/* models.h: the GET /v1/models and GET /v1/models/{id} handlers. */
#ifndef QP_MODELS_H
#define QP_MODELS_H

#include "http.h"
#include "server.h"

/*
 * Answers GET /v1/models with the catalog in the OpenAI list shape
 * (catalog_models_json()): models of enabled providers with a usable
 * account, static models included, ids suffixed "<model>/<provider>"
 * unless [models] collapse_models. A client that sends anthropic-version
 * gets the Anthropic list shape instead (type, display_name, created_at,
 * max_input_tokens and max_tokens where the limits are known, has_more,
 * first_id, last_id), paged by the query's limit (1-1000,
 * default 20), after_id or before_id. 503 in the client's error shape when
 * the database is not ready or cannot be read. Matches route_handler;
 * worker thread only (uses w->db).
 */
void		 models_list(struct worker *w, struct http_req *r);

/*
 * Answers GET /v1/models/{id}: the id is the rest of the path, %XX-decoded
 * (the SDKs send "a%2Fb" for "a/b"; a raw "a/b" works too). The entry of
 * models_list() with that id, or the one entry of an unsuffixed model id
 * that a single provider serves, or else the entry of the [aliases] pattern
 * the id matches (each returned under the id asked for), in the
 * client's shape; 404 in its error family otherwise. Matches
 * route_handler; worker thread only.
 */
void		 models_get(struct worker *w, struct http_req *r);

#endif /* QP_MODELS_H */
