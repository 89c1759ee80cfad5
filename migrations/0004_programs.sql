-- Programmes (tenants), their API keys with scopes, and the platform's operator users.

CREATE TABLE programs (
  id                   text COLLATE "C" PRIMARY KEY,
  -- Every table carries program_id (DESIGN.md, "Scaling out"); for the programme itself it is its own id.
  program_id           text COLLATE "C" NOT NULL GENERATED ALWAYS AS (id) STORED,
  name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  bin                  text NOT NULL CHECK (bin ~ '^[0-9]{6}([0-9]{2})?$'),
  pan_length           integer NOT NULL CHECK (pan_length BETWEEN 13 AND 19),
  currencies           text[] NOT NULL CHECK (cardinality(currencies) BETWEEN 1 AND 20),
  region               text NOT NULL,
  card_validity_months integer NOT NULL CHECK (card_validity_months BETWEEN 1 AND 120),
  mode                 text NOT NULL CHECK (mode IN ('sandbox', 'live')),
  time_zone            text NOT NULL,
  status               text NOT NULL CHECK (status IN ('active', 'suspended')),
  metadata             jsonb NOT NULL DEFAULT '{}',
  -- Marks the programme `lantau serve` seeds for the sandbox, so a restart finds it rather than seeding another.
  seeded_sandbox       boolean NOT NULL DEFAULT false,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL,
  CHECK (pan_length >= length(bin) + 4)
);
CREATE UNIQUE INDEX programs_seeded_sandbox ON programs (seeded_sandbox) WHERE seeded_sandbox;

CREATE TABLE operator_users (
  id          text COLLATE "C" PRIMARY KEY,
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  email       text NOT NULL UNIQUE,
  role        text NOT NULL CHECK (role IN ('admin', 'analyst', 'support')),
  created_at  timestamptz NOT NULL,
  disabled_at timestamptz
);

-- A key now belongs to the platform (the root operator key), to an operator user, or to a programme.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_kind_check;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_check;
ALTER TABLE api_keys
  ADD COLUMN operator_user_id text COLLATE "C" REFERENCES operator_users (id),
  ADD COLUMN name text,
  ADD COLUMN scopes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN mode text CHECK (mode IN ('sandbox', 'live')),
  ADD COLUMN created_by text,
  ADD COLUMN last_used_at timestamptz,
  ADD CONSTRAINT api_keys_kind_check CHECK (kind IN ('operator', 'operator_user', 'program')),
  ADD CONSTRAINT api_keys_owner_check CHECK (
    (kind = 'operator' AND program_id IS NULL AND operator_user_id IS NULL)
    OR (kind = 'operator_user' AND program_id IS NULL AND operator_user_id IS NOT NULL)
    OR (kind = 'program' AND program_id IS NOT NULL AND operator_user_id IS NULL AND mode IS NOT NULL));
CREATE INDEX api_keys_program ON api_keys (program_id, id) WHERE program_id IS NOT NULL;
