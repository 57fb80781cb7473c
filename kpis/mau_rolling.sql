-- MAU rolling(d): distinct users active in days d-29 ... d (may reach before the window).
SELECT w.day, COUNT(DISTINCT a.user_norm) AS mau
FROM window_days w
LEFT JOIN active_days a ON a.day >= w.day - 29 AND a.day <= w.day
GROUP BY w.day
ORDER BY w.day
