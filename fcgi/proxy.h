/* proxy.h: the data-plane endpoints: chat completions and messages, relayed to pooled accounts. */
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

#endif /* QP_PROXY_H */
