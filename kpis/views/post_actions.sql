-- Post-execution records, each numbered among the copies sharing its trace/span id and
-- day (copy_no), because an at-least-once loader may land one twice. (Copies of a record
-- share its start time, so its day: records of two days are two records.)
--
-- A record whose span id is unique is copy 1 of its trace/span id without numbering it.
-- Only records whose span id repeats (or is missing) go through ROW_NUMBER, which numbers
-- them by the full trace/span id and day: numbering every record in one window sorts the
-- whole table into millions of one-row partitions, which made this view most of a KPI
-- run's time and grew faster than the data. The result is the same as numbering
-- everything. (`repeated RIGHT JOIN post` rather than the other way round: DataFusion
-- builds its hash table from the left side, which should be the few repeated ids, not
-- every record.)
--
-- The two inputs are named once each in a WITH clause: both branches read them, and an
-- engine that computes a view wherever it is named (DuckDB does) computes a CTE named
-- twice only once.
WITH post AS (
  SELECT * FROM post_execution
),
repeated AS (
  -- DISTINCT: computed a few days at a time, an id may come once per run of days.
  SELECT DISTINCT r_span_id FROM repeated_span_ids
)
SELECT p.*, CAST(1 AS BIGINT) AS copy_no
FROM repeated r
RIGHT JOIN post p ON r.r_span_id = p.span_id
WHERE r.r_span_id IS NULL
  AND p.span_id IS NOT NULL
UNION ALL
SELECT p.*,
       CAST(ROW_NUMBER() OVER (
         PARTITION BY p.day, p.trace_id, p.span_id
         ORDER BY p.start_epoch_ms, p.end_epoch_ms
       ) AS BIGINT) AS copy_no
FROM repeated r
RIGHT JOIN post p ON r.r_span_id = p.span_id
WHERE r.r_span_id IS NOT NULL
   OR p.span_id IS NULL
