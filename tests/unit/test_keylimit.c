/* test_keylimit.c: the arithmetic of client key limits: periods, budgets, globs, verdicts. */
#include <string.h>

#include "../tap.h"
#include "keylimit.h"

/* 2024-02-29 13:45:10.500 UTC (a leap day). */
#define T_LEAP		1709214310500LL
#define DAY		86400000LL

int
main(void)
{
	struct keylimit_policy pol;
	struct keylimit_usage u;
	char out[KEYLIMIT_MODELS_MAX + 1], longer[KEYLIMIT_MODELS_MAX + 8];
	enum keylimit_period per;
	int64_t micro, at;

	/* Periods, in UTC. */
	is_int(keylimit_period_start(KEYLIMIT_PERIOD_DAY, T_LEAP), 1709164800000LL,
	    "day starts at UTC midnight");
	is_int(keylimit_period_end(KEYLIMIT_PERIOD_DAY, T_LEAP), 1709164800000LL + DAY,
	    "day ends at the next midnight");
	is_int(keylimit_period_start(KEYLIMIT_PERIOD_MONTH, T_LEAP), 1706745600000LL,
	    "month starts on 2024-02-01");
	is_int(keylimit_period_end(KEYLIMIT_PERIOD_MONTH, T_LEAP), 1709251200000LL,
	    "February 2024 ends on 2024-03-01 (29 days)");
	is_int(keylimit_period_end(KEYLIMIT_PERIOD_MONTH, 1703980800000LL + 5),
	    1704067200000LL, "December ends on the next year's 1 January");
	is_int(keylimit_period_start(KEYLIMIT_PERIOD_MONTH, 1704067200000LL),
	    1704067200000LL, "the first millisecond of a month is in it");

	/* Budgets. */
	ok(keylimit_parse_budget("20/day", &micro, &per) == 0 && micro == 20000000 &&
	    per == KEYLIMIT_PERIOD_DAY, "20/day");
	ok(keylimit_parse_budget("300/month", &micro, &per) == 0 && micro == 300000000 &&
	    per == KEYLIMIT_PERIOD_MONTH, "300/month");
	ok(keylimit_parse_budget("0.5/day", &micro, &per) == 0 && micro == 500000,
	    "0.5/day is 500000 microdollars");
	ok(keylimit_parse_budget("1.000001/day", &micro, &per) == 0 && micro == 1000001,
	    "six decimals");
	ok(keylimit_parse_budget("1.0000001/day", &micro, &per) != 0, "seven decimals refused");
	ok(keylimit_parse_budget("20", &micro, &per) != 0, "no period refused");
	ok(keylimit_parse_budget("20/week", &micro, &per) != 0, "week refused");
	ok(keylimit_parse_budget("0/day", &micro, &per) != 0, "zero refused");
	ok(keylimit_parse_budget("-1/day", &micro, &per) != 0, "negative refused");
	ok(keylimit_parse_budget("1./day", &micro, &per) != 0, "a dot without decimals refused");
	ok(keylimit_parse_budget("10000001/day", &micro, &per) != 0, "above the maximum refused");
	ok(keylimit_parse_budget("99999999999999999999/day", &micro, &per) != 0,
	    "no overflow");

	/* Globs. */
	ok(keylimit_models_normalize(" gpt-4o* , claude-*", out) == 0 &&
	    strcmp(out, "gpt-4o*,claude-*") == 0, "globs normalized: %s", out);
	ok(keylimit_models_normalize("a,,b", out) != 0, "an empty glob refused");
	ok(keylimit_models_normalize("", out) != 0, "an empty list refused");
	ok(keylimit_models_normalize("a\tb", out) != 0, "a control character refused");
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	ok(keylimit_models_normalize(longer, out) != 0, "a list too long refused");
	ok(keylimit_models_allow("gpt-4o*,claude-*", "claude-3-haiku"), "claude-* allows");
	ok(!keylimit_models_allow("gpt-4o*,claude-*", "gpt-4"), "gpt-4o* does not allow gpt-4");
	ok(keylimit_models_allow("", "anything"), "no globs allow any model");
	ok(!keylimit_models_allow("m1", NULL), "no model is not allowed by globs");

	/* Verdicts, in order: model, budget, rpm, tpm. */
	memset(&pol, 0, sizeof(pol));
	memset(&u, 0, sizeof(u));
	is_int(keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at), KEYLIMIT_OK, "no limits: ok");
	pol.rpm = 3;
	u.minute_requests = 2;
	u.minute_oldest = T_LEAP - 50000;
	is_int(keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at), KEYLIMIT_OK, "2 of 3 rpm: ok");
	u.minute_requests = 3;
	is_int(keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at), KEYLIMIT_RPM, "3 of 3 rpm: rpm");
	is_int(at, T_LEAP + 10000, "retry when the oldest leaves the minute");
	u.minute_oldest = T_LEAP - 59900;
	keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at);
	is_int(at, T_LEAP + 1000, "retry at least 1 s ahead");
	pol.rpm = 0;
	pol.tpm = 1000;
	u.minute_tokens = 600;
	u.reserved_tokens = 399;
	is_int(keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at), KEYLIMIT_OK, "999 of 1000 tpm");
	u.reserved_tokens = 400;
	is_int(keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at), KEYLIMIT_TPM,
	    "tokens in flight count toward tpm");
	pol.budget = 1000000;
	pol.period = KEYLIMIT_PERIOD_MONTH;
	u.spent = 999000;
	u.reserved_microdollars = 999;
	is_int(keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at), KEYLIMIT_TPM,
	    "budget not spent: tpm decides");
	u.reserved_microdollars = 1000;
	is_int(keylimit_judge(&pol, &u, "m", "m", T_LEAP, &at), KEYLIMIT_BUDGET,
	    "spent + in flight reaching the budget: budget, before tpm");
	is_int(at, 1709251200000LL, "budget retry at the month's end");
	strcpy(pol.models, "x*");
	is_int(keylimit_judge(&pol, &u, "m:p", "m", T_LEAP, &at), KEYLIMIT_MODEL,
	    "the model is checked first");
	is_int(at, 0, "no retry for a model refusal");
	strcpy(pol.models, "m");
	is_int(keylimit_judge(&pol, &u, "m:p", "m", T_LEAP, &at), KEYLIMIT_BUDGET,
	    "the base model without suffix matches");
	is_str(keylimit_verdict_name(KEYLIMIT_BUDGET), "budget", "verdict names");
	is_str(keylimit_period_name(KEYLIMIT_PERIOD_MONTH), "month", "period names");
	return done_testing();
}
