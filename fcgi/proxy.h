/* proxy.h: the pooled data-plane endpoints, relayed (translated where needed) to accounts. */
#ifndef QP_PROXY_H
#define QP_PROXY_H

#include "http.h"
#include "server.h"

/*
 * POST /v1/chat/completions (OpenAI) and POST /v1/messages (Anthropic):
 * reads and checks the body, resolves the model, picks an account,
 * relays the upstream answer (streamed event by event, or whole), fails
 * over to other accounts before the first byte reaches the client, and
 * accounts for every attempt. Worker thread only.
 */
void		 proxy_chat_completions(struct worker *w, struct http_req *r);
void		 proxy_messages(struct worker *w, struct http_req *r);

/*
 * The same for POST /v1/responses, /v1/embeddings, /v1/completions and
 * /v1/messages/count_tokens (fcgi/endpoint.h says what each is). A
 * client whose API the chosen provider does not speak is served
 * through a translation (fcgi/xlate.h). count_tokens without a provider
 * that counts is answered with an estimate from the body's bytes,
 * marked by the header x-quotapool-estimate: bytes. Worker thread only.
 */
void		 proxy_responses(struct worker *w, struct http_req *r);
void		 proxy_embeddings(struct worker *w, struct http_req *r);
void		 proxy_completions(struct worker *w, struct http_req *r);
void		 proxy_count_tokens(struct worker *w, struct http_req *r);

#endif /* QP_PROXY_H */
