-- WAU rolling(d): distinct users active in days d-6 ... d (may reach before the window).
--
-- Counted without DISTINCT, as MAU rolling is (see mau_rolling.sql): each active day a,
-- after the user's previous active day p, adds a stretch from max(a, p+7) up to (not
-- including) a+7, and WAU(d) is the number of stretches around d.
WITH stretches AS (
  SELECT CASE WHEN prev_day IS NULL OR prev_day + 7 <= day THEN day ELSE prev_day + 7 END
           AS from_day,
         day + 7 AS until_day
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
SELECT w.day, CAST(COALESCE(SUM(c.users), 0) AS BIGINT) AS wau
FROM window_days w
LEFT JOIN counted c ON c.from_day <= w.day AND w.day < c.until_day
GROUP BY w.day
ORDER BY w.day
