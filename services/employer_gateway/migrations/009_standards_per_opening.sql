-- Issue 16 item 4: hiring standards per opening as well as per occupation
-- (hiring_standards.published 1.1, `opening_id`). An occupation's standards keep opening_id ''
-- (a key column cannot be NULL); an opening's replace only that opening's.
ALTER TABLE hiring_standards ADD COLUMN opening_id text NOT NULL DEFAULT '';
ALTER TABLE hiring_standards DROP CONSTRAINT hiring_standards_pkey;
ALTER TABLE hiring_standards ADD PRIMARY KEY (employer_id, onet_soc_code, opening_id);
