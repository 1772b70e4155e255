-- What FOCUS bills say of each billed line's charges (billing_charges), at bill-line grain
-- (30_bill_lines.sql: day · provider · account · model · tier · token type) · capacity ·
-- served model · owner. Units: USD DECIMAL(38,6) as billed.
-- capacity 'provisioned' marks reserved capacity billed by the hour; served_model is the model
-- such a charge serves (a rule's model, or Bedrock's provisioned-model ARN; '' when the bill
-- does not say). owner_team / owner_rule: the team a [teams.X] resources or tags rule gives the
-- charge ('resource' | 'tag'; finops/reconcile/owners.py, temp table charge_owners), NULL when
-- none does. The line's key is made exactly as 30_bill_lines.sql makes it, from the billing row
-- the charge belongs to (its sign decides 'credit'), so the amounts add up to bill_lines.billed.
CREATE OR REPLACE TEMP TABLE bill_charges AS
WITH b AS (
    SELECT source, day, provider, account, model, service_tier, token_type, line_item, currency,
           amount AS row_amount
    FROM billing_daily
    WHERE day >= $window_start AND day < $window_end
)
SELECT c.day, c.provider, c.account,
       CASE WHEN b.row_amount < 0 OR c.token_type = 'other'
            THEN coalesce(nullif(c.line_item, ''), nullif(c.model, ''), '(no line item)')
            ELSE c.model END AS model,
       c.service_tier,
       CASE WHEN b.row_amount < 0 THEN 'credit'
            WHEN c.token_type = 'cache_write_1h' THEN 'cache_write'
            ELSE c.token_type END AS token_type,
       c.capacity,
       CASE WHEN c.capacity = 'provisioned' THEN c.model ELSE '' END AS served_model,
       o.team AS owner_team, o.rule AS owner_rule,
       sum(c.amount) AS amount
FROM billing_charges c
JOIN b USING (source, day, provider, account, model, service_tier, token_type, line_item, currency)
LEFT JOIN charge_owners o ON o.resource_id = c.resource_id AND o.tags = c.tags
WHERE c.day >= $window_start AND c.day < $window_end
GROUP BY ALL
