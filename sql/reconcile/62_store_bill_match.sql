-- Persist how each billed line of the month was matched (grain and units as recon_bill_match).
INSERT INTO recon_bill_match BY NAME
SELECT $window_start AS month, day, provider, account, model, service_tier, token_type, billed,
       matched_by, match_account, rule_team
FROM bill_match
