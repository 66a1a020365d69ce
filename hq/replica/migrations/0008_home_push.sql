-- home_push (filled by its package's change).
SELECT 1;
