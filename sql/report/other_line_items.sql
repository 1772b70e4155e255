-- Billed rows that are not token charges or whose line item matched no parsing rule: kept
-- in billed totals, listed here for audit. Grain: provider · account · line item.
SELECT provider, account, line_item, sum(amount) AS amount, min(day) AS first_day, max(day) AS last_day
FROM billing_daily
WHERE day >= $window_start AND day < $window_end AND token_type = 'other'
GROUP BY ALL
ORDER BY amount DESC, provider, line_item
