-- home_booking (filled by its package's change).
SELECT 1;
