-- FOCUS cost-and-usage rows for the month [$window_start, $window_end): the chargeback as
-- allocated charges. Grain: day · provider · account · model · tier · token type · team ·
-- project · feature (recon_alloc's grain: Tags hold one team, project and feature per row).
-- Rows with neither money nor tokens are left out.
-- Units: billed_cost USD DECIMAL(18,2), rounded once here: each provider · team's cents
-- (recon_team_provider, the report's team totals) are handed to its rows by largest remainder
-- of the exact micro-dollar allocation, so Σ rows = team totals = billed total to the cent.
-- list_cost / contracted_cost USD DECIMAL(38,6) = quantity × USD per million tokens / 1e6
-- (NULL when there is no price: non-token charges, credits and unpriced models); quantity in
-- tokens. account '' is the pool (billed accounts no span names, matched without account).
-- Needs price_keys (sql/reconcile/10_price_keys) for the window. Rows per billed line are counted
-- by a grouped count (not a window over six columns), and cell weights are summed only for the
-- cells whose rows are weighted by them.
WITH a AS (
    SELECT * FROM recon_alloc
    WHERE month = $window_start AND (allocated <> 0 OR tokens > 0)
),
lines AS (
    -- the origin charge of each row: the billed line of its cell and token type
    SELECT day, provider, account, model, service_tier, token_type, billed, billed_tokens
    FROM recon_lines WHERE month = $window_start AND billed IS NOT NULL
),
targets AS (
    SELECT provider, team, CAST(allocated * 100 AS HUGEINT) AS target_cents
    FROM recon_team_provider WHERE month = $window_start
),
floored AS (
    SELECT a.*,
           CAST(floor(a.allocated * 100) AS HUGEINT) AS base,
           a.allocated * 100 - floor(a.allocated * 100) AS rem
    FROM a
),
ranked AS (
    SELECT f.*,
           t.target_cents - sum(f.base) OVER pt AS leftover,
           row_number() OVER (PARTITION BY f.provider, f.team
                              ORDER BY f.rem DESC, f.allocated DESC, f.day, f.account, f.model,
                                       f.service_tier, f.token_type, f.project, f.feature) AS rk
    FROM floored f
    JOIN targets t USING (provider, team)
    WINDOW pt AS (PARTITION BY f.provider, f.team)
),
line_counts AS (
    SELECT day, provider, account, model, service_tier, token_type, count(*) AS line_rows
    FROM ranked GROUP BY ALL
),
cell_weight AS (
    -- weights of the cell-level bases (the line's token type has no spans): the row's
    -- cost or tokens across all token types of the cell
    SELECT day, provider, account, model, service_tier, team, project, feature,
           sum(estimated) AS cell_estimated, sum(tokens) AS cell_tokens
    FROM recon_alloc WHERE month = $window_start
      AND (day, provider, account, model, service_tier) IN (
          SELECT DISTINCT (day, provider, account, model, service_tier) FROM a
          WHERE basis IN ('cell_cost', 'cell_tokens'))
    GROUP BY ALL
),
accounts AS (
    -- the billing source that loaded the provider account: one organization's admin key
    SELECT provider, account, min(source) AS source
    FROM billing_daily WHERE day >= $window_start AND day < $window_end
    GROUP BY ALL
),
provider_accounts AS (
    SELECT provider, min(source) AS source
    FROM billing_daily WHERE day >= $window_start AND day < $window_end
    GROUP BY ALL
),
priced AS (
    SELECT r.*,
           CAST(r.base + CASE WHEN r.rk <= r.leftover THEN 1 ELSE 0 END AS DECIMAL(38,0))
               * CAST(0.01 AS DECIMAL(3,2)) AS billed_cents,
           CASE
               WHEN r.token_type IN ('other', 'credit') THEN NULL
               WHEN r.tokens > 0 THEN r.tokens
               -- a whole line to a rule; a line split by API key (key_rule, and the rest of it
               -- under rule / unattributed): its tokens in proportion to the money
               WHEN r.basis IN ('rule', 'unattributed', 'key_rule') AND lc.line_rows = 1 THEN l.billed_tokens
               WHEN r.basis IN ('rule', 'unattributed', 'key_rule') AND l.billed <> 0
                   THEN CAST(round(l.billed_tokens * r.allocated / l.billed) AS BIGINT)
               ELSE 0
           END AS quantity,
           pk.list_usd_per_mtok, pk.usd_per_mtok,
           l.billed AS line_billed,
           lc.line_rows,
           cw.cell_estimated, cw.cell_tokens,
           coalesce(ac.source, pa.source, r.provider) AS billing_account,
           -- a non-token charge or a credit is named by its line item, in the model's place
           CASE WHEN r.token_type IN ('other', 'credit') THEN r.model END AS line_items
    FROM ranked r
    LEFT JOIN lines l USING (day, provider, account, model, service_tier, token_type)
    JOIN line_counts lc USING (day, provider, account, model, service_tier, token_type)
    LEFT JOIN price_keys pk USING (day, provider, model, service_tier, token_type)
    LEFT JOIN cell_weight cw USING (day, provider, account, model, service_tier, team, project, feature)
    LEFT JOIN accounts ac USING (provider, account)
    LEFT JOIN provider_accounts pa USING (provider)
)
SELECT day, provider, account, model, service_tier, token_type, team, project, feature,
       provisional, basis, billing_account, line_items,
       CAST(billed_cents AS DECIMAL(18,2)) AS billed_cost,
       allocated AS allocated_exact,
       quantity,
       list_usd_per_mtok, usd_per_mtok,
       CAST(round(quantity * list_usd_per_mtok * CAST(0.000001 AS DECIMAL(7,6)), 6) AS DECIMAL(38,6))
           AS list_cost,
       CAST(round(quantity * usd_per_mtok * CAST(0.000001 AS DECIMAL(7,6)), 6) AS DECIMAL(38,6))
           AS contracted_cost,
       -- share of the origin charge (billed line) this row received; Σ per line = 1
       CASE
           WHEN line_billed IS NULL THEN NULL
           WHEN line_billed = 0 THEN 1.0 / line_rows
           ELSE CAST(allocated AS DOUBLE) / CAST(line_billed AS DOUBLE)
       END AS allocated_ratio,
       CASE basis
           WHEN 'cost' THEN estimated
           WHEN 'tokens' THEN tokens
           WHEN 'cell_cost' THEN cell_estimated
           WHEN 'cell_tokens' THEN cell_tokens
           WHEN 'rule' THEN quantity
           WHEN 'unattributed' THEN quantity
           WHEN 'key_rule' THEN quantity
       END AS weight_quantity
FROM priced
ORDER BY day, provider, account, model, service_tier, token_type, team, project, feature
