-- Top 50 active users: qualifying records in the window, active days, last activity.
SELECT user_norm AS user_name,
       COUNT(*) AS actions,
       COUNT(DISTINCT day) AS active_days,
       MAX(start_epoch_ms) AS last_activity_ms
FROM qualifying
WHERE day >= {from_day}
GROUP BY user_norm
ORDER BY actions DESC, user_name ASC
LIMIT 50
