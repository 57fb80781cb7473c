-- Searches: successful qualifying _search_resources records of the window on their first
-- results page (later pages continue the same search), with a non-empty normalised term.
SELECT user_norm, day, start_epoch_ms, search_term AS term, total_results
FROM qualifying
WHERE success
  AND command = '_search_resources'
  AND day >= {from_day}
  AND (page_index IS NULL OR page_index = 0)
  AND search_term IS NOT NULL
