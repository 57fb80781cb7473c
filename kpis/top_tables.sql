-- Top 50 popular tables: views, distinct viewers, score = viewers x ln(views); tables
-- with fewer viewers than the minimum are left out.
SELECT resource_key AS table_key,
       COUNT(*) AS views,
       COUNT(DISTINCT user_norm) AS viewers,
       COUNT(DISTINCT user_norm) * LN(CAST(COUNT(*) AS DOUBLE)) AS score
FROM qualifying
WHERE success
  AND command = '_get_table_metadata'
  AND day >= {from_day}
  AND resource_key IS NOT NULL
GROUP BY resource_key
HAVING COUNT(DISTINCT user_norm) >= {min_viewers}
ORDER BY views DESC, viewers DESC, table_key ASC
LIMIT 50
