-- Metadata edits per day of the window and type (days without edits are absent).
SELECT day, edit_type, COUNT(*) AS edits
FROM edits
GROUP BY day, edit_type
ORDER BY day, edit_type
