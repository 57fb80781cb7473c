-- What the window's records were left out for, each record counted once, in this order:
-- pre-execution duplicates, then the reasons of views/left_out_by_day.sql (repeated
-- copies, empty users, excluded users; of the qualifying rest, unparsable keyword
-- arguments and failures), added up over the days.
WITH pre AS (
  SELECT COUNT(*) AS pre_execution
  FROM actions
  WHERE end_epoch_ms IS NULL AND day >= {from_day} AND day < {to_day}
),
agg AS (
  SELECT COALESCE(SUM(duplicates), 0) AS duplicates,
         COALESCE(SUM(empty_user), 0) AS empty_user,
         COALESCE(SUM(excluded_user), 0) AS excluded_user,
         COALESCE(SUM(qualifying), 0) AS qualifying,
         COALESCE(SUM(malformed_kwargs), 0) AS malformed_kwargs,
         COALESCE(SUM(failed), 0) AS failed
  FROM left_out_by_day
)
SELECT p.pre_execution, a.duplicates, a.empty_user, a.excluded_user, a.qualifying,
       a.malformed_kwargs, a.failed
FROM pre p
CROSS JOIN agg a
