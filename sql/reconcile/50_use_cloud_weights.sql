-- alloc_weights with the lines cloud_weights weighs (50_cloud_weights.sql: tag and resource
-- rules, provisioned capacity) weighted by it instead. Grain and units as alloc_weights.
CREATE OR REPLACE TEMP TABLE alloc_weights AS
SELECT * FROM alloc_weights
ANTI JOIN cloud_weights USING (day, provider, account, model, service_tier, token_type)
UNION ALL
SELECT day, provider, account, model, service_tier, token_type, team, project, feature, w, basis
FROM cloud_weights
