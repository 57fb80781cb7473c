-- Top 50 popular tables: views, distinct viewers, score = viewers x ln(views); tables
-- with fewer viewers than the minimum are left out.
SELECT resource_key AS table_key,
       views,
       viewers,
       viewers * LN(CAST(views AS DOUBLE)) AS score
FROM resource_popularity
WHERE command = '_get_table_metadata'
  AND viewers >= {min_viewers}
ORDER BY views DESC, viewers DESC, table_key ASC
LIMIT 50
