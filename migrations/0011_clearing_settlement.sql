-- Clearing and settlement: what the network presents after an authorization (captures, refunds, force posts) and
-- the daily position per programme and currency. Plus the programme's own real-time decision endpoint.

-- How much of an authorization the network has captured so far (card currency), across partial captures.
ALTER TABLE authorizations
  ADD COLUMN cleared_amount bigint NOT NULL DEFAULT 0 CHECK (cleared_amount >= 0),
  -- What the programme's real-time endpoint answered, when it was asked: outcome, stand-in, latency.
  ADD COLUMN program_decision jsonb;

CREATE TABLE transactions (
  id                text COLLATE "C" PRIMARY KEY,
  program_id        text COLLATE "C" NOT NULL REFERENCES programs (id),
  type              text NOT NULL CHECK (type IN ('capture', 'refund', 'force_post')),
  card_id           text COLLATE "C" NOT NULL REFERENCES cards (id),
  cardholder_id     text COLLATE "C" NOT NULL REFERENCES cardholders (id),
  account_id        text COLLATE "C" NOT NULL REFERENCES wallets (id),
  authorization_id  text COLLATE "C" REFERENCES authorizations (id),
  -- Card currency: the whole amount, what the wallet paid (or got back), and what the wallet could not cover and
  -- the programme's cardholder-receivable account carries instead. amount = wallet_amount + shortfall_amount.
  amount            bigint NOT NULL CHECK (amount > 0),
  wallet_amount     bigint NOT NULL CHECK (wallet_amount >= 0),
  shortfall_amount  bigint NOT NULL DEFAULT 0 CHECK (shortfall_amount >= 0),
  currency          text NOT NULL,
  merchant_amount   bigint NOT NULL CHECK (merchant_amount > 0),
  merchant_currency text NOT NULL,
  fx_rate           numeric,
  fx_markup_bps     integer,
  merchant          jsonb NOT NULL,
  -- Why a transaction deserves a look: over_capture_within_tolerance, over_capture_beyond_tolerance,
  -- cleared_without_open_hold, shortfall.
  flags             text[] NOT NULL DEFAULT '{}',
  source            text NOT NULL CHECK (source IN ('api', 'file')),
  -- The presenter's identity of the record (a clearing file's record id), unique within the programme: a second
  -- presentment is a repeat.
  clearing_key      text,
  transfer_ids      text[] NOT NULL,
  settlement_id     text COLLATE "C",
  created_at        timestamptz NOT NULL,
  CHECK (amount = wallet_amount + shortfall_amount),
  CHECK (type <> 'refund' OR shortfall_amount = 0),
  UNIQUE (program_id, clearing_key)
);
CREATE INDEX transactions_program ON transactions (program_id, id);
CREATE INDEX transactions_card ON transactions (card_id, id);
CREATE INDEX transactions_authorization ON transactions (authorization_id) WHERE authorization_id IS NOT NULL;
CREATE INDEX transactions_settlement_window ON transactions (program_id, currency, created_at);

CREATE TABLE settlements (
  id                 text COLLATE "C" PRIMARY KEY,
  program_id         text COLLATE "C" NOT NULL REFERENCES programs (id),
  currency           text NOT NULL,
  -- The programme's local day the settlement covers, and that day's bounds in UTC under the programme's time zone.
  settlement_date    date NOT NULL,
  time_zone          text NOT NULL,
  window_start       timestamptz NOT NULL,
  window_end         timestamptz NOT NULL,
  capture_count      integer NOT NULL,
  capture_amount     bigint NOT NULL,
  refund_count       integer NOT NULL,
  refund_amount      bigint NOT NULL,
  force_post_count   integer NOT NULL,
  force_post_amount  bigint NOT NULL,
  shortfall_amount   bigint NOT NULL,
  -- What the programme owes the network for the day: captures + force posts - refunds (negative: it is owed).
  net_amount         bigint NOT NULL,
  transfer_id        text COLLATE "C",
  reconciliation     jsonb NOT NULL,
  created_at         timestamptz NOT NULL,
  UNIQUE (program_id, currency, settlement_date),
  CHECK (window_end > window_start)
);
CREATE INDEX settlements_program ON settlements (program_id, id);

-- The programme's real-time decision (Lithic ASA, Stripe issuing_authorization.request): one per programme.
CREATE TABLE authorization_endpoints (
  program_id        text COLLATE "C" PRIMARY KEY REFERENCES programs (id),
  url               text NOT NULL,
  timeout_ms        integer NOT NULL CHECK (timeout_ms BETWEEN 100 AND 2000),
  stand_in          text NOT NULL CHECK (stand_in IN ('approve', 'decline')),
  -- The signing secret, encrypted under the vault's credential key.
  secret_encrypted  bytea NOT NULL,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);
