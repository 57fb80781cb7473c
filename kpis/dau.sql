-- DAU(d): distinct users with a qualifying record on each day d of the window.
WITH ud AS (
  SELECT DISTINCT user_norm, day FROM qualifying WHERE day >= {from_day}
)
SELECT w.day, COUNT(ud.user_norm) AS dau
FROM window_days w
LEFT JOIN ud ON ud.day = w.day
GROUP BY w.day
ORDER BY w.day
