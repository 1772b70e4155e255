-- The billed side at match grain: day · provider · match account · model · tier · token type,
-- where the match account is the billed account, or '' for the pool of billed accounts no span
-- names (35_bill_match.sql). Units: USD as billed; tokens (NULL when any part lacks a count).
-- billed_accounts lists the accounts a pooled line holds.
CREATE OR REPLACE TEMP TABLE match_lines AS
WITH kinds AS (  -- the few lines with a surcharge: a DISTINCT ... ORDER BY aggregate over them only
    SELECT day, provider, match_account, model, service_tier, token_type,
           string_agg(DISTINCT premium_kinds, ',' ORDER BY premium_kinds) AS premium_kinds
    FROM bill_match WHERE premium_kinds IS NOT NULL
    GROUP BY day, provider, match_account, model, service_tier, token_type
),
lines AS (
    SELECT day, provider, match_account, model, service_tier, token_type,
           min(matched_by) AS matched_by,
           min(rule_team) AS rule_team,
           sum(billed) AS billed,
           CASE WHEN bool_and(billed_tokens IS NOT NULL) THEN sum(billed_tokens) END AS billed_tokens,
           sum(premium_billed) AS premium_billed,
           CASE WHEN bool_and(premium_billed IS NULL OR premium_tokens IS NOT NULL)
                THEN sum(premium_tokens) END AS premium_tokens,
           list_sort(list_distinct(list(account))) AS billed_accounts
    FROM bill_match
    GROUP BY day, provider, match_account, model, service_tier, token_type
)
SELECT l.day, l.provider, l.match_account AS account, l.model, l.service_tier, l.token_type,
       l.matched_by, l.rule_team, l.billed, l.billed_tokens, l.premium_billed, l.premium_tokens,
       k.premium_kinds, l.billed_accounts
FROM lines l
LEFT JOIN kinds k USING (day, provider, match_account, model, service_tier, token_type)
