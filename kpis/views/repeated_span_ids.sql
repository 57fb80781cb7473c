-- Span ids carried by more than one post-execution record: an at-least-once loader may
-- land a record twice. Nearly every span id occurs once, so this is usually empty.
-- (`post_actions` numbers the records of these ids per trace/span id and day, so an id
-- found here that repeats only across days changes nothing: the embedded engine may
-- therefore compute this view a few days at a time and put the results together, when
-- the window's span ids do not fit in memory at once.)
SELECT span_id AS r_span_id
FROM post_execution
WHERE span_id IS NOT NULL
GROUP BY span_id
HAVING COUNT(*) > 1
