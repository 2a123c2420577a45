/*
 * fuzz_useragent.c: what a client sends about itself, and the model id it
 * names against alias patterns. Input: lines (split at '\n') of a
 * User-Agent, x-app, originator, X-Stainless-Package-Version and
 * anthropic-version, classified and the user agent kept in buffers of
 * every size up to 300; the whole input is also matched, as a model id,
 * against glob patterns (the first line as one of them), and estimated
 * as a request body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "alias.h"
#include "ctxlimit.h"
#include "useragent.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longest input used: headers and model ids are bounded long before this. */
#define FUZZ_MAX	4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const pats[] = { "*", "?", "claude-*", "*-4-?", "*a*b*c", "**?*", "" };
	struct useragent_in in;
	struct ctxlimit_need need;
	const char *field[5] = { NULL, NULL, NULL, NULL, NULL };
	char *buf, *p, *nl, out[301];
	cJSON *root;
	size_t i, n, k;

	if (size > FUZZ_MAX)
		size = FUZZ_MAX;
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	root = cJSON_ParseWithLength(buf, size);
	ctxlimit_estimate(root, size, &need);
	if (need.input < 0 || need.blob_bytes > (int64_t)size)
		abort();
	cJSON_Delete(root);
	for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
		(void)alias_glob_match(pats[i], buf);
	for (p = buf, k = 0; k < 5; k++) {
		field[k] = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	(void)alias_glob_match(field[0], p);
	in.user_agent = field[0];
	in.x_app = field[1];
	in.originator = field[2];
	in.stainless = field[3];
	in.anthropic_version = field[4];
	if ((unsigned)useragent_classify(&in) >= USERAGENT__MAX)
		abort();
	for (n = 1; n <= sizeof(out); n += 7) {
		k = useragent_clean(in.user_agent, out, n);
		if (k >= n || strlen(out) != k)
			abort();
	}
	free(buf);
	return 0;
}
