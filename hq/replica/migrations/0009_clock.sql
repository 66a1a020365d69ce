-- Entries a store filed before its clock was set from a time source (user
-- property clock=unsynced): their times may be far off, so HQ places them
-- by the store's seq and sseq. The flag is kept where the entries land, and
-- on a parked entry until it applies. The store's presence says whether
-- its clock is set now (NULL: the store does not say).
ALTER TABLE messages ADD COLUMN clock_unsynced boolean NOT NULL DEFAULT false;
ALTER TABLE booking_changes ADD COLUMN clock_unsynced boolean NOT NULL DEFAULT false;
ALTER TABLE hq_outcomes ADD COLUMN clock_unsynced boolean NOT NULL DEFAULT false;
ALTER TABLE audit_entries ADD COLUMN clock_unsynced boolean NOT NULL DEFAULT false;
ALTER TABLE parked ADD COLUMN clock_unsynced boolean NOT NULL DEFAULT false;
ALTER TABLE stores ADD COLUMN clock_synced boolean;
