-- Edit leaders: the 20 users with the most edits, with distinct resources edited and
-- their most frequent edit type (ties: type name ascending).
WITH per_type AS (
  SELECT user_norm, edit_type, COUNT(*) AS n FROM edits GROUP BY user_norm, edit_type
),
top_type AS (
  SELECT user_norm, edit_type,
         ROW_NUMBER() OVER (PARTITION BY user_norm ORDER BY n DESC, edit_type ASC) AS rn
  FROM per_type
),
totals AS (
  SELECT user_norm, COUNT(*) AS edits, COUNT(DISTINCT resource) AS resources
  FROM edits
  GROUP BY user_norm
)
SELECT t.user_norm AS user_name, t.edits, t.resources, tt.edit_type AS top_edit_type
FROM totals t
JOIN top_type tt ON tt.user_norm = t.user_norm AND tt.rn = 1
ORDER BY t.edits DESC, user_name ASC
LIMIT 20
