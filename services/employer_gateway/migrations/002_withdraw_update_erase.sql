-- Withdrawals, profile updates and erasure. They come from intake on other topics than the
-- routing decision, so they may arrive before the referral is in an employer's inbox: what
-- arrived early is kept here, per referral, and applied when referral.routed arrives.
--   withdrawn_at / withdrawal_reason: the partner withdrew it (insert it withdrawn)
--   erased_at: the candidate was erased (insert it without personal data, withdrawn)
--   profile: the latest updated skills and credentials (they win over the routed ones);
--            NULL once the candidate is erased.
CREATE TABLE referral_notices (
    referral_id        text PRIMARY KEY,
    withdrawn_at       timestamptz,
    withdrawal_reason  text,
    erased_at          timestamptz,
    profile            jsonb,
    profile_at         timestamptz,
    CHECK (erased_at IS NULL OR profile IS NULL)
);
