-- The credits split over teams by the weights of 53_credit_weights.sql (51_split_macro.sql).
-- Grain and units as 52_alloc.sql; allocated is negative.
INSERT INTO alloc
SELECT * FROM split_billed(true)
