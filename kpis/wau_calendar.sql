-- WAU calendar(w): for each ISO week overlapping the window, distinct users active on the
-- week's days inside the window. Epoch day 0 was a Thursday, so an ISO week (Monday
-- first) starts on day - ((day + 3) % 7). A week with fewer than 7 window days is partial.
WITH weeks AS (
  SELECT w.day - ((w.day + 3) % 7) AS week_start, COUNT(*) AS days_in_window
  FROM window_days w
  GROUP BY w.day - ((w.day + 3) % 7)
),
uw AS (
  SELECT DISTINCT user_norm, day - ((day + 3) % 7) AS week_start
  FROM active_days
  WHERE day >= {from_day}
)
SELECT k.week_start, k.days_in_window, k.days_in_window < 7 AS partial,
       COUNT(uw.user_norm) AS wau
FROM weeks k
LEFT JOIN uw ON uw.week_start = k.week_start
GROUP BY k.week_start, k.days_in_window
ORDER BY k.week_start
