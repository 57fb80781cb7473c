-- Search clicks: count, mean and median position, share of clicks at positions 1-3.
-- The median is the mean of the values at ranks floor((n+1)/2) and floor((n+2)/2) (the
-- middle one for odd n, the middle two for even n), found from the clicks counted per
-- position: a position holds the ranks after the clicks at smaller positions, up to and
-- including its own. (Numbering every click in one window sorted them all on one core,
-- and grew faster than the data. The halves are taken of doubles: integer division has
-- a different meaning in each engine.)
WITH per_position AS (
  SELECT click_position, COUNT(*) AS cnt
  FROM search_clicks
  GROUP BY click_position
),
ranks AS (
  SELECT click_position, cnt,
         SUM(cnt) OVER (ORDER BY click_position
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_rank,
         SUM(cnt) OVER () AS n
  FROM per_position
),
med AS (
  SELECT (MIN(CASE WHEN last_rank - cnt < FLOOR(CAST(n + 1 AS DOUBLE) / 2)
                    AND last_rank >= FLOOR(CAST(n + 1 AS DOUBLE) / 2)
                   THEN CAST(click_position AS DOUBLE) END)
          + MIN(CASE WHEN last_rank - cnt < FLOOR(CAST(n + 2 AS DOUBLE) / 2)
                      AND last_rank >= FLOOR(CAST(n + 2 AS DOUBLE) / 2)
                     THEN CAST(click_position AS DOUBLE) END)) / 2 AS median_position
  FROM ranks
),
agg AS (
  SELECT COUNT(*) AS clicks,
         AVG(CAST(click_position AS DOUBLE)) AS mean_position,
         COALESCE(SUM(CASE WHEN click_position <= 3 THEN 1 ELSE 0 END), 0) AS top3_clicks
  FROM search_clicks
)
SELECT a.clicks, a.mean_position, m.median_position, a.top3_clicks,
       CAST(a.top3_clicks AS DOUBLE) / NULLIF(a.clicks, 0) AS top3_share
FROM agg a
CROSS JOIN med m
