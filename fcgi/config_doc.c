/* config_doc.c: the Markdown reference of every section and key, written from the key tables. */
#include <stdio.h>

#include "bounds.h"
#include "config_int.h"
#include "ctxlimit.h"

/* Writes text for a Markdown table cell: '|' escaped. */
static void
config_md_cell(FILE *fp, const char *s)
{

	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputc('\\', fp);
		fputc(*s, fp);
	}
}

/* Writes the documented default of key k. */
static void
config_md_default(FILE *fp, const struct config_key *k)
{
	const struct config_choice *ch;
	int first = 1;

	if (k->defdoc != NULL) {
		config_md_cell(fp, k->defdoc);
		return;
	}
	switch (k->kind) {
	case CONFIG_KIND_BOOL:
		fputs(k->idef ? "`true`" : "`false`", fp);
		break;
	case CONFIG_KIND_INT:
	case CONFIG_KIND_INT64:
		fprintf(fp, "`%lld`", (long long)k->idef);
		break;
	case CONFIG_KIND_FLOAT:
	case CONFIG_KIND_MS:
		fprintf(fp, "`%g`", k->fdef);
		break;
	case CONFIG_KIND_CHOICE:
		for (ch = k->choices; ch->name != NULL; ch++)
			if (!ch->alias && ch->value == k->idef)
				break;
		if (ch->name != NULL)
			fprintf(fp, "`\"%s\"`", ch->name);
		break;
	case CONFIG_KIND_PROTOCOLS:
		fputs("`[", fp);
		for (ch = k->choices; ch->name != NULL; ch++)
			if (!ch->alias && ((unsigned)k->idef & (unsigned)ch->value)) {
				fprintf(fp, "%s\"%s\"", first ? "" : ", ", ch->name);
				first = 0;
			}
		fputs("]`", fp);
		break;
	case CONFIG_KIND_STRINGS:
	case CONFIG_KIND_ADDRS:
		fputs("`[]`", fp);
		break;
	case CONFIG_KIND_TABLES:
	case CONFIG_KIND_SUBTABLE:
		fputs("", fp);
		break;
	default:
		if (k->sdef != NULL)
			fprintf(fp, "`\"%s\"`", k->sdef);
		else
			fputs("none", fp);
		break;
	}
}

/* Writes one section: its paragraph, its key table, its ignored EggPool keys. */
static void
config_md_section(FILE *fp, int sec)
{
	const struct config_section *s = &config_sections[sec];
	const struct config_key *k;
	char range[96], list[160];
	size_t i;
	int n = 0;

	fprintf(fp, "### `%s`\n\n%s\n\n", s->title, s->doc);
	fputs("| Key | Type | Default | Range or values | Description |\n", fp);
	fputs("|---|---|---|---|---|\n", fp);
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->kind == CONFIG_KIND_IGNORED)
			continue;
		fprintf(fp, "| `%s` | %s | ", k->name, config_kinds[k->kind].doc);
		config_md_default(fp, k);
		fputs(" | ", fp);
		if (k->choices != NULL)
			config_md_cell(fp, config_choice_list(k->choices, list, sizeof(list)));
		else
			config_md_cell(fp, config_range(k, range, sizeof(range)));
		fputs(" | ", fp);
		config_md_cell(fp, k->doc);
		if (k->flags & CONFIG_F_REQUIRED)
			fputs(" Required.", fp);
		if (k->noeffect != NULL) {
			fputs(" **No effect in this version:** ", fp);
			config_md_cell(fp, k->noeffect);
			fputs(" (`check-config` warns).", fp);
		}
		fputs(" |\n", fp);
	}
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->kind != CONFIG_KIND_IGNORED)
			continue;
		fprintf(fp, "%s`%s`", n == 0 ? "\nAccepted from EggPool configurations, without "
		    "effect in this version (`check-config` warns): " : ", ", k->name);
		n++;
	}
	fputs(n > 0 ? ".\n\n" : "\n", fp);
}

void
config_doc_markdown(FILE *fp)
{
	static const int order[] = {
		CONFIG_SEC_SERVER, CONFIG_SEC_UPSTREAM, CONFIG_SEC_DATABASE, CONFIG_SEC_MODELS,
		CONFIG_SEC_ROUTING, CONFIG_SEC_LIMITS, CONFIG_SEC_DASHBOARD, CONFIG_SEC_SECURITY,
		CONFIG_SEC_BACKUP, CONFIG_SEC_TRANSLATION, CONFIG_SEC_RETENTION, CONFIG_SEC_WORKERS,
		CONFIG_SEC_PROVIDER,
		CONFIG_SEC_ACCOUNT, CONFIG_SEC_REFRESH, CONFIG_SEC_PROXY,
		CONFIG_SEC_OVERRIDE, CONFIG_SEC_AUTH, CONFIG_SEC_STREAM, CONFIG_SEC_CHECK
	};
	size_t i;
	int n = 0;

	fputs("## Sections and keys\n\n", fp);
	fputs("Seconds may be written as integers or floats. Sizes are in bytes, money in "
	    "microdollars ($1 = 1000000) unless the key says otherwise.\n\n", fp);
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		config_md_section(fp, order[i]);
	fprintf(fp, "### `[aliases]`\n\nModel names clients use on their own (Claude Code sends "
	    "`claude-opus-4-8` when no model is set), mapped to the models of the pool. Each "
	    "key is a glob over the model id the client sends: `*` matches any run of "
	    "characters (`/` included, none too), `?` one character; there is no escape. The "
	    "value is one model id, or an array of up to %d in fallback order: the next is "
	    "tried when every account of the one before is unavailable (backing off, "
	    "quarantined, disabled, all tried by this request, or the model not served). For "
	    "example, under `[aliases]`: `\"claude-*\" = [\"glm-4.6/zai\", "
	    "\"deepseek-chat/deepseek\"]` and `\"gpt-5*\" = [\"qwen3-coder/local\"]`.\n\n"
	    "A model id that a provider serves is "
	    "routed as it is: the patterns are tried, in file order, only for ids no provider "
	    "serves, and the first that matches wins. `GET /v1/models` lists each pattern as "
	    "a model (`quotapool.alias` true, `quotapool.targets` its list). The request row "
	    "keeps the pattern (`alias`) and the target that served it (`alias_target`), the "
	    "routing decision the same (`alias`, `target` in its detail). At most %d "
	    "patterns.\n\n", QP_ALIAS_TARGETS_MAX, QP_ALIASES_MAX);
	fprintf(fp, "### Context limits\n\nA model's limits at a provider are, per field, those "
	    "of its `[model_overrides.\"<model>\"]` when set, else what the provider's model "
	    "list says (`context_length` as OpenRouter, Together or Fireworks give it, "
	    "`context_window` and `max_completion_tokens` as Groq, `max_input_tokens` and "
	    "`max_tokens` as Anthropic, `max_model_len` as vLLM, `max_context_length` as "
	    "Mistral, else OpenRouter's `top_provider`), else unknown. `GET /v1/models` shows "
	    "them: `context_length` and `quotapool.max_context_tokens`, "
	    "`quotapool.max_output_tokens` (Anthropic shape: `max_input_tokens`, `max_tokens`); "
	    "an unsuffixed id over several providers, and an alias over its models, shows the "
	    "smallest.\n\nWith `enforce_context_limit` (the default) a request clearly over "
	    "the limits is refused with 400, in its protocol's error shape, before any "
	    "upstream call. The prompt is estimated from the request's bytes: the body's "
	    "length, less the inline binary data in it (each JSON string of %d bytes or more "
	    "made only of the base64 alphabet, and the payload of each `data:...;base64,` "
	    "URL), divided by %d. Text takes 3 to 5 bytes per token, and the body adds its "
	    "JSON, so the estimate is below the real count: a request it refuses is over by "
	    "a wide margin. The request is over when that estimate is above "
	    "`max_input_tokens`, or when it plus the answer asked for (`max_completion_tokens`, "
	    "else `max_tokens`, else `max_output_tokens`; at most the model's "
	    "`max_output_tokens`, as a provider would cut it) is above the context window. A "
	    "provider whose limit the request is over is left out of the choice "
	    "(`context_limit` in the routing decision), so a larger one may serve it; the 400 "
	    "comes when none is left, and an alias's next model is tried first.\n\n",
	    CTXLIMIT_BLOB_MIN, CTXLIMIT_BYTES_PER_TOKEN);
	fputs("### Sections accepted from EggPool, without effect\n\n", fp);
	for (i = 0; i < config_nroots; i++) {
		if (config_roots[i].kind != CONFIG_ROOT_IGNORED)
			continue;
		fprintf(fp, "%s`[%s]`", n == 0 ? "" : ", ", config_roots[i].name);
		n++;
	}
	fputs(": each is accepted so that EggPool configurations load, has no effect in this "
	    "version, and gives a warning naming it. EggPool's top-level "
	    "`[[accounts]]` is an error: move the accounts under a `[providers.<id>]`.\n", fp);
}
