-- Remove the month's previous recon_lines rows before they are recomputed (same transaction).
DELETE FROM recon_lines WHERE month = $window_start
