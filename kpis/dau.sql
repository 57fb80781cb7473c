-- DAU(d): distinct users with a qualifying record on each day d of the window.
SELECT w.day, COUNT(a.user_norm) AS dau
FROM window_days w
LEFT JOIN active_days a ON a.day = w.day
GROUP BY w.day
ORDER BY w.day
