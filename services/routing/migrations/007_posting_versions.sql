-- A version per posting, kept by PostgreSQL (issue 13 item 6). Each batch asks whether the
-- open openings are still the ones routing indexed; the answer was a hash of every open
-- opening's id and times as text, computed again each batch: at 5,000 openings the largest
-- of routing's statements under single referrals (0.40 ms a referral at batches of ~36),
-- most of it formatting timestamps and hashing text. Now every change of a posting draws a
-- new number from a sequence into `posting_version` (in the row, so it is seen when the
-- change commits), and the batch sums a hash of those integers.
--
-- What changes a posting is every column the index reads (`store._opening`) and the open
-- set's: every column but the slots taken (`routed_count`, changed by each batch), the swept
-- hold (`hold_released`, not part of a posting) and the version itself. A column added to
-- `openings` belongs in the list below unless it is one of those
-- (tests/integration/test_routing_posting_versions.py fails until it is).
CREATE SEQUENCE posting_versions;
ALTER TABLE openings ADD COLUMN posting_version bigint NOT NULL DEFAULT nextval('posting_versions');

CREATE FUNCTION posting_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.posting_version := nextval('posting_versions');
    RETURN NEW;
END $$;

CREATE TRIGGER posting_changed BEFORE UPDATE ON openings FOR EACH ROW
    WHEN ((OLD.opening_id, OLD.employer_id, OLD.title, OLD.onet_soc_code, OLD.required_skills, OLD.preferred_skills,
           OLD.capacity, OLD.posted_at, OLD.location, OLD.remote, OLD.required_credentials, OLD.degree_required,
           OLD.state, OLD.updated_at)
          IS DISTINCT FROM
          (NEW.opening_id, NEW.employer_id, NEW.title, NEW.onet_soc_code, NEW.required_skills, NEW.preferred_skills,
           NEW.capacity, NEW.posted_at, NEW.location, NEW.remote, NEW.required_credentials, NEW.degree_required,
           NEW.state, NEW.updated_at))
    EXECUTE FUNCTION posting_changed();
