-- Users per role: headcount, active users (a qualifying record in the window, matched on
-- the normalised e-mail) and penetration. Roles under the minimum headcount fold into
-- 'other'; active users without an employee row are 'unknown' (no headcount).
WITH emp AS (
  SELECT lower(trim(email)) AS email,
         COALESCE(NULLIF(trim(role), ''), 'unspecified') AS role
  FROM employees
  WHERE email IS NOT NULL AND trim(email) <> ''
),
heads AS (
  SELECT role, COUNT(*) AS headcount FROM emp GROUP BY role
),
role_map AS (
  SELECT role,
         CASE WHEN headcount < {min_role_headcount} THEN 'other' ELSE role END AS out_role
  FROM heads
),
folded AS (
  SELECT m.out_role AS role, SUM(h.headcount) AS headcount
  FROM heads h
  JOIN role_map m ON m.role = h.role
  GROUP BY m.out_role
),
active AS (
  SELECT DISTINCT user_norm FROM active_days WHERE day >= {from_day}
),
active_by_role AS (
  SELECT m.out_role AS role, COUNT(DISTINCT a.user_norm) AS active_users
  FROM active a
  JOIN emp e ON e.email = a.user_norm
  JOIN role_map m ON m.role = e.role
  GROUP BY m.out_role
),
unknown AS (
  SELECT COUNT(DISTINCT a.user_norm) AS active_users
  FROM active a
  LEFT JOIN emp e ON e.email = a.user_norm
  WHERE e.email IS NULL
)
SELECT f.role,
       CAST(f.headcount AS BIGINT) AS headcount,
       CAST(COALESCE(r.active_users, 0) AS BIGINT) AS active_users,
       CAST(COALESCE(r.active_users, 0) AS DOUBLE) / f.headcount AS penetration
FROM folded f
LEFT JOIN active_by_role r ON r.role = f.role
UNION ALL
SELECT 'unknown' AS role,
       CAST(NULL AS BIGINT) AS headcount,
       CAST(u.active_users AS BIGINT) AS active_users,
       CAST(NULL AS DOUBLE) AS penetration
FROM unknown u
ORDER BY role
