-- Stickiness: mean DAU over the window's days / MAU rolling on the window's last day.
-- (active_days is named once, in `ud`: an engine that computes a view wherever it is
-- named computes a CTE named twice only once.)
WITH ud AS (
  SELECT user_norm, day FROM active_days
),
daily AS (
  SELECT w.day, COUNT(ud.user_norm) AS dau
  FROM window_days w
  LEFT JOIN ud ON ud.day = w.day
  GROUP BY w.day
),
mean_dau AS (
  SELECT AVG(CAST(dau AS DOUBLE)) AS mean_dau FROM daily
),
mau_last AS (
  SELECT COUNT(DISTINCT user_norm) AS mau
  FROM ud
  WHERE day >= {to_day} - 30 AND day < {to_day}
)
SELECT d.mean_dau, m.mau AS mau_last_day, d.mean_dau / NULLIF(m.mau, 0) AS stickiness
FROM mean_dau d
CROSS JOIN mau_last m
