-- Re-routing (issue 5): a declined referral may be routed again, to another employer. Each
-- employer keeps its own copy of the referral (what it did stays its own), so a referral is
-- one row per employer it was routed to; routing never sends it back to the same employer.
ALTER TABLE interviews ADD COLUMN employer_id text;
UPDATE interviews i SET employer_id = r.employer_id FROM referrals r WHERE r.referral_id = i.referral_id;
ALTER TABLE interviews ALTER COLUMN employer_id SET NOT NULL;
ALTER TABLE interviews DROP CONSTRAINT interviews_referral_id_fkey;

ALTER TABLE referrals DROP CONSTRAINT referrals_pkey;
ALTER TABLE referrals ADD PRIMARY KEY (referral_id, employer_id);
ALTER TABLE interviews ADD FOREIGN KEY (referral_id, employer_id) REFERENCES referrals (referral_id, employer_id);

-- How a referral left an employer's hands when the employer did not act itself: declined
-- because the opening closed (or was closed before the referral arrived).
ALTER TABLE referrals ADD COLUMN decline_reason text;
