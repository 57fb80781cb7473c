-- Post-execution records, each numbered among the copies sharing its trace/span id and
-- day (copy_no), because an at-least-once loader may land one twice. (Copies of a record
-- share its start time, so its day: records of two days are two records.) A record
-- without a trace id or a span id cannot be told from another, so it is copy 1 of its
-- own: the other SQL then needs copy_no alone, not the ids (which are most of a record's
-- bytes, and would be held or written with it).
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
-- The records to number are found by an inner join with the repeated ids plus a filter
-- on a missing id, not by one outer join: with no repeated ids (the usual case) the join
-- reads nothing, and the filter on a missing id is answered from the Parquet files'
-- statistics, so this branch does not read every record a second time.
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
),
to_number AS (
  SELECT p.*
  FROM repeated r
  JOIN post p ON r.r_span_id = p.span_id
  UNION ALL
  SELECT p.*
  FROM post p
  WHERE p.span_id IS NULL
)
SELECT p.*, CAST(1 AS BIGINT) AS copy_no
FROM repeated r
RIGHT JOIN post p ON r.r_span_id = p.span_id
WHERE r.r_span_id IS NULL
  AND p.span_id IS NOT NULL
UNION ALL
SELECT n.*,
       CASE WHEN n.trace_id IS NULL OR n.span_id IS NULL THEN CAST(1 AS BIGINT)
            ELSE CAST(ROW_NUMBER() OVER (
                   PARTITION BY n.day, n.trace_id, n.span_id
                   ORDER BY n.start_epoch_ms, n.end_epoch_ms
                 ) AS BIGINT)
       END AS copy_no
FROM to_number n
