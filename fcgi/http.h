/* http.h: one FastCGI request: its parameters, body, and every response written to it. */
#ifndef QP_HTTP_H
#define QP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <fcgiapp.h>
#include <cjson/cJSON.h>

#include "err.h"

/* Longest request path accepted (414 beyond). */
#define HTTP_PATH_MAX		2048
/* Length of a request id: a UUID in text. */
#define HTTP_UID_LEN		36
/* Longest client address kept (an IPv6 literal is at most 45). */
#define HTTP_ADDR_MAX		63

/* Error body shape: the client's protocol family. */
enum http_family {
	HTTP_FAMILY_OPENAI,	/* {"error":{"message","type","code"}} */
	HTTP_FAMILY_ANTHROPIC,	/* {"type":"error","error":{"type","message"}} */
	HTTP_FAMILY__MAX
};

/* One request, owned by the worker thread serving it. */
struct http_req {
	FCGX_Request	*fr;			/* borrowed from the worker */
	const char	*method;		/* REQUEST_METHOD, never NULL */
	char		 path[HTTP_PATH_MAX + 1]; /* REQUEST_URI up to '?', not decoded */
	const char	*query;			/* after '?', "" if none; borrowed */
	int		 path_too_long;		/* 1 if REQUEST_URI exceeded HTTP_PATH_MAX */
	enum http_family family;		/* shape of error bodies */
	int		 headers_sent;		/* 1 once the status line is out */
	int		 status;		/* status sent, 0 before */
	int64_t		 bytes_out;		/* body bytes written to the client */
	int		 gone;			/* 1 once the client is known to be gone */
	char		 uid[HTTP_UID_LEN + 1];	/* x-proxy-request-id, "" if none */
	int		 attempt_count;		/* x-proxy-attempt-count, 0 = not sent */
	int64_t		 key_id;		/* client_keys row that authenticated it, 0 = none */
	char		 client_addr[HTTP_ADDR_MAX + 1]; /* the client's address (route_dispatch
						   sets it, trusting [security]
						   trusted_proxies), "" if unknown */
	int		 client_https;		/* 1 if the client's connection is HTTPS (idem) */
	const char	*base;			/* [server] base_path, "" or "/a/b": path is
						   what follows it; links, cookies and
						   redirects put it back (route_dispatch
						   sets it) */
};

/*
 * The error family of a request: Anthropic for /v1/messages and every path
 * under it, and for /v1/models[/...] when the client sends anthropic-version
 * (anthropic_version may be NULL); OpenAI otherwise. Thread-safe.
 */
enum http_family http_family(const char *path, const char *anthropic_version);

/* Fills r from the FastCGI request fr (borrowed for r's lifetime). */
void		 http_req_init(struct http_req *r, FCGX_Request *fr);

/* Returns a FastCGI parameter such as "HTTP_AUTHORIZATION", or NULL. */
const char	*http_param(const struct http_req *r, const char *name);

/*
 * Finds the client key presented with r: "Authorization: Bearer KEY"
 * (scheme in any case), else "x-api-key: KEY", blanks around it
 * trimmed. Returns a pointer into r's parameters with *len set, or NULL
 * if none is presented, it is empty, or longer than QP_HEADER_MAX.
 */
const char	*http_presented_key(const struct http_req *r, size_t *len);

/* Returns the reason phrase of an HTTP status ("Not Found"). */
const char	*http_status_text(int status);

/*
 * Reads the whole request body into *out (malloc'd, NUL-terminated, the
 * caller frees) without trusting CONTENT_LENGTH. QP_ETOOBIG if it exceeds
 * max (the rest is not read), QP_ECLOSED if the client went away,
 * QP_ENOMEM.
 */
enum qp_err	 http_read_body(struct http_req *r, size_t max, char **out, size_t *len);

/*
 * Starts the response: status, content type, the proxy headers if set
 * (uid, attempt_count), X-Content-Type-Options: nosniff and a
 * Content-Security-Policy that allows nothing on every path under /v1/,
 * then extra (already formatted "Name: value\r\n" lines, may be NULL).
 * Every header goes out whole; a content type holding a control
 * character is replaced by application/octet-stream. Only the first call
 * has an effect.
 */
void		 http_begin(struct http_req *r, int status, const char *ctype,
		    const char *extra);

/*
 * Writes len body bytes; returns 0, or -1 once the client is gone (then
 * r->gone is set and later writes are dropped).
 */
int		 http_write(struct http_req *r, const void *buf, size_t len);

/* Flushes what was written to the web server; -1 if the client is gone. */
int		 http_flush(struct http_req *r);

/* Returns 1 if the web server closed the request's connection (non-blocking). */
int		 http_client_gone(struct http_req *r);

/* Returns openai or anthropic: the error type for r's protocol family. */
const char	*http_type(const struct http_req *r, const char *openai,
		    const char *anthropic);

/* Sends a complete response with body (len bytes). */
void		 http_reply(struct http_req *r, int status, const char *ctype,
		    const void *body, size_t len);

/* Sends json as an application/json response; json stays the caller's. */
void		 http_reply_json(struct http_req *r, int status, const cJSON *json);

/*
 * The one writer of error responses: status with a body in r->family's
 * shape carrying type and message. Messages never carry secrets.
 */
void		 http_error(struct http_req *r, int status, const char *type,
		    const char *message);

/*
 * Same as http_error() with extra response headers (formatted lines,
 * e.g. "Retry-After: 5\r\n").
 */
void		 http_error_ex(struct http_req *r, int status, const char *type,
		    const char *message, const char *extra);

#endif /* QP_HTTP_H */
