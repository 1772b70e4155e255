-- Allocation of billed money (DESIGN.md "Allocation"). Grain of the result: day · provider ·
-- account · model · tier · token type · team · project · feature. Units: allocated USD
-- DECIMAL(18,6), exact per line: B is split in micro-dollars by largest remainder, so the
-- rows of a line add up to its B exactly.
-- Weights, per billed line:
--   the line's own token type has span tokens → each row's contracted cost of that type
--     (its token count if the line has unpriced usage);
--   otherwise, the cell has spans             → each row's cost across all types in the cell
--     (tokens if the cell has unpriced usage; requests-free rows cannot occur);
--   otherwise                                 → the account's rule team, or 'unattributed'.
CREATE OR REPLACE TEMP TABLE alloc AS
WITH row_type AS (
    SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
           tokens, unpriced_tokens, cost_pico
    FROM usage_lines
),
line_tot AS (
    SELECT day, provider, account, model, service_tier, token_type,
           sum(tokens) AS tokens, sum(unpriced_tokens) AS unpriced
    FROM row_type GROUP BY ALL
),
row_cell AS (
    SELECT day, provider, account, model, service_tier, team, project, feature,
           sum(tokens) AS tokens, sum(coalesce(cost_pico, 0)) AS cost_pico
    FROM row_type GROUP BY ALL
),
cell_tot AS (
    SELECT day, provider, account, model, service_tier,
           sum(tokens) AS tokens, sum(unpriced_tokens) AS unpriced, sum(coalesce(cost_pico, 0)) AS cost_pico
    FROM row_type GROUP BY ALL
),
weighted AS (
    SELECT b.day, b.provider, b.account, b.model, b.service_tier, b.token_type, b.billed,
           rc.team, rc.project, rc.feature,
           CASE
               WHEN coalesce(lt.tokens, 0) > 0 AND lt.unpriced = 0 THEN coalesce(rt.cost_pico, 0)
               WHEN coalesce(lt.tokens, 0) > 0 THEN coalesce(rt.tokens, 0)
               WHEN ct.unpriced = 0 AND ct.cost_pico > 0 THEN rc.cost_pico
               ELSE rc.tokens
           END AS w,
           CASE
               WHEN coalesce(lt.tokens, 0) > 0 AND lt.unpriced = 0 THEN 'cost'
               WHEN coalesce(lt.tokens, 0) > 0 THEN 'tokens'
               WHEN ct.unpriced = 0 AND ct.cost_pico > 0 THEN 'cell_cost'
               ELSE 'cell_tokens'
           END AS basis
    FROM bill_lines b
    JOIN cell_tot ct USING (day, provider, account, model, service_tier)
    JOIN row_cell rc USING (day, provider, account, model, service_tier)
    LEFT JOIN line_tot lt USING (day, provider, account, model, service_tier, token_type)
    LEFT JOIN row_type rt
      ON rt.day = b.day AND rt.provider = b.provider AND rt.account = b.account
     AND rt.model = b.model AND rt.service_tier = b.service_tier AND rt.token_type = b.token_type
     AND rt.team = rc.team AND rt.project = rc.project AND rt.feature = rc.feature
),
shares AS (
    SELECT *,
           CAST(abs(billed) * 1000000 AS HUGEINT) AS b_micro,
           CASE WHEN billed < 0 THEN -1 ELSE 1 END AS sgn,
           sum(w) OVER line AS w_total
    FROM weighted
    WINDOW line AS (PARTITION BY day, provider, account, model, service_tier, token_type)
),
floored AS (
    SELECT *,
           CASE WHEN w_total > 0 THEN (b_micro * w) // w_total ELSE 0 END AS base,
           CASE WHEN w_total > 0 THEN (b_micro * w) % w_total ELSE 0 END AS rem
    FROM shares
),
ranked AS (
    SELECT *,
           b_micro - sum(base) OVER line AS leftover,
           row_number() OVER (PARTITION BY day, provider, account, model, service_tier, token_type
                              ORDER BY rem DESC, w DESC, team, project, feature) AS rk
    FROM floored
    WINDOW line AS (PARTITION BY day, provider, account, model, service_tier, token_type)
),
spanned AS (
    SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
           CAST(CAST(sgn * (base + CASE WHEN rk <= leftover THEN 1 ELSE 0 END) AS DECIMAL(38,0)) * CAST(0.000001 AS DECIMAL(7,6))
                AS DECIMAL(18,6)) AS allocated,
           basis
    FROM ranked
),
unspanned AS (
    SELECT b.day, b.provider, b.account, b.model, b.service_tier, b.token_type,
           coalesce(r.team, 'unattributed') AS team, 'unknown' AS project, 'unknown' AS feature,
           CAST(b.billed AS DECIMAL(18,6)) AS allocated,
           CASE WHEN r.team IS NULL THEN 'unattributed' ELSE 'rule' END AS basis
    FROM bill_lines b
    LEFT JOIN cell_tot ct USING (day, provider, account, model, service_tier)
    LEFT JOIN account_rules r ON r.provider = b.provider AND r.account = b.account
    WHERE ct.day IS NULL
)
SELECT * FROM spanned
UNION ALL
SELECT * FROM unspanned
