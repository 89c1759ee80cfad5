-- Issue 11: AML transaction monitoring, a consumer of the outbox (src/compliance/aml/monitor.ts). It never touches
-- the authorization path: what it reads is the events, normalised into its own tables, and what it writes is alerts.

-- Each cardholder's activity as monitoring sees it: one row per money movement or card event, from the event that
-- reported it. Personal data is never here: ids, amounts, times, merchant countries, flags.
CREATE TABLE aml_activity (
  kind              text NOT NULL CHECK (kind IN ('load', 'unload', 'authorization', 'capture', 'force_post',
                      'refund', 'card_created', 'card_closed')),
  id                text COLLATE "C" NOT NULL,
  program_id        text COLLATE "C" NOT NULL,
  cardholder_id     text COLLATE "C" NOT NULL,
  at                timestamptz NOT NULL,
  amount            bigint NOT NULL CHECK (amount >= 0),
  currency          text NOT NULL,
  card_id           text COLLATE "C",
  wallet_id         text COLLATE "C",
  approved          boolean,
  merchant_country  text,
  -- The merchant as the network named it and its category: what a report lists beside the amount.
  merchant_name     text,
  merchant_mcc      text,
  authorized_amount bigint,
  flags             text[] NOT NULL DEFAULT '{}',
  balance_after     bigint,
  device_key        bytea,
  PRIMARY KEY (kind, id)
);
CREATE INDEX aml_activity_cardholder ON aml_activity (cardholder_id, at);
CREATE INDEX aml_activity_device ON aml_activity (device_key, at) WHERE device_key IS NOT NULL;

-- What monitoring keeps per cardholder and wallet to read activity right: the KYC status (tier-limit probing) and
-- each wallet's posted balance as counted from its movements.
CREATE TABLE aml_cardholders (
  cardholder_id  text COLLATE "C" PRIMARY KEY,
  program_id     text COLLATE "C" NOT NULL,
  kyc_status     text NOT NULL
);
CREATE TABLE aml_wallets (
  wallet_id      text COLLATE "C" PRIMARY KEY,
  cardholder_id  text COLLATE "C" NOT NULL,
  currency       text NOT NULL,
  balance        bigint NOT NULL
);

-- A programme's scenario settings (src/compliance/aml/parameters.ts), versioned: the latest applies, and each
-- alert names the version it was raised under. No row: the defaults.
CREATE TABLE aml_scenario_settings (
  program_id  text COLLATE "C" NOT NULL REFERENCES programs (id),
  version     integer NOT NULL CHECK (version >= 1),
  settings    jsonb NOT NULL CHECK (jsonb_typeof(settings) = 'object'),
  created_at  timestamptz NOT NULL,
  created_by  text NOT NULL,
  PRIMARY KEY (program_id, version)
);

-- A scenario's hit (`amla_…`): the activity that caused it, listed. `fingerprint` (scenario and activity ids) keeps
-- the same hit from being raised twice as later events re-evaluate the cardholder.
CREATE TABLE aml_alerts (
  id                text COLLATE "C" PRIMARY KEY,
  program_id        text COLLATE "C" NOT NULL,
  cardholder_id     text COLLATE "C" NOT NULL,
  scenario          text NOT NULL,
  reason            text NOT NULL,
  summary           text NOT NULL,
  window_from       timestamptz NOT NULL,
  window_to         timestamptz NOT NULL,
  activity_ids      text[] NOT NULL,
  settings_version  integer NOT NULL,
  fingerprint       bytea NOT NULL,
  case_id           text COLLATE "C" NOT NULL,
  created_at        timestamptz NOT NULL,
  UNIQUE (cardholder_id, scenario, fingerprint)
);
CREATE INDEX aml_alerts_cardholder ON aml_alerts (cardholder_id, id);
CREATE INDEX aml_alerts_program ON aml_alerts (program_id, id);
CREATE INDEX aml_alerts_case ON aml_alerts (case_id, id);

-- A case (`case_…`): a cardholder's alerts under one investigation. New alerts join the cardholder's open case, or
-- open one. `open` and `escalated` are open; `false_positive` and `reported` are decided, with grounds (encrypted:
-- words about a person) and the analyst. A reported case keeps its suspicious-transaction report package as filed,
-- encrypted too (it carries the subject's particulars). `paused_card_ids`: the cards an analyst paused from the
-- case, resumed if it is decided a false positive.
CREATE TABLE aml_cases (
  id                 text COLLATE "C" PRIMARY KEY,
  program_id         text COLLATE "C" NOT NULL,
  cardholder_id      text COLLATE "C" NOT NULL,
  status             text NOT NULL CHECK (status IN ('open', 'escalated', 'false_positive', 'reported')),
  assignee_id        text COLLATE "C",
  paused_card_ids    text[] NOT NULL DEFAULT '{}',
  version            integer NOT NULL DEFAULT 1,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  decided_at         timestamptz,
  decided_by         text,
  grounds_encrypted  bytea,
  report_encrypted   bytea,
  CHECK ((status IN ('false_positive', 'reported')) = (decided_at IS NOT NULL)),
  CONSTRAINT aml_cases_report_when_reported CHECK ((status = 'reported') = (report_encrypted IS NOT NULL))
);
CREATE UNIQUE INDEX aml_cases_open ON aml_cases (cardholder_id) WHERE status IN ('open', 'escalated');
CREATE INDEX aml_cases_status ON aml_cases (status, id);
CREATE INDEX aml_cases_program ON aml_cases (program_id, id);
CREATE INDEX aml_cases_cardholder ON aml_cases (cardholder_id, id);

-- What analysts add to a case: comments and attachments, each under its author's name. The content (and an
-- attachment's file name) is encrypted: it may speak of the cardholder.
CREATE TABLE aml_case_notes (
  id                 text COLLATE "C" PRIMARY KEY,
  case_id            text COLLATE "C" NOT NULL REFERENCES aml_cases (id),
  kind               text NOT NULL CHECK (kind IN ('comment', 'attachment')),
  author_id          text NOT NULL,
  content_type       text,
  size_bytes         integer NOT NULL CHECK (size_bytes >= 0),
  content_encrypted  bytea NOT NULL,
  created_at         timestamptz NOT NULL
);
CREATE INDEX aml_case_notes_case ON aml_case_notes (case_id, id);
