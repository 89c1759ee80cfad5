-- Virtual cards and the single-use links that show a card to its cardholder.
-- The PAN is stored only encrypted (vault purpose `pan`, bound to its row) and found by a keyed blind index
-- (DESIGN.md, "Card data"); the last four digits are kept for display, as PCI DSS 3.4.1 allows.

CREATE TABLE cards (
  id                  text COLLATE "C" PRIMARY KEY,
  program_id          text COLLATE "C" NOT NULL REFERENCES programs (id),
  cardholder_id       text COLLATE "C" NOT NULL REFERENCES cardholders (id),
  account_id          text COLLATE "C" NOT NULL REFERENCES wallets (id),
  type                text NOT NULL CHECK (type IN ('multi_use', 'single_use', 'merchant_locked')),
  status              text NOT NULL CHECK (status IN ('active', 'paused', 'closed')),
  status_reason       text,
  currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  pan_encrypted       bytea NOT NULL,
  -- Unique across the platform: a PAN is issued once, and an authorization finds its card by this index.
  pan_index           bytea NOT NULL UNIQUE,
  last4               text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
  exp_month           integer NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
  exp_year            integer NOT NULL CHECK (exp_year BETWEEN 2000 AND 2200),
  spending_controls   jsonb NOT NULL,
  memo                text,
  metadata            jsonb NOT NULL DEFAULT '{}',
  -- merchant_locked cards: the card acceptor that first authorized (set by the authorization engine).
  locked_merchant     text,
  replaces_card_id    text COLLATE "C" REFERENCES cards (id),
  replaced_by_card_id text COLLATE "C" REFERENCES cards (id),
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  closed_at           timestamptz,
  CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX cards_program ON cards (program_id, id);
CREATE INDEX cards_cardholder ON cards (cardholder_id, id);
CREATE INDEX cards_account ON cards (account_id, id);

CREATE TABLE card_reveal_sessions (
  id           text COLLATE "C" PRIMARY KEY,
  program_id   text COLLATE "C" NOT NULL REFERENCES programs (id),
  card_id      text COLLATE "C" NOT NULL REFERENCES cards (id),
  -- SHA-256 of the link's token: the token itself is only ever in the answer that created the session.
  token_hash   bytea NOT NULL UNIQUE,
  allowed_origin text,
  created_by_type text NOT NULL,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz
);
CREATE INDEX card_reveal_sessions_card ON card_reveal_sessions (card_id, id);
