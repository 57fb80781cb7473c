-- Metadata edits per type and method (method is NULL for descriptions).
SELECT edit_type, method, COUNT(*) AS edits
FROM edits
GROUP BY edit_type, method
ORDER BY edit_type, method NULLS FIRST
