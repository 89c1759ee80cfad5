-- Issue 10: sanctions lists, versioned. Each load of a publisher's file is a version, kept whole: screening uses
-- the latest version of each list, and an earlier version stays to say what a past screening was checked against.
-- A file that does not parse is refused before anything is written, so the active version is never a broken one.
-- Platform-wide, without program_id (like fx_rates): a list is the publisher's, the same for every programme.
CREATE TABLE sanctions_list_versions (
  id            text COLLATE "C" PRIMARY KEY,
  list          text NOT NULL CHECK (list IN ('un', 'ofac')),
  -- The publisher's date for the file (the UN's dateGenerated); NULL where the format carries none (OFAC's CSV).
  published_at  timestamptz,
  -- SHA-256 of the file's bytes: loading the same file again is recognised and changes nothing.
  sha256        bytea NOT NULL CHECK (octet_length(sha256) = 32),
  entry_count   integer NOT NULL CHECK (entry_count >= 0),
  -- The entries as src/compliance/sanctions/entry.ts has them: read whole to build a process's index.
  entries       jsonb NOT NULL CHECK (jsonb_typeof(entries) = 'array'),
  loaded_at     timestamptz NOT NULL,
  loaded_by     text NOT NULL,
  UNIQUE (list, sha256)
);
CREATE INDEX sanctions_list_versions_latest ON sanctions_list_versions (list, loaded_at DESC, id DESC);
