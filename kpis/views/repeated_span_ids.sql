-- Span ids carried by more than one post-execution record: an at-least-once loader may
-- land a record twice. Nearly every span id occurs once, so this is usually empty.
SELECT span_id AS r_span_id
FROM post_execution
WHERE span_id IS NOT NULL
GROUP BY span_id
HAVING COUNT(*) > 1
