-- Issue 16 item 6: the annual releases `talentloop publish` wrote, kept so outcomes can serve the
-- last one without a key (services/outcomes/public_api.py; docs/transparency.md, "Public
-- endpoints"). A release is its release.json's sha256: publishing the same release again stores
-- nothing. The last release is the one stored last (`stored_seq`), whatever its year.
CREATE TABLE IF NOT EXISTS releases (
    release_sha256  text PRIMARY KEY,
    stored_seq      bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    year            integer NOT NULL,
    ledger_position jsonb NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT now()
);

-- Every file of a release, release.json too, byte for byte as written to disk.
CREATE TABLE IF NOT EXISTS release_files (
    release_sha256 text NOT NULL REFERENCES releases ON DELETE CASCADE,
    path           text NOT NULL,
    sha256         text NOT NULL,
    content        bytea NOT NULL,
    PRIMARY KEY (release_sha256, path)
);
