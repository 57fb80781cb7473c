-- Search clicks per position 1 ... 10, and bucket 11 for positions 11 and above.
SELECT CASE WHEN click_position >= 11 THEN 11 ELSE click_position END AS bucket,
       COUNT(*) AS clicks
FROM search_clicks
GROUP BY CASE WHEN click_position >= 11 THEN 11 ELSE click_position END
ORDER BY bucket
