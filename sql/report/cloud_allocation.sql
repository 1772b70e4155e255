-- Billed money split by what a FOCUS bill says of its charges (sql/reconcile/50_cloud_weights.sql):
-- tag and resource rules, provisioned capacity. Grain: provider · basis (tag, resource,
-- capacity, capacity_day). Units: USD as allocated (exact, DECIMAL(38,6)); teams a count.
SELECT provider, basis, sum(allocated) AS billed, count(DISTINCT team) AS teams
FROM recon_alloc
WHERE month = $window_start AND basis IN ('tag', 'resource', 'capacity', 'capacity_day')
GROUP BY provider, basis
ORDER BY provider, basis
