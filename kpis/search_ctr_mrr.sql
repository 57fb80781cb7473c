-- Search CTR and MRR. A search's clicks are the same user's search clicks at or after it,
-- less than 10 minutes after it and before that user's next search; its first click is
-- the earliest (at equal times, the smaller position). CTR = searches with a click /
-- searches; MRR = mean of 1 / first position, 0 for searches without a click.
--
-- Searches and clicks are also joined on 10-minute buckets of their times: a click less
-- than 10 minutes after a search lies in the search's bucket or the next one, so each
-- search is paired with the clicks of those two buckets only, not with every click of its
-- user (which made this join grow with the square of a user's activity).
--
-- Each search gets a number among its user's searches (search_no, in time order, ties
-- broken by trace/span id); both windows of `s` share that order, so one sort serves both.
WITH s AS (
  SELECT user_norm, start_epoch_ms AS t,
         ROW_NUMBER() OVER (PARTITION BY user_norm
                            ORDER BY start_epoch_ms, trace_id, span_id) AS search_no,
         LEAD(start_epoch_ms) OVER (PARTITION BY user_norm
                                    ORDER BY start_epoch_ms, trace_id, span_id) AS next_t
  FROM searches
),
s_buckets AS (
  SELECT s.user_norm, s.t, s.search_no, s.next_t,
         CAST(FLOOR(s.t / 600000.0) AS BIGINT) + o.next_bucket AS bucket
  FROM s
  CROSS JOIN (SELECT 0 AS next_bucket UNION ALL SELECT 1 AS next_bucket) o
),
c_buckets AS (
  SELECT user_norm, start_epoch_ms, click_position,
         CAST(FLOOR(start_epoch_ms / 600000.0) AS BIGINT) AS bucket
  FROM search_clicks
),
matched AS (
  SELECT s.user_norm, s.search_no, c.start_epoch_ms AS click_t, c.click_position
  FROM s_buckets s
  JOIN c_buckets c
    ON c.user_norm = s.user_norm
   AND c.bucket = s.bucket
   AND c.start_epoch_ms >= s.t
   AND c.start_epoch_ms < s.t + 600000
   AND (s.next_t IS NULL OR c.start_epoch_ms < s.next_t)
),
-- Each user's matches in search order, every search's clicks earliest first: a search's
-- first click is the row where the search number changes. (One window partition per
-- user; numbering the clicks of each search instead makes a partition of every search,
-- which was by far the slowest step.)
ordered AS (
  SELECT search_no, click_position,
         LAG(search_no) OVER (PARTITION BY user_norm
                              ORDER BY search_no, click_t, click_position) AS prev_no
  FROM matched
),
firsts AS (
  SELECT COUNT(*) AS clicked_searches,
         SUM(CAST(1 AS DOUBLE) / click_position) AS rr_sum
  FROM ordered
  WHERE prev_no IS NULL OR prev_no <> search_no
),
total AS (
  SELECT COUNT(*) AS searches FROM s
)
SELECT t.searches, f.clicked_searches,
       CAST(f.clicked_searches AS DOUBLE) / NULLIF(t.searches, 0) AS ctr,
       COALESCE(f.rr_sum, 0) / NULLIF(t.searches, 0) AS mrr
FROM total t
CROSS JOIN firsts f
