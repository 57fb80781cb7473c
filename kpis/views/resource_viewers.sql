-- Views of tables and dashboards: successful qualifying views of the window (records with
-- a resource key), counted per resource and viewer. The top lists add the counts up and
-- count distinct viewers, so a resource and viewer may as well come in several rows: the
-- embedded engine may compute this view from a few days of `post_actions` at a time.
SELECT command, resource_key, user_norm, COUNT(*) AS view_count
FROM qualifying
WHERE success
  AND command IN ('_get_table_metadata', '_get_dashboard_metadata')
  AND day >= {from_day}
  AND resource_key IS NOT NULL
GROUP BY command, resource_key, user_norm
