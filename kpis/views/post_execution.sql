-- Post-execution records of the window and of its 29-day look-back. Pre-execution
-- duplicates have no end_epoch_ms and never count.
SELECT a.*
FROM actions a
WHERE a.end_epoch_ms IS NOT NULL
  AND a.day >= {lookback_day}
  AND a.day < {to_day}
