-- Each partner's own id of a person. The network-wide candidate id links every partner's
-- referrals of one person (for the counts, the key and an operator's erasure); told to a
-- partner it would reveal other partners' referrals: after erasing its own and referring
-- the same e-mail again, the partner would see whether others still hold the person (the
-- same id) or not; referring an e-mail and then a phone, whether the network links them.
-- A partner is told an id of its own instead, linked only by what it supplied itself: a
-- referral takes the id of the partner's earlier (not erased) referral sharing an e-mail or
-- phone hash with it (`identity_hashes`, the referral's own), else a new random one. The
-- partner's duplicate check and its erasure go by that id; erasure drops both columns.
-- (Found among the partner's referrals of the same network candidate: `referrals_candidate`.)
ALTER TABLE referrals ADD COLUMN partner_candidate_id text, ADD COLUMN identity_hashes text[];

-- Referrals from before: one id per partner and network candidate, and the candidate's
-- linked hashes (what the network had linked is what the partner was told until now).
WITH held AS (
    SELECT partner_id, candidate_id, 'cand_' || replace(gen_random_uuid()::text, '-', '') AS partner_candidate_id
    FROM (SELECT DISTINCT partner_id, candidate_id FROM referrals WHERE status <> 'erased') AS pairs
)
UPDATE referrals r SET partner_candidate_id = held.partner_candidate_id
FROM held WHERE r.partner_id = held.partner_id AND r.candidate_id = held.candidate_id;
UPDATE referrals r SET identity_hashes = COALESCE(
    (SELECT array_agg(i.identity_hash ORDER BY i.identity_hash) FROM candidate_identities i WHERE i.candidate_id = r.candidate_id),
    '{}')
WHERE status <> 'erased';

CREATE INDEX referrals_partner_candidate ON referrals (partner_id, partner_candidate_id);
