-- Billed rows that are not token charges or whose line item matched no parsing rule: kept
-- in billed totals, listed here for audit (credits, negative rows, are listed apart: credits.sql).
-- Grain: provider · account · line item. Units: USD as billed.
SELECT provider, account, line_item, sum(amount) AS amount, min(day) AS first_day, max(day) AS last_day
FROM billing_daily
WHERE day >= $window_start AND day < $window_end AND token_type = 'other' AND amount >= 0
GROUP BY ALL
ORDER BY amount DESC, provider, line_item
