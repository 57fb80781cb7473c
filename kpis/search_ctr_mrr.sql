-- Search CTR and MRR. A search's clicks are the same user's search clicks at or after it,
-- less than 10 minutes after it and before that user's next search; its first click is
-- the earliest (at equal times, the smaller position). CTR = searches with a click /
-- searches; MRR = mean of 1 / first position, 0 for searches without a click.
--
-- Every user's searches and clicks are put in one time line (at equal times searches
-- first, then clicks by position). A click can only belong to the search right before it
-- in that line: any earlier search has a next search at or before the click. So a
-- search's first click is the click that directly follows it, if it comes less than 10
-- minutes later; a search followed by another search, or by a later click, has none.
-- (Of searches at the same time only the last can have clicks, whichever it is, so they
-- need no order among themselves.)
-- (One window per user over searches and clicks, where joining searches to clicks on
-- time buckets needs the join and a second window.)
WITH timeline AS (
  SELECT user_norm, start_epoch_ms AS t, 0 AS kind, CAST(NULL AS BIGINT) AS click_position
  FROM searches
  UNION ALL
  SELECT user_norm, start_epoch_ms AS t, 1 AS kind, click_position
  FROM search_clicks
),
ordered AS (
  SELECT kind, t, click_position,
         LAG(kind) OVER (PARTITION BY user_norm
                         ORDER BY t, kind, click_position) AS prev_kind,
         LAG(t) OVER (PARTITION BY user_norm
                      ORDER BY t, kind, click_position) AS prev_t
  FROM timeline
),
firsts AS (
  SELECT COUNT(*) AS clicked_searches,
         SUM(CAST(1 AS DOUBLE) / click_position) AS rr_sum
  FROM ordered
  WHERE kind = 1
    AND prev_kind = 0
    AND t < prev_t + 600000
),
total AS (
  SELECT COUNT(*) AS searches FROM searches
)
SELECT t.searches, f.clicked_searches,
       CAST(f.clicked_searches AS DOUBLE) / NULLIF(t.searches, 0) AS ctr,
       COALESCE(f.rr_sum, 0) / NULLIF(t.searches, 0) AS mrr
FROM total t
CROSS JOIN firsts f
