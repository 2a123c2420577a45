/*
 * fuzz_http.c: http.c's parameter and header handling on arbitrary
 * bytes, through in-memory FastCGI streams. Input: 1 byte of flags
 * (bits 0-1: body bound, bit 2: answer with an error rather than a
 * header block, bits 3-7: piece size of the body read), then fields
 * separated by NUL: REQUEST_URI, CONTENT_LENGTH, Authorization,
 * x-api-key, a content type, an error message, and the body (the rest).
 * A field that is absent stays unset. Checks: the path and query split
 * of the URI, the protocol family, the presented key (the header part of
 * server_auth's key check: found exactly as a reference reading finds
 * it), the body read (exact bytes, or QP_ETOOBIG only past the bound),
 * and a response whose header lines are each whole and CRLF-ended, with
 * the /v1 security headers, a Content-Length that is the body's, and an
 * error body that parses in the client's family and carries the message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "bounds.h"
#include "http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fields of the input, in order. */
enum { F_URI, F_CL, F_AUTH, F_XKEY, F_CTYPE, F_MSG, F_BODY, F__MAX };

/* A stream's bytes: the input of a reader, the output of a writer. */
struct mem {
	unsigned char	 buf[64];	/* the stream's buffer */
	const char	*src;		/* reader: bytes left to hand over */
	size_t		 srclen;
	size_t		 piece;		/* reader: bytes per fill */
	char		*out;		/* writer: everything written */
	size_t		 outlen;
};

static void
mem_fill(FCGX_Stream *s)
{
	struct mem *m = s->data;
	size_t n = m->srclen < m->piece ? m->srclen : m->piece;

	if (n > sizeof(m->buf))
		n = sizeof(m->buf);
	if (n == 0) {
		s->isClosed = 1;
		s->rdNext = s->stop = m->buf;
		return;
	}
	memcpy(m->buf, m->src, n);
	m->src += n;
	m->srclen -= n;
	s->rdNext = m->buf;
	s->stop = m->buf + n;
}

static void
mem_empty(FCGX_Stream *s, int doClose)
{
	struct mem *m = s->data;
	size_t n = (size_t)(s->wrNext - m->buf);

	(void)doClose;
	if ((m->out = realloc(m->out, m->outlen + n + 1)) == NULL)
		abort();
	memcpy(m->out + m->outlen, m->buf, n);
	m->outlen += n;
	m->out[m->outlen] = '\0';
	s->wrNext = m->buf;
}

static void
mem_stream(FCGX_Stream *s, struct mem *m, int reader)
{
	memset(s, 0, sizeof(*s));
	s->isReader = reader;
	s->data = m;
	s->fillBuffProc = mem_fill;
	s->emptyBuffProc = mem_empty;
	s->rdNext = s->stop = s->stopUnget = m->buf;
	s->wrNext = m->buf;
	if (!reader)
		s->stop = m->buf + sizeof(m->buf);
}

/* Returns 1 if path contains seg ending there or followed by '/'. */
static int
ref_segment(const char *path, const char *seg)
{
	size_t n = strlen(seg);
	const char *m;

	for (m = strstr(path, seg); m != NULL; m = strstr(m + 1, seg))
		if (m[n] == '\0' || m[n] == '/')
			return 1;
	return 0;
}

/* The reference family rule, written apart from http.c: Anthropic for /v1/messages[/...], and
 * for /v1/models[/...] when the client sends anthropic-version. */
static int
ref_anthropic(const char *path, const char *av)
{

	return ref_segment(path, "/v1/messages") || (av != NULL && av[0] != '\0' &&
	    ref_segment(path, "/v1/models"));
}

/* The reference reading of a presented key, written apart from http.c. */
static const char *
ref_key(const char *auth, const char *xkey, size_t *len)
{
	const char *v = NULL;
	size_t n;

	if (auth != NULL && strlen(auth) > 6 && strncasecmp(auth, "bearer", 6) == 0 &&
	    (auth[6] == ' ' || auth[6] == '\t'))
		v = auth + 6;
	else if (xkey != NULL)
		v = xkey;
	if (v == NULL)
		return NULL;
	v += strspn(v, " \t");
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n > QP_HEADER_MAX)
		return NULL;
	*len = n;
	return v;
}

/* Checks a response's header block and returns its end (the body), or aborts. */
static const char *
check_head(const char *out, size_t outlen, int api, const char *ctype, long long *clen)
{
	const char *end = strstr(out, "\r\n\r\n"), *p = out, *nl;
	int ctypes = 0, nosniff = 0, csp = 0, uids = 0;
	size_t cl = strlen(ctype);

	if (end == NULL || strncmp(out, "Status: ", 8) != 0 || (size_t)(end - out) > outlen)
		abort();
	*clen = -1;
	while (p < end + 2) {
		nl = strstr(p, "\r\n");
		if (nl == NULL || nl == p || memchr(p, '\n', (size_t)(nl - p)) != NULL ||
		    memchr(p, '\r', (size_t)(nl - p)) != NULL || memchr(p, ':', (size_t)(nl - p)) == NULL)
			abort();	/* every header line whole, one per CRLF */
		if (strncmp(p, "Content-Type: ", 14) == 0) {
			/* Whole, or the guard's replacement: never cut, never spliced. */
			if ((size_t)(nl - p) != 14 + cl || memcmp(p + 14, ctype, cl) != 0)
				abort();
			ctypes++;
		}
		if (strncmp(p, "x-proxy-request-id: 0123-uid\r\n", 30) == 0)
			uids++;
		if (strncmp(p, "X-Content-Type-Options: nosniff\r\n", 33) == 0)
			nosniff++;
		if (strncmp(p, "Content-Security-Policy: default-src 'none'", 43) == 0)
			csp++;
		if (strncmp(p, "Content-Length: ", 16) == 0)
			*clen = strtoll(p + 16, NULL, 10);
		p = nl + 2;
	}
	if (ctypes != 1 || uids != 1 || nosniff != api || csp != api)
		abort();
	return end + 4;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bounds[4] = { 0, 16, 1024, 65536 };
	const char *f[F__MAX] = { NULL }, *p, *e, *key, *want;
	char *env[F__MAX + 1], *copy, *body = NULL;
	struct mem min, mout;
	FCGX_Stream in, out;
	FCGX_Request fr;
	struct http_req r;
	size_t nf = 0, len = 0, wantlen = 0, blen = 0, bodylen, max, urilen, pathlen;
	long long clen, cl = -1;
	enum qp_err err;
	int n = 0, api;

	if (size < 1)
		return 0;
	/* The fields, NUL-separated; the last one (the body) takes the rest. */
	if ((copy = malloc(size)) == NULL)
		abort();
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	p = copy;
	e = copy + size - 1;
	while (nf < F__MAX && p <= e) {
		f[nf++] = p;
		if (nf == F__MAX)
			break;
		p += strlen(p) + 1;
	}

	/* Parameters as FastCGI hands them over. */
	memset(&fr, 0, sizeof(fr));
	memset(env, 0, sizeof(env));
	{
		static const char *names[] = { "REQUEST_URI=", "CONTENT_LENGTH=",
		    "HTTP_AUTHORIZATION=", "HTTP_X_API_KEY=" };
		int i;

		for (i = 0; i < 4; i++) {
			if (f[i] == NULL)
				continue;
			if ((env[n] = malloc(strlen(names[i]) + strlen(f[i]) + 1)) == NULL)
				abort();
			strcpy(env[n], names[i]);
			strcat(env[n], f[i]);
			n++;
		}
	}
	fr.envp = env;
	fr.ipcFd = -1;
	memset(&min, 0, sizeof(min));
	memset(&mout, 0, sizeof(mout));
	min.src = f[F_BODY] != NULL ? f[F_BODY] : "";
	min.srclen = f[F_BODY] != NULL ? (size_t)(copy + size - 1 - f[F_BODY]) : 0;
	min.piece = 1 + (data[0] >> 3);
	mem_stream(&in, &min, 1);
	mem_stream(&out, &mout, 0);
	fr.in = &in;
	fr.out = &out;
	http_req_init(&r, &fr);

	/* The path and query of REQUEST_URI. */
	urilen = f[F_URI] != NULL ? strlen(f[F_URI]) : 1;
	pathlen = f[F_URI] != NULL ? strcspn(f[F_URI], "?") : 1;
	if (strlen(r.path) != (pathlen > HTTP_PATH_MAX ? HTTP_PATH_MAX : pathlen) ||
	    r.path_too_long != (pathlen > HTTP_PATH_MAX) || strchr(r.path, '?') != NULL)
		abort();
	if (f[F_URI] != NULL && (memcmp(r.path, f[F_URI], strlen(r.path)) != 0 ||
	    strcmp(r.query, pathlen < urilen ? f[F_URI] + pathlen + 1 : "") != 0))
		abort();
	if ((r.family == HTTP_FAMILY_ANTHROPIC) != ref_anthropic(r.path,
	    http_param(&r, "HTTP_ANTHROPIC_VERSION")))
		abort();
	if ((f[F_CL] == NULL) != (http_param(&r, "CONTENT_LENGTH") == NULL) ||
	    http_param(&r, "HTTP_NOT_SENT") != NULL)
		abort();

	/* The presented key, as the reference reads it. */
	key = http_presented_key(&r, &len);
	want = ref_key(f[F_AUTH], f[F_XKEY], &wantlen);
	if ((key == NULL) != (want == NULL) || (key != NULL && (len != wantlen ||
	    memcmp(key, want, len) != 0)))
		abort();

	/* The body: its exact bytes, or too big only past the bound. */
	max = bounds[data[0] & 3];
	if (f[F_CL] != NULL) {
		char *end;

		cl = strtoll(f[F_CL], &end, 10);
		if (*end != '\0' || f[F_CL][0] == '\0' || cl < 0)
			cl = -1;
	}
	bodylen = min.srclen;
	err = http_read_body(&r, max, &body, &blen);
	if (err == QP_OK) {
		if (blen != bodylen || blen > max || body[blen] != '\0' ||
		    (blen > 0 && memcmp(body, f[F_BODY], blen) != 0))
			abort();
	} else if (err != QP_ETOOBIG || (bodylen <= max && !(cl >= 0 &&
	    (unsigned long long)cl > max)))
		abort();
	free(body);

	/* A response: the header block, or an error in the client's family. */
	api = strncmp(r.path, "/v1/", 4) == 0 || strcmp(r.path, "/v1") == 0;
	snprintf(r.uid, sizeof(r.uid), "0123-uid");
	r.attempt_count = data[0];
	if (data[0] & 4) {
		const char *msg = f[F_MSG] != NULL ? f[F_MSG] : "";
		cJSON *root, *eo, *m;

		http_error(&r, 400 + (data[0] & 0x1f), http_type(&r, "invalid_request_error",
		    "invalid_request_error"), msg);
		FCGX_FFlush(&out);
		p = check_head(mout.out, mout.outlen, api, "application/json", &clen);
		if (clen != (long long)(mout.outlen - (size_t)(p - mout.out)))
			abort();
		if ((root = cJSON_ParseWithLength(p, (size_t)clen)) == NULL)
			abort();
		eo = cJSON_GetObjectItemCaseSensitive(root, "error");
		m = cJSON_GetObjectItemCaseSensitive(eo, "message");
		if (!cJSON_IsString(m) || (r.family == HTTP_FAMILY_ANTHROPIC) !=
		    cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "type")))
			abort();
		/* cJSON writes invalid UTF-8 through, so the message comes back whole. */
		if (strcmp(m->valuestring, msg) != 0)
			abort();
		cJSON_Delete(root);
	} else {
		const char *ct = f[F_CTYPE] != NULL ? f[F_CTYPE] : "application/json";
		size_t i;

		http_begin(&r, 200, ct, NULL);
		FCGX_FFlush(&out);
		for (i = 0; ct[i] != '\0'; i++)
			if (((unsigned char)ct[i] < 0x20 && ct[i] != '\t') || ct[i] == 0x7f) {
				ct = "application/octet-stream";
				break;
			}
		check_head(mout.out, mout.outlen, api, ct, &clen);
	}

	free(mout.out);
	while (n > 0)
		free(env[--n]);
	free(copy);
	return 0;
}
