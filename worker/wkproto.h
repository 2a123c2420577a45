/* wkproto.h: the pure parts of the worker protocol (docs/workers.md): jobs, heads, models, hello. */
#ifndef WK_PROTO_H
#define WK_PROTO_H

#include <stddef.h>

#include "wkbounds.h"

/*
 * Every function here works on bytes handed to it, holds no global state
 * and is safe to call from any thread on distinct arguments.
 */

/* Outcome of a parser or writer. */
enum wkproto_err {
	WKPROTO_OK = 0,		/* parsed or written */
	WKPROTO_EJSON,		/* not JSON, or not a JSON object */
	WKPROTO_EFIELD,		/* a field is missing, of the wrong type or out of bounds */
	WKPROTO_ETOOBIG,	/* the input exceeds its bound */
	WKPROTO_ENOMEM,		/* out of memory */
	WKPROTO_ERR__MAX
};

/* A short English name of e ("malformed JSON", ...); never NULL. */
const char	*wkproto_strerror(enum wkproto_err e);

/* One request or response header: both strings owned by the structure holding it. */
struct wkproto_header {
	char	*name;		/* lower-case token */
	char	*value;		/* no CR, LF or NUL */
};

/* A job taken from GET /worker/v1/jobs. */
struct wkproto_job {
	char			 id[WK_JOB_ID_LEN + 1];	/* 32 lower-case hex digits */
	char			 method[WK_METHOD_MAX + 1]; /* "POST", "GET", ... */
	char			*model;		/* model id, or NULL when the job names none */
	char			*path;		/* "/chat/completions": starts with '/', no dot segment */
	int			 stream;	/* the job's "stream" (0 when absent) */
	struct wkproto_header	*headers;	/* headers as given, names lower-cased */
	size_t			 nheaders;	/* entries of headers */
	char			*body;		/* request body, or NULL when the job has none */
	size_t			 body_len;	/* bytes of body */
};

/*
 * Parses a job from buf[0..len). On WKPROTO_OK *job holds heap memory
 * released by wkproto_job_free(); on error *job is left empty (safe to
 * free) and *why (when why is not NULL) names the offending field with a
 * static string. When the id could be read but another field could not,
 * job->id holds it, so that the worker can still refuse the job by id.
 */
enum wkproto_err wkproto_job_parse(const char *buf, size_t len,
		    struct wkproto_job *job, const char **why);

/* Releases what wkproto_job_parse() allocated; accepts an empty or NULL job. */
void		 wkproto_job_free(struct wkproto_job *job);

/*
 * Whether a header of a job goes on to the runtime: hop-by-hop headers,
 * the framing ones (host, content-length, transfer-encoding, expect) and
 * credentials (authorization, x-api-key, cookie) do not. name is lower-case.
 */
int		 wkproto_header_forwarded(const char *name);

/*
 * Whether a header of the runtime's answer goes into the head line:
 * hop-by-hop and framing headers and set-cookie do not. name is lower-case.
 */
int		 wkproto_header_returned(const char *name);

/*
 * Writes the head line of a result: {"status":S,"headers":{...}} and a
 * "\n". Headers that wkproto_header_returned() refuses are left out, a
 * name given twice is joined with ", ", and headers are kept in order
 * while they fit in WK_HEAD_HEADERS_MAX (content-type always first).
 * When error is not NULL the head is {"status":S,"error":"..."} instead,
 * with error cut to one line of WK_HEAD_ERROR_MAX bytes at most.
 * *out is heap memory the caller frees; *outlen excludes its NUL.
 */
enum wkproto_err wkproto_head(int status, const struct wkproto_header *hdrs,
		    size_t nhdrs, const char *error, char **out, size_t *outlen);

/* One model of the runtime. */
struct wkproto_model {
	char	*id;		/* at most WK_MODEL_ID_MAX bytes of printable UTF-8 */
	long	 context_length; /* from context_length or max_model_len; 0 when unknown */
};

/* The runtime's model list, sorted by id without duplicates. */
struct wkproto_models {
	struct wkproto_model	*v;	/* n entries, owned */
	size_t			 n;	/* at most WK_MODELS_MAX */
	size_t			 dropped; /* entries left out (bad id, over WK_MODELS_MAX) */
};

/*
 * Parses the OpenAI list shape {"data":[{"id":...}, ...]} of the runtime's
 * GET /models. Entries whose id is missing, too long or not printable
 * UTF-8 are counted in dropped, as are those beyond WK_MODELS_MAX. On
 * WKPROTO_OK *m holds heap memory released by wkproto_models_free().
 */
enum wkproto_err wkproto_models_parse(const char *buf, size_t len,
		    struct wkproto_models *m);

/* Releases a model list; accepts an empty or NULL one. */
void		 wkproto_models_free(struct wkproto_models *m);

/* Whether two lists hold the same ids with the same context lengths (1) or not (0). */
int		 wkproto_models_equal(const struct wkproto_models *a,
		    const struct wkproto_models *b);

/*
 * Writes the body of POST /worker/v1/hello. *out is heap memory the
 * caller frees. models may be NULL (no model yet).
 */
enum wkproto_err wkproto_hello_body(const char *name, const char *version,
		    int capacity, const struct wkproto_models *models, char **out);

/*
 * Reads heartbeat_s and gone_after_s from a hello answer. A missing or
 * out-of-range heartbeat_s gives WK_HEARTBEAT_DEFAULT_S (the call still
 * succeeds: the worker was registered); gone_after_s is 0 when absent.
 */
enum wkproto_err wkproto_hello_answer(const char *buf, size_t len,
		    int *heartbeat_s, int *gone_after_s);

/*
 * Whether s (len bytes) is printable UTF-8: well-formed, no control
 * character (C0, DEL, C1), no NUL.
 */
int		 wkproto_printable(const char *s, size_t len);

#endif /* WK_PROTO_H */
