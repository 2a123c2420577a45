/*
 * fuzz_reqbody.c: request-body checks on arbitrary bytes. A body that
 * passes must rewrite into a body that passes again, names the base id,
 * keeps the stream flag, and asks for usage when it streams to an
 * OpenAI upstream. Input: 1 byte (bit 0: OpenAI upstream), then the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reqbody.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reqbody rb, again;
	const char *why = NULL;
	char *out = NULL;
	size_t outlen = 0;
	int want_usage;

	if (size < 1)
		return 0;
	want_usage = data[0] & 1;
	if (reqbody_parse(&rb, (const char *)data + 1, size - 1, &why) != QP_OK) {
		if (why == NULL || rb.root != NULL)
			abort();
		return 0;
	}
	if (rb.model == NULL || rb.model[0] == '\0' || why != NULL)
		abort();
	if (reqbody_upstream(&rb, "base-model", want_usage, &out, &outlen) != QP_OK) {
		reqbody_free(&rb);
		return 0;
	}
	if (out != NULL) {
		if (strlen(out) != outlen)
			abort();
		if (reqbody_parse(&again, out, outlen, &why) != QP_OK)
			abort();
		if (strcmp(again.model, "base-model") != 0 || again.stream != rb.stream)
			abort();
		if (want_usage && rb.stream && !again.include_usage)
			abort();
		reqbody_free(&again);
		free(out);
	} else if (strcmp(rb.model, "base-model") != 0 ||
	    (want_usage && rb.stream && !rb.include_usage))
		abort();
	reqbody_free(&rb);
	return 0;
}
