-- Zero-result rate: searches with total_results = 0 / searches with a total_results.
SELECT COUNT(*) AS searches,
       COUNT(total_results) AS with_total,
       COALESCE(SUM(CASE WHEN total_results = 0 THEN 1 ELSE 0 END), 0) AS zero_results,
       CAST(COALESCE(SUM(CASE WHEN total_results = 0 THEN 1 ELSE 0 END), 0) AS DOUBLE)
         / NULLIF(COUNT(total_results), 0) AS zero_result_rate
FROM searches
