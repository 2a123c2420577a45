/* dashboard_session.c: dashboard logins: form and cookie parsers, sessions, the access gate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authfail.h"
#include "crypto.h"
#include "dashboard.h"
#include "dashboard_int.h"
#include "db.h"
#include "keys.h"

/* ---- parsers of untrusted bytes --------------------------------------- */

/* Returns the value of hex digit c, or -1. */
static int
dashboard_hexval(unsigned char c)
{

	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes s[0..len) (form encoding) into out (cap bytes, may be NULL to
 * only check); *n gets the decoded length.
 */
static enum qp_err
dashboard_form_decode(const char *s, size_t len, char *out, size_t cap, size_t *n)
{
	size_t i, o = 0;
	int hi, lo;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (len - i < 3)
				return QP_EINVAL;
			hi = dashboard_hexval((unsigned char)s[i + 1]);
			lo = dashboard_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return QP_EINVAL;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0')
			return QP_EINVAL;
		if (out != NULL) {
			if (o + 1 >= cap)
				return QP_ETOOBIG;
			out[o] = (char)c;
		}
		o++;
	}
	if (out != NULL)
		out[o] = '\0';
	*n = o;
	return QP_OK;
}

enum qp_err
dashboard_form_get(const char *buf, size_t len, const char *name, char *out, size_t outlen,
    size_t *outn)
{
	char fname[DASHBOARD_VALUE_MAX];
	const char *p = buf, *end = buf + len, *amp, *eq;
	size_t flen, vlen, n;
	int found = 0;
	enum qp_err err;

	if (outlen == 0)
		return QP_ETOOBIG;
	out[0] = '\0';
	*outn = 0;
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		flen = (size_t)((eq != NULL ? eq : amp) - p);
		err = dashboard_form_decode(p, flen, fname, sizeof(fname), &n);
		if (err == QP_OK && strcmp(fname, name) == 0) {
			if (found)
				return QP_EINVAL;
			found = 1;
			vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
			err = dashboard_form_decode(eq != NULL ? eq + 1 : amp, vlen, out, outlen,
			    outn);
			if (err != QP_OK) {
				out[0] = '\0';
				*outn = 0;
				return err;
			}
		} else if (err == QP_EINVAL)
			return err;
		p = amp + 1;
	}
	return found ? QP_OK : QP_ENOTFOUND;
}

enum qp_err
dashboard_cookie_get(const char *buf, size_t len, const char *name, char *out, size_t outlen)
{
	const char *p = buf, *end = buf + len, *semi, *eq, *ks, *ke, *vs, *ve;
	size_t nlen = strlen(name);

	if (outlen == 0)
		return QP_ETOOBIG;
	out[0] = '\0';
	while (p < end) {
		semi = memchr(p, ';', (size_t)(end - p));
		if (semi == NULL)
			semi = end;
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL) {
			ks = p;
			ke = eq;
			while (ks < ke && (*ks == ' ' || *ks == '\t'))
				ks++;
			while (ke > ks && (ke[-1] == ' ' || ke[-1] == '\t'))
				ke--;
			vs = eq + 1;
			ve = semi;
			while (vs < ve && (*vs == ' ' || *vs == '\t'))
				vs++;
			while (ve > vs && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
				vs++;
				ve--;
			}
			if ((size_t)(ke - ks) == nlen && memcmp(ks, name, nlen) == 0) {
				if ((size_t)(ve - vs) >= outlen)
					return QP_ETOOBIG;
				memcpy(out, vs, (size_t)(ve - vs));
				out[ve - vs] = '\0';
				return QP_OK;
			}
		}
		p = semi + 1;
	}
	return QP_ENOTFOUND;
}

/* ---- sessions and access --------------------------------------------- */

/* Hashes the session token of r's cookie into h. Returns 1 if r carries one. */
static int
dashboard_session_hash(struct http_req *r, unsigned char h[CRYPTO_SHA256_LEN])
{
	const char *c = http_param(r, "HTTP_COOKIE");
	char tok[2 * DASHBOARD_TOKEN_BYTES + 1];
	size_t i;

	if (c == NULL || dashboard_cookie_get(c, strlen(c), DASHBOARD_COOKIE, tok,
	    sizeof(tok)) != QP_OK || strlen(tok) != 2 * DASHBOARD_TOKEN_BYTES)
		return 0;
	for (i = 0; i < 2 * DASHBOARD_TOKEN_BYTES; i++)
		if (dashboard_hexval((unsigned char)tok[i]) < 0)
			return 0;
	return crypto_sha256(tok, 2 * DASHBOARD_TOKEN_BYTES, h) == QP_OK;
}

int
dashboard_session_admin(struct worker *w, struct http_req *r)
{
	static const char sql[] =
	    "SELECT 1 FROM dashboard_sessions s JOIN client_keys k ON k.id = s.key_id "
	    "WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND k.revoked_at IS NULL "
	    "AND (k.expires_at IS NULL OR k.expires_at > ?2) AND k.role = 'admin'";
	unsigned char h[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	int ok = 0;

	if (!dashboard_session_hash(r, h) || server_worker_ready(w) != QP_OK)
		return 0;
	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, db_now_ms());
	ok = sqlite3_step(st) == SQLITE_ROW;
out:
	sqlite3_finalize(st);
	return ok;
}

/*
 * Checks access to a page (html) or API answer; answers and returns 0
 * when refused. *admin gets whether r is an admin's.
 */
int
dashboard_gate(struct worker *w, struct http_req *r, int admin_only, int html, int *admin)
{
	const struct config *cfg = w->cfg;
	enum server_role role;
	char retry[32];

	*admin = 0;
	if (!cfg->dashboard.enabled) {
		http_error(r, 404, "invalid_request_error", "the dashboard is disabled");
		return 0;
	}
	if (server_worker_ready(w) != QP_OK) {
		http_error(r, 503, "server_error",
		    "the gateway is not ready: its database is unavailable");
		return 0;
	}
	/* One key check per request: each failed one counts against the address. */
	role = server_auth(w, r);
	*admin = role == SERVER_ROLE_ADMIN || dashboard_session_admin(w, r);
	if (*admin || (!admin_only && cfg->dashboard.public))
		return 1;
	if (html)
		dashboard_redirect(r, "/login", NULL);
	else if (w->auth_retry_s > 0) {
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", w->auth_retry_s);
		http_error_ex(r, 429, "rate_limit_exceeded", "too many failed key checks from "
		    "this address: try again later", retry);
	} else if (role == SERVER_ROLE_CLIENT || role == SERVER_ROLE_WORKER)
		http_error(r, 403, "permission_error", "this needs an admin key");
	else
		http_error_ex(r, 401, "authentication_error", "invalid or missing API key",
		    "WWW-Authenticate: Bearer\r\n");
	return 0;
}

/* Renders the login form with an optional error sentence (and extra header lines). */
static void
dashboard_login_page_ex(struct worker *w, struct http_req *r, int status, const char *error,
    const char *extra)
{
	struct tmpl_out out;
	cJSON *ctx = cJSON_CreateObject();

	tmpl_out_init(&out, 0);
	if (ctx == NULL || dashboard_layout(w, r, ctx, "login", "Log in", NULL, 0) != QP_OK ||
	    (error != NULL && cJSON_AddStringToObject(ctx, "error", error) == NULL) ||
	    dashboard_render("login", ctx, &out) != QP_OK)
		http_error(r, 500, "server_error", "the page could not be built");
	else
		dashboard_send_html(r, status, &out, extra);
	cJSON_Delete(ctx);
	tmpl_out_free(&out);
}

static void
dashboard_login_page(struct worker *w, struct http_req *r, int status, const char *error)
{

	dashboard_login_page_ex(w, r, status, error, NULL);
}

void
dashboard_login_form(struct worker *w, struct http_req *r)
{

	if (!w->cfg->dashboard.enabled) {
		http_error(r, 404, "invalid_request_error", "the dashboard is disabled");
		return;
	}
	dashboard_login_page(w, r, 200, NULL);
}

void
dashboard_login(struct worker *w, struct http_req *r)
{
	static const char del[] = "DELETE FROM dashboard_sessions WHERE expires_at <= ?1";
	static const char ins[] = "INSERT INTO dashboard_sessions "
	    "(token_hash, key_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)";
	unsigned char raw[DASHBOARD_TOKEN_BYTES], h[CRYPTO_SHA256_LEN];
	char tok[2 * DASHBOARD_TOKEN_BYTES + 1], key[DASHBOARD_VALUE_MAX], cookie[512];
	const char *ct = http_param(r, "CONTENT_TYPE");
	struct keys_info info;
	sqlite3_stmt *st = NULL;
	char *body = NULL;
	size_t blen = 0, klen = 0;
	int64_t now = db_now_ms(), mono = db_mono_us() / 1000;
	enum qp_err err;
	int began = 0, retry_s = 0;
	char retry[32];

	if (!w->cfg->dashboard.enabled) {
		http_error(r, 404, "invalid_request_error", "the dashboard is disabled");
		return;
	}
	if (ct == NULL || strncmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		dashboard_login_page(w, r, 415, "The form must be sent as a web form.");
		return;
	}
	err = http_read_body(r, DASHBOARD_FORM_MAX, &body, &blen);
	if (err != QP_OK) {
		if (err == QP_ETOOBIG)
			dashboard_login_page(w, r, 413, "The form is too large.");
		else if (err != QP_ECLOSED)
			http_error(r, 500, "server_error", "the form could not be read");
		goto out;
	}
	if (dashboard_form_get(body, blen, "key", key, sizeof(key), &klen) != QP_OK) {
		dashboard_login_page(w, r, 400, "Enter an admin key.");
		goto out;
	}
	if (server_worker_ready(w) != QP_OK) {
		dashboard_login_page(w, r, 503, "The database is unavailable.");
		goto out;
	}
	/* A throttled address learns nothing about the key it sent. */
	if (authfail_throttled(w->srv->authfail, r->client_addr, mono, &retry_s)) {
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", retry_s);
		dashboard_login_page_ex(w, r, 429, "Too many failed logins from your address: "
		    "try again in a minute.", retry);
		goto out;
	}
	err = keys_verify(w->keys, key, klen, &info);
	if (err == QP_OK && info.role != KEYS_ROLE_ADMIN)
		err = QP_EAUTH;
	if (err == QP_EEXPIRED) {
		dashboard_login_page(w, r, 401, "This key has expired.");
		goto out;
	}
	if (err == QP_EAUTH) {
		authfail_record(w->srv->authfail, AUTHFAIL_LOGIN, r->client_addr, mono);
		dashboard_login_page(w, r, 403, "This is not a valid admin key.");
		goto out;
	}
	if (err != QP_OK) {
		dashboard_login_page(w, r, 503, "The database is unavailable.");
		goto out;
	}
	if (crypto_random(raw, sizeof(raw)) != QP_OK) {
		http_error(r, 500, "server_error", "no randomness for a session");
		goto out;
	}
	crypto_hex(raw, sizeof(raw), tok);
	if (crypto_sha256(tok, strlen(tok), h) != QP_OK ||
	    db_begin_write(w->db) != QP_OK) {
		http_error(r, 500, "server_error", "the session could not be stored");
		goto out;
	}
	began = 1;
	if (sqlite3_prepare_v2(w->db, del, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(w->db, ins, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, info.id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now + DASHBOARD_SESSION_MS);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (db_commit(w->db) != QP_OK)
		goto fail;
	began = 0;
	snprintf(cookie, sizeof(cookie), "Set-Cookie: " DASHBOARD_COOKIE "=%s; HttpOnly; "
	    "SameSite=Strict; Path=%s/; Max-Age=%lld%s\r\n", tok, r->base,
	    (long long)(DASHBOARD_SESSION_MS / 1000), r->client_https ? "; Secure" : "");
	dashboard_redirect(r, "/", cookie);
	goto out;
fail:
	http_error(r, 500, "server_error", "the session could not be stored");
out:
	sqlite3_finalize(st);
	if (began)
		db_rollback(w->db);
	crypto_wipe(key, sizeof(key));
	crypto_wipe(tok, sizeof(tok));
	if (body != NULL)
		crypto_wipe(body, blen);
	free(body);
}

void
dashboard_logout(struct worker *w, struct http_req *r)
{
	static const char sql[] = "DELETE FROM dashboard_sessions WHERE token_hash = ?1";
	unsigned char h[CRYPTO_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	char cookie[384];

	if (dashboard_session_hash(r, h) && server_worker_ready(w) == QP_OK &&
	    sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
		(void)sqlite3_step(st);
	}
	sqlite3_finalize(st);
	snprintf(cookie, sizeof(cookie), "Set-Cookie: " DASHBOARD_COOKIE "=; HttpOnly; "
	    "SameSite=Strict; Path=%s/; Max-Age=0\r\n", r->base);
	dashboard_redirect(r, "/login", cookie);
}
