-- Active days: one row per user and UTC day with a qualifying record (window and
-- look-back), with that day's qualifying records and the user's last activity time on it.
-- The activity KPIs count users from these rows instead of from every record.
SELECT user_norm, day, COUNT(*) AS actions, MAX(start_epoch_ms) AS last_activity_ms
FROM qualifying
GROUP BY user_norm, day
