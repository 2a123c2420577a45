#!/usr/bin/env python3
"""test_prices.py: where each request's cost comes from. A cost the provider
reports (OpenRouter's usage.cost, in dollars) is stored to the microdollar as
provider_reported; a well-known model served under its real id is priced from
the shipped catalog (providers/prices.json) and the row names that source; a
tiered price is crossed above 200k input tokens; a cache-heavy Anthropic
stream is priced with the cache prices; a model no source prices costs 0 and
is 'unknown' (never a generic default) and the rollups count it so. Expected
costs are computed here from the mock's usage and the catalog's rates."""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qp  # noqa: E402
import dp  # noqa: E402
from dp import ANTHROPIC, OPENAI  # noqa: E402
from qp import is_eq, ok  # noqa: E402

qp.require_gateway()
qp.set_timeout(120)

with open(os.path.join(os.environ["QP_SRCDIR"], "providers", "prices.json")) as f:
    CATALOG = json.load(f)


def entry(provider, model_id):
    """The catalog's rates of one model entry (base rates, tiers as lists)."""
    for p in CATALOG["providers"]:
        if p["id"] == provider:
            for m in p["models"]:
                if m["id"] == model_id:
                    return m
    raise KeyError("%s/%s" % (provider, model_id))


def rate_at(r, input_total):
    """A rate (number or [base, start, rate, ...]) once input tokens are input_total."""
    if r is None or isinstance(r, (int, float)):
        return r
    v = r[0]
    for i in range(1, len(r), 2):
        if input_total > r[i]:
            v = r[i + 1]
    return v


def expect(m, uncached, output, cread=0, cwrite=0):
    """Microdollars for the token counts at entry m's rates, rounded half up."""
    total = uncached + cread + cwrite
    rin = rate_at(m.get("in"), total)
    rcr = rate_at(m.get("cr"), total)
    rcw = rate_at(m.get("cw"), total)
    s = (uncached * rin + output * rate_at(m.get("out"), total)
         + cread * (rcr if rcr is not None else rin)
         + cwrite * (rcw if rcw is not None else rin))
    return (s + 500000) // 1000000


SONNET = "claude-sonnet-4-5"
GEMINI = "gemini-2.5-pro"
FREE = "mock-house-model-7"
mo = qp.mock(models=[GEMINI, FREE])
mr = qp.mock(models=["openai/gpt-4o"])
ma = qp.mock(style="anthropic", models=[SONNET])
inst = qp.Instance(providers={
    "openrouter": {"mock": mr, "protocols": ["openai"],
                   "models": ["openai/gpt-4o"], "accounts": ["or1"]},
    "po": {"mock": mo, "protocols": ["openai"], "models": [GEMINI, FREE],
           "accounts": ["ac1"]},
    "pa": {"mock": ma, "protocols": ["anthropic"], "models": [SONNET],
           "accounts": ["ac2"]},
})
dp.start(inst)


def run(mock, path, body, behaviour, stream=False):
    mock.reset()
    mock.script("*", behaviour)
    if stream:
        with inst.stream(path, body) as s:
            s.read_all()
            status, uid = s.status, dp.uid_of(s)
    else:
        r = inst.request("POST", path, body)
        status, uid = r.status, dp.uid_of(r)
    is_eq(status, 200, "%s: 200" % body["model"])
    return dp.wait_row(inst, uid) or {}


def cost(row):
    return (row.get("cost_microdollars"), row.get("cost_exactness"),
            row.get("price_source"))


# 1. OpenRouter reports the cost itself: $0.00123 is 1230 microdollars.
row = run(mr, OPENAI, dp.chat("openai/gpt-4o/openrouter", "hi"),
          {"usage": {"prompt": 100, "completion": 20},
           "usage_extra": {"cost": 0.00123}})
is_eq(cost(row), (1230, "provider_reported", "provider_reported"),
      "reported usage.cost stored to the microdollar as provider_reported")

# 2. A cache-heavy Anthropic stream of a well-known model, priced from the catalog.
son = entry("anthropic", SONNET)
row = run(ma, ANTHROPIC, dp.messages(SONNET, "hi", stream=True),
          {"usage": {"prompt": 1200, "completion": 300, "cache_read": 60000,
                     "cache_write": 4000}}, stream=True)
want = expect(son, 1200, 300, 60000, 4000)
ok(want != expect(son, 1200 + 60000 + 4000, 300),
   "the cache prices differ from the input price (the check can fail)")
is_eq(cost(row), (want, "derived", "catalog"),
      "cache-heavy stream priced with cache read and write prices")
is_eq(row.get("price_ref"), "%s anthropic/%s" % (
    CATALOG["catalog"]["source"], SONNET), "the row names the catalog entry")

# 3. A tiered price: above 200k input tokens the whole request costs the tier's rates.
gem = entry("google", GEMINI)
ok(isinstance(gem.get("in"), list), "gemini-2.5-pro's input price is tiered")
for prompt, label in ((150000, "below"), (250000, "above")):
    row = run(mo, OPENAI, dp.chat(GEMINI, "hi"),
              {"usage": {"prompt": prompt, "completion": 1000}})
    is_eq(cost(row), (expect(gem, prompt, 1000), "derived", "catalog"),
          "gemini-2.5-pro %s the 200k tier" % label)
ok(expect(gem, 250000, 1000) != (250000 * gem["in"][0] + 1000 * gem["out"][0]
                                 + 500000) // 1000000,
   "the tier changes the expected cost (the check can fail)")

# 4. No source prices this model: 0, unknown, never a default.
row = run(mo, OPENAI, dp.chat(FREE, "hi"),
          {"usage": {"prompt": 1000, "completion": 500}})
is_eq(cost(row), (0, "unknown", "none"), "a model without a price is unknown, cost 0")
roll = dp.query(inst, "SELECT sum(unknown_count) AS u, sum(requests) AS n, "
                "sum(provider_reported_count) AS r, sum(derived_count) AS d "
                "FROM stats_requests WHERE bucket_s = 0")
is_eq((roll[0]["u"], roll[0]["r"], roll[0]["d"], roll[0]["n"]), (1, 1, 3, 5),
      "rollups count 1 unknown, 1 provider_reported and 3 derived of 5")
qp.done()
