-- Requests the provider counted, per day · provider · account · model · tier (OpenAI usage
-- num_model_requests, carried on one billing row of each key). Units: requests; NULL where the
-- bill gives no count (Anthropic's usage report has none).
CREATE OR REPLACE TEMP TABLE bill_requests AS
SELECT day, provider, account, model, service_tier,
       CASE WHEN bool_or(billed_requests IS NOT NULL) THEN sum(billed_requests) END AS billed_requests
FROM billing_daily
WHERE day >= $window_start AND day < $window_end AND token_type <> 'other' AND amount >= 0
GROUP BY day, provider, account, model, service_tier
