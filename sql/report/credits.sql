-- Credits and refunds: billed rows with a negative amount, kept as their own line items and
-- spread over the provider's positive allocation (sql/reconcile/53_credit_weights.sql).
-- Grain: provider · account · line item. Units: USD as billed (negative).
SELECT provider, account, line_item, sum(amount) AS amount, min(day) AS first_day, max(day) AS last_day
FROM billing_daily
WHERE day >= $window_start AND day < $window_end AND amount < 0
GROUP BY ALL
ORDER BY amount, provider, line_item
