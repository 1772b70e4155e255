-- Days of the month still provisional (younger than the restatement window). Grain: day.
SELECT DISTINCT day FROM recon_lines WHERE month = $window_start AND provisional ORDER BY day
