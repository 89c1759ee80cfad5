-- Issue 10: screening in the cardholder flow. Every cardholder is screened against the latest version of each
-- sanctions list when created, when their name, date of birth or nationality change, and again whenever a list
-- version loads (src/issuing/cardholder-screening.ts). A potential match is an alert a person clears or confirms.

-- `screening_status`: not_screened (no list was loaded, or a row older than screening), clear, potential_match
-- (an alert is open), confirmed_match. `screened_lists` names the list versions the last screening used (their
-- ids, joined): a cardholder whose value differs from the latest versions' is due a re-screen. Added with
-- constant defaults, so no rewrite; the checks NOT VALID, so no scan under ALTER TABLE's exclusive lock (every
-- existing row holds the default).
ALTER TABLE cardholders
  ADD COLUMN screening_status text NOT NULL DEFAULT 'not_screened',
  ADD COLUMN screened_lists text,
  ADD COLUMN screened_at timestamptz;
ALTER TABLE cardholders ADD CONSTRAINT cardholders_screening_status_check
  CHECK (screening_status IN ('not_screened', 'clear', 'potential_match', 'confirmed_match')) NOT VALID;

-- A confirmed match freezes the cardholder's wallets: nothing is loaded, unloaded or spent.
ALTER TABLE wallets DROP CONSTRAINT wallets_status_check;
ALTER TABLE wallets ADD CONSTRAINT wallets_status_check
  CHECK (status IN ('active', 'inactive', 'frozen')) NOT VALID;

-- A potential match found by screening a cardholder (`scra_…`). `candidates` are the list entries matched (list,
-- reference as published, matched name, score, reasons): the publisher's data, never the cardholder's, which stays
-- in their encrypted document. `subject_index` is a blind index of the screened name, date of birth and
-- nationality: a cleared candidate is not raised again for the same subject unless it scores higher.
-- `paused_card_ids` are the cards this alert paused, resumed when it is cleared. At most one is open per
-- cardholder; a later screening while one is open updates it and moves `version` on, so a decision made on what a
-- person saw before is refused. `grounds_encrypted`: the person's written grounds, which may speak of the cardholder,
-- under the `pii` key bound to the row.
CREATE TABLE screening_alerts (
  id               text COLLATE "C" PRIMARY KEY,
  program_id       text COLLATE "C" NOT NULL REFERENCES programs (id),
  cardholder_id    text COLLATE "C" NOT NULL REFERENCES cardholders (id),
  status           text NOT NULL CHECK (status IN ('open', 'cleared', 'confirmed')),
  trigger          text NOT NULL CHECK (trigger IN ('cardholder_created', 'cardholder_updated', 'lists_updated')),
  candidates       jsonb NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
  lists            jsonb NOT NULL CHECK (jsonb_typeof(lists) = 'array'),
  subject_index    bytea NOT NULL,
  paused_card_ids  text[] NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  decided_at       timestamptz,
  version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  decided_by       text,
  grounds_encrypted bytea,
  CHECK ((status = 'open') = (decided_at IS NULL)),
  CONSTRAINT screening_alerts_grounds_when_decided CHECK ((status = 'open') = (grounds_encrypted IS NULL)),
  CHECK ((status = 'open') = (decided_by IS NULL))
);
CREATE UNIQUE INDEX screening_alerts_open ON screening_alerts (cardholder_id) WHERE status = 'open';
CREATE INDEX screening_alerts_cardholder ON screening_alerts (cardholder_id, id);
CREATE INDEX screening_alerts_program ON screening_alerts (program_id, id);
CREATE INDEX screening_alerts_status ON screening_alerts (status, id);

-- A re-screen of everyone against one set of list versions (`list_key`, the versions' ids joined): started by the
-- first process to see the versions, completed once no cardholder is left screened against older ones.
CREATE TABLE sanctions_rescreens (
  list_key      text PRIMARY KEY,
  started_at    timestamptz NOT NULL,
  completed_at  timestamptz,
  screened      integer NOT NULL DEFAULT 0 CHECK (screened >= 0),
  alerts        integer NOT NULL DEFAULT 0 CHECK (alerts >= 0)
);
