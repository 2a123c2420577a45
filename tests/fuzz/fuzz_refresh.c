/*
 * fuzz_refresh.c: a token endpoint's answer and a refresh body template on
 * arbitrary bytes. Input: 1 byte (bit 0: the body is a form, bit 1: read
 * an expiry, bit 2: read a rotated refresh token, bit 3: dotted paths),
 * then the bytes, read both as an answer and as a body template. Whatever
 * comes in: a token found is 1 to REFRESH_TOKEN_MAX printable bytes, an
 * expiry lies in [0, REFRESH_EXPIRES_MAX] s, nothing is kept on failure,
 * and a template that passes the check makes a body which passes it too
 * and carries the refresh token put into it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "refresh_wire.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless s is a token as refresh_wire.h defines it. */
static void
fuzz_token(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > REFRESH_TOKEN_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct refresh_wire_answer a;
	enum refresh_wire_result r;
	enum refresh_wire_type t;
	const char *buf = (const char *)data + 1, *tf, *ef, *rf;
	size_t len, olen;
	char *out;
	int dotted;

	if (size < 1)
		return 0;
	len = size - 1;
	dotted = data[0] & 8;
	tf = dotted ? "data.access_token" : "access_token";
	ef = (data[0] & 2) ? (dotted ? "data.expires_in" : "expires_in") : NULL;
	rf = (data[0] & 4) ? "refresh_token" : NULL;
	r = refresh_wire_answer(buf, len, tf, ef, rf, &a);
	if (r < 0 || r >= REFRESH_WIRE__MAX || refresh_wire_result_name(r) == NULL)
		abort();
	if (r == REFRESH_WIRE_OK) {
		fuzz_token(a.access_token);
		if (a.refresh_token != NULL)
			fuzz_token(a.refresh_token);
		if (a.expires_in_ms < -1 || a.expires_in_ms > REFRESH_EXPIRES_MAX * 1000)
			abort();
		if (ef == NULL && a.expires_in_ms != -1)
			abort();
		if (rf == NULL && a.refresh_token != NULL)
			abort();
	} else if (a.access_token != NULL || a.refresh_token != NULL || a.expires_in_ms != -1)
		abort();
	refresh_wire_answer_free(&a);

	t = (data[0] & 1) ? REFRESH_WIRE_FORM : REFRESH_WIRE_JSON;
	if (refresh_wire_body(buf, len, t, "refresh_token", "rt-2/x+y=", &out, &olen) !=
	    QP_OK) {
		if (refresh_wire_body_problem(buf, len, t) == NULL && out == NULL)
			abort();	/* only out of memory may fail a usable template */
		return 0;
	}
	if (refresh_wire_body_problem(out, olen, t) != NULL || strlen(out) != olen)
		abort();
	if (strstr(out, t == REFRESH_WIRE_FORM ? "rt-2%2Fx%2By%3D" : "\"rt-2/x+y=\"") == NULL)
		abort();
	crypto_free_wiped(out, olen);
	return 0;
}
