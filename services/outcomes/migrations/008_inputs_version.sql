-- Issue 13 (speed): the version of a referral's kept compact events (referral_inputs), new at
-- every write of them (63 random bits, services/outcomes/store.py `new_version`). A process
-- keeps the compact events it wrote in memory under that version and reads them again from
-- referral_inputs only when the row's version is another one (written by another instance,
-- an erasure, a rolled-back transaction, or a rebuild, whose rows have none). Whatever writes
-- referral_inputs must give the row a new version (or set inputs_complete false).
ALTER TABLE referral_facts ADD COLUMN inputs_version bigint;
