-- Authorizations: every decision the engine takes, approved or declined, with the checks that led to it, and the
-- changes after it (increments, reversals, expiry). Programme settings the engine reads live on the programme.

ALTER TABLE programs
  ADD COLUMN fx_markup_bps integer NOT NULL DEFAULT 0 CHECK (fx_markup_bps BETWEEN 0 AND 10000),
  -- How long a hold lasts: the default, and the longer one for lodging and car rental (DESIGN.md, "Reference facts").
  ADD COLUMN hold_days integer NOT NULL DEFAULT 7 CHECK (hold_days BETWEEN 1 AND 31),
  ADD COLUMN extended_hold_days integer NOT NULL DEFAULT 31 CHECK (extended_hold_days BETWEEN 1 AND 31);

CREATE TABLE authorizations (
  id                 text COLLATE "C" PRIMARY KEY,
  program_id         text COLLATE "C" NOT NULL REFERENCES programs (id),
  card_id            text COLLATE "C" NOT NULL REFERENCES cards (id),
  cardholder_id      text COLLATE "C" NOT NULL REFERENCES cardholders (id),
  account_id         text COLLATE "C" NOT NULL REFERENCES wallets (id),
  status             text NOT NULL CHECK (status IN ('pending', 'closed', 'reversed', 'expired', 'declined')),
  approved           boolean NOT NULL,
  response_code      text NOT NULL CHECK (response_code ~ '^[0-9A-Z]{2}$'),
  decline_reason     text,
  decline_message    text,
  -- Card currency: what was asked, what was approved (less on a partial approval), and what is held now (after
  -- increments and reversals; zero once reversed or expired).
  requested_amount   bigint NOT NULL CHECK (requested_amount >= 0),
  approved_amount    bigint NOT NULL CHECK (approved_amount >= 0),
  amount             bigint NOT NULL CHECK (amount >= 0),
  currency           text NOT NULL,
  merchant_amount    bigint NOT NULL CHECK (merchant_amount >= 0),
  merchant_currency  text NOT NULL,
  fx_rate            numeric,
  fx_markup_bps      integer,
  fx_source          text,
  merchant           jsonb NOT NULL,
  mcc                text NOT NULL CHECK (mcc ~ '^[0-9]{4}$'),
  merchant_country   text,
  entry_mode         text NOT NULL,
  partial_allowed    boolean NOT NULL,
  -- The network's identity of the message (acquirer id, STAN, RRN, transmission time): a repeat finds its first answer.
  network_key        text UNIQUE,
  hold_ids           text[] NOT NULL DEFAULT '{}',
  expires_at         timestamptz,
  checks             jsonb NOT NULL,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);
CREATE INDEX authorizations_program ON authorizations (program_id, id);
CREATE INDEX authorizations_card ON authorizations (card_id, id);
-- Spending limits count what a cardholder's cards have authorized in a window.
CREATE INDEX authorizations_cardholder ON authorizations (cardholder_id, created_at) WHERE approved;
CREATE INDEX authorizations_card_window ON authorizations (card_id, created_at) WHERE approved;
CREATE INDEX authorizations_open ON authorizations (expires_at) WHERE status = 'pending';

CREATE TABLE authorization_updates (
  id                 text COLLATE "C" PRIMARY KEY,
  program_id         text COLLATE "C" NOT NULL,
  authorization_id   text COLLATE "C" NOT NULL REFERENCES authorizations (id),
  kind               text NOT NULL CHECK (kind IN ('increment', 'reversal', 'expiry')),
  requested_amount   bigint NOT NULL CHECK (requested_amount >= 0),
  amount             bigint NOT NULL CHECK (amount >= 0),
  approved           boolean NOT NULL,
  response_code      text NOT NULL,
  decline_reason     text,
  network_key        text UNIQUE,
  created_at         timestamptz NOT NULL
);
CREATE INDEX authorization_updates_authorization ON authorization_updates (authorization_id, id);
