-- Organisation admins manage their webhook endpoints from the portal (docs/portals.md), which
-- calls the services with the organisation's key: it needs the `webhooks` scope, which keys
-- issued before (machine_keys.py then asked for `read` and `write`) are given here.
DO $$
BEGIN
    IF to_regclass('credentials.api_keys') IS NOT NULL THEN
        UPDATE credentials.api_keys SET scopes = array_append(scopes, 'webhooks')
         WHERE key_id IN (SELECT key_id FROM org_keys) AND NOT ('webhooks' = ANY (scopes));
    END IF;
END $$;
