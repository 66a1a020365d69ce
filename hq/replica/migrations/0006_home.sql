-- home (filled by its package's change).
SELECT 1;
