/* upstream.h: one HTTP attempt to an LLM provider over libcurl, streamed to callbacks. */
#ifndef QP_UPSTREAM_H
#define QP_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/*
 * How the request handler uses it. At start, before any thread:
 * upstream_share_new() once for the process. Each worker thread:
 * upstream_new() once, then for every attempt upstream_headers_new(),
 * upstream_req_init(), set method, path, body and callbacks,
 * upstream_perform(), upstream_headers_free(). The transport keeps its
 * connections open between attempts, so consecutive requests of a
 * thread to the same provider reuse one connection.
 *
 * Error bodies: the transport never buffers a body. A caller that
 * wants an upstream error body (status >= 400, seen in on_status)
 * copies the bytes handed to on_data into its own buffer of at most
 * QP_UPSTREAM_ERRBODY_MAX bytes (fcgi/bounds.h). Past that it either
 * keeps returning 0 and drops the rest (the body is drained and the
 * connection stays reusable) or returns non-zero (the transfer ends at
 * once as UPSTREAM_ABORTED_BY_CALLER and the connection is closed).
 * Non-streaming success bodies are collected the same way, bounded by
 * the caller (the data plane: [upstream] max_response_body_bytes) or by
 * req.max_body.
 *
 * Client disconnects: on_tick runs at least every UPSTREAM_TICK_MS,
 * also while the upstream is silent, so the caller can send an SSE
 * keepalive comment every second and poll its client; returning
 * non-zero closes the upstream connection at once.
 *
 * Secrets: the credential header lives only in the headers object and
 * is wiped when it is freed; nothing here logs, and curl's verbose mode
 * is never enabled. Connections to providers use HTTP/1.1.
 */

/* Longest URL (base_url + path) accepted. */
#define UPSTREAM_URL_MAX	4096
/* Response header bytes kept in struct upstream_head.raw (later lines dropped). */
#define UPSTREAM_HEAD_MAX	8192
/* Longest value kept of Content-Type, Retry-After and the request id (dropped beyond). */
#define UPSTREAM_VALUE_MAX	255
/* The caller's on_tick runs at least this often, in milliseconds. */
#define UPSTREAM_TICK_MS	100
/* Client headers a passthrough attempt forwards at most (the rest are dropped). */
#define UPSTREAM_PASS_HEADERS	64
/* Idle connections each transport keeps for reuse. */
#define UPSTREAM_CONN_CACHE	4
/* Receive buffer handed to curl: each recv() is delivered at once, whatever its size. */
#define UPSTREAM_RECV_BUFFER	16384

/* HTTP method of an attempt. */
enum upstream_method {
	UPSTREAM_POST,		/* a completion request: body sent as is */
	UPSTREAM_GET,		/* a catalog fetch: no body */
	UPSTREAM_CUSTOM,	/* a passthrough: req.custom, its body from cb.on_read */
	UPSTREAM_METHOD__MAX
};

/* How an attempt ended, from the transport's point of view. */
enum upstream_result {
	UPSTREAM_OK,			/* the whole response arrived (any HTTP status) */
	UPSTREAM_CONNECT_FAILED,	/* DNS, TCP, proxy, or the connect timeout */
	UPSTREAM_TLS_FAILED,		/* TLS handshake or certificate check failed */
	UPSTREAM_FIRST_BYTE_TIMEOUT,	/* request sent, no response byte in time */
	UPSTREAM_IDLE_TIMEOUT,		/* a silence between bytes lasted too long */
	UPSTREAM_ABORTED_BY_CALLER,	/* on_status, on_data or on_tick returned non-zero */
	UPSTREAM_SEND_FAILED,		/* the request could not be sent */
	UPSTREAM_RECV_FAILED,		/* the response broke off or was not HTTP */
	UPSTREAM_TOO_LARGE,		/* the body exceeded req.max_body */
	UPSTREAM_OTHER,			/* anything else: see curl_code */
	UPSTREAM__MAX
};

/* Bits of struct upstream_head.too_long: a value dropped for its length. */
#define UPSTREAM_LONG_CONTENT_TYPE	0x01	/* Content-Type */
#define UPSTREAM_LONG_RETRY_AFTER	0x02	/* Retry-After */
#define UPSTREAM_LONG_REQUEST_ID	0x04	/* the request id */

/*
 * The head of the final response (1xx responses and proxy CONNECT
 * replies are skipped). Strings are NUL-terminated, "" when absent, and
 * hold no control characters (a value containing one is dropped). A
 * value is kept whole or not at all: one longer than UPSTREAM_VALUE_MAX
 * is dropped and its UPSTREAM_LONG_* bit set in too_long, for the
 * caller to log.
 */
struct upstream_head {
	int		 status;		/* HTTP status, 0 before a head arrived */
	unsigned	 too_long;		/* UPSTREAM_LONG_* bits of values dropped */
	char		 content_type[UPSTREAM_VALUE_MAX + 1]; /* Content-Type */
	char		 retry_after[UPSTREAM_VALUE_MAX + 1];  /* Retry-After, untrusted text */
	char		 request_id[UPSTREAM_VALUE_MAX + 1];   /* x-request-id, else request-id,
							  else anthropic-request-id */
	const char	*raw;			/* header lines "Name: value\r\n" without the
						   status line; borrowed from the transport
						   until its next attempt; never NULL */
	size_t		 raw_len;		/* bytes in raw */
	int		 raw_truncated;		/* 1 if lines past UPSTREAM_HEAD_MAX were dropped */
};

/*
 * Reads a response head line by line. It is the transport's own parser,
 * public so that tests and the fuzzer can drive it. Owned by one thread.
 */
struct upstream_head_reader {
	struct upstream_head	 head;		/* fields so far; head.raw points into raw */
	int			 status;	/* status line of the head being read, 0 before */
	int			 id_rank;	/* rank of the request id kept, 0 none */
	int			 done;		/* 1 once a final (not 1xx) head ended */
	char			 raw[UPSTREAM_HEAD_MAX]; /* header lines kept, NUL-terminated; last,
						   so that its unused tail is never touched */
};

/* Timings and counters of one attempt. */
struct upstream_timing {
	int64_t		 connect_ms;	/* start to connected (TLS included); 0 if a kept
					   connection was reused, -1 if none was made */
	int64_t		 first_byte_ms;	/* start to the first response byte, -1 if none */
	int64_t		 total_ms;	/* start to the end of the attempt */
	int64_t		 bytes_sent;	/* request body bytes sent */
	int64_t		 bytes_received; /* response body bytes handed to on_data */
	int		 new_connection; /* 1 if this attempt opened a connection */
};

/* Everything the caller learns about an attempt. */
struct upstream_res {
	enum upstream_result	 result;	/* how it ended */
	int			 curl_code;	/* CURLcode of the transfer (CURLE_OK = 0);
						   28 when our first-byte or idle timer
						   fired, 23 or 42 when a callback
						   aborted */
	struct upstream_head	 head;		/* head.status = 0 if no head arrived */
	struct upstream_timing	 timing;	/* always filled */
	char			 detail[256];	/* curl's message for a failure, "" if none;
						   names hosts and ports, never headers */
};

/*
 * Callbacks, all run on the thread inside upstream_perform(). A non-zero
 * return from any of them ends the transfer at once (the connection is
 * closed) with UPSTREAM_ABORTED_BY_CALLER. Each may be NULL.
 */
struct upstream_cb {
	/* once, when the final response head is complete, before any on_data;
	   head is valid during the call (and in res afterwards) */
	int	(*on_status)(const struct upstream_head *head, void *arg);
	/* for every body chunk as it arrives (never for head bytes); buf is
	   valid only during the call */
	int	(*on_data)(const char *buf, size_t len, void *arg);
	/* at least every UPSTREAM_TICK_MS from the start to the end */
	int	(*on_tick)(void *arg);
	/* UPSTREAM_CUSTOM: fills buf with up to len bytes of the request body
	   as curl sends it; returns the bytes, 0 at the body's end, or
	   UPSTREAM_READ_ABORT to end the transfer (NULL = no body) */
	size_t	(*on_read)(char *buf, size_t len, void *arg);
	/* UPSTREAM_CUSTOM: the body is to be sent again from byte off (a
	   kept connection that closed before the answer); 0, or -1 when it
	   cannot be (the attempt then fails); NULL = never possible */
	int	(*on_rewind)(int64_t off, void *arg);
	void	*arg;		/* passed to each callback */
};

/* What on_read returns to end the transfer at once. */
#define UPSTREAM_READ_ABORT	((size_t)-1)

/* The credential and forwarded headers of an attempt (opaque). */
struct upstream_headers;

/* One attempt to describe; every pointer is borrowed for upstream_perform(). */
struct upstream_req {
	enum upstream_method	 method;	/* POST, GET or CUSTOM */
	const char		*custom;	/* CUSTOM: the method sent, an HTTP token
						   ("HEAD" sends no body and reads none) */
	int64_t			 upload_len;	/* CUSTOM with cb.on_read: the body's bytes,
						   -1 = unknown (sent chunked) */
	const char		*base_url;	/* absolute http(s) URL; a trailing '/' is ignored */
	const char		*path;		/* appended with one '/' between; NULL or "" = none */
	const struct upstream_headers *headers;	/* from upstream_headers_new(); NULL = none */
	const void		*body;		/* POST body, sent byte for byte; NULL if empty */
	size_t			 body_len;	/* bytes in body */
	const char		*proxy_url;	/* http://, https://, socks5:// or socks5h:// URL,
						   NULL = direct (proxy variables of the
						   environment are ignored either way) */
	const char		*ca_file;	/* PEM CAs that verify the server; NULL = the
						   system's */
	int			 connect_timeout_ms;	/* DNS + TCP + TLS + proxy; 0 = curl's 300 s */
	int			 first_byte_timeout_ms; /* last request byte sent to first response
							   byte; 0 = none */
	int			 idle_timeout_ms;	/* longest silence once bytes flow; 0 = none */
	int64_t			 max_body;	/* response body bound (UPSTREAM_TOO_LARGE
						   beyond), 0 = none */
	struct upstream_cb	 cb;		/* the caller's callbacks */
};

/* Process-wide curl state: DNS cache and TLS sessions shared by every transport (opaque). */
struct upstream_share;

/* One worker thread's transport: a curl handle and its kept connections (opaque). */
struct upstream;

/*
 * Initialises libcurl and makes the process-wide share (DNS cache and
 * TLS sessions, each kind under its own mutex). Call once at start,
 * before any thread runs; pair with upstream_share_free() after every
 * transport is freed. Returns NULL with *err = QP_ENOMEM (or
 * QP_EUPSTREAM if libcurl cannot start). Not thread-safe.
 */
struct upstream_share	*upstream_share_new(enum qp_err *err);

/* Frees the share and cleans up libcurl. NULL is allowed. Not thread-safe. */
void			 upstream_share_free(struct upstream_share *sh);

/*
 * Makes a transport bound to sh (borrowed: it must outlive the
 * transport). A transport belongs to one thread at a time; different
 * transports may run at once on different threads. Returns NULL when
 * out of memory. Free with upstream_free().
 */
struct upstream		*upstream_new(struct upstream_share *sh);

/*
 * Closes the transport's connections and frees it. NULL is allowed.
 * Only the thread owning u may call it, never during upstream_perform().
 */
void			 upstream_free(struct upstream *u);

/*
 * Builds the headers of an attempt to prov speaking proto
 * (CONFIG_PROTO_OPENAI or CONFIG_PROTO_ANTHROPIC). From env, the
 * client's CGI parameters ("NAME=value" strings ending with NULL, as in
 * FCGX_Request.envp; may be NULL), only HTTP_ANTHROPIC_VERSION,
 * HTTP_ANTHROPIC_BETA and CONTENT_TYPE are forwarded; the client's
 * Authorization, X-Api-Key, Cookie, Host, Content-Length and hop-by-hop
 * headers never are. Without a client Content-Type, application/json
 * is sent (harmless on a GET); an Anthropic upstream gets anthropic-version:
 * 2023-06-01 unless the client sent one. Then acct's key (acct may be
 * NULL, or have no key: no credential) per prov->auth:
 * "Authorization: Bearer KEY" or "x-api-key: KEY" (CONFIG_AUTH_DEFAULT:
 * Bearer for OpenAI, x-api-key for Anthropic). Client values longer
 * than QP_HEADER_MAX or holding control characters are dropped.
 * Returns the headers (free with upstream_headers_free()) or NULL with
 * *err set: QP_EINVAL (bad proto, or a key with control characters),
 * QP_ENOMEM. Thread-safe.
 */
struct upstream_headers	*upstream_headers_new(const struct config_provider *prov,
			    const struct config_account *acct, unsigned proto,
			    char *const *env, enum qp_err *err);

/*
 * Builds the headers of a passthrough attempt to prov with acct: the
 * client's headers from env whose CGI names passpath_forward() lets
 * through (so never a credential, cookie, hop-by-hop header or the
 * client's address), values longer than QP_HEADER_MAX or holding control
 * characters dropped, at most UPSTREAM_PASS_HEADERS of them; then, as
 * upstream_headers_new() does, anthropic-version for an Anthropic proto
 * whose client named none, and acct's key per prov->auth. No
 * Content-Type is made up. Returns the headers (free with
 * upstream_headers_free()) or NULL with *err set: QP_EINVAL, QP_ENOMEM.
 * Thread-safe.
 */
struct upstream_headers	*upstream_headers_pass(const struct config_provider *prov,
			    const struct config_account *acct, unsigned proto,
			    char *const *env, enum qp_err *err);

/* Wipes every header (the credential included) and frees h. NULL is allowed. */
void			 upstream_headers_free(struct upstream_headers *h);

/*
 * Returns the value of header name (case-insensitive) in h, or NULL.
 * The pointer lives as long as h; for the credential header it is the
 * secret itself, so never log it. Thread-safe.
 */
const char		*upstream_headers_find(const struct upstream_headers *h,
			    const char *name);

/*
 * Fills req for an attempt to prov with acct: method POST, base_url,
 * the account's proxy, and the timeouts ([upstream] values, each
 * overridden by the provider's when > 0; cfg may be NULL for provider
 * values only). Everything else is zero. Pointers into cfg, prov and
 * acct are borrowed. Thread-safe.
 */
void			 upstream_req_init(struct upstream_req *req, const struct config *cfg,
			    const struct config_provider *prov,
			    const struct config_account *acct);

/*
 * Performs one attempt on u and fills res. Returns QP_OK when the
 * attempt ran (res->result says how it ended, even on failure), or
 * when nothing could be attempted: QP_EINVAL (bad URL, proxy or method;
 * res->result = UPSTREAM_OTHER), QP_ENOMEM. Blocks until the response
 * ended, a timeout fired or a callback aborted; there is no total time
 * limit. The caller owns u for the call (one thread at a time).
 */
enum qp_err		 upstream_perform(struct upstream *u, const struct upstream_req *req,
			    struct upstream_res *res);

/* Empties r for a new response. Thread-safe (touches only r). */
void			 upstream_head_reset(struct upstream_head_reader *r);

/*
 * Feeds one line of a response head (len bytes, with or without its
 * CRLF or LF). A status line ("HTTP/1.1 429 ...") starts a new head and
 * forgets the fields of an earlier one (a 1xx); a header line is kept in
 * raw and read for the fields of struct upstream_head; the blank line
 * ends the head. Returns 1 when that blank line ends a final head (r->done
 * set, r->head.status filled), else 0. Lines after that are ignored
 * (trailers). The bytes are untrusted: values longer than
 * UPSTREAM_VALUE_MAX are dropped (head.too_long says which), lines
 * holding control characters are dropped, raw
 * keeps at most UPSTREAM_HEAD_MAX - 1 bytes of whole lines. line is only
 * read during the call. Thread-safe (touches only r).
 */
int			 upstream_head_feed(struct upstream_head_reader *r, const char *line,
			    size_t len);

/* Returns a constant lower-case name of r ("first_byte_timeout"). Thread-safe. */
const char		*upstream_result_name(enum upstream_result r);

#endif /* QP_UPSTREAM_H */
