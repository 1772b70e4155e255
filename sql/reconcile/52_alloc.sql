-- The billed charges (every line but credits) split over teams: 51_split_macro.sql.
-- Grain: line (day · provider · account · model · tier · token type) · team · project ·
-- feature. Units: allocated USD DECIMAL(18,6); Σ per line = the line's B exactly.
CREATE OR REPLACE TEMP TABLE alloc AS
SELECT * FROM split_billed(false)
