-- What the window's records were left out for, each record counted once, in this order:
-- pre-execution duplicates, repeated copies of one trace/span id, empty users, excluded
-- users (service accounts). Of the qualifying rest: unparsable keyword arguments (left
-- out of the KPIs that need them) and failures (left out of all but the activity KPIs).
WITH pre AS (
  SELECT COUNT(*) AS pre_execution
  FROM actions
  WHERE end_epoch_ms IS NULL AND day >= {from_day} AND day < {to_day}
),
flags AS (
  SELECT CASE WHEN p.copy_no > 1 THEN 1 ELSE 0 END AS dup,
         CASE WHEN p.user_norm IS NULL THEN 1 ELSE 0 END AS no_user,
         CASE WHEN x.user_norm IS NOT NULL THEN 1 ELSE 0 END AS excluded,
         CASE WHEN p.kwargs_malformed THEN 1 ELSE 0 END AS malformed,
         CASE WHEN p.success THEN 0 ELSE 1 END AS failed
  FROM post_actions p
  LEFT JOIN excluded_users x ON x.user_norm = p.user_norm
  WHERE p.day >= {from_day}
),
agg AS (
  SELECT COALESCE(SUM(dup), 0) AS duplicates,
         COALESCE(SUM(CASE WHEN dup = 0 AND no_user = 1 THEN 1 ELSE 0 END), 0) AS empty_user,
         COALESCE(SUM(CASE WHEN dup = 0 AND excluded = 1 THEN 1 ELSE 0 END), 0) AS excluded_user,
         COALESCE(SUM(CASE WHEN dup = 0 AND no_user = 0 AND excluded = 0 THEN 1 ELSE 0 END), 0)
           AS qualifying,
         COALESCE(SUM(CASE WHEN dup = 0 AND no_user = 0 AND excluded = 0 AND malformed = 1
                           THEN 1 ELSE 0 END), 0) AS malformed_kwargs,
         COALESCE(SUM(CASE WHEN dup = 0 AND no_user = 0 AND excluded = 0 AND failed = 1
                           THEN 1 ELSE 0 END), 0) AS failed
  FROM flags
)
SELECT p.pre_execution, a.duplicates, a.empty_user, a.excluded_user, a.qualifying,
       a.malformed_kwargs, a.failed
FROM pre p
CROSS JOIN agg a
