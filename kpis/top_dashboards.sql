-- Top 50 dashboards: views, distinct viewers, score = viewers x ln(views); dashboards
-- with fewer viewers than the minimum are left out.
SELECT resource_key AS uri,
       views,
       viewers,
       viewers * LN(CAST(views AS DOUBLE)) AS score
FROM resource_popularity
WHERE command = '_get_dashboard_metadata'
  AND viewers >= {min_viewers}
ORDER BY views DESC, viewers DESC, uri ASC
LIMIT 50
