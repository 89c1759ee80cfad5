-- Issue 9: risk inside the authorization decision.

-- What risk remembers of each cardholder (all of their cards): their recent authorizations and, per card, where it
-- was last used and the merchants it has seen, in the compact binary form of src/risk/holder-state.ts. The decision
-- reads it with the cardholder's row, which it locks anyway, and rewrites it in the same transaction, so the
-- features a decision sees are exact and every process sees the same. Rewritten on every decision: fillfactor
-- leaves room on the page for the new version (a HOT update, no index entry). No foreign keys, for the reason
-- 0013 gives: the writer has just locked the cardholder it names.
CREATE TABLE risk_cardholder_states (
  cardholder_id text COLLATE "C" PRIMARY KEY,
  program_id    text COLLATE "C" NOT NULL,
  state         bytea NOT NULL CHECK (octet_length(state) <= 65536),
  updated_at    timestamptz NOT NULL
) WITH (fillfactor = 70);

-- What risk made of each authorization: the score, the features that drove it, the rules that matched (shadow rules
-- apart) and any protection that declined it. NULL for authorizations decided before risk existed.
ALTER TABLE authorizations ADD COLUMN risk jsonb;
-- The device or IP address the authorization came from, as a keyed blind index (never the clear value, which is
-- personal data): what the device counters count, and what monitoring joins on.
-- The check is added NOT VALID: checking it on a column just added would scan the whole table under an exclusive
-- lock, and every existing row holds NULL; new rows are checked.
ALTER TABLE authorizations ADD COLUMN device_index bytea;
ALTER TABLE authorizations ADD CONSTRAINT authorizations_device_index_check
  CHECK (octet_length(device_index) = 32) NOT VALID;

-- A programme's tuning of the built-in protections (src/risk/protections.ts); NULL is the defaults. Changing it
-- moves risk_rules_version on, so processes that keep a programme's rules read this again with them.
ALTER TABLE programs ADD COLUMN risk_protections jsonb;
