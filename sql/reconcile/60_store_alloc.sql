-- Persist the month: allocation rows joined with their estimates (full outer: span rows
-- with no bill keep allocated = 0). Grain as recon_alloc. Replaces the month in the caller's
-- transaction (the DELETEs in 55–57 run first).
INSERT INTO recon_alloc
SELECT $window_start AS month,
       coalesce(a.day, u.day), coalesce(a.provider, u.provider), coalesce(a.account, u.account),
       coalesce(a.model, u.model), coalesce(a.service_tier, u.service_tier),
       coalesce(a.token_type, u.token_type), coalesce(a.team, u.team),
       coalesce(a.project, u.project), coalesce(a.feature, u.feature),
       coalesce(u.tokens, 0), coalesce(u.unpriced_tokens, 0),
       coalesce(u.estimated, 0), coalesce(u.list_cost, 0),
       coalesce(a.allocated, 0),
       coalesce(a.basis, 'unbilled'),
       coalesce(a.day, u.day) >= $provisional_from
FROM alloc a
FULL OUTER JOIN usage_lines u
  ON a.day = u.day AND a.provider = u.provider AND a.account = u.account AND a.model = u.model
 AND a.service_tier = u.service_tier AND a.token_type = u.token_type AND a.team = u.team
 AND a.project = u.project AND a.feature = u.feature
