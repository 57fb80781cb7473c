-- Search CTR and MRR. A search's clicks are the same user's search clicks at or after it,
-- less than 10 minutes after it and before that user's next search; its first click is
-- the earliest (at equal times, the smaller position). CTR = searches with a click /
-- searches; MRR = mean of 1 / first position, 0 for searches without a click.
WITH s AS (
  SELECT user_norm, start_epoch_ms AS t, trace_id, span_id,
         LEAD(start_epoch_ms) OVER (PARTITION BY user_norm ORDER BY start_epoch_ms) AS next_t
  FROM searches
),
matched AS (
  SELECT s.user_norm, s.t, c.click_position,
         ROW_NUMBER() OVER (
           PARTITION BY s.user_norm, s.t, s.trace_id, s.span_id
           ORDER BY c.start_epoch_ms, c.click_position
         ) AS rn
  FROM s
  JOIN search_clicks c
    ON c.user_norm = s.user_norm
   AND c.start_epoch_ms >= s.t
   AND c.start_epoch_ms < s.t + 600000
   AND (s.next_t IS NULL OR c.start_epoch_ms < s.next_t)
),
firsts AS (
  SELECT COUNT(*) AS clicked_searches,
         SUM(CAST(1 AS DOUBLE) / click_position) AS rr_sum
  FROM matched
  WHERE rn = 1
),
total AS (
  SELECT COUNT(*) AS searches FROM s
)
SELECT t.searches, f.clicked_searches,
       CAST(f.clicked_searches AS DOUBLE) / NULLIF(t.searches, 0) AS ctr,
       COALESCE(f.rr_sum, 0) / NULLIF(t.searches, 0) AS mrr
FROM total t
CROSS JOIN firsts f
