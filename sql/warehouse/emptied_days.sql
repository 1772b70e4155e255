-- Before a usage window is replaced: the days this source had usage for that the incoming
-- rows (_incoming) leave without any. Grain: one row per such day. Units: requests (spans)
-- and all token fields summed, as loaded before.
SELECT day, sum(requests) AS requests,
       sum(input_tokens + cache_read_tokens + cache_write_tokens + output_tokens) AS tokens
FROM usage_daily
WHERE source = $source AND day >= $window_start AND day < $window_end
  AND day NOT IN (SELECT DISTINCT day FROM _incoming)
GROUP BY day
ORDER BY day
