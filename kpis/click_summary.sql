-- Search clicks: count, mean and median position, share of clicks at positions 1-3.
-- The median is the mean of the middle value(s): rows whose 2 * rank lies in [n, n + 2]
-- are the middle one for odd n and the middle two for even n (no integer division, whose
-- meaning differs between engines).
WITH ranked AS (
  SELECT click_position,
         ROW_NUMBER() OVER (ORDER BY click_position) AS rn,
         COUNT(*) OVER () AS n
  FROM search_clicks
),
med AS (
  SELECT AVG(CAST(click_position AS DOUBLE)) AS median_position
  FROM ranked
  WHERE 2 * rn >= n AND 2 * rn <= n + 2
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
