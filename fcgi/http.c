/* http.c: FastCGI request parameters, bodies and responses. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounds.h"
#include "http.h"

#define HTTP_READ_CHUNK	65536
/*
 * Headers of every answer under /v1/: whatever a provider sent, a browser
 * neither guesses a type nor runs anything from the gateway's origin.
 */
#define HTTP_API_HEADERS \
	"X-Content-Type-Options: nosniff\r\n" \
	"Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"

static const struct {
	int		 status;
	const char	*text;
} http_statuses[] = {
	{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" },
	{ 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 402, "Payment Required" },
	{ 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
	{ 408, "Request Timeout" }, { 409, "Conflict" }, { 411, "Length Required" },
	{ 413, "Payload Too Large" }, { 414, "URI Too Long" },
	{ 415, "Unsupported Media Type" }, { 422, "Unprocessable Entity" },
	{ 429, "Too Many Requests" }, { 499, "Client Closed Request" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 529, "Overloaded" },
};

const char *
http_status_text(int status)
{
	size_t i;

	for (i = 0; i < sizeof(http_statuses) / sizeof(http_statuses[0]); i++)
		if (http_statuses[i].status == status)
			return http_statuses[i].text;
	return status >= 500 ? "Server Error" : status >= 400 ? "Client Error" : "OK";
}

enum http_family
http_family(const char *path, const char *anthropic_version)
{
	const char *m;

	/* /v1/messages and everything under it: count_tokens, batches, unknown paths. */
	for (m = strstr(path, "/v1/messages"); m != NULL; m = strstr(m + 1, "/v1/messages"))
		if (m[12] == '\0' || m[12] == '/')
			return HTTP_FAMILY_ANTHROPIC;
	/* The model list is shared: its shape follows the client. */
	if (anthropic_version != NULL && anthropic_version[0] != '\0' &&
	    (m = strstr(path, "/v1/models")) != NULL && (m[10] == '\0' || m[10] == '/'))
		return HTTP_FAMILY_ANTHROPIC;
	return HTTP_FAMILY_OPENAI;
}

void
http_req_init(struct http_req *r, FCGX_Request *fr)
{
	const char *uri, *q;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->fr = fr;
	r->base = "";
	if ((r->method = FCGX_GetParam("REQUEST_METHOD", fr->envp)) == NULL)
		r->method = "GET";
	if ((uri = FCGX_GetParam("REQUEST_URI", fr->envp)) == NULL)
		uri = "/";
	q = strchr(uri, '?');
	n = q != NULL ? (size_t)(q - uri) : strlen(uri);
	if (n > HTTP_PATH_MAX) {
		r->path_too_long = 1;
		n = HTTP_PATH_MAX;
	}
	memcpy(r->path, uri, n);
	r->path[n] = '\0';
	r->query = q != NULL ? q + 1 : "";
	r->family = http_family(r->path, FCGX_GetParam("HTTP_ANTHROPIC_VERSION", fr->envp));
}

const char *
http_param(const struct http_req *r, const char *name)
{

	return FCGX_GetParam(name, r->fr->envp);
}

const char *
http_presented_key(const struct http_req *r, size_t *len)
{
	const char *v, *end;

	if ((v = http_param(r, "HTTP_AUTHORIZATION")) != NULL &&
	    strncasecmp(v, "Bearer", 6) == 0 && (v[6] == ' ' || v[6] == '\t')) {
		v += 6;
		while (*v == ' ' || *v == '\t')
			v++;
	} else if ((v = http_param(r, "HTTP_X_API_KEY")) != NULL) {
		while (*v == ' ' || *v == '\t')
			v++;
	} else
		return NULL;
	end = v + strnlen(v, QP_HEADER_MAX + 1);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end == v || end - v > QP_HEADER_MAX)
		return NULL;
	*len = (size_t)(end - v);
	return v;
}

enum qp_err
http_read_body(struct http_req *r, size_t max, char **out, size_t *len)
{
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, want;
	const char *cl;
	long long hint = 0;
	int got;

	*out = NULL;
	*len = 0;
	/* CONTENT_LENGTH is a hint only (chunked bodies behind Apache lack it). */
	if ((cl = http_param(r, "CONTENT_LENGTH")) != NULL) {
		char *end;

		errno = 0;
		hint = strtoll(cl, &end, 10);
		if (errno != 0 || *end != '\0' || hint < 0)
			hint = 0;
		if ((unsigned long long)hint > max)
			return QP_ETOOBIG;
	}
	cap = hint > 0 ? (size_t)hint + 1 : 4096;
	if ((buf = malloc(cap)) == NULL)
		return QP_ENOMEM;
	for (;;) {
		if (cap - n < 2) {
			if (cap > max + 1) {
				free(buf);
				return QP_ETOOBIG;
			}
			cap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return QP_ENOMEM;
			}
			buf = nb;
		}
		want = cap - n - 1;
		if (want > HTTP_READ_CHUNK)
			want = HTTP_READ_CHUNK;
		got = FCGX_GetStr(buf + n, (int)want, r->fr->in);
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n > max) {
			free(buf);
			return QP_ETOOBIG;
		}
	}
	if (FCGX_GetError(r->fr->in) != 0) {
		free(buf);
		return QP_ECLOSED;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return QP_OK;
}

/* Writes a header block piece whole, whatever its length. */
static void
http_puts(struct http_req *r, const char *s)
{

	FCGX_PutStr(s, (int)strlen(s), r->fr->out);
}

/* Returns 1 if s may be a header value: no CR, LF or other control character. */
static int
http_value_ok(const char *s)
{

	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

/*
 * Starts the response; extra1 and extra2 are formatted header lines
 * (either may be NULL). Each header goes out whole: nothing is cut to
 * fit a buffer.
 */
static void
http_begin_ex(struct http_req *r, int status, const char *ctype, const char *extra1,
    const char *extra2)
{
	char line[64];

	if (r->headers_sent)
		return;
	r->headers_sent = 1;
	r->status = status;
	snprintf(line, sizeof(line), "Status: %d %s\r\n", status, http_status_text(status));
	http_puts(r, line);
	/* Callers pass constants or values already checked; this is the last guard. */
	if (ctype == NULL || !http_value_ok(ctype))
		ctype = "application/octet-stream";
	http_puts(r, "Content-Type: ");
	http_puts(r, ctype);
	http_puts(r, "\r\n");
	if (r->uid[0] != '\0') {
		http_puts(r, "x-proxy-request-id: ");
		http_puts(r, r->uid);
		http_puts(r, "\r\n");
	}
	if (r->attempt_count > 0) {
		snprintf(line, sizeof(line), "x-proxy-attempt-count: %d\r\n",
		    r->attempt_count);
		http_puts(r, line);
	}
	if (strncmp(r->path, "/v1/", 4) == 0 || strcmp(r->path, "/v1") == 0)
		http_puts(r, HTTP_API_HEADERS);
	if (extra1 != NULL)
		http_puts(r, extra1);
	if (extra2 != NULL)
		http_puts(r, extra2);
	http_puts(r, "\r\n");
}

void
http_begin(struct http_req *r, int status, const char *ctype, const char *extra)
{

	http_begin_ex(r, status, ctype, extra, NULL);
}

int
http_write(struct http_req *r, const void *buf, size_t len)
{
	const char *p = buf;
	int chunk;

	if (r->gone)
		return -1;
	while (len > 0) {
		chunk = len > 0x40000000 ? 0x40000000 : (int)len;
		if (FCGX_PutStr(p, chunk, r->fr->out) != chunk ||
		    FCGX_GetError(r->fr->out) != 0) {
			r->gone = 1;
			return -1;
		}
		p += chunk;
		len -= (size_t)chunk;
		r->bytes_out += chunk;
	}
	return 0;
}

int
http_flush(struct http_req *r)
{

	if (r->gone)
		return -1;
	/* FCGX_FFlush fails only once; the stream's error stays set. */
	if (FCGX_FFlush(r->fr->out) != 0 || FCGX_GetError(r->fr->out) != 0) {
		r->gone = 1;
		return -1;
	}
	return 0;
}

int
http_client_gone(struct http_req *r)
{
	struct pollfd p;

	if (r->gone)
		return 1;
	if (FCGX_GetError(r->fr->out) != 0) {
		r->gone = 1;
		return 1;
	}
	p.fd = r->fr->ipcFd;
	p.events = POLLRDHUP;
	p.revents = 0;
	if (p.fd >= 0 && poll(&p, 1, 0) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
		r->gone = 1;
		return 1;
	}
	return 0;
}

const char *
http_type(const struct http_req *r, const char *openai, const char *anthropic)
{

	return r->family == HTTP_FAMILY_ANTHROPIC ? anthropic : openai;
}

void
http_reply(struct http_req *r, int status, const char *ctype, const void *body,
    size_t len)
{
	char extra[64];

	snprintf(extra, sizeof(extra), "Content-Length: %zu\r\n", len);
	http_begin(r, status, ctype, extra);
	http_write(r, body, len);
}

void
http_reply_json(struct http_req *r, int status, const cJSON *json)
{
	char *s;

	if ((s = cJSON_PrintUnformatted(json)) == NULL) {
		http_error(r, 503, "server_error", "out of memory");
		return;
	}
	http_reply(r, status, "application/json", s, strlen(s));
	cJSON_free(s);
}

void
http_error_ex(struct http_req *r, int status, const char *type,
    const char *message, const char *extra)
{
	cJSON *root = NULL, *err = NULL;
	char code[16], *s = NULL, hdr[64];

	if (r->headers_sent)
		return;
	if ((root = cJSON_CreateObject()) == NULL || (err = cJSON_CreateObject()) == NULL)
		goto fallback;
	if (r->family == HTTP_FAMILY_ANTHROPIC) {
		cJSON_AddStringToObject(root, "type", "error");
		cJSON_AddItemToObject(root, "error", err);
		cJSON_AddStringToObject(err, "type", type);
		cJSON_AddStringToObject(err, "message", message);
	} else {
		snprintf(code, sizeof(code), "%d", status);
		cJSON_AddItemToObject(root, "error", err);
		cJSON_AddStringToObject(err, "message", message);
		cJSON_AddStringToObject(err, "type", type);
		cJSON_AddStringToObject(err, "code", code);
	}
	err = NULL;
	if ((s = cJSON_PrintUnformatted(root)) == NULL)
		goto fallback;
	snprintf(hdr, sizeof(hdr), "Content-Length: %zu\r\n", strlen(s));
	http_begin_ex(r, status, "application/json", hdr, extra);
	http_write(r, s, strlen(s));
	cJSON_free(s);
	cJSON_Delete(root);
	return;
fallback:
	/* Out of memory: a constant body in the right shape. */
	cJSON_Delete(err);
	cJSON_Delete(root);
	status = 503;
	http_begin(r, status, "application/json", extra);
	if (r->family == HTTP_FAMILY_ANTHROPIC)
		s = "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
		    "\"message\":\"out of memory\"}}";
	else
		s = "{\"error\":{\"message\":\"out of memory\","
		    "\"type\":\"server_error\",\"code\":\"503\"}}";
	http_write(r, s, strlen(s));
}

void
http_error(struct http_req *r, int status, const char *type, const char *message)
{

	http_error_ex(r, status, type, message, NULL);
}
