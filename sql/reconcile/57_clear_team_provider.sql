-- Remove the month's previous recon_team_provider rows before they are recomputed (same transaction).
DELETE FROM recon_team_provider WHERE month = $window_start
