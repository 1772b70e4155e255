-- Billed money left out of reconciliation and chargeback as not LLM billing (FOCUS rows no rule
-- matched, or an exclude rule matched), for the report's notes. Grain: source · reason ·
-- service · currency over the window; amount in the billing currency, rows = FOCUS rows.
SELECT source, reason, service, currency, sum(rows)::BIGINT AS rows, sum(amount) AS amount
FROM billing_excluded
WHERE day >= $window_start AND day < $window_end
GROUP BY ALL
ORDER BY source, reason, amount DESC, service
