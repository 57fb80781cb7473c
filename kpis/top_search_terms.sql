-- Top 50 search terms by searches, with distinct users.
SELECT term, COUNT(*) AS searches, COUNT(DISTINCT user_norm) AS users
FROM searches
GROUP BY term
ORDER BY searches DESC, term ASC
LIMIT 50
