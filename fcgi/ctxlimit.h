/* ctxlimit.h: a model's context limits, and whether a request is clearly over them. */
#ifndef QP_CTXLIMIT_H
#define QP_CTXLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"

/*
 * Bytes of a request body counted as one token. Text takes 3 to 5 bytes
 * per token in the usual tokenizers, and a JSON body adds its keys,
 * quotes and escapes: dividing by 8 undercounts, so a request the
 * estimate puts over a limit is over it by a wide margin.
 */
#define CTXLIMIT_BYTES_PER_TOKEN	8
/*
 * A JSON string of at least this many bytes made only of the base64
 * alphabet (an image, a PDF or audio sent inline) is left out of the
 * estimate, as is the payload of a "data:...;base64," URL of any length:
 * its tokens cannot be told from its bytes.
 */
#define CTXLIMIT_BLOB_MIN		256

/* What a request needs, as estimated before it is sent. */
struct ctxlimit_need {
	int64_t		 input;		/* prompt tokens, a lower bound (ctxlimit_estimate()) */
	int64_t		 output;	/* answer tokens the client asked for, 0 = none said */
	int64_t		 blob_bytes;	/* bytes of inline binary data left out of input */
};

/* The limits of one model at one provider. 0 = unknown (no check). */
struct ctxlimit {
	int64_t		 context;	/* prompt and answer together */
	int64_t		 input;		/* prompt alone */
	int64_t		 output;	/* answer */
	int		 enforce;	/* 0 = known but not checked ([model_overrides] says so) */
};

/*
 * Estimates what a request body needs: input = (body_len - the bytes of
 * inline binary data) / CTXLIMIT_BYTES_PER_TOKEN, rounded down; output
 * = its "max_completion_tokens", else "max_tokens", else
 * "max_output_tokens" (a positive integer at the top level of root),
 * else 0. root may be NULL (output 0, nothing left out). Thread-safe.
 */
void		 ctxlimit_estimate(const cJSON *root, size_t body_len, struct ctxlimit_need *need);

/*
 * The limits of model at a provider whose model list said catalog_context
 * and catalog_output (0 = not said): each field of the model's
 * [model_overrides] entry o (NULL = none) that is set wins; enforce is
 * o's enforce_context_limit, 1 without an override. Thread-safe.
 */
void		 ctxlimit_effective(const struct config_model_override *o, int64_t catalog_context,
		    int64_t catalog_output, struct ctxlimit *lim);

/*
 * Returns 1 if need is clearly over lim: lim->enforce is set, and either
 * the input is above lim->input, or the input plus the output asked for
 * (at most lim->output, which a provider would cut it to) is above
 * lim->context. Unknown limits are never exceeded. Thread-safe.
 */
int		 ctxlimit_exceeds(const struct ctxlimit *lim, const struct ctxlimit_need *need);

#endif /* QP_CTXLIMIT_H */
