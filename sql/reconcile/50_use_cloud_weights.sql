-- alloc_weights with the lines cloud_weights weighs (50_cloud_weights.sql: tag and resource
-- rules, provisioned capacity) weighted by it instead. Grain and units as alloc_weights.
-- In place (a delete and an insert), so a bill without such lines leaves the table untouched.
DELETE FROM alloc_weights w
USING (SELECT DISTINCT day, provider, account, model, service_tier, token_type FROM cloud_weights) c
WHERE w.day = c.day AND w.provider = c.provider AND w.account = c.account AND w.model = c.model
  AND w.service_tier = c.service_tier AND w.token_type = c.token_type;
INSERT INTO alloc_weights
SELECT day, provider, account, model, service_tier, token_type, team, project, feature, w, basis
FROM cloud_weights
