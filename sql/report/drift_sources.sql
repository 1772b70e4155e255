-- Where each drift part comes from, to name its biggest source in the report's sentence.
-- Grain: part · status · provider · account · model · token type (days summed). Units: USD
-- (DECIMAL(38,12)); account '' is the pool of spans without account. Parts as 40_lines.sql.
WITH parts AS (
    UNPIVOT (SELECT provider, account, model, token_type, status, premium_kinds,
                    coverage, volume, premium, rate, unpriced, unmatched, non_token, credit, unexplained
             FROM recon_lines WHERE month = $window_start)
    ON coverage, volume, premium, rate, unpriced, unmatched, non_token, credit, unexplained
    INTO NAME part VALUE amount
)
SELECT part, status, provider, account, model, token_type,
       string_agg(DISTINCT premium_kinds, ',' ORDER BY premium_kinds) AS premium_kinds,
       sum(amount) AS amount
FROM parts
WHERE amount <> 0
GROUP BY part, status, provider, account, model, token_type
ORDER BY abs(sum(amount)) DESC, part, provider, account, model, token_type
