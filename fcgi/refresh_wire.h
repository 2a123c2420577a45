/* refresh_wire.h: the bytes of a token refresh: the request body made from its template, and the answer read. */
#ifndef QP_REFRESH_WIRE_H
#define QP_REFRESH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Longest access or refresh token kept (bytes); a longer one is refused. */
#define REFRESH_TOKEN_MAX	8192
/* Longest answer of a token endpoint read (bytes); the rest ends the refresh. */
#define REFRESH_ANSWER_MAX	(64 * 1024)
/* Longest expiry accepted (seconds): ten years. */
#define REFRESH_EXPIRES_MAX	(10LL * 366 * 86400)
/* Longest field path ("a.b.c") of a token, expiry or refresh-token field. */
#define REFRESH_FIELD_MAX	128

/* How the request body is written (content_type of the account's refresh). */
enum refresh_wire_type {
	REFRESH_WIRE_JSON,	/* application/json: a JSON object */
	REFRESH_WIRE_FORM,	/* application/x-www-form-urlencoded: name=value&... */
	REFRESH_WIRE_TYPE__MAX
};

/* What reading a token endpoint's answer found. */
enum refresh_wire_result {
	REFRESH_WIRE_OK,		/* a token (and maybe an expiry, a refresh token) */
	REFRESH_WIRE_NOT_JSON,		/* the answer is not a JSON object */
	REFRESH_WIRE_NO_TOKEN,		/* no string at the token field */
	REFRESH_WIRE_BAD_TOKEN,		/* a token empty, too long, or not printable ASCII */
	REFRESH_WIRE_BAD_EXPIRY,	/* the expiry is not a number of seconds in range */
	REFRESH_WIRE_BAD_REFRESH,	/* the refresh token is not a usable token */
	REFRESH_WIRE_NOMEM,		/* out of memory */
	REFRESH_WIRE__MAX
};

/* What a token endpoint answered; owned, released with refresh_wire_answer_free(). */
struct refresh_wire_answer {
	char		*access_token;	/* the new token: a secret, NUL-terminated */
	char		*refresh_token;	/* a rotated refresh token (secret), NULL = none */
	int64_t		 expires_in_ms;	/* lifetime from now, -1 = the answer gave none */
};

/*
 * Checks a body template of type t (len bytes, untrusted): a JSON object,
 * or name=value pairs joined by '&' with non-empty names, without control
 * characters. Returns NULL if usable, else a constant sentence saying what
 * is wrong (never quoting the body). Thread-safe.
 */
const char	*refresh_wire_body_problem(const char *body, size_t len,
		    enum refresh_wire_type t);

/*
 * Makes the request body from template body (len bytes, of type t): with
 * rt NULL, the template as it is; else the template with the value of
 * field (a top-level member of the JSON object; the pair whose decoded
 * name is field in a form) replaced by rt, or rt added under field when
 * the template has none. A form value is percent-encoded. *out receives
 * the body (NUL-terminated, a secret: the caller frees it with
 * crypto_free_wiped(*out, *outlen)) and *outlen its bytes. QP_EINVAL if
 * the template does not pass refresh_wire_body_problem(), QP_ENOMEM.
 * Thread-safe.
 */
enum qp_err	 refresh_wire_body(const char *body, size_t len, enum refresh_wire_type t,
		    const char *field, const char *rt, char **out, size_t *outlen);

/*
 * Reads a token endpoint's answer (buf, len: untrusted, at most
 * REFRESH_ANSWER_MAX bytes are looked at; need not be NUL-terminated).
 * Each field names a member by a path of names joined by '.'
 * ("data.access_token"). token_field must hold a string token;
 * expires_field (NULL = not read) a number of seconds, or a string of
 * digits, from 0 to REFRESH_EXPIRES_MAX; rt_field (NULL = not read) a
 * string token, or nothing (null or absent: no rotation). A token is 1 to
 * REFRESH_TOKEN_MAX bytes of printable ASCII without spaces. Fills a (all
 * NULL/-1 unless REFRESH_WIRE_OK) and returns what was found. Thread-safe.
 */
enum refresh_wire_result refresh_wire_answer(const char *buf, size_t len,
		    const char *token_field, const char *expires_field, const char *rt_field,
		    struct refresh_wire_answer *a);

/* Wipes and frees what a holds, and empties it. NULL is allowed. */
void		 refresh_wire_answer_free(struct refresh_wire_answer *a);

/* Returns the constant name of r ("no_token", ...), for reasons and logs. */
const char	*refresh_wire_result_name(enum refresh_wire_result r);

#endif /* QP_REFRESH_WIRE_H */
