-- Post-execution records of the window and of its 29-day look-back (pre-execution
-- duplicates have no end_epoch_ms and never count). Each record is numbered among the
-- copies sharing its trace/span id, because an at-least-once loader may land one twice.
SELECT a.*,
       ROW_NUMBER() OVER (
         PARTITION BY a.trace_id, a.span_id
         ORDER BY a.start_epoch_ms, a.end_epoch_ms
       ) AS copy_no
FROM actions a
WHERE a.end_epoch_ms IS NOT NULL
  AND a.day >= {lookback_day}
  AND a.day < {to_day}
