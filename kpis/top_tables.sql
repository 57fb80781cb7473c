-- Top 50 popular tables: views, distinct viewers, score = viewers x ln(views); tables
-- with fewer viewers than the minimum are left out.
SELECT resource_key AS table_key,
       SUM(view_count) AS views,
       COUNT(DISTINCT user_norm) AS viewers,
       COUNT(DISTINCT user_norm) * LN(CAST(SUM(view_count) AS DOUBLE)) AS score
FROM resource_viewers
WHERE command = '_get_table_metadata'
GROUP BY resource_key
HAVING COUNT(DISTINCT user_norm) >= {min_viewers}
ORDER BY views DESC, viewers DESC, table_key ASC
LIMIT 50
