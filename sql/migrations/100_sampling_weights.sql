-- Version 100: sampling-aware span weights (README "How the numbers are made").
-- usage_daily.requests and the token fields are sampling-weighted estimates of the unsampled
-- totals (each span counts 1 / its sampling probability); seen_requests is the spans the source
-- actually saw for the row. NULL: loaded before weights existed (then requests are the spans).
ALTER TABLE usage_daily ADD COLUMN seen_requests BIGINT;

-- Reconciliation lines: the spans seen in the cell beside span_requests (their weighted
-- estimate), so the coverage part can say what was estimated from how many spans.
ALTER TABLE recon_lines ADD COLUMN span_seen BIGINT;

-- Usage loads: what the load's spans were weighted by ("weighted: <rules>") or why the source
-- could not see their sampling ("not seen: <why>"); NULL where neither applies. The month's
-- report names both in its notes.
ALTER TABLE load_windows ADD COLUMN sampling VARCHAR;
