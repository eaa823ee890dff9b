-- Issue 13 (speed): no statement reads the ledger by event type and time. The timeline and
-- the projections read by referral (ledger_referral), repeated events are refused by the
-- unique event id, and the skills-gap report reads all of routing's observations at once
-- (`event_type LIKE 'skills.gap_observed.%'`, a sequential scan is as good for an eighth of
-- the rows). The index cost every appended event an insertion in a random place of it
-- (event times are the events' own, not arrival order) and its WAL.
DROP INDEX IF EXISTS ledger_type_time;
