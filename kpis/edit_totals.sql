-- Metadata edits in the window, the users who made them and the resources they touched.
SELECT COUNT(*) AS edits,
       COUNT(DISTINCT user_norm) AS editors,
       COUNT(DISTINCT resource) AS resources
FROM edits
