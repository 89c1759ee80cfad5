-- Issue 9: a programme's fraud rules (src/risk/rules.ts has the language). A rule is an identity and a status; each
-- change to what it says is a new version, never updated, so an authorization names the exact rule that decided it
-- (id and version) and a backtest can run any version against what happened.
CREATE TABLE risk_rules (
  id          text COLLATE "C" PRIMARY KEY,
  program_id  text COLLATE "C" NOT NULL REFERENCES programs (id),
  -- The current version.
  version     integer NOT NULL CHECK (version >= 1),
  status      text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX risk_rules_program ON risk_rules (program_id, id);

CREATE TABLE risk_rule_versions (
  rule_id     text COLLATE "C" NOT NULL REFERENCES risk_rules (id),
  version     integer NOT NULL CHECK (version >= 1),
  program_id  text COLLATE "C" NOT NULL REFERENCES programs (id),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  action      text NOT NULL CHECK (action IN ('decline', 'review', 'allow')),
  mode        text NOT NULL CHECK (mode IN ('active', 'shadow')),
  priority    integer NOT NULL CHECK (priority BETWEEN -1000000 AND 1000000),
  conditions  jsonb NOT NULL CHECK (jsonb_typeof(conditions) = 'array'),
  created_at  timestamptz NOT NULL,
  -- The audit actor's id (a programme key, an operator key or an operator user).
  created_by  text NOT NULL,
  PRIMARY KEY (rule_id, version)
);

-- Moved on by every change to a programme's rules, in the change's own transaction: a process that keeps a
-- programme's rules in memory compares it with the programme row its decisions read anyway, and reads the rules
-- again when it differs.
ALTER TABLE programs ADD COLUMN risk_rules_version bigint NOT NULL DEFAULT 0;
