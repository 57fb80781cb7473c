-- Search clicks: successful qualifying views of a table, dashboard, feature or user opened
-- from the search results, with their 1-based position (absolute across result pages).
SELECT user_norm, day, start_epoch_ms, click_index + 1 AS click_position
FROM qualifying
WHERE success
  AND day >= {from_day}
  AND command IN ('_get_table_metadata', '_get_dashboard_metadata',
                  '_get_feature_metadata', '_log_get_user')
  AND click_source = 'search_results'
  AND click_index >= 0
