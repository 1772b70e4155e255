-- Remove the month's previous recon_alloc rows before they are recomputed (same transaction).
DELETE FROM recon_alloc WHERE month = $window_start
