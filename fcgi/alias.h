/* alias.h: [aliases]: glob patterns over client model ids, and the ordered models they route to. */
#ifndef QP_ALIAS_H
#define QP_ALIAS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "select.h"

/*
 * Returns 1 if the model id s matches the glob pat, else 0: '*' matches
 * any run of characters (none included, '/' included), '?' exactly one
 * UTF-8 character, anything else itself (bytes compared, case counts).
 * There is no escape and no bracket class. Linear in practice (one
 * backtrack point, the last '*'). Thread-safe.
 */
int		 alias_glob_match(const char *pat, const char *s);

/*
 * Returns the first alias of cfg, in file order, whose pattern matches
 * model, or NULL. Callers try exact model ids first: an alias is looked
 * up only for a model no provider serves. Borrowed from cfg. Thread-safe.
 */
const struct config_alias *alias_find(const struct config *cfg, const char *model);

/*
 * Adds to data (the "data" array of GET /v1/models, OpenAI shape) one
 * entry per alias whose pattern is not an id of data already:
 * {"id":PATTERN,"object":"model","created":now (epoch s),"owned_by":
 * "quotapool","name":PATTERN,"quotapool":{"alias":true,"targets":[...]}},
 * with the smallest limits ("context_length", and quotapool's
 * "max_context_tokens", "max_output_tokens") its targets' entries in data
 * give, then sorts data by id. Returns 0, or -1 without memory (data then
 * holds what was added, unsorted). Thread-safe for distinct data.
 */
int		 alias_models_add(const struct config *cfg, cJSON *data, int64_t now_s);

/*
 * Where one request is in an alias's fallback list. Request-scoped;
 * zero it with alias_route_init().
 */
struct alias_route {
	const struct config_alias *alias;	/* the alias, NULL = none */
	int		 cur;		/* index of the target being tried */
	int		 started;	/* 1 once cur was given to the try function */
	enum select_status best;	/* the most telling refusal so far, SELECT__MAX = none */
	int64_t		 best_retry_at;	/* its retry_at */
};

/* Starts the route of alias a (NULL: no alias, alias_choose() refuses at once). */
void		 alias_route_init(struct alias_route *rt, const struct config_alias *a);

/*
 * Returns the target being tried (a model id as configured, borrowed
 * from the config), or NULL before the first or after the last.
 */
const char	*alias_route_target(const struct alias_route *rt);

/*
 * How telling a refusal is, when every target refused: a target whose
 * accounts were tried (its last answer is relayed) ranks first, then
 * one backing off (429: retry later), quarantined, disabled, a request
 * too large for it, served over another protocol, and not served at all
 * last. Higher is more telling. Thread-safe.
 */
int		 alias_refusal_rank(enum select_status st);

/*
 * The choice of one target, as the caller makes it: try(arg, target,
 * fresh, &retry_at) selects an account for target (fresh is 1 the
 * first time this target is tried, so the caller can forget the
 * accounts tried for the one before) and returns the selection's
 * status, or SELECT__MAX when it could not choose at all (a database
 * failure: the walk stops there).
 */
typedef enum select_status (*alias_try_fn)(void *arg, const char *target, int fresh,
		    int64_t *retry_at);

/*
 * Walks the fallback list from the current target: each is tried until
 * one returns SELECT_OK; a target that refuses (every account tried,
 * backing off, quarantined, disabled, too small a context, the model not
 * served) gives way to the next. Called again after a failed attempt,
 * it resumes with the same target. Returns SELECT_OK (rt's target is the
 * one chosen), SELECT__MAX if try did, or, when no target is left, the
 * most telling refusal (alias_refusal_rank()) with *retry_at its own.
 */
enum select_status alias_choose(struct alias_route *rt, alias_try_fn try, void *arg,
		    int64_t *retry_at);

#endif /* QP_ALIAS_H */
