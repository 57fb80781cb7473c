-- Edit leaders: the 20 users with the most edits, with distinct resources edited and
-- their most frequent edit type (ties: type name ascending).
--
-- The 20 are chosen first, so that resources and types are counted for them alone:
-- numbering every editor's types took 8.6 s at 108M events, most of the query.
WITH totals AS (
  SELECT user_norm, COUNT(*) AS edits FROM edits GROUP BY user_norm
),
leaders AS (
  SELECT user_norm, edits FROM totals ORDER BY edits DESC, user_norm ASC LIMIT 20
),
leader_edits AS (
  SELECT e.user_norm, e.edit_type, e.resource
  FROM edits e
  JOIN leaders l ON l.user_norm = e.user_norm
),
per_type AS (
  SELECT user_norm, edit_type, COUNT(*) AS n FROM leader_edits GROUP BY user_norm, edit_type
),
top_type AS (
  SELECT user_norm, edit_type,
         ROW_NUMBER() OVER (PARTITION BY user_norm ORDER BY n DESC, edit_type ASC) AS rn
  FROM per_type
),
resources AS (
  SELECT user_norm, COUNT(DISTINCT resource) AS resources FROM leader_edits GROUP BY user_norm
)
SELECT l.user_norm AS user_name, l.edits, r.resources, tt.edit_type AS top_edit_type
FROM leaders l
JOIN resources r ON r.user_norm = l.user_norm
JOIN top_type tt ON tt.user_norm = l.user_norm AND tt.rn = 1
ORDER BY l.edits DESC, user_name ASC
LIMIT 20
