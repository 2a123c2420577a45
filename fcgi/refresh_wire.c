/* refresh_wire.c: the bytes of a token refresh: the request body made from its template, and the answer read. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "json.h"
#include "refresh_wire.h"

static const char *const refresh_wire_names[REFRESH_WIRE__MAX] = {
	[REFRESH_WIRE_OK] = "ok",
	[REFRESH_WIRE_NOT_JSON] = "answer_not_json",
	[REFRESH_WIRE_NO_TOKEN] = "no_token",
	[REFRESH_WIRE_BAD_TOKEN] = "bad_token",
	[REFRESH_WIRE_BAD_EXPIRY] = "bad_expiry",
	[REFRESH_WIRE_BAD_REFRESH] = "bad_refresh_token",
	[REFRESH_WIRE_NOMEM] = "out_of_memory",
};

const char *
refresh_wire_result_name(enum refresh_wire_result r)
{

	return r >= 0 && r < REFRESH_WIRE__MAX ? refresh_wire_names[r] : "unknown";
}

/* 1 if s[0..len) is a token: 1 to REFRESH_TOKEN_MAX bytes of 0x21..0x7e. */
static int
refresh_wire_token_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > REFRESH_TOKEN_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* The member at path "a.b.c" of o, or NULL. */
static const cJSON *
refresh_wire_at(const cJSON *o, const char *path)
{
	char name[REFRESH_FIELD_MAX + 1];
	const char *p = path, *dot;
	size_t n;

	while (o != NULL) {
		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n > REFRESH_FIELD_MAX)
			return NULL;
		memcpy(name, p, n);
		name[n] = '\0';
		o = json_member(o, name);
		if (dot == NULL)
			return o;
		p = dot + 1;
	}
	return NULL;
}

/* Copies a string member that must be a token into *out; 0, or -1 if it is none. */
static int
refresh_wire_take(const cJSON *it, char **out)
{
	size_t len;

	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return -1;
	len = strlen(it->valuestring);
	if (!refresh_wire_token_ok(it->valuestring, len))
		return -1;
	if ((*out = malloc(len + 1)) == NULL)
		return -2;
	memcpy(*out, it->valuestring, len + 1);
	return 0;
}

/* Reads an expiry in seconds into *ms; 0, or -1 if it is none. */
static int
refresh_wire_expiry(const cJSON *it, int64_t *ms)
{
	const char *s;
	int64_t v = 0;
	double d;

	if (cJSON_IsNumber(it)) {
		d = it->valuedouble;
		if (!isfinite(d) || d < 0 || d > (double)REFRESH_EXPIRES_MAX)
			return -1;
		*ms = (int64_t)(d * 1000.0);
		return 0;
	}
	if (!cJSON_IsString(it) || it->valuestring == NULL || it->valuestring[0] == '\0')
		return -1;
	for (s = it->valuestring; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > REFRESH_EXPIRES_MAX)
			return -1;
	}
	*ms = v * 1000;
	return 0;
}

void
refresh_wire_answer_free(struct refresh_wire_answer *a)
{

	if (a == NULL)
		return;
	crypto_free_secret(a->access_token);
	crypto_free_secret(a->refresh_token);
	a->access_token = NULL;
	a->refresh_token = NULL;
	a->expires_in_ms = -1;
}

enum refresh_wire_result
refresh_wire_answer(const char *buf, size_t len, const char *token_field,
    const char *expires_field, const char *rt_field, struct refresh_wire_answer *a)
{
	enum refresh_wire_result res = REFRESH_WIRE_OK;
	const cJSON *it;
	cJSON *root = NULL;
	enum qp_err err;
	int r;

	a->access_token = NULL;
	a->refresh_token = NULL;
	a->expires_in_ms = -1;
	if (len > REFRESH_ANSWER_MAX || buf == NULL ||
	    (root = json_parse(buf, len, &err)) == NULL || !cJSON_IsObject(root)) {
		res = REFRESH_WIRE_NOT_JSON;
		goto out;
	}
	it = refresh_wire_at(root, token_field);
	if (it == NULL || cJSON_IsNull(it)) {
		res = REFRESH_WIRE_NO_TOKEN;
		goto out;
	}
	if ((r = refresh_wire_take(it, &a->access_token)) != 0) {
		res = r == -2 ? REFRESH_WIRE_NOMEM : cJSON_IsString(it) ? REFRESH_WIRE_BAD_TOKEN :
		    REFRESH_WIRE_NO_TOKEN;
		goto out;
	}
	if (expires_field != NULL && (it = refresh_wire_at(root, expires_field)) != NULL &&
	    !cJSON_IsNull(it) && refresh_wire_expiry(it, &a->expires_in_ms) != 0) {
		res = REFRESH_WIRE_BAD_EXPIRY;
		goto out;
	}
	if (rt_field != NULL && (it = refresh_wire_at(root, rt_field)) != NULL &&
	    !cJSON_IsNull(it) && (r = refresh_wire_take(it, &a->refresh_token)) != 0) {
		res = r == -2 ? REFRESH_WIRE_NOMEM : REFRESH_WIRE_BAD_REFRESH;
		goto out;
	}
out:
	cJSON_Delete(root);
	if (res != REFRESH_WIRE_OK)
		refresh_wire_answer_free(a);
	return res;
}

/* ---- the request body --------------------------------------------------- */

/* The value of a hex digit, or -1. */
static int
refresh_wire_hex(char c)
{

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1 if the form name s[0..n) decodes (%XX, '+') to field. */
static int
refresh_wire_name_is(const char *s, size_t n, const char *field)
{
	size_t i, j = 0, flen = strlen(field);
	int hi, lo;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%' && i + 2 < n && (hi = refresh_wire_hex(s[i + 1])) >= 0 &&
		    (lo = refresh_wire_hex(s[i + 2])) >= 0) {
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (j >= flen || field[j] != c)
			return 0;
		j++;
	}
	return j == flen;
}

const char *
refresh_wire_body_problem(const char *body, size_t len, enum refresh_wire_type t)
{
	const char *p, *end, *amp, *eq;
	enum qp_err err;
	cJSON *root;
	size_t i;
	int obj;

	if (body == NULL || len == 0)
		return "is empty";
	for (i = 0; i < len; i++)
		if ((unsigned char)body[i] < 0x20 && body[i] != '\t')
			return "holds a control character";
	if (t == REFRESH_WIRE_JSON) {
		if ((root = json_parse(body, len, &err)) == NULL)
			return "is not JSON";
		obj = cJSON_IsObject(root);
		cJSON_Delete(root);
		return obj ? NULL : "is not a JSON object";
	}
	for (p = body, end = body + len; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL || eq == p)
			return "is not a form (name=value pairs joined by '&')";
		for (i = 0; p + i < amp; i++)
			if (p[i] == ' ' || p[i] == '\t')
				return "holds a space (a form value is percent-encoded)";
		if (amp == end)
			break;
	}
	return NULL;
}

/* A growable byte string. */
struct refresh_wire_buf {
	char	*p;	/* bytes, NUL-terminated */
	size_t	 len;	/* bytes used */
	size_t	 cap;	/* bytes allocated */
};

/* Appends n bytes; -1 when out of memory (b->p is then wiped and freed). */
static int
refresh_wire_add(struct refresh_wire_buf *b, const char *s, size_t n)
{
	size_t cap;
	char *np;

	if (b->len + n + 1 > b->cap) {
		cap = (b->len + n + 1) * 2;
		if ((np = malloc(cap)) == NULL) {
			crypto_free_wiped(b->p, b->cap);
			b->p = NULL;
			return -1;
		}
		if (b->p != NULL)
			memcpy(np, b->p, b->len);
		crypto_free_wiped(b->p, b->cap);
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* Appends s percent-encoded (unreserved bytes as they are). */
static int
refresh_wire_add_enc(struct refresh_wire_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[3];
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			if (refresh_wire_add(b, s, 1) != 0)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		if (refresh_wire_add(b, e, 3) != 0)
			return -1;
	}
	return 0;
}

/* The form body with field's value replaced by (or added as) rt. */
static enum qp_err
refresh_wire_form(const char *body, size_t len, const char *field, const char *rt,
    struct refresh_wire_buf *b)
{
	const char *p, *end = body + len, *amp, *eq;
	int found = 0;

	for (p = body; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (b->len > 0 && refresh_wire_add(b, "&", 1) != 0)
			return QP_ENOMEM;
		if (!found && refresh_wire_name_is(p, (size_t)(eq - p), field)) {
			found = 1;
			if (refresh_wire_add(b, p, (size_t)(eq - p) + 1) != 0 ||
			    refresh_wire_add_enc(b, rt) != 0)
				return QP_ENOMEM;
		} else if (refresh_wire_add(b, p, (size_t)(amp - p)) != 0)
			return QP_ENOMEM;
		if (amp == end)
			break;
	}
	if (found)
		return QP_OK;
	if ((b->len > 0 && refresh_wire_add(b, "&", 1) != 0) || refresh_wire_add_enc(b, field) != 0 ||
	    refresh_wire_add(b, "=", 1) != 0 || refresh_wire_add_enc(b, rt) != 0)
		return QP_ENOMEM;
	return QP_OK;
}

/* The JSON body with member field set to the string rt. */
static enum qp_err
refresh_wire_json(const char *body, size_t len, const char *field, const char *rt,
    struct refresh_wire_buf *b)
{
	enum qp_err err;
	cJSON *root, *s;
	char *text = NULL;

	if ((root = json_parse(body, len, &err)) == NULL)
		return QP_EINVAL;
	if ((s = cJSON_CreateString(rt)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	/* Every duplicate goes, so that no parser on the other side sees an old token. */
	while (cJSON_GetObjectItemCaseSensitive(root, field) != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(root, field);
	if (!cJSON_AddItemToObject(root, field, s)) {
		cJSON_Delete(s);
		err = QP_ENOMEM;
		goto out;
	}
	if ((text = cJSON_PrintUnformatted(root)) == NULL) {
		err = QP_ENOMEM;
		goto out;
	}
	err = refresh_wire_add(b, text, strlen(text)) == 0 ? QP_OK : QP_ENOMEM;
out:
	if (text != NULL)
		crypto_free_secret(text);
	cJSON_Delete(root);
	return err;
}

enum qp_err
refresh_wire_body(const char *body, size_t len, enum refresh_wire_type t, const char *field,
    const char *rt, char **out, size_t *outlen)
{
	struct refresh_wire_buf b = { NULL, 0, 0 };
	enum qp_err err;

	*out = NULL;
	*outlen = 0;
	if (refresh_wire_body_problem(body, len, t) != NULL)
		return QP_EINVAL;
	if (rt == NULL || field == NULL)
		err = refresh_wire_add(&b, body, len) == 0 ? QP_OK : QP_ENOMEM;
	else if (t == REFRESH_WIRE_JSON)
		err = refresh_wire_json(body, len, field, rt, &b);
	else
		err = refresh_wire_form(body, len, field, rt, &b);
	if (err != QP_OK) {
		crypto_free_wiped(b.p, b.cap);
		return err;
	}
	*out = b.p;
	*outlen = b.len;
	return QP_OK;
}
