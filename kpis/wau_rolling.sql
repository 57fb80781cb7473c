-- WAU rolling(d): distinct users active in days d-6 ... d (may reach before the window).
WITH ud AS (
  SELECT DISTINCT user_norm, day FROM qualifying
)
SELECT w.day, COUNT(DISTINCT ud.user_norm) AS wau
FROM window_days w
LEFT JOIN ud ON ud.day >= w.day - 6 AND ud.day <= w.day
GROUP BY w.day
ORDER BY w.day
