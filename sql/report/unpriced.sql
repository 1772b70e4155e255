-- Models seen in span usage with tokens but no price in force. Grain: provider · model ·
-- token type. Reported with their tokens, never costed as 0.
SELECT provider, model, token_type, sum(unpriced_tokens) AS tokens
FROM recon_lines
WHERE month = $window_start AND unpriced_tokens > 0
GROUP BY ALL
ORDER BY tokens DESC, provider, model, token_type
