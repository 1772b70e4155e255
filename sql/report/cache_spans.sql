-- Span cache tokens per provider for the month, beside the bill's (cache_bill.sql), with the same
-- exclusions on neither side: every span row. Grain: provider. Units: tokens.
SELECT provider,
       coalesce(sum(tokens) FILTER (WHERE token_type = 'cache_read'), 0)::BIGINT  AS cache_read_tokens,
       coalesce(sum(tokens) FILTER (WHERE token_type = 'cache_write'), 0)::BIGINT AS cache_write_tokens
FROM recon_alloc
WHERE month = $window_start
GROUP BY provider
ORDER BY provider
