-- Re-routing (issue 5): a declined referral is routed again, to another employer, as a new
-- attempt. Each fact is kept with whose it is (the employer, and a routing decision's
-- attempt), so the current routing and the partner's status follow from them.
ALTER TABLE referral_facts
    ADD COLUMN scoped_facts jsonb NOT NULL DEFAULT '[]',  -- [[fact, employer_id, attempt], ...]
    ADD COLUMN attempt      int   NOT NULL DEFAULT 0;
-- Facts recorded before this migration had no scope: they stay as they were.
UPDATE referral_facts SET scoped_facts = (SELECT coalesce(jsonb_agg(jsonb_build_array(f, NULL, NULL)), '[]') FROM unnest(facts) AS f);
