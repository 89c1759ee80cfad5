-- Cardholders and their wallets (stored-value accounts), with the loads and unloads that move money into and out
-- of a wallet. Every table carries program_id (DESIGN.md, "Scaling out").

-- A cardholder's personal data (name, email, phone, date of birth, nationality, address, onboarding IP and device)
-- lives only in pii_encrypted: one JSON document sealed with the vault's `pii` key and bound to this row and
-- column (AAD), so a copied ciphertext opens nowhere else. Lookups use keyed blind indexes (HMAC-SHA256 under the
-- vault's blind-index key), never the clear value: list by email now; AML counts cardholders per device and IP.
CREATE TABLE cardholders (
  id                text COLLATE "C" PRIMARY KEY,
  program_id        text COLLATE "C" NOT NULL REFERENCES programs (id),
  status            text NOT NULL CHECK (status IN ('active', 'inactive')),
  kyc_status        text NOT NULL DEFAULT 'unverified'
                      CHECK (kyc_status IN ('unverified', 'pending', 'verified', 'rejected')),
  pii_encrypted     bytea NOT NULL,
  email_index       bytea CHECK (octet_length(email_index) = 32),
  phone_index       bytea CHECK (octet_length(phone_index) = 32),
  device_index      bytea CHECK (octet_length(device_index) = 32),
  ip_index          bytea CHECK (octet_length(ip_index) = 32),
  -- Stripe Issuing's shape; applies across all of the cardholder's cards together. Not personal data.
  spending_controls jsonb NOT NULL,
  metadata          jsonb NOT NULL DEFAULT '{}',
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL
);
CREATE INDEX cardholders_program ON cardholders (program_id, id);
CREATE INDEX cardholders_email ON cardholders (program_id, email_index, id) WHERE email_index IS NOT NULL;
CREATE INDEX cardholders_phone ON cardholders (program_id, phone_index) WHERE phone_index IS NOT NULL;
-- Not led by program_id: monitoring may count one device or address across programmes.
CREATE INDEX cardholders_device ON cardholders (device_index) WHERE device_index IS NOT NULL;
CREATE INDEX cardholders_ip ON cardholders (ip_index) WHERE ip_index IS NOT NULL;

-- A wallet (the API's `account`) holds one cardholder's money in one currency. Its balance is its ledger account's
-- (kind `wallet`, debits_must_not_exceed_credits), never a column here, so the ledger stays the one truth.
CREATE TABLE wallets (
  id                text COLLATE "C" PRIMARY KEY,
  program_id        text COLLATE "C" NOT NULL REFERENCES programs (id),
  cardholder_id     text COLLATE "C" NOT NULL REFERENCES cardholders (id),
  currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  ledger_account_id text COLLATE "C" NOT NULL UNIQUE REFERENCES ledger_accounts (id),
  status            text NOT NULL CHECK (status IN ('active', 'inactive')),
  metadata          jsonb NOT NULL DEFAULT '{}',
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  UNIQUE (cardholder_id, currency)
);
CREATE INDEX wallets_program ON wallets (program_id, id);

-- Loads (`load_…`) and unloads (`unld_…`): money between the programme's funding account and a wallet. The
-- movement's id is its ledger transfer's id, so the two can never disagree or be written twice.
CREATE TABLE wallet_movements (
  id                 text COLLATE "C" PRIMARY KEY REFERENCES ledger_transfers (id),
  program_id         text COLLATE "C" NOT NULL REFERENCES programs (id),
  wallet_id          text COLLATE "C" NOT NULL REFERENCES wallets (id),
  cardholder_id      text COLLATE "C" NOT NULL REFERENCES cardholders (id),
  kind               text NOT NULL CHECK (kind IN ('load', 'unload')),
  amount             bigint NOT NULL CHECK (amount > 0),
  currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  description        text CHECK (length(description) <= 500),
  metadata           jsonb NOT NULL DEFAULT '{}',
  created_at         timestamptz NOT NULL
);
CREATE INDEX wallet_movements_wallet ON wallet_movements (wallet_id, kind, id);
CREATE INDEX wallet_movements_program ON wallet_movements (program_id, id);
-- Per-cardholder totals over time (KYC-tier top-up limits, AML) read this.
CREATE INDEX wallet_movements_cardholder ON wallet_movements (cardholder_id, created_at);
