-- Popularity of each table and dashboard: its successful qualifying views of the window
-- (records with a resource key) and its distinct viewers. Both top lists read this, so
-- the records are counted in one pass for both.
SELECT command, resource_key, COUNT(*) AS views, COUNT(DISTINCT user_norm) AS viewers
FROM qualifying
WHERE success
  AND command IN ('_get_table_metadata', '_get_dashboard_metadata')
  AND day >= {from_day}
  AND resource_key IS NOT NULL
GROUP BY command, resource_key
