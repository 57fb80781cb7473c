-- Metadata edits of the window: successful qualifying edit records whose keyword arguments
-- parsed, with their type, the resource edited and (owners and tags) the method.
SELECT user_norm, day, start_epoch_ms,
       CASE command
         WHEN '_log_put_table_description' THEN 'table_description'
         WHEN '_log_put_column_description' THEN 'column_description'
         WHEN '_log_put_type_metadata_description' THEN 'type_metadata_description'
         WHEN '_log_update_table_owner' THEN 'table_owner'
         WHEN '_log_update_table_tags' THEN 'table_tags'
         WHEN '_log_update_dashboard_tags' THEN 'dashboard_tags'
       END AS edit_type,
       CASE WHEN command = '_log_put_column_description'
            THEN resource_key || '/' || column_name
            ELSE resource_key
       END AS resource,
       CASE WHEN command IN ('_log_update_table_owner', '_log_update_table_tags',
                             '_log_update_dashboard_tags')
            THEN method
       END AS method
FROM qualifying
WHERE success
  AND NOT kwargs_malformed
  AND day >= {from_day}
  AND command IN ('_log_put_table_description', '_log_put_column_description',
                  '_log_put_type_metadata_description', '_log_update_table_owner',
                  '_log_update_table_tags', '_log_update_dashboard_tags')
