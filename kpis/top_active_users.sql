-- Top 50 active users: qualifying records in the window, active days, last activity.
SELECT user_norm AS user_name,
       CAST(SUM(actions) AS BIGINT) AS actions,
       COUNT(*) AS active_days,
       MAX(last_activity_ms) AS last_activity_ms
FROM active_days
WHERE day >= {from_day}
GROUP BY user_norm
ORDER BY actions DESC, user_name ASC
LIMIT 50
