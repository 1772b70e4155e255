-- Restatements of the month's settled days, newest detection first. Grain: one changed
-- billing line per detection. USD as billed.
SELECT source, day, provider, account, model, token_type, line_item, old_amount, new_amount,
       currency, detected_at
FROM restatements
WHERE day >= $window_start AND day < $window_end
ORDER BY detected_at DESC, day, provider, line_item
