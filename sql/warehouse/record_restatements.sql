-- Before a billing window is replaced: every settled day (< $settled_before) that an earlier
-- load of this source covered, whose amount per line changes in the incoming rows (_incoming),
-- becomes a restatement row (a line that vanished restates to 0, a new line restates from 0).
-- Grain: day · provider · account · model · tier · token type · line item. USD as billed.
INSERT INTO restatements
WITH old AS (
    SELECT * FROM billing_daily
    WHERE source = $source AND day >= $window_start AND day < $window_end AND day < $settled_before
),
new AS (
    SELECT * FROM _incoming WHERE day < $settled_before
),
covered AS (
    SELECT DISTINCT d.day
    FROM (SELECT day FROM old UNION SELECT day FROM new) d
    JOIN load_windows lw
      ON lw.source = $source AND lw.kind = 'billing'
     AND d.day >= lw.window_start AND d.day < lw.window_end
)
SELECT $source, coalesce(o.day, n.day), coalesce(o.provider, n.provider), coalesce(o.account, n.account),
       coalesce(o.model, n.model), coalesce(o.service_tier, n.service_tier),
       coalesce(o.token_type, n.token_type), coalesce(o.line_item, n.line_item),
       coalesce(o.amount, 0), coalesce(n.amount, 0), coalesce(o.currency, n.currency),
       now()::TIMESTAMP, $run_id
FROM old o
FULL OUTER JOIN new n
  ON o.day = n.day AND o.provider = n.provider AND o.account = n.account AND o.model = n.model
 AND o.service_tier = n.service_tier AND o.token_type = n.token_type AND o.line_item = n.line_item
WHERE coalesce(o.day, n.day) IN (SELECT day FROM covered)
  AND coalesce(o.amount, 0) <> coalesce(n.amount, 0)
