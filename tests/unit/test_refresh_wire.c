/* test_refresh_wire.c: a refresh's body made from its template, and token endpoints' answers read. */
#include <string.h>

#include "../tap.h"
#include "crypto.h"
#include "refresh_wire.h"

/* One answer and what reading it must give. */
static const struct {
	const char	*name;
	const char	*in;
	const char	*tf, *ef, *rf;	/* fields */
	enum refresh_wire_result res;
	const char	*token;		/* NULL = none */
	int64_t		 expires_ms;	/* -1 = none */
	const char	*rt;		/* NULL = none */
} answers[] = {
	{ "OAuth answer", "{\"access_token\":\"at-1\",\"token_type\":\"Bearer\",\"expires_in\":3600,"
	  "\"refresh_token\":\"rt-2\"}", "access_token", "expires_in", "refresh_token",
	  REFRESH_WIRE_OK, "at-1", 3600000, "rt-2" },
	{ "no rotation", "{\"access_token\":\"at-1\",\"expires_in\":60}", "access_token",
	  "expires_in", "refresh_token", REFRESH_WIRE_OK, "at-1", 60000, NULL },
	{ "refresh_token null", "{\"access_token\":\"at\",\"refresh_token\":null}", "access_token",
	  NULL, "refresh_token", REFRESH_WIRE_OK, "at", -1, NULL },
	{ "expiry as a string", "{\"access_token\":\"at\",\"expires_in\":\"120\"}", "access_token",
	  "expires_in", NULL, REFRESH_WIRE_OK, "at", 120000, NULL },
	{ "fractional expiry", "{\"access_token\":\"at\",\"expires_in\":1.5}", "access_token",
	  "expires_in", NULL, REFRESH_WIRE_OK, "at", 1500, NULL },
	{ "expiry not asked", "{\"access_token\":\"at\",\"expires_in\":\"soon\"}", "access_token",
	  NULL, NULL, REFRESH_WIRE_OK, "at", -1, NULL },
	{ "expiry absent", "{\"access_token\":\"at\"}", "access_token", "expires_in", NULL,
	  REFRESH_WIRE_OK, "at", -1, NULL },
	{ "dotted paths", "{\"data\":{\"token\":\"t.x-y_z~\",\"ttl\":5}}", "data.token", "data.ttl",
	  NULL, REFRESH_WIRE_OK, "t.x-y_z~", 5000, NULL },
	{ "duplicate key: the last", "{\"access_token\":\"old\",\"access_token\":\"new\"}",
	  "access_token", NULL, NULL, REFRESH_WIRE_OK, "new", -1, NULL },
	{ "not JSON", "access_token=at&expires_in=3", "access_token", NULL, NULL,
	  REFRESH_WIRE_NOT_JSON, NULL, -1, NULL },
	{ "an array", "[\"at\"]", "access_token", NULL, NULL, REFRESH_WIRE_NOT_JSON, NULL, -1,
	  NULL },
	{ "empty", "", "access_token", NULL, NULL, REFRESH_WIRE_NOT_JSON, NULL, -1, NULL },
	{ "error answer", "{\"error\":\"invalid_grant\"}", "access_token", "expires_in",
	  "refresh_token", REFRESH_WIRE_NO_TOKEN, NULL, -1, NULL },
	{ "token null", "{\"access_token\":null}", "access_token", NULL, NULL,
	  REFRESH_WIRE_NO_TOKEN, NULL, -1, NULL },
	{ "token a number", "{\"access_token\":12}", "access_token", NULL, NULL,
	  REFRESH_WIRE_NO_TOKEN, NULL, -1, NULL },
	{ "path through a string", "{\"data\":\"x\"}", "data.token", NULL, NULL,
	  REFRESH_WIRE_NO_TOKEN, NULL, -1, NULL },
	{ "token with a space", "{\"access_token\":\"a b\"}", "access_token", NULL, NULL,
	  REFRESH_WIRE_BAD_TOKEN, NULL, -1, NULL },
	{ "token with a line break", "{\"access_token\":\"a\\nb\"}", "access_token", NULL, NULL,
	  REFRESH_WIRE_BAD_TOKEN, NULL, -1, NULL },
	{ "empty token", "{\"access_token\":\"\"}", "access_token", NULL, NULL,
	  REFRESH_WIRE_BAD_TOKEN, NULL, -1, NULL },
	{ "negative expiry", "{\"access_token\":\"at\",\"expires_in\":-1}", "access_token",
	  "expires_in", NULL, REFRESH_WIRE_BAD_EXPIRY, NULL, -1, NULL },
	{ "expiry past ten years", "{\"access_token\":\"at\",\"expires_in\":1e12}", "access_token",
	  "expires_in", NULL, REFRESH_WIRE_BAD_EXPIRY, NULL, -1, NULL },
	{ "expiry string not digits", "{\"access_token\":\"at\",\"expires_in\":\"12s\"}",
	  "access_token", "expires_in", NULL, REFRESH_WIRE_BAD_EXPIRY, NULL, -1, NULL },
	{ "expiry a bool", "{\"access_token\":\"at\",\"expires_in\":true}", "access_token",
	  "expires_in", NULL, REFRESH_WIRE_BAD_EXPIRY, NULL, -1, NULL },
	{ "refresh token an object", "{\"access_token\":\"at\",\"refresh_token\":{}}",
	  "access_token", NULL, "refresh_token", REFRESH_WIRE_BAD_REFRESH, NULL, -1, NULL },
	{ "too deep", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	  "[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	  "access_token", NULL, NULL, REFRESH_WIRE_NOT_JSON, NULL, -1, NULL },
};

/* One body made from a template, and what it must be. */
static const struct {
	const char	*name;
	const char	*tmpl;
	enum refresh_wire_type t;
	const char	*rt;		/* NULL = the template as is */
	const char	*want;		/* NULL = QP_EINVAL */
} bodies[] = {
	{ "JSON as is", "{\"grant_type\":\"refresh_token\", \"refresh_token\":\"r1\"}",
	  REFRESH_WIRE_JSON, NULL, "{\"grant_type\":\"refresh_token\", \"refresh_token\":\"r1\"}" },
	{ "JSON replaced", "{\"grant_type\":\"refresh_token\",\"refresh_token\":\"r1\","
	  "\"client_id\":\"c\"}", REFRESH_WIRE_JSON, "r2",
	  "{\"grant_type\":\"refresh_token\",\"client_id\":\"c\",\"refresh_token\":\"r2\"}" },
	{ "JSON duplicates replaced", "{\"refresh_token\":\"r0\",\"refresh_token\":\"r1\"}",
	  REFRESH_WIRE_JSON, "r2", "{\"refresh_token\":\"r2\"}" },
	{ "JSON added", "{\"grant_type\":\"client_credentials\"}", REFRESH_WIRE_JSON, "r2",
	  "{\"grant_type\":\"client_credentials\",\"refresh_token\":\"r2\"}" },
	{ "JSON quote escaped", "{}", REFRESH_WIRE_JSON, "a\"b", "{\"refresh_token\":\"a\\\"b\"}" },
	{ "JSON not an object", "[1]", REFRESH_WIRE_JSON, "r2", NULL },
	{ "JSON not JSON", "{refresh_token: r1}", REFRESH_WIRE_JSON, NULL, NULL },
	{ "form as is", "grant_type=refresh_token&refresh_token=r1", REFRESH_WIRE_FORM, NULL,
	  "grant_type=refresh_token&refresh_token=r1" },
	{ "form replaced", "grant_type=refresh_token&refresh_token=r1&client_id=c",
	  REFRESH_WIRE_FORM, "r/2+=", "grant_type=refresh_token&refresh_token=r%2F2%2B%3D"
	  "&client_id=c" },
	{ "form name encoded", "refresh%5Ftoken=r1", REFRESH_WIRE_FORM, "r2",
	  "refresh%5Ftoken=r2" },
	{ "form only the first", "refresh_token=r1&refresh_token=r0", REFRESH_WIRE_FORM, "r2",
	  "refresh_token=r2&refresh_token=r0" },
	{ "form prefix is another name", "refresh_token_x=1", REFRESH_WIRE_FORM, "r2",
	  "refresh_token_x=1&refresh_token=r2" },
	{ "form added", "grant_type=client_credentials", REFRESH_WIRE_FORM, "r2",
	  "grant_type=client_credentials&refresh_token=r2" },
	{ "form empty value", "refresh_token=", REFRESH_WIRE_FORM, "r2", "refresh_token=r2" },
	{ "form without '='", "refresh_token", REFRESH_WIRE_FORM, NULL, NULL },
	{ "form empty pair", "a=1&&b=2", REFRESH_WIRE_FORM, NULL, NULL },
	{ "form with a space", "a=1 2", REFRESH_WIRE_FORM, NULL, NULL },
	{ "empty", "", REFRESH_WIRE_FORM, NULL, NULL },
	{ "line break", "{\"a\":\n1}", REFRESH_WIRE_JSON, NULL, NULL },
};

int
main(void)
{
	struct refresh_wire_answer a;
	enum refresh_wire_result r;
	char *out, big[REFRESH_TOKEN_MAX + 64];
	size_t i, olen;
	enum qp_err err;

	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		r = refresh_wire_answer(answers[i].in, strlen(answers[i].in), answers[i].tf,
		    answers[i].ef, answers[i].rf, &a);
		is_str(refresh_wire_result_name(r), refresh_wire_result_name(answers[i].res),
		    "%s: result", answers[i].name);
		if (answers[i].token != NULL)
			is_str(a.access_token, answers[i].token, "%s: token", answers[i].name);
		else
			ok(a.access_token == NULL, "%s: no token", answers[i].name);
		is_int(a.expires_in_ms, answers[i].expires_ms, "%s: expiry", answers[i].name);
		if (answers[i].rt != NULL)
			is_str(a.refresh_token, answers[i].rt, "%s: refresh token", answers[i].name);
		else
			ok(a.refresh_token == NULL, "%s: no refresh token", answers[i].name);
		refresh_wire_answer_free(&a);
	}
	/* A token of REFRESH_TOKEN_MAX bytes is kept, one more is refused. */
	for (i = 0; i < 2; i++) {
		memcpy(big, "{\"access_token\":\"", 17);
		memset(big + 17, 'x', REFRESH_TOKEN_MAX + i);
		memcpy(big + 17 + REFRESH_TOKEN_MAX + i, "\"}", 3);
		r = refresh_wire_answer(big, strlen(big), "access_token", NULL, NULL, &a);
		is_int(r, i == 0 ? REFRESH_WIRE_OK : REFRESH_WIRE_BAD_TOKEN,
		    "token of %zu bytes", REFRESH_TOKEN_MAX + i);
		refresh_wire_answer_free(&a);
	}
	r = refresh_wire_answer(NULL, 0, "access_token", NULL, NULL, &a);
	is_int(r, REFRESH_WIRE_NOT_JSON, "no answer at all");
	r = refresh_wire_answer("{\"access_token\":\"at\"}  junk", 27, "access_token", NULL, NULL,
	    &a);
	is_int(r, REFRESH_WIRE_NOT_JSON, "bytes after the object");

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		err = refresh_wire_body(bodies[i].tmpl, strlen(bodies[i].tmpl), bodies[i].t,
		    "refresh_token", bodies[i].rt, &out, &olen);
		if (bodies[i].want == NULL) {
			ok(err == QP_EINVAL && out == NULL, "%s: refused", bodies[i].name);
			ok(refresh_wire_body_problem(bodies[i].tmpl, strlen(bodies[i].tmpl),
			    bodies[i].t) != NULL, "%s: the check says why", bodies[i].name);
			continue;
		}
		ok(err == QP_OK && out != NULL, "%s: made", bodies[i].name);
		is_str(out, bodies[i].want, "%s: body", bodies[i].name);
		is_int(olen, strlen(bodies[i].want), "%s: length", bodies[i].name);
		crypto_free_wiped(out, olen);
	}
	is_str(refresh_wire_result_name(REFRESH_WIRE_NO_TOKEN), "no_token", "result name");
	return done_testing();
}
