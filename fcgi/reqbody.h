/* reqbody.h: a client's chat or messages request: its checks, and the body sent upstream. */
#ifndef QP_REQBODY_H
#define QP_REQBODY_H

#include <stddef.h>

#include "err.h"

struct cJSON;

/*
 * A parsed request body. Filled by reqbody_parse(), released by
 * reqbody_free(); owned by the thread serving the request.
 */
struct reqbody {
	struct cJSON	*root;		/* the body's JSON object, owned */
	const char	*model;		/* "model" as sent, not blank; in root */
	int		 stream;	/* 1 if "stream" is true */
	int		 include_usage;	/* 1 if the client asked for include_usage */
	int		 edited;	/* 1 once reqbody_upstream() changed root */
};

/*
 * Parses and checks the body of POST /v1/chat/completions or
 * /v1/messages (buf, len; untrusted): a JSON object nested at most
 * QP_JSON_DEPTH_MAX deep, with "model" a string that is not blank, and
 * "stream" a boolean, null or absent, neither of them given twice at the
 * top level. On success fills rb and returns QP_OK; otherwise rb holds
 * nothing to free and the return is QP_EPARSE (not JSON or not an
 * object), QP_ETOOBIG (nested too deep) or QP_EINVAL (bad or duplicate
 * model or stream), with *why set to the message for the client's 400
 * error (a static string; NULL on success). Thread-safe for distinct rb.
 */
enum qp_err	 reqbody_parse(struct reqbody *rb, const char *buf, size_t len,
		    const char **why);

/*
 * Produces the body to send upstream: "model" set to base_id (NULL keeps
 * the client's), and, when want_usage is 1 (an OpenAI chat upstream) and
 * the request streams, stream_options.include_usage set true so the
 * stream ends with its usage (rb->include_usage still says whether the
 * client asked for it). If nothing had to change, now or in an earlier
 * call on rb, *out is NULL and the caller forwards the client's original
 * bytes unchanged (so "modified" is *out != NULL); otherwise *out is
 * compact JSON of *out_len bytes, NUL-terminated, which the caller frees
 * with free(). Edits rb->root (rb->model then reads base_id), so it may
 * be called again for each attempt. Returns QP_OK, QP_ENOMEM, or
 * QP_EINVAL if rb holds no body.
 */
enum qp_err	 reqbody_upstream(struct reqbody *rb, const char *base_id,
		    int want_usage, char **out, size_t *out_len);

/* Releases what rb holds and empties it. NULL and an empty rb are allowed. */
void		 reqbody_free(struct reqbody *rb);

#endif /* QP_REQBODY_H */
