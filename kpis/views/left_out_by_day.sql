-- Per day of the window, the post-execution records left out, each counted once, in this
-- order: repeated copies of one trace/span id, empty users, excluded users (service
-- accounts). Of the qualifying rest: unparsable keyword arguments (left out of the KPIs
-- that need them) and failures (left out of all but the activity KPIs). `exclusions.sql`
-- adds the days up; per day, because the embedded engine may compute this view from a
-- few days of `post_actions` at a time.
WITH flags AS (
  SELECT p.day,
         CASE WHEN p.copy_no > 1 THEN 1 ELSE 0 END AS dup,
         CASE WHEN p.user_norm IS NULL THEN 1 ELSE 0 END AS no_user,
         CASE WHEN x.user_norm IS NOT NULL THEN 1 ELSE 0 END AS excluded,
         CASE WHEN p.kwargs_malformed THEN 1 ELSE 0 END AS malformed,
         CASE WHEN p.success THEN 0 ELSE 1 END AS failed
  FROM post_actions p
  LEFT JOIN excluded_users x ON x.user_norm = p.user_norm
  WHERE p.day >= {from_day}
)
SELECT day,
       SUM(dup) AS duplicates,
       SUM(CASE WHEN dup = 0 AND no_user = 1 THEN 1 ELSE 0 END) AS empty_user,
       SUM(CASE WHEN dup = 0 AND excluded = 1 THEN 1 ELSE 0 END) AS excluded_user,
       SUM(CASE WHEN dup = 0 AND no_user = 0 AND excluded = 0 THEN 1 ELSE 0 END) AS qualifying,
       SUM(CASE WHEN dup = 0 AND no_user = 0 AND excluded = 0 AND malformed = 1
                THEN 1 ELSE 0 END) AS malformed_kwargs,
       SUM(CASE WHEN dup = 0 AND no_user = 0 AND excluded = 0 AND failed = 1
                THEN 1 ELSE 0 END) AS failed
FROM flags
GROUP BY day
