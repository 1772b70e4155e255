-- Remove the month's previous recon_bill_match rows before they are recomputed (same transaction).
DELETE FROM recon_bill_match WHERE month = $window_start
