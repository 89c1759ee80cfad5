-- The vault: data keys, stored only wrapped by the key-encryption key (which never enters the database), and each
-- programme's CVK pair, stored only encrypted under a `cvk` data key (DESIGN.md, "Card data").

-- Data keys are platform-wide (one chain of versions per purpose), so they carry no program_id. A ciphertext names
-- its key by (purpose, version). Rows are kept when a version is retired, so a version number is never reused and
-- the key's life stays on record; a retired key is no longer unwrapped by any process.
CREATE TABLE vault_data_keys (
  id             text COLLATE "C" PRIMARY KEY,
  purpose        text NOT NULL CHECK (purpose IN ('pan', 'pii', 'cvk', 'credential', 'blind_index')),
  version        bigint NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
  state          text NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
  -- The KEK that wrapped it (kek.ts, `id`): names the wrong KEK instead of reporting corruption.
  kek_id         text NOT NULL,
  wrapped_key    bytea NOT NULL,
  created_at     timestamptz NOT NULL,
  deactivated_at timestamptz,
  retired_at     timestamptz,
  UNIQUE (purpose, version),
  CHECK ((state = 'active') = (deactivated_at IS NULL)),
  CHECK ((state = 'retired') = (retired_at IS NOT NULL))
);
-- New encryptions use exactly one version per purpose.
CREATE UNIQUE INDEX vault_data_keys_active ON vault_data_keys (purpose) WHERE state = 'active';

-- One CVK pair per programme. The check value (KCV: the first six hex digits of a zero block encrypted under the
-- pair) is public by convention; it lets an operator confirm the pair matches the one registered with the network.
CREATE TABLE vault_cvk_pairs (
  id            text COLLATE "C" PRIMARY KEY,
  program_id    text COLLATE "C" NOT NULL UNIQUE,
  cvk_encrypted bytea NOT NULL,
  check_value   text NOT NULL CHECK (check_value ~ '^[0-9A-F]{6}$'),
  created_at    timestamptz NOT NULL
);
