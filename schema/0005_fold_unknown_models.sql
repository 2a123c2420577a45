-- 0005_fold_unknown_models.sql: rollup rows of models no configured provider serves become "(unknown)".
-- Before this release every model id a client sent got rollup rows of its own, so made-up
-- ids could grow stats_requests, stats_errors and stats_routing without bound (and /metrics
-- past its cap). The rollup writer now counts a request, or a routing decision, that reached
-- no provider under its model only when model_catalog lists that model (static models are
-- catalog rows too), else under '(unknown)'. The rows written before are folded by the same
-- rule, sums added up; rows of requests and decisions that reached a provider are kept.

INSERT INTO stats_requests (bucket_s, bucket_start, provider_id, model, account_name, status,
    requests, streamed, attempts, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, reasoning_tokens, cost_microdollars, bytes_in, bytes_out,
    upstream_bytes, total_ms_sum, total_count, ttft_ms_sum, ttft_count, exact_count,
    derived_count, partial_count, estimated_count, provider_reported_count, unknown_count,
    attempts_0, attempts_1, attempts_2, attempts_3, attempts_4plus)
SELECT bucket_s, bucket_start, provider_id, '(unknown)', account_name, status, sum(requests),
    sum(streamed), sum(attempts), sum(input_tokens), sum(output_tokens),
    sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens),
    sum(cost_microdollars), sum(bytes_in), sum(bytes_out), sum(upstream_bytes),
    sum(total_ms_sum), sum(total_count), sum(ttft_ms_sum), sum(ttft_count), sum(exact_count),
    sum(derived_count), sum(partial_count), sum(estimated_count),
    sum(provider_reported_count), sum(unknown_count), sum(attempts_0), sum(attempts_1),
    sum(attempts_2), sum(attempts_3), sum(attempts_4plus)
FROM stats_requests WHERE provider_id = '' AND model NOT IN ('', '(unknown)')
    AND model NOT IN (SELECT model_id FROM model_catalog)
GROUP BY bucket_s, bucket_start, provider_id, account_name, status
ON CONFLICT (bucket_s, bucket_start, provider_id, model, account_name, status) DO UPDATE SET
    requests = requests + excluded.requests, streamed = streamed + excluded.streamed,
    attempts = attempts + excluded.attempts,
    input_tokens = input_tokens + excluded.input_tokens,
    output_tokens = output_tokens + excluded.output_tokens,
    cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
    cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
    reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
    cost_microdollars = cost_microdollars + excluded.cost_microdollars,
    bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out,
    upstream_bytes = upstream_bytes + excluded.upstream_bytes,
    total_ms_sum = total_ms_sum + excluded.total_ms_sum,
    total_count = total_count + excluded.total_count,
    ttft_ms_sum = ttft_ms_sum + excluded.ttft_ms_sum,
    ttft_count = ttft_count + excluded.ttft_count,
    exact_count = exact_count + excluded.exact_count,
    derived_count = derived_count + excluded.derived_count,
    partial_count = partial_count + excluded.partial_count,
    estimated_count = estimated_count + excluded.estimated_count,
    provider_reported_count = provider_reported_count + excluded.provider_reported_count,
    unknown_count = unknown_count + excluded.unknown_count,
    attempts_0 = attempts_0 + excluded.attempts_0, attempts_1 = attempts_1 + excluded.attempts_1,
    attempts_2 = attempts_2 + excluded.attempts_2, attempts_3 = attempts_3 + excluded.attempts_3,
    attempts_4plus = attempts_4plus + excluded.attempts_4plus;
DELETE FROM stats_requests WHERE provider_id = '' AND model NOT IN ('', '(unknown)')
    AND model NOT IN (SELECT model_id FROM model_catalog);

INSERT INTO stats_errors (bucket_s, bucket_start, provider_id, model, account_name, status,
    error_class, requests)
SELECT bucket_s, bucket_start, provider_id, '(unknown)', account_name, status, error_class,
    sum(requests)
FROM stats_errors WHERE provider_id = '' AND model NOT IN ('', '(unknown)')
    AND model NOT IN (SELECT model_id FROM model_catalog)
GROUP BY bucket_s, bucket_start, provider_id, account_name, status, error_class
ON CONFLICT (bucket_s, bucket_start, provider_id, model, account_name, status, error_class)
    DO UPDATE SET requests = requests + excluded.requests;
DELETE FROM stats_errors WHERE provider_id = '' AND model NOT IN ('', '(unknown)')
    AND model NOT IN (SELECT model_id FROM model_catalog);

-- A decision that chose an account keeps its model ('chosen' rows); the others (no_account
-- and exclusions) are folded when no catalog lists the model.
INSERT INTO stats_routing (bucket_s, bucket_start, model, account_name, provider_id, reason,
    decisions)
SELECT bucket_s, bucket_start, '(unknown)', account_name, provider_id, reason, sum(decisions)
FROM stats_routing WHERE reason <> 'chosen' AND model NOT IN ('', '(unknown)')
    AND model NOT IN (SELECT model_id FROM model_catalog)
GROUP BY bucket_s, bucket_start, account_name, provider_id, reason
ON CONFLICT (bucket_s, bucket_start, model, account_name, provider_id, reason)
    DO UPDATE SET decisions = decisions + excluded.decisions;
DELETE FROM stats_routing WHERE reason <> 'chosen' AND model NOT IN ('', '(unknown)')
    AND model NOT IN (SELECT model_id FROM model_catalog);
