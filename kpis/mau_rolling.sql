-- MAU rolling(d): distinct users active in days d-29 ... d (may reach before the window).
--
-- Counted without DISTINCT. A user's active day a makes them count on days a ... a+29; of
-- those, the user's previous active day p already covered those before p+30. So each
-- active day adds a stretch of its own, from max(a, p+30) up to (not including) a+30, and
-- every user is in exactly one stretch on each day they count: MAU(d) is the number of
-- stretches around d. The stretches are counted per (start, end), which leaves a few
-- hundred rows to join with the window's days. (Joining every user-day to the 30 window
-- days it counts on, then COUNT(DISTINCT), repeated each user-day 30 times and grew
-- faster than the data.)
WITH stretches AS (
  SELECT CASE WHEN prev_day IS NULL OR prev_day + 30 <= day THEN day ELSE prev_day + 30 END
           AS from_day,
         day + 30 AS until_day
  FROM (
    SELECT day, LAG(day) OVER (PARTITION BY user_norm ORDER BY day) AS prev_day
    FROM active_days
  ) t
),
counted AS (
  SELECT from_day, until_day, COUNT(*) AS users
  FROM stretches
  GROUP BY from_day, until_day
)
SELECT w.day, CAST(COALESCE(SUM(c.users), 0) AS BIGINT) AS mau
FROM window_days w
LEFT JOIN counted c ON c.from_day <= w.day AND w.day < c.until_day
GROUP BY w.day
ORDER BY w.day
