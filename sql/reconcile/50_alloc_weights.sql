-- Allocation weights (DESIGN.md "Allocation"): how each billed line at match grain
-- (match_lines) is split over teams. Grain: line (day · provider · account · model · tier ·
-- token type) · team · project · feature. Units: w is an integer weight, pico-dollars of
-- estimated cost (contracted price) or tokens, as basis says:
--   account / pool lines, token charges (the cell: day · provider · account · model · tier):
--     cost         the line's own token type has span tokens: each row's cost of that type;
--     tokens       ... but the line has unpriced usage: each row's tokens of that type;
--     cell_cost    the type has no span tokens: each row's cost across the cell's types;
--     cell_tokens  ... the cell has unpriced usage (or no cost): its tokens;
--   account / pool lines, non-token charges (web search...): the account's (or the pool's)
--     spans of that day, all models: day_cost (day_tokens when unpriced);
--   rule           the [teams.X] accounts rule's team (project and feature 'unknown');
--   key_rule       the line's API keys by their billed tokens (billing_key_tokens): a key a key
--                  rule names to its team (basis key_rule), the others to the account's rule
--                  team (rule), else 'unattributed' (project and feature 'unknown');
--   account_month  the teams of the account's spans in the month, by their cost there
--                  (account_tokens when unpriced);
--   unattributed   'unattributed'.
-- Credits are weighted after the charges are split (53_credit_weights.sql).
CREATE OR REPLACE TEMP TABLE alloc_weights AS
WITH row_type AS (
    SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
           tokens, unpriced_tokens, coalesce(cost_pico, 0) AS cost_pico
    FROM usage_lines
),
line_tot AS (
    SELECT day, provider, account, model, service_tier, token_type,
           sum(tokens) AS tokens, sum(unpriced_tokens) AS unpriced, sum(cost_pico) AS cost_pico
    FROM row_type GROUP BY ALL
),
row_cell AS (
    SELECT day, provider, account, model, service_tier, team, project, feature,
           sum(tokens) AS tokens, sum(cost_pico) AS cost_pico,
           sum(tokens) FILTER (WHERE token_type = 'input') AS tokens_input,
           sum(tokens) FILTER (WHERE token_type = 'cache_read') AS tokens_cache_read,
           sum(tokens) FILTER (WHERE token_type = 'cache_write') AS tokens_cache_write,
           sum(tokens) FILTER (WHERE token_type = 'output') AS tokens_output,
           sum(cost_pico) FILTER (WHERE token_type = 'input') AS cost_input,
           sum(cost_pico) FILTER (WHERE token_type = 'cache_read') AS cost_cache_read,
           sum(cost_pico) FILTER (WHERE token_type = 'cache_write') AS cost_cache_write,
           sum(cost_pico) FILTER (WHERE token_type = 'output') AS cost_output
    FROM row_type GROUP BY ALL
),
cell_tot AS (
    SELECT day, provider, account, model, service_tier,
           sum(unpriced) AS unpriced, sum(cost_pico) AS cost_pico
    FROM line_tot GROUP BY ALL
),
row_day AS (
    SELECT day, provider, account, team, project, feature,
           sum(tokens) AS tokens, sum(cost_pico) AS cost_pico
    FROM row_cell GROUP BY ALL
),
day_tot AS (
    SELECT day, provider, account, sum(unpriced) AS unpriced, sum(cost_pico) AS cost_pico
    FROM cell_tot GROUP BY ALL
),
row_month AS (
    SELECT provider, account, team, project, feature,
           sum(tokens) AS tokens, sum(cost_pico) AS cost_pico
    FROM row_day WHERE account <> '' GROUP BY ALL
),
month_tot AS (
    SELECT provider, account, sum(unpriced) AS unpriced, sum(cost_pico) AS cost_pico
    FROM day_tot WHERE account <> '' GROUP BY ALL
),
line_keys AS (
    SELECT day, provider, account, model, service_tier,
           CASE WHEN token_type = 'cache_write_1h' THEN 'cache_write' ELSE token_type END AS token_type,
           api_key, sum(billed_tokens) AS tokens
    FROM billing_key_tokens
    WHERE day >= $window_start AND day < $window_end
    GROUP BY ALL
    HAVING sum(billed_tokens) > 0
),
key_rows AS (
    SELECT b.day, b.provider, b.account, b.model, b.service_tier, b.token_type, k.tokens,
           coalesce(kr.team, b.rule_team, 'unattributed') AS team,
           CASE WHEN kr.team IS NOT NULL THEN 'key_rule'
                WHEN b.rule_team IS NOT NULL THEN 'rule' ELSE 'unattributed' END AS basis
    FROM match_lines b
    JOIN line_keys k USING (day, provider, account, model, service_tier, token_type)
    LEFT JOIN key_rules kr ON kr.provider = b.provider AND kr.api_key = k.api_key
    WHERE b.matched_by = 'key_rule'
),
tokens_lines AS (
    SELECT * FROM match_lines
    WHERE matched_by IN ('account', 'pool') AND token_type NOT IN ('other', 'credit')
)
SELECT b.day, b.provider, b.account, b.model, b.service_tier, b.token_type,
       rc.team, rc.project, rc.feature,
       CASE
           WHEN coalesce(lt.tokens, 0) > 0 AND lt.unpriced = 0 THEN coalesce(CASE b.token_type
                WHEN 'input' THEN rc.cost_input WHEN 'cache_read' THEN rc.cost_cache_read
                WHEN 'cache_write' THEN rc.cost_cache_write WHEN 'output' THEN rc.cost_output END, 0)
           WHEN coalesce(lt.tokens, 0) > 0 THEN coalesce(CASE b.token_type
                WHEN 'input' THEN rc.tokens_input WHEN 'cache_read' THEN rc.tokens_cache_read
                WHEN 'cache_write' THEN rc.tokens_cache_write WHEN 'output' THEN rc.tokens_output END, 0)
           WHEN ct.unpriced = 0 AND ct.cost_pico > 0 THEN rc.cost_pico
           ELSE rc.tokens
       END AS w,
       CASE
           WHEN coalesce(lt.tokens, 0) > 0 AND lt.unpriced = 0 THEN 'cost'
           WHEN coalesce(lt.tokens, 0) > 0 THEN 'tokens'
           WHEN ct.unpriced = 0 AND ct.cost_pico > 0 THEN 'cell_cost'
           ELSE 'cell_tokens'
       END AS basis
FROM tokens_lines b
JOIN cell_tot ct USING (day, provider, account, model, service_tier)
JOIN row_cell rc USING (day, provider, account, model, service_tier)
LEFT JOIN line_tot lt USING (day, provider, account, model, service_tier, token_type)
UNION ALL
SELECT b.day, b.provider, b.account, b.model, b.service_tier, b.token_type,
       rd.team, rd.project, rd.feature,
       CASE WHEN dt.unpriced = 0 AND dt.cost_pico > 0 THEN rd.cost_pico ELSE rd.tokens END,
       CASE WHEN dt.unpriced = 0 AND dt.cost_pico > 0 THEN 'day_cost' ELSE 'day_tokens' END
FROM match_lines b
JOIN day_tot dt USING (day, provider, account)
JOIN row_day rd USING (day, provider, account)
WHERE b.matched_by IN ('account', 'pool') AND b.token_type = 'other'
UNION ALL
SELECT b.day, b.provider, b.account, b.model, b.service_tier, b.token_type,
       rm.team, rm.project, rm.feature,
       CASE WHEN mt.unpriced = 0 AND mt.cost_pico > 0 THEN rm.cost_pico ELSE rm.tokens END,
       CASE WHEN mt.unpriced = 0 AND mt.cost_pico > 0 THEN 'account_cost' ELSE 'account_tokens' END
FROM match_lines b
JOIN month_tot mt USING (provider, account)
JOIN row_month rm USING (provider, account)
WHERE b.matched_by = 'account_month'
UNION ALL
SELECT day, provider, account, model, service_tier, token_type,
       CASE matched_by WHEN 'rule' THEN rule_team ELSE 'unattributed' END, 'unknown', 'unknown',
       1, matched_by
FROM match_lines
WHERE matched_by IN ('rule', 'unattributed')
UNION ALL
SELECT day, provider, account, model, service_tier, token_type, team, 'unknown', 'unknown',
       sum(tokens), min(basis)  -- a team holding a ruled key and the account rule: key_rule
FROM key_rows
GROUP BY day, provider, account, model, service_tier, token_type, team
