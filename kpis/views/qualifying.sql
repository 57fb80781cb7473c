-- Qualifying records: one copy of each post-execution record, with a non-empty user who is
-- not on the exclude list (service accounts). Spans the window and its look-back.
SELECT p.*
FROM post_actions p
LEFT JOIN excluded_users x ON x.user_norm = p.user_norm
WHERE p.user_norm IS NOT NULL
  AND x.user_norm IS NULL
  AND p.copy_no = 1
