-- Span ids carried by more than one post-execution record of the same day: an at-least-once
-- loader may land a record twice, and the copies of a record share its start time, hence
-- its day. Nearly every span id occurs once, so this is usually empty. (Grouped per day,
-- the view can be computed one day at a time: at 100M records the span ids of the whole
-- window do not fit in memory, and the grouping spilled and grew faster than the data.)
SELECT day AS r_day, span_id AS r_span_id
FROM post_execution
WHERE span_id IS NOT NULL
GROUP BY day, span_id
HAVING COUNT(*) > 1
